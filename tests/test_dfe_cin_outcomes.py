"""Outcomes for children in need (dfe_cin_outcomes): fixture parsing, layouts, network, real files.

Expected values are read here with the csv module, from the fixture (cut byte for byte from the
real files, see tests/fixtures/README.md) or from ../shared/data/dfe/children-in-need, never from
sendbench's output. Area codes: each file's own code, except North Yorkshire's pre-2023 code
E10000023 (the SEN file), which the areas table files under E06000065 (same DfE code, 815).
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path

import pytest
import responses
from conftest import (
    CONTENT_API,
    FIXTURES,
    SHARED_DATA,
    add_ees_release,
    add_publishers,
    ees_latest_release,
    ees_zip,
    fixture_resolver,
    needs_shared_data,
    run_refresh,
    snapshot,
)

from sendbench.catalogue import load_catalogue
from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import HarvestContext, Release
from sendbench.harvesters.dfe.cin_outcomes import Harvester
from sendbench.http import HttpClient

DATASET = "dfe_cin_outcomes"
SLUG = (
    "outcomes-for-children-in-need-including-children-looked-after-by-local-authorities-in-england"
)
RELEASE_ID = "0c1e5a6b-2025-4c1a-9e1d-c1a0c1a02025"  # illustrative: the fixture is not one release
HERE = FIXTURES / "dfe" / "cin_outcomes"
REAL = SHARED_DATA / "dfe" / "children-in-need"
CINO, CPPO, CLA = "CINO at 31 March", "CPPO at 31 March", "CLA 12 months at 31 March"
RENAMED = {"E10000023": "E06000065"}  # DOMAIN.md: North Yorkshire, same DfE code 815
LEVELS = ("National", "Regional", "Local authority")

# indicator -> (file, value column, numerator, denominator, row filter); written from the data
# guidance and the catalogue's definitions, kept here so the tests do not read the module.
INDICATORS = {
    "cin_cla_ehcp_pct": (
        "sen_la.csv",
        "pt_statement_or_EHC_plan",
        "t_statement_or_EHC_plan",
        "t_pupils",
        {"social_care_group": CLA},
    ),
    "cin_cino_sen_support_pct": (
        "sen_la.csv",
        "pt_SEN_support",
        "t_SEN_support",
        "t_pupils",
        {"social_care_group": CINO},
    ),
    "cin_all_pupils_ehcp_pct": (
        "sen_national.csv",
        "pt_statement_or_EHC_plan",
        "t_statement_or_EHC_plan",
        "t_pupils",
        {"social_care_group": "All pupils comparison"},
    ),
    "cin_cino_ks2_rwm_pct": (
        "ks2_la.csv",
        "pt_rwm_met_expected_standard",
        "t_rwm_met_expected_standard",
        "t_rwm_eligible_pupils",
        {"social_care_group": CINO},
    ),
    "cin_cla_ks2_rwm_pct": (
        "ks2_la.csv",
        "pt_rwm_met_expected_standard",
        "t_rwm_met_expected_standard",
        "t_rwm_eligible_pupils",
        {"social_care_group": CLA},
    ),
    "cin_cla_ks4_attainment8": (
        "ks4_la.csv",
        "avg_att8",
        "t_att8",
        "t_pupils",
        {"social_care_group": CLA},
    ),
    "cin_cppo_persistent_absence_pct": (
        "absence_la.csv",
        "pt_pupils_pa_10_exact",
        "t_pupils_pa_10_exact",
        "t_pupils",
        {"social_care_group": CPPO, "phase_type_grouping": "Total"},
    ),
    "cin_cla_overall_absence_pct": (
        "absence_la.csv",
        "pt_overall",
        "t_sess_overall",
        "t_sess_possible",
        {"social_care_group": CLA, "phase_type_grouping": "Total"},
    ),
}
REAL_NAMES = {
    "sen_la.csv": "cin_cla_sen_la.csv",
    "sen_national.csv": "cin_cla_sen_national.csv",
    "ks2_la.csv": "outcomes_ks2_la.csv",
    "ks4_la.csv": "outcomes_ks4_la.csv",
    "absence_la.csv": "outcomes_absence_la.csv",
}


# --- reading files independently ---------------------------------------------------------------


def read_rows(path: Path) -> list[dict]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))


def fixture_rows(name: str) -> list[dict]:
    return read_rows(HERE / "data" / name)


def period(time_period: str) -> str:
    return f"{time_period[:4]}/{time_period[4:]}"


def place(row: dict) -> str:
    level = row["geographic_level"]
    if level == "National":
        return row["country_code"] or "E92000001"
    if level == "Regional":
        return row["region_code"]
    return RENAMED.get(row["new_la_code"], row["new_la_code"])


def number(cell: str) -> float | None:
    try:
        return float(cell)
    except ValueError:
        return None


def expected(rows: list[dict], indicator: str, areas: set[str]) -> dict[tuple, dict]:
    """(area, period) -> value, status, numerator, denominator for headline rows of ``areas``."""
    _, column, num, den, wanted = INDICATORS[indicator]
    found = {}
    for row in rows:
        if row["geographic_level"] not in LEVELS or place(row) not in areas:
            continue
        if all(row[c] == v for c, v in wanted.items()):
            cell = row[column]
            found[(place(row), period(row["time_period"]))] = {
                "value": number(cell),
                "status": None if number(cell) is not None else cell,
                "numerator": number(row[num]),
                "denominator": number(row[den]),
            }
    return found


def assert_same(got: dict, want: dict, label) -> None:
    for key in ("value", "numerator", "denominator"):
        if want[key] is None:
            assert got[key] is None or math.isnan(got[key]), (label, key, got[key])
        else:
            assert got[key] == pytest.approx(want[key]), (label, key, got[key], want[key])
    assert got["status"] == want["status"], (label, got["status"], want["status"])


def las_codes(path: Path) -> set[str]:
    return {row["new_la_code"] for row in read_rows(path)}


# --- parsing the fixture ----------------------------------------------------------------------


def cin_zip(replace: dict[str, bytes] | None = None, drop: tuple[str, ...] = ()) -> bytes:
    """The fixture laid out as the release's "Download all data" zip."""
    members = {
        f"data/{p.name}": p.read_bytes()
        for p in sorted((HERE / "data").glob("*.csv"))
        if p.name not in drop
    }
    for name, data in (replace or {}).items():
        members[f"data/{name}"] = data
    members["data-guidance/data-guidance.txt"] = b"Outcomes for children in need\n"
    return ees_zip(members)


