"""The benchmark table as a pure function of DataFrames: every indicator x LA x period (headline
breakdown ``Total``) x neighbour set, with England, region, neighbours, rank, band, intervals,
significance, change and recent trend.

Which LAs are compared in a period: every LA with a headline observation for it (a published
number or a symbol). Which are ranked and banded: those with a number whose code had not ended
before the period began (an abolished council keeps its own rows and ranks for the periods it
published, e.g. Northamptonshire 2019 and 2020, and is never ranked after it ended; a code that
changed one-for-one carries its whole series under the current code, as observations do).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from sendbench.benchmark import methods
from sendbench.benchmark.neighbours import neighbour_summaries, set_sizes
from sendbench.benchmark.trend import NOT_ASSESSED, Point, Trend, recent_trend, trend_kind

ENGLAND = "E92000001"
NO_SET = "none"  # the neighbour_set of rows computed when no neighbour set is loaded
BENCHMARK_COLUMNS = {
    "indicator_id": str, "area_code": str, "period": str, "neighbour_set": str,
    "area_name": str, "region_code": str, "unit": str, "polarity": str,
    "period_start": str, "period_end": str, "is_latest": int,
    "value": float, "numerator": float, "denominator": float, "status": str,
    "england_value": float, "region_value": float,
    "sn_mean": float, "sn_pooled": float, "sn_count": int, "sn_pooled_count": int, "sn_size": int,
    "rank": int, "rank_of": int, "rank_order": str, "quartile_band": str,
    "ci_method": str, "ci95_lower": float, "ci95_upper": float,
    "ci998_lower": float, "ci998_upper": float,
    "vs_england_95": str, "vs_england_998": str, "vs_region_95": str, "vs_region_998": str,
    "vs_neighbours_95": str, "vs_neighbours_998": str,
    "previous_period": str, "previous_value": float, "change": float,
    "trend_points": int, "trend_chi2": float, "trend": str, "trend_judgement": str,
}  # fmt: skip
Progress = Callable[[str], None]
NUMBERS = ("value", "numerator", "denominator")


def build_benchmarks(
    observations: pd.DataFrame,
    areas: pd.DataFrame,
    indicators: pd.DataFrame,
    neighbours: pd.DataFrame,
    progress: Progress | None = None,
) -> pd.DataFrame:
    """The benchmark rows (columns BENCHMARK_COLUMNS) for every loaded neighbour set, in one
    frame (see iter_benchmarks for the arguments)."""
    frames = iter_benchmarks(observations, areas, indicators, neighbours, progress)
    return pd.concat(list(frames), ignore_index=True)


def iter_benchmarks(
    observations: pd.DataFrame,
    areas: pd.DataFrame,
    indicators: pd.DataFrame,
    neighbours: pd.DataFrame,
    progress: Progress | None = None,
) -> Iterator[pd.DataFrame]:
    """The benchmark rows (columns BENCHMARK_COLUMNS), one frame per neighbour set in set order
    (one frame with neighbour_set ``none`` when no set is loaded), rows in primary-key order.

    ``observations``: headline rows (indicator_id, area_code, period, value, numerator,
    denominator, status, period_start, period_end). ``areas``: area_code, name, area_type,
    region_code, valid_to. ``indicators``: id, unit, polarity, numerator (null when the
    indicator has no numerator/denominator). ``neighbours``: set_id, area_code, neighbour_code.
    """
    say = progress or (lambda message: None)
    meta = indicators.set_index("id")
    obs = observations[observations["indicator_id"].isin(meta.index)]
    kinds = areas.set_index("area_code")["area_type"]
    la = obs[obs["area_code"].map(kinds).eq("la")].copy()
    say(f"{len(la):,} LA observations, {la['indicator_id'].nunique()} indicators")
    la["annual"] = _is_annual(la)
    la = _with_area(la, areas)
    la = _with_benchmark_values(la, obs, areas)
    parts = [_per_indicator(group, meta.loc[ind]) for ind, group in la.groupby("indicator_id")]
    base = pd.concat(parts, ignore_index=True) if parts else la.iloc[0:0]
    say("ranks, bands, intervals, significance and trends done")
    yield from _with_neighbours(base, neighbours, meta["unit"].to_dict(), say)


def _with_area(la: pd.DataFrame, areas: pd.DataFrame) -> pd.DataFrame:
    info = areas[["area_code", "name", "region_code", "valid_to"]].rename(
        columns={"name": "area_name"}
    )
    return la.merge(info, on="area_code", how="left")


def _with_benchmark_values(la: pd.DataFrame, obs: pd.DataFrame, areas: pd.DataFrame):
    keys = ["indicator_id", "period"]
    england = obs[obs["area_code"] == ENGLAND][[*keys, "value"]]
    la = la.merge(england.rename(columns={"value": "england_value"}), on=keys, how="left")
    regions = areas.loc[areas["area_type"] == "region", "area_code"]
    region = obs[obs["area_code"].isin(regions)][[*keys, "area_code", "value"]]
    region = region.rename(columns={"area_code": "region_code", "value": "region_value"})
    return la.merge(region, on=[*keys, "region_code"], how="left")


def _per_indicator(frame: pd.DataFrame, meta: pd.Series) -> pd.DataFrame:
    """Ranks, bands, intervals, significance, change and trend for one indicator's LA rows."""
    unit, polarity = meta["unit"], meta["polarity"]
    has_pair = isinstance(meta.get("numerator"), str) and bool(meta.get("numerator"))
    frame = frame.assign(unit=unit, polarity=polarity).reset_index(drop=True)
    frame = _ranks_and_bands(frame, polarity)
    if has_pair:
        frame = _intervals_and_significance(frame, unit, polarity)
    else:
        for column in _interval_columns():
            frame[column] = None
    frame = _latest_flag(frame)
    return _changes_and_trends(frame, trend_kind(unit, has_pair), polarity)


