"""Children in need and looked after: every fixture value as published, the derived CIN rate, both
EES publications found and fetched, a changed layout, and the real files.

Expected values are read here from the CSVs with the csv module; the indicator -> column table is
written out here, and the CIN rate is recomputed here from the two files' cells.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
import responses
from conftest import (
    CONTENT_API,
    FIXTURES,
    SHARED_DATA,
    add_publishers,
    ees_latest_release,
    ees_zip,
    fixture_resolver,
    needs_shared_data,
    run_refresh,
    snapshot,
)

from sendbench.catalogue import load_catalogue
from sendbench.errors import LayoutError
from sendbench.harvesters.base import HarvestContext
from sendbench.harvesters.dfe.cin_cla import Harvester
from sendbench.http import HttpClient

DATASET = "dfe_cin_cla"
FIXTURE_DIR = FIXTURES / "dfe" / "cin_cla"
REAL_DIR = SHARED_DATA / "dfe" / "children-in-need"
CIN = "b1_children_in_need_2013_to_2025.csv"
CLA = "cla_number_and_rate_per_10k_children.csv"
ON_31_MARCH = "Children looked after on 31 March each year"
STARTING = "Children starting to be looked after each year"
# indicator -> (file, column, population_type or None)
COLUMNS = {
    "cin_count_31_march": (CIN, "At31_episodes", None),
    "cin_children_in_year": (CIN, "Anypoint_child", None),
    "cin_awaiting_assessment": (CIN, "awaiting_assessment", None),
    "cla_rate_per_10000": (CLA, "rate_per_10000", ON_31_MARCH),
    "cla_count_31_march": (CLA, "children_count", ON_31_MARCH),
    "cla_starting_rate_per_10000": (CLA, "rate_per_10000", STARTING),
    "child_population_0_17": (CLA, "population_estimate", ON_31_MARCH),
}
# 1:1 code changes (DOMAIN.md; the LA list in ../shared/data/lookups has each as one DfE number)
CODE_CHANGES = {
    "E10000023": "E06000065",  # North Yorkshire, 2023
    "E10000027": "E06000066",  # Somerset, 2023
    "E10000002": "E06000060",  # Buckinghamshire, 2020
    "E08000016": "E08000038",  # Barnsley, 2024
    "E08000019": "E08000039",  # Sheffield, 2024
}
CIN_SLUG = "characteristics-of-children-in-need"
CLA_SLUG = "children-looked-after-in-england-including-adoptions"


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def cell(text: str) -> tuple[float | None, str | None]:
    try:
        return float(text), None
    except ValueError:
        return None, text or "missing"


def area_of(row: dict[str, str], known: set[str] | None) -> str | None:
    level = row["geographic_level"]
    if level == "National":
        return "E92000001"
    if level == "Regional":  # Inner and Outer London (E13) are not regions: raw only
        return None if row["region_code"].startswith("E13") else row["region_code"]
    code = row["new_la_code"]
    if known is not None and code not in known:
        return None
    return CODE_CHANGES.get(code, code)


def expected(folder: Path, known: set[str] | None) -> dict[tuple, tuple]:
    """(indicator, area, period) -> (value, status) for every published cell, plus the CIN rate."""
    out = {}
    for indicator, (file, column, population_type) in COLUMNS.items():
        for row in rows_of(folder / file):
            area = area_of(row, known)
            if area is None or row.get("population_type", population_type) != population_type:
                continue
            out[(indicator, area, row["time_period"])] = cell(row[column])
    for (indicator, area, period), (count, status) in list(out.items()):
        population = out.get(("child_population_0_17", area, period), (None, None))[0]
        if indicator == "cin_count_31_march" and population is not None:
            rate = None if count is None else count / population * 10_000
            out[("cin_rate_per_10000", area, period)] = (rate, status)
    return out


def fixture_las() -> set[str]:
    return {r["new_la_code"] for r in rows_of(FIXTURES / "dfe" / "las" / "las.csv")}


def parse_folder(tmp_path: Path, folder: Path):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset(DATASET), catalogue)
    release = harvester.find_local(folder)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = {ref.key: http.import_local(ref.path, dataset=DATASET) for ref in release.files}
    return harvester.parse(raw, release, HarvestContext(resolver=fixture_resolver()))


def observed(observations) -> dict[tuple, tuple]:
    return {
        (r.indicator_id, r.area_code, r.period): (None if r.value != r.value else r.value, r.status)
        for r in observations.itertuples()
    }


def close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, (value, status) in want.items():
        assert got[key][1] == status, key
        assert (got[key][0] is None) == (value is None), key
        if value is not None:
            assert got[key][0] == pytest.approx(value, rel=1e-12), key


def test_fixture_values_and_the_derived_cin_rate_match_the_files(tmp_path):
    parsed = parse_folder(tmp_path, FIXTURE_DIR)
    want = expected(FIXTURE_DIR, fixture_las())
    close(observed(parsed.observations), want)
    assert parsed.unmatched_areas == ["Hampshire (E10000014 / 850): unknown"]
    # the cases the fixture was cut for
    assert want[("cla_count_31_march", "E10000021", "2025")] == (None, "z")  # Northamptonshire
    assert ("cin_rate_per_10000", "E06000065", "2020") not in want  # no population before 2021
    rows = parsed.observations.set_index(["indicator_id", "area_code", "period"])
    england = rows.loc[("cin_rate_per_10000", "E92000001", "2025")]
    nat = next(r for r in rows_of(FIXTURE_DIR / CIN) if r["geographic_level"] == "National"
               and r["time_period"] == "2025")  # fmt: skip
    assert (england["numerator"], england["denominator"]) == (float(nat["At31_episodes"]), 12183016)
    north_yorkshire = rows.loc[("cin_count_31_march", "E06000065", "2022")]
    assert north_yorkshire["source_area_code"] == "E10000023"


def release_zips() -> dict[str, bytes]:
    return {
        CIN_SLUG: ees_zip(
            {
                f"data/{CIN}": (FIXTURE_DIR / CIN).read_bytes(),
                "data/c1_referrals.csv": b"time_period,time_identifier,"
                b"geographic_level,country_code,referrals\n2025,Reporting year,"
                b"National,E92000001,570000\n",
            }
        ),  # fmt: skip
        CLA_SLUG: ees_zip({f"data/{CLA}": (FIXTURE_DIR / CLA).read_bytes()}),
    }


def add_releases(rsps, zips: dict[str, bytes], label: str = "2025") -> None:
    for number, (slug, body) in enumerate(zips.items()):
        release_id = f"0f5c2a9e-4b7d-4e31-9a6c-2d8e1f0b7c{number}{label[-1]}"
        rsps.get(
            f"{CONTENT_API}/publications/{slug}/releases/latest",
            json=ees_latest_release(slug, release_id, label, f"{label}-11-0{number + 1}T09:30:00"),
        )
        rsps.get(f"{CONTENT_API}/releases/{release_id}/files", body=body)


@responses.activate
def test_both_publications_are_found_fetched_and_loaded(tmp_path):
    add_publishers(responses)
    add_releases(responses, release_zips())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert (result.status, result.release, result.published) == (
        "loaded", "2025", "2025-11-02T09:30:00",
    )  # fmt: skip
    rows = db.execute(
        "select indicator_id, area_code, period, value, status from observations "
        "where dataset_id = ?",
        [DATASET],
    ).fetchall()
    close({(i, a, p): (v, s) for i, a, p, v, s in rows}, expected(FIXTURE_DIR, fixture_las()))
    assert "raw_dfe_cin_cla_c1_referrals" in db.table_names()  # a file not read is kept raw


def test_an_unknown_layout_lists_missing_and_unexpected_columns(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    (folder / CIN).write_bytes((FIXTURE_DIR / CIN).read_bytes())
    data = (FIXTURE_DIR / CLA).read_bytes().replace(b",children_count,", b",number,", 1)
    (folder / CLA).write_bytes(data)
    with pytest.raises(LayoutError) as caught:
        parse_folder(tmp_path, folder)
    assert (caught.value.dataset, caught.value.file) == (DATASET, CLA)
    assert caught.value.missing == ["children_count"]
    assert caught.value.unexpected == ["number"]


def test_a_changed_file_fails_keeps_the_last_load_and_others_still_refresh(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_releases(rsps, release_zips())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)
    zips = release_zips()
    renamed = (FIXTURE_DIR / CIN).read_bytes().replace(b",At31_episodes,", b",At31_children,", 1)
    zips[CIN_SLUG] = ees_zip({f"data/{CIN}": renamed})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_releases(rsps, zips, label="2026")
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET, "dfe_ehcp"])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith(f"{DATASET}: {CIN} ")
    assert "missing columns: At31_episodes;" in result.error
    assert "unexpected columns: At31_children." in result.error
    assert snapshot(db, DATASET) == before
    assert second["dfe_ehcp"].status == "loaded"


@needs_shared_data
def test_real_files_load_every_value_england_and_reorganised_councils(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []
    rows = db.execute(
        "select indicator_id, area_code, period, value, status from observations "
        "where dataset_id = ?",
        [DATASET],
    ).fetchall()
    got = {(i, a, p): (v, s) for i, a, p, v, s in rows}
    close(got, expected(REAL_DIR, None))

    def published(file: str, code: str, period: str, column: str, population_type=ON_31_MARCH):
        for row in rows_of(REAL_DIR / file):
            here = row["country_code"] if row["geographic_level"] == "National" else None
            if (
                (row["new_la_code"] or here) == code
                and row["time_period"] == period
                and (row.get("population_type", population_type) == population_type)
            ):
                return float(row[column])
        raise AssertionError((file, code, period))

    # England, Shropshire, Cumbria (abolished 2023) and North Yorkshire (new code 2023)
    assert got[("cla_rate_per_10000", "E92000001", "2025")][0] == published(
        CLA, "E92000001", "2025", "rate_per_10000"
    )
    assert got[("cin_count_31_march", "E06000051", "2019")][0] == published(
        CIN, "E06000051", "2019", "At31_episodes"
    )
    assert got[("cin_count_31_march", "E10000006", "2022")][0] == published(
        CIN, "E10000006", "2022", "At31_episodes"
    )
    # the CIN file names North Yorkshire E10000023 for 2022, the CLA file E06000065: one place
    count = published(CIN, "E10000023", "2022", "At31_episodes")
    rate = count / published(CLA, "E06000065", "2022", "population_estimate") * 10_000
    assert got[("cin_rate_per_10000", "E06000065", "2022")][0] == pytest.approx(rate)
    # DfE's published CLA rate is the count over the same population, rounded
    count = published(CLA, "E92000001", "2025", "children_count")
    population = published(CLA, "E92000001", "2025", "population_estimate")
    assert round(count / population * 10_000) == got[("cla_rate_per_10000", "E92000001", "2025")][0]
