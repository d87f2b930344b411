"""Data YAMLs as Ultralytics users and Roboflow exports write them: train/val as lists of folders,
quoted names keys, download: / roboflow: blocks (read past, never acted on), label files with a BOM."""
import cv2
import numpy as np
import pytest

from detector.config import ConfigError
from detector.data import index_split, load_data_config


def _img(root, rel, label):
    p = root / "images" / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(p), np.zeros((32, 32, 3), np.uint8))
    lp = root / "labels" / rel
    lp.parent.mkdir(parents=True, exist_ok=True)
    lp.with_suffix(".txt").write_bytes(label)


def test_lists_quoted_keys_download_roboflow_and_bom(tmp_path, capsys):
    _img(tmp_path, "a/1.jpg", b"0 0.5 0.5 0.2 0.2\n")
    _img(tmp_path, "b/2.jpg", b"\xef\xbb\xbf1 0.5 0.5 0.4 0.4\n")  # UTF-8 BOM first, as some editors save
    y = tmp_path / "data.yaml"
    y.write_text(f"path: {tmp_path}\ntrain: [images/a, images/b]\nval: images/b\nnames: {{'0': cat, '1': dog}}\n"
                 "download: https://example.com/data.zip\nroboflow: {workspace: w, project: p, version: 1}\n")
    cfg = load_data_config(y)
    out = capsys.readouterr().out
    assert "download, roboflow ignored" in out and "never downloads" in out
    assert cfg.names == ["cat", "dog"]
    idx = index_split(cfg, "train")
    assert sorted(r.path.split("/")[-1] for r in idx.records) == ["1.jpg", "2.jpg"] and not idx.issues
    assert sorted(int(c) for r in idx.records for c in r.classes) == [0, 1]  # the BOM line was read


def test_names_keys_that_are_not_indices_are_named(tmp_path):
    y = tmp_path / "data.yaml"
    y.write_text(f"path: {tmp_path}\ntrain: images\nnames: {{cat: 0, dog: 1}}\n")
    with pytest.raises(ConfigError, match=r"names keys must be class indices .*'cat'"):
        load_data_config(y)


def test_label_file_whose_image_is_gone_is_named(tmp_path):
    from detector.data.records import index_yolo

    _img(tmp_path, "train/1.jpg", b"0 0.5 0.5 0.2 0.2\n")
    (tmp_path / "labels" / "train" / "2.txt").write_text("0 0.5 0.5 0.2 0.2\n")  # its image was deleted
    records, issues = index_yolo(tmp_path / "images" / "train", 1, "train")
    assert len(records) == 1
    assert [(i.file.split("/")[-1], i.severity) for i in issues] == [("2.txt", "rejected")]
    assert "without an image" in issues[0].reason
