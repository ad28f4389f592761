"""LAIT: parsing the real-format fixture, the GitHub network path, a fault, and the real files.

Expected values are read here, independently of sendbench, from the parquet (pyarrow/pandas),
the dictionary (csv) and, for cross-checks, the real EHC plans and CIN outcomes releases.
"""

from __future__ import annotations

import csv
import io
import json
import re
import zipfile
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import responses
from conftest import (
    EHCP_ZIP,
    FIXTURES,
    LAS_URL,
    REGIONS_URL,
    SHARED_DATA,
    fixture_bytes,
    needs_shared_data,
    run_refresh,
    snapshot,
)
from responses import matchers

from sendbench.areas import AreaResolver, build_areas
from sendbench.catalogue import load_catalogue
from sendbench.errors import LayoutError
from sendbench.harvesters.base import HarvestContext, Release
from sendbench.harvesters.dfe.lait import Harvester, lait_period
from sendbench.http import HttpClient
from sendbench.normalise import PeriodError

LAIT = FIXTURES / "dfe" / "lait"
REAL = SHARED_DATA / "dfe" / "lait"
REPO = "dfe-analytical-services/local-authority-interactive-tool"
API = f"https://api.github.com/repos/{REPO}"
COMMITS_URL = f"{API}/commits"
CONTENTS_URL = f"{API}/contents/01_data/02_prod"
SHA = json.loads((LAIT / "commits.json").read_text())[0]["sha"]
FILES = {"data": "bds_long_0.parquet", "dictionary": "lait_data_dictionary.csv",
         "la_codes": "la_code_list.xlsx"}  # fmt: skip
# LAIT area number -> the area sendbench files it under (DOMAIN.md; the LA list).
PLACES = {970: "E92000001", 980: "E12000001", 982: "E12000003", 893: "E06000051",
          825: "E06000060", 815: "E06000065", 928: "E10000021", 940: "E06000061",
          941: "E06000062", 837: "E06000028", 839: "E06000058", 213: "E09000033"}  # fmt: skip


# --- reading the source independently -----------------------------------------------------------


def source_rows(path: Path, measure: str) -> pd.DataFrame:
    frame = pq.read_table(path).to_pandas()
    return frame[frame["Short Desc"] == measure]


def expected_period(label: str, kind: str) -> tuple[str, str | None]:
    """Our own reading of LAIT's year labels: (period, flag)."""
    year, _, marker = label.partition(" (")
    flag = {"Rev)": "revised", "Final)": "final", "prov)": "provisional", "OT)": "outturn"}
    if kind in ("academic", "financial") and re.fullmatch(r"\d{4}", year):
        sep = "/" if kind == "academic" else "-"
        year = f"{int(year) - 1}{sep}{year[2:]}"
    elif kind == "academic":
        year = year.replace("-", "/")
    return year, flag.get(marker)


def expected_cell(cell: str) -> tuple[float | None, str | None]:
    return (None, cell) if cell in ("-", "c", "..") else (float(cell), None)


def excel_day(text: str) -> str:
    return (date(1899, 12, 30) + timedelta(days=int(text))).isoformat()


# --- parsing the fixture ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def resolver() -> AreaResolver:
    def read(name):
        return pd.read_csv(FIXTURES / "dfe" / "las" / name, dtype=str, keep_default_na=False)

    areas, _, combinations = build_areas(read("las.csv"), read("regions.csv"))
    return AreaResolver(areas, combinations)


def parse(tmp_path, resolver, replace: dict[str, bytes] | None = None):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("dfe_lait"), catalogue)
    files = {}
    with HttpClient(tmp_path / "raw", offline=True) as http:
        for key, name in FILES.items():
            path = tmp_path / name
            path.write_bytes((replace or {}).get(name) or (LAIT / name).read_bytes())
            files[key] = http.import_local(path, dataset="dfe_lait")
    return harvester.parse(files, Release(label="local", files=[]), HarvestContext(resolver))


@pytest.fixture(scope="module")
def parsed(tmp_path_factory, resolver):
    return parse(tmp_path_factory.mktemp("lait"), resolver)


