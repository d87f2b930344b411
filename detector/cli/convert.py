"""Convert an Ultralytics YOLOv8, YOLO11 or YOLO26 detection checkpoint into one of ours, without
ultralytics installed and without running code from the file (a restricted unpickler rebuilds tensors only).

  detector-convert --weights yolov8n.pt --out weights/yolov8n_base.pt     # YOLOv8's graph, cfg/yolo_base.yaml
  detector-convert --weights yolo11n.pt --out weights/yolo11n_base.pt     # cfg/yolo11_base.yaml
  detector-convert --weights yolo26n.pt --out weights/yolo26n_base.pt     # cfg/yolo26_base.yaml (NMS-free)
  detector-convert --weights yolov8n.pt --cfg yolo_ca_bifpn.yaml --out weights/yolov8n_ca_bifpn.pt
Without --cfg (or with the file's own graph) the converted model's box and class outputs equal Ultralytics'
(the density branch starts fresh). With another cfg, the weights go in layer by layer where they fit
(backbone, and what else matches) and the rest starts fresh: a pretrained start for fine-tuning.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from detector.cli import run_job


def _convert(a) -> None:
    from detector.config import find_config
    from detector.checkpoint import save_checkpoint
    from detector.checkpoint.ultralytics import convert_ultralytics
    from detector.train.transfer import build_from_weights

    ck = convert_ultralytics(a.weights)
    own = ck.pop("graph")
    other_graph = bool(a.cfg) and find_config(a.cfg)[0].resolve() != find_config(own)[0].resolve()
    if other_graph or (a.scale and a.scale != ck["model_cfg"].get("scale")):
        cfg = a.cfg or own  # the same steps as training's --weights: scale, class branch, layers, class rows
        model, lines = build_from_weights(cfg, a.scale, list(ck["names"]), ck, a.weights)
        print("\n".join(lines))
        ck.update(model=model.state_dict(), model_cfg=model.yaml,
                  note=f"{cfg} initialised from the Ultralytics checkpoint {a.weights} where layers fit")
    out = Path(a.out) if a.out else Path(a.weights).with_name(Path(a.weights).stem + f"_{Path(a.cfg or own).stem}.pt")
    if out.exists() and not a.exist_ok:
        raise ValueError(f"{out} exists; pass --exist-ok to overwrite it")
    save_checkpoint(out, ck)
    print(f"{ck['note']}\nwrote {out}: train with --weights {out}, or val/detect it")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="an Ultralytics YOLOv8 / YOLO11 / YOLO26 detection .pt")
    ap.add_argument("--cfg", default=None, help="our model YAML to fill (default: the file's own graph: "
                    "yolo_base.yaml, yolo11_base.yaml or yolo26_base.yaml)")
    ap.add_argument("--scale", default=None, help="scale of --cfg (default: the checkpoint's)")
    ap.add_argument("--out", default=None, help="output checkpoint (default: beside --weights)")
    ap.add_argument("--exist-ok", action="store_true")
    a = ap.parse_args(argv)
    return run_job(lambda: _convert(a), "nothing written")


if __name__ == "__main__":
    sys.exit(main())
