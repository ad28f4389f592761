"""Nomis population by single year of age: paging, bands, areas, symbols and faults.

Expected values are summed here from the fixture CSV read with the csv module, never taken from
sendbench's output. The fixture is a Nomis ``.data.csv`` answer written from the documented
columns with illustrative counts (tests/fixtures/nomis/population/make_fixture.py).
"""

from __future__ import annotations

import pandas as pd
import pytest
import responses
from conftest import SHARED_DATA, needs_shared_data, run_refresh
from nomis_helpers import GEOGRAPHY, NomisCase, add_answer, add_las, refresh_from

from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import MissingLocalFiles
from sendbench.harvesters.nomis import api, population

CASE = NomisCase(population, "nomis_population", "NM_2002_1")
HERE, DATA = CASE.folder, CASE.data
QUERY = {
    "geography": GEOGRAPHY,
    "date": "latest",
    "gender": "0",
    "c_age": "101...126",
    "measures": "20100",
}
SELECT = "date_name,geography_name,geography_code,geography_type,c_age,c_age_name,obs_value,obs_status,record_count"  # noqa: E501
BANDS = {"population_0_25": (0, 25), "population_0_4": (0, 4), "population_5_15": (5, 15),
         "population_0_17": (0, 17), "population_16_25": (16, 25)}  # fmt: skip


# Independent reading of the fixture ------------------------------------------------------------

fixture_rows, pages = CASE.rows, CASE.pages


def expected_band(code: str, first: int, last: int) -> float:
    ages = {f"Age {a}" for a in range(first, last + 1)}
    picked = [int(r["OBS_VALUE"]) for r in fixture_rows()
              if r["GEOGRAPHY_CODE"] == code and r["C_AGE_NAME"] in ages]  # fmt: skip
    assert len(picked) == last - first + 1
    return float(sum(picked))


# Helpers -----------------------------------------------------------------------------------------

harvester, parse_text = CASE.harvester, CASE.parse_text


def add_nomis(rsps, bodies: list[bytes], probe: bytes | None = None, size: int = 200) -> None:
    """The LA list, the Nomis probe and each page, matched on their exact query strings."""
    add_las(rsps)
    probe_body = probe or (HERE / "probe.csv").read_bytes()
    add_answer(rsps, CASE, QUERY, ("date_name,record_count", probe_body), SELECT, bodies, size)


@pytest.fixture
def small_pages(monkeypatch):
    """Nomis pages of 200 rows, so the 338-row fixture needs two (as 25,000 would in life)."""
    monkeypatch.setattr(api, "PAGE_SIZE", 200)
    return 200


# The network path ------------------------------------------------------------------------------


def test_two_pages_are_fetched_summed_into_bands_and_loaded(tmp_path, small_pages):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        add_nomis(rsps, pages(small_pages))
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    result = results["nomis_population"]
    assert (result.status, result.release) == ("loaded", "2024"), result.error
    assert result.unmatched_areas == ["Middlesbrough (E06000002)"]
    assert db["raw_nomis_population_data"].count == len(fixture_rows()) == 338
    areas = {"E92000001", "E12000003", "E06000051", "E06000065", "E10000016"}
    for indicator, (first, last) in BANDS.items():
        got = dict(db.execute(
            "select area_code, value from observations where indicator_id = ? and period = "
            "'2024'", [indicator]).fetchall())  # fmt: skip
        assert "E06000002" not in got
        for code in areas:
            assert got[code] == expected_band(code, first, last), (indicator, code)
    row = db.execute(
        "select status, period_start, period_end, source_area_code, release from observations "
        "where indicator_id = 'population_5_15' and area_code = 'E09000033'"
    ).fetchone()
    assert row == (None, "2024-06-30", "2024-06-30", "E09000033", "2024")
    harvests = "select source from harvests where dataset_id = 'nomis_population' order by file"
    sources = [r[0] for r in db.execute(harvests)]
    assert len(sources) == 2 and sources[1].endswith("RecordOffset=200")


def test_pages_that_divide_the_count_exactly_are_all_full_and_accepted(tmp_path, monkeypatch):
    monkeypatch.setattr(api, "PAGE_SIZE", 169)  # 338 rows = two full pages
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        add_nomis(rsps, pages(169), size=169)
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    assert results["nomis_population"].status == "loaded", results["nomis_population"].error
    assert db["raw_nomis_population_data"].count == 338


def test_more_rows_than_record_count_fails(tmp_path, small_pages):
    first, second = pages(small_pages)
    extra = second + second.splitlines(keepends=True)[-1]  # a row repeated on the last page
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, [first, extra])
        _, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    assert "RECORD_COUNT ['338'] but 339 rows came back" in results["nomis_population"].error


def test_a_page_cut_short_before_the_last_fails_and_keeps_the_old_data(tmp_path, small_pages):
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, pages(small_pages))
        db, _ = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    before = db.execute("select count(*) from observations").fetchone()[0]
    first, second = pages(small_pages)
    lines = first.splitlines(keepends=True)
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, [b"".join(lines[:-5]), second])
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    failed = results["nomis_population"]
    assert failed.status == "failed"
    assert "page 1 of 2 has 195 rows, not 200" in failed.error
    assert db.execute("select count(*) from observations").fetchone()[0] == before


