import pytest
import torch

from detector.nn.base import LayerContext
from detector.nn.bifpn import BiFPN, WeightedFusion


def pyramid(chs=(16, 32, 64), size=32, b=2):
    return [torch.randn(b, c, size // 2**i, size // 2**i) for i, c in enumerate(chs)]


def test_fast_fusion_weights_normalized_and_nonnegative():
    f = WeightedFusion(3, "fast")
    with torch.no_grad():
        f.weight.copy_(torch.tensor([2.0, -1.0, 0.5]))
    w = f.normalized_weights()
    assert (w >= 0).all()
    assert w[1] == 0  # negative raw weight is clipped by relu
    torch.testing.assert_close(w.sum(), torch.tensor(1.0), atol=1e-3, rtol=0)
    torch.testing.assert_close(w, torch.tensor([2.0, 0.0, 0.5]) / (2.5 + 1e-4))
    xs = [torch.full((1, 1, 2, 2), v) for v in (1.0, 10.0, 3.0)]
    torch.testing.assert_close(f(xs), torch.full((1, 1, 2, 2), (2 * 1 + 0.5 * 3) / (2.5 + 1e-4)))


def test_attn_fusion_is_softmax():
    f = WeightedFusion(2, "attn")
    with torch.no_grad():
        f.weight.copy_(torch.tensor([0.0, 1.0]))
    torch.testing.assert_close(f.normalized_weights(), torch.tensor([0.0, 1.0]).softmax(0))


def test_sum_fusion_is_plain_sum():
    f = WeightedFusion(3, "sum")
    assert list(f.parameters()) == []
    xs = [torch.randn(2, 4, 3, 3) for _ in range(3)]
    torch.testing.assert_close(f(xs), xs[0] + xs[1] + xs[2])


def test_bad_fusion_mode():
    with pytest.raises(ValueError, match="fusion must be one of"):
        WeightedFusion(2, "max")


@pytest.mark.parametrize("fusion", ["fast", "attn", "sum"])
@pytest.mark.parametrize("separable", [True, False])
def test_every_output_depends_on_every_input(fusion, separable):
    """Top-down carries P5 into P3, bottom-up carries P3 into P5: each output sees each input."""
    m = BiFPN([16, 32, 64], width=24, repeats=1, fusion=fusion, separable=separable).eval()
    xs = pyramid()
    base = m(xs)
    assert [o.shape[1] for o in base] == [24, 24, 24]
    assert [o.shape[-1] for o in base] == [32, 16, 8]
    for i in range(3):
        xs2 = [x.clone() for x in xs]
        xs2[i] = xs2[i] + torch.randn_like(xs2[i])
        out = m(xs2)
        for lvl in range(3):
            assert not torch.allclose(out[lvl], base[lvl]), f"output P{lvl + 3} ignores input P{i + 3}"


def test_extra_levels_and_repeats():
    m, c_out = BiFPN.from_yaml(LayerContext((16, 32, 64), n=2), 40, "fast", True, 2)
    assert c_out == [40] * 5 and len(m.layers) == 2
    out = m(pyramid(size=64))
    assert [o.shape[-1] for o in out] == [64, 32, 16, 8, 4]


def test_odd_sizes():
    m = BiFPN([8, 8, 8], width=8)
    xs = [torch.randn(1, 8, 13, 20), torch.randn(1, 8, 7, 10), torch.randn(1, 8, 4, 5)]
    assert [o.shape[-2:] for o in m(xs)] == [x.shape[-2:] for x in xs]


def test_fusion_weights_get_gradients():
    m = BiFPN([16, 32, 64], width=16)
    sum(o.mean() for o in m(pyramid())).backward()
    ws = [mod.weight for mod in m.modules() if isinstance(mod, WeightedFusion)]
    assert len(ws) == 4  # 2 top-down + 2 bottom-up nodes for 3 levels
    assert all(w.grad is not None and w.grad.abs().sum() > 0 for w in ws)


def test_per_level_widths():
    """One width per level: outputs at those widths, every output still sees every input, 1x1 aligns only on
    edges between different widths; extra levels take the last width; a uniform list is the uniform BiFPN."""
    m, c_out = BiFPN.from_yaml(LayerContext((16, 32, 64), n=2, width=0.5), [32, 64, 128], "fast", True, 1)
    assert c_out == [16, 32, 64, 64] and m.widths == c_out
    xs = pyramid(size=64)
    base = m.eval()(xs)
    assert [o.shape[1] for o in base] == c_out and [o.shape[-1] for o in base] == [64, 32, 16, 8]
    for i in range(3):
        xs2 = [x.clone() for x in xs]
        xs2[i] = xs2[i] + torch.randn_like(xs2[i])
        assert all(not torch.allclose(o, b) for o, b in zip(m(xs2), base)), f"an output ignores input P{i + 3}"
    layer = m.layers[0]  # levels 16, 32, 64, 64: the P5 -> P6 edges need no conv
    assert [type(a).__name__ for a in layer.up_align] == ["Identity", "Conv", "Conv"]
    assert [type(a).__name__ for a in layer.down_align] == ["Conv", "Conv", "Identity"]
    # one width as a list: the same modules, so the same state-dict keys as the uniform BiFPN
    torch.manual_seed(0)
    a = BiFPN([16, 32, 64], width=[24, 24, 24])
    torch.manual_seed(0)
    b = BiFPN([16, 32, 64], width=24)
    assert list(a.state_dict()) == list(b.state_dict()) and a.layers[0].up_align is None
    xs = pyramid()
    for o, p in zip(a.eval()(xs), b.eval()(xs)):
        torch.testing.assert_close(o, p, rtol=0, atol=0)
    with pytest.raises(ValueError, match="2 per-level widths for 3 input levels"):
        BiFPN.from_yaml(LayerContext((16, 32, 64)), [32, 64])
