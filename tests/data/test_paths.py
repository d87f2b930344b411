"""Image folders with symlinked sub-folders (followed, loops skipped) and unreadable folders (skipped
with a note); COCO file_name entries that point outside the images folder (refused); COCO json
structure errors said in one sentence."""
import json
import os

import cv2
import numpy as np
import pytest

from detector.data.coco_index import index_coco
from detector.data.records import list_images, walk_files
from detector.predict.sources import resolve


def _img(p):
    p.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(p), np.zeros((8, 8, 3), np.uint8))


def test_symlinked_subfolders_are_followed_and_loops_skipped(tmp_path):
    outside = tmp_path / "elsewhere"
    for k in range(4):
        _img(outside / f"o{k}.jpg")
    root = tmp_path / "images"
    for k in range(2):
        _img(root / "a" / f"a{k}.jpg")
    os.symlink(outside, root / "cam2")
    os.symlink(root, root / "a" / "loop")  # a link back up: must not be walked forever
    issues = []
    found = list_images(root, "train", issues)
    assert sorted(p.name for p in found) == ["a0.jpg", "a1.jpg", "o0.jpg", "o1.jpg", "o2.jpg", "o3.jpg"]
    assert len([i for i in resolve(str(root)) if i.kind == "image"]) == 6  # detect.py's folder walk too


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads every folder")
def test_unreadable_folder_is_skipped_with_a_note(tmp_path):
    _img(tmp_path / "ok" / "x.jpg")
    locked = tmp_path / "locked"
    _img(locked / "y.jpg")
    locked.chmod(0)
    try:
        issues = []
        assert [p.name for p in walk_files(tmp_path, "train", issues)] == ["x.jpg"]
        assert any("not readable" in i.reason for i in issues)
    finally:
        locked.chmod(0o755)


def test_walk_reports_an_unreadable_folder_without_dying(tmp_path, monkeypatch):
    """Same as above where the tests run as root: os.walk's error for one folder becomes an info issue."""
    _img(tmp_path / "ok" / "x.jpg")
    _img(tmp_path / "bad" / "y.jpg")
    real = os.scandir

    def scandir(path="."):
        if str(path).endswith("bad"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    issues = []
    assert [p.name for p in walk_files(tmp_path, "train", issues)] == ["x.jpg"]
    assert [i.severity for i in issues] == ["info"] and "bad" in issues[0].file


def _coco(tmp_path, images, anns=(), cats=({"id": 1, "name": "a"},)):
    p = tmp_path / "ann.json"
    p.write_text(json.dumps({"images": list(images), "annotations": list(anns), "categories": list(cats)}))
    return p


def test_file_names_escaping_the_images_folder_are_refused(tmp_path):
    _img(tmp_path / "imgs" / "in.jpg")
    _img(tmp_path / "secret.jpg")
    ann = _coco(tmp_path, [{"id": 1, "file_name": "in.jpg", "width": 8, "height": 8},
                           {"id": 2, "file_name": "../secret.jpg", "width": 8, "height": 8},
                           {"id": 3, "file_name": "/etc/passwd", "width": 8, "height": 8}])
    records, issues, _, _ = index_coco(tmp_path / "imgs", ann, "val")
    assert [r.image_id for r in records] == [1]
    bad = [i for i in issues if "outside the images folder" in i.reason]
    assert len(bad) == 2 and all(i.file == str(ann) and i.severity == "rejected" for i in bad)
    assert "'../secret.jpg'" in bad[0].reason and "image 2" in bad[0].reason
    records, _, _, _ = index_coco(tmp_path / "imgs", ann, "val", allow_outside=True)
    assert sorted(r.image_id for r in records) == [1, 2]  # /etc/passwd: not an image, rejected as before


@pytest.mark.parametrize("images,anns,cats,says", [
    ([{"file_name": "a.jpg", "width": 8, "height": 8}], [], [{"id": 1, "name": "a"}], "images[0] has no 'id'"),
    ([], [], [{"id": "1", "name": "a"}], "categories[0] has id '1'; ids must be integers"),
    ([], [None], [{"id": 1, "name": "a"}], "annotations[0] is None, not an object"),
    ([], [[1, 2]], [{"id": 1, "name": "a"}], "annotations[0] is [1, 2], not an object"),
])
def test_coco_structure_errors_are_one_sentence(tmp_path, images, anns, cats, says):
    ann = _coco(tmp_path, images, anns, cats)
    with pytest.raises(ValueError, match=None) as e:
        index_coco(tmp_path, ann, "train")
    assert str(e.value).startswith(str(ann)) and says in str(e.value)
