"""Checkpoints: a plain dict of state dicts, config dicts and numbers, written atomically and read
with ``torch.load(weights_only=True)`` (no pickled objects are ever executed)."""
from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import torch

from ..utils.io import atomic_write

FORMAT = "detector-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint is missing, truncated, not ours, or does not fit the model."""


def save_checkpoint(path: str | Path, ckpt: dict) -> Path:
    ckpt = {"format": FORMAT, **ckpt}
    return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise CheckpointError(f"{p}: refused: the file holds pickled Python objects, not plain state dicts "
                              f"(only weights_only checkpoints are loaded): {str(e).splitlines()[0]}") from None
    except (RuntimeError, EOFError, zipfile.BadZipFile, OSError, ValueError) as e:
        raise CheckpointError(f"{p}: not a readable checkpoint (truncated or corrupt?): {str(e).splitlines()[0]}") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{p}: not a detector checkpoint (no '{FORMAT}' marker)")
    return ckpt


def model_from_checkpoint(ckpt: dict, path: str = "checkpoint", use_ema: bool = True):
    """Rebuild the model from the config stored in a checkpoint and load its weights."""
    from ..models import build_model

    model = build_model(ckpt["model_cfg"])
    sd = ckpt.get("ema") if use_ema and ckpt.get("ema") else ckpt["model"]
    load_weights(model, sd, path)
    names = ckpt.get("names")
    if names:
        model.names = {i: n for i, n in enumerate(names)}
    return model


def load_weights(model: torch.nn.Module, state: dict, path: str = "checkpoint", strict: bool = True) -> list[str]:
    """Load a state dict; a mismatch in names or shapes raises a CheckpointError naming them.
    With ``strict=False`` (fine-tuning), entries whose shape differs are skipped and returned."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    if strict and (missing or unexpected or shape):
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shape:
            parts.append(f"{len(shape)} of another shape (e.g. {shape[0]}: {tuple(state[shape[0]].shape)} vs "
                         f"{tuple(own[shape[0]].shape)})")
        raise CheckpointError(f"{path}: weights do not fit this architecture: " + "; ".join(parts))
    model.load_state_dict({k: v for k, v in state.items() if k in own and k not in shape}, strict=False)
    return shape + missing
