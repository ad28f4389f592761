"""16-18 destination measures on fixtures written from the data guidance: the national and LA
layouts, the columns each leaves implicit, counts paired with percentages, the network path, an
HTML page instead of the zip, a relabelled filter value, and `--from` without its files.

Expected values are read here from the fixture CSVs with the csv module; which rows an indicator
stands for is written out below, not taken from sendbench.
"""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

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
from sendbench.errors import BadFileError, HarvestError
from sendbench.harvesters.base import HarvestContext, MissingLocalFiles
from sendbench.harvesters.dfe.destinations_1618 import Harvester
from sendbench.http import HttpClient
from sendbench.refresh import refresh_one

DATASET = "dfe_1618_destinations"
SLUG = "16-18-destination-measures"
RELEASE_ID = "3c9e7b1a-5d2f-4e8a-b6c0-9f1d2a4e7b35"
FIXTURE_DIR = FIXTURES / "dfe" / "destinations_1618"
NATIONAL = FIXTURE_DIR / "1618_dm_ud_202021_nat_rev.csv"
LA = FIXTURE_DIR / "1618_dm_ud_202021_la_prov.csv"
GROUP = "State-funded mainstream schools & colleges"
SEN_GROUPS = {"sen": "Identified SEN", "no_sen": "No identified SEN"}
MEASURES = {
    "sustained": "overall",
    "employment": "all_work",
    "apprenticeship": "appren",
    "not_sustained": "all_notsust",
}
CURRENT_CODE = {"E10000023": "E06000065"}  # North Yorkshire: same council, new code in 2023


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def cell(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def wanted_row(row: dict[str, str]) -> bool:
    """The rows the catalogue's indicators read: the group total, all levels, by provider."""
    return (
        row["institution_group"] == GROUP
        and row.get("institution_type", "Total") == "Total"
        and row.get("level_methodology", "16-18 Provider location") == "16-18 Provider location"
        and row["cohort_level_group"] == "Total"
        and row["characteristic"] in SEN_GROUPS.values()
    )


def expected() -> dict[tuple, tuple]:
    """(indicator, area, period) -> (value, status, numerator, denominator)."""
    out = {}
    for path in (LA, NATIONAL):
        rows = [r for r in rows_of(path) if wanted_row(r)]
        counts = {
            (r["geographic_level"], r.get("new_la_code"), r.get("region_code"), r["time_period"],
             r["characteristic"]): r
            for r in rows if r["data_type"] != "Percentage"
        }  # fmt: skip
        for row in rows:
            if row["data_type"] != "Percentage":
                continue
            level = row["geographic_level"]
            area = {"National": "E92000001", "Regional": row.get("region_code")}.get(level)
            area = area or CURRENT_CODE.get(row["new_la_code"], row["new_la_code"])
            pair = counts[
                (level, row.get("new_la_code"), row.get("region_code"), row["time_period"],
                 row["characteristic"])
            ]  # fmt: skip
            group = next(g for g, value in SEN_GROUPS.items() if value == row["characteristic"])
            period = f"{row['time_period'][:4]}/{row['time_period'][4:]}"
            for measure, column in MEASURES.items():
                value = cell(row[column])
                out[(f"dest1618_{measure}_{group}_pct", area, period)] = (
                    value,
                    None if value is not None else row[column],
                    cell(pair[column]),
                    cell(row["cohort"]),
                )
    return out


@functools.lru_cache(maxsize=1)
def shared_catalogue():
    """The catalogue, read once for this module (reading it is the slow part of a parse)."""
    return load_catalogue()


def harvester() -> Harvester:
    catalogue = shared_catalogue()
    return Harvester(catalogue.dataset(DATASET), catalogue)


def parse_files(tmp_path: Path, files: dict[str, bytes]):
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    release = harvester().find_local(folder)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = {ref.key: http.import_local(ref.path, dataset=DATASET) for ref in release.files}
    return harvester().parse(raw, release, HarvestContext(resolver=fixture_resolver()))


def fixture_files() -> dict[str, bytes]:
    return {NATIONAL.name: NATIONAL.read_bytes(), LA.name: LA.read_bytes()}


def observed(observations) -> dict[tuple, tuple]:
    return {
        (r.indicator_id, r.area_code, r.period): (
            None if r.value != r.value else r.value,
            r.status,
            None if r.numerator != r.numerator else r.numerator,
            None if r.denominator != r.denominator else r.denominator,
        )
        for r in observations.itertuples()
    }


def test_fixture_values_and_numerators_match_the_files(tmp_path):
    parsed = parse_files(tmp_path, fixture_files())
    want = expected()
    assert observed(parsed.observations) == want
    assert set(parsed.observations["breakdown"]) == {"Total"}
    assert parsed.unmatched_areas == []
    hartlepool = want[("dest1618_sustained_sen_pct", "E06000001", "2020/21")]
    assert hartlepool[:3] == (None, "c", None)
    flags = dict(zip(parsed.observations["area_code"], parsed.observations["flag"], strict=True))
    assert (flags["E92000001"], flags["E06000051"]) == ("revised", "provisional")


def test_each_layout_fills_what_its_file_leaves_implicit(tmp_path):
    parsed = parse_files(tmp_path, fixture_files())
    national = parsed.raw_tables["raw_dfe_1618_destinations_1618_dm_ud_202021_nat_rev"]
    la = parsed.raw_tables["raw_dfe_1618_destinations_1618_dm_ud_202021_la_prov"]
    assert "level_methodology" not in rows_of(NATIONAL)[0]
    assert "institution_type" not in rows_of(LA)[0]
    assert set(national["level_methodology"]) == {"National"}
    assert set(la["institution_type"]) == {"Total"}
    # rows for another institution type, qualification level or characteristic are not read
    national_rows = rows_of(NATIONAL)
    assert {r["institution_type"] for r in national_rows} > {"Total"}
    assert {r["cohort_level_group"] for r in national_rows} > {"Total"}
    assert "Identified LLDD" in {r["characteristic"] for r in national_rows}
    assert len(national) == len(national_rows) and len(la) == len(rows_of(LA))


def test_an_unknown_data_type_fails_the_file(tmp_path):
    files = fixture_files()
    files[LA.name] = files[LA.name].replace(b'"Number of students"', b'"Number of learners"')
    with pytest.raises(BadFileError) as caught:
        parse_files(tmp_path, files)
    message = str(caught.value)
    assert DATASET in message and LA.name in message and "Number of learners" in message


def test_a_relabelled_filter_value_fails_naming_the_values_found(tmp_path):
    files = fixture_files()
    for name in files:
        files[name] = files[name].replace(b'"Identified SEN"', b'"SEN identified"')
    with pytest.raises(HarvestError) as caught:
        parse_files(tmp_path, files)
    message = str(caught.value)
    assert "dest1618_sustained_sen_pct" in message and "SEN identified" in message


def release_zip() -> bytes:
    members = {f"data/{name}": data for name, data in fixture_files().items()}
    members["data-guidance/data-guidance.txt"] = b"16-18 destination measures\n"
    return ees_zip(members)


@responses.activate
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    add_ees_release(responses, SLUG, RELEASE_ID, "2020-21", release_zip())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert (result.status, result.release, result.unmatched_areas) == ("loaded", "2020-21", [])
    rows = db.execute(
        "select indicator_id, area_code, period, value, status, numerator, denominator "
        "from observations where dataset_id = ?",
        [DATASET],
    ).fetchall()
    assert {(i, a, p): (v, s, n, d) for i, a, p, v, s, n, d in rows} == expected()


def test_html_instead_of_the_zip_fails_and_keeps_the_previous_load(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2020-21", release_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)

    page = b"<!DOCTYPE html><html><body>Sorry, the service is unavailable</body></html>"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        _, zip_url = add_ees_release(
            rsps, SLUG, "5e0a8c2d-1f4b-4d6e-a9c7-8b3f2e1d0c64", "2021-22", page
        )
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith(f"{DATASET}: ") and zip_url in result.error
    assert "expected a zip" in result.error and "HTML" in result.error, result.error
    assert snapshot(db, DATASET) == before


@needs_shared_data
def test_from_the_real_data_folder_it_is_skipped_not_failed(tmp_path):
    """No file of this publication is in ../shared/data: `refresh --from` skips it."""
    names = [p.name.lower() for p in SHARED_DATA.rglob("*")]
    assert not [n for n in names if n.startswith(("1618_dm_ud_", "ees_ks5_", "16-18-destination"))]
    with pytest.raises(MissingLocalFiles, match="1618_dm_ud_"):
        harvester().find_local(SHARED_DATA)
    db = sqlite_utils.Database(tmp_path / "db.sqlite")
    ensure_db_shape(db)
    catalogue = shared_catalogue()
    with HttpClient(tmp_path / "raw", offline=True) as http:
        result = refresh_one(
            db, catalogue, catalogue.dataset(DATASET), http,
            from_dir=SHARED_DATA, run_id="test", say=lambda *a: None, required=False,
        )  # fmt: skip
    assert result.status == "skipped", result.error
    assert "no file named" in result.error
