"""EHC plans parsing on the real-format fixture: layouts, repeated columns, symbols, breakdowns."""

from __future__ import annotations

import csv
import io
import zipfile

import pandas as pd
import pytest
from conftest import FIXTURES, ehcp_fixture_rows, ehcp_zip, fixture_bytes

from sendbench.areas import AreaResolver, build_areas
from sendbench.catalogue import load_catalogue
from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import HarvestContext, Release
from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.ehcp import Harvester
from sendbench.http import HttpClient


@pytest.fixture(scope="module")
def resolver() -> AreaResolver:
    def read(name):
        return pd.read_csv(FIXTURES / "dfe" / "las" / name, dtype=str, keep_default_na=False)

    areas, _, combinations = build_areas(read("las.csv"), read("regions.csv"))
    return AreaResolver(areas, combinations)


def parse(tmp_path, zip_bytes: bytes, resolver):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("dfe_ehcp"), catalogue)
    path = tmp_path / "education-health-and-care-plans_2025.zip"
    path.write_bytes(zip_bytes)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = http.import_local(path, dataset="dfe_ehcp")
    release = Release(label="2025", files=[])
    return harvester.parse({"release": raw}, release, HarvestContext(resolver=resolver))


def test_repeated_identical_column_is_kept_once():
    data = fixture_bytes("dfe", "ehcp", "data", "annual_reviews.csv")
    header = next(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    frame, notes = ees.read_ees_csv(data, dataset="dfe_ehcp", file="annual_reviews.csv")
    assert header.count("review_meeting_prior_24") == 2
    assert list(frame.columns).count("review_meeting_prior_24") == 1
    assert len(frame.columns) == len(header) - 1
    assert notes == [
        "annual_reviews.csv: column 'review_meeting_prior_24' is repeated with identical values; "
        "one is kept"
    ]


def test_repeated_column_with_different_values_keeps_both():
    data = b"a,b,a\r\n1,2,1\r\n3,4,5\r\n"
    frame, notes = ees.read_ees_csv(data, dataset="d", file="f.csv")
    assert list(frame.columns) == ["a", "b", "a__2"]
    assert frame["a__2"].tolist() == ["1", "5"]
    assert "kept as a__2" in notes[0]


def test_html_instead_of_csv_is_refused():
    with pytest.raises(HarvestError, match="HTML page"):
        ees.read_ees_csv(b"<!DOCTYPE html><html></html>", dataset="dfe_ehcp", file="caseload.csv")


def test_observations_match_the_fixture(tmp_path, resolver):
    parsed = parse(tmp_path, ehcp_zip(), resolver)
    obs = parsed.observations.set_index(["indicator_id", "area_code", "period", "breakdown"])
    for row in ehcp_fixture_rows("caseload.csv"):
        if row["geographic_level"] != "Local authority" or row["new_la_code"] != "E06000051":
            continue
        period = f"{row['time_period'][:4]}/{row['time_period'][4:]}"
        breakdown = (
            "Total"
            if row["breakdown_topic"] == "All EHC plans"
            else f"{row['breakdown_topic']}: {row['breakdown']}"
        )
        got = obs.loc[("ehcp_caseload", "E06000051", period, breakdown)]
        assert got["value"] == float(row["ehcplans"])
        assert got["status"] is None
    assert len(parsed.raw_tables) == 12
    assert len(parsed.raw_tables["raw_dfe_ehcp_caseload"]) == len(ehcp_fixture_rows("caseload.csv"))


def test_symbols_become_status_never_zero(tmp_path, resolver):
    parsed = parse(tmp_path, ehcp_zip(), resolver)
    obs = parsed.observations
    symbols = [
        (r["time_period"], r["PC_plans_issued_gt_1_year_ex"])
        for r in ehcp_fixture_rows("timeliness_20_week.csv")
        if r["geographic_level"] == "National" and r["breakdown_topic"] == "All EHC plans issued"
    ]
    assert ("2019", "x") in symbols
    row = obs[
        (obs.indicator_id == "ehcp_over_1_year_pct")
        & (obs.area_code == "E92000001")
        & (obs.period == "2019")
        & (obs.breakdown == "Total")
    ].iloc[0]
    assert pd.isna(row["value"]) and row["status"] == "x"


def test_unmatched_area_is_reported_not_silently_dropped(tmp_path, resolver):
    data = fixture_bytes("dfe", "ehcp", "data", "caseload.csv").replace(
        b",E09000033,213,Westminster,", b",E09999999,999,Atlantis,"
    )
    parsed = parse(tmp_path, ehcp_zip({"caseload.csv": data}), resolver)
    assert "Atlantis (E09999999 / 999): unknown" in parsed.unmatched_areas
    assert "E09999999" not in set(parsed.observations["source_area_code"])


def test_renamed_indicator_column_fails_with_columns_listed(tmp_path, resolver):
    data = fixture_bytes("dfe", "ehcp", "data", "caseload.csv").replace(
        b",ehcplans,", b",ehc_plans_total,", 1
    )
    with pytest.raises(LayoutError) as err:
        parse(tmp_path, ehcp_zip({"caseload.csv": data}), resolver)
    assert err.value.missing == ["ehcplans"]
    assert err.value.unexpected == ["ehc_plans_total"]
    assert err.value.dataset == "dfe_ehcp"


def test_missing_data_file_is_named(tmp_path, resolver):
    buffer = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(ehcp_zip())) as src, zipfile.ZipFile(buffer, "w") as dst:
        for name in src.namelist():
            if not name.endswith("requests.csv"):
                dst.writestr(name, src.read(name))
    with pytest.raises(HarvestError, match="the release has no file for requests.csv"):
        parse(tmp_path, buffer.getvalue(), resolver)
