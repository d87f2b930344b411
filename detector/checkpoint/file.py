"""Checkpoints: a plain dict of state dicts, config dicts and numbers, written atomically and read
with ``torch.load(weights_only=True)`` (no pickled objects are ever executed)."""
from __future__ import annotations

import pickle
from pathlib import Path

import torch

from ..utils.io import atomic_write, describe_os_error
from .errors import FORMAT, CheckpointError
from .ultralytics import convert_ultralytics, is_ultralytics_file


def save_checkpoint(path: str | Path, ckpt: dict) -> Path:
    """Atomic: a failed write (full disk, read-only folder) leaves the previous file as it was and raises
    :class:`CheckpointError` saying so."""
    ckpt = {"format": FORMAT, **ckpt}
    try:
        return atomic_write(path, lambda tmp: torch.save(ckpt, tmp))
    except OSError as e:
        raise CheckpointError(f"cannot write the checkpoint: {describe_os_error(e, path)}; the previous "
                              f"{Path(path).name}, if any, is kept") from None
    except RuntimeError as e:  # torch's zip writer: "[enforce fail at inline_container.cc] ... file write failed"
        full = any(s in str(e) for s in ("No space left", "write failed", "unexpected pos"))
        raise CheckpointError(f"{path}: cannot write the checkpoint ("
                              + (describe_os_error(OSError(28, "No space left on device", str(path))).split(": ", 1)[1]
                                 if full else str(e).splitlines()[0][:200])
                              + f"); the previous {Path(path).name}, if any, is kept") from None


def describe_file(p: Path) -> str:
    """A few words on what a file that is not a usable checkpoint actually is."""
    try:
        size = p.stat().st_size
        with open(p, "rb") as f:
            head = f.read(512)
    except OSError as e:
        return f"unreadable ({e.strerror})"
    if size == 0:
        return "an empty file (0 bytes)"
    if p.suffix.lower() == ".onnx":
        return f"an ONNX file ({size:,} bytes)"
    if head[:1] == b"\x80" and len(head) > 1 and head[1] <= 5:
        return (f"a raw Python pickle (protocol {head[1]}, {size:,} bytes), not a PyTorch zip checkpoint: refused, "
                "since loading it could run code; nothing in it was run")
    if head.startswith(b"PK"):
        return f"a zip archive of {size:,} bytes, truncated or corrupt (or another kind of zip file)"
    try:
        text = head.decode("utf-8")
        if text.isprintable() or all(c.isprintable() or c.isspace() for c in text):
            return f"a text file ({size:,} bytes) starting {text[:30].strip()!r}"
    except UnicodeDecodeError:
        pass
    return f"binary data of {size:,} bytes that is not a PyTorch checkpoint"


def _from_ultralytics(p: Path) -> dict:
    """An Ultralytics YOLOv8 / YOLO11 / YOLO26 checkpoint, read without running its code and mapped onto its
    graph (cfg/yolo_base.yaml, yolo11_base.yaml, yolo26_base.yaml)."""
    import sys

    ck = convert_ultralytics(p)
    print(f"note: {p}: {ck['note']} (read without running code from the file; tools/convert.py saves it as ours)",
          file=sys.stderr)
    return ck


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: checkpoint not found" + (" (it is a folder)" if p.is_dir() else ""))
    if p.suffix.lower() == ".onnx":
        raise CheckpointError(f"{p}: an ONNX model, not a checkpoint: tools/detect.py and the Detector API run it; "
                              "training, val.py and export need the .pt checkpoint it was exported from")
    try:
        ckpt = torch.load(p, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "Unsupported global" in str(e) and is_ultralytics_file(p):
            return _from_ultralytics(p)
        if "Unsupported global" in str(e):
            raise CheckpointError(f"{p}: refused: the file holds pickled Python objects, not plain state dicts "
                                  "(only weights_only checkpoints are loaded; nothing in it was run)") from None
        raise CheckpointError(f"{p}: not a checkpoint: {describe_file(p)}") from None
    except Exception as e:  # noqa: BLE001 - torch's loaders raise many kinds on foreign bytes; all mean "not ours"
        raise CheckpointError(f"{p}: not a readable checkpoint: {describe_file(p)} "
                              f"({(str(e).splitlines() or [type(e).__name__])[0][:120]})") from None
    if not isinstance(ckpt, dict):
        raise CheckpointError(f"{p}: not a detector checkpoint: it holds a {type(ckpt).__name__}, not a dict")
    if ckpt.get("format") != FORMAT:
        keys = sorted(map(str, ckpt))[:6]
        raise CheckpointError(f"{p}: not a detector checkpoint (no '{FORMAT}' marker; keys {keys})")
    for key, kind in (("model", dict), ("model_cfg", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise CheckpointError(f"{p}: damaged checkpoint: '{key}' should be a {kind.__name__}, "
                                  f"got {type(ckpt.get(key)).__name__}")
    return ckpt


def build_model_of(ckpt: dict, path: str = "checkpoint"):
    """A fresh model built from the config stored in a checkpoint (CheckpointError naming the file)."""
    from ..config import ConfigError
    from ..models import build_model

    try:
        return build_model(ckpt["model_cfg"])
    except (ConfigError, TypeError, ValueError, KeyError) as e:
        raise CheckpointError(f"{path}: its model config cannot be built: {e}") from None


def model_from_checkpoint(ckpt: dict, path: str = "checkpoint", use_ema: bool = True):
    """Rebuild the model from the config stored in a checkpoint and load its weights."""
    model = build_model_of(ckpt, path)
    sd = ckpt.get("ema") if use_ema and ckpt.get("ema") else ckpt["model"]
    load_weights(model, sd, path)
    names = ckpt.get("names")
    if names:
        model.names = {i: n for i, n in enumerate(names)}
    return model


def checkpoint_stride(path: str | Path) -> int:
    """The largest output stride of the model a checkpoint holds (what ``--img`` is rounded to)."""
    return model_from_checkpoint(load_checkpoint(path), str(path)).max_stride


def load_weights(model: torch.nn.Module, state: dict, path: str = "checkpoint") -> None:
    """Load a state dict that must fit exactly; a mismatch in names or shapes raises a CheckpointError naming
    them. (Weights of another graph go through :func:`detector.train.transfer.transfer_weights`.) Attention
    blocks whose identity gate is in ``state`` (fine-tuned from a graph without them) are re-armed first."""
    from ..nn.attention import arm_identity_gates

    if hasattr(model, "layers"):
        arm_identity_gates(model, state)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shape = [k for k in own if k in state and own[k].shape != state[k].shape]
    if missing or unexpected or shape:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing (e.g. {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected (e.g. {unexpected[:3]})")
        if shape:
            parts.append(f"{len(shape)} of another shape (e.g. {shape[0]}: {tuple(state[shape[0]].shape)} vs "
                         f"{tuple(own[shape[0]].shape)})")
        raise CheckpointError(f"{path}: weights do not fit this architecture: " + "; ".join(parts))
    model.load_state_dict(state)
