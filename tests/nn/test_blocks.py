"""Generic contract test, parametrized over *every* registered block: builds from YAML args,
declared output channels equal the real ones, forward shape and backward work."""
import pytest
import torch

from detector.nn.base import LayerContext
from detector.registry import MODULES

# name -> (input channels, YAML args, spatial sizes of the inputs (H, W) finest first)
EXAMPLES = {
    "Conv": ((8,), [16, 3, 2], [(16, 20)]),
    "SeparableConv": ((8,), [16, 3, 1], [(16, 20)]),
    "C2f": ((8,), [16, True], [(16, 20)]),
    "SPPF": ((16,), [16, 5], [(9, 11)]),
    "Concat": ((8, 4), [], [(8, 10), (8, 10)]),
    "Upsample": ((8,), [2], [(5, 7)]),
    "Identity": ((8,), [], [(5, 7)]),
    "CoordAtt": ((16,), [], [(9, 13)]),
    "SE": ((16,), [], [(9, 13)]),
    "CBAM": ((16,), [], [(9, 13)]),
    "ECA": ((16,), [], [(9, 13)]),
    "SimAM": ((16,), [], [(9, 13)]),
    "BiFPN": ((8, 16, 32), [16], [(16, 20), (8, 10), (4, 5)]),
    "PAN": ((8, 16, 32), [16], [(16, 20), (8, 10), (4, 5)]),
    "Detect": ((8, 16, 32), [3], [(16, 20), (8, 10), (4, 5)]),
}


def test_every_registered_block_has_an_example():
    missing = sorted(set(MODULES) - set(EXAMPLES))
    assert not missing, f"add a contract example for {missing} to tests/nn/test_blocks.py"


@pytest.mark.parametrize("name", sorted(EXAMPLES))
@pytest.mark.parametrize("n", [1, 2])
def test_block_contract(name, n):
    cls = MODULES.get(name)
    c_in, args, sizes = EXAMPLES[name]
    ctx = LayerContext(c_in, n=n if getattr(cls, "consumes_repeats", False) else 1)
    module, c_out = cls.from_yaml(ctx, *args)
    xs = [torch.randn(2, c, h, w, requires_grad=True) for c, (h, w) in zip(c_in, sizes)]
    out = module(xs[0] if len(xs) == 1 else xs)
    outs = out if isinstance(out, list) else [out]
    declared = c_out if isinstance(c_out, list) else [c_out]
    assert [o.shape[1] for o in outs] == declared, f"{name} declares {declared} channels"
    assert all(o.shape[0] == 2 for o in outs)
    sum(o.float().square().mean() for o in outs).backward()
    for x in xs:
        assert x.grad is not None and torch.isfinite(x.grad).all()
    for pn, p in module.named_parameters():
        assert p.grad is not None, f"{name}.{pn} gets no gradient"


def test_c2f_uses_repeats():
    m, _ = MODULES.get("C2f").from_yaml(LayerContext((8,), n=3), 16)
    assert len(m.m) == 3


def test_width_scaling_and_cap():
    ctx = LayerContext((8,), width=0.25, max_channels=512)
    assert ctx.ch(256) == 64 and ctx.ch(1024) == 128 and ctx.ch(20) == 8
    with pytest.raises(ValueError):
        ctx.ch(-3)
