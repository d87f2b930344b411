"""COCO json and YOLO txt indexing on real images (tests/fixtures/coco_mini, licences in CREDITS.md)."""
import json
from pathlib import Path

import numpy as np
import pytest

from detector.data import DetectionDataset, load_data_config, index_split
from detector.data.coco_index import index_coco
from detector.data.records import index_yolo, label_path_for

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "coco_mini"
ANN = FIX / "annotations" / "instances.json"
IMGS = FIX / "images" / "train2017"


def coco_index():
    return index_coco(IMGS, ANN, "train", decode=True)


def test_coco_index_categories_and_crowd():
    records, issues, cat_ids, names = coco_index()
    assert issues == []
    assert len(records) == 5  # the background image stays in
    assert cat_ids[79] == 90 and names[79] == "toothbrush" and cat_ids[0] == 1 and len(cat_ids) == 80
    data = json.loads(ANN.read_text())
    by_id = {r.image_id: r for r in records}
    for a in data["annotations"]:
        r = by_id[a["image_id"]]
        x, y, w, h = a["bbox"]
        box = np.array([x, y, x + w, y + h], np.float32)
        pool = r.crowd if a["iscrowd"] else r.boxes
        assert np.abs(pool - box).max(1).min() < 1e-3
        if not a["iscrowd"]:
            k = np.abs(r.boxes - box).max(1).argmin()
            assert cat_ids[r.classes[k]] == a["category_id"]  # contiguous id maps back exactly
    crowd_img = next(r for r in records if Path(r.path).name == "000000000257.jpg")
    assert len(crowd_img.crowd) == 1
    assert sum(len(r.boxes) for r in records) == sum(1 for a in data["annotations"] if not a["iscrowd"])
    assert any(len(r.boxes) == 0 for r in records)


@pytest.mark.parametrize("img_size", [640, 320, 257])
def test_letterbox_maps_back_to_json_boxes(img_size):
    records, _, _, _ = coco_index()
    ds = DetectionDataset(records, img_size=img_size, augment=False)
    for i in range(len(ds)):
        s = ds[i]
        m, rec = s["meta"], ds.records[i]
        assert s["img"].shape == (3, img_size, img_size) and s["img"].dtype.is_floating_point is False
        lab = s["labels"].numpy()
        back = (lab[:, 1:] - np.array(m["pad"] * 2)) / np.array(m["ratio"] * 2)
        np.testing.assert_allclose(back, rec.boxes, atol=0.5)
        np.testing.assert_array_equal(lab[:, 0], rec.classes)
        cr = (s["crowd"].numpy() - np.array(m["pad"] * 2)) / np.array(m["ratio"] * 2)
        np.testing.assert_allclose(cr, rec.crowd, atol=0.5)
        assert m["orig_shape"] == (rec.height, rec.width)


def test_yolo_form_gives_same_boxes():
    coco, _, _, _ = coco_index()
    yolo, issues = index_yolo(IMGS, 80, "train", decode=True)
    assert issues == []
    ds_c, ds_y = DetectionDataset(coco, 320), DetectionDataset(yolo, 320)
    by_name = {Path(r.path).name: i for i, r in enumerate(ds_y.records)}
    for i, r in enumerate(ds_c.records):
        j = by_name[Path(r.path).name]
        a, b = ds_c.load(i), ds_y.load(j)
        oa, ob = np.lexsort(a.boxes.T[::-1]), np.lexsort(b.boxes.T[::-1])
        np.testing.assert_allclose(a.boxes[oa], b.boxes[ob], atol=0.05)
        np.testing.assert_array_equal(a.classes[oa], b.classes[ob])


def test_label_path_rule():
    assert label_path_for(Path("/d/images/train/a.jpg")) == Path("/d/labels/train/a.txt")
    assert label_path_for(Path("/images/x/images/b.png")) == Path("/images/x/labels/b.txt")


