import pytest

from detector.data.synthetic import generate


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """A tiny synthetic dataset (24 train / 8 val images of 96 px) and its data YAML."""
    root = tmp_path_factory.mktemp("tiny")
    generate(root / "ds", seed=1, train=24, val=8, size=96)
    y = root / "tiny.yaml"
    y.write_text(f"path: {root / 'ds'}\n"
                 "train: {images: images/train, annotations: annotations/instances_train.json}\n"
                 "val: {images: images/val, annotations: annotations/instances_val.json}\n")
    return y
