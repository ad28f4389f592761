"""Tests for sendbench.areas on the real DfE QA lists (when present) and on a small fixture.

Expected numbers are read from the CSV files with the csv module or copied from the published
list (e.g. Shropshire E06000051 / 893 / E12000005), never from the code under test.
"""

from __future__ import annotations

import csv
import logging
import re
from pathlib import Path

import pandas as pd
import pytest

from sendbench.areas import (
    AREA_COLUMNS,
    ENGLAND_CODE,
    LA_LIST_COLUMNS,
    REGION_LIST_COLUMNS,
    REORGANISATIONS,
    AreaResolver,
    build_areas,
    terminated_without_successor,
)
from sendbench.errors import LayoutError

REAL_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "lookups"
FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "dfe" / "las"
SOURCES = {
    "real": (REAL_DIR / "dfe_qa_las.csv", REAL_DIR / "dfe_qa_regions.csv"),
    "fixture": (FIXTURE_DIR / "las.csv", FIXTURE_DIR / "regions.csv"),
}
ONS_CODE = re.compile(r"E\d{8}")


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(params=sorted(SOURCES))
def source(request: pytest.FixtureRequest) -> tuple[Path, Path]:
    las_path, regions_path = SOURCES[request.param]
    if not las_path.exists():
        pytest.skip(f"real DfE QA lists not present at {REAL_DIR} (shared data not mounted)")
    return las_path, regions_path


@pytest.fixture
def real() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    if not REAL_DIR.is_dir():
        pytest.skip(f"real DfE QA lists not present at {REAL_DIR} (shared data not mounted)")
    return build_areas(_read(SOURCES["real"][0]), _read(SOURCES["real"][1]))


@pytest.fixture
def fixture_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    return _read(SOURCES["fixture"][0]), _read(SOURCES["fixture"][1])


def _row(areas: pd.DataFrame, code: str) -> dict:
    found = areas[areas["area_code"] == code]
    assert len(found) == 1, code
    return found.iloc[0].to_dict()


# --- both sources -------------------------------------------------------------------------------


def test_one_area_per_single_code_row(source: tuple[Path, Path]) -> None:
    las_path, regions_path = source
    rows = _csv_rows(las_path)
    single = [r["new_la_code"] for r in rows if "/" not in r["new_la_code"]]
    not_ons = [c for c in single if not ONS_CODE.fullmatch(c)]
    assert not_ons == ["z"]  # British Forces overseas: documented skip
    areas, _, combinations = build_areas(_read(las_path), _read(regions_path))
    assert list(areas.columns) == AREA_COLUMNS
    las = areas[areas["area_type"] == "la"]
    assert sorted(las["area_code"]) == sorted(set(single) - {"z"})
    assert len(las) == len(single) - 1
    assert areas["area_code"].is_unique
    joined = {r["new_la_code"] for r in rows if "/" in r["new_la_code"]}
    assert set(combinations["combined_code"]) == joined


def test_england_and_regions(source: tuple[Path, Path]) -> None:
    las_path, regions_path = source
    expected = {r["region_code"]: r["region_name"] for r in _csv_rows(regions_path)}
    areas, _, _ = build_areas(_read(las_path), _read(regions_path))
    england = _row(areas, ENGLAND_CODE)
    assert (england["name"], england["area_type"], england["region_code"]) == (
        "England",
        "country",
        None,
    )
    regions = areas[areas["area_type"] == "region"]
    assert dict(zip(regions["area_code"], regions["name"], strict=True)) == {
        code: name for code, name in expected.items() if code.startswith("E12")
    }
    assert (regions["region_code"] == regions["area_code"]).all()
    assert not areas["area_code"].str.startswith("E13").any()


