"""tools/benchmark.py subcommands run and print their tables (smoke runs with tiny sizes; the figures
themselves live in docs/results/benchmarks.md)."""
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
    assert len(row) == 1
    cells = [float(c) for c in row[0].split("|")[2:-1]]  # batched, adaptive, ratio, DIoU, Soft, adaptive_soft
    assert all(c > 0 for c in cells)
    assert cells[2] == pytest.approx(cells[1] / cells[0], rel=0.02, abs=0.01)  # the ratio is of its own columns


def test_memory_format_benchmark_table():
    if not (SHARED / "data" / "coco128").is_dir():
        pytest.skip("../shared/data/coco128 not present")
    r = subprocess.run([*BENCH, "memory-format", "--img", "64", "--batch", "2", "--runs", "1", "--device", "cpu"],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {ln.split("|")[1].strip(): ln for ln in r.stdout.splitlines() if ln.startswith("| c")}
    assert set(rows) == {"contiguous", "channels_last"}
    cells = {k: [float(c) for c in v.split("|")[2:-1]] for k, v in rows.items()}  # img/s train, eval; speed-ups
    base, cl = cells["contiguous"], cells["channels_last"]
    assert base[2:] == [1.0, 1.0] and min(base[:2] + cl[:2]) > 0
    for k in (0, 1):  # each speed-up is the ratio of its own img/s, up to the table's rounding (0.05 img/s, 0.005)
        ratio = cl[k] / base[k]
        assert cl[k + 2] == pytest.approx(ratio, abs=0.006 + ratio * (0.05 / cl[k] + 0.05 / base[k]))


def test_model_benchmark_side_by_side_with_peers(tmp_path):
    """--peers: a stand-in CLI's TorchScript export is timed beside our cfg (eager and traced); the first
    peer is the latency reference; without a CLI the table still comes, ours only, with a message."""
    import stat

    from ..ablation.test_peers import FAKE_EXPORT

    cli = tmp_path / "yolo"
    cli.write_text(FAKE_EXPORT.format(python=sys.executable))
    cli.chmod(cli.stat().st_mode | stat.S_IEXEC)
    base = [*BENCH, "model", "--cfg", "cfg/yolo_bifpn.yaml", "--img", "64", "--runs", "1", "--warmup", "0"]
    r = subprocess.run([*base, "--peers", "tinypeer", "--yolo", str(cli), "--peer-dir", str(tmp_path / "p")],
                       capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {ln.split("|")[1].strip(): [c.strip() for c in ln.split("|")[2:-1]]
            for ln in r.stdout.splitlines() if ln.startswith("| ") and not ln.startswith("| model")}
    assert set(rows) == {"yolo_bifpn", "tinypeer"}
    assert rows["tinypeer"][0] == "0.000" and rows["tinypeer"][2] == "-" and rows["tinypeer"][4] == "1.000"
    assert float(rows["yolo_bifpn"][2]) > 0 and float(rows["yolo_bifpn"][3]) > 0
    r = subprocess.run([*base, "--peers", "yolo11n", "--yolo", str(tmp_path / "no-yolo")], capture_output=True,
                       text=True, cwd=ROOT)
    assert r.returncode == 0 and "no Ultralytics CLI" in r.stdout and "| yolo_bifpn |" in r.stdout


def test_distill_benchmark_times_each_mode(tiny_data, tmp_path):
    from ..conftest import busy_checkpoint

    teacher = busy_checkpoint(tmp_path / "t.pt", names=("circle", "square", "triangle", "star"), cat_ids=(1, 2, 3, 4))
    r = subprocess.run([*BENCH, "distill", "--teacher", str(teacher), "--data", str(tiny_data), "--img", "64",
                        "--batch", "2", "--runs", "1", "--device", "cpu"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    rows = {ln.split("|")[1].strip(): ln.split("|") for ln in r.stdout.splitlines() if ln.startswith("| ")}
    assert {"student", "+ teacher, --distill both", "+ teacher, --distill feature (teacher up to its neck)",
            "+ teacher, --distill logit", "+ teacher, --distill logit, hyp distill_fraction 0.5"} <= set(rows)
    assert rows["student"][4].strip() == "1.00" and float(rows["+ teacher, --distill both"][2]) > 0
