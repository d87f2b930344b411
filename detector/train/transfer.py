"""Weight transfer across YAML edits (``--weights`` from a checkpoint of another graph).

Layers are matched by structure, not by index: target layers are walked in order and each takes the
next unused source layer (in order) of the same module type whose tensors have the same names and
shapes. Inserting an attention block (indices shift), swapping the neck or changing the class count
therefore keeps every layer that still fits, and says exactly what transferred and what starts fresh.
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

import torch

from ..checkpoint.file import CheckpointError

_LAYER = re.compile(r"layers\.(\d+)\.(.+)")


def _by_layer(state: dict) -> dict[int, dict[str, torch.Tensor]]:
    """{'layers.3.conv.weight': t} -> {3: {'conv.weight': t}} (keys outside ``layers.N.`` are dropped, and
    so are the identity gates of inserted attention blocks, which :func:`transfer_weights` moves with their
    block)."""
    out: dict[int, dict[str, torch.Tensor]] = {}
    for k, v in state.items():
        m = _LAYER.match(k)
        if m and isinstance(v, torch.Tensor) and m.group(2) != "identity_gate":
            out.setdefault(int(m.group(1)), {})[m.group(2)] = v
    return out


def _source_types(model_cfg) -> dict[int, str]:
    """Module type of each layer index of the source graph (empty when its config is unreadable)."""
    from ..config import ConfigError, load_model_config

    try:
        return {s.index: s.module for s in load_model_config(model_cfg).layers}
    except (ConfigError, TypeError, ValueError, KeyError, AttributeError):
        return {}


@dataclass
class TransferReport:
    loaded: int = 0  # tensors
    total: int = 0  # tensors of the target model
    pairs: list[tuple[int, int, str]] = field(default_factory=list)  # (source layer, target layer, type)
    fresh: list[tuple[int, str]] = field(default_factory=list)  # target layers left as initialised

    def summary(self, source: str) -> str:
        moved = [f"{s}->{t}" if s != t else str(t) for s, t, _ in self.pairs]
        fresh = ", ".join(f"{i} ({ty})" for i, ty in self.fresh) or "none"
        return (f"transferred {self.loaded}/{self.total} tensors from {source}: layers {' '.join(moved) or 'none'}; "
                f"starting fresh: {fresh}")


def _partial(src, candidates, src_types, want, ttype):
    """The first remaining source layer of the same type and the same tensor names: (index, fitting tensors)."""
    for s in candidates:
        if (not src_types or src_types.get(s) == ttype) and set(src[s]) == set(want):
            fit = {n: v for n, v in src[s].items() if v.shape == want[n].shape}
            return (s, fit) if fit else None
    return None


def transfer_weights(model: torch.nn.Module, state: dict, source_cfg=None, path: str = "checkpoint") -> TransferReport:
    """Load into ``model`` every layer of ``state`` that fits structurally; returns what was done.

    Raises :class:`CheckpointError` when nothing fits."""
    src = _by_layer(state)
    src_types = _source_types(source_cfg) if source_cfg is not None else {}
    own = model.state_dict()
    tgt = _by_layer(own)
    types = {m.layer_index: m.type for m in model.layers}
    rep = TransferReport(total=len(own))
    new_state: dict[str, torch.Tensor] = {}
    order = sorted(src)
    pos = 0
    for t in sorted(tgt):
        want = tgt[t]
        for k in range(pos, len(order)):
            s = order[k]
            if src_types and src_types.get(s) != types.get(t):
                continue
            have = src[s]
            if set(have) == set(want) and all(have[n].shape == want[n].shape for n in want):
                new_state.update({f"layers.{t}.{n}": v for n, v in have.items()})
                rep.pairs.append((s, t, types.get(t, "?")))
                pos = k + 1
                break
        else:
            part = _partial(src, order[pos:], src_types, want, types.get(t))
            if part:  # same block, some tensors of another shape (e.g. the head's classes): keep the rest
                new_state.update({f"layers.{t}.{n}": v for n, v in part[1].items()})
                rep.pairs.append((part[0], t, f"{types.get(t, '?')}, {len(part[1])}/{len(want)} tensors"))
                rep.fresh.append((t, f"{types.get(t, '?')}: {len(want) - len(part[1])} tensors of another shape"))
                pos = order.index(part[0]) + 1
            else:
                rep.fresh.append((t, types.get(t, "?")))
    if not new_state:
        raise CheckpointError(f"{path}: no layer of it fits this model ({len(src)} layers with weights in the file, "
                              f"{len(tgt)} in the model)")
    for s, t, _ in rep.pairs:  # a block that was gated in the source keeps its gate (and so its function)
        gate = state.get(f"layers.{s}.identity_gate")
        if isinstance(gate, torch.Tensor) and hasattr(model.layers[t], "start_as_identity"):
            model.layers[t].start_as_identity()
            new_state[f"layers.{t}.identity_gate"] = gate
    for t, (i, ty) in enumerate(list(rep.fresh)):
        layer = model.layers[i]
        if ty == types.get(i) and hasattr(layer, "start_as_identity"):  # a whole attention block new to the graph
            layer.start_as_identity()
            rep.fresh[t] = (i, f"{ty}, as identity")
    model.load_state_dict(new_state, strict=False)
    rep.loaded, rep.total = len(new_state), len(model.state_dict())  # the total counts the new gates
    return rep


def scale_for_weights(target_cfg, scale: str | None, source_cfg, path: str = "checkpoint") -> tuple[str | None, str]:
    """The scale to build ``target_cfg`` at when it starts from weights of the graph ``source_cfg``, and a log line.

    A scale the user chose (``scale``, i.e. ``--scale``, or a ``-X`` file-name suffix) is kept, with a warning when
    the weights are of another scale (only tensors of the same shape can move); otherwise the weights' scale when the
    target YAML lists it (``--weights yolo11s.pt`` builds the s model) or the weights' graph defines it (a custom
    width: :func:`build_from_weights` adds it), else the YAML's own default."""
    from ..config import ConfigError, load_model_config, suffix_scale

    src_scale = source_cfg.get("scale") if isinstance(source_cfg, dict) else None
    if not src_scale:
        return scale, ""
    try:
        target = load_model_config(target_cfg, scale=scale)
    except (ConfigError, TypeError, ValueError):
        return scale, ""  # the model build that follows says what is wrong with the YAML
    if target.scale is None or target.scale == src_scale:
        return scale, ""
    chosen = scale or suffix_scale(target_cfg)
    if not chosen and src_scale in (target.raw.get("scales") or {}):
        return src_scale, (f"scale {src_scale} from --weights {path} (the YAML's default is {target.scale}; "
                           f"--scale {target.scale} keeps it)")
    own = None if chosen else _source_scale(source_cfg, src_scale)
    if own:  # a width the YAML does not list: the file's own
        return src_scale, (f"scale {src_scale} from --weights {path}: not in the YAML's scales, so its [depth, width, "
                           f"max_channels] {own} come from the file "
                           f"(--scale {target.scale} keeps the YAML's default)")
    why = (f"--scale {scale}" if scale else f"the file name's -{chosen}" if chosen
           else f"scale {src_scale!r} is not in the YAML's scales")
    return scale, (f"warning: --weights {path} is a scale-{src_scale} model and this one is scale {target.scale} "
                   f"({why}): only tensors of the same shape move")


