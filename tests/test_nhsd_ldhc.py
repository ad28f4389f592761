"""Tests for the Learning Disabilities Health Check Scheme harvester (nhsd_ldhc).

Expected values are summed here from the fixture csv with the csv module, never read back from
sendbench. No real LDHC data file exists in ../shared/data, so the real-data test checks that
``--from`` ends "skipped" there.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path

import pytest
import responses
import sqlite_utils
from conftest import FIXTURES, LAS_URL, REGIONS_URL, SHARED_DATA, needs_shared_data, run_refresh

from sendbench.catalogue import load_catalogue
from sendbench.db.schema import ensure_db_shape
from sendbench.harvesters.base import MissingLocalFiles
from sendbench.harvesters.nhsd.ldhc import Harvester, latest_edition, pick_file, release_label
from sendbench.http import HttpClient
from sendbench.refresh import refresh_one

HERE = FIXTURES / "nhsd" / "ldhc"
NAME = "learning-disabilities-health-check-scheme-eng-Mar-2026.csv"
CSV = HERE / NAME
LANDING = "https://digital.nhs.uk/data-and-information/publications/statistical/learning-disabilities-health-check-scheme"
EDITION = f"{LANDING}/england-march-2026"
CSV_URL = f"https://files.digital.nhs.uk/9D/0B31F2/{NAME}"
DATASETS = ["dfe_areas", "nhsd_ldhc"]
# indicator -> (numerator IND_CODE/MEASURE, register IND_CODE), written out here on purpose
SHARES = {"ldhc_checks_14_17_pct": ("LDHCMI034", "LD_REG_1417"),
          "ldhc_checks_18_plus_pct": ("LDHCMI035", "LD_REG_18OV")}  # fmt: skip
LEVEL_COLUMNS = {"sub_icb": "SUB_ICB_LOC_CODE", "icb": "ICB_CODE", "nhs_region": "COMM_REGION_CODE"}


# Independent readers -----------------------------------------------------------------------------


def csv_text() -> str:
    """The fixture as published: CRLF line ends kept (read_text would turn them into LF)."""
    return CSV.read_bytes().decode("utf-8")


def rows_of(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def sums(rows: list[dict], ind: str, measure: str) -> dict[str, float]:
    """Area code (as sendbench names it) -> the sum of the practices' VALUE for one measure."""
    total: dict[str, float] = defaultdict(float)
    for r in rows:
        if (r["IND_CODE"], r["MEASURE"]) != (ind, measure):
            continue
        total["E92000001"] += float(r["VALUE"])
        for area_type, column in LEVEL_COLUMNS.items():
            if r[column]:
                total[f"{area_type}:{r[column]}"] += float(r["VALUE"])
    return dict(total)


def stored(db, indicator: str, area: str) -> tuple:
    row = db.execute(
        "select value, numerator, denominator, status, period, period_start, period_end, "
        "source_area_code from observations where indicator_id = ? and area_code = ?",
        [indicator, area],
    ).fetchone()
    assert row is not None, (indicator, area)
    return row


# Helpers -----------------------------------------------------------------------------------------


def harvester() -> Harvester:
    catalogue = load_catalogue()
    return Harvester(catalogue.dataset("nhsd_ldhc"), catalogue)


def local_folder(tmp_path: Path, text: str | None = None, name: str = NAME) -> Path:
    """The LA list fixtures and the LDHC csv (or ``text`` in its place), as a user saves them."""
    folder = tmp_path / "from"
    folder.mkdir(exist_ok=True)
    for las in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / las, folder / las)
    (folder / name).write_bytes(CSV.read_bytes() if text is None else text.encode("utf-8"))
    return folder


