"""EMA ramp and buffers, optimizer parameter groups, LR schedules and warmup."""
import math
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from detector import build_model
from detector.train.callbacks import LRSchedule
from detector.train.ema import ModelEMA
from detector.train.hyp import DEFAULT_HYP
from detector.train.optim import build_optimizer, lr_lambda
from detector.nn.bifpn import WeightedFusion
from tests.conftest import CFG_DIR


def test_ema_ramp_and_buffers():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    ema = ModelEMA(model, decay=0.9999, tau=2000.0)
    old = {k: v.clone() for k, v in ema.ema.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)
        model(torch.randn(2, 3, 8, 8))  # eval-free forward in train mode: BN running stats and counter move
    model.train()
    model(torch.randn(2, 3, 8, 8))
    ema.update(model)
    d = 0.9999 * (1 - math.exp(-1 / 2000.0))
    assert ema.d() == pytest.approx(d) and d < 1e-3  # the ramp: early updates follow the model closely
    new = model.state_dict()
    for k, v in ema.ema.state_dict().items():
        if v.dtype.is_floating_point:
            torch.testing.assert_close(v, old[k] * d + new[k] * (1 - d))
        else:
            assert torch.equal(v, new[k]), k  # integer buffers (num_batches_tracked) copied
    assert not any(p.requires_grad for p in ema.ema.parameters())
    ema.updates = 10**6
    assert ema.d() == pytest.approx(0.9999)


def test_optimizer_groups_no_decay_on_bn_bias_fusion():
    model = build_model(str(CFG_DIR / "yolo_ca_bifpn.yaml"), scale="n", nc=3)
    opt = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4)
    g_decay, g_nodecay, g_bias = ({id(p) for p in g["params"]} for g in opt.param_groups)
    assert [g["weight_decay"] for g in opt.param_groups] == [5e-4, 0.0, 0.0]
    names = {id(p): n for n, p in model.named_parameters()}
    assert len(g_decay) + len(g_nodecay) + len(g_bias) == len(names)  # every parameter exactly once
    kinds = {}
    for mn, m in model.named_modules():
        for pn, p in m.named_parameters(recurse=False):
            kinds[id(p)] = "bias" if pn == "bias" else type(m)
    for i in g_bias:
        assert names[i].endswith(".bias")
    for i in g_nodecay:
        assert kinds[i] in (nn.BatchNorm2d, WeightedFusion), names[i]
    assert any(kinds[i] is WeightedFusion for i in g_nodecay)  # the BiFPN fusion weights are there
    for i in g_decay:
        assert kinds[i] not in (nn.BatchNorm2d, WeightedFusion, "bias") and names[i].endswith("weight"), names[i]
    assert opt.param_groups[0]["nesterov"]
    with pytest.raises(ValueError, match="SGD or AdamW"):
        build_optimizer(model, "Adam")


def test_lr_lambda_linear_and_cosine():
    lin, cos = lr_lambda(10, 0.01, False), lr_lambda(10, 0.01, True)
    assert lin(0) == 1.0 and lin(10) == pytest.approx(0.01) and lin(5) == pytest.approx(0.505)
    assert cos(0) == pytest.approx(1.0) and cos(10) == pytest.approx(0.01) and cos(5) == pytest.approx(0.505)
    assert cos(2) > lin(2)  # cosine stays high early


@pytest.mark.filterwarnings("ignore:Detected call of")
def test_warmup_ramps_lr_and_momentum():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4)
    lf = lr_lambda(10, 0.01, False)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lf)
    hyp = {**DEFAULT_HYP, "warmup_accumulate": False}
    t = SimpleNamespace(hyp=hyp, n_batches=50, optimizer=opt, scheduler=sched, lr_factor=lf, epoch=0, global_i=0,
                        accumulate=4, nominal_accumulate=4)
    cb = LRSchedule()
    cb.on_train_start(t)
    assert cb.n_warmup == max(round(3.0 * 50), 100) == 150
    cb.on_batch_start(t)
    lrs = [g["lr"] for g in opt.param_groups]
    assert lrs == [0.0, 0.0, pytest.approx(0.1)]  # biases start at warmup_bias_lr, the others at 0
    assert opt.param_groups[0]["momentum"] == pytest.approx(0.8)
    t.global_i, t.epoch = 75, 1
    cb.on_batch_start(t)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.5 * 0.01 * lf(1))
    assert opt.param_groups[2]["lr"] == pytest.approx(0.5 * 0.1 + 0.5 * 0.01 * lf(1))
    assert opt.param_groups[0]["momentum"] == pytest.approx((0.8 + 0.937) / 2)
    t.global_i = 150
    cb.on_batch_start(t)
    assert [g["lr"] for g in opt.param_groups] == [pytest.approx(0.01 * lf(1))] * 3
    t.global_i = 151  # after warmup the callback leaves the groups alone
    opt.param_groups[0]["lr"] = 123.0
    cb.on_batch_start(t)
    assert opt.param_groups[0]["lr"] == 123.0
    cb.on_epoch_end(t)  # records the epoch's lrs, then steps the schedule
    assert t.epoch_lrs[0] == 123.0 and sched.last_epoch == 1
    assert t.accumulate == 4  # warmup_accumulate off: the nominal accumulation throughout


def test_warmup_accumulate_ramps_batches_per_step_from_one_to_nominal():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    opt = build_optimizer(model, "SGD", 0.01, 0.937, 5e-4)
    lf = lr_lambda(10, 0.01, False)
    torch.optim.lr_scheduler.LambdaLR(opt, lf)  # sets each group's initial_lr
    hyp = dict(DEFAULT_HYP)
    assert hyp["warmup_accumulate"]  # the default (docs/results/ablation.md: +0.029 mAP50-95 on yolo_base, 3/3 seeds)
    t = SimpleNamespace(hyp=hyp, n_batches=10, optimizer=opt, lr_factor=lf, epoch=0, global_i=0,
                        accumulate=4, nominal_accumulate=4)
    cb = LRSchedule()
    cb.on_train_start(t)  # warmup: max(3 * 10, 100) = 100 batches
    seen = {}
    for ni in (0, 16, 17, 50, 83, 84, 100, 101, 500):
        t.global_i = ni
        cb.on_batch_start(t)
        seen[ni] = t.accumulate
    # interp(ni, [0, 100], [1, 4]) rounded: 1 -> 1.48 -> 1.51 -> 2.5 -> 3.49 -> 3.52 -> 4; nominal after warmup
    assert seen == {0: 1, 16: 1, 17: 2, 50: 2, 83: 3, 84: 4, 100: 4, 101: 4, 500: 4}
