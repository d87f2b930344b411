"""CoordAtt against an independent from-the-formula reference, plus the attention family's contract."""
import pytest
import torch
import torch.nn.functional as F
import yaml

from detector.models import build_model

from detector.nn.attention import CBAM, ECA, SE, CoordAtt, SimAM

from ..conftest import CFG_DIR


def coordatt_reference(x, ca):
    """Coordinate attention written out from the paper with explicit sums and matrix products."""
    B, C, H, W = x.shape
    z_h = x.sum(dim=3) / W  # [B, C, H]   z^h_c(h) = 1/W sum_i x_c(h, i)
    z_w = x.sum(dim=2) / H  # [B, C, W]   z^w_c(w) = 1/H sum_j x_c(j, w)
    z = torch.cat([z_h, z_w], dim=2)  # [B, C, H+W]
    W1 = ca.conv1.weight[:, :, 0, 0]  # [mip, C]
    f = torch.einsum("mc,bcl->bml", W1, z) + ca.conv1.bias[None, :, None]
    bn = ca.bn1
    f = (f - bn.running_mean[None, :, None]) / torch.sqrt(bn.running_var[None, :, None] + bn.eps)
    f = f * bn.weight[None, :, None] + bn.bias[None, :, None]
    f = f * torch.clamp(f + 3, 0, 6) / 6  # h_swish
    f_h, f_w = f[:, :, :H], f[:, :, H:]
    g_h = torch.sigmoid(torch.einsum("cm,bml->bcl", ca.conv_h.weight[:, :, 0, 0], f_h) + ca.conv_h.bias[None, :, None])
    g_w = torch.sigmoid(torch.einsum("cm,bml->bcl", ca.conv_w.weight[:, :, 0, 0], f_w) + ca.conv_w.bias[None, :, None])
    return x * g_h[:, :, :, None] * g_w[:, :, None, :]


@pytest.mark.parametrize("c,h,w,red", [(64, 7, 11, 32), (16, 5, 5, 32), (256, 4, 3, 16)])
def test_coordatt_matches_formula(c, h, w, red):
    ca = CoordAtt(c, reduction=red)
    with torch.no_grad():  # non-trivial BN statistics so BN is really exercised
        ca.bn1.running_mean.uniform_(-0.5, 0.5)
        ca.bn1.running_var.uniform_(0.5, 2.0)
        ca.bn1.weight.uniform_(0.5, 1.5)
        ca.bn1.bias.uniform_(-0.3, 0.3)
    ca.eval()
    x = torch.randn(2, c, h, w)
    assert ca.conv1.out_channels == max(8, c // red)
    torch.testing.assert_close(ca(x), coordatt_reference(x, ca), atol=1e-5, rtol=1e-5)


def test_coordatt_residual_adds_the_identity_path():
    """residual=True: x + (plain output), same weights; the gradient to x keeps an identity term; a
    non-boolean flag is named; the YAML form [32, true] builds it."""
    plain, res = CoordAtt(16).eval(), CoordAtt(16, 32, True).eval()
    res.load_state_dict(plain.state_dict())
    x = torch.randn(2, 16, 5, 7, requires_grad=True)
    torch.testing.assert_close(res(x), x + plain(x))
    assert (plain(x) - 0.25 * x).abs().mean() < 0.1 * x.abs().mean()  # the plain block ~ x / 4 at init
    g_plain, = torch.autograd.grad(plain(x).sum(), x)
    g_res, = torch.autograd.grad(res(x).sum(), x)
    torch.testing.assert_close(g_res, g_plain + 1)
    with pytest.raises(ValueError, match="residual"):
        CoordAtt(16, 32, "yes")
    d = yaml.safe_load(open(CFG_DIR / "yolo_ca_bifpn.yaml", encoding="utf-8"))
    for layer in d["backbone"]:
        if layer[2] == "CoordAtt":
            layer[3] = [32, True]
    cas = [m for m in build_model(d).modules() if isinstance(m, CoordAtt)]
    assert len(cas) == 3 and all(m.residual for m in cas)


def test_coordatt_is_direction_aware():
    """a_h depends on the row and a_w on the column: a feature shifted along H changes the output rows."""
    ca = CoordAtt(16).eval()
    x = torch.randn(1, 16, 8, 8)
    y1 = ca(x)
    x2 = x.clone()
    x2[:, :, 0] += 5.0  # perturb one row
    y2 = ca(x2)
    assert not torch.allclose(y1[:, :, 4], y2[:, :, 4])  # other rows change through a_w ...
    assert (y1 - y2).abs()[:, :, 0].mean() > (y1 - y2).abs()[:, :, 4].mean()  # ... the perturbed row the most


def test_coordatt_fuse_keeps_output():
    ca = CoordAtt(32)
    ca.train()
    ca(torch.randn(4, 32, 6, 6))  # update running stats
    ca.eval()
    x = torch.randn(2, 32, 6, 9)
    y = ca(x)
    ca.fuse()
    torch.testing.assert_close(ca(x), y, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("cls", [CoordAtt, SE, CBAM, ECA, SimAM])
def test_attention_contract(cls):
    m = cls(32)
    x = torch.randn(2, 32, 9, 13, requires_grad=True)
    y = m(x)
    assert y.shape == x.shape
    y.square().mean().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
    for p in m.parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all()


def test_simam_matches_formula():
    x = torch.randn(2, 4, 5, 6)
    n = 5 * 6 - 1
    mu = x.mean(dim=(2, 3), keepdim=True)
    var = ((x - mu) ** 2).sum(dim=(2, 3), keepdim=True) / n
    e_inv = (x - mu) ** 2 / (4 * (var + 1e-4)) + 0.5
    torch.testing.assert_close(SimAM(4)(x), x * torch.sigmoid(e_inv))
    assert sum(p.numel() for p in SimAM(4).parameters()) == 0


def test_eca_adaptive_kernel():
    assert ECA(64).conv.kernel_size == (3,)  # log2(64)/2 + 1/2 = 3.5 -> 3
    assert ECA(512).conv.kernel_size == (5,)  # 4.5 + 0.5 = 5


def test_se_matches_formula():
    se = SE(32, reduction=4)
    x = torch.randn(2, 32, 5, 5)
    s = x.mean(dim=(2, 3))
    h = F.relu(s @ se.fc1.weight[:, :, 0, 0].T + se.fc1.bias)
    g = torch.sigmoid(h @ se.fc2.weight[:, :, 0, 0].T + se.fc2.bias)
    torch.testing.assert_close(se(x), x * g[:, :, None, None])
