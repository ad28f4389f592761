"""The database edge of the benchmark engine: its tables and views, recomputing them, reading them.

Tables: ``benchmarks`` (one row per indicator, LA, period and neighbour set; see
:mod:`sendbench.benchmark.compare`), ``benchmark_scorecard`` (per LA, set and outcome; see
:mod:`sendbench.benchmark.outcomes`) and ``benchmark_runs`` (when they were computed, from which
sets, which set is the default). Views: ``latest_benchmarks`` and ``outcome_scorecard`` (the
default set, latest periods, with names and titles) for Datasette and other tools. The CLI, the
exports and Datasette all read these tables, so they cannot disagree.
"""

from __future__ import annotations

import hashlib
import json
import time
from datetime import datetime, timezone

import pandas as pd
import sqlite_utils

from sendbench import __version__
from sendbench.benchmark.compare import BENCHMARK_COLUMNS, NO_SET, Progress, iter_benchmarks
from sendbench.benchmark.neighbours import default_set
from sendbench.benchmark.outcomes import SCORECARD_COLUMNS, scorecard
from sendbench.catalogue import Catalogue
from sendbench.errors import SendbenchError

RUNS = {
    "id": int, "computed_at": str, "default_set": str, "neighbour_sets": str,
    "benchmark_rows": int, "scorecard_rows": int, "seconds": float, "version": str,
    "inputs": str, "indicators_recomputed": int,
}  # fmt: skip
LATEST_BENCHMARKS_VIEW = """
select b.*, r.name as region_name, i.title as indicator_title, i.dataset as dataset_id
from benchmarks b
join benchmark_runs run on run.id = (select max(id) from benchmark_runs)
  and b.neighbour_set = run.default_set
left join indicators i on i.id = b.indicator_id
left join areas r on r.area_code = b.region_code
where b.is_latest = 1
order by b.area_code, b.indicator_id
"""
OUTCOME_SCORECARD_VIEW = """
select a.name as area_name, s.*
from benchmark_scorecard s
join benchmark_runs run on run.id = (select max(id) from benchmark_runs)
  and s.neighbour_set = run.default_set
left join areas a on a.area_code = s.area_code
order by s.area_code, s.position
"""
# An indicator's series: every LA, period and neighbour set, with the indicator's title; the
# columns other tools may rely on (the benchmarks table itself may gain columns).
INDICATOR_SERIES_VIEW = """
select b.indicator_id, i.title as indicator_title, b.area_code, b.area_name, b.neighbour_set,
  b.period, b.period_start, b.period_end, b.is_latest, b.unit, b.polarity, b.value, b.numerator,
  b.denominator, b.status, b.sn_mean, b.sn_pooled, b.sn_count, b.sn_size, b.region_value,
  b.england_value, b.rank, b.rank_of, b.quartile_band, b.ci95_lower, b.ci95_upper,
  b.vs_neighbours_95, b.vs_region_95, b.vs_england_95, b.change, b.trend, b.trend_judgement
from benchmarks b
left join indicators i on i.id = b.indicator_id
"""
PKS = {
    "benchmarks": ["neighbour_set", "area_code", "indicator_id", "period"],  # as rows are written
    "benchmark_scorecard": ["area_code", "neighbour_set", "outcome_id"],
}
VIEWS = {
    "latest_benchmarks": LATEST_BENCHMARKS_VIEW,
    "outcome_scorecard": OUTCOME_SCORECARD_VIEW,
    "indicator_series": INDICATOR_SERIES_VIEW,
}


class BenchmarkError(SendbenchError):
    """Benchmarks cannot be computed or shown: no data yet, an unknown neighbour set."""


def ensure_benchmark_shape(db: sqlite_utils.Database) -> None:
    """Create the benchmark tables, indexes and views if missing (idempotent).

    The tables are derived data: one made by an older sendbench with other columns is dropped
    and made again (empty; the next refresh or ``--recompute`` fills it).
    """
    derived = {"benchmarks": BENCHMARK_COLUMNS, "benchmark_scorecard": SCORECARD_COLUMNS}
    for name, columns in derived.items():
        if db[name].exists() and (
            list(db[name].columns_dict) != list(columns) or db[name].pks != PKS[name]
        ):
            for view in VIEWS:
                db.execute(f"drop view if exists [{view}]")
            db[name].drop()
            if db["benchmark_runs"].exists():
                db.execute("delete from benchmark_runs")
    db["benchmarks"].create(
        BENCHMARK_COLUMNS,
        pk=PKS["benchmarks"],
        if_not_exists=True,
    )
    db["benchmark_scorecard"].create(
        SCORECARD_COLUMNS, pk=PKS["benchmark_scorecard"], if_not_exists=True
    )
    db["benchmark_runs"].create(RUNS, pk="id", if_not_exists=True)
    for column, kind in RUNS.items():  # a runs table an older sendbench made
        if column not in db["benchmark_runs"].columns_dict:
            db["benchmark_runs"].add_column(column, kind)
    db["benchmarks"].create_index(
        ["indicator_id", "period"], "idx_benchmarks_indicator", if_not_exists=True
    )
    for name, sql in VIEWS.items():
        if name not in db.view_names():
            db.create_view(name, sql)


