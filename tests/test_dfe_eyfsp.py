"""EYFSP results by SEN: the fixture parsed, both layouts, the network path, faults, real file."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
import responses
from conftest import (
    FIXTURES,
    SHARED_DATA,
    add_ees_release,
    add_publishers,
    ees_zip,
    fixture_resolver,
    needs_shared_data,
    run_refresh,
    snapshot,
)

from sendbench.areas import AreaResolver, build_areas
from sendbench.catalogue import load_catalogue
from sendbench.errors import LayoutError
from sendbench.harvesters.base import HarvestContext, Release
from sendbench.harvesters.dfe.eyfsp import Harvester
from sendbench.http import HttpClient

SLUG = "early-years-foundation-stage-profile-results"
RELEASE_ID = "6a1e3c55-0b4e-4d8a-9f3e-2c7d1b0a9e11"  # illustrative: the tests only need an id
FIXTURE = FIXTURES / "dfe" / "eyfsp" / "eyfsp_headline_measures_2022.csv"
REAL = SHARED_DATA / "dfe" / "attainment" / "eyfsp_headline_measures_2022.csv"
SEN_INDICATORS = {
    "eyfsp_gld_ehcp_pct": "EHC plan",
    "eyfsp_gld_sen_support_pct": "SEN support",
    "eyfsp_gld_no_sen_pct": "No identified SEN",
}
# Rows of DfE's published LA list (lookups/dfe_qa_las.csv) for the Isles of Scilly and the county
# code it split from in 2009, added to the LA list fixture where a test needs an LA whose SEN rows
# carry the symbol z.
SCILLY = (
    "E06000052,Cornwall,01/04/2009,,E12000009,E06,Unitary Authorities,live,908\n"
    "E06000053,Isles of Scilly,01/04/2009,,E12000009,E06,Unitary Authorities,live,420\n"
    "E10000005,Cornwall and Isles of Scilly,01/01/2009,31/03/2009,E12000009,E10,Counties,"
    "terminated,x\n"
)


def rows_of(path) -> list[dict]:
    """The file's rows, read with the csv module (not sendbench)."""
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def published(rows, code: str, topic: str, value: str, column: str, sex: str = "Total") -> str:
    """One cell of an LA's (or England's) row, as published."""
    for row in rows:
        level_code = row["new_la_code"] or row["country_code"]
        if (
            row["geographic_level"] in ("Local authority", "National")
            and level_code == code
            and (row["characteristic"], row["characteristic_type"], row["gender"])
            == (topic, value, sex)
        ):
            return row[column]
    raise AssertionError(f"no {code} {topic}/{value} row")


def resolver_with_scilly() -> AreaResolver:
    las = (FIXTURES / "dfe" / "las" / "las.csv").read_text() + SCILLY
    areas, _, combinations = build_areas(
        pd.read_csv(io.StringIO(las), dtype=str, keep_default_na=False),
        pd.read_csv(FIXTURES / "dfe" / "las" / "regions.csv", dtype=str, keep_default_na=False),
    )
    return AreaResolver(areas, combinations)


def parse(tmp_path, data: bytes, resolver=None, name: str = FIXTURE.name):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("dfe_eyfsp"), catalogue)
    path = tmp_path / name
    path.write_bytes(data)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = http.import_local(path, dataset="dfe_eyfsp")
    context = HarvestContext(resolver=resolver or fixture_resolver())
    key = harvester.data_files[0].key
    return harvester.parse({key: raw}, Release(label="2022", files=[]), context)


def headline(parsed, indicator: str) -> dict:
    obs = parsed.observations
    rows = obs[(obs.indicator_id == indicator) & (obs.breakdown == "Total")]
    return {r["area_code"]: r for r in rows.to_dict("records")}


def test_sen_groups_match_the_fixture(tmp_path):
    parsed = parse(tmp_path, FIXTURE.read_bytes())
    rows = rows_of(FIXTURE)
    for indicator, group in SEN_INDICATORS.items():
        got = headline(parsed, indicator)
        for code in ("E92000001", "E06000051", "E06000060", "E09000033"):
            assert got[code]["value"] == float(
                published(rows, code, "SEN provision", group, "gld_percentage")
            )
            assert got[code]["numerator"] == float(
                published(rows, code, "SEN provision", group, "gld_number")
            )
            assert got[code]["denominator"] == float(
                published(rows, code, "SEN provision", group, "children_number")
            )
            assert got[code]["period"] == "2021/22" and got[code]["status"] is None


