"""Every NMS method against a slow, obvious reference (plain loops over score-sorted boxes)."""
import math

import pytest
import torch
from torchvision.ops import box_iou

from detector.ops.nms import adaptive_nms, diou_nms, greedy_nms, non_max_suppression, soft_nms


def crowd_boxes(n=300, seed=0, n_cls=3, spread=60.0):
    """Many heavily overlapping boxes: jittered copies around a few centres."""
    g = torch.Generator().manual_seed(seed)
    centres = torch.rand(12, 2, generator=g) * spread
    c = centres[torch.randint(0, 12, (n,), generator=g)] + torch.randn(n, 2, generator=g) * 4
    wh = 10 + torch.rand(n, 2, generator=g) * 20
    boxes = torch.cat([c - wh / 2, c + wh / 2], 1)
    scores = torch.rand(n, generator=g)
    idxs = torch.randint(0, n_cls, (n,), generator=g)
    dens = torch.rand(n, generator=g)
    return boxes, scores, idxs, dens


def ref_sequential(boxes, scores, idxs, thr_of, overlap=None):
    """Sorted by score (stable), each kept box suppresses later same-class boxes with overlap > thr_of(i)."""
    overlap = box_iou(boxes, boxes) if overlap is None else overlap
    order = sorted(range(len(scores)), key=lambda i: -float(scores[i]))
    suppressed, keep = set(), []
    for a, i in enumerate(order):
        if i in suppressed:
            continue
        keep.append(i)
        for j in order[a + 1:]:
            if int(idxs[j]) == int(idxs[i]) and float(overlap[i, j]) > thr_of(i):
                suppressed.add(j)
    return keep


def ref_diou(boxes, beta):
    n = len(boxes)
    iou = box_iou(boxes, boxes)
    out = torch.empty(n, n)
    for i in range(n):
        for j in range(n):
            a, b = boxes[i], boxes[j]
            rho2 = float(((a[:2] + a[2:]) / 2 - (b[:2] + b[2:]) / 2).pow(2).sum())
            cw = float(max(a[2], b[2]) - min(a[0], b[0]))
            ch = float(max(a[3], b[3]) - min(a[1], b[1]))
            out[i, j] = float(iou[i, j]) - (rho2 / (cw * cw + ch * ch + 1e-7)) ** beta
    return out


def ref_soft(boxes, scores, idxs, sigma, thr, score_thr, method, densities=None):
    s = [float(x) for x in scores]
    alive = [i for i in range(len(s)) if s[i] > score_thr]
    keep, new = [], []
    iou = box_iou(boxes, boxes)
    while alive:
        best = max(s[k] for k in alive)  # ties: the earlier box in original score order
        i = [k for k in sorted(alive, key=lambda k: -float(scores[k])) if s[k] == best][0]
        keep.append(i)
        new.append(s[i])
        alive.remove(i)
        for j in list(alive):
            if int(idxs[j]) != int(idxs[i]):
                continue
            v = float(iou[i, j])
            if method == "gaussian":
                s[j] *= math.exp(-v * v / sigma)
            elif v > (thr if densities is None else max(thr, float(densities[i]))):
                s[j] *= 1 - v
            if s[j] <= score_thr:
                alive.remove(j)
    o = sorted(range(len(keep)), key=lambda k: -new[k])
    return [keep[k] for k in o], [new[k] for k in o]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("nt", [0.3, 0.5, 0.7])
def test_greedy_equals_reference(seed, nt):
    b, s, c, _ = crowd_boxes(seed=seed)
    assert greedy_nms(b, s, c, nt).tolist() == ref_sequential(b, s, c, lambda i: nt)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("nt", [0.3, 0.5])
def test_adaptive_equals_reference(seed, nt):
    b, s, c, d = crowd_boxes(seed=seed)
    got = adaptive_nms(b, s, c, nt, d).tolist()
    assert got == ref_sequential(b, s, c, lambda i: max(nt, float(d[i])))
    assert got != greedy_nms(b, s, c, nt).tolist()  # densities matter on this crowd


