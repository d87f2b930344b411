"""Side-by-side timing: candidates are run interleaved, round after round, so that
machine noise hits all of them alike and their ratios are meaningful."""
from __future__ import annotations

import platform
import statistics
import time
from typing import Callable

import torch


def time_interleaved(fns: dict[str, Callable[[], object]], runs: int = 20, warmup: int = 3) -> dict[str, list[float]]:
    """Call every fn once per round for ``warmup`` + ``runs`` rounds; return seconds per call of the timed rounds."""
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t0 = time.perf_counter()
            fn()
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times[k].append(time.perf_counter() - t0)
    return times


def median_ms(ts: list[float]) -> float:
    return 1000.0 * statistics.median(ts)


def machine_line() -> str:
    """One line naming the machine the figures were taken on."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{cpu}, {torch.get_num_threads()} torch threads, {dev}, torch {torch.__version__}"