def test_reorganised_councils_are_filed_under_their_areas(tmp_path):
    parsed = parse(tmp_path, FIXTURE.read_bytes())
    rows = rows_of(FIXTURE)
    got = headline(parsed, "eyfsp_gld_ehcp_pct")
    # North Yorkshire is published under its county code; the areas table files it under the
    # unitary code that replaced it (same DfE code 815).
    assert got["E06000065"]["source_area_code"] == "E10000023"
    assert got["E06000065"]["value"] == float(
        published(rows, "E10000023", "SEN provision", "EHC plan", "gld_percentage")
    )
    for code in ("E06000061", "E06000062"):  # the Northamptonshire successors
        assert got[code]["value"] == float(
            published(rows, code, "SEN provision", "EHC plan", "gld_percentage")
        )
    # Cumbria (2021/22) and the Isles of Scilly are not in the LA list fixture: reported.
    la_rows = {(r["la_name"], r["new_la_code"], r["old_la_code"]) for r in rows if r["la_name"]}
    known = set(fixture_resolver().areas["area_code"])
    expected = sorted(f"{n} ({c} / {o}): unknown" for n, c, o in la_rows if c not in known)
    assert parsed.unmatched_areas == expected
    assert "E10000006" not in set(parsed.observations["source_area_code"])


def test_all_children_carry_breakdowns_and_girls_stay_out(tmp_path):
    parsed = parse(tmp_path, FIXTURE.read_bytes())
    rows = rows_of(FIXTURE)
    obs = parsed.observations
    shropshire = obs[(obs.indicator_id == "eyfsp_gld_pct") & (obs.area_code == "E06000051")]
    by_breakdown = dict(zip(shropshire["breakdown"], shropshire["value"], strict=True))
    expected = {
        ("Total" if r["characteristic"] == "Total" else
         f"{r['characteristic']}: {r['characteristic_type']}"): float(r["gld_percentage"])
        for r in rows
        if r["new_la_code"] == "E06000051"
        and r["geographic_level"] == "Local authority"
        and r["gender"] == "Total"
    }  # fmt: skip
    assert by_breakdown == expected
    assert (
        by_breakdown["SEN provision: EHC plan"]
        == headline(parsed, "eyfsp_gld_ehcp_pct")["E06000051"]["value"]
    )


def test_symbol_z_is_kept_never_zero(tmp_path):
    parsed = parse(tmp_path, FIXTURE.read_bytes(), resolver=resolver_with_scilly())
    rows = rows_of(FIXTURE)
    assert published(rows, "E06000053", "SEN provision", "EHC plan", "gld_percentage") == "z"
    scilly = headline(parsed, "eyfsp_gld_ehcp_pct")["E06000053"]
    assert pd.isna(scilly["value"]) and scilly["status"] == "z"
    assert scilly["denominator"] == 0.0  # the count is published as 0, the percentage as z
    assert headline(parsed, "eyfsp_avg_elgs_ehcp")["E06000053"]["status"] == "z"


def test_inner_london_and_district_rows_stay_raw(tmp_path):
    parsed = parse(tmp_path, FIXTURE.read_bytes())
    rows = rows_of(FIXTURE)
    raw = parsed.raw_tables["raw_dfe_eyfsp_eyfsp_headline_measures_2022"]
    assert len(raw) == len(rows)
    inner_london = [r for r in rows if r["geographic_level"] == "Regional"]
    assert any(r["region_code"] == "E13000001" for r in inner_london)
    assert len(raw[raw["region_code"] == "E13000001"]) == sum(
        r["region_code"] == "E13000001" for r in rows
    )
    areas = set(parsed.observations["area_code"])
    assert not {a for a in areas if a.startswith("E13")}
    assert "E12000005" in areas
    assert len(raw[raw["geographic_level"] == "Local authority district"]) == 2
    # Only the LA row of Shropshire gives an observation, not its district row (same code).
    sizes = parsed.observations.groupby(["indicator_id", "area_code", "breakdown"]).size()
    assert sizes.max() == 1


def test_2023_24_layout_gives_the_same_observations(tmp_path):
    """The 2023/24 release renamed characteristic, characteristic_type and gender."""
    text = FIXTURE.read_text()
    header, body = text.split("\n", 1)
    header = header.replace(
        "characteristic,characteristic_type,gender", "breakdown_topic,breakdown,sex"
    )
    body = body.replace(",Girls,", ",Female,")
    (tmp_path / "old").mkdir()
    (tmp_path / "new").mkdir()
    old = parse(tmp_path / "old", FIXTURE.read_bytes())
    new = parse(tmp_path / "new", f"{header}\n{body}".encode())
    columns = ["indicator_id", "area_code", "period", "breakdown", "value", "status"]
    assert new.observations[columns].equals(old.observations[columns])
    assert "breakdown_topic" in new.raw_tables["raw_dfe_eyfsp_eyfsp_headline_measures_2022"]


def test_renamed_measure_fails_with_columns_listed(tmp_path):
    data = FIXTURE.read_bytes().replace(b",gld_percentage", b",gld_pct", 1)
    with pytest.raises(LayoutError) as err:
        parse(tmp_path, data)
    assert err.value.dataset == "dfe_eyfsp"
    assert err.value.missing == ["gld_percentage"]
    assert err.value.unexpected == ["gld_pct"]
    assert "eyfsp_headline_measures_2022.csv" in str(err.value)


