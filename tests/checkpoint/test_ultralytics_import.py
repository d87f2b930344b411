"""Ultralytics YOLOv8 checkpoints read without ultralytics and without running code from the file;
the converted model's outputs equal Ultralytics' on the committed fixture (made by ultralytics)."""
import os
import pickle
import sys

import cv2
import numpy as np
import pytest
import torch

from detector import Detector
from detector.checkpoint import CheckpointError, load_checkpoint
from detector.checkpoint.ultralytics import convert_ultralytics, read_ultralytics
from detector.models import build_model
from detector.ops.decode import decode_outputs
from detector.ops.nms import non_max_suppression

from ..conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "ultralytics"


def _model(ck):
    m = build_model(ck["model_cfg"])
    m.load_state_dict(ck["model"])
    return m.eval()


# yolov8t_ft / yolo11t_ft: as Ultralytics fine-tunes a 20-class model to 3 classes (its model.load): the class
# branch keeps the source's hidden width (20), not the width 3 classes would be built with (16)
@pytest.mark.parametrize("name", ["yolov8t", "yolov8t_ft"])
def test_converted_outputs_equal_ultralytics(name):
    ck = convert_ultralytics(FIX / f"{name}.pt")
    ref = torch.load(FIX / f"{name}_outputs.pt", weights_only=True)
    m = _model(ck)
    with torch.no_grad():
        raw = m(ref["input"])
    flat = torch.cat([r.flatten(2) for r in raw], 2)  # [B, C, N] over all levels' cells
    nc = ref["scores"].shape[1]
    assert torch.allclose(flat[:, :64], ref["boxes"], atol=1e-4)
    assert torch.allclose(flat[:, 64:64 + nc], ref["scores"], atol=1e-4)
    dec = decode_outputs(raw, m.stride)  # xyxy; Ultralytics decodes to cx, cy, w, h
    xywh = torch.cat([(dec[..., :2] + dec[..., 2:4]) / 2, dec[..., 2:4] - dec[..., :2]], -1).transpose(1, 2)
    assert torch.allclose(xywh, ref["decoded"][:, :4], atol=1e-3)
    assert torch.allclose(dec[..., 4:4 + nc].transpose(1, 2), ref["decoded"][:, 4:], atol=1e-5)
    assert ck["model_cfg"]["scale"] == "t" and ck["names"] == ["0", "1", "2"]
    assert m.layers[-1].cls[0][-1].in_channels == (20 if name.endswith("_ft") else 16)


def test_every_tool_reads_it_through_load_checkpoint(tmp_path, capsys):
    ck = load_checkpoint(FIX / "yolov8t.pt")
    assert "read without running code" in capsys.readouterr().err and ck["model_cfg"]["nc"] == 3
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.full((48, 64, 3), 100, np.uint8))
    d = Detector(FIX / "yolov8t.pt", img=64, conf_thres=0.0)
    assert len(d.predict(str(img))) > 0


class Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_payload_does_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    bad = tmp_path / "evil.pt"
    torch.save({"model": Payload(marker), "note": "ultralytics"}, bad)
    with pytest.raises(CheckpointError, match="refused by the weights-only loader.*posix.system.*nothing in it was run"):
        read_ultralytics(bad)
    assert not marker.exists()
    raw = tmp_path / "raw.pt"
    with open(raw, "wb") as f:  # a plain (non-zip) pickle too
        pickle.dump({"model": Payload(marker)}, f)
    with pytest.raises(CheckpointError):
        read_ultralytics(raw)
    assert not marker.exists()


class DetectionModel:  # stands in for a YOLO11 model object in a crafted file
    pass


def test_other_graphs_and_tasks_are_refused_with_a_sentence(tmp_path):
    m = DetectionModel()
    m.yaml = {"nc": 80, "scale": "n", "scales": {"n": [0.5, 0.25, 1024]},
              "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 2, "C3k2", [256, False, 0.25]]],
              "head": [[-1, 2, "C2PSA", [1024]], [[16, 19, 22], 1, "Segment", ["nc", 32, 256]]]}
    m._modules = {}
    p = tmp_path / "yolo11n-seg.pt"
    torch.save({"model": m}, p)
    with pytest.raises(CheckpointError, match="not a YOLOv8, YOLO11 or YOLO26 detection model.*other task"):
        convert_ultralytics(p)
    m.yaml["head"][-1][2] = "Detect"
    torch.save({"model": m}, p)
    with pytest.raises(CheckpointError, match="not a YOLOv8, YOLO11 or YOLO26 detection model.*graph is"):
        convert_ultralytics(p)


