"""Statistics over seeds: mean, sample standard deviation, Student-t 95 % interval, paired differences.

Pure Python (no SciPy): the t quantiles for small samples are tabulated below.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

# two-sided 95 % Student-t quantiles t_{0.975, df}, df = 1..30
_T975 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def t975(df: int) -> float:
    """Two-sided 95 % Student-t quantile for ``df`` degrees of freedom (normal 1.96 beyond 30)."""
    if df < 1:
        return float("nan")
    return _T975[df - 1] if df <= len(_T975) else 1.96


@dataclass
class Summary:
    n: int
    mean: float
    std: float  # sample standard deviation (n - 1); nan for n < 2
    lo: float  # 95 % interval of the mean (t distribution); nan for n < 2
    hi: float

    def fmt(self, digits: int = 4) -> str:
        if self.n == 0:
            return "–"
        if self.n == 1:
            return f"{self.mean:.{digits}f} (1 seed)"
        return f"{self.mean:.{digits}f} ± {self.std:.{digits}f} [{self.lo:.{digits}f}, {self.hi:.{digits}f}]"


def summarize(values: list[float]) -> Summary:
    """Mean, sample std and 95 % t interval of the mean of ``values`` (NaNs left out)."""
    v = [float(x) for x in values if x is not None and not math.isnan(float(x))]
    n = len(v)
    if n == 0:
        return Summary(0, float("nan"), float("nan"), float("nan"), float("nan"))
    mean = sum(v) / n
    if n == 1:
        return Summary(1, mean, float("nan"), float("nan"), float("nan"))
    std = math.sqrt(sum((x - mean) ** 2 for x in v) / (n - 1))
    half = t975(n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


@dataclass
class Paired:
    n: int
    delta: Summary  # of the per-seed differences candidate - reference
    wins: int  # seeds where the candidate is higher

    def fmt(self, digits: int = 4) -> str:
        if self.n == 0:
            return "–"
        d = self.delta
        sign = f"{d.mean:+.{digits}f}"
        if self.n == 1:
            return f"{sign} (1 seed)"
        return f"{sign} [{d.lo:+.{digits}f}, {d.hi:+.{digits}f}], higher in {self.wins}/{self.n} seeds"


def paired(candidate: dict[int, float], reference: dict[int, float]) -> Paired:
    """Paired comparison over the seeds both have: per-seed differences ``candidate - reference``."""
    seeds = sorted(set(candidate) & set(reference))
    d = [candidate[s] - reference[s] for s in seeds
         if not (math.isnan(candidate[s]) or math.isnan(reference[s]))]
    return Paired(len(d), summarize(d), sum(x > 0 for x in d))
