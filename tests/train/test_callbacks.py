"""The callback API of the training loop, and the non-finite loss guard."""
import json

import pytest
import torch

from detector.train.callbacks import HOOKS, Callback, Checkpointer, Validation, load_callback
from detector.train.nonfinite import NonFiniteGuard
from detector.train import Trainer, TrainConfig
from tests.conftest import CFG_DIR


class Recorder(Callback):
    def __init__(self, stop_after: int | None = None):
        self.calls, self.stop_after, self.seen = [], stop_after, {}

    def __getattribute__(self, name):
        if name in HOOKS:
            object.__getattribute__(self, "calls").append(name)
        return object.__getattribute__(self, name)

    def on_epoch_end(self, trainer):
        # defaults ran first: the epoch is validated and its checkpoint written
        self.seen[trainer.epoch] = dict(metrics=dict(trainer.metrics), lrs=list(trainer.epoch_lrs),
                                        last=(trainer.save_dir / "weights" / "last.pt").is_file())
        if self.stop_after is not None and trainer.epoch + 1 >= self.stop_after:
            trainer.stop = True


class JsonLines(Callback):
    """The README's example: one JSON line per epoch."""

    def on_epoch_end(self, trainer):
        if trainer.main:
            row = {"epoch": trainer.epoch + 1, "loss": sum(float(v) for v in trainer.mean_loss.values()), **{
                k: v for k, v in trainer.metrics.items() if isinstance(v, float)}}
            with open(trainer.save_dir / "epochs.jsonl", "a", encoding="utf-8") as f:
                f.write(json.dumps(row) + "\n")


def _cfg(tiny_data, tmp_path, **kw):
    return TrainConfig(cfg=str(CFG_DIR / "yolo_ca_bifpn.yaml"), data=str(tiny_data), batch=8, img=64, device="cpu",
                       workers=0, project=str(tmp_path), name="cb", plots=False, max_batches=2, **kw)


