"""Pure tensor operations: boxes (boxes.py), decoding of raw head outputs (decode.py), NMS (nms/), the tile
grid of sliced inference and sliced training data (tiles.py)."""