def observation(parsed, indicator: str, area: str, period: str) -> pd.Series:
    obs = parsed.observations
    hit = obs[(obs.indicator_id == indicator) & (obs.area_code == area) & (obs.period == period)]
    assert len(hit) == 1, (indicator, area, period, len(hit))
    return hit.iloc[0]


def test_every_published_row_is_kept_raw(parsed):
    raw = parsed.raw_tables
    source = pq.read_table(LAIT / "bds_long_0.parquet").to_pandas()
    assert raw["raw_dfe_lait_data"].reset_index(drop=True).equals(source)
    with open(LAIT / "lait_data_dictionary.csv", encoding="utf-8", newline="") as fh:
        records = list(csv.DictReader(fh))
    assert len(raw["raw_dfe_lait_dictionary"]) == len(records) == 12
    assert len(raw["raw_dfe_lait_la_codes"]) == 14


@pytest.mark.parametrize(
    ("indicator", "measure", "kind"),
    [
        ("lait_ehcp_20_week_timeliness_pct", "SEN_EHC_Excpt_20wks", "calendar"),
        ("lait_phonics_ehcp_pct", "KS1P_EHCP", "academic"),
        ("lait_a_level_aps_per_entry", "APSE_Alevel", "academic"),
        ("lait_sen_weekly_unit_cost", "SENFinance", "financial"),
        ("lait_asq3_offered_pct", "HCP_PHOF", "financial"),
        ("lait_cin_rate_per_10000", "CIN", "reporting"),
        ("lait_cla_suspended_pct", "LAC_Fixed_ Ex", "academic"),
        ("lait_special_school_pupils_suspended_pct", "Spec_ Pup_FixedEx", "academic"),
    ],
)
def test_every_value_flag_and_place_is_as_published(parsed, indicator, measure, kind):
    rows = source_rows(LAIT / "bds_long_0.parquet", measure)
    checked = 0
    for rec in rows.to_dict("records"):
        area = PLACES.get(int(rec["LA Number"]))
        if area is None:
            continue
        period, flag = expected_period(rec["Years"], kind)
        got = observation(parsed, indicator, area, period)
        value, status = expected_cell(rec["Values"])
        assert (None if pd.isna(got["value"]) else got["value"], got["status"]) == (value, status)
        assert got["flag"] == flag and got["breakdown"] == "Total"
        assert got["source_area_code"] == str(int(rec["LA Number"]))
        checked += 1
    assert checked == len(parsed.observations.query("indicator_id == @indicator")) > 0


def test_markers_become_flags_and_periods_have_dates(parsed):
    a_level = observation(parsed, "lait_a_level_aps_per_entry", "E92000001", "2017/18")
    assert a_level["flag"] == "revised"
    assert (a_level["period_start"], a_level["period_end"]) == ("2017-09-01", "2018-08-31")
    assert observation(parsed, "lait_a_level_aps_per_entry", "E92000001", "2019/20")["flag"] == (
        "final"
    )
    assert observation(parsed, "lait_phonics_ehcp_pct", "E06000051", "2024/25")["flag"] == (
        "provisional"
    )
    finance = observation(parsed, "lait_sen_weekly_unit_cost", "E92000001", "2016-17")
    assert (finance["flag"], finance["period_start"]) == ("outturn", "2016-04-01")


def test_notes_name_primaries_that_exist():
    catalogue = load_catalogue()
    known = {ind.id: ind.dataset for ind in catalogue.indicators}
    for ind in catalogue.indicators_for("dfe_lait"):
        for dataset, primary in re.findall(r"\b(dfe_\w+) / (\w+)", ind.notes or ""):
            assert known.get(primary) == dataset, (ind.id, dataset, primary)


def test_dash_is_missing_never_zero(parsed):
    source = pq.read_table(LAIT / "bds_long_0.parquet").to_pandas()
    dashes = source[(source["Values"] == "-") & source["LA Number"].isin(PLACES)]
    registered = {"SEN_EHC_Excpt_20wks", "KS1P_EHCP", "APSE_Alevel", "SENFinance", "HCP_PHOF",
                  "CIN", "LAC_Fixed_ Ex", "Spec_ Pup_FixedEx"}  # fmt: skip
    obs = parsed.observations
    missing = obs[obs.status == "-"]
    assert len(missing) == dashes["Short Desc"].isin(registered).sum() > 0
    assert missing["value"].isna().all()
    assert not (obs["value"].isna() & obs["status"].isna()).any()


