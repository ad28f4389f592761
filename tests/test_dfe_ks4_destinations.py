"""Key stage 4 destination measures: both national layouts, the LA layout, counts paired with
percentages, the network path, a changed column, and the real national files.

Expected values are read here from the CSVs with the csv module; the SEN groups and measures the
catalogue's indicators stand for are written out below, not taken from sendbench.
"""

from __future__ import annotations

import csv
import functools
import io
import re
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
from sendbench.errors import BadFileError
from sendbench.harvesters.base import HarvestContext
from sendbench.harvesters.dfe.ks4_destinations import Harvester
from sendbench.http import HttpClient

DATASET = "dfe_ks4_destinations"
SLUG = "key-stage-4-destination-measures"
RELEASE_ID = "6f1d4c2e-8a5b-4f0e-9c3d-2b7a1e5f9d40"
FIXTURE_DIR = FIXTURES / "dfe" / "ks4_destinations"
REAL_DIR = SHARED_DATA / "dfe" / "destinations"
GROUP = "State-funded mainstream & special schools"
SEN_GROUPS = {
    "ehcp": {"Statement of SEN", "Statement of SEN/Education Health and Care plan"},
    "sen_support": {"School Action/plus", "School Action/SEN support"},
    "no_sen": {"No identified SEN"},
}
MEASURES = {"sustained": "overall", "apprenticeship": "appren", "not_sustained": "all_notsust"}
CURRENT_CODE = {"E10000023": "E06000065"}  # North Yorkshire: same council, new code in 2023


def rows_of(path: Path) -> list[dict[str, str]]:
    text = path.read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    for row in rows:  # the 2020/21 files name the SEN filter characteristic_group/characteristic
        row.setdefault("breakdown_topic", row.get("characteristic_group"))
        row.setdefault("breakdown", row.get("characteristic"))
    return rows


def cell(text: str) -> tuple[float | None, str | None]:
    try:
        return float(text), None
    except ValueError:
        return None, text


def area_of(row: dict[str, str]) -> str | None:
    level = row["geographic_level"]
    if level == "National":
        return "E92000001"
    if level == "Regional":
        return row["region_code"]
    if level == "Local authority":
        return CURRENT_CODE.get(row["new_la_code"], row["new_la_code"])
    return None


def pair_key(row: dict[str, str]) -> tuple:
    """What a percentage row and its count row share (the test's own pairing)."""
    return (
        row["geographic_level"], row.get("new_la_code"), row.get("lad_code"),
        row.get("region_code"), row["time_period"], row["institution_group"],
        row.get("institution_type"), row["breakdown_topic"], row["breakdown"],
    )  # fmt: skip


def expected(paths: list[Path]) -> dict[tuple, tuple]:
    """(indicator, area, period) -> (value, status, numerator, denominator, flag); later wins."""
    out = {}
    for path in paths:
        rows = rows_of(path)
        counts = {pair_key(r): r for r in rows if r["data_type"] == "Number of pupils"}
        for row in rows:
            if row["data_type"] != "Percentage" or row["institution_group"] != GROUP:
                continue
            if row["breakdown_topic"] != "SEN Provision" or area_of(row) is None:
                continue
            if row.get("institution_type", "Total") != "Total":
                continue
            group = next(
                (g for g, values in SEN_GROUPS.items() if row["breakdown"] in values), None
            )
            if group is None:
                continue
            pair = counts[pair_key(row)]
            period = f"{row['time_period'][:4]}/{row['time_period'][4:]}"
            for measure, column in MEASURES.items():
                value, status = cell(row[column])
                out[(f"ks4_dest_{measure}_{group}_pct", area_of(row), period)] = (
                    value,
                    status,
                    cell(pair[column])[0],
                    cell(row["cohort"])[0],
                    row["version"].lower(),
                )
    return out


@functools.lru_cache(maxsize=1)
def shared_catalogue():
    """The catalogue, read once for this module (reading it is the slow part of a parse)."""
    return load_catalogue()


def parse_folder(tmp_path: Path, folder: Path, resolver=None):
    catalogue = shared_catalogue()
    harvester = Harvester(catalogue.dataset(DATASET), catalogue)
    release = harvester.find_local(folder)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        files = {ref.key: http.import_local(ref.path, dataset=DATASET) for ref in release.files}
    context = HarvestContext(resolver=resolver or fixture_resolver())
    return harvester.parse(files, release, context)


