"""Confidence intervals and tests (more are added beside these).

``wilson_interval``: the Wilson score interval for a binomial proportion (Wilson 1927),
    centre = (p + z^2/2n) / (1 + z^2/n),
    half   = z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n),
which keeps good coverage near 0 and 1, where accuracies of this project live.
"""
from __future__ import annotations

import math

from scipy.stats import norm


def wilson_interval(successes: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval for ``successes`` out of ``n`` (``(nan, nan)`` when ``n == 0``)."""
    if n == 0:
        return (math.nan, math.nan)
    z = float(norm.ppf(0.5 + confidence / 2))
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))