def test_unmatched_areas_are_reported_and_groupings_noted(parsed):
    assert parsed.unmatched_areas == ["Cumbria (909): unknown"]
    assert any("London (Inner) (987)" in note for note in parsed.notes)
    assert set(parsed.observations["source_area_code"]) == {str(n) for n in PLACES}


def test_lait_measures_carry_the_dictionary(parsed):
    measures = parsed.tables["lait_measures"].set_index("measure")
    with open(LAIT / "lait_data_dictionary.csv", encoding="utf-8", newline="") as fh:
        rows = {r["Measure_short"]: r for r in csv.DictReader(fh)}
    tribunal_like = measures.loc["SEN_EHC_Excpt_20wks"]
    assert tribunal_like["polarity"] == "higher_is_better"
    assert tribunal_like["unit_label"] == rows["SEN_EHC_Excpt_20wks"]["y_axis_name"]
    assert tribunal_like["last_update"] == excel_day(rows["SEN_EHC_Excpt_20wks"]["Last Update"])
    assert tribunal_like["indicator_id"] == "lait_ehcp_20_week_timeliness_pct"
    assert measures.loc["SENFinance", "polarity"] == "none"
    assert measures.loc["LAC_Fixed_ Ex", "topics"] == (
        "Children Looked After / All Pupil Absence & Exclusions"
    )
    assert measures.loc["RTA", "next_update"] == "Discontinued"
    assert measures.loc["RTA", "first_period"] == "2014 to 2016"
    # the '0' year label is kept raw but is not a period
    assert measures.loc["CINPermExclusion", "first_period"] == "2015/16"
    assert measures.loc["CINPermExclusion", "rows"] == len(
        source_rows(LAIT / "bds_long_0.parquet", "CINPermExclusion")
    )


@pytest.mark.parametrize(
    ("label", "year_type", "expected"),
    [
        ("2025 (prov)", "Academic Year", ("2024/25", "2024-09-01", "2025-08-31", "provisional")),
        ("2025", "Annual - January", ("2024/25", "2024-09-01", "2025-08-31", None)),
        ("2018 (Rev)", "Academic Year", ("2017/18", "2017-09-01", "2018-08-31", "revised")),
        ("2015/16", "Academic Year", ("2015/16", "2015-09-01", "2016-08-31", None)),
        ("2016-17", "Academic Year", ("2016/17", "2016-09-01", "2017-08-31", None)),
        ("2024", "Financial Year", ("2023-24", "2023-04-01", "2024-03-31", None)),
        ("2016-17 (OT)", "Financial Year", ("2016-17", "2016-04-01", "2017-03-31", "outturn")),
        ("2024", "Calendar Year", ("2024", "2024-01-01", "2024-12-31", None)),
        ("2014-16", "Calendar Year", ("2014 to 2016", "2014-01-01", "2016-12-31", None)),
        ("2013/14-15/16", "Financial Year",
         ("2013-14 to 2015-16", "2013-04-01", "2016-03-31", None)),
        ("2025", "Annual", ("2025", "2025-01-01", "2025-12-31", None)),
        ("2024 (Draft)", "Calendar Year", ("2024", "2024-01-01", "2024-12-31", "Draft")),
    ],
)  # fmt: skip
def test_year_labels(label, year_type, expected):
    assert lait_period(label, year_type) == expected


@pytest.mark.parametrize(("label", "year_type"), [("0", "Academic Year"), ("2024", "Termly")])
def test_labels_that_are_not_periods(label, year_type):
    with pytest.raises(PeriodError):
        lait_period(label, year_type)


