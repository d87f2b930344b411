"""Hyperparameter YAMLs: cfg/hyp/default.yaml lists every default; unknown or mistyped keys fail naming the file."""
import pytest
import yaml

from detector.config import ConfigError
from detector.train.hyp import DEFAULT_HYP, load_hyp

from ..conftest import ROOT


def test_default_yaml_lists_every_hyperparameter_with_its_default():
    d = yaml.safe_load((ROOT / "cfg" / "hyp" / "default.yaml").read_text())
    assert d == DEFAULT_HYP
    assert load_hyp(ROOT / "cfg" / "hyp" / "default.yaml") == DEFAULT_HYP


def test_override_and_errors(tmp_path):
    p = tmp_path / "h.yaml"
    p.write_text("lr0: 0.002\nmosaic: 0\n")
    h = load_hyp(p)
    assert h["lr0"] == 0.002 and h["mosaic"] == 0 and h["box"] == DEFAULT_HYP["box"]
    p.write_text("lr_0: 0.002\n")
    with pytest.raises(ConfigError, match=r"h\.yaml.*unknown.*lr_0"):
        load_hyp(p)
    p.write_text("density_bce: 1\n")
    with pytest.raises(ConfigError, match="density_bce must be a boolean"):
        load_hyp(p)
    p.write_text("lr0: fast\n")
    with pytest.raises(ConfigError, match="lr0 must be a number"):
        load_hyp(p)
