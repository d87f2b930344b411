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
