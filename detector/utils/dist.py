"""Device selection and torch.distributed setup (torchrun sets RANK / LOCAL_RANK / WORLD_SIZE)."""
from __future__ import annotations

import os
from datetime import timedelta

import torch
import torch.distributed as dist


def select_device(spec: str = "") -> torch.device:
    """'' (auto), 'cpu', '0', '0,1', 'cuda:1'. Under torchrun each process takes cuda:LOCAL_RANK."""
    spec = str(spec).strip().lower()
    if spec in ("cpu", "-1") or (spec == "" and not torch.cuda.is_available()):
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise ValueError(f"--device {spec} asks for a GPU, but torch.cuda.is_available() is False")
    if "LOCAL_RANK" in os.environ:
        return torch.device("cuda", int(os.environ["LOCAL_RANK"]))
    if spec.startswith("cuda"):
        return torch.device(spec)
    first = int(spec.split(",")[0]) if spec else 0
    if first >= torch.cuda.device_count():
        raise ValueError(f"--device {spec}: only {torch.cuda.device_count()} GPU(s) visible")
    return torch.device("cuda", first)


def check_device_arg(ap, spec: str) -> None:
    """``ap.error`` (argparse usage message, exit 2) when ``--device`` names hardware this machine lacks."""
    try:
        select_device(spec)
    except (ValueError, RuntimeError) as e:
        ap.error(str(e))


def init_distributed(device: torch.device) -> tuple[int, int]:
    """(rank, world_size); initializes the process group when launched by torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        if device.type == "cuda":
            torch.cuda.set_device(device)
        dist.init_process_group(backend, timeout=timedelta(minutes=30))
    return dist.get_rank(), dist.get_world_size()


def barrier() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def cleanup() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
