"""Run by tests/train/test_ddp.py, alone or under torchrun (gloo, CPU): one optimizer step over a
total batch B, with the trainer's batch arithmetic (batch_plan), optimizer groups and DDP loss
scaling; rank 0 writes the resulting parameters and the plan to the path given."""
import os
import sys

import torch
import torch.distributed as dist
from torch import nn

from detector.train.optim import batch_plan, build_optimizer


def main(out: str, total_batch: int, nbs: int) -> None:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if world > 1:
        dist.init_process_group("gloo")
    per_rank, accumulate, wd = batch_plan(total_batch, world, nbs, 5e-4)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 2))
    opt = build_optimizer(model, "SGD", lr=0.1, momentum=0.9, weight_decay=wd)
    net = nn.parallel.DistributedDataParallel(model) if world > 1 else model
    g = torch.Generator().manual_seed(1)
    x_all = torch.randn(accumulate, total_batch, 3, 8, 8, generator=g)  # the same data for every layout
    y_all = torch.randn(accumulate, total_batch, 2, generator=g)
    for k in range(accumulate):  # micro-batches of the total batch; this rank takes its slice
        x = x_all[k, rank * per_rank:(rank + 1) * per_rank]
        y = y_all[k, rank * per_rank:(rank + 1) * per_rank]
        loss = ((net(x) - y) ** 2).mean() * len(x)  # per-image mean x batch, as DetectionLoss returns
        (loss * world).backward()  # as Trainer.train_one_epoch: DDP's gradient averaging undone
    opt.step()
    if rank == 0:
        torch.save({"params": [p.detach().clone() for p in model.parameters()],
                    "plan": (per_rank, accumulate, wd), "wd_group0": opt.param_groups[0]["weight_decay"]}, out)
    if world > 1:
        dist.destroy_process_group()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))
