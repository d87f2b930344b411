"""Pure tensor operations: box decoding (and, later, box ops and NMS)."""
