"""KS4 Attainment 8 and Progress 8 by LA and SEN: the 2024/25, 2023/24 and 2022/23 layouts, the
2018/19 workbook (a fixture cut from it, and the real one), the refused 2021/22 layout, the
network path and a fault."""

from __future__ import annotations

import csv
import io
import math
import re

import openpyxl
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

from sendbench.catalogue import load_catalogue
from sendbench.errors import BadFileError, LayoutError
from sendbench.harvesters.base import HarvestContext, Release
from sendbench.harvesters.dfe.ks4 import Harvester
from sendbench.http import HttpClient

KS4 = FIXTURES / "dfe" / "ks4"
CURRENT = (
    KS4
    / "data"
    / "202425_all_state_funded_pupils_characteristics_and_geography_breakdowns_revised.csv"
)
LAYOUT_2324 = KS4 / "layouts" / "202324_la_char_data_provisional.csv"
LAYOUT_2122 = KS4 / "layouts" / "2122_lachar_data.csv"
WORKBOOK_NAME = "201819_LA_characteristics_data_including_sen_description.xlsx"
WORKBOOK = KS4 / "layouts" / WORKBOOK_NAME
REAL_WORKBOOK = SHARED_DATA / "dfe" / "attainment" / WORKBOOK_NAME
SLUG = "key-stage-4-performance"
RELEASE_ID = "3c9e4b71-0a2d-4f58-8e16-5b7a9d0c2e43"
GROUP = {  # the SEN provision as each layout spells it -> the indicators' suffix
    "Education, health and care plan": "ehcp",
    "EHC plan": "ehcp",
    "SEN State EHC": "ehcp",
    "SEN support": "sen_support",
    "SEN Supp": "sen_support",
    "No identified SEN": "no_sen",
    "No SEN": "no_sen",
}
# Published names of (value, numerator, denominator) for each measure, by layout.
NEW_NAMES = {
    "attainment8": ("attainment8_average", "attainment8_sum", "pupil_count"),
    "progress8": ("progress8_average", "progress8_sum", "progress8_pupil_count"),
}
OLD_NAMES = {
    "attainment8": ("avg_att8", "t_att8", "t_pupils"),
    "progress8": ("avg_p8score", "t_p8score", "t_inp8calc"),
}


def csv_rows(path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"))))


def workbook_rows(path) -> list[dict]:
    """The workbook's rows read with openpyxl (not sendbench), cells as stored."""
    book = openpyxl.load_workbook(path, read_only=True)
    rows = book["Sheet1"].iter_rows(values_only=True)
    header = next(rows)
    found = [dict(zip(header, row, strict=False)) for row in rows]
    book.close()
    return found


def number(cell) -> float | None:
    try:
        return float(cell)
    except (TypeError, ValueError):
        return None


def same(got: float, cell) -> bool:
    expected = number(cell)
    return math.isnan(got) if expected is None else math.isclose(got, expected)


def period(time_period) -> str:
    text = str(time_period)
    return f"{text[:4]}/{text[4:]}"


def source_code(row: dict) -> str:
    return row["new_la_code"] or row["region_code"] or row["country_code"]


def parse(tmp_path, files: dict[str, bytes]):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("dfe_ks4"), catalogue)
    tmp_path.mkdir(parents=True, exist_ok=True)
    raws = {}
    with HttpClient(tmp_path / "raw", offline=True) as http:
        for name, data in files.items():
            path = tmp_path / name
            path.write_bytes(data)
            key = "release" if name.endswith(".zip") else f"la_characteristics@{name}"
            raws[key] = http.import_local(path, dataset="dfe_ks4")
    release = Release(label="test", files=[])
    return harvester.parse(raws, release, HarvestContext(resolver=fixture_resolver()))


def observed(observations) -> dict[tuple[str, str, str], dict]:
    return {
        (r["indicator_id"], r["source_area_code"], r["period"]): r
        for r in observations.to_dict("records")
    }


def check(got: dict, rows: list[dict], sen_column: str, names: dict) -> None:
    """Every row's Attainment 8 and Progress 8, numerator and denominator, symbol as status."""
    for row in rows:
        for measure, (value, numerator, denominator) in names.items():
            key = (f"ks4_{measure}_{GROUP[row[sen_column]]}", source_code(row))
            obs = got[(*key, period(row["time_period"]))]
            assert same(obs["value"], row[value]), (key, obs["value"], row[value])
            assert same(obs["numerator"], row[numerator])
            assert same(obs["denominator"], row[denominator])
            symbol = None if number(row[value]) is not None else row[value]
            assert obs["status"] == symbol