def _ranks_and_bands(frame: pd.DataFrame, polarity: str) -> pd.DataFrame:
    ended = frame["valid_to"].fillna("9999-12-31") < frame["period_start"].fillna("")
    rankable = frame["value"].where(~ended)
    frame["rank"] = rankable.groupby(frame["period"]).transform(
        lambda v: methods.rank_values(v, polarity)
    )
    frame["rank_of"] = rankable.groupby(frame["period"]).transform("count")
    frame.loc[frame["rank"].isna(), "rank_of"] = np.nan
    frame["rank_order"] = "1 = highest" if polarity == "none" else "1 = best"
    bands = [methods.quartile_bands(v, polarity) for _, v in rankable.groupby(frame["period"])]
    frame["quartile_band"] = pd.concat(bands) if bands else None
    return frame


def _interval_columns() -> list[str]:
    cols = ["ci_method"]
    for level in methods.LEVELS:
        cols += [f"ci{level.label}_lower", f"ci{level.label}_upper"]
        cols += [f"vs_{b}_{level.label}" for b in ("england", "region")]
    return cols


def _intervals_and_significance(frame: pd.DataFrame, unit: str, polarity: str) -> pd.DataFrame:
    # Intervals are for published numbers only: a symbol (value NULL) gets none.
    num = frame["numerator"].where(frame["value"].notna())
    frame["ci_method"] = [methods.interval_method(n, unit) for n in num]
    for level in methods.LEVELS:
        lower, upper = methods.intervals(num, frame["denominator"], unit, level)
        frame[f"ci{level.label}_lower"], frame[f"ci{level.label}_upper"] = lower, upper
        for bench in ("england", "region"):
            frame[f"vs_{bench}_{level.label}"] = methods.compare(
                lower, upper, frame[f"{bench}_value"], polarity
            )
    frame.loc[frame["ci95_lower"].isna(), "ci_method"] = None
    return frame


def _latest_flag(frame: pd.DataFrame) -> pd.DataFrame:
    latest_end = frame["period_end"].max()
    frame["is_latest"] = (frame["period_end"] == latest_end).astype(int)
    return frame