def parse(tmp_path, zip_bytes: bytes):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset(DATASET), catalogue)
    path = tmp_path / f"{SLUG}_2025.zip"
    path.write_bytes(zip_bytes)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = http.import_local(path, dataset=DATASET)
    release = Release(label="2025", files=[])
    return harvester.parse({"release": raw}, release, HarvestContext(resolver=fixture_resolver()))


def observations(parsed, indicator: str, breakdown: str = "Total") -> dict[tuple, dict]:
    obs = parsed.observations
    rows = obs[(obs.indicator_id == indicator) & (obs.breakdown == breakdown)]
    return {(r["area_code"], r["period"]): r for r in rows.to_dict("records")}


@pytest.fixture(scope="module")
def fixture_parse(tmp_path_factory):
    return parse(tmp_path_factory.mktemp("cin"), cin_zip())


@pytest.mark.parametrize("indicator", sorted(INDICATORS))
def test_headline_values_match_the_fixture(fixture_parse, indicator):
    known = las_codes(FIXTURES / "dfe" / "las" / "las.csv") | {"E92000001", "E12000003"}
    want = expected(fixture_rows(INDICATORS[indicator][0]), indicator, known)
    got = observations(fixture_parse, indicator)
    assert want and set(got) == set(want)
    for key, values in want.items():
        assert_same(got[key], values, (indicator, key))


