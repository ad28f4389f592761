"""Serving the database with Datasette: read-only, with metadata generated from the catalogue.

The metadata gives every table a title, description, source, licence and when it was last
refreshed, and every observations column a description, so the JSON API explains itself. The
local area dashboard and the API guide (:mod:`sendbench.dashboard`) are registered as an
in-process Datasette plugin, so they need no separate install and work offline.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import sqlite_utils
from datasette.app import Datasette
from datasette.plugins import pm

from sendbench.catalogue import Catalogue
from sendbench.db import capacity

OBSERVATION_COLUMNS_HELP = {
    "indicator_id": "Catalogue indicator (see the indicators table)",
    "area_code": "ONS 9-character code of the area, its current code where the code changed 1:1",
    "period": "Normalised period: academic year 2024/25, calendar year 2024, financial year "
    "2024-25, month 2024-03",
    "breakdown": "Total for the headline row, else 'Topic: value' as published "
    "(e.g. 'Sex: Female')",
    "value": "The published value; NULL when a symbol was published instead (see status)",
    "numerator": "Published numerator, where the publisher gives one",
    "denominator": "Published denominator, where the publisher gives one",
    "status": "NULL for a published number; otherwise the published symbol (c, x, z, low, k, u, "
    "..) or 'missing' for an empty cell. A symbol is never a zero.",
    "period_start": "First day of the period",
    "period_end": "Last day of the period",
    "dataset_id": "Catalogue dataset the value came from",
    "release": "Publisher's release the value came from",
    "source_area_code": "Area code as published in the source file",
    "flag": "provisional, revised or final where the publisher marks the value so; else empty",
}


SEND_INSPECTIONS_HELP = {
    "area_code": "The council inspected (its current code where the code changed 1:1)",
    "source_area_code": "The LA code as published (empty where the file names the area only)",
    "framework": "2016 (May 2016 to 2022) or 2023 (from January 2023)",
    "visit": "inspection, or revisit (2016 framework, after a written statement of action)",
    "start_date": "First day of the visit (ISO date)",
    "published_date": "Date the report was published",
    "outcome": "The outcome in words: written statement of action or not; progress at a revisit; "
    "one of the three 2023 framework outcomes",
    "wsoa": "2016 inspections: Yes if a written statement of action was required",
    "revisit_result": "2016 revisits: sufficient progress on all (Yes), Some or No weaknesses",
    "weaknesses": "Significant weaknesses identified in the written statement of action",
    "priority_action_plan": "2023 framework: whether a priority action plan was required",
    "la_webpage_url": "The LA's Ofsted page (where the reports are)",
    "report_url": "The visit's report, where the ADCS summary list gives it",
}


def build_metadata(db_path: Path, catalogue: Catalogue) -> dict:
    """Datasette metadata for the sendbench database."""
    db = sqlite_utils.Database(db_path)
    refreshed = _last_refreshed(db)
    tables: dict[str, dict] = {
        "observations": {
            "description": "One row per indicator, area, period and breakdown.",
            "columns": OBSERVATION_COLUMNS_HELP,
            "facets": ["indicator_id", "period", "status"],
        },
        "areas": {
            "description": "England, regions and every LA code since 2009, with the codes that "
            "replaced them (successor_codes) and the code their series is filed under "
            "(current_code).",
        },
        "area_links": {"description": "Predecessor to successor links between LA codes."},
        "area_combinations": {"description": "Rows of published files that join two LAs."},
        "indicators": {"description": "The catalogue's indicators: definition, unit, polarity."},
        "datasets": {"description": "The catalogue's datasets: publisher, licence, landing page."},
        "outcomes": {"description": "The SEND logic model's outcomes."},
        "harvests": {"description": "One row per dataset, run, release and file: source, "
                     "sha256, status (loaded, replaced, unchanged, failed, skipped) and, in notes, "
                     "what the merge did and which releases the dataset then held."},
        "releases": {"description": "Every release each dataset's data came from: its label, "
                     "publication date and the order key that decides which release is newer."},
        "source_tables": {"description": "Which release each raw table holds (an older "
                          "release's copy of a file is raw_<dataset>_<file>__<release>)."},
        "dataset_releases": {"description": "View: per dataset, the releases held and the "
                             "periods each still supplies (a newer release revises what it "
                             "covers; older periods stay with their own release)."},
        "withdrawn_series": {"description": "View: indicators the publisher withdrew or "
                             "re-based (catalogue 'withdrawn'), with the releases whose values "
                             "are kept."},
        "send_inspections": {
            "description": "Every area SEND inspection and revisit by Ofsted and CQC since May "
            "2016, one row per visit, filed under the council inspected (ofsted_send_inspections). "
            "An LA's visits, newest first: send_inspections.json?area_code=E06000051"
            "&_sort_desc=start_date&_shape=array",
            "columns": SEND_INSPECTIONS_HELP,
            "facets": ["framework", "visit", "outcome"],
        },
        **_benchmark_metadata(),
    }
    for ds in catalogue.datasets:
        info = {
            "source": ds.publisher,
            "source_url": ds.landing_page,
            "license": ds.licence,
            "description": f"{ds.title}. Last refreshed: {refreshed.get(ds.id, 'never')}.",
        }
        for table in db.table_names():
            if table.startswith(f"raw_{ds.id}_"):
                file = table.removeprefix(f"raw_{ds.id}_")
                tables[table] = {**info, "title": f"{ds.title}: {file}.csv as published"}
    return {
        "title": "sendbench: SEND statistics for local areas in England",
        "description": "National SEND statistics harvested from their publishers, normalised "
        "and benchmarked. Data: Open Government Licence v3.0 unless stated.",
        "license": "Open Government Licence v3.0",
        "license_url": "https://www.nationalarchives.gov.uk/doc/open-government-licence/version/3/",
        "databases": {db_path.stem: {"tables": tables}},
    }


def _benchmark_metadata() -> dict[str, dict]:
    """Descriptions of the benchmark tables and views (sendbench.benchmark.store)."""
    from sendbench.benchmark.store import BENCHMARK_HELP, SCORECARD_HELP

    return {
        "benchmarks": {
            "description": "One row per indicator, LA, period and statistical neighbour set "
            "(headline breakdown): the LA's value, England, region, the neighbour average and "
            "pooled rate, rank, quartile band, confidence intervals, significance at 95% and "
            "99.8%, change and recent trend. Methods: README and the workbook's Methods sheet.",
            "columns": BENCHMARK_HELP,
            "facets": ["indicator_id", "period", "neighbour_set", "quartile_band"],
        },
        "benchmark_scorecard": {
            "description": "Per LA, neighbour set and logic-model outcome: its indicators in "
            "their latest period and how many are better / similar / worse than the neighbours "
            "and England (95%). Outcomes with no indicator are listed as gaps.",
            "columns": SCORECARD_HELP,
        },
        "benchmark_runs": {
            "description": "When the benchmarks were computed, from which neighbour sets, and "
            "which set is the default (the latest DfE set)."
        },
        "latest_benchmarks": {
            "description": "View: each LA's benchmark for every indicator's latest period under "
            "the default neighbour set, with indicator titles and region names. One LA's whole "
            "benchmark: latest_benchmarks.json?area_code=E06000051&_shape=array",
            "columns": BENCHMARK_HELP,
            "facets": ["indicator_id", "quartile_band", "vs_england_95"],
        },
        "outcome_scorecard": {
            "description": "View: the outcome scorecard of every LA under the default neighbour "
            "set, gaps included: outcome_scorecard.json?area_code=E06000051&_shape=array",
            "columns": SCORECARD_HELP,
            "facets": ["status", "outcome_id"],
        },
        "indicator_series": {
            "description": "View: an indicator's series, every LA, period and neighbour set, "
            "with the indicator's title. One LA's series under one set, oldest first: "
            "indicator_series.json?indicator_id=ehcp_20_week_timeliness_pct&area_code=E06000051"
            "&neighbour_set=dfe-2025-05&_sort=period_start&_shape=array",
            "columns": BENCHMARK_HELP,
            "facets": ["neighbour_set", "period"],
        },
        "indicator_catalogue": {
            "description": "View: the catalogue, one row per indicator with its unit, polarity, "
            "logic-model outcomes, numerator and denominator, and its dataset's title, "
            "publisher, licence, landing page and the release last loaded: "
            "indicator_catalogue.json?_size=max&_shape=array",
            "facets": ["dataset_id", "unit", "polarity"],
        },
        "statistical_neighbours": {
            "description": "DfE children's services statistical neighbours: ten ranked "
            "neighbours per LA, per vintage (set_id), with their closeness band."
        },
    }


def _last_refreshed(db: sqlite_utils.Database) -> dict[str, str]:
    if "dataset_status" not in db.view_names():
        return {}
    rows = db.execute("select dataset_id, last_refreshed from dataset_status")
    return {dataset_id: when for dataset_id, when in rows if when}


def register_dashboard() -> None:
    """Register the dashboard plugin with Datasette's plugin manager (once per process)."""
    import sendbench.dashboard as dashboard

    if not pm.is_registered(dashboard):
        pm.register(dashboard, name=dashboard.PLUGIN_NAME)


