"""SEN in England: both published shapes, computed need shares, symbols, network path, faults."""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
import responses
from conftest import (
    FIXTURES,
    add_ees_release,
    add_publishers,
    ees_zip,
    fixture_resolver,
    run_refresh,
    snapshot,
)

from sendbench.catalogue import load_catalogue
from sendbench.errors import BadFileError, LayoutError
from sendbench.harvesters.base import HarvestContext, Release
from sendbench.harvesters.dfe.sen import Harvester, label_key
from sendbench.http import HttpClient

SLUG = "special-educational-needs-in-england"
RELEASE_ID = "3f9c2a71-5d6e-4b8f-a1c2-9e0d7b6a5c43"  # illustrative: the tests only need an id
SEN = FIXTURES / "dfe" / "sen"
# The published names of each shape's files: (phase file, year-group file).
NAMES = {"2025": ("sen_phase_type_.csv", "sen_ncyear_.csv"), "2026": ("sen_phase_type.csv",
         "sen_ncyear.csv")}  # fmt: skip
EHC = "Education, health and care plan"
SUPPORT = "SEN support / SEN without an EHC plan"
NEEDS = {"asd": "autistic spectrum disorder", "semh": "social emotional and mental health",
         "slcn": "speech language and communication needs"}  # fmt: skip


def fixture(shape: str, name: str) -> bytes:
    return (SEN / shape / "data" / name).read_bytes()


def rows_of(data: bytes) -> list[dict]:
    """A CSV's rows read with the csv module (not sendbench)."""
    return list(csv.DictReader(io.StringIO(data.decode("utf-8-sig"))))


def release_zip(shape: str, replace: dict[str, bytes] | None = None) -> bytes:
    members = {f"data/{n}": (replace or {}).get(n, fixture(shape, n)) for n in NAMES[shape]}
    return ees_zip({**members, "data-guidance/data-guidance.txt": b"Special educational needs"})


def parse(tmp_path, zip_bytes: bytes, label: str = "2025"):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("dfe_sen"), catalogue)
    path = tmp_path / f"{SLUG}_{label}.zip"
    path.write_bytes(zip_bytes)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = http.import_local(path, dataset="dfe_sen")
    context = HarvestContext(resolver=fixture_resolver())
    return harvester.parse({"release": raw}, Release(label=label, files=[]), context)


def observed(parsed, indicator: str) -> dict[tuple[str, str], dict]:
    obs = parsed.observations
    rows = obs[obs.indicator_id == indicator]
    return {(r["area_code"], r["period"]): r for r in rows.to_dict("records")}


def period(time_period: str) -> str:
    return f"{time_period[:4]}/{time_period[4:]}"


def place(row: dict) -> str:
    return row["new_la_code"] or row["region_code"] or row["country_code"]


def headline_rows(rows: list[dict]) -> list[dict]:
    """Rows for all phases and school types, England, regions and LAs (not constituencies)."""
    school_type = "type_of_establishment" if "type_of_establishment" in rows[0] else (
        "establishment_type")  # fmt: skip
    return [
        r
        for r in rows
        if (r["phase_type_grouping"], r[school_type], r["hospital_school"]) == ("Total",) * 3
        and r["geographic_level"] in ("National", "Regional", "Local authority")
        and r["new_la_code"] != "E06000063"  # Cumberland: not in the LA list fixture
    ]


def expected_shares(rows: list[dict], count: str, provision: str, need: str) -> dict:
    """Need share per (area, period), all phases, computed here from the published counts."""
    groups: dict[tuple, dict[str, str]] = {}
    provision_col = "sen_status" if "sen_status" in rows[0] else "sen_provision"
    for r in rows:
        if r["phase_type_grouping"] != "Total" or r[provision_col] != provision:
            continue
        if r["new_la_code"] == "E06000063":
            continue
        key = (place(r), period(r["time_period"]))
        groups.setdefault(key, {})[label_key(r["sen_primary_need"])] = r[count]
    return {k: (float(g[need]), float(g["total"])) for k, g in groups.items() if need in g}


def test_2016_2025_shape_gives_the_published_values(tmp_path):
    parsed = parse(tmp_path, release_zip("2025"))
    rows = headline_rows(rows_of(fixture("2025", "sen_phase_type_.csv")))
    assert {period(r["time_period"]) for r in rows} == {"2023/24", "2024/25"}
    for indicator, column, numerator in [
        ("sen_ehcp_pct", "ehc_plan_percent", "ehc_plan"),
        ("sen_support_pct", "sen_support_percent", "sen_support"),
    ]:
        got = observed(parsed, indicator)
        assert len(got) == len(rows)
        for r in rows:
            obs = got[(place(r), period(r["time_period"]))]
            assert obs["value"] == float(r[column])
            assert obs["numerator"] == float(r[numerator])
            assert obs["denominator"] == float(r["total_pupils"])
            assert obs["status"] is None and obs["breakdown"] == "Total"
    pupils = observed(parsed, "sen_ehcp_pupils")
    assert {k: o["value"] for k, o in pupils.items()} == {
        (place(r), period(r["time_period"])): float(r["ehc_plan"]) for r in rows
    }


