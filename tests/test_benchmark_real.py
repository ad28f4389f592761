"""Benchmarks on the real published files (../shared/data): the database is built once per session
from the DfE LA list, the 2025 EHC plans release and the statistical neighbour workbooks, and
the benchmarks computed on it are checked against the files themselves, read here with the
``csv`` module and openpyxl, independently of sendbench:

- the neighbour average (and pooled rate) of 20-week timeliness for LAs including reorganised
  ones equals the mean over the neighbours the DfE workbook lists, of the values in the CSV;
- Shropshire's rank equals a brute-force count over the CSV;
- the inspection workbook for Shropshire has its sheets and charts, and its numbers equal the
  ``benchmarks`` table;
- Datasette serves an LA's whole benchmark and scorecard in one JSON call each.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import statistics
import zipfile
from contextlib import closing
from pathlib import Path

import click.testing
import openpyxl
import pytest
from conftest import EHCP_ZIP, SHARED_DATA, needs_shared_data, run_refresh

from sendbench.benchmark.report import EXPORT_COLUMNS
from sendbench.benchmark.store import compute_benchmarks
from sendbench.benchmark.xlsx import METHODS_SHEET, SOURCES_SHEET, SUMMARY_SHEET, TRENDS_SHEET
from sendbench.catalogue import load_catalogue
from sendbench.cli import main
from sendbench.db.serve import make_datasette

SN_DIR = SHARED_DATA / "dfe" / "statistical-neighbours"
WORKBOOKS = {
    "dfe-2025-05": SN_DIR / "sn_may_2025.xlsx",
    "dfe-2021-04-lgr": SN_DIR / "sn_april_2021.xlsx",
}
pytestmark = [
    needs_shared_data,
    pytest.mark.skipif(not SN_DIR.exists(), reason=f"no neighbour workbooks in {SN_DIR}"),
]
INDICATOR = "ehcp_20_week_timeliness_pct"
SHROPSHIRE = "E06000051"
# Shropshire; North Yorkshire (E10000023 in the CSV, E06000065 now); North Northamptonshire
# (2021 split); Cumberland (2023 split); Northamptonshire (abolished 2021, in the 2025 workbook's
# "Old SNs" block); Westminster.
LAS = ["893", "815", "940", "942", "928", "213"]


@pytest.fixture(scope="session")
def real_db(tmp_path_factory) -> Path:
    """The database built from ../shared/data with benchmarks computed (once per session)."""
    folder = tmp_path_factory.mktemp("benchmark_real")
    datasets = ["dfe_areas", "dfe_ehcp", "dfe_statistical_neighbours"]
    db, results = run_refresh(folder, datasets, from_dir=SHARED_DATA)
    assert {d: r.status for d, r in results.items()} == dict.fromkeys(datasets, "loaded")
    compute_benchmarks(db)
    db.conn.close()
    return folder / "sendbench.db"


@pytest.fixture(scope="session")
def conn(real_db):
    with closing(sqlite3.connect(f"file:{real_db}?mode=ro", uri=True)) as connection:
        connection.row_factory = sqlite3.Row
        yield connection


# --- the published files, read independently --------------------------------------------------


@pytest.fixture(scope="session")
def timeliness() -> dict[tuple[str, str], dict[str, str]]:
    """(DfE LA code, year) -> the headline row of timeliness_20_week.csv."""
    with zipfile.ZipFile(EHCP_ZIP) as zf:
        text = zf.read("data/timeliness_20_week.csv").decode("utf-8-sig")
    rows = {}
    for row in csv.DictReader(io.StringIO(text)):
        if row["geographic_level"] == "Local authority" and (
            row["breakdown_topic"] == "All EHC plans issued"
        ):
            key = (row["old_la_code"], row["time_period"])
            assert key not in rows, f"two headline rows for {key}"
            rows[key] = row
    return rows


def workbook_neighbours(set_id: str) -> dict[str, list[str]]:
    """DfE LA number -> its SN1..SN10 DfE numbers, from the workbook's LA SN Groups sheet."""
    sheet = openpyxl.load_workbook(WORKBOOKS[set_id], read_only=True)["LA SN Groups"]
    rows = list(sheet.iter_rows(values_only=True))
    header = list(rows[2])
    columns = [header.index(f"SN{i}") for i in range(1, 11)]
    out = {}
    for row in rows[3:]:
        if isinstance(row[0], int):
            out[str(row[0])] = [str(row[c]) for c in columns if isinstance(row[c], int)]
    return out