def make_datasette(db_path: Path, *, catalogue: Catalogue, allow_sql: bool = False) -> Datasette:
    """A Datasette instance serving ``db_path`` immutably with generated metadata, the local
    area dashboard (``/-/sendbench/dashboard``) and the API guide (``/-/sendbench/api``).

    Arbitrary SQL (``?sql=``, ``_where=``) is off unless ``allow_sql``; expensive requests run
    in a lane of their own with a shorter time limit (:mod:`sendbench.db.capacity`)."""
    register_dashboard()
    return Datasette(
        files=[],
        immutables=[str(db_path)],
        metadata=build_metadata(db_path, catalogue),
        settings={
            "default_page_size": 100,
            "max_returned_rows": 5000,
            "sql_time_limit_ms": 3000,
            "default_allow_sql": allow_sql,
            "num_sql_threads": capacity.SQL_THREADS,
        },
    )


def run(datasette: Datasette, host: str, port: int, *, warm: bool = True, say=print) -> None:
    """Serve ``datasette`` with uvicorn until stopped. With ``warm``, every LA's dashboard is
    rendered into the page cache in the background as the server starts (about 10 s for 150
    LAs), so that each opens at once even when many people open different LAs together."""
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(datasette.app(), host=host, port=port,
                                           log_level="warning"))  # fmt: skip

    async def main() -> None:
        task = asyncio.create_task(_warm(datasette, say)) if warm else None
        try:
            await server.serve()
        finally:
            if task is not None:
                task.cancel()

    asyncio.run(main())


async def _warm(datasette: Datasette, say) -> None:
    from sendbench.dashboard.views import warm_pages

    started = time.monotonic()
    try:
        pages = await warm_pages(datasette, pause=0.005)
    except Exception as exc:  # the server goes on; each page is then rendered when first asked
        say(f"dashboard warm-up stopped: {exc}")
        return
    say(f"dashboard: {pages} LA pages ready in {time.monotonic() - started:.1f} s")