def _source_scale(source_cfg, scale: str | None) -> list | None:
    """The source graph's [depth, width, max_channels] for ``scale``, when it defines one."""
    spec = ((source_cfg.get("scales") or {}) if isinstance(source_cfg, dict) else {}).get(scale) if scale else None
    ok = isinstance(spec, (list, tuple)) and len(spec) == 3 and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) and x > 0 for x in spec)
    return list(spec) if ok else None


def _with_source_scale(cfg, scale: str | None, source_cfg):
    """``cfg``, or its YAML as a dict with the source's definition of ``scale`` added when the YAML has scales but not
    that one (a custom width of the weights' graph): the model is then built at the weights' own width."""
    from ..config import ConfigError, load_model_config

    spec = _source_scale(source_cfg, scale)
    if spec is None:
        return cfg
    try:
        raw = load_model_config(cfg).raw
    except (ConfigError, TypeError, ValueError):
        return cfg  # the model build that follows says what is wrong with the YAML
    if not isinstance(raw.get("scales"), dict) or scale in raw["scales"]:
        return cfg
    d = copy.deepcopy(raw)
    d["scales"][scale] = spec
    return d


def _source_head(state: dict) -> dict[str, torch.Tensor] | None:
    """The tensors of the source's detection head (the last layer with a box stem and a class branch)."""
    heads = [t for t in _by_layer(state).values() if "box_stem.0.0.conv.weight" in t and "cls.0.2.weight" in t]
    return heads[-1] if heads else None