def register(rsps, csv_bytes: bytes | None = None, edition: bytes | None = None) -> None:
    rsps.get(LAS_URL, body=(FIXTURES / "dfe" / "las" / "las.csv").read_bytes())
    rsps.get(REGIONS_URL, body=(FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
    rsps.get(LANDING, body=(HERE / "landing.html").read_bytes(), content_type="text/html")
    rsps.get(
        EDITION, body=edition or (HERE / "edition.html").read_bytes(), content_type="text/html"
    )
    if edition is None:
        rsps.get(CSV_URL, body=csv_bytes or CSV.read_bytes(), content_type="text/csv")


def observation_rows(db) -> list[tuple]:
    return list(
        db.execute("select * from observations where dataset_id = 'nhsd_ldhc' order by 1, 2, 3")
    )


def replace_value(text: str, practice: str, ind: str, measure: str, new: str | None) -> str:
    """The csv with one practice's cell changed (``new=None`` drops the row)."""
    lines = text.split("\r\n")
    out = []
    for line in lines:
        parts = line.split(",")
        if len(parts) > 3 and parts[1] == practice and parts[-3:-1] == [ind, measure]:
            if new is None:
                continue
            line = ",".join([*parts[:-1], new])
        out.append(line)
    assert out != lines
    return "\r\n".join(out)


# The fixture, read as saved (--from) -------------------------------------------------------------


def test_practices_sum_to_england_and_nhs_areas(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    result = results["nhsd_ldhc"]
    assert result.status == "loaded", result.error
    assert result.release == "2026-03"
    assert result.unmatched_areas == []
    rows = rows_of(csv_text())
    assert db.execute("select count(*) from raw_nhsd_ldhc_data").fetchone()[0] == len(rows)
    for indicator, (ind, reg) in SHARES.items():
        checked, register_size = sums(rows, ind, "Numerator"), sums(rows, reg, "Count")
        assert len(checked) == 1 + 4 + 3 + 2  # England, sub-ICBs, ICBs, regions
        for area in ("E92000001", "sub_icb:00L", "icb:QJK", "nhs_region:Y63"):
            value, num, den, status, period, start, end, source = stored(db, indicator, area)
            assert (num, den, status) == (checked[area], register_size[area], None)
            assert value == pytest.approx(100 * checked[area] / register_size[area])
            assert (period, start, end) == ("2025-04 to 2026-03", "2025-04-01", "2026-03-31")
            assert source == area.split(":")[-1]
        count = db.execute(
            "select count(*) from observations where indicator_id = ?", [indicator]
        ).fetchone()[0]
        assert count == len(checked)
    for indicator, reg in (("ldhc_register_14_17", "LD_REG_1417"),
                           ("ldhc_register_18_plus", "LD_REG_18OV")):  # fmt: skip
        expected = sums(rows, reg, "Count")
        for area in ("E92000001", "sub_icb:15N", "icb:QHM"):
            assert stored(db, indicator, area)[:4] == (expected[area], None, None, None)


def test_starred_denominators_do_not_touch_the_shares(tmp_path):
    # Practice A84002 (sub-ICB 00L) has 14-17 Denominator and HLTHCHKDEC published as '*'.
    rows = rows_of(csv_text())
    starred = {(r["PRACTICE_CODE"], r["SUB_ICB_LOC_CODE"]) for r in rows if r["VALUE"] == "*"}
    assert ("A84002", "00L") in starred
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    assert stored(db, "ldhc_checks_14_17_pct", "sub_icb:00L")[3] is None
    assert db.execute(
        "select count(*) from observations where dataset_id = 'nhsd_ldhc' and status = '*'"
    ).fetchone() == (0,)


def test_areas_have_nhs_codes_and_names(tmp_path):
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    rows = rows_of(csv_text())
    want = {}
    for r in rows:
        for area_type, column in LEVEL_COLUMNS.items():
            name_column = {"sub_icb": "SUB_ICB_LOC_NAME", "icb": "ICB_NAME",
                           "nhs_region": "COMM_REGION_NAME"}[area_type]  # fmt: skip
            want[f"{area_type}:{r[column]}"] = (r[name_column], area_type)
    got = {
        code: (name, kind)
        for code, name, kind in db.execute(
            "select area_code, name, area_type from areas where area_code like '%:%'"
        )
    }
    assert got == want
    assert db.execute(
        "select valid_from, status from areas where area_code = 'icb:QJK'"
    ).fetchone() == ("2022-07-01", "live")


def test_suppressed_or_missing_practice_values_make_the_area_null_not_smaller(tmp_path):
    text = csv_text()
    text = replace_value(text, "A84001", "LDHCMI034", "Numerator", "*")  # 00L, QHM, Y63
    text = replace_value(text, "L83002", "LD_REG_18OV", "Count", None)  # 15N, QJK, Y58
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path, text))
    assert results["nhsd_ldhc"].status == "loaded", results["nhsd_ldhc"].error
    for area in ("sub_icb:00L", "icb:QHM", "nhs_region:Y63", "E92000001"):
        assert stored(db, "ldhc_checks_14_17_pct", area)[:4] == (None, None, None, "*")
    for area in ("sub_icb:15N", "icb:QJK", "nhs_region:Y58"):
        assert stored(db, "ldhc_checks_18_plus_pct", area)[:4] == (None, None, None, "missing")
        assert stored(db, "ldhc_register_18_plus", area)[:4] == (None, None, None, "missing")
    # Areas without the gap keep their sums (13T for the 14-17 share; 15F for the 18+ share).
    rows = rows_of(csv_text())  # the edits touched practices in 00L and 15N only
    num, reg = sums(rows, "LDHCMI034", "Numerator"), sums(rows, "LD_REG_1417", "Count")
    assert stored(db, "ldhc_checks_14_17_pct", "sub_icb:13T")[1:4] == (
        num["sub_icb:13T"], reg["sub_icb:13T"], None)  # fmt: skip
    assert stored(db, "ldhc_checks_18_plus_pct", "icb:QWO")[3] is None
    notes = " ".join(results["nhsd_ldhc"].notes)
    assert "ldhc_checks_14_17_pct: 4 area-periods have no value" in notes


def test_practice_without_nhs_codes_counts_in_england_and_is_reported(tmp_path):
    text = csv_text().replace(",E38000225,15F,", ",,,")
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path, text))
    reported = results["nhsd_ldhc"].unmatched_areas
    assert len(reported) == 1 and "SUB_ICB_LOC_CODE" in reported[0]
    assert "B86001" in reported[0] and "B86002" in reported[0]
    sql = "select count(*) from observations where area_code = 'sub_icb:15F'"
    assert db.execute(sql).fetchone() == (0,)
    rows = rows_of(text)
    num, reg = sums(rows, "LDHCMI035", "Numerator"), sums(rows, "LD_REG_18OV", "Count")
    assert stored(db, "ldhc_checks_18_plus_pct", "E92000001")[1:3] == (
        num["E92000001"], reg["E92000001"])  # fmt: skip
    assert stored(db, "ldhc_checks_18_plus_pct", "icb:QWO")[1] == num["icb:QWO"]