def test_symbols_become_status_never_zero(fixture_parse):
    obs = fixture_parse.observations
    symbols = obs[obs.status.notna()]
    assert {"c", "x"} <= set(symbols.status)  # Westminster (c), England KS2 in 2020/21 (x)
    assert symbols.value.isna().all()
    westminster = observations(fixture_parse, "cin_cla_ks2_rwm_pct")[("E09000033", "2024/25")]
    row = next(
        r
        for r in fixture_rows("ks2_la.csv")
        if r["new_la_code"] == "E09000033"
        and r["time_period"] == "202425"
        and r["social_care_group"] == CLA
    )
    assert westminster["status"] == row["pt_rwm_met_expected_standard"] == "c"


def test_reorganised_councils_are_filed_under_their_codes(fixture_parse):
    sen = observations(fixture_parse, "cin_cla_ehcp_pct")
    # North Yorkshire: published as E10000023 in the SEN file, filed under E06000065.
    north_yorkshire = sen[("E06000065", "2021/22")]
    assert north_yorkshire["source_area_code"] == "E10000023"
    # Northamptonshire until 2020/21, then its two successors.
    assert ("E10000021", "2020/21") in sen and ("E10000021", "2021/22") not in sen
    assert {("E06000061", "2021/22"), ("E06000062", "2021/22")} <= set(sen)


def test_unmatched_las_are_reported_not_dropped_silently(fixture_parse):
    listed = las_codes(FIXTURES / "dfe" / "las" / "las.csv")
    missing = set()
    for name in REAL_NAMES:
        for row in fixture_rows(name):
            if row["geographic_level"] == "Local authority" and row["new_la_code"] not in listed:
                missing.add(f"{row['la_name']} ({row['new_la_code']} / {row['old_la_code']})")
    assert len(missing) == 3  # Cumbria, Cumberland, Herefordshire: not in the LA list fixture
    assert {u.split(": ")[0] for u in fixture_parse.unmatched_areas} == missing
    codes = set(fixture_parse.observations.area_code)
    assert not codes & {"E10000006", "E06000063", "E06000019", "E13000001"}


def test_absence_phases_are_breakdowns_of_the_total(fixture_parse):
    obs = fixture_parse.observations
    got = obs[
        (obs.indicator_id == "cin_cino_overall_absence_pct")
        & (obs.area_code == "E06000065")
        & (obs.period == "2024/25")
    ].set_index("breakdown")
    rows = [
        r
        for r in fixture_rows("absence_la.csv")
        if r["new_la_code"] == "E06000065" and r["social_care_group"] == CINO
    ]
    phases = {
        "Total"
        if r["phase_type_grouping"] == "Total"
        else f"phase_type_grouping: {r['phase_type_grouping']}": r
        for r in rows
    }
    assert len(phases) == 5 and set(got.index) == set(phases)
    for label, row in phases.items():
        assert got.loc[label, "value"] == float(row["pt_overall"])
        assert got.loc[label, "denominator"] == float(row["t_sess_possible"])


def test_version_becomes_flag(fixture_parse):
    got = observations(fixture_parse, "cin_cino_ks4_attainment8")
    versions = {
        (place(r), period(r["time_period"])): r["version"].lower()
        for r in fixture_rows("ks4_la.csv")
        if r["social_care_group"] == CINO and place(r) in {"E92000001", "E06000060"}
    }
    assert set(versions.values()) == {"final", "revised"}
    for key, flag in versions.items():
        assert got[key]["flag"] == flag


def test_raw_tables_keep_every_published_row(fixture_parse):
    for name in REAL_NAMES:
        table = fixture_parse.raw_tables[f"raw_{DATASET}_{name.removesuffix('.csv')}"]
        assert len(table) == len(fixture_rows(name))


# --- layouts of other releases ----------------------------------------------------------------


def test_2023_absence_layout_is_renamed(tmp_path):
    layout = HERE / "layouts" / "absence_six_half_terms_la_2023.csv"
    zipped = cin_zip(
        {"absence_six_half_terms_la.csv": layout.read_bytes()}, drop=("absence_la.csv",)
    )
    parsed = parse(tmp_path, zipped)
    rows = read_rows(layout)
    want = expected(
        [{**r, "phase_type_grouping": r["school_type"]} for r in rows],
        "cin_cla_overall_absence_pct",
        {"E10000021"},
    )
    got = observations(parsed, "cin_cla_overall_absence_pct")
    assert want and set(want) <= set(got)
    for key, values in want.items():
        assert_same(got[key], values, key)
    ap = observations(
        parsed, "cin_cla_overall_absence_pct", "phase_type_grouping: State-funded AP school"
    )
    ap_row = next(
        r
        for r in rows
        if r["school_type"] == "State-funded AP school" and r["new_la_code"] == "E10000021"
    )
    assert ap[("E10000021", "2020/21")]["value"] == float(ap_row["pt_overall"])


