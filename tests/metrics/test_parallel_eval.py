"""pycocotools' per-image matching split over forked processes: element for element what one process gives,
in pycocotools' order; every metric read from it is unchanged."""
import numpy as np
import pytest
from pycocotools.cocoeval import COCOeval

from detector.metrics.coco_eval import coco_from_dict, evaluate_arrays
from detector.metrics.faster_backend import evaluate_parallel


def _problem(seed=0, n_img=40, n_cat=3):
    rng = np.random.default_rng(seed)
    images = [{"id": 100 + i, "width": 200, "height": 200, "file_name": f"{i}.jpg"} for i in range(n_img)]
    anns, dets = [], []
    for im in images:
        for k in range(int(rng.integers(0, 6))):
            x, y, w, h = (float(v) for v in rng.uniform(0, 120, 2).tolist() + rng.uniform(5, 60, 2).tolist())
            c = int(rng.integers(1, n_cat + 1))
            anns.append({"id": len(anns) + 1, "image_id": im["id"], "category_id": c, "bbox": [x, y, w, h],
                         "area": w * h, "iscrowd": int(rng.random() < 0.1)})
            for _ in range(int(rng.integers(0, 3))):  # hits, near misses and strays, several classes
                j = rng.normal(0, 0.15, 4)
                dets.append([im["id"], x + j[0] * w, y + j[1] * h, w * (1 + j[2]), h * (1 + j[3]), rng.random(),
                             int(rng.integers(1, n_cat + 1)) if rng.random() < 0.2 else c])
    cats = [{"id": c, "name": str(c)} for c in range(1, n_cat + 1)]
    return coco_from_dict({"images": images, "annotations": anns, "categories": cats}), np.array(dets, float)


def _match_view(gt, dets):
    m = COCOeval(gt, gt.loadRes(dets), "bbox")
    m.params.iouThrs = np.array([0.5])
    m.params.areaRng, m.params.areaRngLbl = [list(m.params.areaRng[0])], ["all"]
    m.params.maxDets = [100]
    return m


def quiet(f, *a):
    import contextlib
    import io
    with contextlib.redirect_stdout(io.StringIO()):
        return f(*a)


@pytest.mark.parametrize("workers", [2, 3])
def test_parallel_matching_equals_one_process(workers):
    gt, dets = _problem()
    one = _match_view(gt, dets)
    quiet(one.evaluate)
    par = _match_view(gt, dets)
    evaluate_parallel(par, quiet, workers=workers, min_images=1)
    assert list(par.params.imgIds) == list(one.params.imgIds) and len(par.evalImgs) == len(one.evalImgs) > 100
    for a, b in zip(one.evalImgs, par.evalImgs):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.keys() == b.keys()
            for k in a:
                np.testing.assert_array_equal(np.asarray(a[k]), np.asarray(b[k]), err_msg=k)


def test_metrics_unchanged_with_the_parallel_matching(monkeypatch):
    import detector.metrics.faster_backend as fb

    pytest.importorskip("faster_coco_eval")
    gt, dets = _problem(seed=1, n_img=60)
    one = evaluate_arrays(gt, dets, None, [1, 2, 3], ["1", "2", "3"], backend="faster")
    monkeypatch.setattr(fb, "PARALLEL_MIN_IMAGES", 1)
    calls = []
    real = fb.evaluate_parallel
    monkeypatch.setattr(fb, "evaluate_parallel", lambda m, q, **kw: calls.append(1) or real(m, q, workers=2, min_images=1))
    par = evaluate_arrays(gt, dets, None, [1, 2, 3], ["1", "2", "3"], backend="faster")
    assert calls == [1]
    for k, v in one.items():
        if isinstance(v, float) and not np.isnan(v):
            assert par[k] == v, k
