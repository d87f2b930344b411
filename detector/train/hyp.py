"""Reading hyperparameter YAMLs (``cfg/hyp/*.yaml``): the defaults are ``detector/hyp.py``'s, a YAML overrides some.
Unknown keys are an error naming the file."""
from __future__ import annotations

from pathlib import Path

from ..config import ConfigError
from ..hyp import DEFAULT_HYP, HYP_BEFORE

__all__ = ["DEFAULT_HYP", "load_hyp"]

def load_hyp(path: str | Path | None = None, overrides: dict | None = None, before_keys: bool = False) -> dict:
    """Defaults updated by the YAML at ``path`` (checked: known keys, right types), then ``overrides``.
    ``before_keys``: keys the file does not set take the value they had before they existed
    (:data:`HYP_BEFORE`), to read what a recipe recorded by an older version meant."""
    hyp = {**DEFAULT_HYP, **(HYP_BEFORE if before_keys else {})}
    if path:
        from ..config import find_config

        p, _ = find_config(path)
        from ..utils.safe_load import load_yaml_text

        try:
            d = load_yaml_text(p.read_text(encoding="utf-8"), p) or {}
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"{p}: cannot read hyperparameters: {e}") from None
        except ValueError as e:
            raise ConfigError(str(e)) from None
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
