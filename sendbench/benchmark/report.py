"""One area's benchmark, read from the stored tables: rows, scorecard, neighbours, sources.

:func:`load_area_benchmark` is what the CLI and the workbook use: the ``benchmarks`` rows of one
LA under one neighbour set (latest periods by default), the outcome scorecard, the LA's
neighbours, its series over time (for charts), the sources behind them and its latest area SEND
inspection with its neighbours' outcomes counted (:mod:`sendbench.benchmark.inspections`).
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass

import pandas as pd
import sqlite_utils

from sendbench.areas import AreaResolver
from sendbench.benchmark.compare import BENCHMARK_COLUMNS
from sendbench.benchmark.inspections import inspection_summary
from sendbench.benchmark.neighbours import default_set
from sendbench.benchmark.outcomes import SCORECARD_COLUMNS
from sendbench.benchmark.store import BenchmarkError, last_run, stored_sets
from sendbench.errors import AreaError

INT_COLUMNS = [c for c, kind in {**BENCHMARK_COLUMNS, **SCORECARD_COLUMNS}.items() if kind is int]
INT_COLUMNS += ["rank"]  # neighbour rank
# Column -> heading, in the order the CSV, JSON and the workbook's outcome sheets show them.
EXPORT_COLUMNS = {
    "indicator_id": "Indicator id", "indicator_title": "Indicator", "period": "Period",
    "unit": "Unit", "polarity": "Polarity", "value": "Value", "status": "Published symbol",
    "sn_mean": "Neighbour average (mean)", "sn_count": "Neighbours with data",
    "sn_size": "Neighbours in set", "sn_pooled": "Neighbour pooled rate",
    "england_value": "England", "region_value": "Region", "rank": "Rank", "rank_of": "Ranked LAs",
    "rank_order": "Rank order", "quartile_band": "Quartile band",
    "ci95_lower": "95% CI lower", "ci95_upper": "95% CI upper",
    "vs_neighbours_95": "vs neighbours (95%)", "vs_england_95": "vs England (95%)",
    "vs_region_95": "vs region (95%)", "ci998_lower": "99.8% CI lower",
    "ci998_upper": "99.8% CI upper", "vs_neighbours_998": "vs neighbours (99.8%)",
    "vs_england_998": "vs England (99.8%)", "vs_region_998": "vs region (99.8%)",
    "ci_method": "CI method", "previous_period": "Previous period",
    "previous_value": "Previous value", "change": "Change", "trend": "Recent trend",
    "trend_judgement": "Trend by polarity", "trend_points": "Trend points",
    "outcomes": "Outcomes", "neighbour_set": "Neighbour set",
}  # fmt: skip


@dataclass
class AreaBenchmark:
    """Everything shown for one LA: its rows, scorecard, neighbours, history and sources."""

    area: dict
    neighbour_set: str
    run: dict
    rows: pd.DataFrame
    scorecard: pd.DataFrame
    neighbours: pd.DataFrame
    history: pd.DataFrame
    sources: pd.DataFrame
    outcomes: pd.DataFrame
    inspection: dict | None = None  # latest area SEND inspection (benchmark.inspections)


def resolve_area(db: sqlite_utils.Database, query: str) -> dict:
    """The LA an ONS code, DfE code or name means; AreaError (with suggestions) otherwise.

    Matches of the best kind found (code, then name, then prefix, then substring) that are one
    place (an old and a new code of the same council) resolve to the current code.
    """
    areas = pd.read_sql("select * from areas", db.conn)
    found = AreaResolver(areas).find(query)
    if not found:
        las = areas.loc[areas["area_type"] == "la", "name"].drop_duplicates().tolist()
        close = difflib.get_close_matches(query, las, n=5, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise AreaError(f"no local authority matches {query!r}.{hint}")
    best = [row for row in found if row["match"] == found[0]["match"]]
    live = [row for row in best if is_missing(row["valid_to"])]
    places = {row["current_code"]: row for row in (live or best)}  # a live council wins
    if len(places) > 1:
        listing = "; ".join(
            f"{r['name']} ({r['area_code']}, DfE {_text(r['dfe_code']) or '-'}"
            f"{', ended ' + r['valid_to'] if not is_missing(r['valid_to']) else ''})"
            for r in places.values()
        )
        raise AreaError(f"{query!r} matches {len(places)} local authorities: {listing}. "
                        "Give a code or the full name.")  # fmt: skip
    (code,) = places
    record = areas[areas["area_code"] == code].iloc[0].to_dict()
    return {key: _text(value) for key, value in record.items()}


def choose_set(db: sqlite_utils.Database, set_id: str | None) -> str:
    """The neighbour set to show: ``set_id`` if stored, else the run's default (latest DfE)."""
    run = last_run(db)
    if run is None:
        raise BenchmarkError("benchmarks have not been computed: run `sendbench refresh` or "
                             "`sendbench benchmark --recompute`")  # fmt: skip
    if set_id is None:
        return run["default_set"]
    sets = stored_sets(db)
    if set_id not in sets:
        known = ", ".join(sets) or "none loaded"
        raise BenchmarkError(f"unknown neighbour set {set_id!r} (loaded sets: {known})")
    return set_id


