"""Broken weights files given to every tool: exit 2 and a sentence naming the file and what it is;
never a traceback, never code from the file run."""
import pickle

import pytest
import torch

from detector.checkpoint import FORMAT

from .conftest import tool


class Payload:
    """A pickle that would create a marker file if unpickled by a trusting loader."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def _bad_files(tmp_path):
    d = tmp_path / "bad"
    d.mkdir()
    (d / "empty.pt").write_bytes(b"")
    (d / "random.pt").write_bytes(bytes(range(256)) * 8)
    (d / "text.pt").write_text("this is not a checkpoint\n")
    torch.save({"a": 1}, d / "foreign.pt")
    torch.save({"format": FORMAT, "model": {}, "model_cfg": "yolo.yaml"}, d / "cfg_type.pt")
    torch.save({"format": FORMAT, "model": {}, "model_cfg": {"nc": 2, "backbone": "x"}}, d / "cfg_bad.pt")
    with open(d / "payload.pt", "wb") as f:
        pickle.dump({"model": Payload(tmp_path / "PWNED")}, f)
    (d / "empty.onnx").write_bytes(b"")
    (d / "garbage.onnx").write_bytes(b"\x08\x07garbage" * 10)
    return d


EXPECT = {
    "empty.pt": "empty file", "random.pt": "not a", "text.pt": "text file", "foreign.pt": "not a detector checkpoint",
    "cfg_type.pt": "'model_cfg' should be a dict", "cfg_bad.pt": "model config cannot be built",
    "payload.pt": "raw Python pickle", "empty.onnx": "empty file", "garbage.onnx": "not a loadable ONNX model",
}


@pytest.mark.parametrize("which", sorted(EXPECT))
@pytest.mark.parametrize("tool_name", ["val", "detect", "export", "train", "resume"])
def test_bad_weights_exit_2_with_a_sentence(tmp_path, capsys, tiny_data, which, tool_name):
    d = _bad_files(tmp_path)
    w = d / which
    src = tmp_path / "img.jpg"
    import cv2
    import numpy as np

    cv2.imwrite(str(src), np.zeros((32, 32, 3), np.uint8))
    argv = {"val": ["--weights", str(w), "--data", str(tiny_data), "--img", "64", "--project", str(tmp_path / "r")],
            "detect": ["--weights", str(w), "--source", str(src), "--img", "64", "--project", str(tmp_path / "r")],
            "export": ["--weights", str(w), "--img", "64", "--output", str(tmp_path / "o.onnx")],
            "train": ["--weights", str(w), "--data", str(tiny_data), "--img", "64", "--epochs", "1",
                      "--project", str(tmp_path / "r")],
            "resume": ["--resume", str(w)]}[tool_name]
    expect = EXPECT[which]
    if tool_name in ("train", "resume") and which == "cfg_type.pt":
        expect = "'model_cfg' should be a dict"
    if tool_name not in ("detect", "val") and w.suffix == ".onnx":  # val and detect run exported models
        expect = "an ONNX model, not a checkpoint"
    if tool_name == "train" and which == "cfg_bad.pt":  # fine-tuning reads only the tensors
        expect = "no layer of it fits this model"
    assert tool("train" if tool_name == "resume" else tool_name).main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and str(w) in err and expect in err, err
    assert not (tmp_path / "PWNED").exists()  # the planted payload never ran


def test_pickled_objects_are_named_as_such(tmp_path, capsys):
    from detector.checkpoint import CheckpointError, load_checkpoint

    d = _bad_files(tmp_path)
    with pytest.raises(CheckpointError, match="raw Python pickle.*nothing in it was run"):
        load_checkpoint(d / "payload.pt")
    torch.save({"m": Payload(tmp_path / "PWNED")}, d / "zip_payload.pt")  # a torch zip holding an object
    with pytest.raises(CheckpointError, match="pickled Python objects"):
        load_checkpoint(d / "zip_payload.pt")
    assert not (tmp_path / "PWNED").exists()


def test_foreign_onnx_graph_is_refused_by_detect(tmp_path, capsys):
    """A valid ONNX model of another kind (one 4-D output, no metadata): exit 2 with a sentence."""
    import cv2
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 64, 64])
    graph = helper.make_graph([helper.make_node("Identity", ["images"], ["out"])], "foreign", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    w = tmp_path / "foreign.onnx"
    onnx.save(model, str(w))
    src = tmp_path / "a.jpg"
    cv2.imwrite(str(src), np.zeros((32, 32, 3), np.uint8))
    assert tool("detect").main(["--weights", str(w), "--source", str(src), "--project", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert "not an ONNX model exported by tools/export.py" in err and "Traceback" not in err
    w.write_bytes(w.read_bytes()[:40])  # truncated
    assert tool("detect").main(["--weights", str(w), "--source", str(src), "--project", str(tmp_path / "r")]) == 2
    assert "not a loadable ONNX model" in capsys.readouterr().err


def test_resume_from_weights_without_optimizer_state(small_ckpt, capsys):
    assert tool("train").main(["--resume", str(small_ckpt)]) == 2
    err = capsys.readouterr().err
    assert "cannot resume from it (no optimizer, scheduler, epoch state)" in err and str(small_ckpt) in err