def test_2026_long_shape_is_spread_to_the_same_indicators(tmp_path):
    parsed = parse(tmp_path, release_zip("2026"), label="2025-26")
    rows = headline_rows(rows_of(fixture("2026", "sen_phase_type.csv")))
    by_group: dict[str, dict[str, dict]] = {}
    for r in rows:
        by_group.setdefault(place(r), {})[r["sen_provision"]] = r
    got = observed(parsed, "sen_ehcp_pct")
    assert {k[0] for k in got} == set(by_group)
    for code, group in by_group.items():
        obs = got[(code, "2025/26")]
        assert obs["value"] == float(group[EHC]["pupil_percent"])
        assert obs["numerator"] == float(group[EHC]["pupil_count"])
        assert obs["denominator"] == float(group["Total"]["pupil_count"])
        support = observed(parsed, "sen_support_pupils")[(code, "2025/26")]
        assert support["value"] == float(group[SUPPORT]["pupil_count"])
    raw = parsed.raw_tables["raw_dfe_sen_sen_phase_type"]
    published = rows_of(fixture("2026", "sen_phase_type.csv"))
    groups = {tuple(r[c] for c in ("time_period", "geographic_level", "new_la_code",
              "pcon_code", "phase_type_grouping")) for r in published}  # fmt: skip
    assert len(raw) == len(groups)  # one wide row per group, constituencies included
    assert "E14001172" in set(raw["pcon_code"])
    assert "E14001172" not in set(parsed.observations["source_area_code"])


@pytest.mark.parametrize("shape", ["2025", "2026"])
def test_need_shares_are_computed_from_the_published_counts(tmp_path, shape):
    parsed = parse(tmp_path, release_zip(shape))
    rows = rows_of(fixture(shape, NAMES[shape][1]))
    count = "number_of_pupils" if shape == "2025" else "total_pupil_count"
    for group, provision in (("ehcp", EHC), ("support", SUPPORT)):
        for short, need in NEEDS.items():
            indicator = f"sen_{'ehcp' if group == 'ehcp' else 'support'}_need_{short}_pct"
            want = expected_shares(rows, count, provision, need)
            got = observed(parsed, indicator)
            assert set(got) == set(want) and want
            for key, (n, d) in want.items():
                assert got[key]["value"] == pytest.approx(100 * n / d, rel=1e-9)
                assert (got[key]["numerator"], got[key]["denominator"]) == (n, d)


def test_symbols_are_kept_and_carried_into_shares(tmp_path):
    phase = fixture("2025", "sen_phase_type_.csv")
    ncyear = fixture("2025", "sen_ncyear_.csv")
    shropshire_total = next(
        line for line in phase.split(b"\r\n") if b",E06000051,Total,Total,Total," in line
    )
    assert shropshire_total.startswith(b"202425,")
    cells = shropshire_total.split(b",")
    phase = phase.replace(shropshire_total, b",".join([*cells[:-1], b"z"]))
    asd = next(
        line
        for line in ncyear.split(b"\r\n")
        if b",E06000051,Total," in line and b"Autistic Spectrum Disorder" in line
    )
    cells = asd.split(b",")
    at = cells.index(b"Autistic Spectrum Disorder") + 1
    ncyear = ncyear.replace(asd, b",".join([*cells[:at], b"x", *cells[at + 1 :]]))
    parsed = parse(
        tmp_path, release_zip("2025", {"sen_phase_type_.csv": phase, "sen_ncyear_.csv": ncyear})
    )
    ehcp = observed(parsed, "sen_ehcp_pct")[("E06000051", "2024/25")]
    assert pd.isna(ehcp["value"]) and ehcp["status"] == "z"
    need = observed(parsed, "sen_ehcp_need_asd_pct")[("E06000051", "2024/25")]
    assert pd.isna(need["value"]) and need["status"] == "x"
    # Published as is: x for a school type with no pupils; z for a share of a group of none.
    raw_phase = parsed.raw_tables["raw_dfe_sen_sen_phase_type"]
    empty = raw_phase[raw_phase["type_of_establishment"] == "Independent special school"]
    assert list(empty["ehc_plan_percent"]) == ["x"] and list(empty["total_pupils"]) == ["0"]
    raw_need = parsed.raw_tables["raw_dfe_sen_sen_ncyear"]
    none = raw_need[raw_need["phase_type_grouping"] == "Non-maintained special school"]
    assert set(none["need_pupil_total"]) == {"0"} and set(none["need_percent"]) == {"z"}


