"""What the LA dashboard shows, read from the stored benchmark tables with plain SQL.

:func:`load_dashboard` takes a ``sqlite3`` connection (Datasette hands one to
``Database.execute_fn``) and returns the page's data: the LA, the neighbour sets, one section per
logic-model outcome with its indicators (value, neighbour average, England, band, significance,
trend, the series over time and the neighbours' values) and the outcome gaps. The rows are the
``benchmarks`` table's (for the default set they are the ``latest_benchmarks`` view's rows), so
the dashboard, the CLI, the workbook and the JSON API cannot disagree. The page opens with the
LA's latest area SEND inspection (:mod:`sendbench.benchmark.inspections`), its neighbours'
outcomes counted, never averaged. With a breakdown
(``Sex: Female`` …) the rows come from ``observations`` instead (:mod:`.breakdowns`): values and
a simple neighbour average only, as nothing else is computed for breakdowns.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field

import sqlite_utils

from sendbench.benchmark.inspections import inspection_summary
from sendbench.benchmark.outcomes import GAP, NO_DATA
from sendbench.benchmark.report import choose_set, resolve_area
from sendbench.benchmark.store import last_run
from sendbench.dashboard.breakdowns import (
    BreakdownError,
    breakdown_rows,
    choose_rows,
    group_breakdowns,
    list_breakdowns,
    neighbour_values,
    unknown_breakdown,
)
from sendbench.errors import AreaError

__all__ = ["AreaError", "BreakdownError", "Dashboard", "FilterError", "find_area", "list_las",
           "load_dashboard"]  # fmt: skip


class FilterError(LookupError):
    """A period or outcome the page cannot show; the message lists the valid choices."""


ROWS_SQL = """
select b.*, i.title as indicator_title, i.definition, i.dataset as dataset_id, o.release
from benchmarks b
left join indicators i on i.id = b.indicator_id
left join observations o on o.indicator_id = b.indicator_id and o.area_code = b.area_code
  and o.period = b.period and o.breakdown = 'Total'
where b.area_code = ? and b.neighbour_set = ?
order by b.indicator_id, b.period_start
"""


@dataclass
class Dashboard:
    """One LA's dashboard under one neighbour set, narrowed by outcome and period."""

    area: dict
    neighbour_set: str
    sets: list[str]
    run: dict
    neighbours: list[dict]
    outcomes: list[dict]  # every outcome (for the filter), with its scorecard row
    sections: list[dict]  # the outcomes shown, each with its indicator rows
    periods: list[str]
    outcome: str | None = None
    period: str | None = None
    gaps: list[dict] = field(default_factory=list)
    no_data: list[dict] = field(default_factory=list)
    breakdown: str | None = None  # None: the headline ("Total")
    breakdowns: list[dict] = field(default_factory=list)  # the LA's, grouped by topic
    counts: dict[str, int] = field(default_factory=dict)  # outcome -> indicators shown
    region: dict | None = None  # the LA's region (breakdown pages)
    inspection: dict | None = None  # latest area SEND inspection, neighbours counted
    finance: list[dict] = field(default_factory=list)  # high-needs finance rows (headline)


def list_las(conn: sqlite3.Connection) -> list[dict]:
    """The current LAs (code, name, DfE code), by name: the choices of the area box."""
    sql = ("select area_code, name, dfe_code from areas where area_type = 'la' "
           "and valid_to is null order by name")  # fmt: skip
    return [dict(zip(("area_code", "name", "dfe_code"), r, strict=True)) for r in conn.execute(sql)]


def find_area(conn: sqlite3.Connection, query: str) -> dict:
    """The LA ``query`` (ONS code, DfE code or name) means, as :func:`resolve_area` finds it;
    AreaError with suggestions otherwise. A current LA's exact ONS code is looked up directly."""
    query = query.strip()
    cursor = conn.execute(
        "select * from areas where area_code = ? and area_type = 'la' and valid_to is null",
        [query],
    )
    row = cursor.fetchone()
    if row is not None:
        return dict(zip([c[0] for c in cursor.description], row, strict=True))
    if not query:
        raise AreaError("choose a local authority: type its name, ONS code or DfE code")
    return resolve_area(sqlite_utils.Database(conn), query)