def test_missing_data_column_fails_with_columns_listed(tmp_path, resolver):
    frame = pq.read_table(LAIT / "bds_long_0.parquet").to_pandas()
    buffer = io.BytesIO()
    frame.rename(columns={"Years": "Year"}).to_parquet(buffer, index=False)
    with pytest.raises(LayoutError) as err:
        parse(tmp_path, resolver, {"bds_long_0.parquet": buffer.getvalue()})
    assert (err.value.missing, err.value.unexpected) == (["Years"], ["Year"])


def test_html_instead_of_parquet_is_refused(tmp_path, resolver):
    with pytest.raises(Exception, match="not a parquet file"):
        parse(tmp_path, resolver, {"bds_long_0.parquet": b"<!DOCTYPE html><html></html>"})


# --- the network path: GitHub API -> raw files pinned to the commit -> refresh -----------------


def add_lait(rsps, sha: str = SHA, dictionary: bytes | None = None) -> None:
    """The LA list and the LAIT data store as GitHub serves them, at commit ``sha``."""
    rsps.get(LAS_URL, body=fixture_bytes("dfe", "las", "las.csv"), content_type="text/plain")
    rsps.get(REGIONS_URL, body=fixture_bytes("dfe", "las", "regions.csv"),
             content_type="text/plain")  # fmt: skip
    commits = json.loads((LAIT / "commits.json").read_text())
    commits[0]["sha"] = sha
    query = {"sha": "main", "path": "01_data/02_prod", "per_page": "1"}
    rsps.get(COMMITS_URL, json=commits, match=[matchers.query_param_matcher(query)])
    contents = (LAIT / "contents.json").read_text().replace(SHA, sha)
    rsps.get(CONTENTS_URL, body=contents, content_type="application/json",
             match=[matchers.query_param_matcher({"ref": sha})])  # fmt: skip
    for name in FILES.values():
        body = dictionary if dictionary and name.endswith(".csv") else (LAIT / name).read_bytes()
        rsps.get(f"https://raw.githubusercontent.com/{REPO}/{sha}/01_data/02_prod/{name}",
                 body=body, content_type="application/octet-stream")  # fmt: skip


def refresh_lait(tmp_path, from_dir=None, datasets=("dfe_areas", "dfe_lait")):
    return run_refresh(tmp_path, datasets, from_dir=from_dir)


def test_latest_release_found_on_github_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        add_lait(rsps)
        db, results = refresh_lait(tmp_path)
    lait = results["dfe_lait"]
    assert (lait.status, lait.release) == ("loaded", "2025-11-20")
    assert lait.unmatched_areas == ["Cumbria (909): unknown"]
    sources = {r[0] for r in db.execute("select source from harvests where dataset_id='dfe_lait'")}
    assert sources == {
        f"https://raw.githubusercontent.com/{REPO}/{SHA}/01_data/02_prod/{name}"
        for name in FILES.values()
    }
    source = source_rows(LAIT / "bds_long_0.parquet", "SEN_EHC_Excpt_20wks")
    expected = source[(source["LA Number"] == 815) & (source["Years"] == "2024")]["Values"]
    row = db.execute(
        "select value, status, source_area_code from observations where "
        "indicator_id = 'lait_ehcp_20_week_timeliness_pct' and area_code = 'E06000065' "
        "and period = '2024'"
    ).fetchone()
    assert row == (float(expected.iloc[0]), None, "815")
    assert db["raw_dfe_lait_data"].count == pq.read_table(LAIT / "bds_long_0.parquet").num_rows
    assert db["lait_measures"].count == 10


def test_unchanged_then_a_dictionary_without_polarity_fails_keeping_the_last_data(tmp_path):
    with responses.RequestsMock() as rsps:
        add_lait(rsps)
        db, _ = refresh_lait(tmp_path)
    before = snapshot(db, "dfe_lait")
    with responses.RequestsMock() as rsps:  # the same commit again: nothing to reload
        add_lait(rsps)
        db, results = refresh_lait(tmp_path)
    assert results["dfe_lait"].status == "unchanged"
    broken = (
        (LAIT / "lait_data_dictionary.csv").read_bytes().replace(b'"Polarity",', b'"Direction",', 1)
    )
    with responses.RequestsMock() as rsps:
        add_lait(rsps, sha="f" * 40, dictionary=broken)
        db, results = refresh_lait(tmp_path)
    assert results["dfe_areas"].status == "unchanged"
    failed = results["dfe_lait"]
    assert failed.status == "failed"
    assert "missing columns: Polarity; unexpected columns: Direction" in failed.error
    assert snapshot(db, "dfe_lait") == before
    assert db.execute("select count(*) from lait_measures").fetchone()[0] == 10