def test_2025_tidy_sen_file_is_pivoted(tmp_path):
    tidy = HERE / "layouts" / "sen_national_2025_tidy.csv"
    parsed = parse(tmp_path, cin_zip({"sen_national.csv": tidy.read_bytes()}))
    rows = {
        (r["social_care_group"], r["sen_provision"], r["sen_primary_need"]): r
        for r in read_rows(tidy)
    }
    comparison = "All pupils comparison"
    ehc = rows[(comparison, "Education, health and care plan", "Total")]
    pupils = rows[(comparison, "All pupils", "Total")]
    got = observations(parsed, "cin_all_pupils_ehcp_pct")[("E92000001", "2024/25")]
    assert got["value"] == float(ehc["pupil_percent"])
    assert got["numerator"] == float(ehc["pupil_count"])
    assert got["denominator"] == float(pupils["pupil_count"])
    support = observations(parsed, "cin_all_pupils_sen_support_pct")[("E92000001", "2024/25")]
    assert support["value"] == float(rows[(comparison, "SEN support", "Total")]["pupil_percent"])
    raw = parsed.raw_tables[f"raw_{DATASET}_sen_national"]
    assert "sen_primary_need" in raw.columns and len(raw) == len(rows)  # as published


def test_tidy_file_without_a_needed_total_fails_clearly(tmp_path):
    tidy = (HERE / "layouts" / "sen_national_2025_tidy.csv").read_bytes()
    relabelled = tidy.replace(b",SEN support,", b",SEN Support,")
    with pytest.raises(HarvestError) as err:
        parse(tmp_path, cin_zip({"sen_national.csv": relabelled}))
    message = str(err.value)
    assert message.startswith(f"{DATASET}: sen_national.csv")
    assert "SEN support/Total" in message and "SEN Support/Total" in message


def test_renamed_column_fails_with_columns_listed(tmp_path):
    data = (HERE / "data" / "ks2_la.csv").read_bytes()
    renamed = data.replace(b",pt_rwm_met_expected_standard,", b",pt_rwm_expected,", 1)
    with pytest.raises(LayoutError) as err:
        parse(tmp_path, cin_zip({"ks2_la.csv": renamed}))
    assert err.value.dataset == DATASET and err.value.file == "ks2_la.csv"
    assert err.value.missing == ["pt_rwm_met_expected_standard"]
    assert err.value.unexpected == ["pt_rwm_expected"]


def test_relabelled_social_care_group_fails(tmp_path):
    data = (HERE / "data" / "ks4_la.csv").read_bytes()
    relabelled = data.replace(CLA.encode(), b"CLA for 12 months at 31 March")
    with pytest.raises(HarvestError, match="cin_cla_ks4_attainment8: no row of ks4_la.csv"):
        parse(tmp_path, cin_zip({"ks4_la.csv": relabelled}))


# --- the network path -------------------------------------------------------------------------


