"""`sendbench benchmark` and `sendbench neighbours` on a small database made here (offline, no
shared data): area lookup by code, DfE code and name with clear errors, every output format,
neighbour-set choice, outcome / indicator / period filters, --recompute, and the benchmarks step
at the end of `sendbench refresh` (run on the EHC plans fixture files).

The database holds eight LAs (Shropshire, North Yorkshire under its old and new codes, and six
others) with a made-up 20-week timeliness series and caseload, England and region values, and
two neighbour sets; expected numbers are computed in the tests from those inputs.
"""

from __future__ import annotations

import csv
import io
import json
import statistics

import openpyxl
import pytest
import sqlite_utils
from click.testing import CliRunner
from conftest import FIXTURES, ehcp_zip

from sendbench.benchmark.store import compute_benchmarks
from sendbench.catalogue import load_catalogue
from sendbench.cli import main
from sendbench.db.schema import ensure_db_shape, save_catalogue

ENGLAND, WM, YH = "E92000001", "E12000005", "E12000003"
LAS = {  # code: (name, DfE code, region, valid_to, current_code)
    "E06000051": ("Shropshire", "893", WM, None, "E06000051"),
    "E10000023": ("North Yorkshire", "815", YH, "2023-03-31", "E06000065"),
    "E06000065": ("North Yorkshire", "815", YH, None, "E06000065"),
    "E06000019": ("Herefordshire, County of", "884", WM, None, "E06000019"),
    "E06000020": ("Telford and Wrekin", "894", WM, None, "E06000020"),
    "E06000024": ("North Somerset", "802", "E12000009", None, "E06000024"),
    "E08000022": ("North Tyneside", "392", "E12000001", None, "E08000022"),
    "E10000034": ("Worcestershire", "885", WM, None, "E10000034"),
    "E09000033": ("Westminster", "213", "E12000007", None, "E09000033"),
}
LIVE = [code for code, info in LAS.items() if info[3] is None]
YEARS = ["2019", "2020", "2021", "2022", "2023", "2024"]
SETS = {
    "dfe-2025-05": {"E06000051": ["E06000065", "E06000019", "E10000034", "E06000020"]},
    "dfe-2021-04-lgr": {"E06000051": ["E06000019", "E06000024"]},
}
INDICATOR = "ehcp_20_week_timeliness_pct"


def timeliness(code: str, year: str) -> tuple[int, int]:
    """A made-up (numerator, denominator) per LA and year."""
    i, y = LIVE.index(code), YEARS.index(year)
    return 40 + 7 * i + 3 * y, 120 + 10 * i


def value(code: str, year: str) -> float:
    num, den = timeliness(code, year)
    return round(100 * num / den, 1)


def build_db(path) -> sqlite_utils.Database:
    db = sqlite_utils.Database(path)
    ensure_db_shape(db)
    save_catalogue(db, load_catalogue())
    areas = [{"area_code": ENGLAND, "name": "England", "area_type": "country",
              "current_code": ENGLAND}]  # fmt: skip
    for region in {info[2] for info in LAS.values()}:
        areas.append({"area_code": region, "name": f"Region {region}", "area_type": "region",
                      "region_code": region, "current_code": region})  # fmt: skip
    for code, (name, dfe, region, valid_to, current) in LAS.items():
        areas.append({"area_code": code, "name": name, "area_type": "la", "dfe_code": dfe,
                      "region_code": region, "valid_from": "2009-04-01", "valid_to": valid_to,
                      "current_code": current})  # fmt: skip
    db["areas"].insert_all(areas)
    rows = []
    for year in YEARS:
        period = {"period": year, "breakdown": "Total", "period_start": f"{year}-01-01",
                  "period_end": f"{year}-12-31", "dataset_id": "dfe_ehcp"}  # fmt: skip
        for code in LIVE:
            num, den = timeliness(code, year)
            rows.append(
                {
                    **period,
                    "indicator_id": INDICATOR,
                    "area_code": code,
                    "value": value(code, year),
                    "numerator": num,
                    "denominator": den,
                }
            )
        rows.append({**period, "indicator_id": INDICATOR, "area_code": ENGLAND, "value": 50.0})
        rows.append({**period, "indicator_id": INDICATOR, "area_code": WM, "value": 45.0})
    jan = {
        "period": "2024/25",
        "breakdown": "Total",
        "period_start": "2024-09-01",
        "period_end": "2025-08-31",
        "dataset_id": "dfe_ehcp",
        "indicator_id": "ehcp_caseload",
    }
    for i, code in enumerate(LIVE):
        rows.append({**jan, "area_code": code, "value": 1000.0 + 100 * i})
    db["observations"].insert_all(rows)
    neighbours = [
        {"set_id": s, "area_code": a, "neighbour_code": n, "rank": r + 1, "closeness": "Close",
         "neighbour_dfe_code": LAS[n][1], "neighbour_name": LAS[n][0]}
        for s, groups in SETS.items() for a, group in groups.items()
        for r, n in enumerate(group)
    ]  # fmt: skip
    db["statistical_neighbours"].insert_all(neighbours)
    return db


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("cli_benchmark") / "sendbench.db"
    compute_benchmarks(build_db(path))
    return path