def test_zip_of_the_csv_is_read(tmp_path):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(NAME, CSV.read_bytes())
    folder = local_folder(tmp_path)
    (folder / NAME).unlink()
    (folder / NAME.replace(".csv", ".zip")).write_bytes(buffer.getvalue())
    db, results = run_refresh(tmp_path, DATASETS, from_dir=folder)
    assert results["nhsd_ldhc"].status == "loaded", results["nhsd_ldhc"].error
    rows = rows_of(csv_text())
    assert (
        stored(db, "ldhc_register_14_17", "E92000001")[0]
        == sums(rows, "LD_REG_1417", "Count")["E92000001"]
    )


def test_sharing_areas_with_mhsds_deletes_none_of_its_rows(tmp_path):
    folder = local_folder(tmp_path)
    mhsds = FIXTURES / "nhsd" / "mhsds" / "MHSDS_Time_Series_data_excerpt.csv"
    shutil.copy(mhsds, folder / "MHSDS_Time_Series_data_Apr_2016_NovPrf_2022.csv")
    db, results = run_refresh(tmp_path, ["dfe_areas", "nhsd_mhsds"], from_dir=folder)
    assert results["nhsd_mhsds"].status == "loaded", results["nhsd_mhsds"].error
    before = {r[0] for r in db.execute("select area_code from areas where area_code like '%:%'")}
    db, results = run_refresh(tmp_path, DATASETS, from_dir=folder)
    assert results["nhsd_ldhc"].status == "loaded"
    after = {r[0] for r in db.execute("select area_code from areas where area_code like '%:%'")}
    assert before <= after
    assert {"sub_icb:00L", "icb:QE1", "provider:RX4", "icb:QJK", "sub_icb:15N"} <= after
    assert db.execute("select count(*) from areas where area_code = 'sub_icb:00L'").fetchone() == (
        1,
    )


def test_no_local_file_is_missing_local_files(tmp_path):
    with pytest.raises(MissingLocalFiles, match="learning-disabilities-health-check-scheme"):
        harvester().find_local(tmp_path)


def test_release_labels_edition_and_file_choice():
    assert release_label(NAME) == "2026-03"
    assert release_label("learning-disabilities-health-check-scheme-eng-Apr-2026.zip") == "2026-04"
    assert release_label("LDHC Data Dictionary.xlsx") is None
    url, text = latest_edition((HERE / "landing.html").read_text(encoding="utf-8"), LANDING)
    assert url == EDITION and text.endswith("England March 2026")  # not upcoming April
    urls = [
        "https://files.digital.nhs.uk/4C/7E21A9/ldhc-participation-mar-2026.xlsx",
        "https://files.digital.nhs.uk/2B/000000/learning-disabilities-health-check-scheme-eng-Mar-2026.zip",
        CSV_URL,
    ]
    assert pick_file(urls) == CSV_URL
    assert pick_file(urls[:2]) == urls[1]
    assert pick_file(urls[:1]) is None


