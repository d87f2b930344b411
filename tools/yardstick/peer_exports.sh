#!/usr/bin/env bash
# Peers' exports for the deployment table (docs/results/benchmarks.md, issue 27), run in the yardstick environment
# (a separate venv with ultralytics, openvino, nncf; never a dependency of this package):
#   tools/yardstick/peer_exports.sh /tmp/yardstick/bin/yolo PEER_RUN_DIR DATA_YAML OUT_DIR [IMG]
# PEER_RUN_DIR: a peer's run from tools/ablate.py --peers (its train/weights/last.pt); DATA_YAML: the
# Ultralytics data.yaml the ablation wrote for it. Writes OUT_DIR/<name>{.onnx,_openvino_model,
# _int8_openvino_model} and OUT_DIR/val_<variant>/predictions.json (conf 0.001, IoU 0.7), to be scored with
#   python tools/val.py --pred OUT_DIR/val_<variant>/predictions.json --data cfg/data/<task>.yaml
# and timed with  python tools/benchmark.py deploy ... --raw NAME=OUT_DIR/<export>
set -euo pipefail
YOLO=$1; RUN=$2; DATA=$3; OUT=$4; IMG=${5:-320}
name=$(basename "$RUN"); name=${name%-s*}
mkdir -p "$OUT"
cp "$RUN/train/weights/last.pt" "$OUT/$name.pt"
cd "$OUT"
"$YOLO" export model="$name.pt" format=onnx imgsz="$IMG"
"$YOLO" export model="$name.pt" format=openvino imgsz="$IMG"
"$YOLO" export model="$name.pt" format=openvino int8=True data="$DATA" imgsz="$IMG"
for v in "$name.onnx" "${name}_openvino_model" "${name}_int8_openvino_model"; do
  "$YOLO" detect val model="$v" data="$DATA" imgsz="$IMG" batch=1 conf=0.001 iou=0.7 save_json=True plots=False \
    device=cpu project="$OUT" name="val_${v%.onnx}" exist_ok=True
done