def test_shared_values(source: tuple[Path, Path]) -> None:
    areas, links, combinations = build_areas(_read(source[0]), _read(source[1]))
    shropshire = _row(areas, "E06000051")
    assert (shropshire["dfe_code"], shropshire["region_code"]) == ("893", "E12000005")
    assert (shropshire["valid_from"], shropshire["valid_to"]) == ("2009-04-01", None)
    assert _row(areas, "E10000026")["dfe_code"] is None  # "x" in the file
    bucks = _row(areas, "E10000002")
    assert (bucks["valid_to"], bucks["successor_codes"]) == ("2020-03-31", "E06000060")
    assert bucks["current_code"] == "E06000060"
    link = links[links["predecessor_code"] == "E10000002"].iloc[0]
    assert (link["successor_code"], link["kind"], link["change_date"]) == (
        "E06000060",
        "code change",
        "2020-04-01",
    )
    assert _row(areas, "E08000020")["current_code"] == "E08000037"
    northants = _row(areas, "E10000021")
    assert set(northants["successor_codes"].split(",")) == {"E06000061", "E06000062"}
    assert northants["current_code"] == "E10000021"
    bcp = set(_row(areas, "E06000058")["predecessor_codes"].split(","))
    assert {"E06000028", "E06000029", "E10000009"} <= bcp
    assert _row(areas, "E06000010")["name"] == "Kingston upon Hull, City of"
    members = combinations[combinations["combined_code"] == "E06000061 / E06000062"]
    assert sorted(members["member_code"]) == ["E06000061", "E06000062"]
    assert set(members["combined_dfe_code"]) == {"940 / 941"}
    assert terminated_without_successor(areas) == []


def test_resolver(source: tuple[Path, Path]) -> None:
    areas, _, combinations = build_areas(_read(source[0]), _read(source[1]))
    resolver = AreaResolver(areas, combinations)
    assert resolver.resolve(dfe_code="825") == "E06000060"
    assert resolver.resolve(code="E10000002") == "E06000060"
    assert resolver.resolve(name="Bournemouth, Christchurch and Poole") == "E06000058"
    assert resolver.resolve(name="Kingston upon Hull, City of") == "E06000010"
    assert resolver.resolve(name="  kingston upon hull city of ") == "E06000010"
    assert resolver.resolve(name="Telford & Wrekin") == "E06000020"
    assert resolver.resolve(name="Dorset") == "E06000059"
    assert resolver.resolve(dfe_code="928") == "E10000021"
    assert resolver.resolve(code="E06000061 / E06000062") is None
    assert resolver.resolve(dfe_code="940 / 941") is None
    assert resolver.is_combination("E06000061 / E06000062")
    assert not resolver.is_combination("E06000061")
    assert resolver.resolve(code="E06999999") is None
    assert resolver.resolve(code="E06999999", dfe_code="893") == "E06000051"
    assert resolver.resolve() is None
    assert resolver.resolve(name="England") == ENGLAND_CODE


def test_resolve_many_keeps_index_and_missing(source: tuple[Path, Path]) -> None:
    areas, _, combinations = build_areas(_read(source[0]), _read(source[1]))
    resolver = AreaResolver(areas, combinations)
    codes = pd.Series(
        ["E10000002", None, "E06000061 / E06000062", "", "E10000002"], index=[9, 8, 7, 6, 5]
    )
    dfe = pd.Series([None, "893", None, None, None])
    names = pd.Series([None, None, None, "Dorset", None])
    got = resolver.resolve_many(codes, dfe, names)
    assert list(got.index) == [9, 8, 7, 6, 5]
    assert got.tolist() == ["E06000060", "E06000051", None, "E06000059", "E06000060"]
    with pytest.raises(ValueError, match="same length"):
        resolver.resolve_many(codes, dfe.iloc[:2])


def test_find(source: tuple[Path, Path]) -> None:
    areas, _, combinations = build_areas(_read(source[0]), _read(source[1]))
    resolver = AreaResolver(areas, combinations)
    assert [r["area_code"] for r in resolver.find("Dorset")] == ["E06000059", "E10000009"]
    assert [r["area_code"] for r in resolver.find("825")] == ["E06000060", "E10000002"]
    assert resolver.find("e06000051")[0]["name"] == "Shropshire"
    assert resolver.find("e06000051")[0]["match"] == "code"
    northants = resolver.find("northampton")
    assert [r["match"] for r in northants][:1] == ["prefix"]
    assert {"E06000061", "E06000062", "E10000021"} <= {r["area_code"] for r in northants}
    assert resolver.find("no such place") == []


