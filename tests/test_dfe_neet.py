"""NEET and participation of 16-17 year olds by LA: three years' layouts (and 2025's), symbols and
empty cells, demo rows, reorganised councils, the network path, a changed column, the real files.

Expected values are read here from the CSVs with the csv module; the indicator -> column table
below is written out here, not taken from sendbench.
"""

from __future__ import annotations

import csv
import functools
import io
from pathlib import Path

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
from sendbench.errors import LayoutError
from sendbench.harvesters.base import HarvestContext
from sendbench.harvesters.dfe.neet import Harvester
from sendbench.http import HttpClient

DATASET = "dfe_neet"
SLUG = "participation-in-education-training-and-neet-age-16-to-17-by-local-authority"
RELEASE_ID = "9b4f2a7c-3e1d-4c8b-a5f6-0d2e7c9a1b83"
FIXTURE_DIR = FIXTURES / "dfe" / "neet"
REAL_DIR = SHARED_DATA / "dfe" / "neet"
NAMES = [
    "UD_NEETNK_LA_dashboard_2021_vg_removed.csv",
    "UD_NEETNK_LA_dashboard_2022_final.csv",
    "UD_NEETNK_LA_dashboard_2023_final.csv",
]
COLUMNS = {
    "neet_nk_ehcp_pct": "NEET_NK_EHCP_percent",
    "neet_nk_sen_support_pct": "NEET_NK_SENDsupport_percent",
    "neet_nk_no_sen_pct": "NEET_NK_noSEN_percent",
    "neet_nk_pct": "NEET_not_known_percent",
    "neet_pct": "NEET_percent",
    "neet_activity_not_known_pct": "Notknown_percent",
    "participation_16_17_pct": "TOTAL_participating_in_education_and_training_percent",
    "neet_cohort_ehcp_pct": "cohort_EHCP_percent",
}
# 1:1 code changes in the real LA list (DOMAIN.md; checked against the list in the real test).
CODE_CHANGES = {
    "E10000023": "E06000065",  # North Yorkshire, 2023
    "E10000027": "E06000066",  # Somerset, 2023
    "E08000016": "E08000038",  # Barnsley, 2024
    "E08000019": "E08000039",  # Sheffield, 2024
}


