"""tools/benchmark.py subcommands run and print their tables (smoke runs with tiny sizes; the figures
themselves live in docs/BENCHMARKS.md)."""
import subprocess
import sys

import pytest

from ..conftest import ROOT, SHARED

BENCH = [sys.executable, str(ROOT / "tools" / "benchmark.py")]


def test_nms_benchmark_table():
    r = subprocess.run([*BENCH, "nms", "--boxes", "300", "--runs", "2", "--device", "cpu"], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    row = [ln for ln in r.stdout.splitlines() if ln.startswith("| 300 |")]
    assert len(row) == 1 and float(row[0].split("|")[4]) > 0  # adaptive / batched_nms ratio


def test_memory_format_benchmark_table():
    if not (SHARED / "data" / "coco128").is_dir():
        pytest.skip("../shared/data/coco128 not present")
    r = subprocess.run([*BENCH, "memory-format", "--img", "64", "--batch", "2", "--runs", "1", "--device", "cpu"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {ln.split("|")[1].strip(): ln for ln in r.stdout.splitlines() if ln.startswith("| c")}
    assert set(rows) == {"contiguous", "channels_last"}
    assert rows["contiguous"].split("|")[4].strip() == "1.00"