# Made by ultralytics 8.4.190 (tests/fixtures/ultralytics/README.md): YOLO11 at a small width, YOLO11 at a
# scale named m (C3k blocks inside C3k2, as Ultralytics builds m/l/x), YOLO26 (DFL-free, one-to-one branch).
V11 = ["yolo11t", "yolo11m_tiny", "yolo26t", "yolo11t_ft"]


@pytest.mark.parametrize("name", V11)
def test_yolo11_and_yolo26_outputs_equal_ultralytics(name):
    ck = convert_ultralytics(FIX / f"{name}.pt")
    ref = torch.load(FIX / f"{name}_outputs.pt", weights_only=True)
    m = _model(ck)
    head = m.layers[-1]
    with torch.no_grad():
        raw = m(ref["input"])
    parts = head.split_raw(raw)
    assert torch.allclose(parts["box"].transpose(1, 2), ref["boxes"], atol=1e-4)
    assert torch.allclose(parts["cls"].transpose(1, 2), ref["scores"], atol=1e-4)
    dec = head.decode(raw)
    xywh = torch.cat([(dec[..., :2] + dec[..., 2:4]) / 2, dec[..., 2:4] - dec[..., :2]], -1).transpose(1, 2)
    assert torch.allclose(xywh, ref["decoded"][:, :4], atol=1e-3)
    assert torch.allclose(dec[..., 4:4 + head.nc].transpose(1, 2), ref["decoded"][:, 4:], atol=1e-5)
    mods = [layer.type for layer in m.layers]
    assert mods.count("C3k2") == 8 and mods.count("C2PSA") == 1
    inner = [type(b).__name__ for b in m.layers[2].m]
    assert inner == (["C3k"] if name == "yolo11m_tiny" else ["Bottleneck"])  # Ultralytics' scale rule
    assert ck["nms"] == ("none" if name == "yolo26t" else "greedy")
    if name == "yolo11t_ft":
        assert head.cls[0][-1].in_channels == 20 and head.nc == 3  # the source's class-branch width kept


def test_yolo26_runs_nms_free_on_its_one_to_one_branch_as_ultralytics():
    ck = convert_ultralytics(FIX / "yolo26t.pt")
    ref = torch.load(FIX / "yolo26t_outputs.pt", weights_only=True)
    m = _model(ck)
    head = m.layers[-1]
    assert head.reg_max == 1 and head.end2end and head.cls_branch == "dw"
    assert not isinstance(m.layers[9].cv1.act, torch.nn.SiLU) and m.layers[9].add  # YOLO26's SPPF
    with torch.no_grad():
        raw = m(ref["input"])
    parts = head.split_raw(raw)
    assert torch.allclose(parts["box_o2o"].transpose(1, 2), ref["boxes_o2o"], atol=1e-4)
    assert torch.allclose(parts["cls_o2o"].transpose(1, 2), ref["scores_o2o"], atol=1e-4)
    e2e = ref["end2end"][0]  # [k, 6]: x1, y1, x2, y2, score, class (top-k (cell, class) pairs)
    det = non_max_suppression(head.decode(raw), conf_thres=0.0, method="none", max_det=len(e2e), multi_label=True,
                              layout=head.decoded_layout)[0]
    assert len(det) == len(e2e)
    assert torch.allclose(det[:, 4], e2e[:, 4], atol=1e-5)
    ours = {(int(c), tuple(round(v, 2) for v in b.tolist())) for b, c in zip(det[:, :4], det[:, 5])}
    theirs = {(int(c), tuple(round(v, 2) for v in b.tolist())) for b, c in zip(e2e[:, :4], e2e[:, 5])}
    assert len(ours ^ theirs) <= 2  # equal up to rounding at a 0.01 px boundary
    with pytest.raises(ValueError, match="one-to-one head"):  # NMS-free on a head without that branch
        yolo11 = _model(convert_ultralytics(FIX / "yolo11t.pt"))
        non_max_suppression(yolo11.layers[-1].decode(yolo11(ref["input"])), method="none",
                            layout=yolo11.layers[-1].decoded_layout)


