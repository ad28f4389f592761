"""An LA's figures in one breakdown (``Sex: Female``, ``Ethnicity: Asian - Indian``, …).

``observations`` holds each published breakdown as a string ``"Topic: Value"``; the headline is
``"Total"``. The ``benchmarks`` table is computed for the headline only, so a breakdown is read
from ``observations`` with one query, :data:`BREAKDOWN_SQL`: per indicator and period, the LA's
value and status, the simple mean of the neighbours of the set that have a value (and how many
had one), the region's value and England's. That query is the one place the breakdown's
neighbour mean is computed. Every join is on the full unique key of ``observations``
(indicator_id, area_code, period, breakdown); the LA's own rows are found through the
(area_code, indicator_id) index, so nothing scans the table.

Ranks, quartile bands, significance and trends are not computed for breakdowns.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterable

from sendbench.normalise import SYMBOL_MEANINGS

HEADLINE = "Total"
ENGLAND = "E92000001"

BREAKDOWNS_SQL = (
    "select distinct breakdown from observations where area_code = ? and breakdown != ?"
)

BREAKDOWN_SQL = """
select la.indicator_id, la.area_code, la.period, la.period_start, la.value, la.status,
  la.dataset_id, la.release, i.title as indicator_title, i.unit,
  avg(n.value) as sn_mean, count(n.value) as sn_count, count(distinct s.neighbour_code) as sn_size,
  r.value as region_value, r.status as region_status,
  e.value as england_value, e.status as england_status
from observations la
left join indicators i on i.id = la.indicator_id
left join statistical_neighbours s on s.set_id = :set_id and s.area_code = la.area_code
left join observations n on n.indicator_id = la.indicator_id and n.area_code = s.neighbour_code
  and n.period = la.period and n.breakdown = la.breakdown
left join observations r on r.indicator_id = la.indicator_id and r.area_code = :region_code
  and r.period = la.period and r.breakdown = la.breakdown
left join observations e on e.indicator_id = la.indicator_id and e.area_code = :england
  and e.period = la.period and e.breakdown = la.breakdown
where la.area_code = :area_code and la.breakdown = :breakdown
group by la.indicator_id, la.period
order by la.indicator_id, la.period_start, la.period
"""


class BreakdownError(LookupError):
    """The LA has no observations in the breakdown asked for; the message lists what it has."""


def list_breakdowns(conn: sqlite3.Connection, area_code: str) -> list[str]:
    """The breakdowns (other than the headline) the LA has observations in."""
    return [row[0] for row in conn.execute(BREAKDOWNS_SQL, [area_code, HEADLINE]) if row[0]]


def split_breakdown(breakdown: str) -> tuple[str, str]:
    """``"Topic: Value"`` -> (topic, value), split at the first ``": "``; a breakdown without
    one is its own topic and value."""
    topic, sep, label = breakdown.partition(": ")
    return (topic, label) if sep else (breakdown, breakdown)


def group_breakdowns(breakdowns: Iterable[str]) -> list[dict]:
    """The breakdowns as the select shows them: one group per topic (topics A to Z), each with
    its options (value: the breakdown, label: the part after the topic) in natural order."""
    topics: dict[str, list[dict]] = {}
    for breakdown in breakdowns:
        topic, label = split_breakdown(breakdown)
        topics.setdefault(topic, []).append({"value": breakdown, "label": label})
    return [
        {"topic": topic, "options": sorted(topics[topic], key=lambda o: _natural(o["label"]))}
        for topic in sorted(topics, key=str.lower)
    ]


def _natural(text: str) -> list:
    """A sort key that puts "age 9" before "age 10"."""
    parts = re.split(r"(\d+)", text)  # text, number, text, …: the numbers at odd places
    return [int(part) if i % 2 else part.lower() for i, part in enumerate(parts)]


def status_text(status: str | None) -> str:
    """What the page shows instead of a missing value: the published symbol and its meaning,
    or "not published" when there is no row at all. Never a blank or a zero."""
    if status is None:
        return "not published"
    meaning = SYMBOL_MEANINGS.get(status)
    return f"{status} ({meaning})" if meaning else f"published as “{status}”"


def unknown_breakdown(area: dict, breakdown: str, breakdowns: list[str]) -> BreakdownError:
    """The error for a breakdown the LA has no observations in, saying what it does have."""
    name = f"{area['name']} ({area['area_code']})"
    message = f"{name} has no observations in the breakdown {breakdown!r}."
    if not breakdowns:
        return BreakdownError(f"{message} It has headline figures only.")
    groups = group_breakdowns(breakdowns)
    topic = split_breakdown(breakdown)[0].strip().lower()
    same = next((g for g in groups if g["topic"].lower() == topic), None)
    if same:
        labels = ", ".join(o["label"] for o in same["options"])
        return BreakdownError(f"{message} Its {same['topic']!r} breakdowns: {labels}.")
    topics = ", ".join(f"{g['topic']} ({len(g['options'])})" for g in groups)
    return BreakdownError(f"{message} Its breakdown topics (number of breakdowns): {topics}.")


def breakdown_rows(conn: sqlite3.Connection, area: dict, set_id: str, breakdown: str) -> list[dict]:
    """Every (indicator, period) the LA has an observation for in ``breakdown``, oldest first
    within an indicator, with the neighbour mean, region and England (see BREAKDOWN_SQL)."""
    params = {
        "set_id": set_id,
        "area_code": area["area_code"],
        "region_code": area.get("region_code"),
        "england": ENGLAND,
        "breakdown": breakdown,
    }
    cursor = conn.execute(BREAKDOWN_SQL, params)
    columns = [c[0] for c in cursor.description]
    return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def choose_rows(rows: list[dict], period: str | None) -> list[dict]:
    """Each indicator's row at ``period``, or (no period) at its latest period; each row gets
    its indicator's ``history`` (every row of the indicator, oldest first)."""
    history: dict[str, list[dict]] = {}
    for row in rows:
        history.setdefault(row["indicator_id"], []).append(row)
    shown = []
    for series in history.values():
        latest = max(series, key=lambda r: (r["period_start"] or "", r["period"]))
        chosen = [r for r in series if r["period"] == period] if period else [latest]
        shown.extend({**r, "history": series} for r in chosen)
    return shown


Bars = dict[tuple[str, str], list[tuple[str, float]]]


def neighbour_values(conn: sqlite3.Connection, area_code: str, set_id: str, breakdown: str,
                     shown: list[dict]) -> Bars:  # fmt: skip
    """(indicator_id, period) -> [(neighbour_code, value)] for the rows shown: the values the
    neighbour bars draw, each found through the observations' unique index."""
    wanted = sorted({(r["indicator_id"], r["period"]) for r in shown})
    if not wanted:
        return {}
    pairs = ", ".join("(?, ?)" for _ in wanted)
    sql = (f"with shown(indicator_id, period) as (values {pairs}) "
           "select sh.indicator_id, sh.period, s.neighbour_code, n.value from shown sh "
           "join statistical_neighbours s on s.set_id = ? and s.area_code = ? "
           "join observations n on n.indicator_id = sh.indicator_id "
           "and n.area_code = s.neighbour_code and n.period = sh.period and n.breakdown = ? "
           "where n.value is not null order by s.rank")  # fmt: skip
    params = [x for pair in wanted for x in pair] + [set_id, area_code, breakdown]
    found: Bars = {}
    for indicator_id, period, code, value in conn.execute(sql, params):
        found.setdefault((indicator_id, period), []).append((code, value))
    return found
