"""Foreign YAML / JSON shapes that used to take the process down: deep nesting (RecursionError) and
YAML alias bombs (MemoryError in our own error message's repr). Each is one sentence naming the file."""
import json

import pytest

from detector.config import ConfigError, load_model_config
from detector.data import load_data_config
from detector.engine.hyp import load_hyp
from detector.metrics.results_file import read_results
from detector.utils.safe_load import check_shape

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
    for p, c in zip("abcdefgh", "bcdefghi"))  # 10^9 values once expanded


@pytest.mark.parametrize("loader", [load_model_config, load_data_config, load_hyp])
def test_alias_bomb_and_deep_nesting_in_every_yaml(tmp_path, loader):
    y = tmp_path / "bomb.yaml"
    y.write_text(BOMB)
    with pytest.raises(ConfigError, match=r"bomb\.yaml: expands to over"):
        loader(y)
    y.write_text("a: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"bomb\.yaml: nested"):
        loader(y)


def test_deeply_nested_json_results_and_annotations(tmp_path):
    from detector.data.records import index_coco

    p = tmp_path / "deep.json"
    p.write_text("[" * 100000 + "]" * 100000)
    with pytest.raises(ValueError, match=r"deep\.json: cannot read predictions json: nested too deeply"):
        read_results(p, None)
    with pytest.raises(ValueError, match=r"deep\.json: cannot read COCO annotations: nested too deeply"):
        index_coco(tmp_path, p, "val")


def test_ordinary_shapes_pass():
    d = {"a": [1, 2, {"b": list(range(1000))}]}
    assert check_shape(d, "x") is d
    with pytest.raises(ValueError, match="over 10 values"):
        check_shape(list(range(20)), "x", max_values=10)
