"""Benchmark statistics as pure functions: confidence intervals, significance, ranks, bands.

Methods (../shared/docs/DOMAIN.md; the public health "technical guide" used by Fingertips; LAIT):

- proportions (unit ``percent``): Wilson score interval;
- counts and crude rates (``count``, ``ratio``, ``rate_per_*``): Byar's approximation to the
  Poisson interval of the numerator, divided by the denominator and scaled; exact Poisson limits
  (inverting the Poisson distribution) when the numerator is under 10;
- significance against a benchmark value: the area's interval wholly above it is ``higher``,
  wholly below ``lower``, else ``similar``; polarity turns higher/lower into better/worse;
- rank: 1 = best by polarity (1 = highest value when the polarity is ``none``), ties share the
  lowest rank, missing values are not ranked;
- quartile bands A-D: quartiles by the "type 7" rule (linear interpolation between order
  statistics, as Excel's QUARTILE and numpy's default); A = best quarter; a value on a quartile
  goes to the better band; ``-`` when the polarity is ``none``.

Nothing here needs scipy: the tests check these functions against scipy and numpy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class Level:
    """A confidence level: its label in column names, its confidence and two-sided z."""

    label: str
    confidence: float
    z: float


LEVELS = (Level("95", 0.95, 1.959964), Level("998", 0.998, 3.090232))
EXACT_POISSON_BELOW = 10  # numerators under this use exact Poisson limits, not Byar's
PROPORTION_SCALE = {"percent": 100.0}
RATE_SCALE = {
    "count": 1.0,
    "ratio": 1.0,
    "rate_per_1000": 1_000.0,
    "rate_per_10000": 10_000.0,
    "rate_per_100000": 100_000.0,
}
JUDGEMENT = {
    "higher_is_better": {"higher": "better", "lower": "worse", "similar": "similar"},
    "lower_is_better": {"higher": "worse", "lower": "better", "similar": "similar"},
    "none": {"higher": "higher", "lower": "lower", "similar": "similar"},
}


def scale_of(unit: str) -> float | None:
    """The factor that turns numerator/denominator into the unit, or None when it has none."""
    return PROPORTION_SCALE.get(unit, RATE_SCALE.get(unit))


def ci_method(unit: str) -> str | None:
    """``wilson`` for proportions, ``poisson`` (Byar / exact) for counts and rates, else None."""
    if unit in PROPORTION_SCALE:
        return "wilson"
    return "poisson" if unit in RATE_SCALE else None


# --- intervals ----------------------------------------------------------------------------------


def wilson_interval(observed, n, z: float):
    """Wilson score limits of the proportion observed/n (arrays or scalars), as proportions."""
    observed, n = np.asarray(observed, dtype=float), np.asarray(n, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        root = z * np.sqrt(z * z + 4 * observed * (1 - observed / n))
        lower = (2 * observed + z * z - root) / (2 * (n + z * z))
        upper = (2 * observed + z * z + root) / (2 * (n + z * z))
    return lower, upper


def byar_interval(observed, z: float):
    """Byar's approximate Poisson limits of a count (arrays or scalars); lower is 0 at 0."""
    observed = np.asarray(observed, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        lower = observed * (1 - 1 / (9 * observed) - z / (3 * np.sqrt(observed))) ** 3
        up = observed + 1
        upper = up * (1 - 1 / (9 * up) + z / (3 * np.sqrt(up))) ** 3
    return np.where(observed == 0, 0.0, lower), upper


def poisson_cdf(k: int, mean: float) -> float:
    """P(X <= k) for X ~ Poisson(mean), by direct summation (k small)."""
    if k < 0:
        return 0.0
    term = total = math.exp(-mean)
    for i in range(1, k + 1):
        term *= mean / i
        total += term
    return total


def exact_poisson_interval(observed: int, confidence: float) -> tuple[float, float]:
    """Exact (Garwood) limits of a Poisson count, found by bisection on the Poisson CDF."""
    tail = (1 - confidence) / 2
    upper = _solve(lambda mean: poisson_cdf(observed, mean) - tail, observed + 60.0)
    if observed == 0:
        return 0.0, upper
    lower = _solve(lambda mean: (1 - poisson_cdf(observed - 1, mean)) - tail, observed + 60.0)
    return lower, upper


def _solve(f, high: float) -> float:
    """The root of a monotone f on [0, high] by bisection (f changes sign once)."""
    low, f_low = 0.0, f(0.0)
    for _ in range(200):
        mid = (low + high) / 2
        f_mid = f(mid)
        if (f_mid > 0) == (f_low > 0):
            low, f_low = mid, f_mid
        else:
            high = mid
        if high - low < 1e-13 * max(1.0, high):
            break
    return (low + high) / 2


def intervals(numerator, denominator, unit: str, level: Level) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper limits in the indicator's unit, NaN where no interval can be given.

    An interval needs a numerator and a positive denominator, a unit with a scale, and, for a
    proportion, a numerator no greater than the denominator.
    """
    num = np.asarray(numerator, dtype=float)
    den = np.asarray(denominator, dtype=float)
    method, scale = ci_method(unit), scale_of(unit)
    nan = np.full(num.shape, np.nan)
    if method is None:
        return nan, nan.copy()
    with np.errstate(invalid="ignore"):
        ok = np.isfinite(num) & np.isfinite(den) & (den > 0) & (num >= 0)
        if method == "wilson":
            ok &= num <= den
            lower, upper = wilson_interval(num, den, level.z)
        else:
            lower, upper = byar_interval(num, level.z)
            for i in np.flatnonzero(ok & (num < EXACT_POISSON_BELOW)):
                lower[i], upper[i] = exact_poisson_interval(int(round(num[i])), level.confidence)
            lower, upper = lower / den, upper / den
    return np.where(ok, lower * scale, np.nan), np.where(ok, upper * scale, np.nan)


def interval_method(numerator: float | None, unit: str) -> str | None:
    """The name of the method used for one value: wilson, byar or exact_poisson."""
    method = ci_method(unit)
    if method is None or numerator is None or not np.isfinite(numerator):
        return None
    if method == "wilson":
        return "wilson"
    return "exact_poisson" if numerator < EXACT_POISSON_BELOW else "byar"


# --- significance -------------------------------------------------------------------------------


def compare(lower, upper, benchmark, polarity: str) -> np.ndarray:
    """better / similar / worse (higher / similar / lower if polarity ``none``); None if unknown."""
    lower, upper = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
    benchmark = np.asarray(benchmark, dtype=float)
    known = np.isfinite(lower) & np.isfinite(upper) & np.isfinite(benchmark)
    with np.errstate(invalid="ignore"):
        raw = np.where(lower > benchmark, "higher", np.where(upper < benchmark, "lower", "similar"))
    words = JUDGEMENT[polarity]
    labels = np.array([words[r] for r in raw.ravel()], dtype=object).reshape(raw.shape)
    return np.where(known, labels, None)


# --- ranks and bands ----------------------------------------------------------------------------


def rank_values(values: pd.Series, polarity: str) -> pd.Series:
    """1 = best by polarity (``none``: highest first); ties share the lowest rank, NaN unranked."""
    ascending = polarity == "lower_is_better"
    return values.rank(method="min", ascending=ascending, na_option="keep")


def type7_quantile(values: Sequence[float], p: float) -> float:
    """The p-quantile by Hyndman and Fan's type 7 rule: h = (n-1)p, interpolate linearly."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    h = (len(ordered) - 1) * p
    low = math.floor(h)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (h - low) * (ordered[high] - ordered[low])


def quartile_bands(values: pd.Series, polarity: str) -> pd.Series:
    """LAIT bands A (best quarter) to D by type 7 quartiles; ``-`` for polarity none."""
    present = values.dropna()
    out = pd.Series([None] * len(values), index=values.index, dtype=object)
    if polarity == "none":
        out[present.index] = "-"
        return out
    if present.empty:
        return out
    q1, q2, q3 = (type7_quantile(present.tolist(), p) for p in (0.25, 0.5, 0.75))
    if polarity == "higher_is_better":
        bands = np.select([present >= q3, present >= q2, present >= q1], ["A", "B", "C"], "D")
    else:
        bands = np.select([present <= q1, present <= q2, present <= q3], ["A", "B", "C"], "D")
    out[present.index] = bands
    return out