# --- real list only -----------------------------------------------------------------------------


def test_real_reorganisations_all_validated(real) -> None:
    _, links, _ = real
    pairs = set(zip(links["predecessor_code"], links["successor_code"], strict=True))
    assert {(pred, succ) for pred, succ, _, _ in REORGANISATIONS} <= pairs


def test_real_code_changes(real) -> None:
    areas, links, _ = real
    changes = links[links["kind"] == "code change"]
    assert dict(zip(changes["predecessor_code"], changes["successor_code"], strict=True)) == {
        "E06000048": "E06000057",
        "E08000016": "E08000038",
        "E08000019": "E08000039",
        "E08000020": "E08000037",
        "E10000002": "E06000060",
        "E10000023": "E06000065",
        "E10000027": "E06000066",
    }
    current = dict(zip(areas["area_code"], areas["current_code"], strict=True))
    assert current["E10000023"] == "E06000065"
    assert current["E08000016"] == "E08000038"
    assert current["E06000048"] == "E06000057"
    assert current["E10000022"] == "E10000022"  # 2009 unitarisation, not a code change
    assert current["E10000006"] == "E10000006"


def test_real_resolver(real) -> None:
    areas, _, combinations = real
    resolver = AreaResolver(areas, combinations)
    assert resolver.resolve(code="E10000023") == "E06000065"
    assert resolver.resolve(code="E10000027") == "E06000066"
    assert resolver.resolve(dfe_code="815") == "E06000065"
    assert resolver.resolve(dfe_code="909") == "E10000006"
    assert resolver.resolve(name="Northumberland") == "E06000057"
    assert resolver.resolve(name="City of Bristol") == "E06000023"
    assert resolver.is_combination("E09000021 / E09000027")


# --- fixture only: errors and warnings ----------------------------------------------------------


def test_layout_error_lists_columns(fixture_frames) -> None:
    las, regions = fixture_frames
    with pytest.raises(LayoutError) as caught:
        build_areas(las.rename(columns={"la_name": "la_title"}), regions, source="x/las.csv")
    assert caught.value.missing == ["la_name"]
    assert caught.value.unexpected == ["la_title"]
    assert "la_name" in str(caught.value) and "x/las.csv" in str(caught.value)
    with pytest.raises(LayoutError) as caught:
        build_areas(las, regions.rename(columns={"region_name": "name"}))
    assert (caught.value.file, caught.value.missing) == ("regions.csv", ["region_name"])
    assert list(las.columns) == LA_LIST_COLUMNS
    assert list(regions.columns) == REGION_LIST_COLUMNS


def test_reorganisation_missing_successor_raises(fixture_frames) -> None:
    las, regions = fixture_frames
    with pytest.raises(ValueError, match="E10000021 -> E06000062"):
        build_areas(las[las["new_la_code"] != "E06000062"], regions)


def test_reorganisation_date_gap_raises(fixture_frames) -> None:
    las, regions = fixture_frames
    las = las.copy()
    las.loc[las["new_la_code"] == "E06000051", "date_of_operation"] = "02/04/2009"
    with pytest.raises(ValueError, match="E10000026 -> E06000051"):
        build_areas(las, regions)


def test_terminated_without_successor_is_reported(fixture_frames, caplog) -> None:
    las, regions = fixture_frames
    with caplog.at_level(logging.WARNING, logger="sendbench.areas"):
        areas, _, _ = build_areas(las[las["new_la_code"] != "E06000060"], regions)
    assert terminated_without_successor(areas) == ["E10000002"]
    assert "E10000002 is terminated but has no successor" in caplog.text
    assert _row(areas, "E10000002")["current_code"] == "E10000002"