def test_yolo11_and_yolo26_fine_tune_and_predict(tmp_path):
    """Both load through every tool's loader, train a step with our loss (YOLO26: DFL-free distances, its
    one-to-one branch with its own top-1-assigned terms) and predict (YOLO26: NMS-free by default, any NMS
    method on request)."""
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.full((48, 64, 3), 100, np.uint8))
    for name in ("yolo11t", "yolo26t"):
        ck = load_checkpoint(FIX / f"{name}.pt")
        m = _model(ck).train()
        head = m.layers[-1]
        loss_fn = head.build_loss()
        before = {k: v.clone() for k, v in m.state_dict().items()}
        opt = torch.optim.SGD(m.parameters(), lr=0.01)
        targets = torch.tensor([[0, 1, 8.0, 8.0, 40.0, 40.0], [0, 2, 20.0, 4.0, 60.0, 30.0]])
        total, terms = loss_fn(m(torch.rand(1, 3, 64, 64)), targets)
        assert torch.isfinite(total) and terms["dfl"] > 0
        assert ("dfl_o2o" in terms) == (name == "yolo26t") and "density_o2o" not in terms
        total.backward()
        opt.step()
        moved = {k for k, v in m.named_parameters() if not torch.equal(v, before[k])}
        assert any(".box_pred." in k for k in moved)
        assert any(".box_pred_o2o." in k for k in moved) == (name == "yolo26t")
        for nms in (None, "greedy"):
            d = Detector(FIX / f"{name}.pt", img=64, conf_thres=0.0, nms=nms)
            assert len(d.predict(str(img))) > 0


def test_convert_tool_into_the_product(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import convert

    out = tmp_path / "v8_cab.pt"
    assert convert.main(["--weights", str(FIX / "yolov8t.pt"), "--cfg", "yolo_ca_bifpn.yaml", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "layers 0 1 2 3 4 6 7 9 10 11" in text and "starting fresh: 5 (CoordAtt, as identity)" in text
    ck = load_checkpoint(out)
    assert ck["model_cfg"]["scale"] == "t" and len(ck["names"]) == 3
    assert convert.main(["--weights", str(FIX / "yolov8t.pt"), "--cfg", "yolo_ca_bifpn.yaml", "--out", str(out)]) == 2


def test_a_yolo11_checkpoint_fills_the_products_yolo11_backbone():
    """cfg/yolo11_ca_bifpn.yaml: YOLO11's backbone whole, the inserted CoordAtt blocks as identity, so at step 0
    the product's P3/P4/P5 features are the YOLO11 checkpoint's, bit for bit."""
    import yaml

    from detector.train.transfer import transfer_weights

    from ..conftest import CFG_DIR

    ck = convert_ultralytics(FIX / "yolo11t.pt")
    src = _model(ck)
    d = yaml.safe_load((CFG_DIR / "yolo11_ca_bifpn.yaml").read_text())
    d.update(scales={"t": ck["model_cfg"]["scales"]["t"]}, scale="t", nc=3)
    product = build_model(d)
    rep = transfer_weights(product, ck["model"], ck["model_cfg"], "yolo11t")
    assert [(s, t) for s, t, _ in rep.pairs][:11] == [(i, i + (i > 4) + (i > 6)) for i in range(11)]
    assert {t for t, _ in rep.fresh} >= {5, 8, 13, 14}
    product.eval()
    feats = {}
    for model, layers in ((src, (4, 6, 10)), (product, (5, 8, 13))):
        for i in layers:
            model.layers[i].register_forward_hook(lambda m, a, out, k=(id(model), i): feats.__setitem__(k, out))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        src(x), product(x)
    for a, b in zip((4, 6, 10), (5, 8, 13)):
        assert torch.equal(feats[(id(src), a)], feats[(id(product), b)])


def test_convert_tool_keeps_each_files_own_graph(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "tools"))
    import convert

    for name, family in (("yolo11t", "yolo11"), ("yolo26t", "yolo26")):
        out = tmp_path / f"{name}_ours.pt"
        assert convert.main(["--weights", str(FIX / f"{name}.pt"), "--out", str(out)]) == 0
        assert "transferred" not in capsys.readouterr().out  # no transfer: the file's own graph, loaded whole
        ck = load_checkpoint(out)
        head = ck["model_cfg"]["head"][-1][3]
        assert head[3] == "dw" and (head[1] == 1) == (family == "yolo26") and ck["nms"] == (
            "none" if family == "yolo26" else "greedy")
        assert "graph" not in ck
