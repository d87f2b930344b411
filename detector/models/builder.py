"""YAML config -> layers. No per-class branches: every block builds itself through
its ``from_yaml`` classmethod (see ``detector.nn.base``)."""
from __future__ import annotations

import inspect

from torch import nn

from .. import nn as _blocks  # noqa: F401  (fills the registry)
from ..config import ConfigError, ModelConfig
from ..nn.base import LayerContext
from ..registry import MODULES, RegistryError


def _flatten_channels(chs: list) -> tuple[int, ...]:
    out: list[int] = []
    for c in chs:
        out.extend(c if isinstance(c, list) else [c])
    return tuple(out)


def _signature(cls) -> str:
    """'Conv(c_out, k=1, s=1, g=1)': the YAML args a block takes."""
    params = list(inspect.signature(cls.from_yaml).parameters.values())[1:]  # drop ctx
    parts = []
    for p in params:
        if p.kind is p.VAR_POSITIONAL:
            parts.append(f"*{p.name}")
        elif p.default is p.empty:
            parts.append(p.name)
        else:
            parts.append(f"{p.name}={p.default!r}")
    return f"{cls.__name__}({', '.join(parts)})"


def _check_arity(cls, args: list) -> str | None:
    """None if ``args`` bind to ``cls.from_yaml`` (after ctx), else a short reason."""
    try:
        inspect.signature(cls.from_yaml).bind(None, *args)
    except TypeError as e:
        return str(e)
    return None


def build_layers(cfg: ModelConfig, in_channels: int = 3) -> tuple[nn.ModuleList, list[int | list[int]]]:
    """Build every layer of ``cfg``; returns (layers, output channels of each layer).

    Each returned module carries ``i`` (index), ``f`` (absolute input indices,
    -1 = the image) and ``type`` (registry name) for the graph runner and summary.
    """
    layers, channels = nn.ModuleList(), []
    for spec in cfg.layers:
        try:
            cls = MODULES.get(spec.module)
        except RegistryError as e:
            raise cfg.error(spec, str(e)) from None
        if not hasattr(cls, "from_yaml"):
            raise cfg.error(spec, f"{spec.module} is registered but has no from_yaml()")
        c_in = _flatten_channels([in_channels if j == -1 else channels[j] for j in spec.from_])
        consumes = getattr(cls, "consumes_repeats", False)
        ctx = LayerContext(c_in, spec.repeats if consumes else 1, cfg.width, cfg.max_channels, cfg.nc, cfg.scale or "")
        bad = _check_arity(cls, spec.args)
        if bad:
            raise cfg.error(spec, f"args {spec.args} do not fit {_signature(cls)} ({bad})")
        try:
            module, c_out = cls.from_yaml(ctx, *spec.args)
            if not consumes and spec.repeats > 1:
                mods = [module]
                for _ in range(spec.repeats - 1):
                    ctx = LayerContext(_flatten_channels([c_out]), 1, cfg.width, cfg.max_channels, cfg.nc,
                                       cfg.scale or "")
                    m, c_out = cls.from_yaml(ctx, *spec.args)
                    mods.append(m)
                module = nn.Sequential(*mods)
        except (TypeError, ValueError, RuntimeError, ZeroDivisionError) as e:
            raise cfg.error(spec, f"args {spec.args}: {e}") from None
        module.layer_index, module.inputs, module.type = spec.index, spec.from_, spec.module
        layers.append(module)
        channels.append(c_out)
    return layers, channels


__all__ = ["build_layers", "ConfigError"]
