"""Detect head: where the density branch reads from, and what its loss may train."""
import pytest
import torch
import yaml

from detector.models import build_model
from detector.models.builder import ConfigError
from detector.nn.base import LayerContext
from detector.nn.heads import Detect

from ..conftest import CFG_DIR

CH, SIZES = (8, 16, 32), [(16, 20), (8, 10), (4, 5)]


def _head(density: str) -> tuple[Detect, list[torch.Tensor]]:
    torch.manual_seed(0)
    m, _ = Detect.from_yaml(LayerContext(CH), 3, 16, density)
    torch.manual_seed(1)  # the same inputs whatever the mode's weights drew
    xs = [torch.randn(2, c, h, w, requires_grad=True) for c, (h, w) in zip(CH, SIZES)]
    return m, xs


def _density_loss(m: Detect, xs: list[torch.Tensor]) -> torch.Tensor:
    return sum(o[:, -1].sigmoid().mean() for o in m(xs))


def test_shared_density_loss_trains_the_box_branch_and_the_neck():
    m, xs = _head("shared")
    _density_loss(m, xs).backward()
    assert all(x.grad is not None and x.grad.abs().sum() > 0 for x in xs)
    assert m.box_stem[0][0].conv.weight.grad.abs().sum() > 0


def test_own_density_loss_trains_only_its_branch():
    m, xs = _head("own")
    _density_loss(m, xs).backward()
    assert all(x.grad is None or x.grad.abs().sum() == 0 for x in xs), "the density loss must not reach the neck"
    for name, p in m.named_parameters():
        touched = p.grad is not None and p.grad.abs().sum() > 0
        assert touched == name.startswith("density_pred."), name


def test_own_density_leaves_detection_outputs_and_their_gradients_alone():
    """Box and class channels (values and the gradients they send to the neck) do not depend on the mode."""
    outs, shared_state = {}, None
    for mode in ("shared", "own"):
        m, xs = _head(mode)
        if shared_state is None:
            shared_state = {k: v for k, v in m.state_dict().items() if not k.startswith("density_pred.")}
        else:  # same box and class weights in both modes
            m.load_state_dict(shared_state, strict=False)
        o = m(xs)
        sum(t[:, :-1].square().mean() for t in o).backward()
        outs[mode] = ([t[:, :-1].detach() for t in o], [x.grad for x in xs])
    for a, b in zip(outs["shared"][0] + outs["shared"][1], outs["own"][0] + outs["own"][1]):
        torch.testing.assert_close(a, b)


def test_own_density_reads_a_wider_window_than_shared():
    """A change in one cell moves the density of cells up to 3 away (3x3 then 5x5) in 'own' mode."""
    for mode, reach in (("shared", 2), ("own", 3)):
        m, _ = _head(mode)
        m.eval()
        x = torch.zeros(1, CH[0], 16, 16)
        base = m([x, torch.zeros(1, 16, 8, 8), torch.zeros(1, 32, 4, 4)])[0][0, -1]
        x[0, :, 8, 8] = 5.0
        moved = (m([x, torch.zeros(1, 16, 8, 8), torch.zeros(1, 32, 4, 4)])[0][0, -1] - base).abs() > 1e-6
        ys, xs_ = moved.nonzero(as_tuple=True)
        assert int((ys - 8).abs().max()) == reach and int((xs_ - 8).abs().max()) == reach, mode


def test_density_mode_initial_bias_is_zero():
    m, _ = _head("own")
    m.stride = torch.tensor([8.0, 16.0, 32.0])
    m.initialize_biases(64)
    assert all(float(dp[-1].bias.detach().abs().max()) == 0.0 for dp in m.density_pred)


def test_unknown_density_mode_names_the_layer():
    d = yaml.safe_load(open(CFG_DIR / "yolo_base.yaml", encoding="utf-8"))
    d["head"][-1][3] = ["nc", 16, "separate"]
    with pytest.raises(ConfigError) as e:
        build_model(d)
    msg = str(e.value)
    assert "Detect" in msg and "'separate'" in msg and "shared" in msg and "own" in msg


def test_own_density_model_builds_from_yaml_and_runs():
    d = yaml.safe_load(open(CFG_DIR / "yolo_ca_bifpn.yaml", encoding="utf-8"))
    d["head"][-1][3] = ["nc", 16, "own"]
    model = build_model(d).eval()
    out = model(torch.zeros(1, 3, 64, 64))
    assert [o.shape[1] for o in out] == [4 * 16 + 80 + 1] * 3


def test_pred_density_reads_the_detections_around_it_and_trains_only_its_branch():
    """'pred' (the paper's density subnet): its loss reaches only its own branch; its input includes the
    head's box and class outputs, so changing the box branch's weights changes the density (not so in
    'own'); and its reach is 7 cells (the box / class stems' 2, then its own 3x3, 5x5, 5x5)."""
    m, xs = _head("pred")
    _density_loss(m, xs).backward()
    assert all(x.grad is None or x.grad.abs().sum() == 0 for x in xs)
    for name, p in m.named_parameters():
        touched = p.grad is not None and p.grad.abs().sum() > 0
        assert touched == name.startswith("density_pred."), name
    for mode, moved in (("own", False), ("pred", True)):
        m, xs = _head(mode)
        m.eval()
        with torch.no_grad():
            before = m(xs)[0][:, -1]
            m.box_pred[0].bias.add_(torch.linspace(-3, 3, m.box_pred[0].bias.numel()))
            after = m(xs)[0][:, -1]
        assert (not torch.allclose(before, after)) == moved, mode
    m, _ = _head("pred")
    m.eval()
    x = torch.zeros(1, CH[0], 15, 15)
    with torch.no_grad():
        base = m([x])[0][0, -1]
        x[0, :, 7, 7] = 5.0
        diff = (m([x])[0][0, -1] - base).abs() > 1e-6
    ys, xs_ = diff.nonzero(as_tuple=True)
    assert int((ys - 7).abs().max()) == 7 and int((xs_ - 7).abs().max()) == 7


