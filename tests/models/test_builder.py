"""Every shipped cfg builds at every scale and trains (forward + backward) at odd sizes."""
import pytest
import torch
import yaml

from detector import build_model, load_model_config
from detector.models.summary import count_flops, count_params, model_summary
from detector.nn.bifpn import WeightedFusion

from ..conftest import CFG_DIR

CFGS = sorted(p.name for p in CFG_DIR.glob("yolo_*.yaml"))


def test_cfgs_present():
    assert {"yolo_ca_bifpn.yaml", "yolo_base.yaml", "yolo_ca.yaml", "yolo_bifpn.yaml", "yolo_se_bifpn.yaml",
            "yolo_cbam_bifpn.yaml", "yolo_eca_bifpn.yaml", "yolo_simam_bifpn.yaml"} <= set(CFGS)


@pytest.mark.parametrize("scale", ["n", "s", "m", "l"])
@pytest.mark.parametrize("cfg", CFGS)
def test_cfg_builds_and_trains(cfg, scale):
    model = build_model(CFG_DIR / cfg, scale=scale, nc=3)
    assert model.cfg.scale == scale
    model.train()
    for h, w in [(64, 64), (96, 160)]:
        x = torch.randn(2, 3, h, w)
        out = model(x)
        assert len(out) == 3
        for o, s in zip(out, [8, 16, 32]):
            assert o.shape == (2, 4 * 16 + 3 + 1, -(-h // s), -(-w // s))
        sum(o.square().mean() for o in out).backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    model.zero_grad(set_to_none=True)


@pytest.mark.parametrize("cfg,ultralytics_params,extra", [
    # Ultralytics' own counts (their yolo11.yaml / yolo26.yaml), less YOLO11's fixed 16-weight DFL projection,
    # plus our density branch (a 1x1 conv from the box stem, 64 and 16 channels wide at n)
    ("yolo11_base.yaml", 2_624_080, -16 + 3 * 65),
    ("yolo26_base.yaml", 2_572_280, 3 * 17),
])
def test_yolo11_and_yolo26_graphs_match_ultralytics_sizes_and_train(cfg, ultralytics_params, extra):
    model = build_model(CFG_DIR / cfg, scale="n")
    assert count_params(model) == ultralytics_params + extra
    small = build_model(CFG_DIR / cfg, scale="s", nc=3).train()
    out = small(torch.randn(2, 3, 64, 96))
    head = small.layers[-1]
    assert [o.shape[1] for o in out] == [sum(head.raw_layout.values())] * 3
    total, terms = head.build_loss()(out, torch.tensor([[0, 1, 4.0, 4.0, 40.0, 30.0]]))
    total.backward()
    assert torch.isfinite(total) and ("box_o2o" in terms) == (cfg == "yolo26_base.yaml")


def test_ablation_cfgs_differ_only_in_names():
    """The ablation files have the same structure: same from/repeats/args, only module names change."""
    ref = yaml.safe_load((CFG_DIR / "yolo_ca_bifpn.yaml").read_text())
    for cfg in CFGS:
        d = yaml.safe_load((CFG_DIR / cfg).read_text())
        assert set(d) == set(ref)
        for sec in ("backbone", "head"):
            assert [(r[0], r[1], r[3]) for r in d[sec]] == [(r[0], r[1], r[3]) for r in ref[sec]], cfg


def test_scale_by_file_suffix_and_key():
    assert load_model_config(CFG_DIR / "yolo_ca_bifpn-s.yaml").scale == "s"
    assert load_model_config(CFG_DIR / "yolo_ca_bifpn.yaml").scale == "n"  # the file's scale: key
    assert load_model_config(CFG_DIR / "yolo_ca_bifpn-s.yaml", scale="m").scale == "m"  # argument wins
    n = count_params(build_model(CFG_DIR / "yolo_ca_bifpn.yaml"))
    s = count_params(build_model(CFG_DIR / "yolo_ca_bifpn-s.yaml"))
    assert s > 2 * n


def test_budget_n_and_s():
    """Issue targets: n <= 3.5 M params and <= 9 GFLOPs at 640; s <= 12 M."""
    n = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", scale="n")
    assert count_params(n) <= 3.5e6
    assert count_flops(n, 640) <= 9.0
    assert count_params(build_model(CFG_DIR / "yolo_ca_bifpn.yaml", scale="s")) <= 12e6


def test_flops_counted_not_zero_and_scale_with_area():
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=80)
    f320, f640 = count_flops(m, 320), count_flops(m, 640)
    assert 3.5 < f640 / f320 < 4.5


def test_fuse_keeps_outputs():
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=5)
    m.train()
    for _ in range(2):
        m(torch.rand(2, 3, 64, 64))  # non-trivial BN running stats
    m.eval()
    x = torch.rand(1, 3, 96, 128)
    with torch.no_grad():
        ref = m(x)
        n_bn = sum(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
        m.fuse()
        out = m(x)
    assert n_bn > 0 and not any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())
    for a, b in zip(ref, out):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("cfg", ["yolo_ca_bifpn.yaml", "yolo_base.yaml"])  # BiFPN: one list input; PAN: three layers