def rows_of(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def cell(text: str) -> tuple[float | None, str | None]:
    if text == "":
        return None, "missing"
    try:
        return float(text), None
    except ValueError:
        return None, text


def area_of(row: dict[str, str], known_las: set[str] | None = None) -> str | None:
    """The area a row is filed under, or None when it is not loaded (demo and unknown rows)."""
    level = row["geographic_level"]
    if level == "National":
        return "E92000001"
    if level == "Regional":
        return row["region_code"] or None
    code = row["new_la_code"]
    if not code or (known_las is not None and code not in known_las):
        return None
    return CODE_CHANGES.get(code, code)


def expected(paths: list[Path], known_las: set[str] | None = None) -> dict[tuple, tuple]:
    """(indicator, area, period) -> (value, status, source code) for every loaded row."""
    out = {}
    for path in paths:
        for row in rows_of(path):
            area = area_of(row, known_las)
            if area is None:
                continue
            source = {"National": "E92000001", "Regional": row["region_code"]}.get(
                row["geographic_level"], row["new_la_code"]
            )
            for indicator, column in COLUMNS.items():
                out[(indicator, area, row["time_period"])] = (*cell(row[column]), source)
    return out


def fixture_las() -> set[str]:
    return {r["new_la_code"] for r in rows_of(FIXTURES / "dfe" / "las" / "las.csv")}


def unmatched_in(paths: list[Path], known_las: set[str] | None = None) -> list[str]:
    """LA and regional rows that cannot be filed: no code, or a code the LA list does not have."""
    out = set()
    for path in paths:
        for row in rows_of(path):
            if row["geographic_level"] == "Regional" and not row["region_code"]:
                out.add(f"{row['region_name'] or '-'} (region -): unknown")
            if row["geographic_level"] != "Local authority":
                continue
            code = row["new_la_code"]
            if not code or (known_las is not None and code not in known_las):
                out.add(f"{row['la_name']} ({code or '-'} / {row['old_la_code'] or '-'}): unknown")
    return sorted(out)


@functools.lru_cache(maxsize=1)
def shared_catalogue():
    """The catalogue, read once for this module (reading it is the slow part of a parse)."""
    return load_catalogue()


def parse_files(tmp_path: Path, files: dict[str, bytes]):
    catalogue = shared_catalogue()
    harvester = Harvester(catalogue.dataset(DATASET), catalogue)
    folder = tmp_path / "files"
    folder.mkdir(exist_ok=True)
    for name, data in files.items():
        (folder / name).write_bytes(data)
    release = harvester.find_local(folder)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = {ref.key: http.import_local(ref.path, dataset=DATASET) for ref in release.files}
    return harvester.parse(raw, release, HarvestContext(resolver=fixture_resolver()))


def fixture_files() -> dict[str, bytes]:
    return {name: (FIXTURE_DIR / name).read_bytes() for name in NAMES}


def observed(observations) -> dict[tuple, tuple]:
    return {
        (r.indicator_id, r.area_code, r.period): (
            None if r.value != r.value else r.value,
            r.status,
            r.source_area_code,
        )
        for r in observations.itertuples()
    }


def test_fixture_values_symbols_and_empty_cells_match_the_files(tmp_path):
    parsed = parse_files(tmp_path, fixture_files())
    paths = [FIXTURE_DIR / n for n in NAMES]
    want = expected(paths, fixture_las())
    assert observed(parsed.observations) == want
    assert parsed.unmatched_areas == unmatched_in(paths, fixture_las())
    # the cases the fixture was cut for
    assert want[("neet_nk_sen_support_pct", "E06000001", "2023")][:2] == (None, "c")
    assert want[("neet_nk_ehcp_pct", "E06000065", "2021")][:2] == (None, "missing")
    assert want[("neet_nk_ehcp_pct", "E06000065", "2023")][2] == "E10000023"
    assert want[("neet_nk_ehcp_pct", "E10000021", "2021")][0] is None  # Northamptonshire, 2021
    assert ("neet_nk_ehcp_pct", "E06000062", "2022") in want  # West Northamptonshire from 2022
    assert set(parsed.observations["breakdown"]) == {"Total"}


def test_each_year_matches_its_own_layout(tmp_path):
    parsed = parse_files(tmp_path, fixture_files())
    assert not [note for note in parsed.notes if "new columns" in note], parsed.notes
    assert len(rows_of(FIXTURE_DIR / NAMES[0])[0]) == len(rows_of(FIXTURE_DIR / NAMES[1])[0]) + 4
    for name in NAMES:
        table = parsed.raw_tables[f"raw_dfe_neet_{Path(name).stem.lower()}"]
        assert len(table) == len(rows_of(FIXTURE_DIR / name))


def as_2025(data: bytes) -> bytes:
    """The 2023 fixture in the 2025 file's layout (DfE dashboard repository, data/…_2025.csv)."""
    rows = rows_of_bytes(data)
    out = io.StringIO()
    header = [
        "enrolments_pa_10_exact_percent" if c == "sess_overall_percent_pa_10_exact" else c
        for c in rows[0]
        if c != "Age1617_ONS_population"
    ]
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        row["enrolments_pa_10_exact_percent"] = row["sess_overall_percent_pa_10_exact"]
        row["time_period"] = "2025"
        writer.writerow([row[c] for c in header])
    return out.getvalue().encode()


def rows_of_bytes(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def test_the_2025_layout_is_read_without_renaming_a_different_measure(tmp_path):
    files = {"UD_NEETNK_LA_dashboard_2025.csv": as_2025(fixture_files()[NAMES[2]])}
    parsed = parse_files(tmp_path, files)
    assert not [note for note in parsed.notes if "new columns" in note], parsed.notes
    got = observed(parsed.observations)
    want = {
        (indicator, area, "2025"): value
        for (indicator, area, _), value in expected([FIXTURE_DIR / NAMES[2]], fixture_las()).items()
    }
    assert got == want
    raw = parsed.raw_tables["raw_dfe_neet_ud_neetnk_la_dashboard_2025"]
    assert "enrolments_pa_10_exact_percent" in raw.columns
    assert "sess_overall_percent_pa_10_exact" not in raw.columns


def test_an_unknown_layout_lists_missing_and_unexpected_columns(tmp_path):
    files = fixture_files()
    files[NAMES[2]] = files[NAMES[2]].replace(b",NEET_NK_EHCP_percent,", b",NEET_NK_EHCPlan_pc,", 1)
    with pytest.raises(LayoutError) as caught:
        parse_files(tmp_path, files)
    error = caught.value
    assert (error.dataset, error.file) == (DATASET, NAMES[2])
    assert error.missing == ["NEET_NK_EHCP_percent"]
    assert error.unexpected == ["NEET_NK_EHCPlan_pc"]


def test_demo_rows_are_not_loaded_and_the_la_one_is_reported(tmp_path):
    parsed = parse_files(tmp_path, fixture_files())
    demo = [r for r in rows_of(FIXTURE_DIR / NAMES[0]) if "demo" in r["region_name"]]
    assert [(r["geographic_level"], r["region_code"]) for r in demo] == [
        ("Regional", ""),
        ("Local authority", ""),
    ]
    assert "LA demo (- / -): unknown" in parsed.unmatched_areas
    assert "Region demo (region -): unknown" in parsed.unmatched_areas
    assert "" not in set(parsed.observations["area_code"])
    assert set(parsed.observations["area_code"]) == {
        a for (_, a, _) in expected([FIXTURE_DIR / n for n in NAMES], fixture_las())
    }


def release_zip(replace: dict[str, bytes] | None = None) -> bytes:
    latest = (replace or {}).get(NAMES[2], fixture_files()[NAMES[2]])
    characteristics = (
        "time_period,time_identifier,geographic_level,country_code,country_name,Age,"
        "Characteristic_grouping,Characteristic,avgcohort,avgNEETNK\n"
        "2023,Calendar year,National,E92000001,England,16-17,SEND,EHCP,57000,5700\n"
    )
    return ees_zip(
        {
            # the release names the dashboard file in lower case
            "data/ud_neetnk_la_dashboard_2023_final.csv": latest,
            "data/ud_neet_characteristics.csv": characteristics.encode(),
            "data-guidance/data-guidance.txt": b"Participation in education, training and NEET\n",
        }
    )


@responses.activate
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    add_ees_release(responses, SLUG, RELEASE_ID, "2022-23", release_zip())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    paths = [FIXTURE_DIR / NAMES[2]]
    assert (result.status, result.release) == ("loaded", "2022-23")
    assert result.unmatched_areas == unmatched_in(paths, fixture_las())
    rows = db.execute(
        "select indicator_id, area_code, period, value, status, source_area_code "
        "from observations where dataset_id = ?",
        [DATASET],
    ).fetchall()
    assert {(i, a, p): (v, s, c) for i, a, p, v, s, c in rows} == expected(paths, fixture_las())
    assert "raw_dfe_neet_ud_neet_characteristics" in db.table_names()


def test_renamed_column_fails_clearly_and_keeps_the_previous_load(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2022-23", release_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)

    renamed = fixture_files()[NAMES[2]].replace(
        b",NEET_NK_SENDsupport_percent,", b",NEET_NK_SENsupport_percent,", 1
    )
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(
            rsps, SLUG, "2d8f6b4e-7c1a-4e3b-9f5d-6a0c8e2b4d17", "2023-24",
            release_zip({NAMES[2]: renamed}),
        )  # fmt: skip
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith("dfe_neet: ud_neetnk_la_dashboard_2023_final.csv ")
    assert "missing columns: NEET_NK_SENDsupport_percent;" in result.error
    assert "unexpected columns: NEET_NK_SENsupport_percent." in result.error
    assert snapshot(db, DATASET) == before


# --- the real published files (one per year) -------------------------------------------------


@needs_shared_data
def test_real_files_for_three_years_load_every_value_under_current_codes(tmp_path):
    las = rows_of(SHARED_DATA / "lookups" / "dfe_qa_las.csv")
    dfe_code = {r["new_la_code"]: r["old_la_code"] for r in las}
    for old, new in CODE_CHANGES.items():  # each is a 1:1 change: the same DfE number
        assert dfe_code[old] == dfe_code[new], (old, new)

    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    paths = [REAL_DIR / name for name in NAMES]
    assert result.unmatched_areas == unmatched_in(paths)
    assert result.unmatched_areas == ["LA demo (- / -): unknown", "Region demo (region -): unknown"]
    rows = db.execute(
        "select indicator_id, area_code, period, value, status, source_area_code "
        "from observations where dataset_id = ?",
        [DATASET],
    ).fetchall()
    got = {(i, a, p): (v, s, c) for i, a, p, v, s, c in rows}
    want = expected(paths)
    assert got == want
    assert len(rows) == len(want)

    # England and councils through the reorganisations, read straight from each year's file
    def published(year: int, code: str, column: str) -> str:
        path = REAL_DIR / NAMES[year - 2021]
        row = next(
            r for r in rows_of(path)
            if (r["new_la_code"] or (r["country_code"] if r["geographic_level"] == "National"
                                     else None)) == code
        )  # fmt: skip
        return row[column]

    ehcp = "NEET_NK_EHCP_percent"
    for year in (2021, 2022, 2023):
        england = got[("neet_nk_ehcp_pct", "E92000001", str(year))]
        assert england[0] == float(published(year, "E92000001", ehcp))
    for year in (2022, 2023):  # North Yorkshire, published under its county code E10000023
        value, _, source = got[("neet_nk_ehcp_pct", "E06000065", str(year))]
        assert (value, source) == (float(published(year, "E10000023", ehcp)), "E10000023")
        cumbria = got[("neet_nk_sen_support_pct", "E10000006", str(year))]
        assert cumbria[0] == float(published(year, "E10000006", "NEET_NK_SENDsupport_percent"))
        west = got[("neet_nk_ehcp_pct", "E06000062", str(year))]
        assert west[0] == float(published(year, "E06000062", ehcp))
    northamptonshire = got[("neet_nk_pct", "E10000021", "2021")]
    assert northamptonshire[0] == float(published(2021, "E10000021", "NEET_not_known_percent"))
    assert ("neet_nk_pct", "E10000021", "2022") not in got  # abolished in April 2021
    # 2021 publishes SEN figures for England only: regions and LAs load as missing, never zero
    regional_2021 = [v for (i, a, p), v in got.items() if p == "2021" and a.startswith("E12")]
    assert {v[1] for v in regional_2021 if v[0] is None} == {"missing"}
