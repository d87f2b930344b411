"""Peer runs: Ultralytics models trained on the same data with the same epochs, image size, batch
and seeds, driven through the ``yolo`` command line of a separate ("yardstick") environment and
scored by our evaluator from their ``predictions.json``.

Nothing here imports ultralytics: it is a separate program (AGPL) we only run. Its recipe is its COCO
one, ``optimizer=SGD lr0=0.01`` (its ``optimizer=auto`` picks AdamW with a tiny learning rate for short
runs and learns almost nothing from scratch), except for families whose recipe names another optimizer
(:data:`PEER_OPTIMIZER`: YOLO26 trains with MuSGD at lr0 0.01). With an IoU sweep (``nms_ious``) the
final weights are validated once per threshold (its own NMS; YOLO26's end-to-end head has none, so its
figures repeat). The dataset is handed to it as a YOLO-txt copy of our
split (images linked, not copied; crowd regions, which YOLO txt cannot express, are left out of its
training labels; scoring uses our ground truth with them as ignore regions, as for our runs).
"""
from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import yaml

from ..eval.val_job import ValConfig, evaluate
from ..ops.nms import IOU_THRES, VAL_CONF
from ..utils.io import write_json, write_text
from .keys import EVAL_KEYS

ENV_VAR = "DETECTOR_YOLO_CLI"
PEER_OPTIMIZER = {"yolo26": "MuSGD"}  # model-name prefix -> the optimizer of that family's recipe (else SGD)


def peer_optimizer(model: str) -> str:
    return next((o for prefix, o in PEER_OPTIMIZER.items() if model.startswith(prefix)), "SGD")


def find_yolo_cli(explicit: str | None = None) -> str | None:
    """The Ultralytics CLI: ``explicit`` (a path), else $DETECTOR_YOLO_CLI, else ``yolo`` on PATH."""
    for c in (explicit, os.environ.get(ENV_VAR)):
        if c:
            return c if Path(c).is_file() and os.access(c, os.X_OK) else None
    return shutil.which("yolo")


def write_yolo_copy(data_cfg, out: Path) -> Path:
    """A YOLO-txt view of the data's train and val splits under ``out`` (images symlinked, labels written
    as ``class cx cy w h`` normalized); returns the data YAML to hand to Ultralytics."""
    from ..data import index_split
    from ..data.image_io import read_image

    names = None
    for split in ("train", "val"):
        idx = index_split(data_cfg, split)
        names = idx.names
        img_dir, lbl_dir = out / "images" / split, out / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        for r in idx.records:
            src = Path(r.path).resolve()
            dst = img_dir / src.name
            if not dst.exists():
                dst.symlink_to(src)
            if r.normalized:
                boxes = r.boxes
            else:
                h, w = (r.height, r.width) if r.height else read_image(r.path).shape[:2]
                boxes = r.boxes / [w, h, w, h]
            lines = [f"{int(c)} {(b[0] + b[2]) / 2:.6f} {(b[1] + b[3]) / 2:.6f} {b[2] - b[0]:.6f} {b[3] - b[1]:.6f}"
                     for b, c in zip(boxes, r.classes)]
            write_text(lbl_dir / f"{src.stem}.txt", "\n".join(lines) + ("\n" if lines else ""))
    y = out / "data.yaml"
    write_text(y, yaml.safe_dump({"path": str(out.resolve()), "train": "images/train", "val": "images/val",
                                  "names": {i: n for i, n in enumerate(names)}}, sort_keys=False))
    return y


def cli_env(config_dir: Path) -> dict:
    """The environment the CLI runs in: its settings kept under ``config_dir``, offline (no downloads)."""
    return {**os.environ, "YOLO_CONFIG_DIR": str(Path(config_dir).resolve()), "YOLO_OFFLINE": "1"}


