"""Alternative provision: every fixture value as published, the derived shares, the AP census read
from a zip named .csv.gz, the four files fetched one by one from the EES release, a changed
layout, and the real files.

Expected values are read here with zipfile and csv; the indicator -> file, column and filter table
is written out here, and the shares are recomputed here from the cells.
"""

from __future__ import annotations

import csv
import io
import zipfile
from pathlib import Path

import pytest
import responses
from conftest import (
    CONTENT_API,
    FIXTURES,
    SHARED_DATA,
    add_publishers,
    fixture_resolver,
    needs_shared_data,
    run_refresh,
    snapshot,
)

from sendbench.catalogue import load_catalogue
from sendbench.errors import LayoutError
from sendbench.harvesters.base import HarvestContext
from sendbench.harvesters.dfe.ap import Harvester
from sendbench.http import HttpClient

DATASET = "dfe_ap"
SLUG = "school-pupils-and-their-characteristics"
FIXTURE_DIR = FIXTURES / "dfe" / "ap"
REAL_DIR = SHARED_DATA / "dfe" / "alternative-provision"
CENSUS = "ap_placements_ap_census.csv.gz"
CHARACTERISTICS = "spc_school_ap_characteristics.csv"
PLACEMENT = "spc_school_ap_placement.csv"
SETTING = "spc_ap_setting.csv"
TOTALS = {"gender": "Total", "age": "Total", "ethnicity_minor": "Total", "fsm": "Total"}


def sen(characteristic: str) -> dict:
    return {
        "characteristic_grouping": "SEN on entry",
        "pupil_characteristic": characteristic,
        "setting_type": "Total",
    }


# indicator -> (file, column, filter)
COLUMNS = {
    "ap_census_pupils": (CENSUS, "number_of_pupils", TOTALS),
    "school_ap_pupils": (CHARACTERISTICS, "pupils", sen("Total")),
    "school_ap_ehcp_pupils": (CHARACTERISTICS, "pupils", sen("EHC plan")),
    "school_ap_sen_support_pupils": (CHARACTERISTICS, "pupils", sen("SEN Support")),
    "school_ap_mental_health_pupils": (
        PLACEMENT,
        "pupils",
        {
            "characteristic_grouping": "Placement Reason",
            "pupil_characteristic": "Medical condition (mental health need)",
            "setting_type": "Total",
        },
    ),
    "ap_placements": (SETTING, "placements", {"setting_type": "Total"}),
    "ap_unregistered_placements": (
        SETTING,
        "placements",
        {"setting_type": "Other unregistered provider"},
    ),
}
SHARES = {
    "school_ap_ehcp_pct": ("school_ap_ehcp_pupils", "school_ap_pupils"),
    "school_ap_sen_support_pct": ("school_ap_sen_support_pupils", "school_ap_pupils"),
    "ap_unregistered_placements_pct": ("ap_unregistered_placements", "ap_placements"),
}
# 1:1 code changes in the LA list (Gateshead and Northumberland 2013: the AP census still uses
# their pre-2013 codes for some years; North Yorkshire, Somerset 2023; Barnsley, Sheffield 2024)
CODE_CHANGES = {"E10000023": "E06000065", "E10000002": "E06000060", "E10000027": "E06000066",
                "E08000016": "E08000038", "E08000019": "E08000039", "E08000020": "E08000037",
                "E06000048": "E06000057"}  # fmt: skip


def rows_of(path: Path) -> list[dict[str, str]]:
    data = path.read_bytes()
    if data[:2] == b"PK":
        with zipfile.ZipFile(path) as archive:
            (name,) = archive.namelist()
            data = archive.read(name)
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def period_of(time_period: str) -> str:
    return f"{time_period[:4]}/{time_period[4:]}"


def area_of(row: dict[str, str], known: set[str] | None) -> str | None:
    level = row["geographic_level"]
    if level == "National":
        return "E92000001"
    if level == "Regional":
        return None if row["region_code"].startswith("E13") else row["region_code"]
    code = row["new_la_code"]
    return None if known is not None and code not in known else CODE_CHANGES.get(code, code)


def expected(folder: Path, known: set[str] | None) -> dict[tuple, float]:
    out: dict[tuple, float] = {}
    for indicator, (file, column, wanted) in COLUMNS.items():
        for row in rows_of(folder / file):
            area = area_of(row, known)
            if area is not None and all(row[k] == v for k, v in wanted.items()):
                out[(indicator, area, period_of(row["time_period"]))] = float(row[column])
    for share, (part, whole) in SHARES.items():
        for (indicator, area, period), value in list(out.items()):
            total = out.get((whole, area, period))
            if indicator == part and total:
                out[(share, area, period)] = value / total * 100
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


def close(got: dict, want: dict) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-12), key


def test_fixture_values_and_shares_match_the_files(tmp_path):
    parsed = parse_folder(tmp_path, FIXTURE_DIR)
    obs = parsed.observations
    assert set(obs["status"].dropna()) == set()  # no symbols in these files
    got = {(r.indicator_id, r.area_code, r.period): r.value for r in obs.itertuples()}
    want = expected(FIXTURE_DIR, fixture_las())
    close(got, want)
    assert parsed.unmatched_areas == []
    assert set(obs["breakdown"]) == {"Total"}
    # Northamptonshire's AP census series ends in 2020/21; its successors start in 2021/22
    assert ("ap_census_pupils", "E10000021", "2020/21") in want
    assert ("ap_census_pupils", "E06000061", "2021/22") in want
    share = obs[(obs.indicator_id == "school_ap_ehcp_pct") & (obs.area_code == "E92000001")]
    assert (share.numerator.iloc[0], share.denominator.iloc[0]) == (
        want[("school_ap_ehcp_pupils", "E92000001", "2022/23")],
        want[("school_ap_pupils", "E92000001", "2022/23")],
    )


