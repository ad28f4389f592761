"""The recent trend, as Fingertips computes it: a chi-squared test for trend over the last five
consecutive annual points, significant at 99.8% (chi-squared on 1 degree of freedom > 9.5495).

- proportions (unit ``percent`` with a numerator and denominator): the chi-squared test for
  trend in proportions (Cochran-Armitage; Altman, *Practical statistics for medical research*,
  10.7.4), the score test of a logistic regression on time;
- crude rates (a numerator and denominator in any other unit with a scale): the score test of
  a Poisson regression of the numerators on time with the denominators as exposure;
- counts published without a denominator (unit ``count``): the same Poisson test with equal
  exposure;
- anything else (a percentage published without its numerator, a score, days…) is not assessed.

Fewer than five consecutive annual points (a gap, a suppressed year, a non-annual period) gives
``too few points`` and the number found, never a guess.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sendbench.benchmark.methods import PROPORTION_SCALE, scale_of

TREND_POINTS = 5
CHI2_998 = 9.5495  # chi-squared(1) at 99.8%, i.e. 3.090232 squared
INCREASING, DECREASING, NO_CHANGE = "increasing", "decreasing", "no significant change"
TOO_FEW, NOT_ASSESSED = "too few points", "not assessed"


@dataclass(frozen=True)
class Point:
    """One period of a series: its start year, value, numerator and denominator (NaN if none)."""

    year: int
    value: float
    numerator: float = float("nan")
    denominator: float = float("nan")


@dataclass(frozen=True)
class Trend:
    """The test's result: points used (or found), chi-squared, direction and its judgement."""

    points: int
    chi2: float | None
    trend: str
    judgement: str | None


def trend_kind(unit: str, has_denominator: bool) -> str | None:
    """``proportion``, ``rate`` or ``count`` (which test applies), or None (not assessed)."""
    if has_denominator and unit in PROPORTION_SCALE:
        return "proportion"
    if has_denominator and scale_of(unit) is not None:
        return "rate"
    return "count" if unit == "count" else None


def proportion_trend_chi2(years, numerators, denominators) -> tuple[float, float]:
    """Chi-squared for trend in proportions and the sign of the slope (+1 rising, -1 falling)."""
    x, r, n = (np.asarray(a, dtype=float) for a in (years, numerators, denominators))
    total, successes = n.sum(), r.sum()
    p = successes / total
    x_bar = (n * x).sum() / total
    t = (r * x).sum() - successes * x_bar
    v = p * (1 - p) * ((n * x * x).sum() - total * x_bar**2)
    return (t * t / v if v > 0 else 0.0), float(np.sign(t))


def poisson_trend_chi2(years, counts, exposures=None) -> tuple[float, float]:
    """Score chi-squared for a log-linear trend in Poisson counts, and the slope's sign."""
    x, r = np.asarray(years, dtype=float), np.asarray(counts, dtype=float)
    n = np.ones_like(x) if exposures is None else np.asarray(exposures, dtype=float)
    total, events = n.sum(), r.sum()
    x_bar = (n * x).sum() / total
    t = (r * x).sum() - events * x_bar
    v = events * ((n * x * x).sum() / total - x_bar**2)
    return (t * t / v if v > 0 else 0.0), float(np.sign(t))


def _usable(point: Point, kind: str) -> bool:
    if kind == "count":
        return bool(np.isfinite(point.value)) and point.value >= 0
    num, den = point.numerator, point.denominator
    return bool(np.isfinite(num) and np.isfinite(den) and den > 0 and num >= 0)


def recent_points(series: Sequence[Point], kind: str) -> list[Point]:
    """The trailing run of consecutive years with usable data, at most TREND_POINTS long."""
    run: list[Point] = []
    for point in reversed(series):
        if not _usable(point, kind) or (run and point.year != run[-1].year - 1):
            break
        run.append(point)
        if len(run) == TREND_POINTS:
            break
    return run[::-1]


def recent_trend(series: Sequence[Point], kind: str | None, polarity: str) -> Trend:
    """The recent trend of ``series`` (annual points in time order, the last one the current)."""
    if kind is None:
        return Trend(0, None, NOT_ASSESSED, None)
    run = recent_points(series, kind)
    if len(run) < TREND_POINTS:
        return Trend(len(run), None, TOO_FEW, None)
    years = [p.year for p in run]
    if kind == "proportion":
        chi2, sign = proportion_trend_chi2(
            years, [p.numerator for p in run], [p.denominator for p in run]
        )
    elif kind == "rate":
        chi2, sign = poisson_trend_chi2(
            years, [p.numerator for p in run], [p.denominator for p in run]
        )
    else:
        chi2, sign = poisson_trend_chi2(years, [p.value for p in run])
    if chi2 <= CHI2_998 or sign == 0:
        return Trend(len(run), chi2, NO_CHANGE, NO_CHANGE)
    trend = INCREASING if sign > 0 else DECREASING
    return Trend(len(run), chi2, trend, judge(trend, polarity))


def judge(trend: str, polarity: str) -> str:
    """``getting better`` / ``getting worse`` by polarity; the direction itself for ``none``."""
    if polarity == "none":
        return trend
    better = (trend == INCREASING) == (polarity == "higher_is_better")
    return "getting better" if better else "getting worse"