def observed(observations) -> dict[tuple, tuple]:
    headline = observations[observations["breakdown"] == "Total"]
    return {
        (r.indicator_id, r.area_code, r.period): (
            None if r.value != r.value else r.value,
            r.status,
            None if r.numerator != r.numerator else r.numerator,
            None if r.denominator != r.denominator else r.denominator,
            r.flag,
        )
        for r in headline.itertuples()
    }


FIXTURE_FILES = [
    FIXTURE_DIR / "ks4_dm_ud_202021_la_prov.csv",
    FIXTURE_DIR / "ks4_dm_ud_202021_nat_rev.csv",
    FIXTURE_DIR / "ks4_dm_ud_202122_nat_prov.csv",
]


def test_fixture_values_numerators_and_flags_match_the_files(tmp_path):
    parsed = parse_folder(tmp_path, FIXTURE_DIR)
    want = expected(FIXTURE_FILES)
    got = observed(parsed.observations)
    assert got == want
    assert len(parsed.observations) == len(want)
    # England's 2020/21 figures come in both national files: the later file's are kept, noted.
    assert ("ks4_dest_sustained_ehcp_pct", "E92000001", "2020/21") in want
    assert any("given again by a later file" in note for note in parsed.notes)


def test_the_ehcp_series_runs_across_the_2015_relabel(tmp_path):
    parsed = parse_folder(tmp_path, FIXTURE_DIR)
    obs = parsed.observations
    england = obs[
        (obs.indicator_id == "ks4_dest_sustained_ehcp_pct") & (obs.area_code == "E92000001")
    ]
    rows = rows_of(FIXTURE_DIR / "ks4_dm_ud_202122_nat_prov.csv")
    statement = next(
        r for r in rows
        if r["time_period"] == "201415" and r["breakdown"] == "Statement of SEN"
        and r["data_type"] == "Percentage"
    )  # fmt: skip
    assert set(england.period) >= {"2014/15", "2019/20", "2020/21", "2021/22"}
    assert england.set_index("period").loc["2014/15", "value"] == float(statement["overall"])


def test_symbols_are_kept_and_counts_travel_with_them(tmp_path):
    parsed = parse_folder(tmp_path, FIXTURE_DIR)
    got = observed(parsed.observations)
    la_rows = rows_of(FIXTURE_DIR / "ks4_dm_ud_202021_la_prov.csv")
    hartlepool = [r for r in la_rows if r["new_la_code"] == "E06000001"]
    assert {r["overall"] for r in hartlepool} == {"c"}
    value, status, numerator, denominator, _ = got[
        ("ks4_dest_sustained_ehcp_pct", "E06000001", "2020/21")
    ]
    assert (value, status, numerator) == (None, "c", None)
    assert denominator == float(hartlepool[0]["cohort"])
    bucks = {
        r["data_type"]: r
        for r in la_rows
        if r["new_la_code"] == "E06000060" and r["institution_group"] == GROUP
    }
    assert bucks["Percentage"]["appren"] == "low"
    value, status, numerator, _, _ = got[
        ("ks4_dest_apprenticeship_ehcp_pct", "E06000060", "2020/21")
    ]
    assert (value, status, numerator) == (None, "low", float(bucks["Number of pupils"]["appren"]))


def test_other_levels_and_groups_stay_in_the_raw_tables(tmp_path):
    parsed = parse_folder(tmp_path, FIXTURE_DIR)
    raw = parsed.raw_tables["raw_dfe_ks4_destinations_ks4_dm_ud_202021_la_prov"]
    la_rows = rows_of(FIXTURE_DIR / "ks4_dm_ud_202021_la_prov.csv")
    assert len(raw) == len(la_rows)
    assert "Local authority district" in set(raw["geographic_level"])
    assert "State-funded mainstream schools" in set(raw["institution_group"])
    # the pairing adds the counts beside the published columns, which are unchanged
    assert list(raw["overall"]) == [r["overall"] for r in la_rows]
    counts = {pair_key(r): r for r in la_rows if r["data_type"] == "Number of pupils"}
    for record in raw.to_dict("records"):
        pair = counts[pair_key(record)]
        assert (record["overall_n"], record["appren_n"]) == (pair["overall"], pair["appren"])
    obs = parsed.observations
    assert set(obs["source_area_code"]) <= {"E92000001", "E12000005"} | {
        r["new_la_code"] for r in la_rows if r["geographic_level"] == "Local authority"
    }


