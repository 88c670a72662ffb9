"""Confidence intervals and paired tests for the findings' rates and means.

Every interval here is two-sided at level ``confidence`` (default 0.95). All resampling uses a
seeded ``numpy.random.Generator`` (``seed`` argument), so a result is reproducible bit for bit.

- ``wilson_interval``: Wilson score interval for a binomial proportion (Wilson 1927),
      centre = (p + z^2/2n) / (1 + z^2/n),
      half   = z * sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n),
  which keeps good coverage near 0 and 1, where accuracies of this project live.
- ``bootstrap_ci``: percentile bootstrap (Efron & Tibshirani 1993, ch. 13) of the mean of a
  sample (a proportion when the sample is 0/1): resample n values with replacement ``n_boot``
  times, take the (1-confidence)/2 and (1+confidence)/2 quantiles of the resampled means.
- ``cluster_bootstrap_mean_ci``: the same, resampling whole clusters (items) and taking the
  pooled mean sum(values)/count(values) of the drawn clusters; used where one item contributes
  several correlated units (prompt tokens). Its parts (``cluster_totals``,
  ``pooled_mean_replicates``, ``percentile_interval``) serve ratio statistics elsewhere.
- ``paired_bootstrap_diff_ci``: percentile bootstrap of mean(a) - mean(b) resampling *pairs*
  (a_i, b_i) together, so the pairing (same items under two treatments) is kept.
- ``mcnemar_test``: McNemar's test (McNemar 1947) for two paired binary outcomes. Only the
  discordant pairs carry information: b = #(a=1, b=0), c = #(a=0, b=1). Under H0 (equal rates)
  b ~ Binomial(b+c, 1/2). Exact two-sided p = min(1, 2 * P[X <= min(b, c)]); the mid-p variant
  (Fagerland, Lydersen & Laake 2013, recommended for small samples) subtracts P[X = min(b, c)]
  (i.e. p_mid = p_exact - pmf(min(b,c))), which is less conservative but keeps the size close
  to nominal. With b + c = 0 there is no evidence either way: p = 1.
- ``summarize_binary``: {rate, n, k, ci_low, ci_high} of a boolean series with a chosen CI.
- ``cluster_mean_summary``: {value, ci_low, ci_high, n, n_clusters, sd_cluster, mde} of values
  grouped in clusters (e.g. paired differences of one question under several methods): the pooled
  mean, its cluster-bootstrap CI, and the minimum detectable effect of ``minimum_detectable_effect``
  from the spread of the cluster means.
- ``minimum_detectable_effect``: the smallest true mean a two-sided level-alpha test on n
  independent units detects with probability ``power`` (normal approximation, Cohen 1988):
      MDE = (z_{1-alpha/2} + z_{power}) * sd / sqrt(n)      (2.80 * sd / sqrt(n) at 0.05, 0.8).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binom, norm

from unpact.errors import check_choice

CI_METHODS = ("wilson", "bootstrap")
DEFAULT_N_BOOT = 2000


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


def _as_float_array(values: Any) -> np.ndarray:
    arr = np.asarray(values, dtype=float).ravel()
    if np.isnan(arr).any():
        raise ValueError("values contain NaN; drop or fill them before computing an interval")
    return arr


def percentile_interval(replicates: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The (1-confidence)/2 and (1+confidence)/2 quantiles of bootstrap ``replicates``."""
    tail = (1 - confidence) / 2 * 100
    low, high = np.percentile(replicates, [tail, 100 - tail])
    return (float(low), float(high))


def bootstrap_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of ``values`` (a proportion for 0/1 values).

    ``(nan, nan)`` for an empty sample. Vectorised: one ``(n_boot, n)`` index draw.
    """
    arr = _as_float_array(values)
    if arr.size == 0:
        return (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, arr.size, size=(n_boot, arr.size))
    return percentile_interval(arr[idx].mean(axis=1), confidence)


def cluster_totals(
    values: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Any] | np.ndarray | pd.Series,
    universe: pd.Index | None = None,
) -> tuple[np.ndarray, np.ndarray, pd.Index]:
    """Per-cluster sums s_j and counts m_j of ``values`` over ``universe`` (default: the clusters seen).

    Clusters of ``universe`` without values get s_j = m_j = 0.
    """
    arr = _as_float_array(values)
    labels = pd.Series(clusters).to_numpy()
    if len(labels) != arr.size:
        raise ValueError(f"{arr.size} values but {len(labels)} cluster labels")
    if universe is None:  # the clusters in order of first appearance (a missing label is a cluster too)
        codes, uniques = pd.factorize(labels, use_na_sentinel=False)
        universe = pd.Index(uniques)
    else:
        codes = universe.get_indexer(pd.Index(labels))
    if (codes < 0).any():
        raise ValueError("some cluster labels are not in the universe")
    sums = np.bincount(codes, weights=arr, minlength=len(universe))
    counts = np.bincount(codes, minlength=len(universe)).astype(float)
    return sums, counts, universe


def pooled_mean_replicates(sums: np.ndarray, counts: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Pooled mean sum(s_drawn) / sum(m_drawn) per row of cluster indices ``draws`` (NaN if no value drawn)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return sums[draws].sum(axis=1) / counts[draws].sum(axis=1)


def cluster_bootstrap_mean_ci(
    values: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Any] | np.ndarray | pd.Series,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap CI of the pooled mean of ``values``, resampling whole ``clusters``.

    With per-cluster sums s_j and counts m_j, a replicate draws J clusters with replacement and
    computes sum(s_drawn) / sum(m_drawn) (every cluster has m_j >= 1, so this is defined).
    """
    sums, counts, _ = cluster_totals(values, clusters)
    return _cluster_bootstrap_interval(sums, counts, confidence, n_boot, seed)


