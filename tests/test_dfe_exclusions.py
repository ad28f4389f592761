"""Suspensions and permanent exclusions by SEN provision: layouts, symbols, releases, faults.

Expected values are read from the fixtures (and the real pre-EES file in ../shared/data) with the
csv module, never from sendbench's output.
"""

from __future__ import annotations

import csv
import io
import shutil

import pandas as pd
import pytest
import responses
from conftest import (
    CONTENT_API,
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
from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import HarvestContext, MissingLocalFiles, Release
from sendbench.harvesters.dfe.exclusions import Harvester
from sendbench.http import HttpClient

DATASET = "dfe_exclusions"
SLUG = "suspensions-and-permanent-exclusions-in-england"
RELEASE_ID = "1d1e6c83-8b1a-4a1c-9f3e-000000000001"  # illustrative
FIXTURE_DIR = FIXTURES / "dfe" / "exclusions"
CURRENT = FIXTURE_DIR / "exc_characteristics.csv"
LEGACY = FIXTURE_DIR / "nat_char (201112 to 201617).csv"
REAL_LEGACY = SHARED_DATA / "dfe" / "exclusions" / "nat_char (201112 to 201617).csv"
# The published labels of each SEN group, per layout (the indicator id's suffix -> labels).
GROUPS = {
    "ehcp": {"Education, health and care plan", "SEN_provision_SEN_with_statement_EHC"},
    "sen_support": {"SEN support / SEN without an EHC plan", "SEN_provision_SEN_without_statement"},
    "no_sen": {"No SEN provision", "SEN_Provision_No_SEN"},
    "all": {"Total"},
}
# indicator stem -> (rate column, count column) in the current layout and in the pre-EES one.
MEASURES = {
    "excl_perm_rate": (("perm_excl_rate", "perm_excl"), ("perm_excl_rate", "perm_excl")),
    "excl_susp_rate": (("susp_rate", "suspension"), ("fixed_excl_rate", "fixed_excl")),
    "excl_one_plus_susp_rate": (
        ("one_plus_susp_rate", "one_plus_susp"),
        ("one_plus_fixed_rate", "one_plus_fixed"),
    ),
}
# Codes a reorganised council is published under -> the code it is filed under (DOMAIN.md).
CURRENT_CODE = {"E10000023": "E06000065"}


def rows_of(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def group_of(label: str) -> str | None:
    return next((g for g, labels in GROUPS.items() if label in labels), None)


def number(text: str) -> float:
    return float(text.replace(",", ""))


def harvester() -> Harvester:
    catalogue = load_catalogue()
    return Harvester(catalogue.dataset(DATASET), catalogue)


def parse(tmp_path, files: dict[str, bytes]):
    """Parse named files: a release zip (``*.zip``) or data files as --from finds them."""
    raws = {}
    with HttpClient(tmp_path / "raw", offline=True) as http:
        for name, data in files.items():
            path = tmp_path / name
            path.write_bytes(data)
            key = "release" if name.endswith(".zip") else f"exc_characteristics.csv@{name}"
            raws[key] = http.import_local(path, dataset=DATASET)
    release = Release(label="test", files=[])
    return harvester().parse(raws, release, HarvestContext(resolver=fixture_resolver()))


def release_zip(data: bytes | None = None) -> bytes:
    return ees_zip(
        {
            "data/exc_characteristics.csv": CURRENT.read_bytes() if data is None else data,
            "data-guidance/data-guidance.txt": b"Suspensions and permanent exclusions in England\n",
        }
    )


def observations(parsed) -> dict[tuple[str, str, str], pd.Series]:
    frame = parsed.observations
    assert set(frame["breakdown"]) == {"Total"}
    return {(r.indicator_id, r.area_code, r.period): r for r in frame.itertuples()}


def expected_current(rows: list[dict]) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """(indicator, area, period) -> (rate, count, headcount) cells, from the current layout."""
    expected = {}
    for row in rows:
        group = group_of(row["characteristic"])
        if row["education_phase"] != "Total" or group is None:
            continue
        if row["time_identifier"] != "Academic year":
            continue
        level = row["geographic_level"]
        code = {"National": row["country_code"], "Regional": row["region_code"]}.get(
            level, row["new_la_code"]
        )
        period = f"{row['time_period'][:4]}/{row['time_period'][4:]}"
        for stem, ((rate, count), _) in MEASURES.items():
            key = (f"{stem}_{group}", CURRENT_CODE.get(code, code), period)
            expected[key] = (row[rate], row[count], row["headcount"])
    return expected


# --- the current layout -------------------------------------------------------------------


def test_observations_match_the_fixture(tmp_path):
    parsed = parse(tmp_path, {f"{SLUG}_2023-24.zip": release_zip()})
    got = observations(parsed)
    expected = expected_current(rows_of(CURRENT.read_bytes()))
    assert set(got) == set(expected)
    for key, (rate, count, headcount) in expected.items():
        obs = got[key]
        if rate == "x":
            assert pd.isna(obs.value) and obs.status == "x", key
        else:
            assert obs.value == float(rate) and obs.status is None, key
        assert obs.denominator == float(headcount), key
        assert pd.isna(obs.numerator) if count == "x" else obs.numerator == float(count), key
    assert parsed.unmatched_areas == []
    raw = parsed.raw_tables["raw_dfe_exclusions_exc_characteristics"]
    assert len(raw) == len(rows_of(CURRENT.read_bytes()))


def test_reorganised_councils_are_filed_under_their_current_codes(tmp_path):
    parsed = parse(tmp_path, {f"{SLUG}_2023-24.zip": release_zip()})
    frame = parsed.observations
    north_yorkshire = frame[frame["area_code"] == "E06000065"]
    published = {
        (f"{r['time_period'][:4]}/{r['time_period'][4:]}", r["new_la_code"])
        for r in rows_of(CURRENT.read_bytes())
        if r["la_name"] == "North Yorkshire"
    }
    filed = zip(north_yorkshire["period"], north_yorkshire["source_area_code"], strict=True)
    assert set(filed) == published
    assert ("2022/23", "E10000023") in published  # the county code, before April 2023
    assert "E10000023" not in set(frame["area_code"])


def test_symbol_is_kept_as_status_never_zero(tmp_path):
    rows = rows_of(CURRENT.read_bytes())
    symbol_rows = [r for r in rows if r["perm_excl_rate"] == "x"]
    assert symbol_rows, "the fixture should carry a symbol"
    parsed = parse(tmp_path, {f"{SLUG}_2023-24.zip": release_zip()})
    frame = parsed.observations
    for row in symbol_rows:
        period = f"{row['time_period'][:4]}/{row['time_period'][4:]}"
        got = frame[
            (frame.indicator_id == f"excl_perm_rate_{group_of(row['characteristic'])}")
            & (frame.area_code == row["new_la_code"])
            & (frame.period == period)
        ].iloc[0]
        assert pd.isna(got["value"]) and got["status"] == "x" and pd.isna(got["numerator"])


def test_termly_rows_are_not_taken_for_the_year(tmp_path):
    rows = rows_of(CURRENT.read_bytes())
    england = next(r for r in rows if r["geographic_level"] == "National")
    termly = dict(england, time_identifier="Autumn term", time_period="202425")
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows([*rows, termly])
    parsed = parse(tmp_path, {f"{SLUG}_2024-25.zip": release_zip(buffer.getvalue().encode())})
    assert "2024/25" not in set(parsed.observations["period"])


def test_renamed_column_fails_with_the_columns_listed(tmp_path):
    data = CURRENT.read_bytes().replace(b",susp_rate,", b",suspension_rate,", 1)
    with pytest.raises(LayoutError) as caught:
        parse(tmp_path, {f"{SLUG}_2023-24.zip": release_zip(data)})
    assert caught.value.dataset == DATASET
    assert caught.value.file == "exc_characteristics.csv"
    assert "susp_rate" in caught.value.missing
    assert "suspension_rate" in caught.value.unexpected


def test_relabelled_sen_group_fails_naming_the_labels_found(tmp_path):
    data = CURRENT.read_bytes().replace(b'"Education, health and care plan"', b"EHCP")
    with pytest.raises(HarvestError) as caught:
        parse(tmp_path, {f"{SLUG}_2023-24.zip": release_zip(data)})
    message = str(caught.value)
    assert message.startswith(f"{DATASET}: indicator excl_perm_rate_ehcp")
    assert "'EHCP'" in message and "SEN support / SEN without an EHC plan" in message


def test_unknown_area_is_reported_not_dropped_silently(tmp_path):
    data = CURRENT.read_bytes().replace(
        b",E06000061,940,North Northamptonshire,", b",E06999999,999,Nowhere,"
    )
    parsed = parse(tmp_path, {f"{SLUG}_2023-24.zip": release_zip(data)})
    assert parsed.unmatched_areas == ["Nowhere (E06999999 / 999): unknown"]
    assert "E06999999" not in set(parsed.observations["source_area_code"])


# --- the pre-EES national file ------------------------------------------------------------


def expected_legacy(rows: list[dict]) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    expected = {}
    for row in rows:
        group = group_of(row["characteristic_1"])
        if row["school_type"] != "Total" or group is None:
            continue
        period = f"{row['year'][:4]}/{row['year'][4:]}"
        for stem, (_, (rate, count)) in MEASURES.items():
            expected[(f"{stem}_{group}", row["country_code"], period)] = (
                row[rate],
                row[count],
                row["headcount"],
            )
    return expected


def test_pre_ees_national_file_is_read_through_its_layout(tmp_path):
    parsed = parse(tmp_path, {LEGACY.name: LEGACY.read_bytes()})
    got = observations(parsed)
    expected = expected_legacy(rows_of(LEGACY.read_bytes()))
    assert set(got) == set(expected)
    for key, (rate, count, headcount) in expected.items():
        assert (got[key].value, got[key].numerator, got[key].denominator) == (
            float(rate),
            number(count),
            number(headcount),
        ), key
    raw = parsed.raw_tables["raw_dfe_exclusions_nat_char_201112_to_201617"]
    unclassified = raw[raw["characteristic"] == "SEN_provision_Unclassified"].iloc[0]
    assert (unclassified["perm_excl_rate"], unclassified["one_plus_susp"]) == (".", "x")
    assert set(raw["geographic_level"]) == {"National"}  # "NATIONAL" and "National" published


def test_find_local_prefers_the_current_file_to_the_pre_ees_one(tmp_path):
    shutil.copy(LEGACY, tmp_path / LEGACY.name)
    release = harvester().find_local(tmp_path)
    assert [f.filename for f in release.files] == [LEGACY.name]
    (tmp_path / "2023-24").mkdir()
    shutil.copy(CURRENT, tmp_path / "2023-24" / CURRENT.name)
    release = harvester().find_local(tmp_path)
    assert [f.filename for f in release.files] == [CURRENT.name]


def test_find_local_does_not_take_dfe_test_data_for_a_release(tmp_path):
    for name in ("exclusions_by_characteristic.zip", "exclusions_by_geographic_level.zip"):
        (tmp_path / name).write_bytes(ees_zip({name.replace(".zip", ".csv"): b"a\r\n1\r\n"}))
    with pytest.raises(MissingLocalFiles, match="exc_characteristics"):
        harvester().find_local(tmp_path)


# --- the network path ---------------------------------------------------------------------


def _england_ehcp_suspension_rate(period: str) -> float:
    row = next(
        r
        for r in rows_of(CURRENT.read_bytes())
        if r["geographic_level"] == "National"
        and r["characteristic"] == "Education, health and care plan"
        and r["time_period"] == period
    )
    return float(row["susp_rate"])


def test_latest_release_found_downloaded_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        latest, zip_url = add_ees_release(rsps, SLUG, RELEASE_ID, "2023-24", release_zip())
        db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
        called = [c.request.url for c in rsps.calls]
    assert results[DATASET].status == "loaded", results[DATASET].error
    assert results[DATASET].release == "2023-24"
    assert latest in called and zip_url in called
    value = db.execute(
        "select value from observations where indicator_id = 'excl_susp_rate_ehcp' "
        "and area_code = 'E92000001' and period = '2023/24'"
    ).fetchone()[0]
    assert value == _england_ehcp_suspension_rate("202324")
    count = db.execute(
        "select count(*) from observations where dataset_id = ?", [DATASET]
    ).fetchone()[0]
    assert count == len(expected_current(rows_of(CURRENT.read_bytes())))


def _release_json(release_id: str, slug: str, files: list[str]) -> dict:
    return {
        "id": release_id,
        "slug": slug,
        "title": slug,
        "published": "2025-07-10T09:30:00",
        "downloadFiles": [
            {"id": f"f{i}", "fileName": n, "type": "Data"} for i, n in enumerate(files)
        ],
    }


def test_a_termly_release_without_the_file_is_passed_over(tmp_path):
    base = f"{CONTENT_API}/publications/{SLUG}/releases"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        rsps.get(
            f"{base}/latest",
            json=_release_json("spring", "2024-25-spring-term", ["exc_term_national.csv"]),
        )
        rsps.get(base, json=[{"slug": "2024-25-spring-term"}, {"slug": "2024-25-autumn-term"}])
        rsps.get(
            f"{base}/2024-25-autumn-term",
            json=_release_json(RELEASE_ID, "2024-25-autumn-term", ["exc_characteristics.csv"]),
        )
        rsps.get(f"{CONTENT_API}/releases/{RELEASE_ID}/files", body=release_zip())
        db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
        called = [c.request.url for c in rsps.calls]
    assert results[DATASET].status == "loaded", results[DATASET].error
    assert results[DATASET].release == "2024-25-autumn-term"
    assert f"{CONTENT_API}/releases/spring/files" not in called


def test_renamed_column_fails_and_keeps_the_previous_data(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2023-24", release_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)
    renamed = CURRENT.read_bytes().replace(b",one_plus_susp_rate", b",one_plus_susp_pct", 1)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, "next-release", "2024-25", release_zip(renamed))
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET])
    error = second[DATASET].error
    assert second[DATASET].status == "failed"
    assert error.startswith(f"{DATASET}: exc_characteristics.csv does not have the expected layout")
    assert "missing columns: one_plus_susp_rate" in error
    assert "unexpected columns: one_plus_susp_pct" in error
    assert snapshot(db, DATASET) == before


# --- the real published file ----------------------------------------------------------------


@needs_shared_data
def test_refresh_from_shared_data_reads_the_real_national_file(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    # Only the real file: DfE's EES test data zips next to it are not a release.
    assert [f.filename for f in result.files] == [REAL_LEGACY.name]
    assert result.unmatched_areas == []  # an England-only file has no LA rows to match
    expected = expected_legacy(rows_of(REAL_LEGACY.read_bytes()))
    assert len(expected) == 6 * 12  # six years, twelve indicators: a check on the reading above
    got = {
        (r[0], r[1], r[2]): r[3:]
        for r in db.execute(
            "select indicator_id, area_code, period, value, numerator, denominator, status "
            "from observations where dataset_id = ?",
            [DATASET],
        )
    }
    assert set(got) == set(expected)
    for key, (rate, count, headcount) in expected.items():
        assert got[key] == (float(rate), number(count), number(headcount), None), key
    assert result.rows_loaded == len(expected)
