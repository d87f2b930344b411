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


def test_packages_import_in_one_direction():
    """No import circle between detector's packages or modules (lazy imports included), and the jobs sit
    above what they use: predict and eval never import export; checkpoint, runtime, models and data never
    import a job."""
    import ast

    mods = {}
    for p in (ROOT / "detector").rglob("*.py"):
        parts = list(p.relative_to(ROOT).with_suffix("").parts)
        pkg = parts[:-1] if parts[-1] == "__init__" else parts[:-1]
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        mods[".".join(parts)] = (p, pkg if p.name != "__init__.py" else parts)
    edges = {m: set() for m in mods}
    for name, (p, pkg) in mods.items():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([node.module] if node.module else [])) \
                    if node.level else node.module
                subs = [f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in mods]
                targets = subs if (subs and not node.module) else [base] + subs
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            edges[name] |= {t for t in targets if t in mods and t != name}
    pkg_of = lambda m: ".".join(m.split(".")[:2])  # noqa: E731
    pkg_edges = {}
    for a, bs in edges.items():
        for b in bs:
            if pkg_of(a) != pkg_of(b) and not a.startswith("detector.engine"):  # the deprecated aliases
                pkg_edges.setdefault(pkg_of(a), set()).add(pkg_of(b))

    def reaches(g, a, b, seen=()):
        return any(n == b or (n not in seen and reaches(g, n, b, (*seen, n))) for n in g.get(a, ()))

    cycles = sorted(p for p in pkg_edges if reaches(pkg_edges, p, p))
    assert not cycles, f"import circles through {cycles}: {pkg_edges}"
    for low in ("detector.checkpoint", "detector.runtime", "detector.models", "detector.data", "detector.ops",
                "detector.nn", "detector.loss", "detector.metrics", "detector.utils"):
        up = pkg_edges.get(low, set()) & {"detector.train", "detector.predict", "detector.eval", "detector.export",
                                          "detector.ablation", "detector.cli"}
        assert not up, f"{low} imports {up}"
    for job in ("detector.predict", "detector.eval"):
        assert "detector.export" not in pkg_edges.get(job, set())
    mod_edges = {a: {b for b in bs if not b.startswith(a + ".") and not a.startswith(b + ".")} for a, bs in edges.items()}
    circles = sorted(m for m in mod_edges if reaches(mod_edges, m, m))
    assert not circles, f"module import circles: {circles}"
