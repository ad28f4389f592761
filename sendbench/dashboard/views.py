"""The dashboard's pages: ``/-/sendbench/dashboard`` (one LA) and ``/-/sendbench/api`` (the guide).

The dashboard URL carries the choice (``?area=E06000051&set=dfe-2025-05&outcome=…&period=…
&breakdown=Sex: Female``) so it can be bookmarked; a name or DfE code in ``area`` redirects to the
LA's ONS code, and ``breakdown=Total`` to the headline page's URL (no breakdown). An unknown LA,
neighbour set, breakdown, outcome or period gives a 404 page that says what exists, and is never
cached (only pages answered 200 are). The API guide lists the JSON
endpoints other tools should use, with a live example of each from this database.
"""

from __future__ import annotations

import asyncio
import gzip
import json
import weakref
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import sqlite_utils
from datasette.utils import tilde_encode
from datasette.utils.asgi import Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from sendbench.benchmark.store import BenchmarkError, last_run
from sendbench.dashboard.breakdowns import HEADLINE, status_text
from sendbench.dashboard.charts import fmt, marker_defs, neighbours_svg, trend_svg
from sendbench.dashboard.data import (
    AreaError,
    BreakdownError,
    FilterError,
    find_area,
    list_las,
    load_dashboard,
)

DASHBOARD_PATH = "/-/sendbench/dashboard"
API_PATH = "/-/sendbench/api"
FILTERS = ("area", "set", "outcome", "period", "breakdown")


class _Templates(Environment):
    """The pages are rendered by a plain (synchronous) Jinja environment: Datasette's own is async
    and several times slower on a page of ~200 indicator rows; the pages use only ``urls``.

    Jinja looks ``row.value`` up as an attribute first and a key second; the pages' rows are
    dicts, so keys are looked up first (thousands of lookups a page: the headline page renders
    about 15% faster)."""

    def getattr(self, obj, attribute):
        if type(obj) is dict and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)


