"""The LA page opens with its latest area SEND inspection, and the inspection pack's summary sheet
carries the same line; the neighbours' outcomes are counted, never averaged. High-needs finance
is a section of its own, benchmarked like every indicator, with its numerator and denominator,
and a sheet of the pack.

The database is tests/test_cli_benchmark.py's small one with made-up ``send_inspections`` rows
(in the table's real columns) for Shropshire and its 2025 neighbours: Shropshire inspected twice
under the 2016 framework (the later with a written statement of action, then revisited), one
neighbour inspected under the 2023 framework, one with a WSoA, one without, one never inspected.
Expected counts are worked out here from those rows. Made-up high needs block per head rows
(``FINANCE``) give the finance section; the neighbour average is recomputed with statistics.mean.
"""

from __future__ import annotations

import asyncio
import html
import re
import statistics

import openpyxl
import pytest
import sqlite_utils
from test_cli_benchmark import LIVE, SETS, build_db

from sendbench.benchmark.inspections import inspection_summary
from sendbench.benchmark.report import load_area_benchmark
from sendbench.benchmark.store import compute_benchmarks
from sendbench.benchmark.xlsx import write_workbook
from sendbench.catalogue import load_catalogue
from sendbench.db.serve import make_datasette

SHROPSHIRE = "E06000051"
NEIGHBOURS = SETS["dfe-2025-05"][SHROPSHIRE]  # North Yorkshire, Herefordshire, Worcestershire,
# Telford and Wrekin
VISITS = [
    (SHROPSHIRE, "2016", "inspection", "2016-11-07", "2017-01-10", "No written statement of "
     "action", "No", None),
    (SHROPSHIRE, "2016", "inspection", "2020-01-27", "2020-05-15", "Written statement of action "
     "required", "Yes", None),
    (SHROPSHIRE, "2016", "revisit", "2022-05-09", "2022-07-01", "Sufficient progress in "
     "addressing some significant weaknesses", None, "Some"),
    ("E06000065", "2023", "inspection", None, "2024-03-01", "Inconsistent experiences and "
     "outcomes", None, None),
    ("E06000019", "2016", "inspection", "2018-02-05", "2018-04-01", "Written statement of action "
     "required", "Yes", None),
    ("E10000034", "2016", "inspection", "2018-03-05", "2018-05-16", "No written statement of "
     "action", "No", None),
]  # fmt: skip
REPORT = "https://reports.ofsted.gov.uk/provider/44/80552"
FINANCE = "hnb_allocation_per_head_2_18"


def finance_rows() -> list[dict]:
    """Made-up per-head high needs block rows for every LA and England, 2021-22."""
    rows = []
    for i, code in enumerate([*LIVE, "E92000001"]):
        numerator, denominator = 30_000_000 + 1_000_000 * i, 60_000 + 1_000 * i
        rows.append({"indicator_id": FINANCE, "area_code": code, "period": "2021-22",
                     "breakdown": "Total", "value": numerator / denominator,
                     "numerator": numerator, "denominator": denominator,
                     "period_start": "2021-04-01", "period_end": "2022-03-31",
                     "dataset_id": "dfe_high_needs", "release": "2024"})  # fmt: skip
    return rows


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("inspection") / "sendbench.db"
    db = build_db(path)
    db["send_inspections"].insert_all(
        {"area_code": a, "source_area_code": a, "framework": f, "visit": v, "start_date": s,
         "published_date": p, "outcome": o, "wsoa": w, "revisit_result": r,
         "report_url": REPORT if (a, s) == (SHROPSHIRE, "2020-01-27") else None}
        for a, f, v, s, p, o, w, r in VISITS
    )  # fmt: skip
    db["observations"].insert_all(finance_rows())
    compute_benchmarks(db)
    db.conn.close()
    return path


def expected_counts() -> dict[str, int]:
    """Each neighbour's latest full inspection, counted by outcome (worked out by hand)."""
    return {
        "a written statement of action (2016 framework)": 1,  # Herefordshire
        "no written statement of action (2016 framework)": 1,  # Worcestershire
        "“Inconsistent experiences and outcomes” (2023 framework)": 1,  # North Yorkshire
        "no area SEND inspection published": 1,  # Telford and Wrekin
    }