def test_adaptive_blocked_path_equals_reference(monkeypatch):
    """Force tiny blocks and chunks so the cross-block and chunking code paths run."""
    import detector.ops.nms.algorithms as nms

    monkeypatch.setattr(nms, "_BLOCK", 16)
    monkeypatch.setattr(nms, "_BUDGET", 300)
    b, s, c, d = crowd_boxes(n=200, seed=5, n_cls=2)
    assert adaptive_nms(b, s, c, 0.4, d).tolist() == ref_sequential(b, s, c, lambda i: max(0.4, float(d[i])))


@pytest.mark.parametrize("seed", [0, 1])
def test_adaptive_with_low_density_equals_greedy(seed):
    b, s, c, d = crowd_boxes(seed=seed)
    for nt in (0.4, 0.6):
        got = adaptive_nms(b, s, c, nt, d * nt).tolist()
        assert got == ref_sequential(b, s, c, lambda i: nt)
        assert got == greedy_nms(b, s, c, nt).tolist()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_adaptive_mixed_classes_equals_reference(seed, monkeypatch):
    """Only classes with a density above N_t need the per-box-threshold solver; the others go to
    batched_nms. Merged, the result must still be the sequential one, in score order."""
    import detector.ops.nms.algorithms as nms

    b, s, c, d = crowd_boxes(n=300, seed=seed, n_cls=4)
    d = torch.where(c == 1, d, d * 0.3)  # only class 1 is crowded
    seen = []
    real = nms._grouped_suppression
    monkeypatch.setattr(nms, "_grouped_suppression", lambda bb, ss, cc, *a: seen.append(cc.unique().tolist()) or
                        real(bb, ss, cc, *a))
    nt = 0.4
    got = adaptive_nms(b, s, c, nt, d).tolist()
    assert got == ref_sequential(b, s, c, lambda i: max(nt, float(d[i])))
    assert seen == [[1]]  # the solver saw class 1 alone
    assert got != greedy_nms(b, s, c, nt).tolist()


def test_density_one_suppresses_nothing_of_its_class():
    """A box with density 1.0 suppresses nothing (IoU is never > 1): the result equals NMS run
    without that box, plus that box."""
    b, s, c, d = crowd_boxes(n=150, seed=3)
    d = d * 0.3
    top = int(s.argmax())
    d[top] = 1.0
    keep = adaptive_nms(b, s, c, 0.3, d).tolist()
    rest = [j for j in range(len(s)) if j != top]
    keep_wo = adaptive_nms(b[rest], s[rest], c[rest], 0.3, d[rest]).tolist()
    assert keep == [top] + [rest[j] for j in keep_wo]
    assert len(keep) > len(adaptive_nms(b, s, c, 0.3, torch.where(torch.arange(150) == top, 0.0, d)))
    b2 = b[top:top + 1].repeat(3, 1)  # identical copies survive too
    k = adaptive_nms(b2, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long), 0.5, torch.ones(3))
    assert k.tolist() == [0, 1, 2]


@pytest.mark.parametrize("beta", [0.6, 1.0])
@pytest.mark.parametrize("seed", [0, 1])
def test_diou_equals_reference(beta, seed):
    b, s, c, _ = crowd_boxes(n=120, seed=seed)
    ov = ref_diou(b, beta)
    assert diou_nms(b, s, c, 0.4, beta).tolist() == ref_sequential(b, s, c, lambda i: 0.4, overlap=ov)


@pytest.mark.parametrize("method", ["gaussian", "linear"])
def test_soft_equals_reference(method):
    b, s, c, _ = crowd_boxes(n=80, seed=4)
    k, ns = soft_nms(b, s, c, sigma=0.5, iou_threshold=0.3, score_threshold=0.05, method=method)
    rk, rs = ref_soft(b, s, c, 0.5, 0.3, 0.05, method)
    assert k.tolist() == rk
    torch.testing.assert_close(ns, torch.tensor(rs), atol=1e-6, rtol=1e-5)


