"""The whole n model (with box decoding) exports to ONNX and onnxruntime matches PyTorch."""
import warnings

import numpy as np
import pytest
import torch

from detector import build_model
from detector.models import DecodedModel

from ..conftest import CFG_DIR

ort = pytest.importorskip("onnxruntime", reason="onnxruntime not installed (pip install -e '.[dev]')")
onnx = pytest.importorskip("onnx", reason="onnx not installed (pip install -e '.[dev]')")


@pytest.mark.parametrize("cfg", ["yolo_ca_bifpn.yaml", "yolo_base.yaml", "yolo_cbam_bifpn.yaml"])
def test_onnx_matches_pytorch(tmp_path, cfg):
    model = build_model(CFG_DIR / cfg, nc=80)
    model.train()
    model(torch.rand(2, 3, 64, 64))  # non-trivial BN statistics
    wrapped = DecodedModel(model.eval().fuse()).eval()
    path = tmp_path / "m.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(wrapped, (torch.rand(1, 3, 256, 256),), path, opset_version=17, dynamo=False,
                          input_names=["images"], output_names=["preds"],
                          dynamic_axes={"images": {0: "batch", 2: "height", 3: "width"}, "preds": {0: "batch", 1: "anchors"}})
    onnx.checker.check_model(str(path))
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for shape in [(1, 3, 256, 256), (2, 3, 192, 320)]:
        x = torch.rand(*shape)
        with torch.no_grad():
            ref = wrapped(x).numpy()
        out = sess.run(None, {"images": x.numpy()})[0]
        assert out.shape == ref.shape
        np.testing.assert_allclose(out, ref, atol=1e-4, rtol=1e-5)