def subregions() -> set[str]:
    """Names in the regions list fixture that are not regions (Inner and Outer London)."""
    rows = csv_rows(FIXTURES / "dfe" / "las" / "regions.csv")
    return {r["region_name"] for r in rows if not r["region_code"].startswith("E12")}


def las_known() -> tuple[set[str], set[str]]:
    rows = csv_rows(FIXTURES / "dfe" / "las" / "las.csv")
    return {r["new_la_code"] for r in rows}, {r["old_la_code"] for r in rows}


def matched(rows: list[dict], codes: set[str], dfe: set[str]) -> list[dict]:
    """The rows whose place is an area: known LA codes, regions that are regions."""
    return [
        r
        for r in rows
        if (r["geographic_level"] == "National")
        or (r["geographic_level"] == "Regional" and r["region_name"] not in subregions())
        or (
            r["geographic_level"] == "Local authority"
            and (r["new_la_code"] in codes or str(r["old_la_code"]) in dfe)
        )
    ]


def reported(rows: list[dict]) -> list[str]:
    """What the harvest should list for rows whose place is not an area."""
    found = set()
    for r in rows:
        if r["geographic_level"] == "Regional":
            found.add(
                f"{r['region_name']} ({r['region_code']}): a sub-region, not an area; "
                "kept in the raw table"
            )
        else:
            found.add(f"{r['la_name']} ({r['new_la_code']} / {r['old_la_code']}): unknown")
    return sorted(found)


def ks4_zip() -> bytes:
    return ees_zip(
        {
            f"data/{CURRENT.name}": CURRENT.read_bytes(),
            "data-guidance/data-guidance.txt": b"Key stage 4 performance\r\n",
        }
    )


# -- the 2024/25 layout -------------------------------------------------------------------------


def test_current_layout_gives_attainment8_and_progress8_per_sen_group(tmp_path):
    parsed = parse(tmp_path, {CURRENT.name: CURRENT.read_bytes()})
    rows = csv_rows(CURRENT)
    sen = [
        r
        for r in rows
        if r["breakdown_topic"] == "SEN provision"
        and r["sex"] == "Total"
        and r["sen_provision"] in GROUP
    ]
    codes, dfe = las_known()
    expected = matched(sen, codes, dfe)
    # Cumberland is not in the LA list fixture and Inner London is not a region.
    assert len(expected) > 20 and len(expected) < len(sen)
    check(observed(parsed.observations), expected, "sen_provision", NEW_NAMES)
    # The Total, sex and primary-need rows are not these indicators.
    assert len(parsed.observations) == 2 * len(expected)
    unknown = [r for r in sen if r not in expected]
    assert {r["geographic_level"] for r in unknown} == {"Regional", "Local authority"}
    assert parsed.unmatched_areas == reported(unknown)


def test_progress8_for_2024_25_keeps_its_symbol(tmp_path):
    parsed = parse(tmp_path, {CURRENT.name: CURRENT.read_bytes()})
    obs = parsed.observations
    p8 = obs[obs["indicator_id"].str.startswith("ks4_progress8") & (obs["period"] == "2024/25")]
    published = {
        r["progress8_average"]
        for r in csv_rows(CURRENT)
        if r["time_period"] == "202425" and r["breakdown_topic"] == "SEN provision"
    }
    assert published == {"z"}
    assert len(p8) > 0 and set(p8["status"]) == {"z"} and p8["value"].isna().all()
    assert p8["numerator"].isna().all()


# -- earlier layouts ----------------------------------------------------------------------------


def test_2023_24_layout_is_renamed_to_the_same_indicators(tmp_path):
    parsed = parse(tmp_path, {LAYOUT_2324.name: LAYOUT_2324.read_bytes()})
    rows = csv_rows(LAYOUT_2324)
    expected = [
        r
        for r in rows
        if r["breakdown"] == "SEN provision" and r["sex"] == "Total" and r["sen_provision"] in GROUP
    ]
    assert len(expected) >= 9
    check(observed(parsed.observations), expected, "sen_provision", OLD_NAMES)
    assert len(parsed.observations) == 2 * len(expected)
    assert not any("new columns" in note for note in parsed.notes)


