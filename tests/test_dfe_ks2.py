"""KS2 attainment by LA and SEN: the wide layouts (2021/22 to 2023/24), the tidy 2024/25 layout,
the network path, a fault, and --from on the real data folder (which holds no KS2 file)."""

from __future__ import annotations

import csv
import io
import math
import re

import pandas as pd
import pytest
import responses
import sqlite_utils
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
from sendbench.db.schema import ensure_db_shape
from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import HarvestContext, MissingLocalFiles, Release
from sendbench.harvesters.dfe.ks2 import LAYOUTS, Harvester
from sendbench.http import HttpClient
from sendbench.refresh import refresh_one

KS2 = FIXTURES / "dfe" / "ks2"
NAME = "ks2_regional_local_authority_and_pupil_characteristics_{}_revised.csv"
WIDE = KS2 / "data" / NAME.format("2019_and_2022")  # 2021/22 layout
TIDY = KS2 / "layouts" / NAME.format("2019_to_2025")  # 2024/25 layout
SLUG = "key-stage-2-attainment"
RELEASE_ID = "8f0a1c2e-5b7d-4e21-9c3a-0d6b2e4f9a11"
# The SEN groups as each layout spells them, and the indicator each one is.
WIDE_GROUPS = {
    "EHC plan": "ks2_rwm_expected_ehcp",
    "SEN support": "ks2_rwm_expected_sen_support",
    "No SEN": "ks2_rwm_expected_no_sen",
}
TIDY_GROUPS = {
    "Education, health and care plan": "ks2_rwm_expected_ehcp",
    "SEN support": "ks2_rwm_expected_sen_support",
    "No identified SEN": "ks2_rwm_expected_no_sen",
}


def csv_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def period(time_period: str) -> str:
    return f"{time_period[:4]}/{time_period[4:]}"


def source_code(row: dict) -> str:
    return row["new_la_code"] or row["region_code"] or row["country_code"]


def fixture_las() -> list[dict]:
    return csv_rows((FIXTURES / "dfe" / "las" / "las.csv").read_bytes())