def test_hooks_order_counts_and_state(tiny_data, tmp_path):
    rec = Recorder(stop_after=1)  # asks to stop after the first of 3 epochs
    tr = Trainer(_cfg(tiny_data, tmp_path, epochs=3), callbacks=[rec, JsonLines()])
    tr.train()
    c = rec.calls
    assert c[0] == "on_train_start" and c[-1] == "on_train_end"
    assert c.count("on_epoch_start") == c.count("on_epoch_end") == 1  # stopped by the callback
    assert c.count("on_batch_start") == c.count("on_batch_end") == 2  # max_batches
    assert c.count("on_optimizer_step") == 2  # the warmup's first batches accumulate 1 (warmup_accumulate)
    assert rec.seen[0]["last"] and "mAP50-95" in rec.seen[0]["metrics"] and len(rec.seen[0]["lrs"]) == 3
    rows = [json.loads(x) for x in (tr.save_dir / "epochs.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1] and rows[0]["mAP50-95"] == tr.metrics["mAP50-95"]
    assert isinstance(tr.callbacks.find(Validation), Validation) and tr.callbacks.find(Checkpointer)


def test_without_warmup_accumulate_gradients_wait_for_the_nominal_batch(tiny_data, tmp_path):
    hyp = tmp_path / "no_ramp.yaml"
    hyp.write_text("warmup_accumulate: false\n")
    rec = Recorder()
    tr = Trainer(_cfg(tiny_data, tmp_path, epochs=1, hyp=str(hyp)), callbacks=[rec])
    tr.train()
    c = rec.calls
    assert tr.nominal_accumulate == tr.accumulate == 8  # batch 8 to nbs 64
    assert c.count("on_batch_end") == 2 and c.count("on_optimizer_step") == 1  # one step, at the epoch's last batch
    assert c.index("on_optimizer_step") > c.index("on_batch_start", 1 + c.index("on_batch_start"))


def test_callbacks_from_cli_spec(tiny_data, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(__import__("pathlib").Path(__file__).parent))
    tr = Trainer(_cfg(tiny_data, tmp_path, epochs=1, callbacks=["test_callbacks:JsonLines"]))
    assert type(tr.callbacks.callbacks[-1]).__name__ == "JsonLines"


@pytest.mark.parametrize("spec,msg", [("nocolon", "expected 'module:ClassName'"),
                                      ("no_such_module_xyz:A", "cannot import"),
                                      ("json:NoSuchClass", "has no 'NoSuchClass'"),
                                      ("json:JSONDecoder", "has none of the hooks")])
def test_load_callback_errors(spec, msg):
    with pytest.raises(ValueError, match=msg):
        load_callback(spec)


def test_duck_typed_callback_gets_missing_hooks(monkeypatch, tmp_path):
    (tmp_path / "duck_cb.py").write_text("class Only:\n    def on_epoch_end(self, trainer):\n        trainer.x = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    cb = load_callback("duck_cb:Only")
    t = type("T", (), {})()
    for h in HOOKS:
        getattr(cb, h)(t)  # every hook callable; the missing ones do nothing
    assert t.x == 1


def test_cli_rejects_a_bad_callback_spec(capsys):
    from detector.cli.train import parse

    with pytest.raises(SystemExit) as e:
        parse(["--callbacks", "nope_module_q:X"])
    assert e.value.code == 2 and "cannot import" in capsys.readouterr().err


# ---------------------------------------------------------------- non-finite guard
def test_guard_on_cpu_raises_at_once():
    g = NonFiniteGuard(torch.device("cpu"), scaler_skips=False)
    g.observe(torch.tensor(1.0), 0, 0)
    with pytest.raises(FloatingPointError, match="epoch 1, batch 3"):
        g.observe(torch.tensor(float("nan")), 3, 0)


def test_guard_deferred_does_not_read_the_value():
    """On a GPU observe() must not sync: with 'meta' tensors any read of a value raises."""
    g = NonFiniteGuard(torch.device("meta"), scaler_skips=True, immediate=False)
    for i in range(5):
        g.observe(torch.empty((), device="meta"), i, 0)


def test_guard_fp16_counts_skipped_overflows_and_stops_on_divergence():
    g = NonFiniteGuard(torch.device("cpu"), scaler_skips=True, immediate=False)
    for i, v in enumerate([1.0, float("inf"), 2.0, float("nan")]):
        g.observe(torch.tensor(v), i, 4)
    assert "2/4 batches had a non-finite loss" in g.end_epoch(4, 4)
    g.start_epoch()
    g.observe(torch.tensor(1.0), 0, 5)
    assert g.end_epoch(5, 1) is None
    g.start_epoch()
    for i in range(3):
        g.observe(torch.tensor(float("nan")), i, 6)
    with pytest.raises(FloatingPointError, match="3/3 batches of epoch 7"):
        g.end_epoch(6, 3)


def test_guard_without_scaler_stops_at_epoch_end_naming_first_bad_batch():
    g = NonFiniteGuard(torch.device("cpu"), scaler_skips=False, immediate=False)
    for i, v in enumerate([1.0, 1.0, float("nan"), float("nan"), 1.0]):
        g.observe(torch.tensor(v), i, 0)
    with pytest.raises(FloatingPointError, match=r"2/5 batches of epoch 1 \(first at batch 2\)"):
        g.end_epoch(0, 5)


class L2Term(Callback):
    """Adds a named loss term through ``on_loss`` (as distillation does)."""

    def __init__(self):
        self.seen = []

    def on_train_start(self, trainer):
        trainer.loss_gains["l2"] = 1e-4

    def on_loss(self, trainer, losses):
        self.seen.append(sorted(losses))
        losses["l2"] = sum((p.float() ** 2).sum() for p in trainer.model.head.cls.parameters())


def test_on_loss_adds_a_term_shown_by_name(tiny_data, tmp_path):
    import csv

    cb = L2Term()
    tr = Trainer(_cfg(tiny_data, tmp_path, epochs=1), callbacks=[cb])
    tr.train()
    assert cb.seen == [["box", "cls", "density", "dfl"]] * 2  # the head's terms, each batch
    assert list(tr.mean_loss) == ["box", "cls", "dfl", "density", "l2"] and float(tr.mean_loss["l2"]) > 0
    with open(tr.save_dir / "results.csv", newline="") as f:
        row = next(csv.DictReader(f))
    assert [k for k in row if k.startswith("train/") and k.endswith("_loss")] == [
        "train/box_loss", "train/cls_loss", "train/dfl_loss", "train/density_loss", "train/l2_loss"]
    assert float(row["train/l2_loss"]) == pytest.approx(float(tr.mean_loss["l2"]), rel=1e-5)


def _run_validation_epochs(monkeypatch, fitness, epochs, val_period, patience):
    """Validation.on_epoch_end over a run whose validations return ``fitness`` (one value per validation);
    returns (epochs run, epochs validated, log lines)."""
    from types import SimpleNamespace

    import detector.train.callbacks.validation as vmod

    values, validated = iter(fitness), []
    monkeypatch.setattr(vmod, "run_validation", lambda *a, **k: validated.append(tr.epoch) or {"mAP50-95": next(values)})
    logs = []
    tr = SimpleNamespace(main=True, cfg=SimpleNamespace(epochs=epochs, val_period=val_period, patience=patience),
                         start_epoch=0, val_loader=object(), ema=SimpleNamespace(ema=None), evaluator=None, device="cpu",
                         nms=None, metrics={}, best_fitness=-1.0, stop=False, log=logs.append)
    v = Validation()
    v.on_train_start(tr)
    for tr.epoch in range(epochs):
        v.on_epoch_end(tr)
        if tr.stop:
            break
    return tr.epoch + 1, validated, logs


def test_early_stop_waits_for_validations(monkeypatch):
    # validated every epoch: the same rule as always (stop `patience` epochs after the best)
    n, val, logs = _run_validation_epochs(monkeypatch, [0.1, 0.2, 0.2, 0.2, 0.2, 0.2], 6, 1, 2)
    assert n == 4 and val == [0, 1, 2, 3] and "no mAP50-95 improvement for 2 epochs" in logs[-1]
    # validation period longer than the run: nothing to judge before the final validation, no early stop
    n, val, logs = _run_validation_epochs(monkeypatch, [0.3], 60, 1000, 5)
    assert n == 60 and val == [59] and logs == []
    # every 3rd epoch: only a validation can stop the run, the first one that is `patience` epochs past the best
    n, val, _ = _run_validation_epochs(monkeypatch, [0.1, 0.1, 0.1, 0.1], 12, 3, 4)
    assert val == [2, 5, 8] and n == 9
