"""Tracking metrics through TrackEval on hand-made ground truth: a perfect result scores 1, an id swap costs
IDF1 and counts switches, a box on a hidden person (distractor) is neither a hit nor a false positive;
tools/val_track.py's errors."""
import pytest

from detector.eval.tracking import format_table, score_tracks

from ..tools.conftest import tool

pytest.importorskip("trackeval", reason="tracking metrics need TrackEval (the 'track' extra)")


def _gt(root, rows, frames=20):
    seq = root / "gt" / "SEQ-1"
    (seq / "gt").mkdir(parents=True)
    (seq / "gt" / "gt.txt").write_text("\n".join(",".join(map(str, r)) for r in rows) + "\n")
    (seq / "seqinfo.ini").write_text(f"[Sequence]\nname=SEQ-1\nseqLength={frames}\n")
    return root / "gt"


def _two_walkers(frames=20):
    """Two people 100 px apart walking right; a third hidden (class 8) in frames 1-5."""
    rows = []
    for f in range(1, frames + 1):
        rows += [[f, 1, 10 + 3 * f, 20, 30, 60, 1, 1, 1.0], [f, 2, 110 + 3 * f, 20, 30, 60, 1, 1, 1.0]]
        if f <= 5:
            rows.append([f, 3, 200, 100, 30, 60, 1, 8, 0.1])
    return rows


def _pred(root, name, rows):
    d = root / name
    d.mkdir()
    (d / "SEQ-1.txt").write_text("\n".join(f"{f},{i},{x},{y},{w},{h},0.9,-1,-1,-1" for f, i, x, y, w, h in rows) + "\n")
    return d


def test_perfect_swapped_and_ignored(tmp_path):
    gt = _gt(tmp_path, _two_walkers())
    walk = [(f, i, (10 if i == 1 else 110) + 3 * f, 20, 30, 60) for f in range(1, 21) for i in (1, 2)]
    perfect = score_tracks(gt, _pred(tmp_path, "perfect", walk + [(f, 9, 200, 100, 30, 60) for f in range(1, 6)]))
    m = perfect["SEQ-1"]
    assert m["HOTA"] == pytest.approx(1.0) and m["IDF1"] == pytest.approx(1.0) and m["FP"] == 0 and m["IDSW"] == 0
    swapped = [(f, 3 - i if f > 10 else i, x, y, w, h) for f, i, x, y, w, h in walk]
    s = score_tracks(gt, _pred(tmp_path, "swapped", swapped))["SEQ-1"]
    assert s["IDSW"] == 2 and s["IDF1"] == pytest.approx(0.5) and s["MOTA"] < 1.0 and s["DetA"] == pytest.approx(1.0)
    assert s["IDSW_cross"] == 0  # 100 px apart: not a crossing
    half = score_tracks(gt, _pred(tmp_path, "half", [r for r in walk if r[1] == 1]))["SEQ-1"]
    assert half["FN"] == 20 and half["IDF1"] == pytest.approx(2 / 3)
    assert "| SEQ-1 | 100.0 |" in format_table(perfect)


def test_id_switches_in_crossings(tmp_path):
    """Two people walking towards each other cross at frame 10; a tracker that swaps their ids there has two
    switches in a crossing, one that swaps them at frame 3 (far apart) none; totals are TrackEval's."""
    rows = [r for f in range(1, 21) for r in ([f, 1, 10 + 10 * f, 20, 30, 60, 1, 1, 1.0],
                                              [f, 2, 210 - 10 * f, 20, 30, 60, 1, 1, 1.0])]
    gt = _gt(tmp_path, rows)
    walk = [(f, i, x, y, w, h) for f, i, x, y, w, h, *_ in rows]
    for name, at, cross in (("at_crossing", 10, 2), ("apart", 3, 0)):
        swapped = [(f, 3 - i if f > at else i, x, y, w, h) for f, i, x, y, w, h in walk]
        m = score_tracks(gt, _pred(tmp_path, name, swapped))
        assert (m["SEQ-1"]["IDSW"], m["SEQ-1"]["IDSW_cross"]) == (2, cross), name
        assert m["COMBINED_SEQ"]["IDSW_cross"] == cross
    assert score_tracks(gt, _pred(tmp_path, "perfect", walk))["SEQ-1"]["IDSW_cross"] == 0


def test_val_track_tool(tmp_path, capsys):
    gt = _gt(tmp_path, _two_walkers())
    pred = _pred(tmp_path, "p", [(1, 1, 13, 20, 30, 60)])
    val_track = tool("val_track")
    assert val_track.main(["--gt", str(gt), "--pred", str(pred), "--json", str(tmp_path / "s.json")]) == 0
    assert "SEQ-1" in capsys.readouterr().out and (tmp_path / "s.json").is_file()
    assert val_track.main(["--gt", str(gt), "--pred", str(tmp_path / "nothing")]) == 2
    assert "no results for ['SEQ-1']" in capsys.readouterr().err
    assert val_track.main(["--gt", str(tmp_path / "nogt"), "--pred", str(pred)]) == 2
    assert "no ground truth" in capsys.readouterr().err
    assert val_track.main(["--gt", str(gt), "--pred", str(pred), "--seqs", "SEQ-9"]) == 2