def subregions() -> set[str]:
    """Names in the regions list fixture that are not regions (Inner and Outer London)."""
    rows = csv_rows((FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
    return {r["region_name"] for r in rows if not r["region_code"].startswith("E12")}


def is_area(row: dict) -> bool:
    """Whether a row's place is in the areas built from the LA list fixture."""
    if row["geographic_level"] == "Regional":
        return row["region_name"] not in subregions()
    if row["geographic_level"] != "Local authority":
        return True
    las = fixture_las()
    return row["new_la_code"] in {r["new_la_code"] for r in las} or row["old_la_code"] in {
        r["old_la_code"] for r in las
    }


def unmatched(rows: list[dict]) -> list[str]:
    """What the harvest should report for the rows whose place is not an area."""
    found = set()
    for r in rows:
        if is_area(r):
            continue
        if r["geographic_level"] == "Regional":
            found.add(
                f"{r['region_name']} ({r['region_code']}): a sub-region, not an area; "
                "kept in the raw table"
            )
        else:
            found.add(f"{r['la_name']} ({r['new_la_code']} / {r['old_la_code']}): unknown")
    return sorted(found)


def with_header(data: bytes, renames: dict[str, str]) -> bytes:
    """The same file with some published column names respelt (header line only)."""
    head, _, body = data.partition(b"\r\n")
    names = head.decode("utf-8-sig").split(",")
    return ("\ufeff" + ",".join(renames.get(n, n) for n in names)).encode() + b"\r\n" + body


def parse(tmp_path, files: dict[str, bytes]):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("dfe_ks2"), catalogue)
    raws = {}
    tmp_path.mkdir(parents=True, exist_ok=True)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        for name, data in files.items():
            path = tmp_path / name
            path.write_bytes(data)
            key = "release" if name.endswith(".zip") else f"la_characteristics@{name}"
            raws[key] = http.import_local(path, dataset="dfe_ks2")
    release = Release(label="test", files=[])
    return harvester.parse(raws, release, HarvestContext(resolver=fixture_resolver()))


def observed(parsed) -> dict[tuple[str, str, str], dict]:
    frame = parsed.observations
    return {
        (r["indicator_id"], r["source_area_code"], r["period"]): r for r in frame.to_dict("records")
    }


def wide_obs(got: dict, row: dict) -> dict:
    """The observation for one row of a wide file."""
    return got[(WIDE_GROUPS[row["characteristic"]], source_code(row), period(row["time_period"]))]


def same(got: float, cell: str) -> bool:
    expected = number(cell)
    return math.isnan(got) if expected is None else got == expected


def ks2_zip(data: bytes | None = None) -> bytes:
    return ees_zip(
        {
            f"data/{WIDE.name}": WIDE.read_bytes() if data is None else data,
            "data-guidance/data-guidance.txt": b"Key stage 2 attainment\r\n",
        }
    )


# -- the wide layouts ---------------------------------------------------------------------------


def test_wide_fixture_gives_each_sen_group_with_counts_and_symbols(tmp_path):
    data = WIDE.read_bytes()
    parsed = parse(tmp_path, {WIDE.name: data})
    got = observed(parsed)
    rows = csv_rows(data)
    expected = [
        r
        for r in rows
        if r["characteristic_group"] == "SEN status"
        and r["characteristic"] in WIDE_GROUPS
        and r["gender"] == "Total"
        and is_area(r)
    ]
    assert len(expected) > 20
    for row in expected:
        obs = wide_obs(got, row)
        assert same(obs["value"], row["pt_rwm_met_expected_standard"])
        assert same(obs["numerator"], row["t_rwm_met_expected_standard"])
        assert same(obs["denominator"], row["t_rwm_eligible_pupils"])
        cell = row["pt_rwm_met_expected_standard"]
        assert obs["status"] == (None if number(cell) is not None else cell)
    # Boys, "All SEN" and the Total rows are not these indicators; unknown places are listed.
    assert len(parsed.observations) == len(expected)
    assert parsed.unmatched_areas == unmatched(rows)
    assert any("Inner London" in u for u in unmatched(rows))
    assert any("Cumbria" in u for u in unmatched(rows))
    assert len(parsed.raw_tables) == 1
    assert len(next(iter(parsed.raw_tables.values()))) == len(rows)


def test_suppressed_cell_stays_a_symbol_never_a_zero(tmp_path):
    data = WIDE.read_bytes()
    suppressed = [r for r in csv_rows(data) if r["pt_rwm_met_expected_standard"] == "c"]
    assert suppressed, "the fixture should hold a suppressed row"
    got = observed(parse(tmp_path, {WIDE.name: data}))
    for row in suppressed:
        obs = wide_obs(got, row)
        assert obs["status"] == "c" and math.isnan(obs["value"]) and math.isnan(obs["numerator"])
        assert obs["denominator"] == float(row["t_rwm_eligible_pupils"])


def test_reorganised_councils_are_filed_under_their_current_codes(tmp_path):
    parsed = parse(tmp_path, {WIDE.name: WIDE.read_bytes()})
    obs = parsed.observations
    published = dict(zip(obs["source_area_code"], obs["area_code"], strict=True))
    # North Yorkshire's pre-2023 county code and Buckinghamshire's pre-2020 one (DOMAIN.md).
    assert published["E10000023"] == "E06000065"
    assert published["E10000002"] == "E06000060"
    assert published["E10000021"] == "E10000021"  # Northamptonshire: split, no single successor


@pytest.mark.parametrize(
    ("layout", "renames"),
    [
        # 2022/23: EES data catalogue 1ab4c87c-e92d-42c9-8457-862f080bc12b.
        ("2022/23", {"characteristic_group": "breakdown_topic", "characteristic": "breakdown"}),
        # 2023/24: EES data catalogue 65b16fe2-bd75-4176-9428-f74593d05019.
        (
            "2023/24",
            {
                "characteristic_group": "breakdown_topic",
                "characteristic": "breakdown",
                "school_type": "establishment_type_group",
                "gender": "sex",
            },
        ),
    ],
)
def test_later_wide_layouts_give_the_same_observations(tmp_path, layout, renames):
    base = parse(tmp_path / "a", {WIDE.name: WIDE.read_bytes()}).observations
    respelt = with_header(WIDE.read_bytes(), renames)
    parsed = parse(tmp_path / "b", {NAME.format("2019_to_2024"): respelt})
    assert any(f"({layout} layout)" in note for note in parsed.notes)
    key = ["indicator_id", "area_code", "period"]
    pd.testing.assert_frame_equal(
        parsed.observations.sort_values(key).reset_index(drop=True),
        base.sort_values(key).reset_index(drop=True),
    )


def test_renamed_indicator_column_fails_with_columns_listed(tmp_path):
    data = with_header(WIDE.read_bytes(), {"pt_rwm_met_expected_standard": "pt_rwm_expected"})
    with pytest.raises(LayoutError) as caught:
        parse(tmp_path, {WIDE.name: data})
    assert caught.value.dataset == "dfe_ks2" and caught.value.file == WIDE.name
    assert "pt_rwm_met_expected_standard" in caught.value.missing
    assert "pt_rwm_expected" in caught.value.unexpected


def test_respelt_sen_group_fails_naming_the_values_found(tmp_path):
    data = WIDE.read_bytes().replace(b",EHC plan,", b",Education Health Care Plan,")
    with pytest.raises(HarvestError) as caught:
        parse(tmp_path, {WIDE.name: data})
    message = str(caught.value)
    assert message.startswith("dfe_ks2: indicator ks2_rwm_expected_ehcp: no row matches")
    assert "'Education Health Care Plan'" in message and "'SEN support'" in message


@needs_shared_data
def test_2021_22_layout_is_the_one_its_data_guidance_lists():
    guidance = (SHARED_DATA / "dfe" / "attainment" / "ks2-data-guidance.txt").read_text()
    variables = set(re.findall(r"^([a-z][a-z0-9_]*)\s+\|", guidance, flags=re.MULTILINE))
    layout = next(lay for lay in LAYOUTS if lay.name == "2021/22")
    # The guidance lists indicators and the filters it describes, not the geography or the
    # group, school type and flag columns the file also has.
    extra = {"version", "education_investment_area_flag", "characteristic_group", "school_type"}
    assert set(layout.columns) - extra == variables


# -- the tidy 2024/25 layout --------------------------------------------------------------------


def test_tidy_layout_is_pivoted_and_kept_raw_as_published(tmp_path):
    data = TIDY.read_bytes()
    parsed = parse(tmp_path, {TIDY.name: data})
    got = observed(parsed)
    rows = csv_rows(data)
    others = ["disadvantage_status", "fsm_status", "ethnicity_major", "ethnicity_minor"]
    expected = [
        r
        for r in rows
        if r["subject"] == "Reading, writing and maths"
        and r["sex"] == "Total"
        and all(r[c] == "Total" for c in [*others, "first_language"])
        and r["sen_provision"] in TIDY_GROUPS
    ]
    assert len(expected) >= 10
    for row in expected:
        obs = got[(TIDY_GROUPS[row["sen_provision"]], source_code(row), period(row["time_period"]))]
        assert same(obs["value"], row["expected_standard_pupil_percent"])
        assert same(obs["numerator"], row["expected_standard_pupil_count"])
        assert same(obs["denominator"], row["eligible_pupil_count"])
    # Rows for other subjects, for boys or for disadvantaged pupils are not the headline.
    assert len(parsed.observations) == len(expected)
    raw = next(iter(parsed.raw_tables.values()))
    assert len(raw) == len(rows) and "subject" in raw.columns
    assert any("pivoted" in note for note in parsed.notes)


def test_tidy_layout_with_a_repeated_row_is_refused(tmp_path):
    data = TIDY.read_bytes()
    lines = data.split(b"\r\n")
    repeated = next(line for line in lines[1:] if b"Education, health and care plan" in line)
    with pytest.raises(BadFileError, match="more than one row"):
        parse(tmp_path, {TIDY.name: data + repeated + b"\r\n"})


# -- the network path and a fault ---------------------------------------------------------------


@responses.activate
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    _, zip_url = add_ees_release(responses, SLUG, RELEASE_ID, "2021-22", ks2_zip())
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_ks2"])

    result = results["dfe_ks2"]
    assert (result.status, result.release) == ("loaded", "2021-22")
    rows = csv_rows(WIDE.read_bytes())
    assert result.unmatched_areas == unmatched(rows)
    north_yorkshire = next(
        r
        for r in rows
        if r["new_la_code"] == "E10000023"
        and r["characteristic"] == "SEN support"
        and r["gender"] == "Total"
    )
    got = db.execute(
        "select value, numerator, denominator, source_area_code from observations "
        "where indicator_id = 'ks2_rwm_expected_sen_support' and area_code = 'E06000065' "
        "and period = ?",
        [period(north_yorkshire["time_period"])],
    ).fetchone()
    assert got == (
        float(north_yorkshire["pt_rwm_met_expected_standard"]),
        float(north_yorkshire["t_rwm_met_expected_standard"]),
        float(north_yorkshire["t_rwm_eligible_pupils"]),
        "E10000023",
    )
    harvest = db.execute(
        "select source, status from harvests where dataset_id = 'dfe_ks2'"
    ).fetchone()
    assert harvest == (zip_url, "loaded")


def test_renamed_column_in_a_new_release_fails_and_keeps_the_previous_data(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2021-22", ks2_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", "dfe_ks2"])
    assert first["dfe_ks2"].status == "loaded"
    before = snapshot(db, "dfe_ks2")

    renamed = with_header(WIDE.read_bytes(), {"t_rwm_eligible_pupils": "t_rwm_pupils"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID[::-1], "2022-23", ks2_zip(renamed))
        db, second = run_refresh(tmp_path, ["dfe_areas", "dfe_ks2"])

    error = second["dfe_ks2"].error
    assert second["dfe_ks2"].status == "failed"
    assert error.startswith("dfe_ks2: ") and WIDE.name in error
    assert "missing columns: t_rwm_eligible_pupils" in error
    assert "unexpected columns: t_rwm_pupils" in error
    assert snapshot(db, "dfe_ks2") == before


# -- the real data folder -----------------------------------------------------------------------


@needs_shared_data
def test_real_data_folder_has_no_ks2_file_so_the_dataset_is_skipped(tmp_path):
    catalogue = load_catalogue()
    dataset = catalogue.dataset("dfe_ks2")
    with pytest.raises(MissingLocalFiles, match="ks2_regional_local_authority"):
        Harvester(dataset, catalogue).find_local(SHARED_DATA)
    db = sqlite_utils.Database(tmp_path / "sendbench.db")
    ensure_db_shape(db)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        result = refresh_one(
            db,
            catalogue,
            dataset,
            http,
            from_dir=SHARED_DATA,
            run_id="test",
            say=lambda dataset, message: None,
            required=False,  # as when every dataset is refreshed from a folder
        )
    assert result.status == "skipped" and "no file named" in result.error