# The network path --------------------------------------------------------------------------------


def test_latest_edition_and_its_csv_are_found_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        register(rsps)
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhsd_ldhc"]
    assert result.status == "loaded", result.error
    assert result.release == "2026-03"
    assert [f.source for f in result.files] == [CSV_URL]
    rows = rows_of(csv_text())
    num, reg = sums(rows, "LDHCMI035", "Numerator"), sums(rows, "LD_REG_18OV", "Count")
    assert stored(db, "ldhc_checks_18_plus_pct", "icb:QHM")[0] == pytest.approx(
        100 * num["icb:QHM"] / reg["icb:QHM"]
    )


@pytest.mark.parametrize("fault", ["renamed column", "no file link"])
def test_fault_fails_the_dataset_and_keeps_its_rows(tmp_path, fault):
    with responses.RequestsMock() as rsps:
        register(rsps)
        db, _ = run_refresh(tmp_path, DATASETS)
    before = observation_rows(db)
    assert before
    with responses.RequestsMock() as rsps:
        if fault == "renamed column":
            text = csv_text().replace("ICB_CODE,ICB_NAME", "ICB,ICB_NAME", 1)
            register(rsps, csv_bytes=text.encode("utf-8"))
        else:
            page = (HERE / "edition.html").read_text(encoding="utf-8")
            page = page.replace("-eng-Mar-2026.csv", "-eng-Mar-2026.pdf")
            register(rsps, edition=page.encode("utf-8"))
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhsd_ldhc"]
    assert result.status == "failed"
    assert "nhsd_ldhc" in result.error
    if fault == "renamed column":
        assert "missing columns: ICB_CODE" in result.error
        assert "unexpected columns: ICB" in result.error
    else:
        assert "links no learning disabilities health check csv" in result.error
        assert EDITION in result.error
    assert observation_rows(db) == before


# The real files ----------------------------------------------------------------------------------


@needs_shared_data
def test_shared_data_has_no_ldhc_data_file_so_it_is_skipped(tmp_path):
    """`refresh --from ../shared/data` skips the dataset (explicitly named, it fails instead)."""
    folder = SHARED_DATA / "nhsd" / "ld-health-checks"
    assert sorted(p.suffix for p in folder.iterdir()) == [".csv", ".xlsx", ".xlsx"]
    db = sqlite_utils.Database(tmp_path / "db.sqlite")
    ensure_db_shape(db)
    catalogue = load_catalogue()
    with HttpClient(tmp_path / "raw", offline=True) as http:
        result = refresh_one(
            db, catalogue, catalogue.dataset("nhsd_ldhc"), http,
            from_dir=SHARED_DATA, run_id="test", say=lambda *a: None, required=False,
        )  # fmt: skip
    assert result.status == "skipped", result.error
    assert "learning-disabilities-health-check-scheme-eng-" in result.error
    _, results = run_refresh(tmp_path, DATASETS, from_dir=SHARED_DATA)
    assert results["dfe_areas"].status == "loaded"
    assert results["nhsd_ldhc"].status == "failed"
    assert "no file named" in results["nhsd_ldhc"].error


@needs_shared_data
def test_fixture_follows_the_real_data_dictionary():
    """Every IND_CODE and MEASURE in the fixture is in the official dictionary or map."""
    openpyxl = pytest.importorskip("openpyxl")
    folder = SHARED_DATA / "nhsd" / "ld-health-checks"
    book = openpyxl.load_workbook(folder / "LDHC_Data_Dictionary_Python_only.xlsx", read_only=True)
    indicators = {r[2] for r in book["Indicators"].iter_rows(min_row=2, values_only=True)}
    measures = {r[0] for r in book["Measures"].iter_rows(min_row=2, values_only=True)}
    with (folder / "LDHC_indicator_to_measure_map.csv").open(encoding="utf-8") as fh:
        mapped = {(r["IND_CODE"], r["FIELD_NAME"]) for r in csv.DictReader(fh)}
    rows = rows_of(csv_text())
    assert {r["IND_CODE"] for r in rows} <= indicators
    assert {r["MEASURE"] for r in rows} <= measures
    for r in rows:
        if r["IND_CODE"].startswith("LDHCMI"):
            assert (r["IND_CODE"], r["MEASURE"]) in mapped
