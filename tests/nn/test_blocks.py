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
    "C3k2": ((8,), [16, True, 0.5], [(16, 20)]),
    "C2PSA": ((64,), [64], [(5, 7)]),
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
    _check_contract(name, *EXAMPLES[name], n)


def _check_contract(name, c_in, args, sizes, n):
    cls = MODULES.get(name)
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


# further forms of some blocks: name -> list of (input channels, YAML args, sizes)
VARIANTS = [
    ("C3k2", (8,), [16, False, 0.25], [(16, 20)]),  # YOLO11's early blocks
    ("C3k2", (16,), [16, True, 0.5, True], [(6, 7)]),  # YOLO26's last: bottleneck + PSABlock
    ("C3k2", (8,), [16, ["m", "l"]], [(16, 20)]),  # C3k only at some scales
    ("SPPF", (16,), [16, 5, 3, True, False], [(9, 11)]),  # YOLO26's: residual, no activation after cv1
    ("Detect", (8, 16, 32), [3, 16, "shared", "dw"], [(16, 20), (8, 10), (4, 5)]),  # YOLO11's class branch
    ("Detect", (8, 16, 32), [3, 1, "shared", "dw", True], [(16, 20), (8, 10), (4, 5)]),  # YOLO26's head
]


@pytest.mark.parametrize("name,c_in,args,sizes", VARIANTS)
def test_block_variants_keep_the_contract(name, c_in, args, sizes):
    _check_contract(name, c_in, args, sizes, 2)


def test_c3k2_inner_blocks_follow_the_flags_and_the_scale():
    get = MODULES.get("C3k2").from_yaml
    kinds = lambda m: [type(b).__name__ for b in m.m]  # noqa: E731
    assert kinds(get(LayerContext((8,), n=2), 16)[0]) == ["Bottleneck", "Bottleneck"]
    assert kinds(get(LayerContext((8,), n=1), 16, True)[0]) == ["C3k"]
    assert kinds(get(LayerContext((8,), n=1, scale="m"), 16, ["m", "l", "x"])[0]) == ["C3k"]
    assert kinds(get(LayerContext((8,), n=1, scale="n"), 16, ["m", "l", "x"])[0]) == ["Bottleneck"]
    attn = get(LayerContext((16,), n=1), 16, True, 0.5, True)[0]
    assert [type(b).__name__ for b in attn.m[0]] == ["Bottleneck", "PSABlock"]
    with pytest.raises(ValueError, match="c3k must be"):
        get(LayerContext((8,), n=1), 16, "yes")


def test_detect_end2end_layout_and_decode():
    from detector.nn.heads import Detect
    head = Detect(3, [8, 16], reg_max=1, cls_branch="dw", end2end=True).eval()
    head.stride = torch.tensor([8.0, 16.0])
    assert head.raw_layout == {"box": 4, "cls": 3, "density": 1, "box_o2o": 4, "cls_o2o": 3}
    raw = head([torch.randn(1, 8, 4, 4), torch.randn(1, 16, 2, 2)])
    assert raw[0].shape == (1, 15, 4, 4)
    dec = head.decode(raw)
    assert dec.shape == (1, 20, 4 + 3 + 1 + 4 + 3) and list(head.decoded_layout) == [
        "xyxy", "cls", "density", "xyxy_o2o", "cls_o2o"]
    # reg_max 1: the box channels are the distances (grid units): cell (0, 0) of level 0 at (4, 4) px
    d = raw[0][0, 8:12, 0, 0]
    assert torch.allclose(dec[0, 0, 8:12], torch.stack([0.5 - d[0], 0.5 - d[1], 0.5 + d[2], 0.5 + d[3]]) * 8, atol=1e-5)


def test_c2f_uses_repeats():
    m, _ = MODULES.get("C2f").from_yaml(LayerContext((8,), n=3), 16)
    assert len(m.m) == 3


def test_width_scaling_and_cap():
    ctx = LayerContext((8,), width=0.25, max_channels=512)
    assert ctx.ch(256) == 64 and ctx.ch(1024) == 128 and ctx.ch(20) == 8
    with pytest.raises(ValueError):
        ctx.ch(-3)
