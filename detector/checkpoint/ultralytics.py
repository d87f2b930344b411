"""Read Ultralytics YOLOv8 detection checkpoints (``yolov8n.pt`` ... ``yolov8x.pt``, fine-tuned ones)
without ultralytics installed and without running code from the file, and map them onto our
``cfg/yolo_base.yaml`` (YOLOv8's graph: same blocks, same tensor names inside each block).

Ultralytics pickles whole ``nn.Module`` objects. They are read with ``torch.load(weights_only=True)``:
torch's weights-only unpickler rebuilds tensors and plain containers, and every class the file names
(``ultralytics.nn.modules.conv.Conv``, ``torch.nn.Conv2d``, ...) is allowed only as an inert stand-in
that merely stores the state it is given. A planted ``__reduce__`` payload (``os.system`` ...) gets a
stand-in, not the function.

Layer mapping (Ultralytics index -> ours): backbone 0-4 -> 0-4, 5-6 -> 6-7, 7-9 -> 9-11 (our Identity
attention slots 5, 8, 12 have no weights); neck C2f 12, 15, 18, 21 and Conv 16, 19 -> our PAN's td4,
out3, out4, out5, down3, down4; Detect ``cv2[i]`` (box) -> ``box_stem[i]`` + ``box_pred[i]``, ``cv3[i]``
(class) -> ``cls[i]``; the fixed DFL projection is not a weight of ours; our density branch starts fresh.
YOLO11 (C3k2, C2PSA blocks) and other tasks are refused with a sentence.
"""
from __future__ import annotations

import pickle
import re
import zipfile
from pathlib import Path

import torch

from .errors import FORMAT, CheckpointError

V8_BACKBONE = ["Conv", "Conv", "C2f", "Conv", "C2f", "Conv", "C2f", "Conv", "C2f", "SPPF"]
V8_HEAD = ["nn.Upsample", "Concat", "C2f", "nn.Upsample", "Concat", "C2f", "Conv", "Concat", "C2f", "Conv", "Concat",
           "C2f", "Detect"]
LAYER_MAP = {0: "0", 1: "1", 2: "2", 3: "3", 4: "4", 5: "6", 6: "7", 7: "9", 8: "10", 9: "11",
             12: "13.td4", 15: "13.out3", 16: "13.down3", 18: "13.out4", 19: "13.down4", 21: "13.out5"}
HEAD_INDEX, OUR_HEAD = 22, "14"


class _Inert:
    """Stand-in for any class named by the file: stores its constructor arguments and state, runs nothing."""

    def __init__(self, *args, **kwargs):
        self.__dict__["_args"] = args

    def __setstate__(self, state):
        if isinstance(state, tuple) and len(state) == 2:  # (dict state, slot state)
            state = {**(state[0] or {}), **(state[1] or {})}
        if isinstance(state, dict):
            self.__dict__.update(state)
        else:
            self.__dict__["_state"] = state


_UNSUPPORTED = re.compile(r"Unsupported global: GLOBAL ([\w.]+)")


def _stand_in(full_name: str) -> type:
    """An inert class registered under ``full_name`` (e.g. 'ultralytics.nn.modules.conv.Conv')."""
    module, _, name = full_name.rpartition(".")
    return type(name, (_Inert,), {"__module__": module, "__qualname__": name, "_origin": full_name})


