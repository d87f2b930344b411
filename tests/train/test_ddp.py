"""Several processes: total-batch arithmetic, one DDP step equal to the 1-process step, a 2-process
training run and a two-"node" run on localhost (torchrun, gloo, CPU)."""
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from detector.checkpoint import load_checkpoint
from detector.train.optim import batch_plan

from .test_train import _train_cmd

HERE = Path(__file__).parent
TORCHRUN = [sys.executable, "-m", "torch.distributed.run"]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", **extra}


def test_batch_is_the_total_over_processes():
    # --batch 32 on 2 GPUs: 16 each, accumulated twice to the nominal 64, like --batch 32 on one
    assert batch_plan(32, 2, 64, 5e-4) == (16, 2, pytest.approx(5e-4))
    assert batch_plan(32, 1, 64, 5e-4)[1:] == batch_plan(32, 2, 64, 5e-4)[1:]
    # --batch 64 on 4 GPUs: the decay of a 64 batch, not 4x it
    assert batch_plan(64, 4, 64, 5e-4) == (16, 1, pytest.approx(5e-4))
    assert batch_plan(16, 1, 64, 5e-4) == (16, 4, pytest.approx(5e-4))
    assert batch_plan(8, 1, 64, 5e-4)[2] == pytest.approx(5e-4)  # 8 x 8 accumulation = 64
    assert batch_plan(128, 2, 64, 5e-4) == (64, 1, pytest.approx(1e-3))  # above nbs: decay grows with the batch
    with pytest.raises(ValueError, match="multiple of 2"):
        batch_plan(33, 2, 64, 5e-4)
    with pytest.raises(ValueError, match="at least 4"):
        batch_plan(2, 4, 64, 5e-4)


def test_two_ranks_step_equals_one_process(tmp_path):
    one, two = tmp_path / "one.pt", tmp_path / "two.pt"
    worker = str(HERE / "ddp_worker.py")
    r = subprocess.run([sys.executable, worker, str(one), "32", "64"], capture_output=True, text=True, env=_env())
    assert r.returncode == 0, r.stderr[-2000:]
    r = subprocess.run([*TORCHRUN, "--nproc_per_node", "2", "--master_port", str(_port()), worker, str(two), "32", "64"],
                       capture_output=True, text=True, env=_env(), timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    a, b = torch.load(one, weights_only=True), torch.load(two, weights_only=True)
    assert a["plan"] == (32, 2, pytest.approx(5e-4)) and b["plan"] == (16, 2, pytest.approx(5e-4))
    assert a["wd_group0"] == pytest.approx(b["wd_group0"])
    for pa, pb in zip(a["params"], b["params"]):
        assert torch.allclose(pa, pb, rtol=1e-5, atol=1e-6)
    torch.manual_seed(0)  # and the step did move the weights

    init = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(144, 2))
    assert any(not torch.allclose(p, q) for p, q in zip(a["params"], init.parameters()))


def test_ddp_two_processes_on_cpu(tiny_data, tmp_path):
    cmd = [*TORCHRUN, "--nproc_per_node", "2", "--master_port", str(_port()),
           *_train_cmd(tiny_data, tmp_path, "ddp", 1, "--batch", "8")[1:]]
    r = subprocess.run(cmd, capture_output=True, text=True, env=_env(), timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("epoch 1: mAP50") == 1  # rank 0 alone logs
    assert "batch 8 (x8 accumulation)" in r.stdout  # the total batch: 64 / 8, as on one process
    runs = list(tmp_path.glob("ddp*"))
    assert len(runs) == 1 and sorted(p.name for p in (runs[0] / "weights").iterdir()) == ["best.pt", "last.pt"]
    groups = load_checkpoint(runs[0] / "weights" / "last.pt")["optimizer"]["param_groups"]
    assert groups[0]["weight_decay"] == pytest.approx(batch_plan(8, 1, 64, 5e-4)[2])


def test_two_nodes_on_localhost(tiny_data, tmp_path):
    """Two torchrun 'nodes' (one process each) meeting through c10d rendezvous: one run folder, one
    log, and the two ranks trained on disjoint halves of the data."""
    port, shards = _port(), tmp_path / "shards"
    shards.mkdir()
    cmd = [*TORCHRUN, "--nnodes", "2", "--nproc_per_node", "1", "--rdzv-backend", "c10d",
           "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "test2nodes",
           *_train_cmd(tiny_data, tmp_path, "nodes", 1, "--batch", "8", "--callbacks", "shard_recorder:ShardRecorder")[1:]]
    env = _env(SHARD_DIR=str(shards), PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    procs = [subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    outs = [p.communicate(timeout=600) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err[-3000:]
    assert sum(o.count("epoch 1: mAP50") for o, _ in outs) == 1
    runs = list(tmp_path.glob("nodes*"))
    assert len(runs) == 1 and (runs[0] / "weights" / "last.pt").is_file() and (runs[0] / "results.csv").is_file()
    seen = {r: [ln.split()[1] for ln in (shards / f"rank{r}.txt").read_text().splitlines()] for r in (0, 1)}
    assert len(seen[0]) == len(seen[1]) == 12
    assert not set(seen[0]) & set(seen[1]) and len(set(seen[0]) | set(seen[1])) == 24
