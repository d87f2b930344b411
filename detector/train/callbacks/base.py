"""The callback contract of the training loop.

The loop in :class:`detector.train.trainer.Trainer` only does forward, loss, backward and the
optimizer step; everything around it (LR warmup and schedule, EMA, validation, best/early stop,
checkpoints, progress bar, results.csv, TensorBoard, plots) is a :class:`Callback`. Each hook gets the
trainer and reads or sets its state:

========================  ==========================================================================
hook                      trainer state worth reading there
========================  ==========================================================================
``on_train_start``        ``cfg``, ``hyp``, ``model``, ``save_dir``, ``names``, ``start_epoch``
``on_epoch_start``        ``epoch`` (0-based), ``n_batches`` (batches per epoch)
``on_batch_start``        ``batch_i``, ``global_i`` (batches since epoch 0), ``batch``
``on_loss``               ``on_loss(trainer, losses)``: after the loss, before backward; ``losses`` is the
                          dict of named terms (with gradients; ``box``, ``cls``, ``dfl``, ``density`` for
                          ``Detect``): add a term to it to train on it (weighted by
                          ``trainer.loss_gains.get(name, 1.0)``; shown by name in the bar and results.csv)
``on_optimizer_step``     after each optimizer step (every ``accumulate`` batches)
``on_batch_end``          ``loss_items`` ({name: detached term}), ``mean_loss`` ({name: running mean}),
                          ``n_seen``
``on_epoch_end``          ``epoch_lrs``, ``train_s``, ``metrics``, ``fitness``, ``improved``;
                          set ``trainer.stop = True`` to end training after this epoch
``on_train_end``          ``best_fitness``, ``metrics``
========================  ==========================================================================

Hooks run on every DDP rank; a callback that writes files checks ``trainer.main`` (rank 0).
Callbacks run in list order; the defaults (:func:`default_callbacks`) come first, extra ones after.
"""
from __future__ import annotations

import importlib


class Callback:
    """Subclass and override any hook; each receives the :class:`~detector.train.trainer.Trainer`."""

    def on_train_start(self, trainer) -> None: ...

    def on_epoch_start(self, trainer) -> None: ...

    def on_batch_start(self, trainer) -> None: ...

    def on_loss(self, trainer, losses: dict) -> None: ...

    def on_optimizer_step(self, trainer) -> None: ...

    def on_batch_end(self, trainer) -> None: ...

    def on_epoch_end(self, trainer) -> None: ...

    def on_train_end(self, trainer) -> None: ...


HOOKS = tuple(k for k in vars(Callback) if k.startswith("on_"))


class CallbackList:
    """Calls one hook on every callback, in order."""

    def __init__(self, callbacks: list[Callback]):
        self.callbacks = list(callbacks)

    def fire(self, hook: str, trainer, *args) -> None:
        for cb in self.callbacks:
            getattr(cb, hook)(trainer, *args)

    def find(self, kind: type) -> Callback | None:
        return next((cb for cb in self.callbacks if isinstance(cb, kind)), None)


def load_callback(spec: str) -> Callback:
    """``'package.module:ClassName'`` -> an instance (built with no arguments). The module is imported
    as Python code the user named, like a plugin; nothing from config text is evaluated."""
    module, sep, name = spec.partition(":")
    if not sep or not module or not name.isidentifier():
        raise ValueError(f"--callbacks {spec!r}: expected 'module:ClassName', e.g. 'my_logs:JsonLines'")
    try:
        cls = getattr(importlib.import_module(module), name)
    except ImportError as e:
        raise ValueError(f"--callbacks {spec!r}: cannot import {module!r}: {e}") from None
    except AttributeError:
        raise ValueError(f"--callbacks {spec!r}: module {module!r} has no {name!r}") from None
    cb = cls()
    if not isinstance(cb, Callback) and not any(callable(getattr(cb, h, None)) for h in HOOKS):
        raise ValueError(f"--callbacks {spec!r}: {name} has none of the hooks {', '.join(HOOKS)}")
    if not isinstance(cb, Callback):  # duck-typed: fill the missing hooks with no-ops
        for h in HOOKS:
            if not callable(getattr(cb, h, None)):
                setattr(cb, h, lambda trainer, *args: None)
    return cb