def test_an_html_error_page_instead_of_csv_fails_with_a_clear_message(tmp_path, small_pages):
    html = b"<!DOCTYPE html><html><body>Service unavailable</body></html>"
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, [pages(small_pages)[0], html])
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    failed = results["nomis_population"]
    assert failed.status == "failed"
    assert "expected a CSV file but got text/html (an HTML page" in failed.error
    count = "select count(*) from observations where dataset_id = 'nomis_population'"
    assert db.execute(count).fetchone()[0] == 0


def test_an_empty_answer_to_the_probe_fails_naming_the_query(tmp_path):
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, [], probe=b'"DATE_NAME","RECORD_COUNT"\n')
        _, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"])
    failed = results["nomis_population"]
    assert failed.status == "failed"
    assert "Nomis returned no rows for the query" in failed.error
    assert "c_age=101...126" in failed.error


# Parsing ---------------------------------------------------------------------------------------


def test_a_renamed_column_fails_listing_missing_and_unexpected(tmp_path):
    text = DATA.read_text(encoding="utf-8").replace('"OBS_VALUE"', '"VALUE"', 1)
    with pytest.raises(LayoutError) as info:
        parse_text(tmp_path, text)
    assert info.value.missing == ["OBS_VALUE"]
    assert info.value.unexpected == ["VALUE"]


def test_a_symbol_is_kept_as_status_and_the_band_has_no_value(tmp_path):
    text = DATA.read_text(encoding="utf-8").replace(
        '"Kent","E10000016","local authorities: county / unitary (as of April 2023)",107,'
        '"Age 6",20085,"A"',
        '"Kent","E10000016","local authorities: county / unitary (as of April 2023)",107,'
        '"Age 6",,"Q"',
    )
    assert ',"Age 6",,"Q"' in text
    obs = parse_text(tmp_path, text).observations.set_index(["indicator_id", "area_code"])
    for indicator in ("population_0_25", "population_5_15", "population_0_17"):
        assert pd.isna(obs.loc[(indicator, "E10000016"), "value"])
        assert obs.loc[(indicator, "E10000016"), "status"] == "Q"
    assert obs.loc[("population_0_4", "E10000016"), "value"] == expected_band("E10000016", 0, 4)


def test_a_pre_2023_county_code_is_filed_under_the_current_code(tmp_path):
    text = DATA.read_text(encoding="utf-8").replace('"2024"', '"2020"')
    text = text.replace('"North Yorkshire","E06000065"', '"North Yorkshire","E10000023"')
    obs = parse_text(tmp_path, text).observations
    row = obs[(obs["indicator_id"] == "population_0_25") & (obs["area_code"] == "E06000065")]
    assert row[["period", "source_area_code"]].values.tolist() == [["2020", "E10000023"]]
    assert row["value"].iloc[0] == expected_band("E06000065", 0, 25)


def test_a_missing_single_year_leaves_the_band_without_a_value(tmp_path):
    lines = DATA.read_text(encoding="utf-8").splitlines(keepends=True)
    text = "".join(line for line in lines if not ('"E06000051"' in line and '"Age 10"' in line))
    parsed = parse_text(tmp_path, text)
    obs = parsed.observations.set_index(["indicator_id", "area_code"])
    assert obs.loc[("population_5_15", "E06000051"), "status"] == "incomplete"
    assert pd.isna(obs.loc[("population_5_15", "E06000051"), "value"])
    assert obs.loc[("population_16_25", "E06000051"), "status"] is None
    assert any("ages [10] not in the answer" in note for note in parsed.notes)


def test_an_unknown_age_label_fails(tmp_path):
    text = DATA.read_text(encoding="utf-8").replace('"Age 3"', '"Age three"')
    with pytest.raises(HarvestError, match="'Age three' is not a known age label"):
        parse_text(tmp_path, text)


# --from -----------------------------------------------------------------------------------------


def test_from_a_folder_with_a_saved_answer_loads(tmp_path):
    folder = CASE.saved_folder(tmp_path, "NM_2002_1_2024.csv")
    db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_population"], from_dir=folder)
    assert results["nomis_population"].status == "loaded", results["nomis_population"].error
    value = db.execute("select value from observations where indicator_id = 'population_0_25' "
                       "and area_code = 'E92000001'").fetchone()[0]  # fmt: skip
    assert value == expected_band("E92000001", 0, 25)


@needs_shared_data
def test_the_shared_data_folder_has_no_nomis_file_so_the_dataset_is_skipped(tmp_path):
    with pytest.raises(MissingLocalFiles):
        harvester().find_local(SHARED_DATA)
    result = refresh_from(tmp_path, "nomis_population", SHARED_DATA)
    assert result.status == "skipped"
    assert "no file named NM_2002_1*.csv or nomis_population*.csv" in result.error