def test_soft_decay_on_a_pair():
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 5.0, 10.0, 15.0]])  # IoU = 50 / 150 = 1/3
    s = torch.tensor([0.9, 0.8])
    c = torch.zeros(2, dtype=torch.long)
    k, ns = soft_nms(b, s, c, sigma=0.5)
    assert k.tolist() == [0, 1]
    torch.testing.assert_close(ns, torch.tensor([0.9, 0.8 * math.exp(-(1 / 3) ** 2 / 0.5)]))
    k, ns = soft_nms(b, s, c, iou_threshold=0.3, method="linear")
    torch.testing.assert_close(ns, torch.tensor([0.9, 0.8 * (1 - 1 / 3)]))
    k, ns = soft_nms(b, s, c, iou_threshold=0.4, method="linear")  # IoU below threshold: unchanged
    torch.testing.assert_close(ns, torch.tensor([0.9, 0.8]))


def test_adaptive_soft_equals_reference_and_reduces_to_linear_without_density():
    b, s, c, _ = crowd_boxes(n=80, seed=5)
    d = torch.rand(len(s), generator=torch.Generator().manual_seed(1))
    k, ns = soft_nms(b, s, c, iou_threshold=0.3, score_threshold=0.05, method="linear", densities=d)
    rk, rs = ref_soft(b, s, c, 0.5, 0.3, 0.05, "linear", densities=d)
    assert k.tolist() == rk
    torch.testing.assert_close(ns, torch.tensor(rs), atol=1e-6, rtol=1e-5)
    assert k.tolist() != ref_soft(b, s, c, 0.5, 0.3, 0.05, "linear")[0]  # the densities mattered
    k0, ns0 = soft_nms(b, s, c, iou_threshold=0.3, score_threshold=0.05, method="linear", densities=torch.zeros_like(s))
    k1, ns1 = soft_nms(b, s, c, iou_threshold=0.3, score_threshold=0.05, method="linear")
    assert k0.tolist() == k1.tolist() and torch.equal(ns0, ns1)
    with pytest.raises(ValueError, match="linear"):
        soft_nms(b, s, c, densities=d)


def test_adaptive_soft_pair_decays_only_above_the_kept_boxs_density():
    b = torch.tensor([[0.0, 0.0, 10.0, 10.0], [0.0, 5.0, 10.0, 15.0]])  # IoU = 1/3
    s, c = torch.tensor([0.9, 0.8]), torch.zeros(2, dtype=torch.long)
    _, ns = soft_nms(b, s, c, iou_threshold=0.3, method="linear", densities=torch.tensor([0.4, 0.0]))
    torch.testing.assert_close(ns, torch.tensor([0.9, 0.8]))  # N_M = 0.4 > 1/3: no decay
    _, ns = soft_nms(b, s, c, iou_threshold=0.3, method="linear", densities=torch.tensor([0.0, 0.4]))
    torch.testing.assert_close(ns, torch.tensor([0.9, 0.8 * (1 - 1 / 3)]))  # the kept box's density counts


ALL = {
    "greedy": lambda b, s, c: greedy_nms(b, s, c, 0.5),
    "adaptive": lambda b, s, c: adaptive_nms(b, s, c, 0.5, torch.full_like(s, 0.2)),
    "diou": lambda b, s, c: diou_nms(b, s, c, 0.5),
    "soft": lambda b, s, c: soft_nms(b, s, c)[0],
    "adaptive_soft": lambda b, s, c: soft_nms(b, s, c, method="linear", densities=torch.full_like(s, 0.2))[0],
}


