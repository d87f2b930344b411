"""Peer exports for side-by-side latency: the Ultralytics CLI is driven (here a stand-in), its
TorchScript file is found, cached, and a failing CLI raises with its log."""
import stat
import sys

import pytest
import torch

from detector.ablation.peers import export_torchscript

FAKE_EXPORT = '''#!{python}
"""Stand-in for 'yolo export model=M.yaml format=torchscript imgsz=S': writes M.torchscript in the cwd."""
import sys
from pathlib import Path
import torch
a = dict(x.split("=", 1) for x in sys.argv[2:])
if sys.argv[1] != "export" or a.get("format") != "torchscript":
    sys.exit("unexpected call " + " ".join(sys.argv[1:]))
if a["model"].startswith("missing"):
    sys.exit("FileNotFoundError: " + a["model"] + " does not exist")
s = int(a["imgsz"])
m = torch.jit.trace(torch.nn.Conv2d(3, 4, 3, padding=1).eval(), torch.zeros(1, 3, s, s))
m.save(str(Path(a["model"]).stem) + ".torchscript")
print("export success")
'''


@pytest.fixture
def fake_cli(tmp_path):
    f = tmp_path / "yolo"
    f.write_text(FAKE_EXPORT.format(python=sys.executable))
    f.chmod(f.stat().st_mode | stat.S_IEXEC)
    return str(f)


def test_export_torchscript_found_and_cached(fake_cli, tmp_path):
    out = tmp_path / "peers"
    f = export_torchscript(fake_cli, "yolo11n", 32, out)
    assert f == out / "32" / "yolo11n.torchscript"
    m = torch.jit.load(str(f))
    assert m(torch.zeros(1, 3, 32, 32)).shape == (1, 4, 32, 32)
    log = out / "32" / "yolo11n.log"
    assert log.read_text().count("$ ") == 1 and "imgsz=32" in log.read_text()
    assert export_torchscript(fake_cli, "yolo11n", 32, out) == f  # cached: the CLI is not run again
    assert log.read_text().count("$ ") == 1
    assert export_torchscript(fake_cli, "yolo11n", 64, out) == out / "64" / "yolo11n.torchscript"  # per size


def test_export_torchscript_failure_names_log(fake_cli, tmp_path):
    with pytest.raises(RuntimeError, match=r"export model=missing\.yaml' exited 1 .*missing\.yaml does not exist"):
        export_torchscript(fake_cli, "missing", 32, tmp_path)