def read_inputs(
    db: sqlite_utils.Database, catalogue: Catalogue | None = None, only: list[str] | None = None
) -> dict:
    """observations (headline), areas, indicators, neighbours, outcomes and links as DataFrames.

    Indicator and outcome metadata come from ``catalogue`` when given, else from the tables the
    last refresh wrote from it. ``only``: just these indicators' observations.
    """
    conn = db.conn
    frames = {
        "observations": headline_observations(conn, only),
        "areas": pd.read_sql(
            "select area_code, name, area_type, region_code, valid_from, valid_to from areas", conn
        ),
        "neighbours": pd.read_sql(
            "select set_id, area_code, neighbour_code, rank from statistical_neighbours", conn
        )
        if db["statistical_neighbours"].exists()
        else pd.DataFrame(columns=["set_id", "area_code", "neighbour_code", "rank"]),
    }
    for name, frame in frames.items():
        frames[name] = _plain_strings(frame)
    if catalogue is not None:
        outcomes, _datasets, indicators = catalogue.to_records()
        frames["indicators"] = pd.DataFrame(indicators)
        frames["outcomes"] = pd.DataFrame(outcomes)
        links = [(i.id, o) for i in catalogue.indicators for o in i.outcomes]
        frames["links"] = pd.DataFrame(links, columns=["indicator_id", "outcome_id"])
    else:
        frames["indicators"] = pd.read_sql("select * from indicators", conn)
        frames["outcomes"] = pd.read_sql("select * from outcomes order by rowid", conn)
        links_sql = "select indicator_id, outcome_id from indicator_outcomes"
        frames["links"] = pd.read_sql(links_sql, conn)
    return frames


def headline_observations(conn, only: list[str] | None = None) -> pd.DataFrame:
    """Headline observations of LAs, regions and England (``only``: of these indicators)."""
    where, params = "", None
    if only is not None:
        where, params = (
            " and o.indicator_id in (select value from json_each(?))",
            [json.dumps(only)],
        )
    frame = pd.read_sql(
        "select o.indicator_id, o.area_code, o.period, o.value, o.numerator, o.denominator, "
        "o.status, o.period_start, o.period_end from observations o "
        "join areas a on a.area_code = o.area_code "
        "where o.breakdown = 'Total' and a.area_type in ('la', 'region', 'country')" + where,
        conn,
        params=params,
    )
    return _plain_strings(frame)


def _plain_strings(frame: pd.DataFrame) -> pd.DataFrame:
    """Text columns as plain Python strings: faster to merge and group here."""
    text = [c for c in frame.columns if pd.api.types.is_string_dtype(frame[c].dtype)]
    return frame.astype(dict.fromkeys(text, object))


