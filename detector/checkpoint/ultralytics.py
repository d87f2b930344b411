"""Read Ultralytics YOLOv8, YOLO11 and YOLO26 detection checkpoints (``yolov8n.pt`` ... ``yolo26x.pt``,
fine-tuned ones) without ultralytics installed and without running code from the file, and map them onto
our ``cfg/yolo_base.yaml`` (YOLOv8's graph), ``cfg/yolo11_base.yaml`` or ``cfg/yolo26_base.yaml`` (same
blocks, same tensor names inside each block).

Ultralytics pickles whole ``nn.Module`` objects. They are read with ``torch.load(weights_only=True)``:
torch's weights-only unpickler rebuilds tensors and plain containers, and every class the file names
(``ultralytics.nn.modules.conv.Conv``, ``torch.nn.Conv2d``, ...) is allowed only as an inert stand-in
that merely stores the state it is given. A planted ``__reduce__`` payload (``os.system`` ...) gets a
stand-in, not the function.

Layer mapping (Ultralytics index -> ours): backbone 0-4 -> 0-4, 5-6 -> 6-7, 7-9 -> 9-11 (our Identity
attention slots 5, 8, 12 have no weights); neck C2f 12, 15, 18, 21 and Conv 16, 19 -> our PAN's td4,
out3, out4, out5, down3, down4; Detect ``cv2[i]`` (box) -> ``box_stem[i]`` + ``box_pred[i]``, ``cv3[i]``
(class) -> ``cls[i]``; the fixed DFL projection is not a weight of ours; our density branch starts fresh.
YOLO11 / YOLO26: the same layer indices (our graphs follow theirs layer for layer); the head as YOLOv8's,
YOLO26's one-to-one ``one2one_cv2/3`` -> ``box_stem_o2o`` / ``box_pred_o2o`` / ``cls_o2o``. Whether SPPF's
first conv has an activation and whether the class branch is depthwise are read from the file's modules.
Other tasks (segment, pose, ...) and other graphs are refused with a sentence.
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
    return {"state": _state_dict(model), "yaml": yaml_cfg, "names": names, "origin": getattr(model, "_origin", ""),
            "tree": model}


V11_GRAPH = ["Conv", "Conv", "C3k2", "Conv", "C3k2", "Conv", "C3k2", "Conv", "C3k2", "SPPF", "C2PSA",
             "nn.Upsample", "Concat", "C3k2", "nn.Upsample", "Concat", "C3k2", "Conv", "Concat", "C3k2", "Conv",
             "Concat", "C3k2", "Detect"]


def _family(p: Path, y: dict) -> str:
    """'v8', '11' or '26' from the file's architecture dict; a sentence for anything else."""
    mods = [str(layer[2]) for layer in (y.get("backbone") or []) + (y.get("head") or [])]
    if mods == V8_BACKBONE + V8_HEAD:
        return "v8"
    if mods == V11_GRAPH:
        return "26" if y.get("end2end") or int(y.get("reg_max", 16)) == 1 else "11"
    tail = "an other task (segment/pose/obb/classify)" if mods and mods[-1] != "Detect" else f"its graph is {mods[:6]} ... {mods[-3:]}"
    raise CheckpointError(f"{p}: not a YOLOv8, YOLO11 or YOLO26 detection model ({tail}); their detection checkpoints "
                          "(n/s/m/l/x and fine-tuned ones) are supported")


def _v8_name(key: str) -> str | None:
    """'model.5.cv1.conv.weight' -> 'layers.6.cv1.conv.weight' (YOLOv8 -> cfg/yolo_base.yaml); None for tensors
    we do not have."""
    parts = key.split(".")
    if parts[0] != "model" or not parts[1].isdigit():
        return None
    i, rest = int(parts[1]), parts[2:]
    if i in LAYER_MAP:
        return f"layers.{LAYER_MAP[i]}." + ".".join(rest)
    return _head_name(rest, OUR_HEAD) if i == HEAD_INDEX else None


def _v11_name(key: str) -> str | None:
    """YOLO11/YOLO26 -> cfg/yolo11_base.yaml / yolo26_base.yaml: the same layer indices."""
    parts = key.split(".")
    if parts[0] != "model" or not parts[1].isdigit():
        return None
    i, rest = int(parts[1]), parts[2:]
    return _head_name(rest, str(i)) if i == len(V11_GRAPH) - 1 else f"layers.{i}." + ".".join(rest)


_BRANCH = {"cv2": "", "cv3": "", "one2one_cv2": "_o2o", "one2one_cv3": "_o2o"}


def _head_name(rest: list[str], ours: str) -> str | None:
    """Detect ``cv2[l]`` (box: two convs + a predictor) -> ``box_stem[l]`` + ``box_pred[l]``, ``cv3[l]`` (class)
    -> ``cls[l]``, and YOLO26's ``one2one_cv2/3`` -> the ``_o2o`` copies. None: the fixed DFL projection."""
    if len(rest) < 3 or rest[0] not in _BRANCH:
        return None
    suffix, level, k, tail = _BRANCH[rest[0]], rest[1], rest[2], rest[3:]
    if rest[0].endswith("cv3"):
        return f"layers.{ours}.cls{suffix}.{level}.{k}." + ".".join(tail)
    if k in ("0", "1"):
        return f"layers.{ours}.box_stem{suffix}.{level}.{k}." + ".".join(tail)
    return f"layers.{ours}.box_pred{suffix}.{level}." + ".".join(tail)


