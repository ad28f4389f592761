"""Nomis DLA claimants by age: code list, paging, areas, symbols and faults.

Expected values are read here from the fixture CSV with the csv module, never taken from
sendbench's output. The fixtures are Nomis answers written from the documented format with
illustrative counts (tests/fixtures/nomis/dla/make_fixture.py): no real Nomis DLA answer exists
in ../shared/data, so there is no real-file test beyond checking that `--from` skips.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import responses
from conftest import SHARED_DATA, needs_shared_data, run_refresh
from nomis_helpers import GEOGRAPHY, NOMIS, NomisCase, add_answer, add_las, refresh_from

from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import MissingLocalFiles
from sendbench.harvesters.nomis import api, dla

CASE = NomisCase(dla, "nomis_dla", "NM_110_1")
HERE, DATA = CASE.folder, CASE.data
CODES_URL = f"{NOMIS}/NM_110_1/age.def.sdmx.json"
QUERY = {
    "geography": GEOGRAPHY,
    "date": "latest",
    "sex": "7",
    "measures": "20100",
    "age": "1,2",  # the codes labelled "Aged under 16" and "Aged 16-24" in the fixture code list
}
SELECT = "date,date_name,geography_name,geography_code,geography_type,age,age_name,obs_value,obs_status,record_count"  # noqa: E501
LABELS = {"dla_claimants_under_16": "Aged under 16", "dla_claimants_16_24": "Aged 16-24"}


fixture_rows, pages = CASE.rows, CASE.pages
harvester, parse_text = CASE.harvester, CASE.parse_text


def expected(code: str, label: str) -> float:
    picked = [float(r["OBS_VALUE"]) for r in fixture_rows()
              if r["GEOGRAPHY_CODE"] == code and r["AGE_NAME"] == label]  # fmt: skip
    assert len(picked) == 1
    return picked[0]


def add_nomis(rsps, bodies: list[bytes], size: int = 20, codes: bytes | None = None) -> None:
    """The LA list, the age code list, the probe and each page, matched on exact queries."""
    add_las(rsps)
    rsps.get(CODES_URL, body=codes or (HERE / "age.def.sdmx.json").read_bytes(),
             content_type="application/json")  # fmt: skip
    probe = ("date,date_name,record_count", (HERE / "probe.csv").read_bytes())
    add_answer(rsps, CASE, QUERY, probe, SELECT, bodies, size)


@pytest.fixture
def small_pages(monkeypatch):
    """Nomis pages of 20 rows, so the 28-row fixture needs two (as 25,000 would in life)."""
    monkeypatch.setattr(api, "PAGE_SIZE", 20)
    return 20


# The network path ------------------------------------------------------------------------------


def test_codes_probe_and_two_pages_are_fetched_and_loaded(tmp_path, small_pages):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        add_nomis(rsps, pages(small_pages))
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_dla"])
    result = results["nomis_dla"]
    assert (result.status, result.release) == ("loaded", "2016-11"), result.error
    assert "Middlesbrough (E06000002)" in result.unmatched_areas
    assert db["raw_nomis_dla_data"].count == len(fixture_rows()) == 28
    for indicator, label in LABELS.items():
        got = dict(db.execute("select area_code, value from observations where indicator_id = ?",
                              [indicator]).fetchall())  # fmt: skip
        assert "E06000002" not in got
        for code in ("E92000001", "E12000003", "E06000051", "E10000016", "E09000033"):
            assert got[code] == expected(code, label), (indicator, code)
    row = db.execute(
        "select value, period, period_start, period_end, source_area_code, status from "
        "observations where indicator_id = 'dla_claimants_under_16' and area_code = 'E06000065'"
    ).fetchone()
    assert row == (expected("E10000023", "Aged under 16"), "2016-11", "2016-11-30",
                   "2016-11-30", "E10000023", None)  # fmt: skip
    harvests = "select source from harvests where dataset_id = 'nomis_dla' order by file"
    sources = [r[0] for r in db.execute(harvests)]
    assert len(sources) == 2 and sources[1].endswith("RecordOffset=20")


def test_abolished_councils_stay_under_their_own_codes_not_successors(tmp_path, small_pages):
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, pages(small_pages))
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_dla"])
    got = dict(db.execute("select area_code, value from observations "
                          "where indicator_id = 'dla_claimants_under_16'").fetchall())  # fmt: skip
    # Bournemouth (to BCP 2019) and Northamptonshire (split 2021) are terminated rows of the LA
    # list: their 2016 counts stay under their own codes and are not given to a successor.
    assert got["E06000028"] == expected("E06000028", "Aged under 16")
    assert got["E10000021"] == expected("E10000021", "Aged under 16")
    assert not {"E06000058", "E06000061", "E06000062"} & set(got)
    assert results["nomis_dla"].unmatched_areas == ["Middlesbrough (E06000002)"]


def test_a_page_cut_short_before_the_last_fails_and_keeps_the_old_data(tmp_path, small_pages):
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, pages(small_pages))
        db, _ = run_refresh(tmp_path, ["dfe_areas", "nomis_dla"])
    before = db.execute("select count(*) from observations").fetchone()[0]
    first, second = pages(small_pages)
    lines = first.splitlines(keepends=True)
    with responses.RequestsMock() as rsps:
        add_nomis(rsps, [b"".join(lines[:-3]), second])
        db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_dla"])
    failed = results["nomis_dla"]
    assert failed.status == "failed"
    assert "page 1 of 2 has 17 rows, not 20" in failed.error
    assert db.execute("select count(*) from observations").fetchone()[0] == before


def test_an_age_code_list_without_a_band_fails_naming_the_labels(tmp_path):
    payload = json.loads((HERE / "age.def.sdmx.json").read_text(encoding="utf-8"))
    codes = payload["structure"]["codelists"]["codelist"][0]["code"]
    codes[:] = [c for c in codes if c["description"]["value"] != "Aged 16-24"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_nomis(rsps, [], codes=json.dumps(payload).encode())
        _, results = run_refresh(tmp_path, ["dfe_areas", "nomis_dla"])
    failed = results["nomis_dla"]
    assert failed.status == "failed"
    assert "dla_claimants_16_24: no age code labelled ['16-24']" in failed.error
    assert "age.def.sdmx.json" in failed.error


# Parsing ---------------------------------------------------------------------------------------


def test_a_renamed_column_fails_listing_missing_and_unexpected(tmp_path):
    text = DATA.read_text(encoding="utf-8").replace('"AGE_NAME"', '"AGE_LABEL"', 1)
    with pytest.raises(LayoutError) as info:
        parse_text(tmp_path, text)
    assert info.value.missing == ["AGE_NAME"]
    assert info.value.unexpected == ["AGE_LABEL"]


def test_a_status_is_kept_and_the_value_is_never_zero(tmp_path):
    old = f'"Kent","E10000016","{"local authorities: county / unitary (prior to April 2019)"}"'
    text = DATA.read_text(encoding="utf-8").replace(
        f'{old},2,"Aged 16-24",{int(expected("E10000016", "Aged 16-24"))},"A"',
        f'{old},2,"Aged 16-24",,"Q"',
    )
    assert ',"Aged 16-24",,"Q"' in text
    obs = parse_text(tmp_path, text).observations.set_index(["indicator_id", "area_code"])
    assert pd.isna(obs.loc[("dla_claimants_16_24", "E10000016"), "value"])
    assert obs.loc[("dla_claimants_16_24", "E10000016"), "status"] == "Q"
    assert obs.loc[("dla_claimants_under_16", "E10000016"), "value"] == expected(
        "E10000016", "Aged under 16"
    )


def test_other_age_bands_in_a_saved_file_are_kept_raw_but_not_loaded(tmp_path):
    extra = ('"2016-11","November 2016","England","E92000001","countries",3,"Aged 25-49",'
             '400000,"A",29\n')  # fmt: skip
    parsed = parse_text(tmp_path, DATA.read_text(encoding="utf-8") + extra)
    assert len(parsed.raw_tables["raw_nomis_dla_data"]) == 29
    assert set(parsed.observations["indicator_id"]) == set(LABELS)
    assert len(parsed.observations[parsed.observations["area_code"] == "E92000001"]) == 2


def test_a_dimension_left_open_duplicates_rows_and_fails(tmp_path):
    lines = DATA.read_text(encoding="utf-8").splitlines(keepends=True)
    text = "".join(lines) + lines[1].replace("380000", "190000")  # e.g. a male row, sex not fixed
    with pytest.raises(HarvestError, match="more than one row per area, quarter and age"):
        parse_text(tmp_path, text)


def test_spellings_of_age_labels_compare_equal():
    assert {dla.band_key(s) for s in ["Aged 16-24", "Aged 16 to 24", "16 - 24", "Age 16–24"]} \
        == {"16-24"}  # fmt: skip
    assert dla.band_key("Aged under 16") == dla.band_key("Under 16") == "under 16"


# --from -----------------------------------------------------------------------------------------


def test_from_a_folder_with_a_saved_answer_loads(tmp_path):
    folder = CASE.saved_folder(tmp_path, "NM_110_1_2016-11.csv")
    db, results = run_refresh(tmp_path, ["dfe_areas", "nomis_dla"], from_dir=folder)
    assert results["nomis_dla"].status == "loaded", results["nomis_dla"].error
    query = ("select value from observations where indicator_id = 'dla_claimants_16_24' "
             "and area_code = 'E92000001'")  # fmt: skip
    value = db.execute(query).fetchone()[0]
    assert value == expected("E92000001", "Aged 16-24")


@needs_shared_data
def test_the_shared_data_folder_has_no_nomis_dla_file_so_the_dataset_is_skipped(tmp_path):
    with pytest.raises(MissingLocalFiles):
        harvester().find_local(SHARED_DATA)
    result = refresh_from(tmp_path, "nomis_dla", SHARED_DATA)
    assert result.status == "skipped"
    assert "no file named NM_110_1*.csv or nomis_dla*.csv" in result.error
