"""Statistics on hand-computed cases and a coverage simulation on a known distribution."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from unpact.errors import UsageError
from unpact.stats import (
    bootstrap_ci,
    cluster_bootstrap_mean_ci,
    cluster_mean_summary,
    cluster_totals,
    mcnemar_from_counts,
    mcnemar_test,
    paired_bootstrap_diff_ci,
    summarize_binary,
    wilson_interval,
)


def test_mcnemar_exact_hand_computed() -> None:
    assert mcnemar_from_counts(5, 0).p_value == pytest.approx(2 * 0.5**5)
    # b=1, c=4: 2 * P[X <= 1], X ~ Bin(5, 1/2) = 2 * (1 + 5) / 32
    assert mcnemar_from_counts(1, 4).p_value == pytest.approx(12 / 32)
    assert mcnemar_from_counts(3, 3).p_value == 1.0  # 2 * 42/64 > 1, capped
    assert mcnemar_from_counts(0, 0).p_value == 1.0


def test_mcnemar_mid_p_hand_computed() -> None:
    assert mcnemar_from_counts(5, 0, mid_p=True).p_value == pytest.approx(2 / 32 - 1 / 32)
    assert mcnemar_from_counts(1, 4, mid_p=True).p_value == pytest.approx(12 / 32 - 5 / 32)


def test_mcnemar_counts_discordant_pairs_from_vectors() -> None:
    result = mcnemar_test([1, 1, 1, 0, 0], [0, 0, 1, 1, 0])
    assert (result.b, result.c, result.n) == (2, 1, 5)
    assert result.p_value == 1.0  # 2 * P[X <= 1], X ~ Bin(3, 1/2) = 2 * 4/8
    with pytest.raises(ValueError):
        mcnemar_test([1, 0], [1])


def _wilson_by_quadratic(k: int, n: int, z: float) -> tuple[float, float]:
    # the interval is the set of p0 with (p - p0)^2 <= z^2 p0 (1 - p0) / n: roots of a quadratic
    p = k / n
    a = 1 + z * z / n
    b = -(2 * p + z * z / n)
    c = p * p
    disc = math.sqrt(b * b - 4 * a * c)
    return ((-b - disc) / (2 * a), (-b + disc) / (2 * a))


@pytest.mark.parametrize("k,n", [(5, 10), (0, 20), (17, 40), (30, 30)])
def test_wilson_matches_score_test_inversion(k: int, n: int) -> None:
    low, high = wilson_interval(k, n)
    exp_low, exp_high = _wilson_by_quadratic(k, n, 1.959963984540054)
    assert low == pytest.approx(max(0.0, exp_low), abs=1e-12)
    assert high == pytest.approx(min(1.0, exp_high), abs=1e-12)


def test_bootstrap_degenerate_and_seeded() -> None:
    assert bootstrap_ci([0.3] * 7) == pytest.approx((0.3, 0.3))
    assert all(math.isnan(v) for v in bootstrap_ci([]))
    data = np.arange(20) % 3
    assert bootstrap_ci(data, seed=4) == bootstrap_ci(data, seed=4)
    low, high = bootstrap_ci(data, n_boot=500)
    assert low < data.mean() < high
    with pytest.raises(ValueError, match="NaN"):
        bootstrap_ci([1.0, float("nan")])


def test_paired_bootstrap_difference() -> None:
    diff, low, high = paired_bootstrap_diff_ci([1, 1, 0, 0], [0, 1, 0, 0])
    assert diff == pytest.approx(0.25)
    assert 0.0 <= low <= high <= 1.0
    assert paired_bootstrap_diff_ci([1, 0, 1], [1, 0, 1]) == (0.0, 0.0, 0.0)


def test_cluster_bootstrap_is_wider_than_unit_bootstrap_for_clustered_data() -> None:
    # 10 items, 10 identical units each: effectively 10 observations, not 100
    item_means = np.random.default_rng(1).normal(size=10)
    values = np.repeat(item_means, 10)
    clusters = np.repeat(np.arange(10), 10)
    c_low, c_high = cluster_bootstrap_mean_ci(values, clusters, n_boot=1000)
    u_low, u_high = bootstrap_ci(values, n_boot=1000)
    assert (c_high - c_low) > 2 * (u_high - u_low)
    # unequal cluster sizes: the point is the pooled mean sum/count
    low, high = cluster_bootstrap_mean_ci([1.0, 1.0, 0.0], ["x", "x", "y"], n_boot=200)
    assert 0.0 <= low <= 2 / 3 <= high <= 1.0


def test_cluster_totals_in_order_of_first_appearance_and_summary_uses_the_same_draws() -> None:
    sums, counts, universe = cluster_totals([1.0, 2.0, 3.0, 4.0, 5.0], ["b", None, "a", "b", None])
    assert universe[0] == "b" and pd.isna(universe[1]) and universe[2] == "a"  # a missing label is a cluster
    assert sums.tolist() == [5.0, 7.0, 3.0] and counts.tolist() == [2.0, 2.0, 1.0]
    given = cluster_totals([1.0, 2.0], ["x", "y"], universe=pd.Index(["y", "z", "x"]))
    assert given[0].tolist() == [2.0, 0.0, 1.0] and given[1].tolist() == [1.0, 0.0, 1.0]
    values, clusters = np.arange(12.0), np.repeat(["q3", "q1", "q2", "q0"], 3)
    est = cluster_mean_summary(values, clusters, n_boot=300, seed=4)
    assert (est["ci_low"], est["ci_high"]) == cluster_bootstrap_mean_ci(values, clusters, n_boot=300, seed=4)
    assert est["n_clusters"] == 4 and est["value"] == pytest.approx(5.5)


def test_summarize_binary_fields_and_methods() -> None:
    out = summarize_binary([True, False, True, True])
    assert (out["k"], out["n"], out["rate"]) == (3, 4, 0.75)
    assert (out["ci_low"], out["ci_high"]) == pytest.approx(wilson_interval(3, 4))
    boot = summarize_binary([True, False, True, True], ci_method="bootstrap", n_boot=300)
    assert 0.0 <= boot["ci_low"] <= 0.75 <= boot["ci_high"] <= 1.0
    assert math.isnan(summarize_binary([])["rate"])
    with pytest.raises(UsageError, match="bootstrap, wilson"):
        summarize_binary([True], ci_method="normal")


@pytest.mark.parametrize("method", ["wilson", "bootstrap"])
def test_ci_coverage_on_bernoulli(method: str) -> None:
    """95% CIs for Bernoulli(0.3), n=100, over 400 seeded samples cover 0.3 in 92-98% of them."""
    rng = np.random.default_rng(2026)
    samples = rng.random((400, 100)) < 0.3
    covered = 0
    for i, sample in enumerate(samples):
        out = summarize_binary(sample, ci_method=method, n_boot=1000, seed=i)
        covered += out["ci_low"] <= 0.3 <= out["ci_high"]
    assert 0.92 <= covered / 400 <= 0.98
