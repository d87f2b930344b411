import pytest
import torch

from detector.models import build_model
from detector.nn.bifpn import BiFPN
from detector.nn.fusion import SpatialFusion, WeightedFusion, make_fusion


def inputs(n=3, c=8, h=6, w=5, b=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(b, c, h, w, generator=g) for _ in range(n)]


def test_make_fusion_picks_the_module():
    assert isinstance(make_fusion(2, 8, "fast"), WeightedFusion)
    assert isinstance(make_fusion(2, 8, "spatial"), SpatialFusion)
    assert make_fusion(2, 8, "spatial_gate").gate is not None
    assert make_fusion(2, 8, "spatial").gate is None
    with pytest.raises(ValueError, match="fusion must be one of"):
        make_fusion(2, 8, "asff")


def test_fresh_spatial_fusion_is_the_mean_of_its_inputs():
    f = SpatialFusion(3, 8).eval()
    xs = inputs()
    torch.testing.assert_close(f(xs), sum(xs) / 3)
    torch.testing.assert_close(f.normalized_weights(), torch.full((3,), 1 / 3))


def test_spatial_weights_vary_by_location_and_sum_to_one():
    f = SpatialFusion(3, 8).eval()
    torch.nn.init.normal_(f.logits.weight, std=1.0)
    xs = inputs()
    out = f(xs)
    w = f.last_map
    assert w.shape == (2, 3, 6, 5)
    torch.testing.assert_close(w.sum(1), torch.ones(2, 6, 5))
    assert w[:, 0].std() > 1e-3  # not one scalar per input
    torch.testing.assert_close(out, sum(x * w[:, i:i + 1] for i, x in enumerate(xs)))
    torch.testing.assert_close(f.normalized_weights(), w.mean(dim=(0, 2, 3)))


def test_gate_scales_each_location():
    f = SpatialFusion(2, 8, gate=True).eval()
    xs = inputs(2)
    torch.nn.init.zeros_(f.gate.weight)
    torch.testing.assert_close(f(xs), (xs[0] + xs[1]) / 2 * 0.5)  # sigmoid(0) = 0.5 everywhere
    torch.nn.init.normal_(f.gate.weight)
    fused = (xs[0] + xs[1]) / 2
    ratio = f(xs) / fused
    assert ((ratio > 0) & (ratio < 1)).all() and ratio.std() > 1e-3


def test_spatial_fusion_trains_its_weight_logits():
    f = SpatialFusion(3, 8)
    f(inputs()).pow(2).mean().backward()
    assert f.logits.weight.grad.abs().sum() > 0 and f.logits.bias.grad is not None


@pytest.mark.parametrize("fusion", ["spatial", "spatial_gate"])
def test_bifpn_spatial_every_output_depends_on_every_input(fusion):
    m = BiFPN([16, 32, 64], width=16, fusion=fusion).eval()
    for mod in m.modules():
        if isinstance(mod, SpatialFusion):
            torch.nn.init.normal_(mod.logits.weight, std=0.5)
    xs = [torch.randn(1, c, 32 // 2**i, 32 // 2**i) for i, c in enumerate((16, 32, 64))]
    base = m(xs)
    for i in range(3):
        xs2 = [x.clone() for x in xs]
        xs2[i] = xs2[i] + torch.randn_like(xs2[i])
        out = m(xs2)
        assert all(not torch.allclose(o, b) for o, b in zip(out, base))


def test_model_fusion_weights_and_maps():
    m = build_model("cfg/experiments/yolo_ca_bifpn_spatial.yaml", nc=3).eval()
    fast = build_model("cfg/yolo_ca_bifpn.yaml", nc=3)
    fw = m.fusion_weights()
    assert set(fw) == set(fast.fusion_weights()) and len(fw) >= 4
    assert all(torch.allclose(w.sum(), torch.tensor(1.0)) for w in fw.values())
    with torch.no_grad():
        m(torch.rand(1, 3, 64, 96))
    maps = m.fusion_maps()
    assert set(maps) == set(fw)
    shapes = {tuple(v.shape[-2:]) for v in maps.values()}
    assert shapes == {(8, 12), (4, 6), (2, 3)}  # P3..P5 of a 64x96 input
    assert fast.fusion_maps() == {}


def test_spatial_model_exports_to_onnx(tmp_path):
    onnx = pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    from detector.models.inference import DecodedModel

    m = build_model("cfg/experiments/yolo_ca_bifpn_spatial_gate.yaml", nc=2).eval()
    for mod in m.modules():
        if isinstance(mod, SpatialFusion):
            torch.nn.init.normal_(mod.logits.weight, std=0.5)
    d = DecodedModel(m).eval()
    x = torch.rand(1, 3, 64, 64)
    path = tmp_path / "s.onnx"
    torch.onnx.export(d, x, str(path), input_names=["images"], output_names=["out"], opset_version=17, dynamo=False)
    onnx.checker.check_model(str(path))
    got = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"images": x.numpy()})[0]
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), d(x), atol=1e-4, rtol=1e-4)