def number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def area_code_of(conn, dfe_code: str) -> str:
    (code,) = conn.execute(
        "select area_code from areas where dfe_code = ? and area_code = current_code "
        "order by valid_to is null desc, valid_from desc limit 1",
        [dfe_code],
    ).fetchone()
    return code


# --- neighbour averages ------------------------------------------------------------------------


# The April 2021 workbook gives Cumberland (942) no neighbours ("-"), so it is not checked there.
CASES = [(s, la) for s in WORKBOOKS for la in LAS if (s, la) != ("dfe-2021-04-lgr", "942")]


@pytest.mark.parametrize(("set_id", "dfe_code"), CASES)
def test_neighbour_average_equals_the_mean_over_the_workbook_neighbours(
    conn, timeliness, set_id, dfe_code
):
    group = workbook_neighbours(set_id)[dfe_code]
    rows = conn.execute(
        "select * from benchmarks where indicator_id = ? and area_code = ? and neighbour_set = ?",
        [INDICATOR, area_code_of(conn, dfe_code), set_id],
    ).fetchall()
    years = sorted(year for code, year in timeliness if code == dfe_code)
    assert set(years) <= {r["period"] for r in rows} and years
    for r in (r for r in rows if r["period"] in years):  # the 2025 release's years
        found = [timeliness.get((n, r["period"])) for n in group]
        values = [number(f["PC_plans_issued_20_weeks_ex"]) for f in found if f]
        values = [v for v in values if v is not None]
        pairs = [
            (number(f["plans_issued_20_weeks_ex"]), number(f["plans_issued_den_ex"]))
            for f in found
            if f and number(f["plans_issued_20_weeks_ex"]) is not None
        ]
        where = f"{dfe_code} {set_id} {r['period']}"
        assert r["sn_size"] == len(group) == 10, where
        assert r["sn_count"] == len(values), where
        assert r["sn_mean"] == pytest.approx(statistics.mean(values), rel=1e-12), where
        pooled = 100 * sum(p[0] for p in pairs) / sum(p[1] for p in pairs)
        assert r["sn_pooled"] == pytest.approx(pooled, rel=1e-12), where


def test_a_reorganised_neighbour_is_found_under_its_old_code_in_the_csv(timeliness):
    """North Yorkshire is in Shropshire's 2025 group and is published as E10000023."""
    assert "815" in workbook_neighbours("dfe-2025-05")["893"]
    assert timeliness[("815", "2024")]["new_la_code"] == "E10000023"


def test_shropshire_rank_in_2024_is_a_count_over_the_csv(conn, timeliness):
    values = {
        code: number(row["PC_plans_issued_20_weeks_ex"])
        for (code, year), row in timeliness.items()
        if year == "2024" and number(row["PC_plans_issued_20_weeks_ex"]) is not None
    }
    mine = values["893"]
    row = conn.execute(
        "select rank, rank_of from benchmarks where indicator_id = ? and area_code = ? "
        "and period = '2024' and neighbour_set = 'dfe-2025-05'",
        [INDICATOR, SHROPSHIRE],
    ).fetchone()
    assert tuple(row) == (1 + sum(v > mine for v in values.values()), len(values))


# --- the inspection workbook -------------------------------------------------------------------