@pytest.mark.parametrize("name", sorted(ALL))
def test_edge_cases(name):
    fn = ALL[name]
    e = torch.empty(0, 4)
    assert fn(e, torch.empty(0), torch.empty(0, dtype=torch.long)).tolist() == []
    one = torch.tensor([[1.0, 2.0, 3.0, 4.0]])
    assert fn(one, torch.tensor([0.5]), torch.zeros(1, dtype=torch.long)).tolist() == [0]
    same = one.repeat(5, 1)
    k = fn(same, torch.tensor([0.1, 0.5, 0.3, 0.9, 0.2]), torch.zeros(5, dtype=torch.long)).tolist()
    assert k[0] == 3 and ("soft" in name or k == [3])
    neg = torch.tensor([[-10.0, -10.0, -2.0, -2.0], [-9.0, -9.0, -2.0, -2.0], [5.0, 5.0, 9.0, 9.0]])
    k = fn(neg, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long)).tolist()
    assert k[0] == 0 and 2 in k and ("soft" in name or 1 not in k)
    zero = torch.tensor([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0], [0.0, 0.0, 4.0, 4.0]])
    k = fn(zero, torch.tensor([0.9, 0.8, 0.7]), torch.zeros(3, dtype=torch.long)).tolist()
    assert sorted(k) == [0, 1, 2]  # zero-area boxes overlap nothing (0/0 is not > threshold)


@pytest.mark.parametrize("name", ["greedy", "adaptive", "diou"])
def test_ties_match_reference_order(name):
    b = torch.tensor([[0.0, 0, 10, 10], [1.0, 0, 11, 10], [50.0, 50, 60, 60], [51.0, 50, 61, 60]])
    s = torch.tensor([0.5, 0.5, 0.5, 0.5])
    c = torch.zeros(4, dtype=torch.long)
    k = ALL[name](b, s, c).tolist()
    overlap = ref_diou(b, 1.0) if name == "diou" else None  # adaptive at density 0.2 < 0.5: greedy's threshold
    ref = ref_sequential(b, s, c, lambda i: 0.5, overlap)
    assert ref == [0, 2]  # equal scores: the earlier box (anchor order) is kept, as the reference orders them
    assert k == ref


def test_entry_point_shapes_max_det_and_density():
    torch.manual_seed(0)
    B, N, nc = 2, 500, 4
    xy = torch.rand(B, N, 2) * 200
    wh = torch.rand(B, N, 2) * 40 + 5
    preds = torch.cat([xy, xy + wh, torch.rand(B, N, nc), torch.rand(B, N, 1)], 2)
    for method in ("greedy", "adaptive", "soft", "soft_linear", "adaptive_soft", "diou"):
        out = non_max_suppression(preds, conf_thres=0.1, iou_thres=0.5, method=method, max_det=7)
        assert len(out) == 2
        for o in out:
            assert o.shape == (7, 7)
            assert torch.all(o[:-1, 4] >= o[1:, 4])
            assert o[:, 5].min() >= 0 and o[:, 5].max() < nc
    o = non_max_suppression(preds[..., :-1], 0.1, 0.5, has_density=False)[0]
    assert o.shape[1] == 7 and (o[:, 6] == 0).all()  # one contract: a zero density column
    o = non_max_suppression(preds, 0.1, 0.5, classes=[2])[0]
    assert (o[:, 5] == 2).all()
    o = non_max_suppression(preds, 0.1, 0.5, multi_label=True, max_det=10000)[0]
    o1 = non_max_suppression(preds, 0.1, 0.5, max_det=10000)[0]
    assert len(o) > len(o1)
    with pytest.raises(ValueError, match="NMS method"):
        non_max_suppression(preds, method="fast")


