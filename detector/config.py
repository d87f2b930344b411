"""Model YAML: ``yaml.safe_load`` + strict validation into a :class:`ModelConfig`.

Format (close to YOLOv8's)::

    nc: 80                       # number of classes
    scale: n                     # default scale (optional)
    scales:                      # name: [depth, width, max_channels]
      n: [0.33, 0.25, 1024]
    nms: adaptive_soft           # default NMS method (optional; greedy when absent)
    backbone:                    # [from, repeats, module, args]
      - [-1, 1, Conv, [64, 3, 2]]
    head:
      - [[4, 6, 9], 1, BiFPN, [256]]
      - [-1, 1, Detect, [nc]]

Scale choice, first match wins: the ``scale=`` argument (``--scale``), a file-name
suffix (``yolo_ca_bifpn-s.yaml`` loads ``yolo_ca_bifpn.yaml`` at scale ``s``),
the file's ``scale:`` key, the first entry of ``scales`` (with a warning).
"""
from __future__ import annotations

import copy
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .ops.nms.registry import DEFAULT_NMS

TOP_LEVEL_KEYS = {"nc", "scale", "scales", "nms", "backbone", "head"}


class ConfigError(ValueError):
    """A model/data/training config is malformed; the message names the file and place."""


@dataclass
class LayerSpec:
    index: int  # absolute layer index
    section: str  # 'backbone' or 'head'
    pos: int  # position inside its section
    from_: list[int]  # absolute indices of the inputs (-1 resolved)
    from_yaml: int | list[int]  # as written, for the summary
    repeats: int
    module: str
    args: list

    def where(self) -> str:
        return f"layer {self.index} ({self.section}[{self.pos}], {self.module})"


@dataclass
class ModelConfig:
    source: str  # file path or '<dict>'
    nc: int
    scale: str | None
    depth: float
    width: float
    max_channels: int
    layers: list[LayerSpec]
    nms: str = DEFAULT_NMS
    raw: dict = field(default_factory=dict)  # the YAML dict with nc/scale resolved (goes into checkpoints)

    def error(self, spec: LayerSpec | None, msg: str) -> ConfigError:
        return ConfigError(f"{self.source}: {spec.where() + ': ' if spec else ''}{msg}")


def shipped_cfg_dir() -> Path:
    """The shipped cfg/ folder: inside the installed package (``detector/cfg``, mapped from the
    repository's top-level ``cfg/`` by pyproject.toml), else beside the package in a checkout."""
    inside = Path(__file__).resolve().parent / "cfg"
    if inside.is_dir():
        return inside
    try:
        from importlib.resources import files

        found = Path(str(files("detector.cfg")))
        if found.is_dir():
            return found
    except (ModuleNotFoundError, TypeError):
        pass
    return Path(__file__).resolve().parents[1] / "cfg"


def find_config(path: str | Path) -> tuple[Path, bool]:
    """(path, False) when ``path`` exists; else the shipped file of that name, (file, True): ``yolo_ca_bifpn.yaml``,
    ``cfg/yolo_ca_bifpn.yaml`` or ``data/coco128.yaml`` work from any working directory. Unchanged when neither
    exists (the caller says it is missing)."""
    p = Path(path)
    if p.is_file() or p.is_absolute():
        return p, False
    parts = p.parts[1:] if p.parts and p.parts[0] == "cfg" else p.parts
    if not parts:
        return p, False
    root = shipped_cfg_dir()
    for cand in (root.joinpath(*parts), root / "data" / p.name, root / "hyp" / p.name, root / "trackers" / p.name):
        if cand.is_file():
            return cand, True
    return p, False


def suffix_scale(cfg) -> str | None:
    """The scale a model YAML's file name asks for (``yolo_ca_bifpn-s.yaml`` -> ``'s'``); None for a dict, a file
    without a suffix, or a path that does not resolve."""
    if not isinstance(cfg, (str, Path)):
        return None
    try:
        return _resolve_path(Path(cfg))[1]
    except ConfigError:
        return None


def _resolve_path(path: Path) -> tuple[Path, str | None]:
    """Return (existing file, scale from a '-X' name suffix or None); shipped configs are found by name."""
    found, _ = find_config(path)
    if found.is_file():
        return found, None
    m = re.fullmatch(r"(.+)-([A-Za-z0-9]+)", path.stem)
    if m:
        base, _ = find_config(path.with_name(m.group(1) + path.suffix))
        if base.is_file():
            return base, m.group(2)
    raise ConfigError(f"{path}: model config file not found (nor a shipped config of that name in {shipped_cfg_dir()})")