def test_head_inputs_are_what_the_head_reads_without_running_it(cfg):
    m = build_model(CFG_DIR / cfg, nc=3).eval()
    seen, calls = [], []
    m.head.register_forward_pre_hook(lambda mod, args: seen.append(list(args[0])))
    m.head.register_forward_hook(lambda mod, args, out: calls.append(1))
    x = torch.rand(2, 3, 96, 64)
    with torch.no_grad():
        m(x)
        feats = m.head_inputs(x)
    assert len(calls) == 1 and len(seen) == 1  # head_inputs ran the layers before the head only
    assert [f.shape[1] for f in feats] == [f.shape[1] for f in seen[0]] and len(feats) == 3
    for a, b in zip(feats, seen[0]):
        torch.testing.assert_close(a, b)


def test_fusion_weights_and_no_decay():
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=5)
    fw = m.fusion_weights()
    assert len(fw) == 4 and all((w >= 0).all() and abs(float(w.sum()) - 1) < 1e-3 for w in fw.values())
    nd = m.no_weight_decay_parameters()
    fusion_params = {f"{n}.weight" for n, mod in m.named_modules() if isinstance(mod, WeightedFusion)}
    assert fusion_params <= nd
    assert any(n.endswith("bn.weight") for n in nd) and any(n.endswith(".bias") for n in nd)
    assert not any(n.endswith("conv.weight") for n in nd)


def test_summary_table():
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml")
    text = model_summary(m, imgsz=320)
    lines = text.splitlines()
    assert len(lines) == 1 + len(m.layers) + 1
    assert "CoordAtt" in text and "BiFPN" in text and "Detect" in text and "GFLOPs at 320" in text
    assert f"{count_params(m):,} parameters" in lines[-1]


@pytest.mark.parametrize("cfg,widths", [("yolo_ca_bifpn_perlevel.yaml", [64, 128, 256]),
                                        ("yolo11_ca_bifpn_perlevel.yaml", [64, 128, 256])])
def test_per_level_bifpn_experiments_feed_the_head_a_yolo_necks_widths(cfg, widths):
    """The per-level BiFPN experiments give the head the widths the YOLOv8 / YOLO11 head reads at n (so that a
    checkpoint's head fits every level) and train at s."""
    model = build_model(CFG_DIR / "experiments" / cfg, scale="n", nc=3)
    neck = model.layers[-2]
    assert type(neck).__name__ == "BiFPN" and neck.widths == widths
    stems = model.layers[-1].box_stem
    first_convs = [next(c for c in stem.modules() if isinstance(c, torch.nn.Conv2d)) for stem in stems]
    assert [c.in_channels for c in first_convs] == widths
    small = build_model(CFG_DIR / "experiments" / cfg, scale="s", nc=3).train()
    out = small(torch.randn(2, 3, 64, 96))
    sum(o.square().mean() for o in out).backward()
    assert small.layers[-2].widths == [2 * w for w in widths]
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in small.parameters())