def invoke(*args):
    return CliRunner().invoke(main, [str(a) for a in args])


def stored(db_path, area_code: str, set_id: str = "dfe-2025-05", latest: bool = True) -> dict:
    db = sqlite_utils.Database(db_path)
    where = "area_code = ? and neighbour_set = ?" + (" and is_latest = 1" if latest else "")
    return {
        (r["indicator_id"], r["period"]): r
        for r in db.query(f"select * from benchmarks where {where}", [area_code, set_id])
    }


def test_table_names_the_area_set_and_values(db_path):
    result = invoke("benchmark", "Shropshire", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "Shropshire (E06000051, DfE 893)" in result.output
    assert "neighbour set dfe-2025-05" in result.output
    line = next(ln for ln in result.output.splitlines() if ln.startswith("New EHC plans issued"))
    assert f" {value('E06000051', '2024')} " in line
    outcomes = load_catalogue().outcomes
    assert all(o.title[:60] in result.output for o in outcomes)  # every outcome, data or not
    assert "no data for this area" in result.output


def test_csv_equals_the_stored_rows_and_the_mean_of_the_neighbours(db_path):
    result = invoke("benchmark", "893", "--db", db_path, "--format", "csv")
    assert result.exit_code == 0, result.output
    rows = {r["indicator_id"]: r for r in csv.DictReader(io.StringIO(result.stdout))}
    row = rows[INDICATOR]
    expected = statistics.mean(value(n, "2024") for n in SETS["dfe-2025-05"]["E06000051"])
    assert float(row["sn_mean"]) == pytest.approx(expected)
    assert row["sn_count"] == "4" and row["period"] == "2024"
    db_row = stored(db_path, "E06000051")[(INDICATOR, "2024")]
    assert float(row["rank"]) == db_row["rank"] and row["quartile_band"] == db_row["quartile_band"]


def test_another_neighbour_set_can_be_chosen(db_path):
    result = invoke("benchmark", "E06000051", "--db", db_path, "--format", "json",
                    "--neighbours", "dfe-2021-04-lgr", "--indicator", INDICATOR)  # fmt: skip
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["neighbour_set"] == "dfe-2021-04-lgr"
    [row] = data["benchmarks"]
    group = SETS["dfe-2021-04-lgr"]["E06000051"]
    assert row["sn_mean"] == pytest.approx(statistics.mean(value(n, "2024") for n in group))
    assert [n["neighbour_code"] for n in data["neighbours"]] == group


def test_unknown_set_lists_the_loaded_ones(db_path):
    result = invoke("benchmark", "Shropshire", "--db", db_path, "--neighbours", "cipfa")
    assert result.exit_code != 0
    assert "unknown neighbour set 'cipfa'" in result.output
    assert "dfe-2021-04-lgr" in result.output and "dfe-2025-05" in result.output


@pytest.mark.parametrize("query", ["815", "E10000023", "E06000065", "north yorkshire"])
def test_old_and_new_codes_and_names_find_the_current_council(db_path, query):
    result = invoke("benchmark", query, "--db", db_path, "--format", "json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["area"]["area_code"] == "E06000065"


def test_an_ambiguous_name_lists_the_candidates(db_path):
    result = invoke("benchmark", "North", "--db", db_path)
    assert result.exit_code != 0
    for name in ("North Somerset", "North Tyneside", "North Yorkshire"):
        assert name in result.output
    assert "Give a code or the full name" in result.output


def test_an_unknown_name_suggests_close_ones(db_path):
    result = invoke("benchmark", "Shropshre", "--db", db_path)
    assert result.exit_code != 0
    assert "no local authority matches 'Shropshre'" in result.output
    assert "Did you mean: Shropshire" in result.output


def test_outcome_indicator_and_period_filters(db_path):
    result = invoke("benchmark", "Shropshire", "--db", db_path, "--format", "json",
                    "--outcome", "more_in_mainstream")  # fmt: skip
    assert json.loads(result.stdout)["benchmarks"] == []  # no data for that outcome here
    result = invoke("benchmark", "Shropshire", "--db", db_path, "--format", "json",
                    "--outcome", "families_heard", "--period", "all")  # fmt: skip
    rows = json.loads(result.stdout)["benchmarks"]
    assert [r["period"] for r in rows] == YEARS and {r["indicator_id"] for r in rows} == {INDICATOR}
    result = invoke("benchmark", "Shropshire", "--db", db_path, "--period", "2021",
                    "--format", "json")  # fmt: skip
    assert [r["period"] for r in json.loads(result.stdout)["benchmarks"]] == ["2021"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("--outcome", "families_herd", "did you mean families_heard"),
        ("--indicator", "ehcp_caseloda", "did you mean ehcp_caseload"),
        ("--period", "1999", "available: 2019, 2020"),
    ],
)
def test_unknown_filters_say_what_exists(db_path, option, value, message):
    result = invoke("benchmark", "Shropshire", "--db", db_path, option, value)
    assert result.exit_code != 0
    assert message in result.output


def test_json_to_a_file(db_path, tmp_path):
    out = tmp_path / "shropshire.json"
    result = invoke("benchmark", "Shropshire", "--db", db_path, "--format", "json", "-o", out)
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["area"]["name"] == "Shropshire" and data["computed_at"]
    assert {c["outcome_id"] for c in data["scorecard"]} >= {"families_heard", "safe_from_harm"}


def test_xlsx_default_name_and_numbers(db_path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = invoke("benchmark", "Shropshire", "--db", db_path, "--format", "xlsx")
    assert result.exit_code == 0, result.output
    book = openpyxl.load_workbook(tmp_path / "benchmark-E06000051.xlsx")
    sheet = book["families_heard"]
    header = [c.value for c in sheet[4]]
    row = dict(zip(header, [c.value for c in sheet[5]], strict=True))
    db_row = stored(db_path, "E06000051")[(INDICATOR, "2024")]
    assert row["Indicator id"] == INDICATOR
    assert row["Value"] == db_row["value"] and row["Rank"] == db_row["rank"]
    assert row["Neighbour average (mean)"] == pytest.approx(db_row["sn_mean"], rel=1e-14)
    assert len(book["Trends"]._charts) == 1  # the one judged indicator with data


def test_neighbours_lists_rank_name_and_set(db_path):
    result = invoke("neighbours", "Shropshire", "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "neighbour set dfe-2025-05" in result.output
    lines = [ln.split() for ln in result.output.splitlines()[1:]]
    assert [ln[0] for ln in lines] == ["1", "2", "3", "4"]
    assert "E06000065" in lines[0] and "Close" in lines[0]
    result = invoke("neighbours", "Shropshire", "--db", db_path, "--set", "nope")
    assert result.exit_code != 0 and "loaded sets: dfe-2021-04-lgr, dfe-2025-05" in result.output


def test_benchmark_needs_an_area_or_recompute(db_path, tmp_path):
    result = invoke("benchmark", "--db", db_path)
    assert result.exit_code == 2 and "give an AREA" in result.output
    copy = tmp_path / "copy.db"
    copy.write_bytes(db_path.read_bytes())
    result = invoke("benchmark", "--db", copy, "--recompute")
    assert result.exit_code == 0, result.output
    runs = list(sqlite_utils.Database(copy)["benchmark_runs"].rows)
    assert len(runs) == 2 and runs[-1]["default_set"] == "dfe-2025-05"


def test_without_computed_benchmarks_the_message_says_what_to_run(tmp_path):
    path = tmp_path / "fresh.db"
    build_db(path)  # observations, but benchmarks never computed
    result = invoke("benchmark", "Shropshire", "--db", path)
    assert result.exit_code != 0 and "sendbench benchmark --recompute" in result.output


def test_refresh_computes_the_benchmarks_at_the_end(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    for name in ("las.csv", "regions.csv"):
        (files / name).write_bytes((FIXTURES / "dfe" / "las" / name).read_bytes())
    (files / "education-health-and-care-plans_2025.zip").write_bytes(ehcp_zip())
    db_path = tmp_path / "sendbench.db"
    result = invoke("refresh", "dfe_ehcp", "--from", files, "--db", db_path)
    assert result.exit_code == 0, result.output
    assert "benchmarks" in result.output and "neighbour sets none loaded" in result.output
    db = sqlite_utils.Database(db_path)
    la_rows = db.execute(
        "select count(*) from observations o join areas a on a.area_code = o.area_code "
        "where a.area_type = 'la' and o.breakdown = 'Total'"
    ).fetchone()[0]
    assert db["benchmarks"].count == la_rows > 0
    again = invoke("refresh", "dfe_ehcp", "--from", files, "--db", db_path)
    assert again.exit_code == 0 and "benchmarks" not in again.output  # nothing loaded


def test_a_database_without_observations_gets_empty_benchmarks(tmp_path):
    db = sqlite_utils.Database(tmp_path / "areas-only.db")
    ensure_db_shape(db)
    run = compute_benchmarks(db)
    assert (run["benchmark_rows"], run["scorecard_rows"], run["default_set"]) == (0, 0, "none")
    assert db["benchmarks"].count == 0


def test_refresh_of_the_la_list_alone_benchmarks_nothing_without_failing(tmp_path):
    files = tmp_path / "files"
    files.mkdir()
    for name in ("las.csv", "regions.csv"):
        (files / name).write_bytes((FIXTURES / "dfe" / "las" / name).read_bytes())
    db_path = tmp_path / "sendbench.db"
    result = invoke("refresh", "dfe_areas", "--from", files, "--db", db_path)
    assert result.exit_code == 0, result.output
    db = sqlite_utils.Database(db_path)
    assert db["outcomes"].count > 0  # the catalogue is there, so every outcome could be a row
    assert (db["benchmarks"].count, db["benchmark_scorecard"].count) == (0, 0)