@responses.activate(assert_all_requests_are_fired=False)
def test_latest_release_found_and_loaded(tmp_path):
    add_publishers(responses)
    latest, zip_url = add_ees_release(
        responses,
        SLUG,
        RELEASE_ID,
        "2021-22",
        ees_zip({f"data/{FIXTURE.name}": FIXTURE.read_bytes(), "data-guidance/x.txt": b"guide"}),
    )
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_eyfsp"])
    result = results["dfe_eyfsp"]
    assert result.status == "loaded" and result.release == "2021-22"
    assert [c.request.url for c in responses.calls if SLUG in c.request.url or RELEASE_ID in
            c.request.url] == [latest, zip_url]  # fmt: skip
    rows = rows_of(FIXTURE)
    value = db.execute(
        "select value, numerator, denominator from observations where indicator_id = ? "
        "and area_code = 'E06000051' and breakdown = 'Total'",
        ["eyfsp_gld_sen_support_pct"],
    ).fetchone()
    assert value == tuple(
        float(published(rows, "E06000051", "SEN provision", "SEN support", c))
        for c in ("gld_percentage", "gld_number", "children_number")
    )
    harvest = db.execute(
        "select source, status from harvests where dataset_id = 'dfe_eyfsp'"
    ).fetchone()
    assert harvest == (zip_url, "loaded")


def test_html_instead_of_zip_fails_and_keeps_the_last_load(tmp_path):
    good = ees_zip({f"data/{FIXTURE.name}": FIXTURE.read_bytes()})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2021-22", good)
        db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_eyfsp"])
    assert results["dfe_eyfsp"].status == "loaded"
    before = snapshot(db, "dfe_eyfsp")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        html = b"<!DOCTYPE html><html><body>Sorry, the service is unavailable</body></html>"
        add_ees_release(rsps, SLUG, "7b2f4d66-1c5f-4e9b-8a4f-3d8e2c1b0f22", "2022-23", html)
        db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_eyfsp"])
    result = results["dfe_eyfsp"]
    assert result.status == "failed"
    assert "dfe_eyfsp" in result.error and "7b2f4d66" in result.error
    assert snapshot(db, "dfe_eyfsp") == before


@needs_shared_data
def test_real_file_values_for_england_and_las(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_eyfsp"], from_dir=SHARED_DATA)
    result = results["dfe_eyfsp"]
    assert result.status == "loaded", result.error
    rows = rows_of(REAL)
    # England, an ordinary unitary, a county split in 2023 (Cumbria, its own code in 2021/22),
    # a county replaced by a unitary with the same DfE code (North Yorkshire), Buckinghamshire.
    places = {
        "E92000001": "E92000001",
        "E06000051": "E06000051",
        "E10000006": "E10000006",
        "E10000023": "E06000065",
        "E06000060": "E06000060",
        "E06000062": "E06000062",
    }
    for indicator, group in {**SEN_INDICATORS, "eyfsp_gld_pct": "Total"}.items():
        topic = "Total" if group == "Total" else "SEN provision"
        for published_code, area in places.items():
            got = db.execute(
                "select value, numerator, denominator, source_area_code from observations "
                "where indicator_id = ? and area_code = ? and breakdown = 'Total'",
                [indicator, area],
            ).fetchone()
            want = [
                float(published(rows, published_code, topic, group, c))
                for c in ("gld_percentage", "gld_number", "children_number")
            ]
            assert got == (*want, published_code), (indicator, published_code)
    scilly = db.execute(
        "select value, status from observations where indicator_id = 'eyfsp_gld_ehcp_pct' "
        "and area_code = 'E06000053'"
    ).fetchone()
    assert published(rows, "E06000053", "SEN provision", "EHC plan", "gld_percentage") == "z"
    assert scilly == (None, "z")
    # Every LA code in the file is in DfE's LA list, so nothing should be reported unmatched.
    la_list = {r["new_la_code"] for r in rows_of(SHARED_DATA / "lookups" / "dfe_qa_las.csv")}
    la_rows = {(r["la_name"], r["new_la_code"], r["old_la_code"]) for r in rows
               if r["geographic_level"] == "Local authority"}  # fmt: skip
    assert result.unmatched_areas == sorted(
        f"{n} ({c} / {o}): unknown" for n, c, o in la_rows if c not in la_list
    )
    las_loaded = db.execute(
        "select count(distinct area_code) from observations where dataset_id = 'dfe_eyfsp' "
        "and area_code not like 'E12%' and area_code != 'E92000001'"
    ).fetchone()[0]
    assert las_loaded == len(la_rows)
    raw_rows = db.execute("select count(*) from raw_dfe_eyfsp_eyfsp_headline_measures_2022")
    assert raw_rows.fetchone()[0] == len(rows)