def _changes_and_trends(frame: pd.DataFrame, kind: str | None, polarity: str) -> pd.DataFrame:
    periods = frame[["period", "period_start"]].drop_duplicates().sort_values("period_start")
    previous = dict(zip(periods["period"].iloc[1:], periods["period"].iloc[:-1], strict=True))
    frame["previous_period"] = frame["period"].map(previous)
    values = frame.set_index(["area_code", "period"])["value"]
    prev_keys = pd.MultiIndex.from_arrays([frame["area_code"], frame["previous_period"]])
    frame["previous_value"] = values.reindex(prev_keys).to_numpy()
    frame["change"] = frame["value"] - frame["previous_value"]
    ordered = frame.sort_values(["area_code", "period_start"])
    numbers = [ordered[c].to_numpy(dtype=float).tolist() for c in NUMBERS]
    text = [ordered[c].tolist() for c in ("area_code", "period_start", "annual")]
    results: dict[int, Trend] = {}
    points: list[Point] = []
    previous_code = None
    rows = zip(ordered.index, *text, *numbers, strict=True)
    for index, code, start, annual, value, numerator, denominator in rows:
        if code != previous_code:
            points, previous_code = [], code
        if not annual:  # months, quarters: the five-year test does not apply
            results[index] = Trend(0, None, NOT_ASSESSED, None)
            continue
        points.append(Point(int(start[:4]), value, numerator, denominator))
        results[index] = recent_trend(points, kind, polarity)
    frame["trend_points"] = [results[i].points for i in frame.index]
    frame["trend_chi2"] = [results[i].chi2 for i in frame.index]
    frame["trend"] = [results[i].trend for i in frame.index]
    frame["trend_judgement"] = [results[i].judgement for i in frame.index]
    return frame


def _is_annual(frame: pd.DataFrame) -> pd.Series:
    """Periods of about a year (academic, calendar or financial years), not months or quarters."""
    start = pd.to_datetime(frame["period_start"], errors="coerce")
    end = pd.to_datetime(frame["period_end"], errors="coerce")
    days = (end - start).dt.days
    return days.between(360, 370)


def _with_neighbours(base: pd.DataFrame, neighbours: pd.DataFrame, units, say):
    """One copy of ``base`` per neighbour set with the group's summaries and significance."""
    set_ids = sorted(neighbours["set_id"].unique()) if len(neighbours) else []
    if not set_ids:
        say("no statistical neighbour set is loaded: neighbour columns left empty")
        yield _finish(base.assign(neighbour_set=NO_SET))
        return
    sizes = set_sizes(neighbours)
    for set_id in set_ids:  # one set at a time: memory holds one set's rows
        keys = ["area_code", "indicator_id", "period"]
        links = neighbours[neighbours["set_id"] == set_id]
        group = neighbour_summaries(base, links, units).drop(columns="set_id")
        size = sizes[sizes["set_id"] == set_id].drop(columns="set_id")
        frame = base.merge(group, on=keys, how="left").merge(size, on="area_code", how="left")
        frame["neighbour_set"] = set_id
        say(f"neighbour set {set_id}: {len(group):,} group summaries")
        yield _finish(_neighbour_significance(frame))


def _neighbour_significance(frame: pd.DataFrame) -> pd.DataFrame:
    for level in methods.LEVELS:
        column = f"vs_neighbours_{level.label}"
        frame[column] = None
        for polarity, rows in frame.groupby("polarity").groups.items():
            part = frame.loc[rows]
            frame.loc[rows, column] = methods.compare(
                part[f"ci{level.label}_lower"], part[f"ci{level.label}_upper"],
                part["sn_pooled"], polarity,
            )  # fmt: skip
    return frame


def _finish(frame: pd.DataFrame) -> pd.DataFrame:
    """Columns in order and in their types (numbers stay numeric: a missing one is NaN, NULL in
    SQLite), counts filled, rows in primary-key order."""
    for column in BENCHMARK_COLUMNS:
        if column not in frame:
            frame[column] = None
    frame = frame[list(BENCHMARK_COLUMNS)]
    for column in ("sn_count", "sn_pooled_count", "sn_size"):
        frame[column] = frame[column].fillna(0).astype(int)
    for column, kind in BENCHMARK_COLUMNS.items():
        if kind is not str and frame[column].dtype == object:
            frame[column] = pd.to_numeric(frame[column])
    frame = frame.sort_values(["neighbour_set", "area_code", "indicator_id", "period"])
    return frame.reset_index(drop=True)
