"""Pure tensor operations: boxes (boxes.py), decoding of raw head outputs (decode.py), NMS (nms/)."""