def release_json(release_id: str, names: list[str]) -> dict:
    files = [
        {"id": f"{number:08d}-aaaa-4bbb-8ccc-0123456789ab", "fileName": name, "type": "Data"}
        for number, name in enumerate(names)
    ]
    return {"id": release_id, "slug": "2022-23", "title": "2022/23", "published":
            "2023-06-08T09:30:00", "downloadFiles": files}  # fmt: skip


def add_release(rsps, bodies: dict[str, bytes], release_id="5b7e3c1a-9d2f-4e8a-b6c4-1f0e9d8c7b6a"):
    names = ["spc_pupils_school_level.csv", *bodies]
    rsps.get(f"{CONTENT_API}/publications/{SLUG}/releases/latest",
             json=release_json(release_id, names))  # fmt: skip
    for number, name in enumerate(names):
        if name in bodies:
            file_id = f"{number:08d}-aaaa-4bbb-8ccc-0123456789ab"
            rsps.get(  # EES streams a file with its name in Content-Disposition
                f"{CONTENT_API}/releases/{release_id}/files/{file_id}",
                body=bodies[name],
                headers={"Content-Disposition": f'attachment; filename="{name}"'},
            )


def fixture_bodies() -> dict[str, bytes]:
    bodies = {n: (FIXTURE_DIR / n).read_bytes() for n in (CHARACTERISTICS, PLACEMENT, SETTING)}
    with zipfile.ZipFile(FIXTURE_DIR / CENSUS) as archive:  # EES serves the plain csv
        bodies["ap_placements_ap_census.csv"] = archive.read("ap_placements_ap_census.csv")
    return bodies


@responses.activate
def test_the_four_files_are_fetched_one_by_one_and_loaded(tmp_path):
    add_publishers(responses)
    add_release(responses, fixture_bodies())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert (result.status, result.release, result.published) == (
        "loaded", "2022-23", "2023-06-08T09:30:00",
    )  # fmt: skip
    assert sorted(f.filename for f in result.files) == sorted(fixture_bodies())
    rows = db.execute(
        "select indicator_id, area_code, period, value from observations where dataset_id = ?",
        [DATASET],
    ).fetchall()
    close({(i, a, p): v for i, a, p, v in rows}, expected(FIXTURE_DIR, fixture_las()))


def test_an_unknown_layout_lists_missing_and_unexpected_columns(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    for name in (CENSUS, CHARACTERISTICS, PLACEMENT):
        (folder / name).write_bytes((FIXTURE_DIR / name).read_bytes())
    changed = (FIXTURE_DIR / SETTING).read_bytes().replace(b",placements", b",placement_count", 1)
    (folder / SETTING).write_bytes(changed)
    with pytest.raises(LayoutError) as caught:
        parse_folder(tmp_path, folder)
    assert (caught.value.dataset, caught.value.file) == (DATASET, SETTING)
    assert (caught.value.missing, caught.value.unexpected) == (["placements"], ["placement_count"])


def test_a_changed_file_fails_keeps_the_last_load_and_others_still_refresh(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_release(rsps, fixture_bodies())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)
    bodies = fixture_bodies()
    bodies[CHARACTERISTICS] = bodies[CHARACTERISTICS].replace(b",pupils", b",headcount", 1)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_release(rsps, bodies, release_id="6c8f4d2b-0e3a-4f9b-a7d5-2a1f0e9d8c7b")
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET, "dfe_ehcp"])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith(f"{DATASET}: {CHARACTERISTICS} ")
    assert "missing columns: pupils;" in result.error
    assert "unexpected columns: headcount." in result.error
    assert snapshot(db, DATASET) == before
    assert second["dfe_ehcp"].status == "loaded"


@needs_shared_data
def test_real_files_load_every_value_england_and_reorganised_councils(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    rows = db.execute(
        "select indicator_id, area_code, period, value from observations where dataset_id = ?",
        [DATASET],
    ).fetchall()
    got = {(i, a, p): v for i, a, p, v in rows}
    close(got, expected(REAL_DIR, None))

    def published(file: str, code: str, period: str, column: str, wanted: dict) -> float:
        for row in rows_of(REAL_DIR / file):
            here = row["new_la_code"] or (row["country_code"] if row["geographic_level"] ==
                                          "National" else "")  # fmt: skip
            if (
                here == code
                and row["time_period"] == period
                and all(row[k] == v for k, v in wanted.items())
            ):
                return float(row[column])
        raise AssertionError((file, code, period))

    # England, Shropshire, Northamptonshire (abolished 2021) and North Yorkshire (E10000023)
    assert got[("ap_census_pupils", "E92000001", "2022/23")] == published(
        CENSUS, "E92000001", "202223", "number_of_pupils", TOTALS
    )
    assert got[("school_ap_ehcp_pupils", "E06000051", "2022/23")] == published(
        CHARACTERISTICS, "E06000051", "202223", "pupils", sen("EHC plan")
    )
    assert got[("ap_census_pupils", "E10000021", "2019/20")] == published(
        CENSUS, "E10000021", "201920", "number_of_pupils", TOTALS
    )
    assert got[("ap_census_pupils", "E06000065", "2019/20")] == published(
        CENSUS, "E10000023", "201920", "number_of_pupils", TOTALS
    )