def test_head_protocol_decode_layout_and_loss():
    from detector.loss.detection_loss import DetectionLoss
    from detector.models import DecodedModel, build_model
    m = build_model("cfg/yolo_ca_bifpn.yaml", nc=3).eval()
    head = m.head
    assert head.decoded_layout == {"xyxy": 4, "cls": 3, "density": 1}
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        raw = m(x)
        dec = head.decode(raw)
        torch.testing.assert_close(DecodedModel(m)(x), dec)
    # an oracle written from the layout alone, cell by cell: raw [B, 4R + nc + 1, H, W] per level, DFL sides
    # (left, top, right, bottom) as the expectation over R bins around the cell centre, times the stride
    R, n0 = head.reg_max, 0
    for lvl, (r, s) in enumerate(zip(raw, m.stride.tolist())):
        H, W = r.shape[-2:]
        for yy, xx in [(0, 0), (H - 1, W - 1), (H // 2, W // 3)]:
            v = r[0, :, yy, xx].double()
            d = [float((v[k * R:(k + 1) * R].softmax(0) * torch.arange(R, dtype=torch.float64)).sum()) for k in range(4)]
            cx, cy = xx + 0.5, yy + 0.5
            want = [(cx - d[0]) * s, (cy - d[1]) * s, (cx + d[2]) * s, (cy + d[3]) * s,
                    *v[4 * R:4 * R + 3].sigmoid().tolist(), float(v[-1].sigmoid())]
            torch.testing.assert_close(dec[0, n0 + yy * W + xx].double(), torch.tensor(want, dtype=torch.float64),
                                       rtol=1e-5, atol=1e-4)
        n0 += H * W
    assert n0 == dec.shape[1]
    assert dec.shape[-1] == sum(head.decoded_layout.values())
    loss = head.build_loss({"box": 3.0})
    assert isinstance(loss, DetectionLoss) and loss.gains["box"] == 3.0 and loss.nc == 3
    assert torch.equal(loss.strides, m.stride)


def test_split_raw_names_the_raw_channels_level_by_level():
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=3).eval()
    head = m.head
    assert head.raw_layout == {"box": 4 * head.reg_max, "cls": 3, "density": 1}
    with torch.no_grad():
        raw = m(torch.rand(2, 3, 64, 64))
    parts = head.split_raw(raw)
    assert list(parts) == ["box", "cls", "density"]
    # location 5 of level 1 is row n0 + 5 of every part; its channels in the raw map are in layout order
    n0 = raw[0].shape[-2] * raw[0].shape[-1]
    v = raw[1][1].flatten(1)[:, 5]
    R4 = 4 * head.reg_max
    assert torch.equal(parts["box"][1, n0 + 5], v[:R4]) and torch.equal(parts["cls"][1, n0 + 5], v[R4:R4 + 3])
    assert torch.equal(parts["density"][1, n0 + 5], v[-1:])
    assert parts["box"].shape == (2, sum(r.shape[-2] * r.shape[-1] for r in raw), R4)


class _HeadLike(torch.nn.Module):
    """Not a Detect subclass: a head by protocol only (it wraps one)."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner
        self.raw_layout, self.split_raw, self.decode = inner.raw_layout, inner.split_raw, inner.decode
        self.decoded_layout, self.build_loss, self.nc = inner.decoded_layout, inner.build_loss, inner.nc
        self.stride = inner.stride

    def forward(self, xs):
        return self.inner(xs)


def test_the_model_checks_the_head_protocol_not_the_class(tmp_path):
    from detector.nn.heads import HEAD_PROTOCOL, missing_head_members
    from detector.registry import MODULES

    class NotAHead(torch.nn.Module):
        def forward(self, xs):
            return xs

    assert missing_head_members(Detect(2, [8, 16])) == []
    assert missing_head_members(NotAHead()) == list(HEAD_PROTOCOL)

    @MODULES.register("HeadLikeTest")
    class HeadLikeTest(_HeadLike):
        @classmethod
        def from_yaml(cls, ctx, nc):
            inner, c = Detect.from_yaml(ctx, nc)
            return cls(inner), c

    try:
        y = tmp_path / "h.yaml"
        y.write_text("nc: 2\nbackbone:\n  - [-1, 1, Conv, [16, 3, 2]]\n  - [-1, 1, Conv, [32, 3, 2]]\n"
                     "  - [-1, 1, Conv, [64, 3, 2]]\n  - [-1, 1, Conv, [64, 3, 2]]\nhead:\n"
                     "  - [[2, 3], 1, HeadLikeTest, [nc]]\n")
        m = build_model(y)
        assert m.stride.tolist() == [8.0, 16.0] and not isinstance(m.head, Detect)
        y.write_text(y.read_text().replace("HeadLikeTest, [nc]", "Concat, []"))
        with pytest.raises(ConfigError, match=r"h\.yaml: the last layer must be a detection head .*lacks the head "
                                              r"protocol's raw_layout, split_raw, decode"):
            build_model(y)
    finally:
        MODULES.pop("HeadLikeTest")