def run_cli(cli: str, args, log_file: Path, env: dict, cwd: Path) -> None:
    """Run ``cli *args`` in ``cwd``, its output appended to ``log_file``; a non-zero exit raises with the
    log's last lines."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with open(log_file, "a", encoding="utf-8") as f:
        f.write("$ " + " ".join([cli, *args]) + "\n")
        f.flush()
        p = subprocess.run([cli, *args], stdout=f, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                           stdin=subprocess.DEVNULL)
    if p.returncode != 0:
        tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-3:]
        raise RuntimeError(f"'{cli} {' '.join(args[:2])}' exited {p.returncode} (log {log_file}): " + " | ".join(tail))


def export_torchscript(cli: str, model: str, img: int, out_dir: Path) -> Path:
    """``model`` (e.g. 'yolo11n') built from its YAML by the Ultralytics CLI (random weights, 80 classes as
    published) and exported as TorchScript at ``img`` px, batch 1 (its export fuses BatchNorm and keeps its
    box decoding in the graph): the peer's side of a side-by-side latency measurement. Cached in
    ``out_dir/<img>/``; returns the file."""
    d = Path(out_dir) / str(img)
    f = d / f"{model}.torchscript"
    if not f.is_file():
        d.mkdir(parents=True, exist_ok=True)
        run_cli(cli, ("export", f"model={model}.yaml", "format=torchscript", f"imgsz={img}", "batch=1", "device=cpu"),
                d / f"{model}.log", cli_env(Path(out_dir) / "config"), d)
        if not f.is_file():
            raise RuntimeError(f"'{cli} export model={model}.yaml' wrote no {f} (log {d / (model + '.log')})")
    return f


class PeerRunner:
    def __init__(self, cli: str, root: Path, recipe, data_cfg, log=print, nms_ious: list[float] | None = None):
        self.cli, self.root, self.recipe, self.log = cli, Path(root), recipe, log
        self.nms_ious = list(nms_ious or [])
        self.data_yaml = write_yolo_copy(data_cfg, self.root / "data")
        self.env = cli_env(self.root / "config")

    def run_dir(self, model: str, seed: int) -> Path:
        return peer_run_dir(self.root, model, seed)

    def _cmd(self, *args: str, log_file: Path) -> None:
        run_cli(self.cli, args, log_file, self.env, self.root)

    def run(self, model: str, seed: int, val_idx) -> tuple[dict, float]:
        """Train (or resume) ``model`` (e.g. 'yolov8n') with ``seed``, validate its final weights with
        save_json, score the json with our evaluator. Returns ({metric: value}, train seconds); with an IoU
        sweep, ({iou: {metric: value}}, train seconds)."""
        r, d = self.recipe, self.run_dir(model, seed)
        last = d / "train" / "weights" / "last.pt"
        log = d / "log.txt"
        t0 = time.time()
        if not self._trained(d):
            resumed = False
            if last.is_file():
                try:
                    self._cmd("detect", "train", f"resume={last.resolve()}", log_file=log)
                    resumed = True
                except RuntimeError as e:  # e.g. its resume path tries a download; offline: start the run again
                    self.log(f"{model} seed {seed}: resume failed ({str(e)[-120:]}); training it again from scratch")
                    shutil.rmtree(d / "train", ignore_errors=True)
            if not resumed:
                self._cmd("detect", "train", *self._start(model), f"data={self.data_yaml.resolve()}",
                          f"epochs={r.epochs}", f"imgsz={r.img}", f"batch={r.batch}", f"seed={seed}",
                          "deterministic=True", f"device={r.device or 'cpu'}",
                          f"workers={r.workers}", f"project={d.resolve()}", "name=train", "exist_ok=True",
                          "val=False", "plots=False", "amp=False", log_file=log)
        t_train = time.time() - t0
        if self.nms_ious:
            return {t: self._validate(model, seed, d, val_idx, t, f"val_iou{t:g}") for t in self.nms_ious}, t_train
        return self._validate(model, seed, d, val_idx, IOU_THRES, "val"), t_train

    def _start(self, model: str) -> tuple[str, ...]:
        """From scratch: its YAML with its COCO recipe's optimizer. Fine-tuning (``recipe.peer_weights``): the
        checkpoint, with the optimizer users get from ``yolo train model=X.pt`` (``auto``)."""
        weights = (getattr(self.recipe, "peer_weights", None) or {}).get(model)
        if weights:
            return f"model={Path(weights).resolve()}", "pretrained=True"
        return f"model={model}.yaml", "pretrained=False", f"optimizer={peer_optimizer(model)}", "lr0=0.01"

    def _validate(self, model: str, seed: int, d: Path, val_idx, iou: float, name: str) -> dict:
        """Its own val (NMS at ``iou``) with save_json, scored by our evaluator (the val.py --pred path)."""
        r, last = self.recipe, d / "train" / "weights" / "last.pt"
        self._cmd("detect", "val", f"model={last.resolve()}", f"data={self.data_yaml.resolve()}", f"imgsz={r.img}",
                  f"batch={r.batch}", f"conf={VAL_CONF}", f"iou={iou}", "save_json=True", "plots=False",
                  f"device={r.device or 'cpu'}", f"project={d.resolve()}", f"name={name}", "exist_ok=True",
                  log_file=d / "log.txt")
        pred = d / name / "predictions.json"
        if not pred.is_file():
            raise RuntimeError(f"{model}: Ultralytics val wrote no {pred}")
        ours = d / ("predictions_ours.json" if name == "val" else f"predictions_ours_iou{iou:g}.json")
        write_json(ours, self._to_our_categories(pred, val_idx))
        m = evaluate(ValConfig(data=r.data, pred=str(ours), plots=False), d / ("scored" if name == "val" else
                                                                              f"scored_iou{iou:g}"))
        if m.get("note"):
            self.log(f"{model} seed {seed}: {m['note']}")
        return {k: m.get(k) for k in EVAL_KEYS}

    @staticmethod
    def _to_our_categories(pred: Path, idx) -> list[dict]:
        """Ultralytics writes category id = class + 1 for non-COCO data: map to the split's ids."""
        rows = json.loads(pred.read_text(encoding="utf-8"))
        for p in rows:
            c = int(p["category_id"]) - 1
            p["category_id"] = idx.cat_ids[c] if 0 <= c < len(idx.cat_ids) else -1
        return rows

    def _trained(self, d: Path) -> bool:
        res = d / "train" / "results.csv"
        if not res.is_file():
            return False
        with open(res, newline="", encoding="utf-8") as f:
            return sum(1 for _ in csv.DictReader(f)) >= self.recipe.epochs

    def costs(self, model: str) -> dict:
        return peer_costs(self.root, model)


def peer_run_dir(root: Path, model: str, seed: int) -> Path:
    return Path(root) / "runs" / f"{model}-s{seed}"


def peer_costs(root: Path, model: str) -> dict:
    """Params and GFLOPs as Ultralytics printed them in a run's log (at the task's class count)."""
    for log in sorted(Path(root).glob(f"runs/{model}-s*/log.txt")):
        m = re.search(r"summary[^\n]*?([\d,]+) parameters[^\n]*?([\d.]+) GFLOPs",
                      log.read_text(encoding="utf-8", errors="replace"))
        if m:
            return {"params_M": int(m.group(1).replace(",", "")) / 1e6, "gflops640": float(m.group(2)),
                    "note": "as printed by Ultralytics for the task's classes"}
    return {}
