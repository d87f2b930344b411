"""The one inference path's warm-up: on CUDA the first forward loads libraries and builds kernel plans
(about a second on an H100, docs/results/benchmarks.md), so detect and val run one untimed pass on the first
batch and report per-image speed without it. These tests pretend to be on CUDA (``needs_warmup``
patched) and make the first forward slow, to check the warm-up runs once, stays out of the speed
figures and changes no result."""

import numpy as np
import pytest
import torch

from detector import Detector, build_model
from detector.data import DetectionDataset, build_dataloader, index_split, load_data_config
from detector.checkpoint import save_checkpoint
from detector.predict.predictor import Predictor
from detector.eval.val_loop import run_validation
from detector.metrics import COCOEvaluator

from ..conftest import CFG_DIR

SLOW = 1000.0  # seconds the first forward takes in these tests, on the fake clock below


class FakeClock:
    """``time.perf_counter`` for the timed modules: it moves only when a test moves it, so the timings
    asserted below are exact whatever the machine's speed or load."""

    def __init__(self):
        self.now = 0.0

    def perf_counter(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    import types

    import detector.predict.api as detector_api
    import detector.eval.val_loop as val_loop

    c = FakeClock()
    for mod in (detector_api, val_loop):
        monkeypatch.setattr(mod, "time", types.SimpleNamespace(perf_counter=c.perf_counter))
    return c


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    torch.manual_seed(0)
    m = build_model(CFG_DIR / "yolo_bifpn.yaml", nc=3)
    p = tmp_path_factory.mktemp("ck") / "m.pt"
    save_checkpoint(p, {"model": m.state_dict(), "model_cfg": m.yaml, "names": ["a", "b", "c"], "nms": "greedy"})
    return p


def _slow_first_call(predictor: Predictor, clock: FakeClock | None = None) -> list[tuple]:
    """Wrap the predictor's forward: the first call takes SLOW s on ``clock``; returns the input shapes seen."""
    calls, fwd = [], predictor._forward

    def wrapped(x):
        calls.append(tuple(x.shape))
        if len(calls) == 1 and clock is not None:
            clock.now += SLOW
        return fwd(x)

    predictor._forward = wrapped
    return calls


@pytest.fixture
def as_if_cuda(monkeypatch):
    monkeypatch.setattr(Predictor, "needs_warmup", property(lambda self: not self.warmed))


def test_no_warmup_on_cpu(ckpt):
    det = Detector(ckpt, img=96, device="cpu")
    calls = _slow_first_call(det.predictor)
    det.predict_arrays([np.full((80, 96, 3), 114, np.uint8)])
    assert not det.predictor.needs_warmup and len(calls) == 1


def test_detect_warmup_once_untimed_same_result(ckpt, as_if_cuda, clock):
    rng = np.random.default_rng(0)
    imgs = [rng.integers(0, 255, (72, 96, 3), dtype=np.uint8) for _ in range(3)]
    ref = Detector(ckpt, img=96, conf_thres=0.001, device="cpu")
    ref.predictor.warmed = True  # no warm-up: the reference results
    det = Detector(ckpt, img=96, conf_thres=0.001, device="cpu")
    calls = _slow_first_call(det.predictor, clock)
    for im, want in zip(imgs, [ref.predict_arrays([im])[0] for im in imgs]):
        got = det.predict_arrays([im])[0]
        np.testing.assert_array_equal(got.boxes, want.boxes)
        np.testing.assert_array_equal(got.scores, want.scores)
    assert calls == [(1, 3, 96, 96)] * 4  # the warm-up ran on the first batch's own shape, once (rect: 72 -> 96)
    assert det.timing.inference == 0.0 and det.timing.images == 3  # the SLOW first pass is not in it


def test_validation_warmup_untimed(ckpt, tiny_data, as_if_cuda, monkeypatch, clock):
    idx = index_split(load_data_config(tiny_data), "val")
    loader, _ = build_dataloader(DetectionDataset(idx.records, 96, augment=False, rect=True, batch_size=4), 4, 0,
                                 shuffle=False)
    model = Detector(ckpt, img=96, device="cpu").model  # fused, as val.py builds it
    orig, out = Predictor.from_model, {}
    for warmed in (True, False):  # True: the reference, no warm-up
        calls = []

        def patched(*a, _w=warmed, _calls=calls, **kw):
            q = orig(*a, **kw)
            q.warmed = _w
            _calls.extend([_slow_first_call(q, clock)])
            return q

        monkeypatch.setattr(Predictor, "from_model", patched)
        out[warmed] = run_validation(model, loader, COCOEvaluator.from_split(idx), torch.device("cpu"),
                                     progress=False), len(calls[0])
    (m_ref, n_ref), (m, n) = out[True], out[False]
    assert (n_ref, n) == (2, 3)  # 2 batches of 4; one forward more with the warm-up
    assert m["images"] == m_ref["images"] == 8
    assert {k: m[k] for k in ("mAP50-95", "mAP50")} == {k: m_ref[k] for k in ("mAP50-95", "mAP50")}
    assert m["speed"]["inference"] == 0.0  # the slow first pass is not in the speed
    assert m["speed"]["warmup_s"] == SLOW and m["speed"]["total_s"] == SLOW  # the wall time holds it
    assert m_ref["speed"]["warmup_s"] == 0  # without the warm-up the slow first pass lands in the speed:
    assert m_ref["speed"]["inference"] == pytest.approx(1000 * SLOW / 8)  # what the warm-up keeps out


def test_rect_default_by_device(ckpt):
    """Default rectangular on CPU, square on CUDA (each new input shape costs CUDA a kernel re-plan);
    an explicit choice wins."""
    from detector.predict.api import auto_rect

    assert auto_rect(torch.device("cpu")) and not auto_rect(torch.device("cuda"))
    land = np.zeros((480, 640, 3), np.uint8)
    assert Detector(ckpt, img=640, device="cpu").input_shape([land]) == (480, 640)
    assert Detector(ckpt, img=640, device="cpu", rect=False).input_shape([land]) == (640, 640)


def test_postprocess_follows_the_heads_layout():
    """A head whose decoded output has no density column: NMS reads the layout, not a fixed 4 + nc + 1."""
    p = Predictor(lambda x: x, 32, torch.device("cpu"), layout={"xyxy": 4, "cls": 2}, conf_thres=0.1)
    preds = torch.tensor([[[0.0, 0.0, 10.0, 10.0, 0.9, 0.1], [50.0, 50.0, 60.0, 60.0, 0.2, 0.8]]])
    (dets,) = p.postprocess(preds)
    assert dets.shape == (2, 7) and dets[:, 5].tolist() == [0.0, 1.0] and (dets[:, 6] == 0).all()
    (misread,) = Predictor(lambda x: x, 32, torch.device("cpu"), conf_thres=0.1).postprocess(preds)  # 4 + 1 + density
    assert (misread[:, 5] == 0).all() and misread[0, 6] == pytest.approx(0.1)  # what the layout prevents
