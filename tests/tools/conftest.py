import importlib
import sys

import pytest
import torch

from detector import build_model
from detector.checkpoint import save_checkpoint

from ..conftest import CFG_DIR, ROOT

sys.path.insert(0, str(ROOT / "tools"))


def tool(name: str):
    """tools/<name>.py as a module (its main(argv) returns the exit status)."""
    return importlib.import_module(name)


@pytest.fixture(scope="session")
def small_ckpt(tmp_path_factory):
    """A 4-class checkpoint of the product model (untrained), with the synthetic set's names."""
    torch.manual_seed(0)
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=4)
    p = tmp_path_factory.mktemp("ck") / "m.pt"
    save_checkpoint(p, {"model": m.state_dict(), "model_cfg": m.yaml, "names": ["circle", "square", "triangle", "star"],
                        "cat_ids": [1, 2, 3, 4], "nms": "greedy"})
    return p
