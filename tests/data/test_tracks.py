"""The tracking task builder on the shared real COCO people (skipped without them): MOTChallenge layout,
deterministic, people that move, cross, hide and leave, hidden people as ignore regions."""
import hashlib

import numpy as np
import pytest

from detector.data.tracks import build

from ..conftest import SHARED

SRC = SHARED / "data"
pytestmark = pytest.mark.skipif(not (SRC / "coco128").is_dir(), reason="needs ../shared/data/coco128 (real COCO people)")


@pytest.fixture(scope="module")
def task(tmp_path_factory):
    root = tmp_path_factory.mktemp("tracks") / "t"
    stats = build(root, SRC, seed=1, sequences=1, frames=40, width=320, height=192, people=[10, 14])
    return root, stats


def _gt(root):
    return np.loadtxt(root / "PEOPLE-01" / "gt" / "gt.txt", delimiter=",", ndmin=2)


def test_layout_and_seqinfo(task):
    root, stats = task
    seq = root / "PEOPLE-01"
    assert sorted(p.name for p in (seq / "img1").iterdir())[:2] == ["000001.jpg", "000002.jpg"]
    assert len(list((seq / "img1").iterdir())) == 40
    ini = (seq / "seqinfo.ini").read_text()
    assert "seqLength=40" in ini and "imWidth=320" in ini and "frameRate=25" in ini
    assert (root / "seqmap.txt").read_text().splitlines() == ["name", "PEOPLE-01"]
    assert stats["PEOPLE-01"]["people_per_frame"][1] >= 8


def test_people_move_hide_and_keep_their_ids(task):
    root, _ = task
    gt = _gt(root)
    assert set(np.unique(gt[:, 7])) <= {1, 8} and (gt[:, 6] == 1).all()
    assert ((gt[:, 7] == 8) == (gt[:, 8] < 0.25)).all()  # hidden -> ignore region, by the visible share
    assert (gt[:, 7] == 8).any()  # someone passes behind someone
    moved = []
    for i in np.unique(gt[:, 1]):
        rows = gt[gt[:, 1] == i]
        assert np.all(np.diff(rows[:, 0]) >= 1)  # one row per frame and id
        if len(rows) > 10:
            moved.append(abs(rows[-1, 2] + rows[-1, 4] / 2 - rows[0, 2] - rows[0, 4] / 2) / (len(rows) - 1))
    assert np.median(moved) > 0.5  # px per frame: they walk
    x = gt[:, 2] + gt[:, 4] / 2
    assert gt[:, 2].min() >= 0 and (gt[:, 2] + gt[:, 4]).max() <= 320 + 1e-6  # clipped to the frame
    assert x.min() < 40 or x.max() > 280  # some are entering or leaving at a border


def test_same_seed_same_task(task, tmp_path):
    root, _ = task
    again = tmp_path / "t"
    build(again, SRC, seed=1, sequences=1, frames=40, width=320, height=192, people=[10, 14])
    for rel in ("PEOPLE-01/gt/gt.txt", "PEOPLE-01/img1/000040.jpg"):
        assert hashlib.md5((root / rel).read_bytes()).digest() == hashlib.md5((again / rel).read_bytes()).digest()
