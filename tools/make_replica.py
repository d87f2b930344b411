#!/usr/bin/env python3
"""Build a COCO-size replica (train2017: 118 287 images, val2017: 5 000) from real COCO annotations and
images: symlinked images under new unique names and ids, the official COCO json layout and Ultralytics'
YOLO-txt layout side by side, plus a data YAML for each (detector/data/replica.py).

  python tools/make_replica.py --out /tmp/coco_replica                       # COCO 2017's sizes
  python tools/make_replica.py --out /tmp/small --train-images 1000 --val-images 200
  python tools/make_replica.py --out R --train-source IMG_DIR ANN.json [--train-source ...]

Defaults: train from ../shared/data/coco128, val from ../shared/data/coco_val493 (real COCO images).
"""
import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from detector.data.replica import COCO_SIZES, build_replica  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="folder to write the replica into")
    ap.add_argument("--train-images", type=int, default=COCO_SIZES["train2017"])
    ap.add_argument("--val-images", type=int, default=COCO_SIZES["val2017"])
    ap.add_argument("--train-source", nargs=2, action="append", metavar=("IMAGES", "JSON"),
                    help="images folder and instances json of real COCO data (repeatable)")
    ap.add_argument("--val-source", nargs=2, action="append", metavar=("IMAGES", "JSON"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-yolo", action="store_true", help="skip the YOLO-txt label files")
    a = ap.parse_args(argv)
    train = a.train_source or [(SHARED / "coco128/images/train2017", SHARED / "coco128/annotations/instances_train2017.json")]
    val = a.val_source or [(SHARED / "coco_val493/images/val2017", SHARED / "coco_val493/annotations/instances_val2017.json")]
    t0 = time.perf_counter()
    try:
        made = build_replica(Path(a.out), train, val, {"train2017": a.train_images, "val2017": a.val_images},
                             seed=a.seed, yolo=not a.no_yolo)
    except (OSError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for s in made:
        print(f"{s.name}: {s.images:,} images, {s.annotations:,} annotations, {s.json_path} ({s.json_bytes / 2**20:.0f} MiB)")
    print(f"data YAMLs: {Path(a.out) / 'coco.yaml'} (COCO json layout), {Path(a.out) / 'coco_yolo.yaml'} "
          f"(Ultralytics YOLO-txt layout); {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