def _module(tree, path: str):
    """The inert sub-module at a dotted path of the file's model ('model.9.cv1.act')."""
    for part in path.split("."):
        tree = ((getattr(tree, "__dict__", {}).get("_modules")) or {}).get(part)
        if tree is None:
            return None
    return tree


def _sppf_args(tree, index: int, cfg_args: list) -> list:
    """Our SPPF args for the file's SPPF at ``index``, read from the module itself: whether ``cv1`` has an
    activation (YOLO26's has none; a YOLOv8/YOLO11 row keeps SiLU) and whether it adds a residual."""
    m = _module(tree, f"model.{index}")
    act = _module(tree, f"model.{index}.cv1.act")
    act_name = getattr(type(act), "_origin", "") if act is not None else ""
    d = getattr(m, "__dict__", {})
    return [cfg_args[0], cfg_args[1] if len(cfg_args) > 1 else 5, int(d.get("n", 3)), bool(d.get("add", False)),
            not act_name.endswith(".Identity")]


FAMILIES = {  # family: (our graph, tensor-name map, SPPF index in ours, SPPF index in the file, head index in ours)
    "v8": ("yolo_base.yaml", _v8_name, 11, 9, 14),
    "11": ("yolo11_base.yaml", _v11_name, 9, 9, 23),
    "26": ("yolo26_base.yaml", _v11_name, 9, 9, 23),
}


def _our_config(p: Path, src: dict, family: str) -> dict:
    """Our graph of ``family`` at the file's scale and class count, its SPPF and class branch as in the file."""
    import yaml as yamllib

    from ..config import find_config

    y = src["yaml"]
    scales, scale = y.get("scales") or {}, y.get("scale")
    if scale not in scales:
        raise CheckpointError(f"{p}: its architecture names scale {scale!r}, not one of {sorted(scales)}")
    base, _, sppf_ours, sppf_file, head = FAMILIES[family]
    d = yamllib.safe_load(Path(find_config(base)[0]).read_text(encoding="utf-8"))
    d.update(scales={scale: list(scales[scale])}, scale=scale, nc=int(y.get("nc", 80)))
    layers = d["backbone"] + d["head"]
    layers[sppf_ours][3] = _sppf_args(src["tree"], sppf_file, layers[sppf_ours][3])
    args = list(layers[head][3])
    if family != "v8":  # YOLO11 files from before the depthwise class branch ("legacy" heads) have 3x3 convs
        dw = any(k.startswith(f"model.{head}.cv3.0.0.0.") for k in src["state"])
        args = [args[0], args[1], "shared", "dw" if dw else "conv", *args[4:]]
    width = _cls_width(src["state"], HEAD_INDEX if family == "v8" else len(V11_GRAPH) - 1)
    if width is not None:  # a model fine-tuned to fewer classes keeps its source's class-branch width
        from ..nn.heads import Detect

        args = Detect.args_with_cls_width(args, width)
    layers[head][3] = args
    return d


def _cls_width(state: dict, head: int) -> int | None:
    """The class branch's hidden width as the file has it (the output channels of its first level's last
    hidden conv, ``cv3.0.1``), or None when the file has no class branch we know."""
    for key in (f"model.{head}.cv3.0.1.1.conv.weight", f"model.{head}.cv3.0.1.conv.weight"):  # dw pairs, 3x3 convs
        t = state.get(key)
        if t is not None:
            return int(t.shape[0])
    return None


def convert_ultralytics(path: str | Path) -> dict:
    """An Ultralytics YOLOv8 / YOLO11 / YOLO26 detection checkpoint as one of ours (``cfg/yolo_base.yaml``,
    ``yolo11_base.yaml`` or ``yolo26_base.yaml`` at the file's scale and class count; density branch fresh).
    Raises CheckpointError with a sentence for anything else."""
    from ..models import build_model

    p = Path(path)
    src = read_ultralytics(p)
    family = _family(p, src["yaml"])
    model = build_model(_our_config(p, src, family))
    name_of = FAMILIES[family][1]
    own = model.state_dict()
    mapped, unused = {}, []
    for k, v in src["state"].items():
        ours = name_of(k)
        if ours is None or ours not in own:
            unused.append(k)
            continue
        if own[ours].shape != v.shape:
            raise CheckpointError(f"{p}: {k} {tuple(v.shape)} does not fit our {ours} {tuple(own[ours].shape)}")
        mapped[ours] = v.to(own[ours].dtype)
    missing = [k for k in own if k not in mapped and ".density_pred." not in k and not k.endswith(".stride")]
    if missing:
        raise CheckpointError(f"{p}: {len(missing)} of our tensors have no counterpart in the file (e.g. {missing[:3]})")
    unexpected = [k for k in unused if ".dfl." not in k]
    if unexpected:
        raise CheckpointError(f"{p}: {len(unexpected)} tensors of the file have no place in ours (e.g. {unexpected[:3]})")
    model.load_state_dict(mapped, strict=False)
    names = src["names"] or [str(i) for i in range(model.nc)]
    model.names = dict(enumerate(names))
    scale = model.cfg.scale
    nms = "none" if family == "26" else "greedy"  # the source model's own post-processing
    return {"format": FORMAT, "model": model.state_dict(), "model_cfg": model.yaml, "names": list(names),
            "nms": nms, "converted_from": str(p), "graph": FAMILIES[family][0],
            "note": f"converted from an Ultralytics YOLO{family}{scale} checkpoint; density branch untrained"}
