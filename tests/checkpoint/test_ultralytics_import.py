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

from ..conftest import ROOT

FIX = ROOT / "tests" / "fixtures" / "ultralytics"


def _model(ck):
    m = build_model(ck["model_cfg"])
    m.load_state_dict(ck["model"])
    return m.eval()


def test_converted_outputs_equal_ultralytics():
    ck = convert_ultralytics(FIX / "yolov8t.pt")
    ref = torch.load(FIX / "yolov8t_outputs.pt", weights_only=True)
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


def test_yolo11_is_refused_with_a_sentence(tmp_path):
    m = DetectionModel()
    m.yaml = {"nc": 80, "scale": "n", "scales": {"n": [0.5, 0.25, 1024]},
              "backbone": [[-1, 1, "Conv", [64, 3, 2]], [-1, 2, "C3k2", [256, False, 0.25]]],
              "head": [[-1, 2, "C2PSA", [1024]], [[16, 19, 22], 1, "Detect", ["nc"]]]}
    m._modules = {}
    p = tmp_path / "yolo11n.pt"
    torch.save({"model": m}, p)
    with pytest.raises(CheckpointError, match="YOLO11.*not supported yet"):
        convert_ultralytics(p)


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
