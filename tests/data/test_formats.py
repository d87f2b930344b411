"""Dataset formats by name: the built-in ones are found by shape, a new one is one class + decorator."""
import json

import pytest

from detector.config import ConfigError
from detector.data import index_split, load_data_config
from detector.data.formats import FORMATS, DatasetFormat, register_format


def test_builtin_formats_and_inference(tmp_path):
    assert list(FORMATS)[:3] == ["coco", "yolo", "voc"] and FORMATS["voc"].explicit
    y = tmp_path / "d.yaml"
    y.write_text("path: .\ntrain: {images: im, annotations: a.json}\nval: images/val\nnames: [a]\n")
    cfg = load_data_config(y)
    assert cfg.splits["train"].kind == "coco" and cfg.splits["val"].kind == "yolo"
    y.write_text("path: .\ntrain: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"train must be \{images: DIR, annotations: FILE.json\} \(coco\) or an image "
                                          r"folder or .txt image list \(or a list of them\) \(yolo\); other formats are named with format: voc"):
        load_data_config(y)
    y.write_text("path: .\nformat: voc\ntrain: {images: x}\n")
    with pytest.raises(ConfigError, match="with format: voc, train must be an image list"):
        load_data_config(y)
    y.write_text("path: .\nformat: nope\ntrain: a\n")
    with pytest.raises(ConfigError, match="format must be one of coco, yolo, voc"):
        load_data_config(y)


def test_a_new_format_in_one_place(tmp_path, tiny_data):
    """A 'jsonl' format (one JSON line per image: file, boxes, classes), registered from test code,
    is read by load_data_config and index_split like the built-in ones."""
    import cv2
    import numpy as np

    from detector.data.build import SplitIndex
    from detector.data.config import SplitSpec
    from detector.data.records import ImageRecord

    @register_format("jsonl_test", explicit=True)
    class JsonLines(DatasetFormat):
        shape = "a .jsonl file"

        def parse(self, source, root, split, value):
            return SplitSpec("jsonl_test", root, root / value) if str(value).endswith(".jsonl") else None

        def index(self, cfg, spec, split, decode):
            recs = []
            for i, line in enumerate(spec.annotations.read_text().splitlines()):
                r = json.loads(line)
                recs.append(ImageRecord(path=str(spec.images / r["file"]), image_id=i, width=64, height=48,
                                        boxes=np.array(r["boxes"], np.float32).reshape(-1, 4),
                                        classes=np.array(r["classes"], np.int64)))
            return SplitIndex(split, "jsonl_test", recs, [], cfg.names, list(range(1, len(cfg.names) + 1)))

    try:
        cv2.imwrite(str(tmp_path / "a.jpg"), np.zeros((48, 64, 3), np.uint8))
        (tmp_path / "train.jsonl").write_text(json.dumps({"file": "a.jpg", "boxes": [[1, 2, 30, 40]], "classes": [0]}))
        y = tmp_path / "j.yaml"
        y.write_text(f"path: {tmp_path}\nformat: jsonl_test\ntrain: train.jsonl\nnames: [thing]\n")
        idx = index_split(load_data_config(y), "train")
        assert idx.kind == "jsonl_test" and len(idx.records) == 1 and idx.records[0].boxes.tolist() == [[1, 2, 30, 40]]
    finally:
        FORMATS.pop("jsonl_test", None)
    with pytest.raises(ValueError, match="already registered"):
        register_format("coco")(JsonLines)
