"""Knowledge distillation: the terms on hand-built cases, and end to end through the Trainer (a teacher
equal to the student, another width, a YOLOv8 file, resume)."""
import csv

import pytest
import torch

from detector.train.callbacks import Callback
from detector.checkpoint import load_checkpoint
from detector.train.distill import Distiller, binary_kl_with_logits, cwd_loss, head_widths, pkd_loss
from detector.train import Trainer, TrainConfig
from detector.models import build_model
from tests.conftest import CFG_DIR, ROOT

YOLOV8 = ROOT / "tests" / "fixtures" / "ultralytics" / "yolov8t.pt"


def maps(c=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(2, c, 5, 7, generator=g)


def test_pkd_is_zero_for_a_per_channel_affine_copy_and_one_for_unrelated_maps():
    t = maps()
    s = t * torch.linspace(0.5, 3.0, 6).view(1, -1, 1, 1) + 4.0
    assert float(pkd_loss(s, t)) < 1e-6
    big = torch.randn(4, 3, 40, 40, generator=torch.Generator().manual_seed(1))
    other = torch.randn(4, 3, 40, 40, generator=torch.Generator().manual_seed(2))
    assert float(pkd_loss(big, other)) == pytest.approx(1.0, abs=0.05)


def test_cwd_and_binary_kl_are_zero_at_equality_and_positive_otherwise():
    t = maps()
    assert float(cwd_loss(t, t)) == pytest.approx(0.0, abs=1e-6)
    assert float(cwd_loss(maps(seed=3), t)) > 0.1
    x = torch.randn(3, 4)
    assert binary_kl_with_logits(x, x).abs().max() < 1e-6
    assert (binary_kl_with_logits(x + 1.0, x) > 0).all()


def _raw(model, x):
    with torch.no_grad():
        return model(x)


def test_teacher_equal_to_student_gives_zero_terms():
    torch.manual_seed(0)
    m = build_model(CFG_DIR / "yolo_ca_bifpn.yaml", nc=3).eval()
    ch = head_widths(m)
    d = Distiller(ch, ch, "both", "pkd", reg_max=m.head.reg_max)
    from detector.train.distill import HeadInputs

    tap = HeadInputs(m)
    x = torch.rand(2, 3, 64, 64)
    raw = _raw(m, x)
    terms = d(tap.feats, [f.clone() for f in tap.feats], raw, [r.clone() for r in raw])
    assert set(terms) == {"distill_feature", "distill_cls", "distill_box"}
    assert all(abs(float(v.detach())) < 1e-5 for v in terms.values()), terms
    raw2 = [r + torch.randn_like(r) for r in raw]  # another model's outputs
    terms2 = d(tap.feats, [f + torch.randn_like(f) for f in tap.feats], raw, raw2)
    assert all(float(v.detach()) > 1e-3 for v in terms2.values()), terms2


def test_other_widths_get_projectors_and_feature_mode_has_no_logit_terms():
    d = Distiller([16, 32, 64], [32, 64, 128], "feature", "cwd")
    assert [(p.in_channels, p.out_channels) for p in d.projectors] == [(16, 32), (32, 64), (64, 128)]
    s = [torch.randn(1, c, 8 // 2**i, 8 // 2**i) for i, c in enumerate((16, 32, 64))]
    t = [torch.randn(1, c, 8 // 2**i, 8 // 2**i) for i, c in enumerate((32, 64, 128))]
    terms = d(s, t, [], [])
    assert list(terms) == ["distill_feature"]
    terms["distill_feature"].backward()
    assert all(p.weight.grad is not None for p in d.projectors)
    with pytest.raises(ValueError, match="levels"):
        Distiller([16, 32], [16, 32, 64])
    assert len(Distiller([8], [8], "logit").projectors) == 0


def _cfg(tiny_data, tmp_path, name, **kw):
    base = dict(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), data=str(tiny_data), batch=8, img=64, device="cpu",
                workers=0, project=str(tmp_path), name=name, plots=False, max_batches=2, epochs=1, exist_ok=True)
    return TrainConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def teacher_ckpt(tiny_data, tmp_path_factory):
    """A trained checkpoint of the s scale (other widths than the n student), one epoch."""
    tmp = tmp_path_factory.mktemp("teacher")
    tr = Trainer(_cfg(tiny_data, tmp, "t", scale="s"))
    tr.train()
    return tr.save_dir / "weights" / "last.pt"


class Snapshot(Callback):
    """The teacher's and the student's weights before training and after the first optimizer step."""

    def on_train_start(self, trainer):
        self.teacher0 = {k: v.clone() for k, v in trainer.distill.teacher.state_dict().items()}
        self.student0 = {k: v.clone() for k, v in trainer.model.state_dict().items()}
        self.proj0 = {k: v.clone() for k, v in trainer.distill.distiller.state_dict().items()}
        self.grads = None

    def on_optimizer_step(self, trainer):
        if self.grads is None:
            self.teacher1 = {k: v.clone() for k, v in trainer.distill.teacher.state_dict().items()}
            self.grads = [p.grad for p in trainer.distill.teacher.parameters()]


def test_distillation_trains_student_and_projectors_only(tiny_data, tmp_path, teacher_ckpt):
    snap = Snapshot()
    tr = Trainer(_cfg(tiny_data, tmp_path, "kd", teacher=str(teacher_ckpt), distill="both"), callbacks=[snap])
    tr.train()
    d = tr.distill
    assert all(torch.equal(snap.teacher0[k], v) for k, v in snap.teacher1.items())  # frozen
    assert all(g is None for g in snap.grads) and not d.teacher.training
    assert any(not torch.equal(snap.student0[k], v) for k, v in tr.model.state_dict().items())
    assert any(not torch.equal(snap.proj0[k], v) for k, v in d.distiller.state_dict().items())
    assert len(tr.optimizer.param_groups) == 4 and len(tr.optimizer.param_groups[3]["params"]) == 6
    with open(tr.save_dir / "results.csv", newline="") as f:
        row = next(csv.DictReader(f))
    for term in ("distill_feature", "distill_cls", "distill_box"):  # same head layout: all three
        assert float(row[f"train/{term}_loss"]) > 0
    ck = load_checkpoint(tr.save_dir / "weights" / "last.pt")
    assert set(ck["distill"]) == set(d.distiller.state_dict()) and ck["train_cfg"]["teacher"] == str(teacher_ckpt)
    assert not any(k.startswith("distill") or "projectors" in k for k in ck["model"])  # the model stays clean


def test_feature_mode_never_runs_the_teachers_head(tiny_data, tmp_path, teacher_ckpt):
    calls = []

    class CountTeacherHead(Callback):
        def on_train_start(self, trainer):
            trainer.distill.teacher.head.register_forward_hook(lambda *a: calls.append(1))

    tr = Trainer(_cfg(tiny_data, tmp_path, "kdf", teacher=str(teacher_ckpt), distill="feature"),
                 callbacks=[CountTeacherHead()])
    tr.train()
    assert calls == [] and list(tr.mean_loss)[-1] == "distill_feature"
    with open(tr.save_dir / "results.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert float(row["train/distill_feature_loss"]) > 0 and "train/distill_cls_loss" not in row


class StopAfterFirst(Callback):
    def on_epoch_end(self, trainer):
        trainer.stop = True


def test_resume_keeps_the_teacher_and_the_projectors(tiny_data, tmp_path, teacher_ckpt):
    tr = Trainer(_cfg(tiny_data, tmp_path, "kdr", teacher=str(teacher_ckpt), epochs=2, distill="both"),
                 callbacks=[StopAfterFirst()])
    tr.train()
    last = tr.save_dir / "weights" / "last.pt"
    saved = load_checkpoint(last)["distill"]
    tr2 = Trainer(TrainConfig(resume=str(last), device="cpu", workers=0))
    tr2.setup()
    assert tr2.distill is not None and tr2.cfg.teacher == str(teacher_ckpt) and tr2.start_epoch == 1
    assert all(torch.equal(saved[k], v) for k, v in tr2.distill.distiller.state_dict().items())
    assert len(tr2.optimizer.param_groups) == 4


def test_a_yolov8_teacher_loads_features_only_when_classes_differ(tiny_data, tmp_path, capsys):
    tr = Trainer(_cfg(tiny_data, tmp_path, "v8", teacher=str(YOLOV8)))  # --distill auto
    tr.train()
    out = capsys.readouterr().out
    assert "--distill auto -> feature" in out and "classes" in out
    assert tr.distill.distiller.use_features and not tr.distill.distiller.use_logits
    assert list(tr.mean_loss)[-1] == "distill_feature"
    both = Trainer(_cfg(tiny_data, tmp_path, "v8b", teacher=str(YOLOV8), distill="both"))
    both.setup()
    assert "logit terms off" in capsys.readouterr().out and not both.distill.distiller.use_logits
    with pytest.raises(ValueError, match="--distill logit needs the same head layout"):
        Trainer(_cfg(tiny_data, tmp_path, "v8l", teacher=str(YOLOV8), distill="logit")).setup()


@pytest.mark.parametrize("name", ["yolo11t", "yolo26t", "yolo11t_ft"])  # _ft: fine-tuned by Ultralytics to 3 classes
def test_yolo11_and_yolo26_teachers(tiny_data, tmp_path, capsys, name):
    """Ultralytics YOLO11 / YOLO26 files teach through their neck features (their classes differ here; YOLO26's
    DFL-free head could not give bin distributions anyway)."""
    teacher = YOLOV8.with_name(f"{name}.pt")
    tr = Trainer(_cfg(tiny_data, tmp_path, name, teacher=str(teacher)))
    tr.train()
    assert "--distill auto -> feature" in capsys.readouterr().out
    assert list(tr.mean_loss)[-1] == "distill_feature" and tr.mean_loss["distill_feature"] > 0
    assert tr.distill.teacher.head.reg_max == (1 if name == "yolo26t" else 16)


def test_auto_mode_takes_the_logit_terms_when_the_heads_match(tiny_data, tmp_path, teacher_ckpt, capsys):
    tr = Trainer(_cfg(tiny_data, tmp_path, "auto", teacher=str(teacher_ckpt)))
    tr.setup()
    d = tr.distill.distiller
    assert "--distill auto -> logit" in capsys.readouterr().out
    assert d.use_logits and not d.use_features and tr.distill.trainable_params == []
    assert len(tr.optimizer.param_groups) == 3  # no projectors to train
    with pytest.raises(ValueError, match="--distill must be one of"):
        Trainer(_cfg(tiny_data, tmp_path, "bad", teacher=str(teacher_ckpt), distill="logits")).setup()


def test_same_seed_student_starts_identically_with_and_without_a_teacher(tiny_data, tmp_path, teacher_ckpt):
    a = Trainer(_cfg(tiny_data, tmp_path, "a"))
    a.setup()
    rng_a = torch.get_rng_state()
    b = Trainer(_cfg(tiny_data, tmp_path, "b", teacher=str(teacher_ckpt)))
    b.setup()
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert torch.equal(rng_a, torch.get_rng_state())  # building the teacher and projectors drew no random numbers


def test_distill_fraction_runs_the_teacher_on_the_first_part_of_each_batch(tiny_data, tmp_path, teacher_ckpt):
    (tmp_path / "half.yaml").write_text("distill_fraction: 0.5\n")
    tr = Trainer(_cfg(tiny_data, tmp_path, "kdh", teacher=str(teacher_ckpt), distill="both",
                      hyp=str(tmp_path / "half.yaml")))
    tr.setup()
    d, seen = tr.distill, []
    d.teacher.register_forward_pre_hook(lambda mod, args: seen.append(len(args[0])))
    torch.manual_seed(0)
    x = torch.rand(5, 3, 64, 64)
    tr.imgs, tr.preds = x, tr.model(x)
    half = {}
    d.on_loss(tr, half)
    assert seen == [3] and set(half) == {"distill_feature", "distill_cls", "distill_box"}  # ceil(0.5 * 5)
    s_feats = [f[:3] for f in d.student_tap.feats]
    with torch.no_grad():
        t_raw = d.teacher(x[:3])
    ref = d.distiller(s_feats, d.teacher_tap.feats, [r[:3] for r in tr.preds], t_raw)
    assert all(torch.allclose(half[k], ref[k]) for k in ref)
    d.fraction = 1.0
    full = {}
    d.on_loss(tr, full)
    assert seen[-1] == 5 and not torch.allclose(full["distill_cls"], half["distill_cls"])
    (tmp_path / "bad.yaml").write_text("distill_fraction: 0\n")
    with pytest.raises(ValueError, match="distill_fraction"):
        Trainer(_cfg(tiny_data, tmp_path, "kdb", teacher=str(teacher_ckpt), hyp=str(tmp_path / "bad.yaml"))).setup()


class GainLog(Callback):
    """The distillation gains each epoch trained with (read after its first batch)."""

    def __init__(self):
        self.gains = []

    def on_batch_end(self, trainer):
        if trainer.batch_i == 0:
            self.gains.append({k: trainer.loss_gains[k] for k in ("distill_cls", "distill_box")})


def test_distill_final_fades_the_gains_linearly_over_the_epochs(tiny_data, tmp_path, teacher_ckpt):
    (tmp_path / "fade.yaml").write_text("distill_final: 0.0\n")
    fade = GainLog()
    Trainer(_cfg(tiny_data, tmp_path, "fade", teacher=str(teacher_ckpt), distill="logit", distill_gain=2.0,
                 epochs=3, max_batches=1, hyp=str(tmp_path / "fade.yaml")), callbacks=[fade]).train()
    assert [g["distill_cls"] for g in fade.gains] == pytest.approx([1.0, 0.5, 0.0])  # 0.5 x gain 2, fading to 0
    assert [g["distill_box"] for g in fade.gains] == pytest.approx([2.0, 1.0, 0.0])
    constant = GainLog()
    Trainer(_cfg(tiny_data, tmp_path, "const", teacher=str(teacher_ckpt), distill="logit", epochs=2, max_batches=1),
            callbacks=[constant]).train()
    assert [g["distill_box"] for g in constant.gains] == [1.0, 1.0]  # the default: no fade
    (tmp_path / "bad.yaml").write_text("distill_final: -0.5\n")
    with pytest.raises(ValueError, match="distill_final"):
        Trainer(_cfg(tiny_data, tmp_path, "kdb", teacher=str(teacher_ckpt), hyp=str(tmp_path / "bad.yaml"))).setup()
