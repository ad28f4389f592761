"""SEND Tribunal appeal rates: found on EES (one file or the zip), read from CSV and ODS, faults.

Expected values are read here from the fixtures and the real files with the csv module and
pandas, never from sendbench's output.
"""

from __future__ import annotations

import csv
import io
import json
import shutil

import pandas as pd
import pytest
import responses
from conftest import (
    CONTENT_API,
    FIXTURES,
    LAS_URL,
    REGIONS_URL,
    SHARED_DATA,
    ees_zip,
    fixture_bytes,
    needs_shared_data,
    run_refresh,
)

from sendbench.catalogue import load_catalogue
from sendbench.harvesters.base import MissingLocalFiles
from sendbench.harvesters.tribunal.appeals import Harvester

HERE = FIXTURES / "tribunal" / "appeals"
CSV_FIXTURE = HERE / "send_tribunals_appeal_rate.csv"
ODS_FIXTURE = HERE / "send_appeal_rate_table_2022.ods"
REAL_CSV = SHARED_DATA / "tribunal" / "SEND Tribunals and appeal rate 2014-2024.csv"
REAL_ODS = SHARED_DATA / "tribunal" / "send_appeal_rate_table_2022.ods"
CSV_NAME = REAL_CSV.name
SLUG = "education-health-and-care-plans"
RELEASE_ID = "2e60aacd-d46c-416a-af4d-9d2269506ff6"
FILE_ID = "5b1f0c2e-8d7a-4c3e-9f1b-2a6d4e8c0b17"  # illustrative
LATEST_URL = f"{CONTENT_API}/publications/{SLUG}/releases/latest"
FILE_URL = f"{CONTENT_API}/releases/{RELEASE_ID}/files/{FILE_ID}"
ZIP_URL = f"{CONTENT_API}/releases/{RELEASE_ID}/files"
DATASETS = ["dfe_areas", "tribunal_appeals"]
MEASURES = ("Appeals registered", "Total Appealable Decisions", "SEND Tribunal Appeal Rate")
INDICATORS = {
    "Appeals registered": "tribunal_appeals_registered",
    "Total Appealable Decisions": "tribunal_appealable_decisions",
    "SEND Tribunal Appeal Rate": "tribunal_appeal_rate_pct",
}


# Independent readers -------------------------------------------------------------------------


def read_csv_table(data: bytes) -> dict[str, dict[tuple[str, str], str]]:
    """Published name -> {(year, measure): cell as published}, with the csv module."""
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    years_row, measures_row = rows[3], rows[4]
    columns, year = {}, None
    for i in range(2, len(years_row)):
        year = years_row[i] or year
        for measure in MEASURES:
            if measures_row[i].startswith(measure):
                columns[i] = (year, measure)
    return {row[0]: {key: row[i] for i, key in columns.items()} for row in rows[5:] if row}


def read_ods_table(path) -> dict[str, dict[tuple[str, str], object]]:
    """Published name -> {(year, measure): cell value}, with pandas' odf reader."""
    sheet = pd.read_excel(path, engine="odf", sheet_name="SEND_2", header=None)
    top = sheet.index[sheet[0] == "Local Authority"][0]
    columns, year = {}, None
    for i in range(1, sheet.shape[1]):
        if pd.notna(sheet.iat[top, i]):
            year = str(int(sheet.iat[top, i]))
        columns[i] = (year, str(sheet.iat[top + 1, i]).rstrip("0123456789,"))
    return {
        str(sheet.iat[r, 0]): {key: sheet.iat[r, i] for i, key in columns.items()}
        for r in range(top + 2, sheet.shape[0])
    }


def number(cell: str) -> float:
    return float(cell.strip().replace(",", "").rstrip("%"))


def observation(db, indicator: str, area: str, period: str) -> dict:
    rows = list(
        db.query(
            "select * from observations where indicator_id = ? and area_code = ? and period = ?",
            [indicator, area, period],
        )
    )
    assert len(rows) == 1, (indicator, area, period, rows)
    return rows[0]


# The EES release --------------------------------------------------------------------------


def latest_release(listed: bool = True) -> dict:
    """The EES latest-release JSON (shape: tests/fixtures/dfe/ehcp/latest_release.json)."""
    data = json.loads(fixture_bytes("dfe", "ehcp", "latest_release.json"))
    if listed:
        data["downloadFiles"].append(
            {
                "id": FILE_ID,
                "extension": "csv",
                "fileName": CSV_NAME,
                "name": "SEND Tribunals and appeal rate 2014-2024",
                "size": "38 Kb",
                "type": "Ancillary",
            }  # fmt: skip
        )
    return data


def add_areas(rsps) -> None:
    rsps.get(LAS_URL, body=fixture_bytes("dfe", "las", "las.csv"), content_type="text/plain")
    rsps.get(REGIONS_URL, body=fixture_bytes("dfe", "las", "regions.csv"))


