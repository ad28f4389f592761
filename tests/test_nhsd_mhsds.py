"""NHS Digital MHSDS monthly statistics: found on the publication pages, read as saved, checked.

Expected values come from the fixture or the real file read here with the csv and gzip modules,
never from sendbench's output.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
import zipfile
from pathlib import Path

import pytest
import responses
from conftest import FIXTURES, LAS_URL, REGIONS_URL, SHARED_DATA, needs_shared_data, run_refresh

from sendbench.catalogue import load_catalogue
from sendbench.harvesters.base import MissingLocalFiles
from sendbench.harvesters.nhsd.mhsds import Harvester, pick_file, release_label

HERE = FIXTURES / "nhsd" / "mhsds"
EXCERPT = HERE / "MHSDS_Time_Series_data_excerpt.csv"
REAL = SHARED_DATA / "nhsd" / "mhsds" / "MHSDS_Time_Series_data_Apr_2016_NovPrf_2022.csv.gz"
SAVED_NAME = REAL.name
LANDING = "https://digital.nhs.uk/data-and-information/publications/statistical/mental-health-services-monthly-statistics"
EDITION = f"{LANDING}/performance-november-provisional-december-2022"
ZIP_URL = "https://files.digital.nhs.uk/0A/ADDA1F/MHSDS%20Time_Series_data.zip"
DATASETS = ["dfe_areas", "nhsd_mhsds"]
# indicator -> MEASURE_ID (the catalogue's filter), written out here on purpose
MEASURES = {"mhsds_cyp_access": "MHS95", "mhsds_ed_urgent_1wk_pct": "ED86e",
            "mhsds_ed_routine_4wk_pct": "ED87e", "mhsds_u16_adult_ward_bed_days": "MHS24a",
            "mhsds_u18_discharges_los60_rate": "MHS104a"}  # fmt: skip


# Independent readers -----------------------------------------------------------------------------


def published(text: str) -> dict[tuple[str, str, str, str], str]:
    """(MEASURE_ID, BREAKDOWN, PRIMARY_LEVEL, REPORTING_PERIOD_END) -> MEASURE_VALUE, as text."""
    return {
        (r["MEASURE_ID"], r["BREAKDOWN"], r["PRIMARY_LEVEL"], r["REPORTING_PERIOD_END"]): r[
            "MEASURE_VALUE"
        ]
        for r in csv.DictReader(io.StringIO(text))
    }


def stored(db, indicator: str, area: str, period_end: str) -> tuple:
    row = db.execute(
        "select value, status, numerator, denominator, source_area_code, flag, period "
        "from observations where indicator_id = ? and area_code = ? and period_end = ?",
        [indicator, area, period_end],
    ).fetchone()
    assert row is not None, (indicator, area, period_end)
    return row


def expect(text_value: str) -> tuple[float | None, str | None]:
    return (None, text_value) if text_value == "*" else (float(text_value), None)


def iso(day: str) -> str:
    d, m, y = day.split("/")
    return f"{y}-{m}-{d}"


# Helpers -----------------------------------------------------------------------------------------


def harvester() -> Harvester:
    catalogue = load_catalogue()
    return Harvester(catalogue.dataset("nhsd_mhsds"), catalogue)


def local_folder(tmp_path: Path) -> Path:
    """The LA list fixtures and the MHSDS excerpt gzipped under its published name, as saved."""
    folder = tmp_path / "from"
    folder.mkdir()
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    (folder / SAVED_NAME).write_bytes(gzip.compress(EXCERPT.read_bytes()))
    return folder


def time_series_zip(csv_bytes: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("MHSDS Time_Series_data_Apr_2016_NovPrf_2022.csv", csv_bytes)
    return buffer.getvalue()


def register(rsps, csv_bytes: bytes | None = None, edition: bytes | None = None) -> None:
    rsps.get(LAS_URL, body=(FIXTURES / "dfe" / "las" / "las.csv").read_bytes())
    rsps.get(REGIONS_URL, body=(FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
    rsps.get(LANDING, body=(HERE / "landing.html").read_bytes(), content_type="text/html")
    rsps.get(
        EDITION, body=edition or (HERE / "edition.html").read_bytes(), content_type="text/html"
    )
    if edition is None:
        body = time_series_zip(csv_bytes or EXCERPT.read_bytes())
        rsps.get(ZIP_URL, body=body, content_type="application/x-zip-compressed")


def observation_rows(db) -> list[tuple]:
    return list(
        db.execute("select * from observations where dataset_id = 'nhsd_mhsds' order by 1, 2, 3")
    )


# The fixture, read as saved (--from) -------------------------------------------------------------


def test_saved_gzip_loads_every_geography_at_its_own_level(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    result = results["nhsd_mhsds"]
    assert result.status == "loaded", result.error
    assert result.release == "2022-11"
    text = EXCERPT.read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert db.execute("select count(*) from raw_nhsd_mhsds_data").fetchone()[0] == len(rows)
    kinds = dict(db.execute("select area_code, area_type from areas where area_code like '%:%'"))
    assert kinds == {
        "nhs_region:Y56": "nhs_region", "icb:QE1": "icb", "stp:QE1": "stp",
        "sub_icb:00L": "sub_icb", "ccg:00L": "ccg", "provider:RX4": "provider",
        "provider:417": "provider",
    }  # fmt: skip
    assert db.execute("select count(*) from areas where area_type = 'la'").fetchone()[0] > 0
    names = {
        r["PRIMARY_LEVEL"]: r["PRIMARY_LEVEL_DESCRIPTION"] for r in rows if r["BREAKDOWN"] == "ICB"
    }
    assert (
        db.execute("select name from areas where area_code = 'icb:QE1'").fetchone()[0]
        == names["QE1"]
    )
    assert db.execute(
        "select valid_to, status from areas where area_code = 'ccg:00L'"
    ).fetchone() == ("2022-06-30", "terminated")


def test_values_symbols_numerators_and_periods_match_the_file(tmp_path):
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    values = published(EXCERPT.read_text(encoding="utf-8"))
    cases = [
        ("mhsds_cyp_access", "icb:QE1", "ICB", "QE1", "30/11/2022"),
        ("mhsds_cyp_access", "sub_icb:00L", "Sub ICB of Residence", "00L", "30/11/2022"),
        ("mhsds_cyp_access", "E92000001", "England", "England", "31/07/2022"),
        ("mhsds_ed_urgent_1wk_pct", "provider:RX4", "Provider", "RX4", "30/11/2022"),
        ("mhsds_u16_adult_ward_bed_days", "sub_icb:00L", "Sub ICB - GP Practice or Residence",
         "00L", "31/10/2022"),
        ("mhsds_u16_adult_ward_bed_days", "ccg:00L", "CCG - GP Practice or Residence", "00L",
         "31/12/2021"),
        ("mhsds_u18_discharges_los60_rate", "E92000001", "England", "England", "31/12/2021"),
    ]  # fmt: skip
    for indicator, area, breakdown, code, end in cases:
        value, status, *_, source, flag, _period = stored(db, indicator, area, iso(end))
        want = expect(values[(MEASURES[indicator], breakdown, code, end)])
        assert (value, status) == want, (indicator, area, end)
        assert source == code
        assert flag in {"provisional", "final"}
    # Suppressed cells are a symbol, never a zero.
    starred = [k for k, v in values.items() if v == "*" and k[0] == "MHS24a" and k[2] != "UNKNOWN"]
    assert starred
    for _, breakdown, code, end in starred:
        area = {"Provider": "provider", "Sub ICB - GP Practice or Residence": "sub_icb",
                "CCG - GP Practice or Residence": "ccg"}[breakdown]  # fmt: skip
        area = "E92000001" if breakdown == "England" else f"{area}:{code}"
        assert stored(db, "mhsds_u16_adult_ward_bed_days", area, iso(end))[:2] == (None, "*")
    # ED87e numerator is ED87a + ED87b, denominator ED87 (published, rounded counts).
    key = ("ICB", "QE1")
    end = "30/11/2022"
    parts = [values.get(("ED87a", *key, end)), values.get(("ED87b", *key, end))]
    numerator = None if "*" in parts else sum(float(p) for p in parts)
    denominator = expect(values[("ED87", *key, end)])[0]
    _, _, num, den, *_ = stored(db, "mhsds_ed_routine_4wk_pct", "icb:QE1", iso(end))
    assert (num, den) == (numerator, denominator)
    # Where the parts are published the numerator is their sum (England, July 2022).
    end, key = "31/07/2022", ("England", "England")
    numerator = float(values[("ED87a", *key, end)]) + float(values[("ED87b", *key, end)])
    _, _, num, den, *_ = stored(db, "mhsds_ed_routine_4wk_pct", "E92000001", iso(end))
    assert (num, den) == (numerator, float(values[("ED87", *key, end)])) and num is not None
    end, key = "31/10/2022", ("ICB", "QE1")
    _, _, num, den, *_ = stored(db, "mhsds_ed_urgent_1wk_pct", "icb:QE1", iso(end))
    assert (num, den) == (float(values[("ED86a", *key, end)]), float(values[("ED86", *key, end)]))
    # A 12-month rolling period and a calendar month are labelled differently.
    assert stored(db, "mhsds_cyp_access", "icb:QE1", "2022-11-30")[-1] == "2021-12 to 2022-11"
    assert (
        stored(db, "mhsds_u16_adult_ward_bed_days", "provider:RX4", "2022-11-30")[-1] == "2022-11"
    )
    perf = stored(db, "mhsds_cyp_access", "icb:QE1", "2022-11-30")[5]
    status_word = next(
        r["STATUS"]
        for r in csv.DictReader(io.StringIO(EXCERPT.read_text(encoding="utf-8")))
        if r["MEASURE_ID"] == "MHS95" and r["REPORTING_PERIOD_END"] == "30/11/2022"
    )
    assert (status_word, perf) == ("Performance", "provisional")


def test_unknown_codes_are_reported_not_dropped_silently(tmp_path):
    _, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    rows = list(csv.DictReader(io.StringIO(EXCERPT.read_text(encoding="utf-8"))))
    unknown = {r["BREAKDOWN"] for r in rows if r["PRIMARY_LEVEL"] == "UNKNOWN"
               and r["MEASURE_ID"] in MEASURES.values()}  # fmt: skip
    assert unknown
    reported = results["nhsd_mhsds"].unmatched_areas
    for breakdown in unknown:
        assert any(u.startswith(f"{breakdown} UNKNOWN") for u in reported), breakdown


def test_no_local_file_is_missing_local_files(tmp_path):
    with pytest.raises(MissingLocalFiles, match="MHSDS"):
        harvester().find_local(tmp_path)


def test_release_labels_and_file_choice():
    assert release_label(SAVED_NAME) == "2022-11"
    assert release_label("MHSDS Time_Series_data.zip") is None
    urls = ["https://files.digital.nhs.uk/C3/E5F6A7/MHSDS%20Data_NovPrf_2022.csv", ZIP_URL]
    assert pick_file(urls) == ZIP_URL
    assert pick_file(urls[:1]) == urls[0]
    assert (
        pick_file(["https://files.digital.nhs.uk/9B/1C2D3E/MHSDS%20CYPED_NovPrf_2022.csv"]) is None
    )


# The network path --------------------------------------------------------------------------------


def test_latest_edition_and_its_time_series_zip_are_found_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        register(rsps)
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhsd_mhsds"]
    assert result.status == "loaded", result.error
    assert "Performance November, Provisional December 2022" in result.release
    assert [f.source for f in result.files] == [ZIP_URL]
    values = published(EXCERPT.read_text(encoding="utf-8"))
    value, status, *_ = stored(db, "mhsds_cyp_access", "provider:RX4", "2022-11-30")
    assert (value, status) == expect(values[("MHS95", "Provider", "RX4", "30/11/2022")])


@pytest.mark.parametrize("fault", ["renamed column", "no file link"])
def test_fault_fails_the_dataset_and_keeps_its_rows(tmp_path, fault):
    with responses.RequestsMock() as rsps:
        register(rsps)
        db, _ = run_refresh(tmp_path, DATASETS)
    before = observation_rows(db)
    assert before
    with responses.RequestsMock() as rsps:
        if fault == "renamed column":
            text = EXCERPT.read_text(encoding="utf-8").replace("MEASURE_VALUE", "VALUE", 1)
            register(rsps, csv_bytes=text.encode("utf-8"))
        else:
            page = (HERE / "edition.html").read_text(encoding="utf-8")
            page = page.replace("MHSDS%20Time_Series_data.zip", "MHSDS%20Metadata.pdf")
            page = page.replace("MHSDS%20Data_NovPrf_2022.csv", "MHSDS%20Ref.xlsx")
            register(rsps, edition=page.encode("utf-8"))
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhsd_mhsds"]
    assert result.status == "failed"
    assert "nhsd_mhsds" in result.error
    if fault == "renamed column":
        assert "missing columns: MEASURE_VALUE" in result.error
        assert "unexpected columns: VALUE" in result.error
    else:
        assert "links no MHSDS time-series" in result.error and EDITION in result.error
    assert observation_rows(db) == before


# The real file -----------------------------------------------------------------------------------

needs_mhsds = pytest.mark.skipif(not REAL.exists(), reason=f"{REAL} is not there")


@needs_shared_data
@needs_mhsds
def test_real_file_england_and_three_areas_match(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=SHARED_DATA)
    result = results["nhsd_mhsds"]
    assert result.status == "loaded", result.error
    assert result.release == "2022-11"
    with gzip.open(REAL, "rt", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert db.execute("select count(*) from raw_nhsd_mhsds_data").fetchone()[0] == len(rows)
    values = {
        (r["MEASURE_ID"], r["BREAKDOWN"], r["PRIMARY_LEVEL"], r["REPORTING_PERIOD_END"]): r[
            "MEASURE_VALUE"
        ]
        for r in rows
    }
    cases = [  # England, a sub-ICB location, an ICB, a provider
        ("mhsds_cyp_access", "E92000001", "England", "England", "31/07/2022"),
        ("mhsds_u16_adult_ward_bed_days", "E92000001", "England", "England", "31/07/2022"),
        ("mhsds_cyp_access", "sub_icb:00L", "Sub ICB of Residence", "00L", "30/11/2022"),
        ("mhsds_ed_urgent_1wk_pct", "sub_icb:00L", "Sub ICB - GP Practice or Residence", "00L",
         "30/11/2022"),
        ("mhsds_cyp_access", "icb:QE1", "ICB", "QE1", "30/11/2022"),
        ("mhsds_ed_routine_4wk_pct", "icb:QF7", "ICB", "QF7", "30/11/2022"),
        ("mhsds_cyp_access", "provider:RX4", "Provider", "RX4", "30/11/2022"),
        ("mhsds_u16_adult_ward_bed_days", "provider:RX4", "Provider", "RX4", "31/10/2022"),
    ]  # fmt: skip
    for indicator, area, breakdown, code, end in cases:
        value, status, *_ = stored(db, indicator, area, iso(end))
        assert (value, status) == expect(values[(MEASURES[indicator], breakdown, code, end)])
    # Every published cell of a catalogue measure at a known geography is an observation.
    geographies = {
        "England",
        "Region",
        "STP",
        "ICB",
        "CCG of Residence",
        "CCG - GP Practice or Residence",
        "Sub ICB of Residence",
        "Sub ICB - GP Practice or Residence",
        "Provider",
        "Provider of Responsibility",
    }
    for indicator, measure in MEASURES.items():
        expected = sum(
            1 for r in rows
            if r["MEASURE_ID"] == measure and r["BREAKDOWN"] in geographies
            and r["PRIMARY_LEVEL"] != "UNKNOWN" and r["SECONDARY_LEVEL"] == "NONE"
        )  # fmt: skip
        count = db.execute(
            "select count(*) from observations where indicator_id = ?", [indicator]
        ).fetchone()[0]
        assert count == expected, indicator
        zeros = db.execute(
            "select count(*) from observations where indicator_id = ? and status = '*' "
            "and value is not null", [indicator]
        ).fetchone()[0]  # fmt: skip
        assert zeros == 0
