"""DetectionModel: runs the layer graph built from YAML; returns raw head outputs."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from ..config import ConfigError, ModelConfig, load_model_config
from ..nn.fusion import SpatialFusion, WeightedFusion
from ..nn.heads import Detect, missing_head_members
from .builder import build_layers


class DetectionModel(nn.Module):
    """A YOLO-style detector built from a model config.

    ``forward(images: Tensor[B, 3, H, W])`` returns the last layer's raw output:
    for a ``Detect`` head a list of Tensor[B, 4*reg_max + nc + 1, H/s, W/s], one per
    stride s. Decoding (``detector.ops.decode``), loss and NMS live outside the model.
    """

    def __init__(self, cfg: ModelConfig, in_channels: int = 3):
        super().__init__()
        self.cfg = cfg
        self.yaml = cfg.raw  # plain dict, stored in checkpoints
        self.nc = cfg.nc
        self.names = {i: str(i) for i in range(cfg.nc)}
        self.layers, self.channels = build_layers(cfg, in_channels)
        used = {j for m in self.layers for j in m.inputs}
        self.kept_outputs = sorted(j for j in used if j >= 0)
        head = self.layers[-1]
        for m in self.layers[:-1]:
            if not missing_head_members(m):
                raise ConfigError(f"{cfg.source}: layer {m.layer_index} ({m.type}): the detection head must be the last layer")
        missing = missing_head_members(head)
        if missing:
            raise ConfigError(f"{cfg.source}: the last layer must be a detection head (such as Detect), got {head.type}, "
                              f"which lacks the head protocol's {', '.join(missing)} (detector/nn/heads.py)")
        self._init_strides(in_channels)
        if hasattr(head, "initialize_biases"):  # optional: priors that need the strides
            head.initialize_biases()

    @property
    def head(self) -> Detect:
        return self.layers[-1]  # type: ignore[return-value]

    @property
    def stride(self) -> torch.Tensor:
        return self.head.stride

    @property
    def max_stride(self) -> int:
        """The largest output stride: input sizes are multiples of it (``--img`` is rounded up to one)."""
        return int(self.head.stride.max())

    def _init_strides(self, in_channels: int, s: int = 256) -> None:
        training = self.training
        self.eval()
        self._probe = True  # name the layer whose YAML values fail on a real tensor, at build time
        try:
            with torch.no_grad():
                out = self.forward(torch.zeros(1, in_channels, s, s))
        finally:
            self._probe = False
        self.train(training)
        strides = torch.tensor([s / o.shape[-1] for o in out])
        if not torch.all(strides[1:] > strides[:-1]):
            raise ConfigError(f"{self.cfg.source}: the head's inputs must go from fine to coarse, got strides {strides.tolist()}")
        self.head.stride.copy_(strides)

    def forward(self, x: torch.Tensor):
        return self._run(x, head=True)

    def head_inputs(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The maps the head reads, finest first (Tensor[B, C_l, H/s_l, W/s_l] per level), without running
        the head: what feature distillation needs from a teacher (the head is about a third of the FLOPs)."""
        x = self._run(x, head=False)
        return list(x) if isinstance(x, list) else [x]

    def _run(self, x: torch.Tensor, head: bool):
        outputs: list = []  # outputs[i] kept only when a later layer reads it
        for m in (self.layers if head else self.layers[:-1]):
            x = self._gather(m, x, outputs)
            x = m(x) if not getattr(self, "_probe", False) else self._probe_layer(m, x)
            outputs.append(x if m.layer_index in self.kept_outputs else None)
        return x if head else self._gather(self.head, x, outputs)

    @staticmethod
    def _gather(m, x, outputs: list):
        """Layer m's input: the previous output, or the outputs its ``from`` names (-1: the image)."""
        if len(m.inputs) == 1 and m.inputs[0] == m.layer_index - 1:
            return x
        xs = [x if j == -1 else outputs[j] for j in m.inputs]
        if len(xs) == 1:
            return xs[0]
        return [t for v in xs for t in (v if isinstance(v, list) else [v])]  # several inputs: one flat list

    def _probe_layer(self, m, x):
        try:
            y = m(x)
        except (RuntimeError, ValueError, ZeroDivisionError, IndexError, TypeError) as e:
            raise ConfigError(f"{self.cfg.source}: layer {m.layer_index} ({m.type}) fails on a {self._shapes(x)} input: "
                              f"{str(e).splitlines()[0]}") from None
        for t in (y if isinstance(y, list) else [y]):
            if t.numel() == 0:
                raise ConfigError(f"{self.cfg.source}: layer {m.layer_index} ({m.type}) outputs an empty tensor "
                                  f"{list(t.shape)} from a {self._shapes(x)} input: check its args")
        return y

    @staticmethod
    def _shapes(x) -> str:
        return " + ".join(str(list(t.shape)) for t in (x if isinstance(x, list) else [x]))

    # ----------------------------------------------------------------- utilities
    def fuse(self) -> "DetectionModel":
        """Fold BatchNorm into convolutions (inference only); returns self."""
        self.eval()
        for m in self.modules():
            if m is not self and hasattr(m, "fuse") and callable(m.fuse):
                m.fuse()
        return self

    def fusion_weights(self) -> dict[str, torch.Tensor]:
        """Normalized BiFPN fusion weights of every fusion node: {module name: Tensor[n_inputs]} (per-location
        fusion: each input's mean weight over the last forward)."""
        return {n: m.normalized_weights().detach() for n, m in self.named_modules()
                if isinstance(m, (WeightedFusion, SpatialFusion))}

    def fusion_maps(self) -> dict[str, torch.Tensor]:
        """Per-location fusion weights of the last forward: {module name: Tensor[B, n_inputs, H, W]} (summing to
        1 over the inputs at each location); empty for scalar fusion. Run the model on an image first."""
        return {n: m.last_map for n, m in self.named_modules() if isinstance(m, SpatialFusion) and m.last_map is not None}

    def no_weight_decay_parameters(self) -> set[str]:
        """Names of parameters that training must not weight-decay: BN weights/biases,
        conv/linear biases and BiFPN fusion weights."""
        names = set()
        for mn, m in self.named_modules():
            for pn, p in m.named_parameters(recurse=False):
                full = f"{mn}.{pn}" if mn else pn
                if isinstance(m, (nn.BatchNorm2d, nn.SyncBatchNorm, WeightedFusion)) or pn in ("bias", "identity_gate"):
                    names.add(full)
        return names


def build_model(cfg: str | Path | dict | ModelConfig, scale: str | None = None, nc: int | None = None) -> DetectionModel:
    """Build a detector from a model YAML (path, dict or parsed config).

    >>> model = build_model("cfg/yolo_ca_bifpn.yaml", scale="n", nc=80)
    """
    if not isinstance(cfg, ModelConfig):
        cfg = load_model_config(cfg, scale=scale, nc=nc)
    return DetectionModel(cfg)
