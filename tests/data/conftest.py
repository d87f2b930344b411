import cv2
import numpy as np
import pytest

from detector.data.records import ImageRecord


@pytest.fixture
def broken_then_good(tmp_path):
    """Two 32 px records: image 0 is a truncated JPEG, image 1 a readable black PNG."""
    good = tmp_path / "g.png"
    cv2.imwrite(str(good), np.zeros((32, 32, 3), np.uint8))
    bad = tmp_path / "b.jpg"
    bad.write_bytes(b"\xff\xd8\xffbroken")
    return [ImageRecord(str(bad), 0, 32, 32), ImageRecord(str(good), 1, 32, 32)]
