"""The loss of a head with a one-to-one branch (YOLO26's end-to-end head, as YOLOv10's dual assignment):
the one-to-many branch as any head (task-aligned top-k assignment, box + cls + DFL + density terms), the
one-to-one branch the same terms with a top-1 assignment, so that each object gets one confident cell and
the branch runs without NMS (``--nms none``). The one-to-one branch reads detached features (the head
detaches them), so its terms train only that branch."""
from __future__ import annotations

import torch

from .detection_loss import DetectionLoss, weighted_total


class EndToEndLoss:
    """``many`` and ``one``: DetectionLoss on the ``box/cls/density`` and on the ``box_o2o/cls_o2o`` channels;
    terms ``box, cls, dfl, density, box_o2o, cls_o2o, dfl_o2o``, their gains the same as their counterparts'."""

    def __init__(self, many: DetectionLoss, one: DetectionLoss):
        self.many, self.one = many, one
        self.gains = {**many.gains, **one.gains}

    @classmethod
    def from_hyp(cls, hyp: dict, strides: torch.Tensor, nc: int, reg_max: int, layout: dict[str, int]) -> "EndToEndLoss":
        return cls(DetectionLoss.from_hyp(hyp, strides, nc, reg_max, layout=layout),
                   DetectionLoss.from_hyp(hyp, strides, nc, reg_max, layout=layout, branch="_o2o", topk=1))

    @property
    def raw_layout(self) -> dict[str, int]:
        return self.many.raw_layout

    def terms(self, raw: list[torch.Tensor], targets: torch.Tensor, crowd: torch.Tensor | None = None
              ) -> dict[str, torch.Tensor]:
        """As :meth:`DetectionLoss.terms`, both branches' terms."""
        return {**self.many.terms(raw, targets, crowd), **self.one.terms(raw, targets, crowd)}

    def __call__(self, raw: list[torch.Tensor], targets: torch.Tensor, crowd: torch.Tensor | None = None
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        terms = self.terms(raw, targets, crowd)
        return weighted_total(terms, self.gains, raw[0].shape[0]), {k: v.detach() for k, v in terms.items()}