def test_summary_is_the_latest_inspection_and_its_revisit(db_path):
    db = sqlite_utils.Database(db_path)
    summary = inspection_summary(db.conn, SHROPSHIRE, NEIGHBOURS)
    assert (summary["latest"]["start_date"], summary["latest"]["wsoa"]) == ("2020-01-27", "Yes")
    assert summary["revisit"]["revisit_result"] == "Some"
    assert len(summary["visits"]) == 3
    assert {n["category"]: n["count"] for n in summary["neighbours"]} == expected_counts()
    assert {n["of"] for n in summary["neighbours"]} == {len(NEIGHBOURS)}
    assert summary["line"] == (
        "Latest area SEND inspection: Written statement of action required (2016 framework (May "
        "2016 to 2022); published 2020-05-15); revisited 2022-05-09: sufficient progress in "
        "addressing some significant weaknesses."
    )


def test_without_the_table_there_is_no_inspection_summary(tmp_path):
    db = build_db(tmp_path / "plain.db")
    assert inspection_summary(db.conn, SHROPSHIRE, NEIGHBOURS) is None


def dashboard(db_path) -> str:
    datasette = make_datasette(db_path, catalogue=load_catalogue())
    response = asyncio.run(datasette.client.get(f"/-/sendbench/dashboard?area={SHROPSHIRE}"))
    assert response.status_code == 200
    return response.text


def test_the_la_page_opens_with_the_inspection_then_the_outcomes(db_path):
    page = dashboard(db_path)
    section = re.search(r'<section class="sb-inspection".*?</section>', page, re.S).group(0)
    assert page.index('id="inspection"') < page.index('id="scorecard-h"')
    text = html.unescape(re.sub(r"<[^>]+>", " ", section))
    assert "Written statement of action required" in text
    assert "2020-01-27" in text and "2020-05-15" in text and "2016 framework" in text
    assert f'href="{REPORT}"' in section
    assert "2022-05-09: Sufficient progress in addressing some significant weaknesses" in text
    for category, count in expected_counts().items():
        assert f"{count} of {len(NEIGHBOURS)} neighbours had {category}" in " ".join(text.split())
    assert "average" not in text.lower().replace("not averaged", "")


def test_the_inspection_pack_summary_carries_the_inspection_line(db_path, tmp_path):
    db = sqlite_utils.Database(db_path)
    bench = load_area_benchmark(db, SHROPSHIRE, "dfe-2025-05")
    path = write_workbook(bench, tmp_path / "pack.xlsx")
    sheet = openpyxl.load_workbook(path)["Summary"]
    facts = {row[0].value: row[1].value for row in sheet.iter_rows(min_row=2, max_row=12)}
    summary = inspection_summary(db.conn, SHROPSHIRE, NEIGHBOURS)
    assert facts["Area SEND inspection"] == summary["line"]
    counted = facts["Neighbours' inspections"]
    for category, count in expected_counts().items():
        assert f"{count} of {len(NEIGHBOURS)} neighbours had {category}" in counted


def test_high_needs_finance_is_its_own_section_with_numerator_and_denominator(db_path):
    page = dashboard(db_path)
    section = re.search(r'<section class="sb-finance".*?</section>', page, re.S).group(0)
    assert (
        page.index('id="inspection"') < page.index('id="finance"') < page.index('id="scorecard-h"')
    )
    row = re.search(rf'<tr class="finance" data-indicator="{FINANCE}".*?</tr>', section, re.S)
    cells = html.unescape(re.sub(r"<[^>]+>", "|", row.group(0)))
    by_code = {r["area_code"]: r for r in finance_rows()}
    own = by_code[SHROPSHIRE]
    assert f"{own['numerator']:,.0f} / {own['denominator']:,.0f}" in cells
    mean = statistics.mean(by_code[c]["value"] for c in NEIGHBOURS)
    found = re.search(r'class="num sn-mean" data-value="([^"]+)"', row.group(0)).group(1)
    assert float(found) == pytest.approx(mean)
    assert f"({len(NEIGHBOURS)} of {len(NEIGHBOURS)})" in cells


def test_the_inspection_pack_has_a_finance_sheet(db_path, tmp_path):
    bench = load_area_benchmark(sqlite_utils.Database(db_path), SHROPSHIRE, "dfe-2025-05")
    sheet = openpyxl.load_workbook(write_workbook(bench, tmp_path / "pack.xlsx"))["Finance"]
    header = [c.value for c in sheet[4]]
    values = dict(zip(header, [c.value for c in sheet[5]], strict=True))
    own = {r["area_code"]: r for r in finance_rows()}[SHROPSHIRE]
    assert values["Indicator id"] == FINANCE
    assert values["Value"] == pytest.approx(own["value"])
    assert (values["Numerator"], values["Denominator (population aged 2-18 for per-head)"]) == (
        own["numerator"], own["denominator"],
    )  # fmt: skip