def test_entry_point_adaptive_uses_density_column():
    """Two same-class boxes with IoU 0.6: greedy at 0.5 keeps one; adaptive keeps both when the
    top box predicts density 0.7, and one when it predicts 0.1."""
    b = torch.tensor([[0.0, 0, 100, 100], [0.0, 25, 100, 125]])  # IoU = 75/125 = 0.6
    for d, expect in [(0.7, 2), (0.1, 1)]:
        p = torch.cat([b, torch.tensor([[0.9], [0.8]]), torch.tensor([[d], [d]])], 1)[None]
        assert len(non_max_suppression(p, 0.25, 0.5, method="adaptive")[0]) == expect
        assert len(non_max_suppression(p, 0.25, 0.5, method="greedy")[0]) == 1


def test_entry_point_refuses_raw_outputs():
    raw = [torch.randn(1, 4 * 16 + 3 + 1, 8, 8)]
    with pytest.raises(TypeError, match="decode_outputs"):
        non_max_suppression(raw)


def test_soft_nms_honours_conf_thres_after_decay():
    """Three same-class boxes overlapping heavily, all above 0.5 before decay: Soft-NMS lowers the
    two lower ones below 0.5, so none of them may come out at conf_thres 0.5."""
    b = torch.tensor([[0.0, 0, 100, 100], [2.0, 2, 102, 102], [4.0, 4, 104, 104]])
    p = torch.cat([b, torch.tensor([[0.9], [0.85], [0.8]]), torch.zeros(3, 1)], 1)[None]
    out = non_max_suppression(p, conf_thres=0.5, iou_thres=0.5, method="soft")[0]
    assert len(out) >= 1 and (out[:, 4] > 0.5).all()
    low = non_max_suppression(p, conf_thres=0.001, iou_thres=0.5, method="soft")[0]
    assert len(low) == 3 and (low[1:, 4] < 0.5).all()  # the decay is real: at 0.001 they stay, decayed


def test_registering_a_method_makes_it_usable_everywhere():
    from detector.ops.nms import NMS_REGISTRY, nms_methods, register_nms

    @register_nms("keep_all_test")
    def keep_all(boxes, scores, idxs, densities, iou_thres, conf_thres, **_):
        return torch.argsort(scores, descending=True), None

    try:
        assert "keep_all_test" in nms_methods()
        b = torch.tensor([[0.0, 0, 100, 100], [1.0, 1, 101, 101]])
        p = torch.cat([b, torch.tensor([[0.9], [0.8]]), torch.zeros(2, 1)], 1)[None]
        assert len(non_max_suppression(p, 0.25, 0.5, method="keep_all_test")[0]) == 2
        assert len(non_max_suppression(p, 0.25, 0.5, method="greedy")[0]) == 1
        import yaml

        from detector.config import load_model_config
        from tests.conftest import CFG_DIR
        d = yaml.safe_load((CFG_DIR / "yolo_base.yaml").read_text())
        assert load_model_config({**d, "nms": "keep_all_test"}, scale="n").nms == "keep_all_test"
    finally:
        NMS_REGISTRY.pop("keep_all_test", None)
    with pytest.raises(ValueError, match="already registered"):
        register_nms("greedy")(keep_all)


def test_soft_max_picks_keeps_each_groups_first_picks():
    """Decay only lowers scores, so a group's picks come best first: stopping a group after k
    picks gives exactly its first k picks of the full run, with the same scores."""
    b, s, c, d = crowd_boxes(n=200, seed=6)
    for dens in (None, d):
        full_k, full_s = soft_nms(b, s, c, iou_threshold=0.3, score_threshold=0.01, method="linear", densities=dens)
        k, ns = soft_nms(b, s, c, iou_threshold=0.3, score_threshold=0.01, method="linear", densities=dens,
                         max_picks=5)
        assert len(k) == 5 * len(c.unique())
        assert torch.all(ns[:-1] >= ns[1:])
        for cls in c.unique():
            mine, theirs = c[k] == cls, c[full_k] == cls
            assert k[mine].tolist() == full_k[theirs][:5].tolist()
            torch.testing.assert_close(ns[mine], full_s[theirs][:5])
    assert soft_nms(b, s, c, max_picks=0)[0].tolist() == []


