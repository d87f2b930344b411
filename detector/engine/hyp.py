"""Training hyper-parameters (``cfg/hyp/*.yaml``): defaults here, a YAML overrides some of them.
Unknown keys are an error naming the file."""
from __future__ import annotations

from pathlib import Path

import yaml

from ..config import ConfigError

DEFAULT_HYP = dict(
    lr0=0.01, lrf=0.01, momentum=0.937, weight_decay=5e-4, nbs=64,
    warmup_epochs=3.0, warmup_momentum=0.8, warmup_bias_lr=0.1, grad_clip=10.0,
    box=7.5, cls=0.5, dfl=1.5, density=1.0, density_per_class=False, density_bce=True,
    tal_topk=10, tal_alpha=0.5, tal_beta=6.0, tal_ciou=False,
    hsv_h=0.015, hsv_s=0.7, hsv_v=0.4, degrees=0.0, translate=0.1, scale=0.5, shear=0.0, fliplr=0.5,
    mosaic=1.0, mixup=0.0, close_mosaic=10,
    ema_decay=0.9999, ema_tau=2000.0,
)


def load_hyp(path: str | Path | None = None, overrides: dict | None = None) -> dict:
    hyp = dict(DEFAULT_HYP)
    if path:
        from ..config import find_config

        p, _ = find_config(path)
        try:
            d = yaml.safe_load(p.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"{p}: cannot read hyperparameters: {e}") from None
        if not isinstance(d, dict):
            raise ConfigError(f"{p}: expected a mapping of hyperparameters")
        unknown = sorted(set(d) - set(DEFAULT_HYP))
        if unknown:
            raise ConfigError(f"{p}: unknown hyperparameter(s) {unknown}")
        for k, v in d.items():
            if isinstance(DEFAULT_HYP[k], bool) != isinstance(v, bool) or not isinstance(v, (int, float)):
                raise ConfigError(f"{p}: {k} must be {'a boolean' if isinstance(DEFAULT_HYP[k], bool) else 'a number'}, got {v!r}")
        hyp.update(d)
    hyp.update(overrides or {})
    return hyp