def test_2022_23_layout_swaps_the_two_sen_columns(tmp_path):
    """2022/23 (EES data catalogue 78722527-…): sen_status is the provision, sen_description
    the any/no identified SEN split; gender for sex; p8score_ci_* lower case."""
    data = LAYOUT_2324.read_bytes()
    head, _, body = data.partition(b"\r\n")
    names = head.decode("utf-8-sig").split(",")
    spelt_2023 = {
        "sex": "gender",
        "sen_provision": "sen_status",
        "sen_status": "sen_description",
        "establishment_type_group": "school_type",
    }
    header = ",".join(spelt_2023.get(n, n) for n in names)
    parsed_2023 = parse(
        tmp_path / "a", {"202223_la_char_data_revised.csv": header.encode() + b"\r\n" + body}
    )
    parsed_2024 = parse(tmp_path / "b", {LAYOUT_2324.name: data})
    assert any("(2022/23 layout)" in note for note in parsed_2023.notes)
    assert observed(parsed_2023.observations).keys() == observed(parsed_2024.observations).keys()
    for key, obs in observed(parsed_2023.observations).items():
        other = observed(parsed_2024.observations)[key]
        assert (obs["value"], obs["numerator"], obs["denominator"]) == (
            other["value"],
            other["numerator"],
            other["denominator"],
        )


def test_2021_22_layout_has_no_progress8_and_is_refused(tmp_path):
    with pytest.raises(LayoutError) as caught:
        parse(tmp_path, {LAYOUT_2122.name: LAYOUT_2122.read_bytes()})
    assert caught.value.dataset == "dfe_ks4" and caught.value.file == LAYOUT_2122.name
    assert {"avg_p8score", "t_p8score", "t_inp8calc"} <= set(caught.value.missing)
    assert "missing columns: avg_p8score" in str(caught.value)


@needs_shared_data
def test_2021_22_data_guidance_lists_no_progress8_column():
    guidance = (SHARED_DATA / "dfe" / "attainment" / "ks4-data-guidance.txt").read_text()
    variables = set(re.findall(r"^([a-z][a-z0-9_]*)\s+\|", guidance, flags=re.MULTILINE))
    assert "avg_att8" in variables and not any("p8" in v for v in variables)
    fixture_columns = set(next(csv.reader(io.StringIO(LAYOUT_2122.read_text("utf-8-sig")))))
    assert variables <= fixture_columns


# -- the 2018/19 workbook -----------------------------------------------------------------------


def workbook_sen_rows(rows: list[dict]) -> list[dict]:
    return [
        r
        for r in rows
        if r["breakdown"] == "SEN status"
        and r["characteristic_gender"] == "Total"
        and r["characteristic_sen_status"] in GROUP
    ]


def test_workbook_fixture_is_read_from_its_sheet(tmp_path):
    parsed = parse(tmp_path, {WORKBOOK.name: WORKBOOK.read_bytes()})
    rows = [{**r, "new_la_code": r["new_la_code"] or ""} for r in workbook_rows(WORKBOOK)]
    for row in rows:
        row["region_code"] = row["region_code"] or ""
    sen = workbook_sen_rows(rows)
    codes, dfe = las_known()
    expected = matched(sen, codes, dfe)
    assert len(expected) >= 15 and len(expected) < len(sen)
    check(observed(parsed.observations), expected, "characteristic_sen_status", OLD_NAMES)
    assert len(parsed.observations) == 2 * len(expected)
    assert parsed.unmatched_areas == reported([r for r in sen if r not in expected])
    raw = next(iter(parsed.raw_tables.values()))
    assert len(raw) == len(rows) and list(raw["time_period"].unique()) == ["201819"]
    assert set(parsed.observations["flag"]) == {"revised"}


def test_workbook_without_its_sheet_names_the_sheets_it_has(tmp_path):
    book = openpyxl.load_workbook(WORKBOOK)
    book["Sheet1"].title = "LA data"
    buffer = io.BytesIO()
    book.save(buffer)
    with pytest.raises(BadFileError, match="has no sheet 'Sheet1' \\(it has LA data\\)"):
        parse(tmp_path, {WORKBOOK.name: buffer.getvalue()})