@pytest.fixture(scope="session")
def workbook(real_db, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pack") / "shropshire.xlsx"
    args = ["benchmark", "Shropshire", "--db", str(real_db), "--format", "xlsx", "-o", str(path)]
    result = click.testing.CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return path


def latest_rows(conn, area_code: str) -> dict[str, dict]:
    rows = conn.execute(
        "select b.* from benchmarks b join benchmark_runs r on b.neighbour_set = r.default_set "
        "where b.area_code = ? and b.is_latest = 1",
        [area_code],
    ).fetchall()
    return {r["indicator_id"]: dict(r) for r in rows}


def test_workbook_has_the_sheets_and_charts(workbook, conn):
    book = openpyxl.load_workbook(workbook)
    cards = conn.execute(
        "select * from outcome_scorecard where area_code = ?", [SHROPSHIRE]
    ).fetchall()
    stored = latest_rows(conn, SHROPSHIRE)
    outcome_sheets = [  # outcomes with at least one indicator that has a row for Shropshire
        c["outcome_id"][:31] for c in cards if set(c["indicator_ids"].split(",")) & set(stored)
    ]
    expected = [SUMMARY_SHEET, *outcome_sheets, TRENDS_SHEET, "Neighbours", SOURCES_SHEET,
                METHODS_SHEET]  # fmt: skip
    assert book.sheetnames == expected
    judged = conn.execute(
        "select count(distinct indicator_id) from benchmarks where area_code = ? "
        "and polarity != 'none'",
        [SHROPSHIRE],
    ).fetchone()[0]
    assert len(book[TRENDS_SHEET]._charts) == judged > 0
    sources = {r[0]: r for r in book[SOURCES_SHEET].iter_rows(min_row=4, values_only=True)}
    assert {"dfe_areas", "dfe_ehcp", "dfe_statistical_neighbours"} <= set(sources)
    assert sources["dfe_ehcp"][3] == "2025"  # release
    assert sources["dfe_ehcp"][7] == "Open Government Licence v3.0"
    assert Path(sources["dfe_ehcp"][6]).name == EHCP_ZIP.name
    assert "Wilson" in " ".join(str(c.value) for c in book[METHODS_SHEET]["A"])


def excel_precision(value):
    """Excel keeps 15 significant digits: a float compares equal within that."""
    return pytest.approx(value, rel=1e-14) if isinstance(value, float) else value


def test_workbook_numbers_equal_the_benchmarks_table(workbook, conn):
    book = openpyxl.load_workbook(workbook)
    stored = latest_rows(conn, SHROPSHIRE)
    headings = {heading: column for column, heading in EXPORT_COLUMNS.items()}
    compared = 0
    for ws in book.worksheets:
        if ws["A4"].value != "Indicator id":
            continue
        header = [c.value for c in ws[4]]
        for values in ws.iter_rows(min_row=5, values_only=True):
            record = dict(zip((headings[h] for h in header), values, strict=True))
            row = stored[record["indicator_id"]]
            for column, value in record.items():
                if column in row:
                    assert value == excel_precision(row[column]), (ws.title, column, record)
                    compared += 1
    assert compared > 100


def test_workbook_summary_equals_the_scorecard(workbook, conn):
    sheet = openpyxl.load_workbook(workbook)[SUMMARY_SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    top = next(i for i, r in enumerate(rows) if r[0] == "Level")
    shown = {r[2]: r for r in rows[top + 1 :]}
    cards = conn.execute(
        "select * from outcome_scorecard where area_code = ?", [SHROPSHIRE]
    ).fetchall()
    assert len(shown) == len(cards) == 18
    for card in cards:  # gaps (no indicator) and outcomes without data here are shown too
        row = shown[card["outcome_title"]]
        expected = "gap: no indicator yet" if card["indicators"] == 0 else card["status"]
        assert row[3] == card["status"] == expected
        assert row[4:9] == (card["indicators"], card["with_data"], card["neighbours_better"],
                            card["neighbours_similar"], card["neighbours_worse"])  # fmt: skip


def test_workbook_colours_always_carry_a_label(workbook):
    book = openpyxl.load_workbook(workbook)
    coloured = 0
    for ws in book.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                if cell.fill.fill_type == "solid":
                    coloured += 1
                    assert isinstance(cell.value, str) and cell.value.strip(), cell.coordinate
    assert coloured > 10


def test_trend_chart_data_is_the_stored_series(workbook, conn):
    sheet = openpyxl.load_workbook(workbook)[TRENDS_SHEET]
    rows = list(sheet.iter_rows(values_only=True))
    title = conn.execute("select title from indicators where id = ?", [INDICATOR]).fetchone()[0]
    start = next(i for i, r in enumerate(rows) if r[0] == title)
    stored = conn.execute(
        "select period, value, sn_mean, england_value from benchmarks where indicator_id = ? "
        "and area_code = ? and neighbour_set = 'dfe-2025-05' order by period_start",
        [INDICATOR, SHROPSHIRE],
    ).fetchall()
    shown = rows[start + 2 : start + 2 + len(stored)]
    assert [tuple(r[:4]) for r in shown] == [tuple(map(excel_precision, s)) for s in stored]


# --- CLI and Datasette read the same table ------------------------------------------------------


def test_cli_json_and_csv_equal_the_table(real_db, conn):
    runner = click.testing.CliRunner()
    result = runner.invoke(main, ["benchmark", "893", "--db", str(real_db), "--format", "json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    stored = latest_rows(conn, SHROPSHIRE)
    assert {r["indicator_id"] for r in data["benchmarks"]} == set(stored)
    for r in data["benchmarks"]:
        for column in ("value", "sn_mean", "sn_pooled", "rank", "quartile_band", "trend"):
            assert r[column] == stored[r["indicator_id"]][column]
    result = runner.invoke(main, ["benchmark", SHROPSHIRE, "--db", str(real_db), "--format", "csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert {r["indicator_id"]: r["vs_england_95"] for r in rows} == {
        k: v["vs_england_95"] or "" for k, v in stored.items()
    }


def test_neighbours_command_lists_the_workbook_neighbours(real_db, conn):
    result = click.testing.CliRunner().invoke(
        main, ["neighbours", "Shropshire", "--db", str(real_db), "--json"]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["set_id"] == "dfe-2025-05"
    listed = [n["neighbour_dfe_code"] for n in sorted(data["neighbours"], key=lambda n: n["rank"])]
    assert listed == workbook_neighbours("dfe-2025-05")["893"]


def get(datasette, path: str):
    response = asyncio.run(datasette.client.get(path))
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    return response.json()


def test_datasette_serves_an_la_benchmark_and_scorecard_in_one_call_each(real_db, conn):
    datasette = make_datasette(real_db, catalogue=load_catalogue())
    rows = get(datasette, f"/sendbench/latest_benchmarks.json?area_code={SHROPSHIRE}&_shape=array")
    stored = latest_rows(conn, SHROPSHIRE)
    assert {r["indicator_id"]: r["sn_mean"] for r in rows} == {
        k: v["sn_mean"] for k, v in stored.items()
    }
    assert all(r["indicator_title"] and r["region_name"] == "West Midlands" for r in rows)
    cards = get(datasette, f"/sendbench/outcome_scorecard.json?area_code={SHROPSHIRE}&_shape=array")
    outcomes = [r[0] for r in conn.execute("select id from outcomes")]
    assert sorted(c["outcome_id"] for c in cards) == sorted(outcomes) and len(outcomes) == 18
    metadata = get(datasette, "/-/metadata.json")["databases"]["sendbench"]["tables"]
    for name in (
        "benchmarks",
        "latest_benchmarks",
        "outcome_scorecard",
        "benchmark_scorecard",
        "indicator_series",
        "indicator_catalogue",
    ):
        assert metadata[name]["description"], name
