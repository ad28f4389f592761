"""Area SEND inspection outcomes for one LA and its neighbours: shown and counted, never averaged.

Inspection outcomes are categories (written statement of action or not; progress at a revisit;
the 2023 framework's three outcomes), so they are not benchmarked like the numeric indicators.
:func:`inspection_summary` gives the LA's latest full inspection (its framework, outcome, dates,
report and Ofsted page links, and the revisit that followed, if any), its earlier visits, and
how many of its statistical neighbours' latest inspections had each outcome ("4 of 10
neighbours had a written statement of action"). It reads the ``send_inspections`` table that
``ofsted_send_inspections`` loads; with no such table it returns None.
"""

from __future__ import annotations

import sqlite3
from collections import Counter

FRAMEWORK_NAMES = {"2016": "2016 framework (May 2016 to 2022)", "2023": "2023 framework"}
# How a neighbour's latest inspection is counted (framework, outcome) -> the phrase after "had".
NOT_INSPECTED = "no area SEND inspection published"


def inspection_summary(conn: sqlite3.Connection, area_code: str,
                       neighbour_codes: list[str]) -> dict | None:  # fmt: skip
    """The LA's latest inspection, its visits and the neighbour counts; None without the table."""
    if not _has_table(conn):
        return None
    visits = _visits(conn, [area_code, *neighbour_codes])
    own = visits.get(area_code, [])
    latest = latest_inspection(own)
    counts = Counter(_category(latest_inspection(visits.get(code, []))) for code in neighbour_codes)
    return {
        "latest": latest,
        "revisit": _revisit_after(own, latest),
        "visits": sorted(own, key=_when, reverse=True),
        "neighbours": [
            {
                "category": category,
                "count": count,
                "of": len(neighbour_codes),
                "text": f"{count} of {len(neighbour_codes)} neighbours: {category}",
            }
            for category, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],  # fmt: skip
        "line": inspection_line(latest, _revisit_after(own, latest)),
    }


def latest_inspection(visits: list[dict]) -> dict | None:
    """The newest full inspection (not a revisit) among ``visits``, by start or publication."""
    full = [v for v in visits if v["visit"] == "inspection"]
    return max(full, key=_when) if full else None


def inspection_line(latest: dict | None, revisit: dict | None = None) -> str:
    """One sentence: the latest inspection's outcome, date and framework (and its revisit)."""
    if latest is None:
        return "No area SEND inspection has been published for this local area."
    when = latest.get("published_date") or latest.get("start_date") or "date not given"
    framework = FRAMEWORK_NAMES.get(latest["framework"], latest["framework"])
    line = f"Latest area SEND inspection: {latest['outcome']} ({framework}; published {when})"
    if revisit is not None:
        line += (f"; revisited {revisit.get('start_date') or ''}: "
                 f"{revisit['outcome'].lower()}")  # fmt: skip
    return line + "."


def _category(latest: dict | None) -> str:
    if latest is None:
        return NOT_INSPECTED
    if latest["framework"] == "2016":
        if latest.get("wsoa") == "Yes":
            return "a written statement of action (2016 framework)"
        return "no written statement of action (2016 framework)"
    return f"“{latest['outcome']}” (2023 framework)"


def _revisit_after(visits: list[dict], latest: dict | None) -> dict | None:
    if latest is None or latest["framework"] != "2016":
        return None
    after = [v for v in visits if v["visit"] == "revisit" and v["framework"] == "2016"
             and _when(v) >= _when(latest)]  # fmt: skip
    return min(after, key=_when) if after else None


def _when(visit: dict) -> str:
    return visit.get("start_date") or visit.get("published_date") or ""


def _visits(conn: sqlite3.Connection, codes: list[str]) -> dict[str, list[dict]]:
    marks = ", ".join("?" for _ in codes)
    cursor = conn.execute(f"select * from send_inspections where area_code in ({marks})", codes)
    columns = [c[0] for c in cursor.description]
    out: dict[str, list[dict]] = {}
    for row in cursor.fetchall():
        visit = dict(zip(columns, row, strict=True))
        out.setdefault(visit["area_code"], []).append(visit)
    return out


def _has_table(conn: sqlite3.Connection) -> bool:
    found = conn.execute(
        "select 1 from sqlite_master where type = 'table' and name = 'send_inspections'"
    ).fetchone()
    return found is not None