@needs_shared_data
def test_real_workbook_from_the_data_folder(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_ks4"], from_dir=SHARED_DATA)
    result = results["dfe_ks4"]
    assert result.status == "loaded", result.error
    assert [f.filename for f in result.files] == [WORKBOOK_NAME]  # not the EES test data zip

    rows = workbook_rows(REAL_WORKBOOK)
    sen = workbook_sen_rows(rows)
    qa = csv_rows(SHARED_DATA / "lookups" / "dfe_qa_las.csv")
    codes, dfe = {r["new_la_code"] for r in qa}, {r["old_la_code"] for r in qa}
    las = [r for r in sen if r["geographic_level"] == "Local authority"]
    assert las and matched(las, codes, dfe) == las  # every LA code is in the LA list
    # Inner and Outer London are published as regional rows with London's code, E12000007.
    regions = {
        r["region_name"]
        for r in csv_rows(SHARED_DATA / "lookups" / "dfe_qa_regions.csv")
        if r["region_code"].startswith("E12")
    }
    subregions = {
        (r["region_name"], r["region_code"])
        for r in rows
        if r["geographic_level"] == "Regional" and r["region_name"] not in regions
    }
    assert subregions == {("Inner London", "E12000007"), ("Outer London", "E12000007")}
    assert result.unmatched_areas == sorted(
        f"{name} ({code}): a sub-region, not an area; kept in the raw table"
        for name, code in subregions
    )
    sen = [
        r
        for r in sen
        if r["geographic_level"] != "Regional" or r["region_name"] not in {n for n, _ in subregions}
    ]
    assert result.rows_loaded == 2 * len(sen)

    def loaded(indicator: str, source: str) -> tuple:
        return db.execute(
            "select area_code, value, numerator, denominator, status from observations "
            "where indicator_id = ? and source_area_code = ? and period = '2018/19'",
            [indicator, source],
        ).fetchone()

    places = {  # published code -> where sendbench files it (DOMAIN.md: LA reorganisations)
        "E92000001": "E92000001",
        "E10000023": "E06000065",  # North Yorkshire, county code before April 2023
        "E10000002": "E06000060",  # Buckinghamshire, county code before April 2020
        "E10000021": "E10000021",  # Northamptonshire, split in 2021: kept as published
        "E06000051": "E06000051",  # Shropshire
    }
    checked = 0
    for row in sen:
        code = row["new_la_code"] or row["country_code"]
        if code not in places or (row["geographic_level"] == "Regional"):
            continue
        for measure, (value, numerator, denominator) in OLD_NAMES.items():
            indicator = f"ks4_{measure}_{GROUP[row['characteristic_sen_status']]}"
            got = loaded(indicator, code)
            assert got[0] == places[code]
            assert math.isclose(got[1], row[value]) and math.isclose(got[2], row[numerator])
            assert got[3] == row[denominator] and got[4] is None
            checked += 1
    assert checked == len(places) * 3 * 2


# -- the network path and a fault ---------------------------------------------------------------


@responses.activate
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    _, zip_url = add_ees_release(responses, SLUG, RELEASE_ID, "2024-25", ks4_zip())
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_ks4"])

    result = results["dfe_ks4"]
    assert (result.status, result.release) == ("loaded", "2024-25")
    north_yorkshire = next(
        r
        for r in csv_rows(CURRENT)
        if r["new_la_code"] == "E06000065"
        and r["time_period"] == "202324"
        and r["sen_provision"] == "Education, health and care plan"
    )
    got = db.execute(
        "select value, numerator, denominator from observations where indicator_id = "
        "'ks4_progress8_ehcp' and area_code = 'E06000065' and period = '2023/24'"
    ).fetchone()
    assert got == tuple(
        float(north_yorkshire[c])
        for c in ("progress8_average", "progress8_sum", "progress8_pupil_count")
    )
    assert db.execute(
        "select source, status from harvests where dataset_id = 'dfe_ks4'"
    ).fetchone() == (zip_url, "loaded")


def test_html_page_instead_of_the_zip_fails_and_keeps_the_previous_data(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2024-25", ks4_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", "dfe_ks4"])
    assert first["dfe_ks4"].status == "loaded"
    before = snapshot(db, "dfe_ks4")

    page = b"<!DOCTYPE html><html><body>Sorry, there is a problem with the service</body></html>"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        _, zip_url = add_ees_release(rsps, SLUG, RELEASE_ID[::-1], "2025-26", page)
        rsps.replace(responses.GET, zip_url, body=page, content_type="text/html")
        db, second = run_refresh(tmp_path, ["dfe_areas", "dfe_ks4"])

    error = second["dfe_ks4"].error
    assert second["dfe_ks4"].status == "failed"
    assert error.startswith("dfe_ks4: ") and "expected a zip" in error and zip_url in error
    assert snapshot(db, "dfe_ks4") == before