@responses.activate
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    latest, zip_url = add_ees_release(responses, SLUG, RELEASE_ID, "2025", cin_zip())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert (result.status, result.release) == ("loaded", "2025"), result.error
    assert {c.request.url for c in responses.calls} >= {latest, zip_url}
    indicator = "cin_cla_ks2_rwm_pct"
    got = {
        (r["area_code"], r["period"]): r
        for r in db["observations"].rows_where(
            "indicator_id = ? and breakdown = 'Total'", [indicator]
        )
    }
    want = expected(fixture_rows("ks2_la.csv"), indicator, {"E92000001", "E06000065", "E06000060"})
    assert len(want) == 7  # three periods for England (2020/21 is x), two for each LA
    for key, values in want.items():
        assert_same(got[key], values, key)
    source = db.execute(f"select source from harvests where dataset_id = '{DATASET}'").fetchone()
    assert source[0] == zip_url


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("html page", ["expected a zip", "HTML"]),
        (
            "renamed column",
            ["ks4_la.csv", "missing columns: avg_att8", "unexpected columns: avg_attainment8"],
        ),
    ],
)
def test_fault_keeps_previous_data(tmp_path, fault, message):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2025", cin_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        if fault == "html page":
            latest = f"{CONTENT_API}/publications/{SLUG}/releases/latest"
            rsps.get(latest, json=ees_latest_release(SLUG, RELEASE_ID, "2025", "2025-04-02"))
            rsps.get(
                f"{CONTENT_API}/releases/{RELEASE_ID}/files",
                body="<!DOCTYPE html><html><body>Service unavailable</body></html>",
                content_type="text/html",
            )
        else:
            ks4 = (HERE / "data" / "ks4_la.csv").read_bytes()
            body = cin_zip({"ks4_la.csv": ks4.replace(b",avg_att8,", b",avg_attainment8,", 1)})
            add_ees_release(rsps, SLUG, RELEASE_ID, "2025", body)
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET])

    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith(f"{DATASET}: ")
    for part in message:
        assert part in result.error, result.error
    assert snapshot(db, DATASET) == before


# --- the real published files -----------------------------------------------------------------


@pytest.fixture(scope="module")
def real_refresh(tmp_path_factory):
    db, results = run_refresh(
        tmp_path_factory.mktemp("real"), ["dfe_areas", DATASET], from_dir=SHARED_DATA
    )
    return db, results[DATASET]


def real_rows(name: str) -> list[dict]:
    return read_rows(REAL / REAL_NAMES[name])


# England, North Yorkshire (renamed code), Buckinghamshire, Northamptonshire and its successors,
# Cumbria and its successors, and a quoted name.
REAL_AREAS = {
    "E92000001",
    "E06000065",
    "E06000060",
    "E10000021",
    "E06000061",
    "E06000062",
    "E10000006",
    "E06000063",
    "E06000064",
    "E06000010",
}


@needs_shared_data
@pytest.mark.parametrize("indicator", sorted(INDICATORS))
def test_real_values_match_the_published_files(real_refresh, indicator):
    db, result = real_refresh
    assert result.status == "loaded", result.error
    want = expected(real_rows(INDICATORS[indicator][0]), indicator, REAL_AREAS)
    assert len({area for area, _ in want}) >= (1 if "national" in INDICATORS[indicator][0] else 4)
    rows = db["observations"].rows_where(
        "indicator_id = ? and breakdown = 'Total'", [indicator], select="*"
    )
    got = {(r["area_code"], r["period"]): r for r in rows if r["area_code"] in REAL_AREAS}
    assert set(got) == set(want)
    for key, values in want.items():
        assert_same(got[key], values, (indicator, key))


@needs_shared_data
def test_real_files_every_row_accounted_for(real_refresh):
    db, result = real_refresh
    listed = las_codes(SHARED_DATA / "lookups" / "dfe_qa_las.csv")
    unknown = set()
    for name in REAL_NAMES:
        for row in real_rows(name):
            if row["geographic_level"] == "Local authority" and row["new_la_code"] not in listed:
                unknown.add(f"{row['la_name']} ({row['new_la_code']} / {row['old_la_code']})")
    assert {u.split(": ")[0] for u in result.unmatched_areas} == unknown
    # Every CLA row of the KS2 file at an area level the areas table knows is an observation.
    regions = {r["region_code"] for r in read_rows(SHARED_DATA / "lookups" / "dfe_qa_regions.csv")}
    kept = [
        r
        for r in real_rows("ks2_la.csv")
        if r["social_care_group"] == CLA
        and (r["geographic_level"] != "Regional" or r["region_code"].startswith("E12"))
    ]
    assert all(r["region_code"] in regions for r in kept if r["geographic_level"] == "Regional")
    count = db.execute(
        "select count(*) from observations where indicator_id = 'cin_cla_ks2_rwm_pct'"
    ).fetchone()[0]
    assert count == len(kept)