def compute_benchmarks(
    db: sqlite_utils.Database,
    catalogue: Catalogue | None = None,
    progress: Progress | None = None,
    *,
    changed: set[str] | None = None,
) -> dict:
    """Recompute ``benchmarks`` and ``benchmark_scorecard`` for every loaded neighbour set and
    replace them in one transaction. Returns the ``benchmark_runs`` row written.

    ``changed`` (the indicators whose observations a refresh added or revised) limits the work
    to those indicators: each indicator's benchmarks depend only on its own observations, the
    areas, the neighbour sets and its catalogue entry, so the other indicators' rows stay and
    the scorecard is rebuilt from the stored latest rows. Everything is recomputed instead when
    those shared inputs (areas, neighbour sets, indicator metadata, sendbench's version) differ
    from the last run's, or there is no earlier run.

    Each set's rows are written as soon as they are built (only their latest rows are kept, for
    the scorecard), so memory holds one set at a time, not the whole table.
    """
    say = progress or (lambda message: None)
    started = time.perf_counter()
    ensure_benchmark_shape(db)
    inputs = read_inputs(db, catalogue, only=None if changed is None else sorted(changed))
    fingerprint = _inputs_fingerprint(inputs)
    previous = last_run(db)
    partial = changed is not None and previous is not None and previous["inputs"] == fingerprint
    if changed is not None and not partial:
        say("areas, neighbour sets or indicator definitions changed: recomputing everything")
        inputs["observations"] = headline_observations(db.conn)
    scope = f" of {len(changed)} changed indicators" if partial else ""
    say(f"reading {len(inputs['observations']):,} headline observations{scope}")
    sets = sorted(inputs["neighbours"]["set_id"].unique())
    frames = (
        iter_benchmarks(
            inputs["observations"], inputs["areas"], inputs["indicators"], inputs["neighbours"], say
        )
        if not inputs["observations"].empty
        else iter([])  # e.g. only the areas are loaded yet: empty tables
    )
    run = {
        "computed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "default_set": default_set(sets) or NO_SET,
        "neighbour_sets": json.dumps(sets),
        "benchmark_rows": 0,
        "scorecard_rows": 0,
        "seconds": None,
        "version": __version__,
        "inputs": fingerprint,
        "indicators_recomputed": len(changed) if partial else None,
    }
    conn = db.conn
    conn.commit()
    conn.execute("BEGIN IMMEDIATE")  # readers never see a half-written benchmark table
    try:
        if partial:
            _delete_indicators(conn, [*changed, *_gone(conn, inputs["indicators"])])
        else:
            conn.execute("DELETE FROM benchmarks")
        latest = []
        for frame in frames:
            _insert(conn, "benchmarks", frame)
            if not partial:
                latest.append(frame.loc[frame["is_latest"] == 1, SCORECARD_INPUTS])
        if partial:
            columns = ", ".join(SCORECARD_INPUTS)
            latest = [pd.read_sql(f"SELECT {columns} FROM benchmarks WHERE is_latest = 1", conn)]
        run["benchmark_rows"] = conn.execute("SELECT count(*) FROM benchmarks").fetchone()[0]
        say(f"{run['benchmark_rows']:,} benchmark rows")
        table = pd.concat(latest, ignore_index=True) if latest else _empty(SCORECARD_INPUTS)
        cards = scorecard(table, inputs["outcomes"], inputs["links"])
        conn.execute("DELETE FROM benchmark_scorecard")
        run["scorecard_rows"] = _insert(conn, "benchmark_scorecard", cards)
        run["seconds"] = round(time.perf_counter() - started, 3)
        keys = list(run)
        marks = ", ".join("?" for _ in keys)
        conn.execute(
            f"INSERT INTO benchmark_runs ({', '.join(keys)}) VALUES ({marks})",
            [run[k] for k in keys],
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return run


def _inputs_fingerprint(inputs: dict) -> str:
    """Identifies what every indicator's benchmarks share: areas, neighbours, indicator metadata."""
    digest = hashlib.sha256(__version__.encode())
    for name in ("areas", "neighbours", "indicators"):
        frame = inputs[name].astype(str)
        frame = frame.reindex(sorted(frame.columns), axis=1)
        frame = frame.sort_values(list(frame.columns)).reset_index(drop=True)
        digest.update(name.encode())
        digest.update(frame.to_csv(index=False).encode())
    return digest.hexdigest()


def _delete_indicators(conn, indicator_ids: list[str]) -> None:
    for start in range(0, len(indicator_ids), 500):
        part = indicator_ids[start : start + 500]
        marks = ", ".join("?" for _ in part)
        conn.execute(f"DELETE FROM benchmarks WHERE indicator_id IN ({marks})", part)


def _gone(conn, indicators: pd.DataFrame) -> list[str]:
    """Indicators with stored benchmarks that the catalogue no longer has."""
    stored = {r[0] for r in conn.execute("SELECT DISTINCT indicator_id FROM benchmarks")}
    return sorted(stored - set(indicators["id"]))


SCORECARD_INPUTS = [
    "area_code", "neighbour_set", "indicator_id", "is_latest", "value",
    "vs_neighbours_95", "vs_england_95",
]  # fmt: skip


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _insert(conn, table: str, frame: pd.DataFrame) -> int:
    columns = ", ".join(f"[{c}]" for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    conn.executemany(f"INSERT INTO [{table}] ({columns}) VALUES ({marks})", _rows(frame))
    return len(frame)


def _rows(frame: pd.DataFrame, chunk: int = 5_000):
    """Rows as lists of Python values with None for NaN, converted a chunk at a time (a whole
    table of Python objects would take several times the frame's memory)."""
    for start in range(0, len(frame), chunk):
        part = frame.iloc[start : start + chunk]
        columns = [_values(part[column]) for column in part.columns]
        yield from zip(*columns, strict=True)


def _values(column: pd.Series) -> list:
    """A column as Python values, None for a missing one (NaN, NA, None)."""
    if pd.api.types.is_numeric_dtype(column):
        return [None if v != v else v for v in column.tolist()]  # NaN is the only v != v
    return column.astype(object).where(column.notna(), None).tolist()


def last_run(db: sqlite_utils.Database) -> dict | None:
    """The latest ``benchmark_runs`` row, or None if benchmarks were never computed."""
    if not db["benchmark_runs"].exists():
        return None
    rows = list(db.query("select * from benchmark_runs order by id desc limit 1"))
    return rows[0] if rows else None


def stored_sets(db: sqlite_utils.Database) -> list[str]:
    """The neighbour sets the stored benchmarks were computed for."""
    run = last_run(db)
    return json.loads(run["neighbour_sets"]) if run else []


def needs_benchmarks(db: sqlite_utils.Database) -> bool:
    """True when there are observations but benchmarks were never computed."""
    has_obs = db["observations"].exists() and db["observations"].count > 0
    return has_obs and last_run(db) is None


# --- descriptions for the Datasette metadata (sendbench.db.serve) --------------------------------

BENCHMARK_HELP = {
    "indicator_id": "Catalogue indicator (see the indicators table)",
    "area_code": "ONS code of the LA (its current code where the code changed one-for-one)",
    "period": "Normalised period (academic year 2024/25, calendar year 2024, …)",
    "neighbour_set": "Statistical neighbour set the sn_* and vs_neighbours_* columns use "
    "(e.g. dfe-2025-05); 'none' when no set is loaded",
    "is_latest": "1 for the indicator's latest period",
    "value": "The LA's published value; NULL when a symbol was published (see status)",
    "status": "The published symbol when there is no number (x, c, z, low…)",
    "england_value": "England's published value",
    "region_value": "The LA's region's published value",
    "sn_mean": "Neighbour average: simple mean of the neighbours with a value (as LAIT)",
    "sn_pooled": "Neighbours' pooled rate: sum of numerators / sum of denominators, in the unit",
    "sn_count": "How many neighbours had a value (used in sn_mean)",
    "sn_pooled_count": "How many neighbours had a numerator and denominator (used in sn_pooled)",
    "sn_size": "How many neighbours the set lists for the LA",
    "rank": "Rank among LAs with a value: 1 = best by polarity (1 = highest if no polarity), "
    "ties share the lowest rank",
    "rank_of": "How many LAs were ranked",
    "quartile_band": "LAIT quartile band A (best quarter) to D, type 7 quartiles; '-' when "
    "the indicator has no polarity",
    "ci_method": "wilson (proportions), byar or exact_poisson (counts and rates)",
    "ci95_lower": "Lower 95% confidence limit, in the unit",
    "ci95_upper": "Upper 95% confidence limit",
    "ci998_lower": "Lower 99.8% confidence limit",
    "ci998_upper": "Upper 99.8% confidence limit",
    "vs_england_95": "better / similar / worse than England at 95% (higher / similar / lower "
    "when the indicator has no polarity)",
    "vs_region_95": "The same against the region's value",
    "vs_neighbours_95": "The same against the neighbours' pooled rate",
    "previous_period": "The indicator's period before this one",
    "change": "value minus the LA's value in previous_period",
    "trend_points": "Consecutive annual points found for the recent trend (5 are needed)",
    "trend_chi2": "Chi-squared for trend over the last 5 annual points",
    "trend": "increasing / decreasing / no significant change (99.8%, chi-squared > 9.5495); "
    "'too few points' or 'not assessed' (no numerator and denominator, not annual)",
    "trend_judgement": "getting better / getting worse by polarity",
}
SCORECARD_HELP = {
    "outcome_id": "SEND logic-model outcome (see the outcomes table)",
    "status": "covered; 'no data for this area'; 'gap: no indicator yet' (no indicator in the "
    "catalogue evidences this outcome)",
    "indicators": "Indicators in the catalogue that evidence the outcome",
    "with_data": "Of those, how many have a value for the LA in their latest period",
    "neighbours_better": "Indicators significantly better than the neighbours' pooled rate (95%)",
    "neighbours_similar": "Indicators similar to the neighbours (95%)",
    "neighbours_worse": "Indicators significantly worse than the neighbours (95%)",
    "neighbours_higher_or_lower": "Significantly different, on an indicator with no polarity",
    "neighbours_not_compared": "No interval (no numerator/denominator or no value) or no "
    "neighbour value",
    "england_better": "The same counts against England",
}