def load_dashboard(conn: sqlite3.Connection, area: dict, set_id: str | None = None,
                   outcome: str | None = None, period: str | None = None,
                   breakdown: str | None = None) -> Dashboard:  # fmt: skip
    """The dashboard of ``area`` (a row of ``areas``): the headline benchmarks, or with
    ``breakdown`` the LA's observations in that breakdown (see :mod:`.breakdowns`).
    BenchmarkError for an unknown set, BreakdownError for a breakdown the LA does not have."""
    db = sqlite_utils.Database(conn)
    chosen = choose_set(db, set_id or None)
    run = last_run(db) or {}
    breakdowns = list_breakdowns(conn, area["area_code"])
    if breakdown and breakdown not in breakdowns:
        raise unknown_breakdown(area, breakdown, breakdowns)
    neighbours = _neighbours(conn, area["area_code"], chosen)
    if breakdown:
        rows = breakdown_rows(conn, area, chosen, breakdown)
    else:
        rows = _query(conn, ROWS_SQL, [area["area_code"], chosen])
    periods = _periods(rows)
    if period and period not in periods:
        raise FilterError(
            f"{area['name']} has no figures for the period {period!r}"
            + (f" in the breakdown {breakdown!r}" if breakdown else "")
            + f"; periods with figures: {', '.join(periods) or 'none'}"
        )
    if breakdown:
        shown = choose_rows(rows, period)
        bars = neighbour_values(conn, area["area_code"], chosen, breakdown, shown)
        _add_peers(area, shown, bars, neighbours)
    else:
        shown = _headline_rows(conn, area, chosen, rows, period, neighbours)
    cards, by_outcome = _outcomes(conn, area["area_code"], chosen)
    if outcome and outcome not in {c["outcome_id"] for c in cards}:
        raise FilterError(
            f"there is no logic-model outcome {outcome!r}; outcomes: "
            + ", ".join(c["outcome_id"] for c in cards)
        )
    listed = {c["outcome_id"]: _in_outcome(shown, by_outcome, c) for c in cards}
    sections = [{**c, "rows": listed[c["outcome_id"]]} for c in cards
                if not outcome or c["outcome_id"] == outcome]  # fmt: skip
    if breakdown:  # outcomes with an indicator in the catalogue but none in this breakdown
        no_data = [c for c in cards if c["status"] != GAP and not listed[c["outcome_id"]]]
    else:
        no_data = [c for c in cards if c["status"] == NO_DATA]
    return Dashboard(
        area=area, neighbour_set=chosen, run=run,
        sets=json.loads(run.get("neighbour_sets") or "[]"),
        neighbours=neighbours, outcomes=cards, sections=sections, periods=periods,
        outcome=outcome, period=period,
        gaps=[c for c in cards if c["status"] == GAP], no_data=no_data,
        breakdown=breakdown or None, breakdowns=group_breakdowns(breakdowns),
        counts={k: len(v) for k, v in listed.items()},
        region=_region(conn, area) if breakdown else None,
        inspection=inspection_summary(conn, area["area_code"], _codes(neighbours)),
        finance=[] if breakdown else finance_rows(shown),
    )  # fmt: skip


FINANCE_DATASETS = ("dfe_high_needs",)


def finance_rows(shown: list[dict]) -> list[dict]:
    """The headline rows of the high-needs finance indicators, by title: a section of their own
    (they also appear under the outcomes they evidence)."""
    rows = [r for r in shown if r.get("dataset_id") in FINANCE_DATASETS]
    return sorted(rows, key=lambda r: r["indicator_title"] or r["indicator_id"])


def _codes(neighbours: list[dict]) -> list[str]:
    return [n["neighbour_code"] for n in neighbours if n["neighbour_code"]]


def _neighbours(conn: sqlite3.Connection, area_code: str, set_id: str) -> list[dict]:
    """The LA's neighbours in the set, by rank: rank, neighbour_code, name, closeness."""
    return _query(
        conn,
        "select s.rank, s.neighbour_code, coalesce(a.name, s.neighbour_name) as name, "
        "s.closeness from statistical_neighbours s left join areas a "
        "on a.area_code = s.neighbour_code where s.area_code = ? and s.set_id = ? order by s.rank",
        [area_code, set_id],
    )