def add_single_file(rsps, body: bytes) -> None:
    add_areas(rsps)
    rsps.get(LATEST_URL, json=latest_release())
    rsps.get(FILE_URL, body=body, content_type="text/csv")


# Network path -------------------------------------------------------------------------------


@responses.activate
def test_listed_file_is_fetched_and_loaded(tmp_path):
    add_single_file(responses, CSV_FIXTURE.read_bytes())
    db, results = run_refresh(tmp_path, DATASETS)
    result = results["tribunal_appeals"]
    assert result.status == "loaded", result.error
    assert result.release == "2024"
    assert responses.calls[-1].request.url == FILE_URL
    published = read_csv_table(CSV_FIXTURE.read_bytes())
    england = published["England Total4,9"]
    for measure, indicator in INDICATORS.items():
        got = observation(db, indicator, "E92000001", "2024")
        assert got["value"] == pytest.approx(number(england[("2024", measure)]))
    rate = observation(db, "tribunal_appeal_rate_pct", "E92000001", "2024")
    assert rate["numerator"] == number(england[("2024", "Appeals registered")])
    assert rate["denominator"] == number(england[("2024", "Total Appealable Decisions")])
    assert rate["period_start"] == "2024-01-01" and rate["period_end"] == "2024-12-31"


@responses.activate
def test_symbols_zeros_names_and_unmatched(tmp_path):
    add_single_file(responses, CSV_FIXTURE.read_bytes())
    db, results = run_refresh(tmp_path, DATASETS)
    result = results["tribunal_appeals"]
    published = read_csv_table(CSV_FIXTURE.read_bytes())
    # "-" is a published zero: value 0, no status.
    assert published["Hartlepool"][("2014", "Appeals registered")].strip() == "-"
    zero = observation(db, "tribunal_appeals_registered", "E06000001", "2014")
    assert (zero["value"], zero["status"]) == (0, None)
    # ".." is a symbol, never a zero.
    bcp = observation(db, "tribunal_appeal_rate_pct", "E06000058", "2014")
    assert (bcp["value"], bcp["status"]) == (None, "..")
    # Footnote digits dropped; "Upon" matched to the LA list's "upon"; abolished councils kept.
    hull = published["Kingston Upon Hull, City of"]
    got = observation(db, "tribunal_appealable_decisions", "E06000010", "2016")
    assert got["value"] == number(hull[("2016", "Total Appealable Decisions")])
    northants = published["Northamptonshire7"]
    got = observation(db, "tribunal_appeals_registered", "E10000021", "2019")
    assert got["value"] == number(northants[("2019", "Appeals registered")])
    assert got["source_area_code"] == "892"
    poole = published["Poole5"]
    got = observation(db, "tribunal_appeal_rate_pct", "E06000029", "2017")
    assert got["value"] == pytest.approx(number(poole[("2017", "SEND Tribunal Appeal Rate")]))
    # Darlington is not in the fixture LA list: reported, not dropped silently.
    assert any("Darlington" in u for u in result.unmatched_areas)
    assert len(result.unmatched_areas) == 1
    assert any("England total excluding suppressed" in n for n in result.notes)
    places = {r[0] for r in db.execute("select distinct area_code from observations")}
    assert len(places) == 18  # 18 LA rows less Darlington, plus England


@responses.activate
def test_zip_fallback_reads_supporting_files(tmp_path):
    add_areas(responses)
    responses.get(LATEST_URL, json=latest_release(listed=False))
    body = ees_zip({"data/caseload.csv": b"time_period\r\n", f"supporting-files/{CSV_NAME}": (
        CSV_FIXTURE.read_bytes())})  # fmt: skip
    responses.get(ZIP_URL, body=body, content_type="application/octet-stream")
    db, results = run_refresh(tmp_path, DATASETS)
    assert results["tribunal_appeals"].status == "loaded", results["tribunal_appeals"].error
    kent = read_csv_table(CSV_FIXTURE.read_bytes())["Kent"]
    got = observation(db, "tribunal_appeals_registered", "E10000016", "2024")
    assert got["value"] == number(kent[("2024", "Appeals registered")])


@responses.activate
def test_zip_without_the_table_fails_clearly(tmp_path):
    add_areas(responses)
    responses.get(LATEST_URL, json=latest_release(listed=False))
    responses.get(ZIP_URL, body=ees_zip({"data/caseload.csv": b"time_period\r\n"}))
    _, results = run_refresh(tmp_path, DATASETS)
    result = results["tribunal_appeals"]
    assert result.status == "failed"
    assert "supporting-files/SEND Tribunals and appeal rate*.csv" in result.error


