"""Statistics over seeds: hand-computed values."""
import math

from detector.ablation.stats import paired, summarize, t975


def test_summarize_mean_std_interval():
    s = summarize([1.0, 2.0, 3.0])
    assert s.n == 3 and s.mean == 2.0 and math.isclose(s.std, 1.0)
    half = 4.303 / math.sqrt(3)  # t_{0.975, 2} * std / sqrt(n)
    assert math.isclose(s.lo, 2.0 - half) and math.isclose(s.hi, 2.0 + half)
    assert s.fmt(2) == f"2.00 ± 1.00 [{2 - half:.2f}, {2 + half:.2f}]"


def test_summarize_edge_cases():
    assert summarize([]).n == 0 and summarize([]).fmt() == "–"
    one = summarize([0.5, float("nan")])  # NaN left out
    assert one.n == 1 and one.mean == 0.5 and math.isnan(one.std) and "1 seed" in one.fmt()
    assert t975(1) == 12.706 and t975(100) == 1.96 and math.isnan(t975(0))


def test_paired_uses_common_seeds_only():
    cand = {0: 0.40, 1: 0.30, 2: 0.50, 7: 9.0}
    ref = {0: 0.35, 1: 0.32, 2: 0.45}
    p = paired(cand, ref)
    assert p.n == 3 and p.wins == 2
    assert math.isclose(p.delta.mean, (0.05 - 0.02 + 0.05) / 3)
    assert "higher in 2/3 seeds" in p.fmt()
