"""Streamed result files: written piece by piece, moved onto the name only when complete."""
import json
import math

import pytest

from detector.utils.io import JsonArrayWriter, StreamedWrite


def test_json_array_writer_streams_rows_and_appears_only_when_closed(tmp_path):
    path = tmp_path / "out" / "predictions.json"
    w = JsonArrayWriter(path)
    rows = [{"image_id": i, "bbox": [i, 0.5, 2, 3], "score": 1 / (i + 1)} for i in range(1000)]
    for r in rows:
        w.append(r)
    assert not path.exists() and w.count == 1000  # still only the temp file beside it
    assert w.close() == path and json.loads(path.read_text()) == rows
    assert w.close() == path  # closing twice is harmless
    assert [p.name for p in path.parent.iterdir()] == ["predictions.json"]
    empty = JsonArrayWriter(tmp_path / "empty.json")
    assert json.loads(empty.close().read_text()) == []


def test_discarded_stream_leaves_the_old_file(tmp_path):
    path = tmp_path / "tracks.txt"
    path.write_text("old\n")
    w = StreamedWrite(path)
    w.write("1,1,0,0,1,1,0.9,-1,-1,-1\n")
    w.discard()
    assert path.read_text() == "old\n" and [p.name for p in tmp_path.iterdir()] == ["tracks.txt"]


def test_rows_are_encoded_as_json_dumps_does(tmp_path):
    w = JsonArrayWriter(tmp_path / "x.json")
    w.append({"score": math.inf})  # json.dumps writes Infinity (not strict JSON), as the in-memory path did
    assert "Infinity" in w.close().read_text()
    with pytest.raises(TypeError):
        JsonArrayWriter(tmp_path / "y.json").append({"bad": object()})