@responses.activate
def test_renamed_measure_fails_with_columns_listed(tmp_path):
    renamed = CSV_FIXTURE.read_bytes().replace(b"Appeals registered4", b"Appeals lodged4", 1)
    add_single_file(responses, renamed)
    db, results = run_refresh(tmp_path, DATASETS)
    result = results["tribunal_appeals"]
    assert result.status == "failed"
    assert "missing columns: 2014 Appeals registered" in result.error
    assert "unexpected columns: 2014 Appeals lodged" in result.error
    assert db.execute("select count(*) from observations").fetchone()[0] == 0


# Local files ----------------------------------------------------------------------------------


def local_folder(tmp_path, *files):
    folder = tmp_path / "from"
    folder.mkdir()
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    for source, name in files:
        shutil.copy(source, folder / name)
    return folder


def test_ods_fixture_rates_become_percentages(tmp_path):
    folder = local_folder(tmp_path, (ODS_FIXTURE, ODS_FIXTURE.name))
    db, results = run_refresh(tmp_path, DATASETS, from_dir=folder)
    result = results["tribunal_appeals"]
    assert result.status == "loaded", result.error
    assert result.release == "2022"
    published = read_ods_table(ODS_FIXTURE)
    kent = published["Kent"]
    got = observation(db, "tribunal_appeal_rate_pct", "E10000016", "2022")
    assert got["value"] == pytest.approx(100 * kent[("2022", "SEND Tribunal Appeal Rate")])
    assert got["flag"] == "provisional"
    england = published["England Total4"]
    got = observation(db, "tribunal_appeals_registered", "E92000001", "2018")
    assert got["value"] == england[("2018", "Appeals registered")]
    assert {"Darlington", "Durham"} <= {u.split("'")[1] for u in result.unmatched_areas}


def test_newest_local_table_wins_and_missing_files_are_reported(tmp_path):
    dataset = load_catalogue().dataset("tribunal_appeals")
    harvester = Harvester(dataset, load_catalogue())
    folder = local_folder(tmp_path, (ODS_FIXTURE, ODS_FIXTURE.name), (CSV_FIXTURE, CSV_NAME))
    assert harvester.find_local(folder).files[0].filename == CSV_NAME
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(MissingLocalFiles):
        harvester.find_local(empty)
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    areas_only = local_folder(run_dir)
    _, results = run_refresh(run_dir, DATASETS, from_dir=areas_only)
    assert results["dfe_areas"].status == "loaded"
    # Named explicitly, a dataset without files fails; in a whole-catalogue refresh the same
    # MissingLocalFiles makes it "skipped" (sendbench.refresh).
    assert results["tribunal_appeals"].status == "failed"
    assert "no file named SEND Tribunals and appeal rate*.csv" in results["tribunal_appeals"].error


# Real files -----------------------------------------------------------------------------------

REAL_CHECKS = [  # published name, area code (reorganised councils among them)
    ("Durham", "E06000047"),
    ("Bournemouth, Christchurch and Poole5", "E06000058"),
    ("Northamptonshire7", "E10000021"),
    ("Nottingham", "E06000018"),
    ("North Yorkshire", "E06000065"),
]


@needs_shared_data
def test_real_csv(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=SHARED_DATA)
    result = results["tribunal_appeals"]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []
    published = read_csv_table(REAL_CSV.read_bytes())
    for name, code in [("England Total4,9", "E92000001"), *REAL_CHECKS]:
        for year in ("2014", "2019", "2023"):
            for measure, indicator in INDICATORS.items():
                cell = published[name][(year, measure)].strip()
                got = observation(db, indicator, code, year)
                if cell == "..":
                    assert (got["value"], got["status"]) == (None, "..")
                else:
                    expected = 0.0 if cell == "-" else number(cell)
                    assert got["value"] == pytest.approx(expected), (name, year, measure)
    assert any("Nottingham (891 is E10000024" in n for n in result.notes)


@needs_shared_data
def test_real_ods(tmp_path):
    folder = tmp_path / "from"
    folder.mkdir()
    shutil.copy(REAL_ODS, folder / REAL_ODS.name)
    for name in ("dfe_qa_las.csv", "dfe_qa_regions.csv"):
        shutil.copy(SHARED_DATA / "lookups" / name, folder / name)
    db, results = run_refresh(tmp_path, DATASETS, from_dir=folder)
    result = results["tribunal_appeals"]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []
    published = read_ods_table(REAL_ODS)
    scale = {"SEND Tribunal Appeal Rate": 100.0}
    for name, code in [("England Total4", "E92000001"), *REAL_CHECKS]:
        for year in ("2014", "2019", "2022"):
            for measure, indicator in INDICATORS.items():
                cell = published[name][(year, measure)]
                got = observation(db, indicator, code, year)
                if cell == "..":
                    assert (got["value"], got["status"]) == (None, "..")
                else:
                    expected = float(cell) * scale.get(measure, 1.0)
                    assert got["value"] == pytest.approx(expected), (name, year, measure)
    darlington = observation(db, "tribunal_appeals_registered", "E06000005", "2014")
    assert (darlington["value"], darlington["status"]) == (0, None)  # shown as "-" in the sheet
