"""The benchmark statistics against independent implementations: Wilson intervals against scipy's
binomtest, exact Poisson limits against scipy's chi-squared and gamma quantiles, Byar's
approximation against the exact limits, quartiles against numpy's type 7 (``linear``) quantiles,
bands against thresholds numpy computes, ranks against a brute-force count, and significance on
intervals built to sit above, below and across a benchmark.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from sendbench.benchmark import methods

LEVELS = {level.label: level for level in methods.LEVELS}
CASES = [(0, 10), (1, 10), (7, 13), (50, 100), (251, 687), (99, 100), (100, 100), (3, 2500)]


@pytest.mark.parametrize("label", LEVELS)
def test_the_z_values_are_the_normal_quantiles(label):
    level = LEVELS[label]
    assert level.z == pytest.approx(stats.norm.ppf(1 - (1 - level.confidence) / 2), abs=1e-6)


@pytest.mark.parametrize("label", LEVELS)
@pytest.mark.parametrize(("observed", "n"), CASES)
def test_wilson_matches_scipy(label, observed, n):
    level = LEVELS[label]
    expected = stats.binomtest(observed, n).proportion_ci(level.confidence, method="wilson")
    lower, upper = methods.wilson_interval(observed, n, level.z)
    assert float(lower) == pytest.approx(expected.low, rel=1e-6, abs=1e-9)
    assert float(upper) == pytest.approx(expected.high, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize("label", LEVELS)
@pytest.mark.parametrize("observed", range(0, 10))
def test_exact_poisson_matches_scipy_chi2_and_gamma(label, observed):
    confidence = LEVELS[label].confidence
    alpha = 1 - confidence
    lower, upper = methods.exact_poisson_interval(observed, confidence)
    chi2_lower = stats.chi2.ppf(alpha / 2, 2 * observed) / 2 if observed else 0.0
    chi2_upper = stats.chi2.ppf(1 - alpha / 2, 2 * observed + 2) / 2
    gamma_upper = stats.gamma.ppf(1 - alpha / 2, observed + 1)
    assert lower == pytest.approx(chi2_lower, rel=1e-9, abs=1e-12)
    assert upper == pytest.approx(chi2_upper, rel=1e-9)
    assert upper == pytest.approx(gamma_upper, rel=1e-9)
    if observed:
        assert lower == pytest.approx(stats.gamma.ppf(alpha / 2, observed), rel=1e-9)


@pytest.mark.parametrize(("label", "tolerance"), [("95", 0.005), ("998", 0.02)])
def test_byar_is_close_to_the_exact_limits_from_ten_events(label, tolerance):
    level = LEVELS[label]
    alpha = 1 - level.confidence
    counts = np.array([10, 11, 15, 25, 60, 150, 400, 1000, 5000])
    lower, upper = methods.byar_interval(counts, level.z)
    exact_lower = stats.chi2.ppf(alpha / 2, 2 * counts) / 2
    exact_upper = stats.chi2.ppf(1 - alpha / 2, 2 * counts + 2) / 2
    assert np.all(np.abs(lower / exact_lower - 1) < tolerance)
    assert np.all(np.abs(upper / exact_upper - 1) < tolerance)


def test_intervals_in_the_unit_pick_the_method_by_count():
    level = LEVELS["95"]
    num, den = np.array([4.0, 40.0, 251.0]), np.array([2000.0, 2000.0, 687.0])
    lower, upper = methods.intervals(num, den, "rate_per_1000", level)
    exact = stats.chi2.ppf([0.025, 0.975], [8, 10]) / 2  # 4 events: exact Poisson
    assert [lower[0], upper[0]] == pytest.approx(list(exact / 2000 * 1000), rel=1e-9)
    byar_lower, byar_upper = methods.byar_interval(40.0, level.z)  # 40 events: Byar
    assert [lower[1], upper[1]] == pytest.approx([byar_lower / 2, byar_upper / 2], rel=1e-12)
    pct_lower, pct_upper = methods.intervals(num, den, "percent", level)
    wilson = stats.binomtest(251, 687).proportion_ci(0.95, method="wilson")
    assert [pct_lower[2], pct_upper[2]] == pytest.approx([wilson.low * 100, wilson.high * 100])
    assert [methods.interval_method(n, "rate_per_1000") for n in num] == [
        "exact_poisson",
        "byar",
        "byar",
    ]


def test_no_interval_without_a_usable_numerator_and_denominator():
    level = LEVELS["95"]
    num = np.array([np.nan, 5.0, 5.0, 12.0, -1.0])
    den = np.array([10.0, np.nan, 0.0, 10.0, 10.0])  # 12 of 10 is not a proportion
    lower, upper = methods.intervals(num, den, "percent", level)
    assert np.isnan(lower).all() and np.isnan(upper).all()
    lower, upper = methods.intervals([5.0], [10.0], "score", level)
    assert np.isnan(lower).all()


@pytest.mark.parametrize(
    ("polarity", "expected"),
    [
        ("higher_is_better", ["better", "worse", "similar", "similar", None]),
        ("lower_is_better", ["worse", "better", "similar", "similar", None]),
        ("none", ["higher", "lower", "similar", "similar", None]),
    ],
)
def test_significance_compares_the_interval_with_the_benchmark(polarity, expected):
    lower = [52.0, 30.0, 40.0, 40.0, np.nan]
    upper = [60.0, 38.0, 50.0, 50.0, np.nan]
    benchmark = [50.0, 45.0, 45.0, 50.0, 45.0]  # above, below, inside, on the edge, unknown
    assert list(methods.compare(lower, upper, benchmark, polarity)) == expected


# --- ranks and bands ---------------------------------------------------------------------------


def brute_force_ranks(values: list[float], polarity: str) -> list[float]:
    """1 + how many values are strictly better; NaN stays NaN."""
    present = [v for v in values if not math.isnan(v)]
    out = []
    for v in values:
        if math.isnan(v):
            out.append(math.nan)
        elif polarity == "lower_is_better":
            out.append(1 + sum(other < v for other in present))
        else:
            out.append(1 + sum(other > v for other in present))
    return out


@pytest.mark.parametrize("polarity", ["higher_is_better", "lower_is_better", "none"])
@pytest.mark.parametrize("seed", range(5))
def test_ranks_share_the_lowest_rank_on_ties_and_skip_missing(polarity, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 12, size=40).astype(float)  # many ties
    values[rng.choice(40, size=6, replace=False)] = np.nan
    got = methods.rank_values(pd.Series(values), polarity).tolist()
    expected = brute_force_ranks(values.tolist(), polarity)
    assert got == pytest.approx(expected, nan_ok=True)


def test_a_small_tie_example_ranks_as_lait_does():
    ranks = methods.rank_values(pd.Series([10.0, 20.0, 20.0, np.nan, 5.0]), "higher_is_better")
    assert ranks.tolist()[:3] == [3.0, 1.0, 1.0] and math.isnan(ranks[3]) and ranks[4] == 4.0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 7, 10, 151, 152, 153])
@pytest.mark.parametrize("p", [0.25, 0.5, 0.75])
def test_type7_quantile_matches_numpy_linear(n, p):
    values = np.random.default_rng(n).normal(50, 15, size=n).round(1)
    expected = np.quantile(values, p, method="linear")
    assert methods.type7_quantile(values.tolist(), p) == pytest.approx(expected, rel=1e-12)


def numpy_bands(values: np.ndarray, polarity: str) -> list[str | None]:
    """Bands from numpy's quartiles: A for the best quarter, a value on a quartile goes up."""
    present = values[~np.isnan(values)]
    q1, q2, q3 = np.quantile(present, [0.25, 0.5, 0.75], method="linear")
    out: list[str | None] = []
    for v in values:
        if np.isnan(v):
            out.append(None)
        elif polarity == "higher_is_better":
            out.append("A" if v >= q3 else "B" if v >= q2 else "C" if v >= q1 else "D")
        else:
            out.append("A" if v <= q1 else "B" if v <= q2 else "C" if v <= q3 else "D")
    return out


@pytest.mark.parametrize("polarity", ["higher_is_better", "lower_is_better"])
@pytest.mark.parametrize("seed", range(6))
def test_bands_follow_numpy_quartiles(polarity, seed):
    rng = np.random.default_rng(seed)
    values = rng.integers(0, 60, size=151).astype(float)
    values[rng.choice(151, size=9, replace=False)] = np.nan
    got = methods.quartile_bands(pd.Series(values), polarity).tolist()
    assert got == numpy_bands(values, polarity)
    counts = pd.Series(got).value_counts()
    assert set(counts.index) == {"A", "B", "C", "D"}
    assert all(counts > 142 * 0.15)  # roughly quarters, even with ties


def test_best_quarter_is_a_by_polarity_and_none_has_no_band():
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, np.nan])
    higher = methods.quartile_bands(values, "higher_is_better").tolist()
    lower = methods.quartile_bands(values, "lower_is_better").tolist()
    assert higher[-2] == "A" and higher[0] == "D" and lower[0] == "A" and lower[-2] == "D"
    assert methods.quartile_bands(values, "none").tolist() == ["-"] * 8 + [None]