def load_area_benchmark(db: sqlite_utils.Database, area_code: str, set_id: str | None = None, *,
                        outcomes: tuple[str, ...] = (), indicators: tuple[str, ...] = (),
                        periods: tuple[str, ...] = ()) -> AreaBenchmark:  # fmt: skip
    """The stored benchmark of one LA. ``periods``: () = each indicator's latest, ("all",) =
    every period, else those periods. ``outcomes``/``indicators`` narrow the indicators."""
    chosen = choose_set(db, set_id)
    conn = db.conn
    area = pd.read_sql("select * from areas where area_code = ?", conn, params=[area_code])
    region = pd.read_sql("select name from areas where area_code = ?", conn,
                         params=[area["region_code"].iloc[0]])  # fmt: skip
    rows = pd.read_sql(
        "select b.*, i.title as indicator_title, i.dataset as dataset_id from benchmarks b "
        "left join indicators i on i.id = b.indicator_id "
        "where b.area_code = ? and b.neighbour_set = ? order by b.indicator_id, b.period_start",
        conn, params=[area_code, chosen],
    )  # fmt: skip
    links = pd.read_sql("select indicator_id, outcome_id from indicator_outcomes", conn)
    all_outcomes = pd.read_sql("select * from outcomes order by rowid", conn)
    wanted = _wanted_indicators(rows, links, all_outcomes, outcomes, indicators)
    history = rows[rows["indicator_id"].isin(wanted)]
    rows = _period_filter(history, periods)
    by_indicator = links.groupby("indicator_id")["outcome_id"].agg(",".join)
    rows = rows.assign(outcomes=rows["indicator_id"].map(by_indicator))
    card = pd.read_sql(
        "select * from benchmark_scorecard where area_code = ? and neighbour_set = ? "
        "order by position", conn, params=[area_code, chosen],
    )  # fmt: skip
    if outcomes:
        card = card[card["outcome_id"].isin(outcomes)]
    info = {k: _text(v) for k, v in area.iloc[0].to_dict().items()}
    info["region_name"] = region["name"].iloc[0] if len(region) else None
    neighbours = _plain(neighbour_list(db, area_code, chosen))
    codes = [c for c in neighbours["neighbour_code"] if c]
    return AreaBenchmark(
        area=info, neighbour_set=chosen, run=last_run(db) or {}, rows=_plain(rows),
        scorecard=_plain(card), neighbours=neighbours,
        history=_plain(history), sources=_plain(sources(db, rows, chosen)),
        outcomes=_plain(all_outcomes), inspection=inspection_summary(conn, area_code, codes),
    )  # fmt: skip


def _plain(frame: pd.DataFrame) -> pd.DataFrame:
    """Object columns with None for every missing value (SQL NULL reads back as NaN) and whole
    numbers as int in the integer columns (a column with NULLs reads back as float)."""
    frame = frame.reset_index(drop=True).astype(object)
    frame = frame.where(frame.notna(), None)
    for column in frame.columns.intersection(INT_COLUMNS):
        frame[column] = [None if v is None else int(v) for v in frame[column]]
    return frame


def _wanted_indicators(rows, links, all_outcomes, outcomes, indicators) -> set[str]:
    wanted = set(rows["indicator_id"])
    unknown = [o for o in outcomes if o not in set(all_outcomes["id"])]
    if unknown:
        raise BenchmarkError(_unknown("outcome", unknown, all_outcomes["id"]))
    if outcomes:
        wanted &= set(links.loc[links["outcome_id"].isin(outcomes), "indicator_id"])
    if indicators:
        missing = [i for i in indicators if i not in set(rows["indicator_id"])]
        if missing:
            raise BenchmarkError(_unknown("indicator", missing, rows["indicator_id"].unique()))
        wanted &= set(indicators)
    return wanted


