"""Capacity for the documented endpoints: heavy queries queue in a lane of their own.

Datasette runs every query on one pool of SQL threads (``num_sql_threads``). Four clients
looping on 3-second queries held all of them, and the documented endpoints waited behind them
(``latest_benchmarks.json`` p50 15 s). ``sendbench serve`` therefore:

- turns arbitrary SQL off unless ``--allow-sql`` is given (``?sql=``, ``_where=`` and the query
  editor answer 403): nothing sendbench documents needs it, and a read-only public database is
  safer without it;
- sends every request that is not a documented, indexed lookup through a lane of its own
  (``HEAVY_LANES`` at a time, others queue for up to ``QUEUE_SECONDS`` and then get a 503) with a
  shorter time limit (``HEAVY_LIMIT_MS``, Datasette's own ``_timelimit``): arbitrary SQL when it
  is allowed, ``_where``, facets, full-text search, sorting on an unindexed column, filters with
  operators (``value__gt=``) or on columns the documented endpoints do not filter on;
- so the dashboard, the API guide and the documented views and tables (``latest_benchmarks``,
  ``outcome_scorecard``, ``indicator_series``, ``indicator_catalogue``, ``observations``,
  ``benchmarks``, ``statistical_neighbours``… filtered on their key columns) keep the other
  SQL threads to themselves.

``bench/api_load.py`` measures the documented endpoints under 20 clients while 4 clients send
runaway queries.
"""

from __future__ import annotations

import asyncio
import json
from urllib.parse import parse_qsl, unquote, urlencode

HEAVY_LANES = 1
QUEUE_SECONDS = 30.0
HEAVY_LIMIT_MS = 1000
SQL_THREADS = 4  # HEAVY_LANES of them for heavy queries at most, the rest for the documented
# The columns the documented endpoints filter and sort on (all indexed or in small tables).
KEY_COLUMNS = frozenset({
    "area_code", "indicator_id", "neighbour_set", "period", "breakdown", "set_id", "dataset_id",
    "status", "is_latest", "outcome_id", "area_type", "id", "release", "neighbour_code",
    "framework", "visit", "outcome", "quartile_band", "current_code", "rank",
})  # fmt: skip
SORTS = frozenset({"period_start", "period", "rank", "rowid", "indicator_id", "area_code",
                   "start_date", "name"})  # fmt: skip
# Datasette's own parameters that cost nothing extra.
PLAIN = frozenset({"_shape", "_size", "_next", "_labels", "_nolabels", "_col", "_nocol", "_json",
                   "_nl", "_timelimit", "_sort", "_sort_desc", "_stream", "_dl",
                   "_nofacet", "_nocount", "_trace"})  # fmt: skip
OPERATORS = frozenset({"exact", "in"})


def is_heavy(path: str, query: str) -> bool:
    """Whether a request may run an expensive query (see the module docstring)."""
    parts = [p for p in unquote(path).split("/") if p]
    if not parts or parts[0].startswith("-"):  # /-/sendbench/…, /-/static…: pages, no SQL
        return False
    params = parse_qsl(query, keep_blank_values=True)
    names = {k for k, _ in params}
    if "sql" in names:
        return True
    if len(parts) == 1:  # the database page (no sql): its table list
        return False
    for key, value in params:
        if key.startswith("_"):
            if key not in PLAIN:
                return True  # _where, _facet*, _search*, _through, _filter_column…
            if key in ("_sort", "_sort_desc") and value not in SORTS:
                return True
            continue
        column, _, operator = key.partition("__")
        if column not in KEY_COLUMNS or (operator and operator not in OPERATORS):
            return True
    return False


def wrap(app, *, lanes: int = HEAVY_LANES, queue_seconds: float = QUEUE_SECONDS,
         limit_ms: int = HEAVY_LIMIT_MS):  # fmt: skip
    """The ASGI app with heavy requests sent through their own lane (Datasette's
    ``asgi_wrapper`` hook)."""
    state: dict = {}

    def semaphore() -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if state.get("loop") is not loop:  # one per event loop (tests run several)
            state.update(loop=loop, semaphore=asyncio.Semaphore(lanes))
        return state["semaphore"]

    async def wrapped(scope, receive, send):
        if scope.get("type") != "http":
            return await app(scope, receive, send)
        query = scope.get("query_string", b"").decode("latin-1")
        if not is_heavy(scope.get("path", ""), query):
            return await app(scope, receive, send)
        params = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "_timelimit"]
        asked = dict(parse_qsl(query)).get("_timelimit", "")
        limit = min(limit_ms, int(asked)) if asked.isdigit() else limit_ms
        scope = {**scope, "query_string": urlencode([*params, ("_timelimit", str(limit))])
                 .encode("latin-1")}  # fmt: skip
        lane = semaphore()
        try:
            await asyncio.wait_for(lane.acquire(), timeout=queue_seconds)
        except TimeoutError:
            return await _busy(send, queue_seconds)
        try:
            return await app(scope, receive, send)
        finally:
            lane.release()

    return wrapped


async def _busy(send, waited: float) -> None:
    body = json.dumps({
        "ok": False, "status": 503,
        "error": f"too many expensive queries are running; this one waited {waited:g} s. The "
                 "documented endpoints (/-/sendbench/api) are not affected: use them, or try "
                 "again later.",
    }).encode()  # fmt: skip
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"retry-after", b"10")]})  # fmt: skip
    await send({"type": "http.response.body", "body": body})