def _outcomes(conn: sqlite3.Connection, area_code: str, set_id: str) -> tuple[list, dict]:
    """The LA's scorecard rows (blank ones if it has no benchmarks), in the logic model's
    order, and outcome -> the ids of its indicators."""
    cards = _query(
        conn,
        "select * from benchmark_scorecard where area_code = ? and neighbour_set = ? "
        "order by position",
        [area_code, set_id],
    )
    links = _query(conn, "select indicator_id, outcome_id from indicator_outcomes", [])
    by_outcome: dict[str, set[str]] = {}
    for link in links:
        by_outcome.setdefault(link["outcome_id"], set()).add(link["indicator_id"])
    return cards or _blank_cards(conn), by_outcome


def _headline_rows(conn, area: dict, set_id: str, rows: list[dict], period: str | None,
                   neighbours: list[dict]) -> list[dict]:  # fmt: skip
    """The benchmark rows shown (at ``period``, else each indicator's latest), each with its
    series over time and the neighbour group's values."""
    shown = [r for r in rows if (r["period"] == period if period else r["is_latest"] == 1)]
    history: dict[str, list[dict]] = {}
    for r in rows:
        history.setdefault(r["indicator_id"], []).append(r)
    for r in shown:
        r["history"] = history[r["indicator_id"]]
    peers = _peer_values(conn, set_id, [n["neighbour_code"] for n in neighbours])
    _add_peers(area, shown, peers, neighbours)
    return shown


def _add_peers(area: dict, shown: list[dict], peers: dict, neighbours: list[dict]) -> None:
    """Give each row shown its bars: the LA first, then each neighbour's value at its period."""
    names = {n["neighbour_code"]: n["name"] for n in neighbours}
    for r in shown:
        r["peers"] = [(area["name"], r["value"], True)] + [
            (names[code], value, False)
            for code, value in peers.get((r["indicator_id"], r["period"]), [])
        ]


def _in_outcome(shown: list[dict], by_outcome: dict[str, set[str]], card: dict) -> list[dict]:
    """The rows of the outcome's indicators, by title."""
    ids = by_outcome.get(card["outcome_id"], set())
    return sorted((r for r in shown if r["indicator_id"] in ids),
                  key=lambda r: (r["indicator_title"] or r["indicator_id"]))  # fmt: skip


def _region(conn: sqlite3.Connection, area: dict) -> dict | None:
    """The LA's region (area_code, name), if ``areas`` names one."""
    rows = _query(conn, "select area_code, name from areas where area_code = ?",
                  [area.get("region_code")])  # fmt: skip
    return rows[0] if rows else None


def _query(conn: sqlite3.Connection, sql: str, params: list) -> list[dict]:
    cursor = conn.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _periods(rows: list[dict]) -> list[str]:
    """The LA's periods, latest first (by the period's start date)."""
    starts: dict[str, str] = {}
    for r in rows:
        starts[r["period"]] = max(starts.get(r["period"], ""), r["period_start"] or "")
    return sorted(starts, key=lambda p: (starts[p], p), reverse=True)


def _peer_values(conn: sqlite3.Connection, set_id: str, codes: list[str]) -> dict:
    """(indicator_id, period) -> [(area_code, value)] of the neighbours' rows in the set."""
    if not codes:
        return {}
    marks = ", ".join("?" for _ in codes)
    sql = (f"select area_code, indicator_id, period, value from benchmarks "
           f"where neighbour_set = ? and area_code in ({marks})")  # fmt: skip
    found: dict[tuple[str, str], list] = {}
    for code, indicator_id, period, value in conn.execute(sql, [set_id, *codes]):
        found.setdefault((indicator_id, period), []).append((code, value))
    return found


def _blank_cards(conn: sqlite3.Connection) -> list[dict]:
    """Scorecard-shaped rows for an LA with no benchmarks: every outcome, nothing counted."""
    rows = _query(conn, "select id as outcome_id, title as outcome_title, level, theme "
                  "from outcomes order by rowid", [])  # fmt: skip
    return [{**r, "status": NO_DATA, "indicators": None, "with_data": 0} for r in rows]