TEMPLATES = _Templates(
    loader=FileSystemLoader(Path(__file__).parent / "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
)
# Rendered pages are kept gzipped (an LA's headline page is about 600 KB of HTML, 60 KB
# gzipped). The database is served immutably, so a page for the same filters never changes while
# the server runs; the newest CACHE_SIZE are kept (about 15 MB: every LA under two neighbour sets).
CACHE_SIZE = 256


@dataclass
class _Served:
    """What the pages keep per Datasette instance (the database never changes under it)."""

    pages: OrderedDict = field(default_factory=OrderedDict)  # filters -> gzipped page
    table_paths: dict[str, str] = field(default_factory=dict)  # table -> Datasette path
    default_set: str | None = None  # the neighbour set a page without ``set`` shows


_served: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _state(datasette) -> _Served:
    return _served.setdefault(datasette, _Served())


async def dashboard_page(datasette, request) -> Response:
    """The LA dashboard, or the chooser when no LA is given; gzipped when the client accepts it,
    as every browser does."""
    args = {key: (request.args.get(key) or "").strip() for key in FILTERS}
    page = await _page(datasette, args)
    if page.status != 200 or _accepts_gzip(request.headers.get("accept-encoding", "")):
        return page
    headers = {k: v for k, v in page.headers.items() if k != "content-encoding"}
    return Response(gzip.decompress(page.body), status=page.status, headers=headers,
                    content_type=page.content_type)  # fmt: skip


async def warm_pages(datasette, pause: float = 0.0) -> int:
    """Ask for every current LA's dashboard as it first opens (default neighbour set, every
    outcome, each indicator's latest period), through Datasette like any client, so that the
    page cache holds them all; LA by LA, sleeping ``pause`` seconds between LAs so that other
    requests are served meanwhile. Returns the pages rendered."""
    las = await datasette.get_database().execute_fn(list_las)
    rendered = 0
    for la in las[:CACHE_SIZE]:
        response = await datasette.client.get(dashboard_url({"area": la["area_code"]}))
        rendered += response.status_code == 200
        await asyncio.sleep(pause)
    return rendered


async def _page(datasette, args: dict) -> Response:
    """The page for these filters: from the cache (gzipped), else rendered, gzipped and cached;
    a redirect or an error page is not cached (nor gzipped). A page without ``set`` and one
    naming the default set are the same page."""
    state = _state(datasette)
    if state.default_set is None:
        run = await datasette.get_database().execute_fn(
            lambda conn: last_run(sqlite_utils.Database(conn)) or {}
        )
        state.default_set = run.get("default_set") or ""
    key = tuple(args[k] for k in FILTERS)
    key = (key[0], key[1] or state.default_set, *key[2:])
    page = state.pages.get(key)
    if page is not None:
        state.pages.move_to_end(key)
        return page
    response = await _dashboard(datasette, args)
    if response.status != 200:
        return response
    page = state.pages[key] = _gzipped(response)
    while len(state.pages) > CACHE_SIZE:
        state.pages.popitem(last=False)
    return page


def _accepts_gzip(header: str) -> bool:
    """Whether an Accept-Encoding header accepts gzip (``gzip;q=0`` refuses it)."""
    for part in header.lower().split(","):
        coding, _, params = part.strip().partition(";")
        if coding.strip() in ("gzip", "*"):
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False


def _gzipped(response: Response) -> Response:
    body = response.body.encode("utf-8") if isinstance(response.body, str) else response.body
    headers = {**response.headers, "content-encoding": "gzip", "vary": "Accept-Encoding"}
    return Response(gzip.compress(body, compresslevel=6), status=response.status,
                    headers=headers, content_type=response.content_type)  # fmt: skip


async def _dashboard(datasette, args: dict) -> Response:
    db = datasette.get_database()
    las = await db.execute_fn(list_las)
    context = {
        "las": las,
        "args": args,
        "dash": None,
        "error": None,
        "marker_defs": marker_defs(),
    }
    if not args["area"]:
        return _render(datasette, context)
    try:
        area = await db.execute_fn(lambda conn: find_area(conn, args["area"]))
        canonical = {**args, "area": area["area_code"]}
        if args["breakdown"] == HEADLINE:  # the headline is the page without a breakdown
            canonical["breakdown"] = ""
        if canonical != args:  # a name, a DfE code or "Total": go to the bookmarkable URL
            return Response.redirect(dashboard_url(canonical))
        dash = await db.execute_fn(
            lambda conn: load_dashboard(
                conn, area, args["set"], args["outcome"] or None, args["period"] or None,
                args["breakdown"] or None,
            )
        )  # fmt: skip
    except (AreaError, BenchmarkError) as exc:
        return _render(datasette, {**context, "error": str(exc)}, status=404)
    except (BreakdownError, FilterError) as exc:
        dropped = "breakdown" if isinstance(exc, BreakdownError) else ("period", "outcome")
        headline = dashboard_url({k: v for k, v in args.items() if k not in dropped})
        hint = (": its Breakdown list has every breakdown this LA has."
                if isinstance(exc, BreakdownError) else " (every outcome, each indicator's latest "
                "period), whose Outcome and Period lists have the valid choices.")  # fmt: skip
        context.update(error=str(exc), error_link=datasette.urls.path(headline), error_hint=hint)
        return _render(datasette, context, status=404)
    _decorate(datasette, db.name, dash)
    context.update(dash=dash, json_url=_json_url(datasette, db.name, dash))
    return _render(datasette, context)


def dashboard_url(args: dict) -> str:
    """The dashboard URL for these filters (empty ones left out)."""
    query = urlencode({k: args[k] for k in FILTERS if args.get(k)})
    return DASHBOARD_PATH + (f"?{query}" if query else "")


def _decorate(datasette, database: str, dash) -> None:
    """Add the charts, formatted numbers and Datasette links to each indicator row. An indicator
    under several outcomes gets its charts at its first listing; later listings link there."""
    first: dict[str, dict] = {}
    name = dash.area["name"]
    for section in dash.sections:
        rows = []
        for row in section["rows"]:
            if row["indicator_id"] in first:
                rows.append({**row, "charts_at": first[row["indicator_id"]]})
                continue
            first[row["indicator_id"]] = section
            title = row["indicator_title"] or row["indicator_id"]
            row["trend_chart"] = trend_svg(row["history"], name, title, row["unit"] or "")
            row["neighbours_chart"] = neighbours_svg(row["peers"], title)
            if dash.breakdown:
                row["shown"] = _breakdown_texts(row)
            else:
                row["shown"] = {k: fmt(row[k]) for k in ("value", "sn_mean", "england_value")}
            row["links"] = _links(datasette, database, row, dash)
            rows.append(row)
        section["rows"] = rows
    for row in dash.finance:  # decorated above unless its outcomes are filtered out
        if "shown" not in row:
            row["shown"] = {k: fmt(row[k]) for k in ("value", "sn_mean", "england_value")}
            row["links"] = _links(datasette, database, row, dash)
        row["shown"]["numerator"], row["shown"]["denominator"] = (
            fmt(row.get("numerator")), fmt(row.get("denominator")))  # fmt: skip


def _breakdown_texts(row: dict) -> dict:
    """A breakdown row's numbers as shown: a published symbol (with its meaning) or "not
    published" where there is no number, never a blank or a zero."""
    return {
        "value": _value_text(row["value"], row["status"]),
        "sn_mean": fmt(row["sn_mean"]),
        "region_value": _value_text(row["region_value"], row["region_status"]),
        "england_value": _value_text(row["england_value"], row["england_status"]),
    }


def _value_text(value: float | None, status: str | None) -> str:
    return fmt(value) if value is not None else status_text(status)


def _links(datasette, database: str, row: dict, dash) -> dict:
    tables = _table_paths(datasette, database)

    def table(name: str, **filters) -> str:
        return tables[name] + "?" + urlencode(filters)

    links = {
        "definition": f"{tables['indicators']}/{tilde_encode(row['indicator_id'])}",
        "rows": table(
            "observations",
            indicator_id=row["indicator_id"],
            area_code=row["area_code"],
            breakdown=dash.breakdown or HEADLINE,
        ),  # fmt: skip
    }
    if not dash.breakdown:  # benchmarks are computed for the headline only
        links["benchmark"] = table(
            "benchmarks",
            indicator_id=row["indicator_id"],
            area_code=row["area_code"],
            neighbour_set=dash.neighbour_set,
        )
    if row["dataset_id"]:
        links["source"] = f"{tables['datasets']}/{tilde_encode(row['dataset_id'])}"
        links["release"] = table("harvests", dataset_id=row["dataset_id"], status="loaded")
    return links


def _table_paths(datasette, database: str) -> dict[str, str]:
    """The Datasette paths of the tables the indicator links point at, worked out once."""
    known = _state(datasette).table_paths
    if not known:
        names = ("indicators", "observations", "benchmarks", "datasets", "harvests")
        known.update({n: str(datasette.urls.table(database, n)) for n in names})
    return known


def _json_url(datasette, database: str, dash) -> str:
    code = dash.area["area_code"]
    if dash.breakdown:  # the observations behind a breakdown page
        filters = {"area_code": code, "breakdown": dash.breakdown}
        filters.update({"period": dash.period} if dash.period else {})
        filters.update(_shape="array", _size="max")
        path = datasette.urls.table(database, "observations", format="json")
        return path + "?" + urlencode(filters)
    if dash.neighbour_set == dash.run.get("default_set") and not dash.period:
        return (
            datasette.urls.table(database, "latest_benchmarks", format="json")
            + "?"
            + (urlencode({"area_code": code, "_shape": "array"}))
        )
    filters = {"area_code": code, "neighbour_set": dash.neighbour_set, "_shape": "array",
               "_size": "max"}  # fmt: skip
    filters.update({"period": dash.period} if dash.period else {"is_latest": 1})
    return datasette.urls.table(database, "benchmarks", format="json") + "?" + urlencode(filters)


def _render(datasette, context: dict, status: int = 200, name="sendbench_dashboard.html"):
    html = TEMPLATES.get_template(name).render(urls=datasette.urls, **context)
    return Response.html(html, status=status)


async def api_page(datasette, request) -> Response:
    """The API guide, with a live example response (first row) for each endpoint."""
    db = datasette.get_database()
    examples = []
    for endpoint in api_endpoints(datasette, db.name):
        response = await datasette.client.get(endpoint["path"])
        rows = response.json() if response.status_code == 200 else []
        sample = json.dumps(rows[:1], indent=2, ensure_ascii=False) if rows else "[]"
        examples.append({**endpoint, "status": response.status_code, "sample": sample,
                         "count": len(rows)})  # fmt: skip
    context = {"examples": examples, "dashboard": DASHBOARD_PATH}
    return _render(datasette, context, name="sendbench_api.html")


def api_endpoints(datasette, database: str, area: str = "E06000051",
                  indicator: str = "ehcp_20_week_timeliness_pct",
                  set_id: str = "dfe-2025-05",
                  breakdown: str = "Sex: Female") -> list[dict]:  # fmt: skip
    """The JSON endpoints the guide documents: title, what it returns, path."""

    def path(table: str, **filters) -> str:
        return (
            datasette.urls.table(database, table, format="json")
            + "?"
            + urlencode({**filters, "_shape": "array"})
        )

    return [
        {"title": "An LA's benchmark (latest period, default neighbour set)",
         "about": "One row per indicator: value, neighbour average and pooled rate, England, "
         "region, rank, quartile band, significance, trend.",
         "path": path("latest_benchmarks", area_code=area)},
        {"title": "An LA's outcome scorecard",
         "about": "One row per logic-model outcome: indicators better / similar / worse than "
         "the neighbours and England; gaps have status 'gap: no indicator yet'.",
         "path": path("outcome_scorecard", area_code=area)},
        {"title": "An indicator's series for an LA (every period, one neighbour set)",
         "about": "The LA's value, neighbour average and England for each period, oldest first.",
         "path": path("indicator_series", indicator_id=indicator, area_code=area,
                      neighbour_set=set_id, _sort="period_start")},
        {"title": "An indicator's published values (every breakdown)",
         "about": "The normalised observations behind the benchmarks, with release and status.",
         "path": path("observations", indicator_id=indicator, area_code=area, breakdown="Total")},
        {"title": "An LA's published values in one breakdown",
         "about": "Every indicator and period the LA has in a breakdown such as 'Sex: Female' "
         "or 'Ethnicity: Asian - Indian' (the dashboard's Breakdown filter), with status.",
         "path": path("observations", area_code=area, breakdown=breakdown, _size="max")},
        {"title": "The catalogue: indicators",
         "about": "Every indicator: title, definition, unit, polarity, outcomes, and its "
         "dataset's title, publisher, licence, landing page and the release last loaded.",
         "path": path("indicator_catalogue", _size="max")},
        {"title": "The catalogue: outcomes and their indicators",
         "about": "The SEND logic model's outcomes; indicator_outcomes links them.",
         "path": path("outcomes")},
        {"title": "An LA's statistical neighbours",
         "about": "The ten ranked neighbours of a set, with closeness.",
         "path": path("statistical_neighbours", area_code=area, set_id=set_id)},
        {"title": "An NHS measure for an ICB, month by month",
         "about": "NHS figures stay at their own geographies (icb:, sub_icb:, provider:, "
         "nhs_region: codes; areas.json?area_type=icb lists them): here the share of children "
         "waiting over 18 weeks for speech and language therapy in Shropshire, Telford and "
         "Wrekin ICB, with the counts behind it.",
         "path": path("observations", indicator_id="chs_slt_over_18_weeks_pct",
                      area_code="icb:QOC", _sort="period_start")},
    ]  # fmt: skip
