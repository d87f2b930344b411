"""Installed-package use: console commands for every tool, the explicit package list covers every
subpackage, cfg/ ships inside the package, and shipped configs are found by name from any folder.
(Checked by hand with a non-editable `pip install .` into a fresh venv: detector-train --cfg
yolo_ca_bifpn.yaml runs from an unrelated folder.)"""
import importlib
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python >= 3.11

from detector import build_model
from detector.config import find_config, shipped_cfg_dir
from detector.data import load_data_config

from .conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def test_every_subpackage_and_cfg_folder_is_packaged():
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    pkgs = {"detector"} | {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "detector").rglob("*/__init__.py")}
    assert pkgs <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(pkgs - listed)}"
    cfg_pkgs = {"detector.cfg"} | {f"detector.cfg.{d.name}" for d in (ROOT / "cfg").iterdir() if d.is_dir()}
    assert cfg_pkgs <= listed and PYPROJECT["tool"]["setuptools"]["package-dir"]["detector.cfg"] == "cfg"
    assert all(PYPROJECT["tool"]["setuptools"]["package-data"][p] == ["*.yaml"] for p in cfg_pkgs)


@pytest.mark.parametrize("cmd,target", sorted(PYPROJECT["project"]["scripts"].items()))
def test_console_commands_have_the_tools_flags(cmd, target, capsys):
    mod, fn = target.split(":")
    main = getattr(importlib.import_module(mod), fn)
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0 and "usage:" in capsys.readouterr().out
    wrapper = (ROOT / "tools" / f"{mod.rsplit('.', 1)[1]}.py").read_text()
    assert f"from {mod} import main" in wrapper  # tools/*.py stay thin wrappers over the same code


def test_shipped_configs_are_found_from_any_folder(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert shipped_cfg_dir() == ROOT / "cfg" or (shipped_cfg_dir() / "yolo_ca_bifpn.yaml").is_file()
    for name in ("yolo_ca_bifpn.yaml", "cfg/yolo_ca_bifpn.yaml"):
        path, shipped = find_config(name)
        assert shipped and path.name == "yolo_ca_bifpn.yaml"
    assert build_model("yolo_ca_bifpn-s.yaml", nc=2).cfg.scale == "s"
    d = load_data_config("synthetic.yaml")  # a shipped data YAML used elsewhere: data under the cwd
    assert d.root == tmp_path / "datasets" / "synthetic"
    (tmp_path / "mine.yaml").write_text("nc: 1\n")
    assert find_config("mine.yaml") == (Path("mine.yaml"), False)  # the user's own files win