def test_two_count_rows_for_one_percentage_row_fail_the_file(tmp_path):
    folder = tmp_path / "files"
    folder.mkdir()
    data = (FIXTURE_DIR / "ks4_dm_ud_202021_la_prov.csv").read_bytes()
    lines = data.split(b"\n")
    count_line = next(line for line in lines if b'"Number of pupils"' in line)
    (folder / "ks4_dm_ud_202021_la_prov.csv").write_bytes(data + count_line + b"\n")
    with pytest.raises(BadFileError, match="count rows share the same filters"):
        parse_folder(tmp_path, folder)


def release_zip(replace: dict[str, bytes] | None = None) -> bytes:
    members = {f"data/{p.name}": p.read_bytes() for p in FIXTURE_FILES}
    members["data/ks4_dm_ud_202122_inst_prov.csv"] = b"time_period,school_urn\n202122,100000\n"
    for name, data in (replace or {}).items():
        members[f"data/{name}"] = data
    members["data-guidance/data-guidance.txt"] = b"Key stage 4 destination measures\n"
    return ees_zip(members)


@responses.activate
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    add_ees_release(responses, SLUG, RELEASE_ID, "2021-22", release_zip())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert (result.status, result.release, result.unmatched_areas) == ("loaded", "2021-22", [])
    want = expected(FIXTURE_FILES)
    rows = db.execute(
        "select indicator_id, area_code, period, value, numerator, denominator from observations "
        "where dataset_id = ? and breakdown = 'Total'",
        [DATASET],
    ).fetchall()
    assert {(i, a, p): (v, n, d) for i, a, p, v, n, d in rows} == {
        key: (value, numerator, denominator)
        for key, (value, _, numerator, denominator, _) in want.items()
    }
    shropshire = want[("ks4_dest_sustained_ehcp_pct", "E06000051", "2020/21")]
    assert shropshire[0] is not None and shropshire[2] is not None
    assert "raw_dfe_ks4_destinations_ks4_dm_ud_202122_inst_prov" in db.table_names()


def test_renamed_column_fails_clearly_and_keeps_the_previous_load(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2021-22", release_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)

    data = (FIXTURE_DIR / "ks4_dm_ud_202021_la_prov.csv").read_bytes()
    renamed = data.replace(b'"all_notsust"', b'"not_sustained"', 1)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(
            rsps, SLUG, "7a2e5d3f-9b6c-4a1f-8d4e-3c8b2f6a0e51", "2022-23",
            release_zip({"ks4_dm_ud_202021_la_prov.csv": renamed}),
        )  # fmt: skip
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith("dfe_ks4_destinations: ks4_dm_ud_202021_la_prov.csv ")
    assert "missing columns: all_notsust;" in result.error
    assert re.search(r"unexpected columns: [^.;]*\bnot_sustained\b", result.error), result.error
    assert snapshot(db, DATASET) == before


# --- the real published national files -------------------------------------------------------

REAL_FILES = [REAL_DIR / "ks4_dm_ud_202021_nat_rev.csv", REAL_DIR / "ks4_dm_ud_202122_nat_prov.csv"]


@needs_shared_data
def test_real_national_files_load_with_every_value_numerator_and_flag(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []  # national files: no LA rows to match
    want = expected(REAL_FILES)
    rows = db.execute(
        "select indicator_id, area_code, period, value, status, numerator, denominator, flag "
        "from observations where dataset_id = ? and breakdown = 'Total'",
        [DATASET],
    ).fetchall()
    got = {(i, a, p): (v, s, n, d, f) for i, a, p, v, s, n, d, f in rows}
    assert got == want
    periods = {p for _, _, p in want}
    assert len(got) == 9 * len(periods)
    assert {"2011/12", "2014/15", "2015/16", "2021/22"} <= periods
    assert got[("ks4_dest_sustained_ehcp_pct", "E92000001", "2021/22")][4] == "provisional"
    assert got[("ks4_dest_sustained_ehcp_pct", "E92000001", "2020/21")][4] == "revised"