def _load_weights_only(p: Path, max_classes: int = 256):
    """``torch.load(weights_only=True)`` with every class the file names allowed as an inert stand-in.

    torch's weights-only unpickler rebuilds tensors and plain containers itself; the classes it does not
    know are added, one by one as it names them, as stand-ins that only store their state, so no code
    from the file runs (a planted ``os.system`` becomes a stand-in called ``system``)."""
    stand_ins: list[type] = []
    for _ in range(max_classes):
        try:
            with torch.serialization.safe_globals(stand_ins):
                return torch.load(p, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError as e:
            m = _UNSUPPORTED.search(str(e))
            if not m:
                raise
            stand_ins.append(_stand_in(m.group(1)))
    raise CheckpointError(f"{p}: names more than {max_classes} classes: not a model checkpoint")


def is_ultralytics_file(path: Path) -> bool:
    """A torch zip whose pickle names ultralytics classes."""
    try:
        with zipfile.ZipFile(path) as z:
            pkl = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
            return pkl is not None and b"ultralytics" in z.read(pkl)
    except (zipfile.BadZipFile, OSError):
        return False


def _state_dict(obj, prefix: str = "", out: dict | None = None) -> dict[str, torch.Tensor]:
    """Tensors of an inert module tree, named as ``nn.Module.state_dict`` would name them."""
    out = {} if out is None else out
    d = getattr(obj, "__dict__", {})
    skip = d.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for n, t in (d.get(group) or {}).items():
            if isinstance(t, torch.Tensor) and n not in skip:
                out[prefix + n] = t.detach().float() if t.is_floating_point() else t.detach()
    for n, child in (d.get("_modules") or {}).items():
        if child is not None:
            _state_dict(child, f"{prefix}{n}.", out)
    return out


def read_ultralytics(path: str | Path) -> dict:
    """Load ``path`` with the restricted unpickler; returns {'state': {...}, 'yaml': {...}, 'names': [...]}."""
    p = Path(path)
    try:
        ck = _load_weights_only(p)
    except CheckpointError:
        raise
    except pickle.UnpicklingError as e:  # e.g. a global from a blocked module (os, posix, subprocess)
        why = next((ln.strip() for ln in str(e).splitlines() if "GLOBAL" in ln), str(e).splitlines()[-1])
        raise CheckpointError(f"{p}: refused by the weights-only loader ({why[:160]}); nothing in it was run") from None
    except Exception as e:  # noqa: BLE001 - any failure of a foreign file is "unreadable"
        raise CheckpointError(f"{p}: not a readable Ultralytics checkpoint: {str(e).splitlines()[0][:160]}") from None
    if not isinstance(ck, dict):
        raise CheckpointError(f"{p}: not an Ultralytics checkpoint (holds a {type(ck).__name__})")
    model = ck.get("ema") or ck.get("model")
    if model is None or not isinstance(getattr(model, "__dict__", None), dict):
        raise CheckpointError(f"{p}: an Ultralytics file without a model (keys {sorted(ck)[:8]})")
    yaml_cfg = model.__dict__.get("yaml")
    names = model.__dict__.get("names")
    if not isinstance(yaml_cfg, dict):
        raise CheckpointError(f"{p}: the Ultralytics model carries no architecture dict ('yaml')")
    if isinstance(names, dict):
        names = [str(names[k]) for k in sorted(names)]
    return {"state": _state_dict(model), "yaml": yaml_cfg, "names": names, "origin": getattr(model, "_origin", "")}


def _check_v8(p: Path, y: dict) -> None:
    mods = [str(layer[2]) for layer in (y.get("backbone") or []) + (y.get("head") or [])]
    if any(m in ("C3k2", "C2PSA", "A2C2f") for m in mods):
        raise CheckpointError(f"{p}: a YOLO11/YOLO12-style checkpoint (C3k2/C2PSA blocks): not supported yet; "
                              "YOLOv8 detection checkpoints are")
    if mods != V8_BACKBONE + V8_HEAD:
        raise CheckpointError(f"{p}: not a YOLOv8 detection model (its graph is {mods[:6]} ... {mods[-3:]}); "
                              "YOLOv8 detection checkpoints (yolov8n/s/m/l/x and fine-tuned ones) are supported")


def _our_name(key: str) -> str | None:
    """'model.5.cv1.conv.weight' -> 'layers.6.cv1.conv.weight'; None for tensors we do not have."""
    parts = key.split(".")
    if parts[0] != "model" or not parts[1].isdigit():
        return None
    i, rest = int(parts[1]), parts[2:]
    if i in LAYER_MAP:
        return f"layers.{LAYER_MAP[i]}." + ".".join(rest)
    if i == HEAD_INDEX and len(rest) >= 3 and rest[0] in ("cv2", "cv3"):
        level, k, tail = rest[1], rest[2], rest[3:]
        if rest[0] == "cv3":
            return f"layers.{OUR_HEAD}.cls.{level}.{k}." + ".".join(tail)
        if k in ("0", "1"):
            return f"layers.{OUR_HEAD}.box_stem.{level}.{k}." + ".".join(tail)
        return f"layers.{OUR_HEAD}.box_pred.{level}." + ".".join(tail)
    return None  # DFL projection (fixed), anchors/strides


def convert_ultralytics(path: str | Path, base_cfg: str | Path = "yolo_base.yaml") -> dict:
    """An Ultralytics YOLOv8 checkpoint as one of ours (model = ``base_cfg`` at the file's scale and
    class count; density branch fresh). Raises CheckpointError with a sentence for anything else."""
    import yaml as yamllib

    from ..config import find_config
    from ..models import build_model

    p = Path(path)
    src = read_ultralytics(p)
    y = src["yaml"]
    _check_v8(p, y)
    scales, scale = y.get("scales") or {}, y.get("scale")
    if scale not in scales:
        raise CheckpointError(f"{p}: its architecture names scale {scale!r}, not one of {sorted(scales)}")
    cfg_path, _ = find_config(base_cfg)
    d = yamllib.safe_load(Path(cfg_path).read_text(encoding="utf-8"))
    d.update(scales={scale: list(scales[scale])}, scale=scale, nc=int(y.get("nc", 80)))
    model = build_model(d)
    own = model.state_dict()
    mapped, unused = {}, []
    for k, v in src["state"].items():
        ours = _our_name(k)
        if ours is None or ours not in own:
            unused.append(k)
            continue
        if own[ours].shape != v.shape:
            raise CheckpointError(f"{p}: {k} {tuple(v.shape)} does not fit our {ours} {tuple(own[ours].shape)}")
        mapped[ours] = v.to(own[ours].dtype)
    missing = [k for k in own if k not in mapped and ".density_pred." not in k and not k.endswith("head.stride")
               and not k.endswith(".stride")]
    if missing:
        raise CheckpointError(f"{p}: {len(missing)} of our tensors have no counterpart in the file (e.g. {missing[:3]})")
    unexpected = [k for k in unused if ".dfl." not in k]
    if unexpected:
        raise CheckpointError(f"{p}: {len(unexpected)} tensors of the file have no place in ours (e.g. {unexpected[:3]})")
    model.load_state_dict(mapped, strict=False)
    names = src["names"] or [str(i) for i in range(model.nc)]
    model.names = dict(enumerate(names))
    return {"format": FORMAT, "model": model.state_dict(), "model_cfg": model.yaml, "names": list(names),
            "nms": "greedy", "converted_from": str(p),
            "note": f"converted from an Ultralytics YOLOv8{scale} checkpoint; density branch untrained"}
