import os
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
CFG_DIR = ROOT / "cfg"
SHARED = ROOT.parent / "shared"

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny synthetic dataset (24 train / 8 val images of 96 px) and its data YAML."""
    from detector.data.synthetic import generate

    root = tmp_path_factory.mktemp("tiny")
    generate(root / "ds", seed=1, train=24, val=8, size=96)
    y = root / "tiny.yaml"
    y.write_text(f"path: {root / 'ds'}\n"
                 "train: {images: images/train, annotations: annotations/instances_train.json}\n"
                 "val: {images: images/val, annotations: annotations/instances_val.json}\n")
    return y


def busy_checkpoint(path: Path, names=("a", "b", "c"), cat_ids=(1, 5, 9), logit_std: float = 30.0) -> Path:
    """An untrained model made to detect plenty: class logits spread widely and biased up; every
    location predicts a box of 4 strides around itself (so neighbouring boxes overlap < 0.7 and NMS
    decisions never hinge on float noise). Saved as a checkpoint at ``path``. A small ``logit_std`` keeps
    scores below 1 (fewer ties), so that NMS at IoU 0.5 has work to do."""
    from detector import build_model
    from detector.checkpoint import save_checkpoint

    torch.manual_seed(0)
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=len(names))
    with torch.no_grad():
        for cl in m.head.cls:
            cl[-1].weight.normal_(0, logit_std)
            cl[-1].bias.fill_(0.5)
        for bp in m.head.box_pred:
            bp.weight.zero_()
            bp.bias.fill_(-10.0)
            bp.bias[2::16] = 10.0  # distance 2 bins on each side
    save_checkpoint(path, {"model": m.state_dict(), "model_cfg": m.yaml, "names": list(names),
                           "cat_ids": list(cat_ids), "nms": "greedy"})
    return path