def batch_preds(B=3, N=300, nc=3, seed=0):
    """Decoded predictions [B, N, 4 + nc + 1] with crowds: the same clusters in every image."""
    out = []
    for n in range(B):
        boxes, _, _, dens = crowd_boxes(n=N, seed=seed + n, spread=120.0)
        cls = torch.rand(N, nc, generator=torch.Generator().manual_seed(seed + 10 + n))
        out.append(torch.cat([boxes, cls, dens[:, None]], 1))
    return torch.stack(out)


@pytest.mark.parametrize("method", ["greedy", "adaptive", "soft", "soft_linear", "adaptive_soft", "diou"])
def test_entry_point_runs_a_batch_in_one_call_as_image_by_image(method):
    """Images of a batch share one call of the method (groups image x class), and come out as each
    image alone would: overlapping boxes of different images never suppress each other."""
    from detector.ops.nms import NMS_REGISTRY
    preds = batch_preds()
    calls = []
    fn = NMS_REGISTRY[method]
    NMS_REGISTRY[method] = lambda *a, **k: calls.append(len(a[0])) or fn(*a, **k)
    try:
        for agnostic in (False, True):
            calls.clear()
            out = non_max_suppression(preds, 0.05, 0.5, method=method, max_det=40, agnostic=agnostic)
            assert len(calls) == 1 and calls[0] == int((preds[..., 4:7].max(-1).values > 0.05).sum())
            for n in range(len(preds)):
                alone = non_max_suppression(preds[n:n + 1], 0.05, 0.5, method=method, max_det=40, agnostic=agnostic)
                assert torch.equal(out[n], alone[0])
            assert all(len(o) == 40 for o in out)
    finally:
        NMS_REGISTRY[method] = fn


def test_entry_point_orders_equal_scores_by_anchor():
    xy = torch.arange(6.0)[:, None] * 20
    b = torch.cat([xy, xy, xy + 10, xy + 10], 1)  # disjoint boxes along the diagonal
    p = torch.cat([b, torch.full((6, 1), 0.5), torch.zeros(6, 1)], 1)
    p[[1, 4], 4] = 0.7
    for method in ("greedy", "adaptive", "soft_linear", "diou"):
        o = non_max_suppression(p[None], 0.25, 0.5, method=method)[0]
        assert o[:, 0].tolist() == [20.0, 80.0, 0.0, 40.0, 60.0, 100.0]


def test_greedy_keeps_many_groups_apart_exactly():
    """500 groups of two tiny boxes near IoU 0.75: torchvision's coordinate trick shifts group k by
    k x (max + 1) px, where float32 rounds the boxes and flips decisions; each group must be
    suppressed exactly as alone. A negative coordinate must not let groups reach each other."""
    g = torch.Generator().manual_seed(0)
    n = 500
    base = torch.rand(n, 2, generator=g) * 1000
    wh = 1 + torch.rand(n, 2, generator=g) * 2
    a = torch.cat([base, base + wh], 1)
    b = a.clone()
    b[:, [0, 2]] += torch.rand(n, 1, generator=g) * 0.3 * wh[:, :1]
    boxes, scores = torch.cat([a, b]), torch.cat([torch.full((n,), 0.9), torch.full((n,), 0.8)])
    idxs = torch.arange(n).repeat(2)
    iou = box_iou(a, b).diag()
    expect = set(range(n)) | {n + k for k in range(n) if not iou[k] > 0.75}
    assert set(greedy_nms(boxes, scores, idxs, 0.75).tolist()) == expect
    # group 0 at the far corner, group 1 at negative coordinates: apart, both kept
    far = torch.tensor([[990.0, 990.0, 1000.0, 1000.0], [-10.0, -10.0, 1.0, 1.0]])
    assert sorted(greedy_nms(far, torch.tensor([0.9, 0.8]), torch.tensor([0, 1]), 0.5).tolist()) == [0, 1]