def _cluster_bootstrap_interval(sums: np.ndarray, counts: np.ndarray, confidence: float, n_boot: int,
                                seed: int) -> tuple[float, float]:
    """``cluster_bootstrap_mean_ci`` from the per-cluster totals (``cluster_totals``) of its sample."""
    if len(sums) == 0:
        return (math.nan, math.nan)
    draws = np.random.default_rng(seed).integers(0, len(sums), size=(n_boot, len(sums)))
    return percentile_interval(pooled_mean_replicates(sums, counts, draws), confidence)


def paired_bootstrap_diff_ci(
    a: Sequence[float] | np.ndarray | pd.Series,
    b: Sequence[float] | np.ndarray | pd.Series,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> tuple[float, float, float]:
    """``(mean(a) - mean(b), ci_low, ci_high)``, resampling the pairs (a_i, b_i) together."""
    x, y = _as_float_array(a), _as_float_array(b)
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    if x.size == 0:
        return (math.nan, math.nan, math.nan)
    diff = x - y
    low, high = bootstrap_ci(diff, confidence, n_boot, seed)
    return (float(diff.mean()), low, high)


@dataclass(frozen=True)
class McNemarResult:
    """McNemar test of paired binary outcomes a, b: b = #(a=1, b=0), c = #(a=0, b=1)."""

    b: int
    c: int
    n: int
    p_value: float
    method: str


def mcnemar_test(
    a: Sequence[bool] | np.ndarray | pd.Series,
    b: Sequence[bool] | np.ndarray | pd.Series,
    mid_p: bool = False,
) -> McNemarResult:
    """Exact (binomial) McNemar test of ``a`` vs ``b`` on the same items; ``mid_p`` for the mid-p variant.

    Example: b = 5, c = 0 gives the exact p = 2 * 0.5**5 = 0.0625.
    """
    x = np.asarray(a, dtype=bool).ravel()
    y = np.asarray(b, dtype=bool).ravel()
    if x.size != y.size:
        raise ValueError(f"paired samples differ in length: {x.size} vs {y.size}")
    return mcnemar_from_counts(int((x & ~y).sum()), int((~x & y).sum()), n=int(x.size), mid_p=mid_p)


def mcnemar_from_counts(b: int, c: int, n: int | None = None, mid_p: bool = False) -> McNemarResult:
    """McNemar p-value from the discordant counts ``b`` and ``c`` (``n`` = all pairs, for reporting)."""
    if b < 0 or c < 0:
        raise ValueError(f"discordant counts must be >= 0, got b={b}, c={c}")
    discordant = b + c
    method = "exact mid-p" if mid_p else "exact"
    if discordant == 0:
        return McNemarResult(b, c, n if n is not None else 0, 1.0, method)
    low = min(b, c)
    p = 2 * float(binom.cdf(low, discordant, 0.5))
    if mid_p:
        p -= float(binom.pmf(low, discordant, 0.5))
    return McNemarResult(b, c, n if n is not None else discordant, min(1.0, p), method)


def summarize_binary(
    values: pd.Series | Sequence[bool] | np.ndarray,
    ci_method: str = "wilson",
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, float | int]:
    """``{rate, n, k, ci_low, ci_high}`` of a boolean sample; ``ci_method`` in ``CI_METHODS``.

    ``rate`` = k / n (NaN when n = 0), the interval from ``wilson_interval`` or ``bootstrap_ci``.
    """
    check_choice("CI method", ci_method, CI_METHODS)
    arr = np.asarray(values, dtype=bool).ravel()
    n, k = int(arr.size), int(arr.sum())
    if ci_method == "wilson":
        low, high = wilson_interval(k, n, confidence)
    else:
        low, high = bootstrap_ci(arr, confidence, n_boot, seed)
    return {"rate": k / n if n else math.nan, "n": n, "k": k, "ci_low": low, "ci_high": high}


def minimum_detectable_effect(sd: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """MDE = (z_{1-alpha/2} + z_power) * sd / sqrt(n) (module docstring); NaN when n < 2 or sd is NaN."""
    if n < 2 or not math.isfinite(sd):
        return math.nan
    return float((norm.ppf(1 - alpha / 2) + norm.ppf(power)) * sd / math.sqrt(n))


def cluster_mean_summary(
    values: Sequence[float] | np.ndarray | pd.Series,
    clusters: Sequence[Any] | np.ndarray | pd.Series,
    confidence: float = 0.95,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = 0,
) -> dict[str, float | int]:
    """``{value, ci_low, ci_high, n, n_clusters, sd_cluster, mde}`` of ``values`` in ``clusters``.

    value = pooled mean sum(values)/n; CI = ``cluster_bootstrap_mean_ci`` (whole clusters
    resampled); sd_cluster = sample sd of the per-cluster means; mde =
    ``minimum_detectable_effect(sd_cluster, n_clusters, 1 - confidence)``. NaN where undefined.
    """
    arr = _as_float_array(values)
    if arr.size == 0:
        return {"value": math.nan, "ci_low": math.nan, "ci_high": math.nan, "n": 0, "n_clusters": 0,
                "sd_cluster": math.nan, "mde": math.nan}
    sums, counts, universe = cluster_totals(arr, clusters)
    means = sums / counts
    sd = float(np.std(means, ddof=1)) if len(universe) > 1 else math.nan
    low, high = _cluster_bootstrap_interval(sums, counts, confidence, n_boot, seed)
    return {"value": float(arr.mean()), "ci_low": low, "ci_high": high, "n": int(arr.size),
            "n_clusters": int(len(universe)), "sd_cluster": sd,
            "mde": minimum_detectable_effect(sd, len(universe), 1 - confidence)}
