"""NMS inside the exported graph equals our Python NMS (greedy and adaptive), in PyTorch and onnxruntime."""
import warnings

import numpy as np
import pytest
import torch

from detector.export.graph_nms import AdaptiveGraphNMS, GreedyGraphNMS
from detector.ops.nms import non_max_suppression


def crowded_preds(seed: int, batch: int = 2, n: int = 600, nc: int = 3) -> torch.Tensor:
    """Decoded predictions [B, N, 4 + nc + 1] shaped like a detector's: many jittered boxes around a few
    dozen overlapping objects (crowds of one class), class probabilities, densities in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    out = []
    for _ in range(batch):
        centres = torch.rand(30, 2, generator=g) * 200 + 20
        centres[10:20] = centres[10:11] + torch.randn(10, 2, generator=g) * 12  # a crowd
        wh = torch.rand(30, 2, generator=g) * 40 + 20
        obj = torch.randint(0, 30, (n,), generator=g)
        c = centres[obj] + torch.randn(n, 2, generator=g) * 4
        s = wh[obj] * (1 + torch.randn(n, 2, generator=g) * 0.1)
        boxes = torch.cat([c - s / 2, c + s / 2], 1)
        cls = torch.rand(n, nc, generator=g) * 0.3
        cls[torch.arange(n), obj % nc] += torch.rand(n, generator=g) * 0.7
        dens = torch.rand(n, generator=g)
        out.append(torch.cat([boxes, cls, dens[:, None]], 1))
    return torch.stack(out)


def python_nms(preds, method, conf, iou, max_det):
    return non_max_suppression(preds, conf, iou, method=method, max_det=max_det)


def as_rows(dets, num):
    return [d[:int(k)] for d, k in zip(dets, num)]


def assert_same(a: torch.Tensor, b: torch.Tensor):
    """Two [K, 7] detection lists equal up to the order of equal scores."""
    assert a.shape == b.shape, (a.shape, b.shape)
    ka = np.lexsort((a[:, 0].numpy(), -a[:, 4].numpy()))
    kb = np.lexsort((b[:, 0].numpy(), -b[:, 4].numpy()))
    np.testing.assert_allclose(a[ka].numpy(), b[kb].numpy(), atol=1e-4, rtol=1e-5)


@pytest.mark.parametrize("cls,method", [(GreedyGraphNMS, "greedy"), (AdaptiveGraphNMS, "adaptive")])
@pytest.mark.parametrize("conf,iou,max_det", [(0.25, 0.5, 300), (0.4, 0.7, 300), (0.25, 0.45, 7)])
def test_graph_nms_equals_python_nms_in_pytorch(cls, method, conf, iou, max_det):
    preds = crowded_preds(0)
    m = cls(3, conf=conf, iou=iou, max_det=max_det)
    dets, num = m(preds)
    assert dets.shape == (2, max_det, 7) and num.dtype == torch.int64
    ref = python_nms(preds, method, conf, iou, max_det)
    for got, want in zip(as_rows(dets, num), ref):
        assert len(want) > 5
        assert_same(got, want)
    assert (dets[0, int(num[0]):] == 0).all()  # padding is zeros


def test_adaptive_differs_from_greedy_on_these_crowds():
    """The case is not trivial: raised densities keep boxes that greedy removes."""
    preds = crowded_preds(1)
    g = python_nms(preds, "greedy", 0.25, 0.5, 300)
    a = python_nms(preds, "adaptive", 0.25, 0.5, 300)
    assert sum(len(x) for x in a) > sum(len(x) for x in g)


def test_no_box_above_conf_gives_no_rows():
    preds = crowded_preds(2)
    for m in (GreedyGraphNMS(3, conf=0.99), AdaptiveGraphNMS(3, conf=0.99)):
        dets, num = m(preds)
        assert num.tolist() == [0, 0] and (dets == 0).all()


@pytest.mark.parametrize("cls,method", [(GreedyGraphNMS, "greedy"), (AdaptiveGraphNMS, "adaptive")])
def test_graph_nms_in_onnxruntime_equals_python_nms_with_dynamic_batch(tmp_path, cls, method):
    ort = pytest.importorskip("onnxruntime")
    m = cls(3, conf=0.25, iou=0.5, max_det=100).eval()
    path = tmp_path / "nms.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(m, (crowded_preds(0),), str(path), opset_version=17, dynamo=False, input_names=["preds"],
                          output_names=["dets", "num"], dynamic_axes={"preds": {0: "b", 1: "n"}, "dets": {0: "b"},
                                                                      "num": {0: "b"}})
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for seed, batch, n in [(3, 1, 600), (4, 3, 900)]:
        preds = crowded_preds(seed, batch, n)
        dets, num = sess.run(None, {"preds": preds.numpy()})
        assert dets.shape == (batch, 100, 7) and num.shape == (batch,)
        ref = python_nms(preds, method, 0.25, 0.5, 100)
        for got, want in zip(as_rows(torch.from_numpy(dets), torch.from_numpy(num)), ref):
            assert len(want) > 5
            assert_same(got, want)