def _unknown(kind: str, names: list[str], known) -> str:
    known = list(known)
    parts = []
    for name in names:
        close = difflib.get_close_matches(name, known, n=3)
        parts.append(f"{name!r}" + (f" (did you mean {' or '.join(close)}?)" if close else ""))
    return f"unknown {kind} for this area: {', '.join(parts)}"


def _period_filter(rows: pd.DataFrame, periods: tuple[str, ...]) -> pd.DataFrame:
    if not periods:
        return rows[rows["is_latest"] == 1]
    if "all" in periods:
        return rows
    picked = rows[rows["period"].isin(periods)]
    if picked.empty:
        available = ", ".join(sorted(rows["period"].unique()))
        raise BenchmarkError(f"no benchmarks for period(s) {', '.join(periods)} "
                             f"(available: {available})")  # fmt: skip
    return picked


def neighbour_sets(db: sqlite_utils.Database) -> list[str]:
    """The neighbour sets loaded in ``statistical_neighbours``; BenchmarkError if there are none."""
    sets = []
    if db["statistical_neighbours"].exists():
        sets = [r[0] for r in db.execute("select distinct set_id from statistical_neighbours")]
    if not sets:
        raise BenchmarkError("no statistical neighbour set is loaded: run "
                             "`sendbench refresh dfe_statistical_neighbours`")  # fmt: skip
    return sorted(sets)


def pick_neighbour_set(sets: list[str], set_id: str | None) -> str:
    """``set_id`` if it is one of ``sets``, else the default (latest DfE) set."""
    if set_id is None:
        return default_set(sets)
    if set_id not in sets:
        raise BenchmarkError(f"unknown neighbour set {set_id!r} (loaded sets: {', '.join(sets)})")
    return set_id


def neighbour_list(db: sqlite_utils.Database, area_code: str, set_id: str) -> pd.DataFrame:
    """The LA's neighbours in a set: rank, name, codes, closeness."""
    if not db["statistical_neighbours"].exists():
        return pd.DataFrame(columns=["rank", "neighbour_code", "neighbour_name", "closeness"])
    return pd.read_sql(
        "select s.set_id, s.rank, s.neighbour_code, s.neighbour_dfe_code, "
        "coalesce(a.name, s.neighbour_name) as neighbour_name, s.closeness, s.published "
        "from statistical_neighbours s left join areas a on a.area_code = s.neighbour_code "
        "where s.area_code = ? and s.set_id = ? order by s.rank",
        db.conn, params=[area_code, set_id],
    )  # fmt: skip


def sources(db: sqlite_utils.Database, rows: pd.DataFrame, set_id: str | None = None):
    """One row per dataset behind the rows (and the areas and neighbours): release, URLs,
    licence, when it was last fetched; ``published`` where the harvest recorded it, and for the
    neighbours the publication month of the set used."""
    used = set(rows.get("dataset_id", pd.Series(dtype=str)).dropna())
    used |= {"dfe_areas", "dfe_statistical_neighbours"}
    harvest_cols = db["harvests"].columns_dict
    published = "h.published" if "published" in harvest_cols else "null"
    frame = pd.read_sql(
        f"select d.id as dataset_id, d.title, d.publisher, h.release, {published} as published, "
        "d.landing_page, group_concat(distinct h.source) as source, d.licence, "
        "max(h.finished) as fetched from datasets d left join harvests h on h.dataset_id = d.id "
        "and h.status = 'loaded' and h.run_id = (select run_id from harvests h2 where "
        "h2.dataset_id = d.id and h2.status = 'loaded' order by h2.id desc limit 1) "
        "group by d.id order by d.id",
        db.conn,
    )  # fmt: skip
    frame = frame[frame["dataset_id"].isin(used)].reset_index(drop=True)
    if set_id and db["statistical_neighbours"].exists():
        found = db.execute(
            "select max(published) from statistical_neighbours where set_id = ?", [set_id]
        ).fetchone()
        is_sn = frame["dataset_id"] == "dfe_statistical_neighbours"
        frame["published"] = frame["published"].astype(object)
        frame.loc[is_sn & frame["published"].isna(), "published"] = found[0]
    return frame


def export_frame(bench: AreaBenchmark) -> pd.DataFrame:
    """The rows with EXPORT_COLUMNS, in that order (the CSV and the outcome sheets)."""
    return bench.rows.reindex(columns=list(EXPORT_COLUMNS))


def _text(value):
    """None for a missing value (None, NaN, NA), the value otherwise."""
    return None if is_missing(value) else value


def is_missing(value) -> bool:
    """True for None, NaN and NA."""
    return value is None or (isinstance(value, float) and math.isnan(value)) or value is pd.NA
