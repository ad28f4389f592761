"""Normalising published values and time periods into the observations contract.

- ``period``: academic year ``2024/25`` (published ``202425``), calendar year ``2024``, financial
  year ``2024-25``, month ``2024-03``, each with ``period_start`` and ``period_end`` ISO dates.
- values: a published symbol (``c``, ``x``, ``z``, ``low``, ``k``, ``u``, ``..``, ``*``, …) becomes
  ``value`` NULL and ``status`` = the symbol, never a zero. Numbers with thousands separators or a
  trailing ``%`` are read as numbers.
"""

from __future__ import annotations

import calendar
import re

import pandas as pd

# Symbols documented by DfE, OHID, NHS Digital and MoJ (see ../shared/data/README.md).
KNOWN_SYMBOLS = frozenset(
    {"c", "x", "z", "low", "k", "u", ".", "..", ":", "-", "*", "n/a", "na", "null", "~", "!"}
)
# What a symbol means where every publisher that uses it means the same (../shared/data/README.md,
# "Symbols seen in these files"); ``missing`` is sendbench's own status for an empty cell. Others
# (``k``, ``u``, ``-``, which is zero in the tribunal tables and no value in LAIT) depend on the
# publication and are shown as published.
SYMBOL_MEANINGS = {
    "c": "suppressed",
    "*": "suppressed",
    "x": "not available",
    "..": "not available",
    "z": "not applicable",
    "low": "rounds to zero",
    "missing": "nothing published",
}

# Statuses that say a release has no figure for a cell (not available, not applicable, nothing
# published), as opposed to ``c``/``*``/``~`` (a figure withheld on purpose) or ``low``/``k``/``u``
# (statements about a figure). A release with no figure never blanks one another release gave
# (``sendbench.db.load``). ``-`` is here for LAIT, its only symbol; the tribunal tables' ``-`` is a
# zero and loads as the number 0.
NO_FIGURE_STATUSES = frozenset({"x", "..", "z", "missing", ".", ":", "n/a", "na", "null", "-"})


class PeriodError(ValueError):
    """A time period that none of the known conventions describe."""


def normalise_period(time_period: str, time_identifier: str = "") -> tuple[str, str, str]:
    """Return ``(period, period_start, period_end)`` for an EES-style time period.

    ``time_identifier`` is EES's label (``Academic year``, ``Calendar year``, ``Financial year``,
    ``January`` …); without it the shape of ``time_period`` decides.
    """
    tp = str(time_period).strip()
    ident = (time_identifier or "").strip().lower()
    if re.fullmatch(r"\d{6}", tp):
        first, second = int(tp[:4]), int(tp[4:])
        if (first + 1) % 100 != second:
            raise PeriodError(f"{tp!r} is not a two-year period (the years are not consecutive)")
        if "financial" in ident or "fiscal" in ident:
            return f"{first}-{tp[4:]}", f"{first}-04-01", f"{first + 1}-03-31"
        return f"{first}/{tp[4:]}", f"{first}-09-01", f"{first + 1}-08-31"
    if re.fullmatch(r"\d{4}", tp):
        year = int(tp)
        return tp, f"{year}-01-01", f"{year}-12-31"
    if m := re.fullmatch(r"(\d{4})[-/](\d{2})", tp):
        first, second = int(m.group(1)), int(m.group(2))
        two_year = (first + 1) % 100 == second
        if "financial" in ident or "academic" in ident or (two_year and second > 12):
            return normalise_period(f"{m.group(1)}{m.group(2)}", time_identifier)
        return _month(first, second)
    raise PeriodError(f"unrecognised time period {tp!r} ({time_identifier or 'no identifier'})")


def _month(year: int, month: int) -> tuple[str, str, str]:
    if not 1 <= month <= 12:
        raise PeriodError(f"month {month} out of range")
    last = calendar.monthrange(year, month)[1]
    return f"{year}-{month:02d}", f"{year}-{month:02d}-01", f"{year}-{month:02d}-{last:02d}"


def parse_values(raw: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Split published cells into ``(value, status)``.

    ``value`` is float (NaN where no number was published); ``status`` is the published symbol,
    ``None`` for a number, and ``"missing"`` for an empty cell (published as nothing at all).
    """
    value = pd.to_numeric(raw.astype(object), errors="coerce").astype(float)
    status = pd.Series(None, index=raw.index, dtype=object)
    other = value.isna()
    if other.any():  # slow path only for cells that are not plain numbers
        text = raw[other].astype("string").str.strip().fillna("")
        cleaned = text.str.replace(",", "", regex=False).str.removesuffix("%")
        again = pd.to_numeric(cleaned, errors="coerce").astype(float)
        value[other] = again
        symbol = again.isna()
        status[symbol[symbol].index] = text[symbol].replace("", "missing").astype(object)
    return value, status.where(status.notna(), None)


def is_suppressed(status: str | None) -> bool:
    """True when the status is a symbol standing in for a value."""
    return status is not None and status != "missing"


# The values a unit can take: a percentage 0 to 100, a count, rate, ratio or duration never below
# zero. Scores and money (a DSG balance is often negative) have no such bound.
UNIT_RANGES: dict[str, tuple[float, float | None]] = {
    "percent": (0.0, 100.0),
    "count": (0.0, None),
    "rate_per_1000": (0.0, None),
    "rate_per_10000": (0.0, None),
    "rate_per_100000": (0.0, None),
    "ratio": (0.0, None),
    "days": (0.0, None),
    "weeks": (0.0, None),
}
_SLACK = 1e-9  # a percentage computed as 100 * a / a may land a hair above 100


def out_of_range(observations: pd.DataFrame | None, units: dict[str, str]) -> list[str]:
    """Harvest notes for values a unit cannot take (``units``: indicator id -> unit): a 1,234
    for a percentage, a negative count. The values are kept as published; the note says where
    to look, with the first few area and period examples."""
    if observations is None or observations.empty:
        return []
    notes = []
    values = pd.to_numeric(observations["value"], errors="coerce")
    for indicator, rows in observations.groupby("indicator_id", sort=True).groups.items():
        bounds = UNIT_RANGES.get(units.get(indicator, ""))
        if bounds is None:
            continue
        low, high = bounds
        got = values.loc[rows]
        bad = got < low - _SLACK
        if high is not None:
            bad |= got > high + _SLACK
        if not bad.any():
            continue
        shown = observations.loc[got[bad].index[:3]]
        examples = ", ".join(
            f"{r.area_code} {r.period} = {r.value:g}" for r in shown.itertuples(index=False)
        )
        limit = f"{low:g} to {high:g}" if high is not None else f"at least {low:g}"
        notes.append(
            f"{indicator}: {int(bad.sum())} value(s) outside what a {units[indicator]} can be "
            f"({limit}), kept as published; check the source file ({examples})"
        )
    return notes
