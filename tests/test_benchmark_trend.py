"""The recent-trend test on series built to be significant and not, checked against independent
computations: the chi-squared test for trend in proportions equals N·r² on the individual-level
data (Cochran-Armitage), computed with numpy's correlation; the Poisson test equals the score
statistic of a Poisson regression, computed here from numerical derivatives of its likelihood.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sendbench.benchmark.trend import (
    CHI2_998,
    DECREASING,
    INCREASING,
    NO_CHANGE,
    NOT_ASSESSED,
    TOO_FEW,
    Point,
    poisson_trend_chi2,
    proportion_trend_chi2,
    recent_trend,
    trend_kind,
)

YEARS = [2019, 2020, 2021, 2022, 2023]


def test_the_threshold_is_chi2_at_998():
    assert stats.chi2.ppf(0.998, 1) == pytest.approx(CHI2_998, abs=1e-4)


def cochran_armitage_by_correlation(years, numerators, denominators) -> float:
    """N·r² where r correlates each individual's year with their 0/1 outcome."""
    x, y = [], []
    for year, r, n in zip(years, numerators, denominators, strict=True):
        x += [year] * int(n)
        y += [1] * int(r) + [0] * int(n - r)
    r = np.corrcoef(x, y)[0, 1]
    return len(x) * r * r


@pytest.mark.parametrize(
    ("numerators", "denominators"),
    [
        ([200, 250, 300, 350, 400], [1000] * 5),  # rising fast
        ([50, 51, 49, 50, 52], [100, 100, 100, 100, 100]),  # flat
        ([90, 80, 85, 60, 40], [120, 110, 130, 100, 90]),  # falling
    ],
)
def test_proportion_chi2_equals_cochran_armitage(numerators, denominators):
    chi2, _sign = proportion_trend_chi2(YEARS, numerators, denominators)
    expected = cochran_armitage_by_correlation(YEARS, numerators, denominators)
    assert chi2 == pytest.approx(expected, rel=1e-9)


def poisson_score_numerically(years, counts, exposures) -> float:
    """U²/I for beta = 0 in log(mu) = log(n) + a + b·x, by finite differences of the
    log-likelihood at the null estimate a = log(R/N)."""
    x = np.asarray(years, float) - np.mean(years)
    r, n = np.asarray(counts, float), np.asarray(exposures, float)

    def loglik(a, b):
        mu = n * np.exp(a + b * x)
        return float(np.sum(r * np.log(mu) - mu))

    a0, h = np.log(r.sum() / n.sum()), 1e-4
    u = (loglik(a0, h) - loglik(a0, -h)) / (2 * h)
    i_bb = -(loglik(a0, h) - 2 * loglik(a0, 0) + loglik(a0, -h)) / h**2
    i_aa = -(loglik(a0 + h, 0) - 2 * loglik(a0, 0) + loglik(a0 - h, 0)) / h**2
    i_ab = -(loglik(a0 + h, h) - loglik(a0 + h, -h) - loglik(a0 - h, h) + loglik(a0 - h, -h)) / (
        4 * h * h
    )
    return u * u / (i_bb - i_ab * i_ab / i_aa)


@pytest.mark.parametrize(
    ("counts", "exposures"),
    [
        ([120, 135, 160, 170, 200], [10000, 10100, 10300, 10200, 10400]),
        ([40, 38, 42, 41, 39], [5000] * 5),
        ([900, 850, 700, 650, 500], None),
    ],
)
def test_poisson_chi2_equals_the_poisson_regression_score_test(counts, exposures):
    chi2, _sign = poisson_trend_chi2(YEARS, counts, exposures)
    expected = poisson_score_numerically(YEARS, counts, exposures or [1] * 5)
    assert chi2 == pytest.approx(expected, rel=1e-5)


def points(values=None, numerators=None, denominators=None, years=YEARS) -> list[Point]:
    n = len(years)
    values = values or [float("nan")] * n
    numerators = numerators or [float("nan")] * n
    denominators = denominators or [float("nan")] * n
    return [Point(*row) for row in zip(years, values, numerators, denominators, strict=True)]


def test_a_rising_proportion_is_significant_and_getting_better():
    series = points(numerators=[200, 250, 300, 350, 400], denominators=[1000] * 5)
    result = recent_trend(series, "proportion", "higher_is_better")
    assert result.chi2 > CHI2_998
    assert (result.points, result.trend, result.judgement) == (5, INCREASING, "getting better")
    worse = recent_trend(series, "proportion", "lower_is_better")
    assert worse.judgement == "getting worse"


def test_a_flat_proportion_is_no_significant_change():
    series = points(numerators=[50, 51, 49, 50, 52], denominators=[100] * 5)
    result = recent_trend(series, "proportion", "higher_is_better")
    assert result.chi2 < CHI2_998
    assert (result.trend, result.judgement) == (NO_CHANGE, NO_CHANGE)


def test_a_modest_rise_significant_at_95_but_not_at_998_is_no_change():
    numerators, denominators = [250, 260, 270, 280, 290], [1000] * 5
    chi2 = cochran_armitage_by_correlation(YEARS, numerators, denominators)
    assert stats.chi2.ppf(0.95, 1) < chi2 < CHI2_998  # built to sit between the two levels
    result = recent_trend(points(numerators=numerators, denominators=denominators), "proportion",
                          "higher_is_better")  # fmt: skip
    assert result.trend == NO_CHANGE


def test_falling_counts_are_decreasing_and_no_polarity_makes_no_judgement():
    series = points(values=[900, 850, 700, 650, 500])
    result = recent_trend(series, "count", "none")
    assert (result.trend, result.judgement) == (DECREASING, DECREASING)


def test_the_last_five_points_only_are_used():
    years = [2016, 2017, 2018, 2019, 2020, 2021, 2022]
    series = points(values=[10, 5000, 10, 500, 500, 500, 500], years=years)  # old spikes ignored
    result = recent_trend(series, "count", "none")
    assert result.points == 5 and result.chi2 == pytest.approx(
        poisson_score_numerically(years[2:], [10, 500, 500, 500, 500], [1] * 5), rel=1e-5
    )


@pytest.mark.parametrize(
    "series",
    [
        points(values=[10, 20, 30, 40], years=YEARS[:4]),  # four points
        points(values=[10, 20, 30, 40, 50], years=[2018, 2019, 2021, 2022, 2023]),  # a gap
        points(values=[10, 20, float("nan"), 40, 50]),  # a suppressed year
    ],
)
def test_too_few_consecutive_points_says_so(series):
    result = recent_trend(series, "count", "higher_is_better")
    assert result.trend == TOO_FEW and result.chi2 is None and result.points < 5


def test_no_numerator_is_not_assessed():
    assert trend_kind("percent", has_denominator=False) is None
    assert recent_trend(points(values=[1, 2, 3, 4, 5]), None, "none").trend == NOT_ASSESSED
    assert trend_kind("percent", True) == "proportion"
    assert trend_kind("rate_per_10000", True) == "rate"
    assert trend_kind("count", False) == "count"