def test_data_yaml_forms(tmp_path):
    (tmp_path / "d.yaml").write_text(f"path: {FIX}\ntrain: {{images: images/train2017, annotations: annotations/instances.json}}\n")
    idx = index_split(load_data_config(tmp_path / "d.yaml"), "train")
    assert idx.kind == "coco" and len(idx.records) == 5 and idx.cat_ids[79] == 90
    (tmp_path / "y.yaml").write_text(f"path: {FIX}\nval: images/train2017\nnames: {{0: a, 1: b}}\n")
    idx = index_split(load_data_config(tmp_path / "y.yaml"), "val")
    assert idx.kind == "yolo" and idx.names == ["a", "b"]
    assert idx.n_rejected > 0  # the fixture's labels use classes up to 79: reported, not loaded
    from detector.config import ConfigError
    (tmp_path / "bad.yaml").write_text("path: x\ntrain: images\n")
    with pytest.raises(ConfigError, match="need 'names'"):
        load_data_config(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("path: x\ntrain: images\nnames: [a]\nlabels: y\n")
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['labels'\]"):
        load_data_config(tmp_path / "bad2.yaml")


def _exif_jpeg(path, orientation):
    """A 40x20 (w x h) JPEG whose EXIF says 'rotate 90 degrees clockwise to display' (orientation 6)."""
    from PIL import Image
    img = np.zeros((20, 40, 3), np.uint8)
    img[:, :10] = 255  # white band on the left of the stored pixels
    im = Image.fromarray(img)
    exif = im.getexif()
    exif[0x0112] = orientation
    im.save(path, exif=exif)


def test_exif_orientation_follows_the_annotation(tmp_path):
    """COCO boxes refer to the json's width x height: an EXIF-rotated image is decoded rotated when the
    json gives the displayed size, raw when it gives the stored size; YOLO labels use the displayed image."""
    pytest.importorskip("PIL")
    from detector.data.image_io import read_image
    p = tmp_path / "images" / "r.jpg"
    p.parent.mkdir()
    _exif_jpeg(p, 6)
    assert read_image(p).shape[:2] == (40, 20)  # displayed: rotated to portrait
    assert read_image(p, apply_exif=False).shape[:2] == (20, 40)
    for w, h in [(20, 40), (40, 20)]:  # displayed size / stored size in the json
        ann = {"images": [{"id": 1, "file_name": "r.jpg", "width": w, "height": h}],
               "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "iscrowd": 0}],
               "categories": [{"id": 1, "name": "x"}]}
        (tmp_path / "a.json").write_text(json.dumps(ann))
        recs, issues, _, _ = index_coco(tmp_path / "images", tmp_path / "a.json", "val", decode=True)
        assert issues == [] and recs[0].apply_exif == ((w, h) == (20, 40))
        ds = DetectionDataset(recs, img_size=64)
        img, (h0, w0), _ = ds.load_image(0)
        assert (h0, w0) == (h, w)
        if (w, h) == (40, 20):  # raw pixels: the white band is on the left
            assert img[:, :4].mean() > 200 and img[:, -4:].mean() < 50


def test_yolo_split_scored_like_coco():
    """A YOLO-txt split goes through the same pycocotools scoring via an in-memory ground truth."""
    import torch
    from detector.data.build import SplitIndex
    from detector.metrics.coco_eval import COCOEvaluator
    yolo, _ = index_yolo(IMGS, 80, "val", decode=True)
    idx = SplitIndex("val", "yolo", yolo, [], [str(i) for i in range(80)], list(range(80)))
    ev = COCOEvaluator.from_split(idx)
    for r in yolo:
        h, w = r.height, r.width
        b = torch.tensor(r.boxes * np.array([w, h, w, h], np.float32))
        d = torch.cat([b, torch.ones(len(b), 1), torch.tensor(r.classes)[:, None].float()], 1)
        ev.update([d], [{"image_id": r.image_id, "orig_shape": (h, w), "ratio": (1.0, 1.0), "pad": (0.0, 0.0)}])
    m = ev.compute()
    assert m["mAP50-95"] == pytest.approx(1.0)
    ev.reset()
    for r in yolo:  # every box shifted by 8 px: AP < 1, computed by the same COCOeval code
        h, w = r.height, r.width
        b = torch.tensor(r.boxes * np.array([w, h, w, h], np.float32)) + 8
        d = torch.cat([b, torch.ones(len(b), 1), torch.tensor(r.classes)[:, None].float()], 1)
        ev.update([d], [{"image_id": r.image_id, "orig_shape": (h, w), "ratio": (1.0, 1.0), "pad": (0.0, 0.0)}])
    assert 0 < ev.compute()["mAP50-95"] < 1