@pytest.mark.parametrize("shape", ["2025", "2026"])
def test_unmatched_las_are_reported_and_reorganised_ones_filed(tmp_path, shape):
    parsed = parse(tmp_path, release_zip(shape))
    rows = [r for n in NAMES[shape] for r in rows_of(fixture(shape, n))]
    known = set(fixture_resolver().areas["area_code"])
    expected = sorted(
        {
            f"{r['la_name']} ({r['new_la_code']} / {r['old_la_code']}): unknown"
            for r in rows
            if r["geographic_level"] == "Local authority" and r["new_la_code"] not in known
        }
    )
    assert parsed.unmatched_areas == expected == ["Cumberland (E06000063 / 942): unknown"]
    areas = set(parsed.observations["area_code"])
    assert {"E06000065", "E06000051", "E09000033"} <= areas
    assert "E06000063" not in areas


def test_renamed_column_fails_with_columns_listed(tmp_path):
    data = fixture("2025", "sen_phase_type_.csv").replace(b",ehc_plan_percent", b",ehcp_percent")
    with pytest.raises(LayoutError) as err:
        parse(tmp_path, release_zip("2025", {"sen_phase_type_.csv": data}))
    assert err.value.dataset == "dfe_sen" and err.value.file == "sen_phase_type_.csv"
    assert err.value.missing == ["ehc_plan_percent"]
    assert err.value.unexpected == ["ehcp_percent"]


def test_unknown_provision_is_kept_raw_and_duplicates_refused(tmp_path):
    data = fixture("2026", "sen_phase_type.csv")
    england = next(line for line in data.split(b"\r\n") if b",National," in line)
    cells = england.split(b",")
    extra = b",".join([*cells[:15], b"No SEN provision", b"7000000", b"77.5"])
    assert england.count(b",") == extra.count(b",")
    (tmp_path / "a").mkdir()
    parsed = parse(tmp_path / "a", release_zip("2026", {"sen_phase_type.csv": data + extra}))
    raw = parsed.raw_tables["raw_dfe_sen_sen_phase_type"]
    assert list(
        raw["pupil_count: No SEN provision"][raw["pupil_count: No SEN provision"] != ""]
    ) == ["7000000"]
    (tmp_path / "b").mkdir()
    with pytest.raises(BadFileError, match="sen_phase_type.csv .*cannot be reshaped"):
        parse(tmp_path / "b", release_zip("2026", {"sen_phase_type.csv": data + england}))


@responses.activate(assert_all_requests_are_fired=False)
def test_latest_release_found_and_loaded(tmp_path):
    add_publishers(responses)
    latest, zip_url = add_ees_release(responses, SLUG, RELEASE_ID, "2025-26", release_zip("2026"))
    db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_sen"])
    result = results["dfe_sen"]
    assert result.status == "loaded", result.error
    assert result.release == "2025-26"
    assert result.unmatched_areas == ["Cumberland (E06000063 / 942): unknown"]
    fetched = [c.request.url for c in responses.calls if SLUG in c.request.url or RELEASE_ID in
               c.request.url]  # fmt: skip
    assert fetched == [latest, zip_url]
    rows = rows_of(fixture("2026", "sen_phase_type.csv"))
    want = {r["sen_provision"]: r for r in headline_rows(rows) if r["new_la_code"] == "E06000065"}
    got = db.execute(
        "select value, numerator, denominator, period from observations "
        "where indicator_id = 'sen_support_pct' and area_code = 'E06000065'"
    ).fetchall()
    assert got == [
        (
            float(want[SUPPORT]["pupil_percent"]),
            float(want[SUPPORT]["pupil_count"]),
            float(want["Total"]["pupil_count"]),
            "2025/26",
        )
    ]
    assert db.execute(
        "select source, status from harvests where dataset_id = 'dfe_sen'"
    ).fetchone() == (zip_url, "loaded")


def test_changed_layout_fails_clearly_and_keeps_the_last_load(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2024-25", release_zip("2025"))
        db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_sen"])
    assert results["dfe_sen"].status == "loaded"
    before = snapshot(db, "dfe_sen")
    renamed = fixture("2026", "sen_phase_type.csv").replace(b",pupil_percent", b",percent_pupils")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(
            rsps,
            SLUG,
            "9d8e7f60-1a2b-4c3d-8e9f-0a1b2c3d4e5f",
            "2025-26",
            release_zip("2026", {"sen_phase_type.csv": renamed}),
        )
        db, results = run_refresh(tmp_path, ["dfe_areas", "dfe_sen"])
    result = results["dfe_sen"]
    assert result.status == "failed"
    for part in ("dfe_sen", "sen_phase_type.csv", "missing columns: pupil_percent",
                 "percent_pupils"):  # fmt: skip
        assert part in result.error
    assert snapshot(db, "dfe_sen") == before