# --- the real data store ------------------------------------------------------------------------

needs_lait = pytest.mark.skipif(not REAL.is_dir(), reason=f"no LAIT files at {REAL}")


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("lait_real")
    db, results = refresh_lait(tmp, SHARED_DATA, ("dfe_areas", "dfe_ehcp", "dfe_lait"))
    assert {k: r.status for k, r in results.items()} == {
        "dfe_areas": "loaded", "dfe_ehcp": "loaded", "dfe_lait": "loaded"}  # fmt: skip
    return db, results["dfe_lait"], pd.read_parquet(REAL / "bds_long_0.parquet")


@needs_shared_data
@needs_lait
def test_real_every_measure_and_row_is_in_the_raw_table(real):
    db, result, source = real
    assert db["raw_dfe_lait_data"].count == len(source) == 641_070
    measures = db.execute("select count(distinct [Short Desc]) from raw_dfe_lait_data").fetchone()
    assert measures[0] == source["Short Desc"].nunique() == 434
    assert db["lait_measures"].count == 434
    assert result.unmatched_areas == []
    assert result.rows_loaded == db["observations"].count_where("dataset_id = 'dfe_lait'")


@needs_shared_data
@needs_lait
@pytest.mark.parametrize(
    ("indicator", "measure", "kind"),
    [
        ("lait_ehcp_20_week_timeliness_pct", "SEN_EHC_Excpt_20wks", "calendar"),
        ("lait_ks2_rwm_ehcp_pct", "NEW_KS2_RWM_Sen_Withsta", "academic"),
        ("lait_cin_persistent_absence_pct", "CINPermAbsent_3Term", "academic"),
        ("lait_mental_health_admissions_rate", "CMH_0-17yrs", "financial"),
        ("lait_a_level_aps_per_entry", "APSE_Alevel", "academic"),
    ],
)
def test_real_values_for_england_and_reorganised_las(real, indicator, measure, kind):
    db, _, source = real
    places = {970: "E92000001", 893: "E06000051", 825: "E06000060", 815: "E06000065",
              940: "E06000061", 928: "E10000021", 839: "E06000058"}  # fmt: skip
    rows = source[(source["Short Desc"] == measure) & source["LA Number"].isin(places)]
    got = {
        (r[0], r[1]): r[2:]
        for r in db.execute(
            "select area_code, period, value, status, flag from observations "
            "where indicator_id = ?",
            [indicator],
        )
    }
    for rec in rows.to_dict("records"):
        period, flag = expected_period(rec["Years"], kind)
        value, status = expected_cell(rec["Values"])
        assert got[(places[int(rec["LA Number"])], period)] == (value, status, flag), rec
    assert len(rows) >= 7 * 7


@needs_shared_data
@needs_lait
def test_real_flags_and_dashes_keep_their_meaning(real):
    db, _, source = real
    flags = dict(db.execute(
        "select period, flag from observations where indicator_id = 'lait_a_level_aps_per_entry' "
        "and area_code = 'E92000001'").fetchall())  # fmt: skip
    england = source[(source["Short Desc"] == "APSE_Alevel") & (source["LA Number"] == 970)]
    assert flags == dict(expected_period(y, "academic") for y in england["Years"])
    assert {"revised", "final", None} == set(flags.values())
    prov = db.execute("select count(*) from observations where flag = 'provisional'").fetchone()
    phonics = source["Short Desc"].isin(["KS1P_EHCP", "KS1P_SEND", "KS1P_NonSEND"])
    placed = ~source["LA Number"].isin([987, 988])
    assert prov[0] == (phonics & placed & source["Years"].str.endswith("(prov)")).sum()
    dash = source[(source["Short Desc"] == "SEN_AppealableDec") & placed & (source.Values == "-")]
    stored = db.execute(
        "select count(*), count(value) from observations "
        "where indicator_id = 'lait_send_tribunal_appeal_rate' and status = '-'"
    ).fetchone()
    assert stored == (len(dash), 0) and len(dash) > 0