def _load_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"{path}: cannot read: {e}") from None
    from .utils.safe_load import load_yaml_text

    try:
        return load_yaml_text(text, path)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def load_model_config(cfg: str | Path | dict, scale: str | None = None, nc: int | None = None) -> ModelConfig:
    """Read and validate a model config (path or already-loaded dict)."""
    suffix_scale = None
    if isinstance(cfg, dict):
        source, d = "<dict>", copy.deepcopy(cfg)
    else:
        path, suffix_scale = _resolve_path(Path(cfg))
        source, d = str(cfg), _load_yaml(path)
    if not isinstance(d, dict):
        raise ConfigError(f"{source}: expected a mapping at top level, got {type(d).__name__}")
    unknown = sorted(set(d) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigError(f"{source}: unknown top-level key(s) {unknown}; allowed: {sorted(TOP_LEVEL_KEYS)}")
    for key in ("nc", "backbone", "head"):
        if key not in d:
            raise ConfigError(f"{source}: missing required key {key!r}")

    if nc is not None:
        d["nc"] = nc
    if not isinstance(d["nc"], int) or isinstance(d["nc"], bool) or d["nc"] < 1:
        raise ConfigError(f"{source}: nc must be a positive integer, got {d['nc']!r}")

    from .ops.nms import nms_methods

    nms = d.get("nms", DEFAULT_NMS)
    if nms not in nms_methods():
        raise ConfigError(f"{source}: nms must be one of {nms_methods()}, got {nms!r}")

    depth, width, max_ch, chosen = 1.0, 1.0, 1 << 30, None
    scales = d.get("scales")
    if scales is not None:
        if not isinstance(scales, dict) or not scales:
            raise ConfigError(f"{source}: scales must be a mapping name: [depth, width, max_channels]")
        for k, v in scales.items():
            ok = isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) and x > 0 for x in v)
            if not ok:
                raise ConfigError(f"{source}: scales.{k} must be [depth, width, max_channels] (positive numbers), got {v!r}")
        chosen = scale or suffix_scale or d.get("scale")
        if chosen is None:
            chosen = next(iter(scales))
            warnings.warn(f"{source}: no scale chosen; using the first one, {chosen!r}", stacklevel=2)
        chosen = str(chosen)
        if chosen not in scales:
            raise ConfigError(f"{source}: scale {chosen!r} not in scales {list(scales)}")
        depth, width, max_ch = float(scales[chosen][0]), float(scales[chosen][1]), int(scales[chosen][2])
        d["scale"] = chosen
    elif scale or suffix_scale or d.get("scale"):
        raise ConfigError(f"{source}: scale {scale or suffix_scale or d.get('scale')!r} requested but the file has no 'scales'")

    cfg_obj = ModelConfig(source, d["nc"], chosen, depth, width, max_ch, [], nms, d)
    cfg_obj.layers = _parse_layers(cfg_obj, d)
    return cfg_obj


def _parse_layers(cfg: ModelConfig, d: dict) -> list[LayerSpec]:
    specs: list[LayerSpec] = []
    for section in ("backbone", "head"):
        rows = d[section]
        if not isinstance(rows, list) or not rows:
            raise ConfigError(f"{cfg.source}: {section} must be a non-empty list of [from, repeats, module, args]")
        for pos, row in enumerate(rows):
            i = len(specs)
            where = f"layer {i} ({section}[{pos}])"
            if not isinstance(row, list) or len(row) != 4:
                raise ConfigError(f"{cfg.source}: {where}: expected [from, repeats, module, args], got {row!r}")
            f, n, module, args = row
            if not isinstance(module, str):
                raise ConfigError(f"{cfg.source}: {where}: module name must be a string, got {module!r}")
            where = f"layer {i} ({section}[{pos}], {module})"
            if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                raise ConfigError(f"{cfg.source}: {where}: repeats must be a positive integer, got {n!r}")
            if args is None:
                args = []
            if not isinstance(args, list):
                raise ConfigError(f"{cfg.source}: {where}: args must be a list, got {args!r}")
            froms = f if isinstance(f, list) else [f]
            if not froms:
                raise ConfigError(f"{cfg.source}: {where}: 'from' is an empty list")
            resolved = []
            for j in froms:
                if not isinstance(j, int) or isinstance(j, bool):
                    raise ConfigError(f"{cfg.source}: {where}: 'from' entries must be integers, got {j!r}")
                a = i + j if j < 0 else j
                if not 0 <= a < i and not (i == 0 and j == -1):
                    raise ConfigError(
                        f"{cfg.source}: {where}: 'from' index {j} does not name an earlier layer "
                        f"(valid: -1..-{i} or 0..{i - 1})" if i else f"{cfg.source}: {where}: the first layer must take 'from' -1 (the image)"
                    )
                resolved.append(a)
            args = [cfg.nc if a == "nc" else a for a in args]
            depth_n = max(round(n * cfg.depth), 1) if n > 1 else n
            specs.append(LayerSpec(i, section, pos, resolved, f, depth_n, module, args))
    return specs