def head_cls_width(model: torch.nn.Module, state: dict) -> int | None:
    """The class-branch width to build ``model``'s head at so that the source head's hidden class layers move, as
    Ultralytics does when it fine-tunes to another class count (the width follows the class count when a head is
    built: 80 classes -> 80, 4 -> 64 at n): the source's width when both heads read inputs of the same widths and
    have the same class-branch form; None when nothing would change."""
    head, src = model.layers[-1], _source_head(state)
    if src is None or not hasattr(head, "cls") or not hasattr(head, "box_stem"):
        return None
    ours_in = [seq[0].conv.in_channels for seq in head.box_stem]
    src_in = [src[f"box_stem.{lv}.0.conv.weight"].shape[1] if f"box_stem.{lv}.0.conv.weight" in src else None
              for lv in range(len(ours_in))]
    own_keys = {k for k in head.state_dict() if k.startswith("cls.")}
    if src_in != ours_in or own_keys != {k for k in src if k.startswith("cls.")}:
        return None
    width, ours = int(src["cls.0.2.weight"].shape[1]), head.cls[0][-1].in_channels
    return width if width != ours else None


def move_classes_by_name(model: torch.nn.Module, state: dict, src_names, names) -> list[str]:
    """Copy the source's class-predictor rows into ``model``'s for every class of the same name (case and outer
    spaces ignored), as Ultralytics does when it fine-tunes to another class list; only where the predictor did
    not transfer whole (another class count) and its input width is the source's. Returns the names moved."""
    head, src = model.layers[-1], _source_head(state)
    if src is None or not src_names or not names or not hasattr(head, "cls"):
        return []
    where = {str(n).strip().lower(): i for i, n in reversed(list(enumerate(src_names)))}
    pairs = [(j, where[str(n).strip().lower()]) for j, n in enumerate(names) if str(n).strip().lower() in where]
    moved = False
    for branch in ("cls", "cls_o2o"):
        for lv, seq in enumerate(getattr(head, branch, None) or []):
            w, b = src.get(f"{branch}.{lv}.2.weight"), src.get(f"{branch}.{lv}.2.bias")
            pred = seq[-1]
            if w is None or b is None or w.shape == pred.weight.shape or w.shape[1:] != pred.weight.shape[1:]:
                continue
            with torch.no_grad():
                for j, i in pairs:
                    if i < w.shape[0]:
                        pred.weight[j].copy_(w[i])
                        pred.bias[j].copy_(b[i])
            moved = True
    return [str(names[j]) for j, _ in pairs] if moved else []


def build_from_weights(cfg, scale: str | None, names: list, ck: dict, path: str) -> tuple[torch.nn.Module, list[str]]:
    """``--weights``: the model of YAML ``cfg`` for classes ``names``, started from checkpoint ``ck`` (ours, or a
    converted Ultralytics file); returns it and the lines that say what moved. Built at the weights' scale unless
    one was chosen (:func:`scale_for_weights`), its class branch at the source's width where the heads' inputs match
    (:func:`head_cls_width`), layers matched by structure (:func:`transfer_weights`), class rows by name
    (:func:`move_classes_by_name`)."""
    from ..models import build_model
    from ..nn.heads import Detect

    state, lines = ck.get("ema") or ck["model"], []
    scale, note = scale_for_weights(cfg, scale, ck.get("model_cfg"), path)
    lines += [note] if note else []
    model = build_model(_with_source_scale(cfg, scale, ck.get("model_cfg")), scale=scale, nc=len(names))
    width = head_cls_width(model, state)
    if width:  # as Ultralytics: its hidden class layers fit at its width, so ours is built at it
        d = copy.deepcopy(model.yaml)
        last = (d.get("head") or d["backbone"])[-1]  # the head is the graph's last layer
        last[3] = Detect.args_with_cls_width(last[3], width)
        model = build_model(d, nc=len(names))
        lines.append(f"class branch at the width of {path}'s ({width}), so that its hidden layers move")
    model.names = dict(enumerate(names))
    lines.append(transfer_weights(model, state, ck.get("model_cfg"), path).summary(path))
    moved = move_classes_by_name(model, state, ck.get("names"), names)
    if moved:
        lines.append(f"class predictor rows moved by name from {path}: {', '.join(moved[:10])}"
                     + (f" and {len(moved) - 10} more" if len(moved) > 10 else "")
                     + f" ({len(moved)} of {len(names)} classes; the others start fresh)")
    return model, lines


def freeze_layers(model: torch.nn.Module, n: int) -> str:
    """Freeze the first ``n`` layers (Ultralytics' ``freeze``): their parameters get no gradient and the
    optimizer leaves them out; BatchNorm statistics still follow the data, as Ultralytics does. Returns the
    log line."""
    layers = list(model.layers)
    if not 0 <= n <= len(layers):
        raise ValueError(f"--freeze {n}: the model has {len(layers)} layers (0..{len(layers)})")
    count = 0
    for m in layers[:n]:
        for p in m.parameters():
            p.requires_grad_(False)
            count += p.numel()
    return f"--freeze {n}: layers 0-{n - 1} frozen ({count:,} parameters; {layers[n - 1].type} is the last)" if n else ""