@needs_shared_data
@needs_lait
def test_real_overlapping_years_agree_with_the_primary_sources(real):
    db, _, _ = real
    lait = dict(db.execute(
        "select period, value from observations where area_code = 'E92000001' and "
        "indicator_id = 'lait_ehcp_20_week_timeliness_pct'").fetchall())  # fmt: skip
    with zipfile.ZipFile(EHCP_ZIP) as zf:
        text = zf.read("data/timeliness_20_week.csv").decode("utf-8-sig")
    ees = {
        r["time_period"]: float(r["PC_plans_issued_20_weeks_ex"])
        for r in csv.DictReader(io.StringIO(text))
        if r["geographic_level"] == "National" and r["breakdown_topic"] == "All EHC plans issued"
    }
    assert {p: lait[p] for p in ees} == ees and {"2016", "2017", "2018"} < set(lait)
    # LAIT's academic year 2025 is 2024/25: the CIN outcomes file says so independently.
    with open(SHARED_DATA / "dfe/children-in-need/outcomes_absence_la.csv", encoding="utf-8-sig",
              newline="") as fh:  # fmt: skip
        cin = next(
            r for r in csv.DictReader(fh)
            if r["time_period"] == "202425" and r["geographic_level"] == "National"
            and r["social_care_group"] == "CINO at 31 March" and r["phase_type_grouping"] == "Total"
        )  # fmt: skip
    got = db.execute(
        "select value from observations where indicator_id = 'lait_cin_persistent_absence_pct' "
        "and area_code = 'E92000001' and period = '2024/25'"
    ).fetchone()
    assert got[0] == float(cin["pt_pupils_pa_10_exact"])
    # ... and so does the EYFSP 2021/22 file, for England and two LAs (LAIT's year 2022).
    with open(SHARED_DATA / "dfe/attainment/eyfsp_headline_measures_2022.csv",
              encoding="utf-8-sig", newline="") as fh:  # fmt: skip
        eyfsp = {
            r["old_la_code"] or "970": float(r["gld_percentage"])
            for r in csv.DictReader(fh)
            if r["characteristic_type"] == "SEN support" and r["gender"] == "Total"
            and r["geographic_level"] in ("National", "Local authority")
            and r["old_la_code"] in ("", "815", "893")
        }  # fmt: skip
    lait_eyfsp = dict(db.execute(
        "select source_area_code, value from observations where period = '2021/22' and "
        "indicator_id = 'lait_eyfsp_gld_sen_support_pct' and source_area_code in "
        "('970', '815', '893')").fetchall())  # fmt: skip
    assert lait_eyfsp == eyfsp and len(eyfsp) == 3


@needs_shared_data
@needs_lait
def test_real_catalogue_polarity_is_laits(real):
    db, _, _ = real
    with open(REAL / "lait_data_dictionary.csv", encoding="utf-8", newline="") as fh:
        lait = {r["Measure_short"].strip(): r["Polarity"] for r in csv.DictReader(fh)}
    mapping = {"High": "higher_is_better", "Low": "lower_is_better", "-": "none", "NA": "none"}
    indicators = load_catalogue().indicators_for("dfe_lait")
    for ind in indicators:
        assert ind.polarity == mapping[lait[ind.filter["Short Desc"]]], ind.id
    linked = db.execute("select count(*) from lait_measures where indicator_id is not null")
    assert linked.fetchone()[0] == len(indicators)
    updated = db.execute(
        "select last_update from lait_measures where measure = 'SEN_AppealableDec'"
    ).fetchone()[0]
    with open(REAL / "lait_data_dictionary.csv", encoding="utf-8", newline="") as fh:
        row = next(r for r in csv.DictReader(fh) if r["Measure_short"] == "SEN_AppealableDec")
    assert updated == excel_day(row["Last Update"])
