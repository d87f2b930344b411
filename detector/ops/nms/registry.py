"""NMS methods by name. A method is one function with one contract, registered with a decorator::

    @register_nms("my_nms")
    def my_nms(boxes, scores, idxs, densities, iou_thres, conf_thres, **options):
        keep = ...                       # Tensor[K] int64 indices into boxes, best first
        return keep, None                # or (keep, new_scores Tensor[K]) if it rescores boxes

boxes: Tensor[N, 4] xyxy; scores: Tensor[N]; idxs: Tensor[N] class ids (boxes of different ids
never suppress each other); densities: Tensor[N] predicted crowd density (zeros when the model has
no density output); iou_thres / conf_thres: the user's thresholds (a method that lowers scores must
drop the boxes that fall to ``conf_thres`` or below). ``options`` are method keywords passed through
``non_max_suppression(..., **options)`` (e.g. ``sigma`` for Soft-NMS); unknown ones are ignored.
``non_max_suppression`` always passes ``max_det``, the most boxes it keeps per image: a method may
stop a group once it holds that many (Soft-NMS does: its later picks would rank below them).

The boxes of a whole batch come in one call: ``non_max_suppression`` numbers the groups image x
class, so a method sees every image's candidates at once and must keep groups apart by ``idxs``.

Once registered the name is accepted everywhere: ``--nms`` of train / val / detect / ablate, the
model YAML's ``nms:`` key and the Python API.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch

from ...registry import Registry

NMSResult = tuple[torch.Tensor, Optional[torch.Tensor]]
NMSFunction = Callable[..., NMSResult]
NMS_REGISTRY = Registry("NMS method")

#: The NMS method when neither the user, the checkpoint nor the model YAML names one: the one place of it.
DEFAULT_NMS = "adaptive_soft"


def resolve_nms(*choices: str | None) -> str:
    """The first method named in ``choices`` (in the order: the user's flag or argument, the checkpoint's,
    the model YAML's / an export's metadata), else :data:`DEFAULT_NMS`; an unknown name raises
    :class:`~detector.registry.RegistryError` with close matches."""
    name = next((c for c in choices if c), DEFAULT_NMS)
    NMS_REGISTRY.get(name)
    return name


def register_nms(name: str) -> Callable[[NMSFunction], NMSFunction]:
    """Decorator: ``@register_nms("name")`` on a function of the contract above."""
    return NMS_REGISTRY.register(name)


def nms_methods() -> list[str]:
    """Registered method names, for argparse ``choices`` and config checks."""
    return NMS_REGISTRY.names()


def get_nms(name: str) -> NMSFunction:
    return NMS_REGISTRY.get(name)
