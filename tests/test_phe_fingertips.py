"""OHID Fingertips: parsing the real-format fixture, periods, layouts, the API path and faults.

Expected values are read here from the fixture CSV with the csv module, not from sendbench. No
real Fingertips file is in ../shared/data, so the real-data test checks that ``--from`` skips.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timezone

import pytest
import responses
from conftest import FIXTURES, SHARED_DATA, add_publishers, needs_shared_data, run_refresh
from responses import matchers

from sendbench.catalogue import load_catalogue
from sendbench.errors import BadFileError, LayoutError
from sendbench.harvesters.base import HarvestContext, Parsed, Release
from sendbench.harvesters.phe.fingertips import (
    Harvester,
    fingertips_period,
    read_fingertips_csv,
)
from sendbench.http import HttpClient
from sendbench.normalise import PeriodError
from sendbench.refresh import refresh_one

HERE = FIXTURES / "phe" / "fingertips"
CSV_BYTES = (HERE / "by_indicator_id.csv").read_bytes()
API = "https://fingertips.phe.org.uk/api/"
AREA_TYPES_URL = f"{API}area_types"
DATA_URL = f"{API}all_data/csv/by_indicator_id"
QUERY = {"indicator_ids": "90813,91871,90631,92315", "child_area_type_id": "502",
         "parent_area_type_id": "6"}  # fmt: skip
PLACES = ["E92000001", "E12000008", "E06000065", "E10000016", "E09000033"]


def source_rows(content: bytes = CSV_BYTES) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))


def headline(indicator: str, code: str, period: str) -> dict:
    return next(
        r for r in source_rows()
        if r["Indicator ID"] == indicator and r["Area Code"] == code and r["Sex"] == "Persons"
        and r["Category Type"] == "" and r["Time period"] == period
    )  # fmt: skip


def parse(tmp_path, resolver, content: bytes = CSV_BYTES):
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset("phe_fingertips"), catalogue)
    path = tmp_path / "fingertips_502.csv"
    path.write_bytes(content)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = http.import_local(path, dataset="phe_fingertips")
    release = Release(label="2025-01-01", files=[])
    return harvester.parse({"release": raw}, release, HarvestContext(resolver))


@pytest.fixture(scope="module")
def resolver():
    from conftest import fixture_resolver

    return fixture_resolver()


@pytest.fixture(scope="module")
def parsed(tmp_path_factory, resolver):
    return parse(tmp_path_factory.mktemp("fingertips"), resolver)


def observations(parsed, indicator: str) -> dict:
    frame = parsed.observations[parsed.observations["indicator_id"] == indicator]
    return {(r["area_code"], r["period"]): r for r in frame.to_dict("records")}


# --- parsing the fixture ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("indicator", "fingertips_id", "label", "period", "start"),
    [
        ("ft_self_harm_admissions_10_24_rate", "90813", "2022/23", "2022-23", "2022-04-01"),
        ("ft_semh_pupils_pct", "91871", "2023", "2023", "2023-01-01"),
        ("ft_school_readiness_gld_pct", "90631", "2022/23", "2022/23", "2022-09-01"),
        ("ft_cla_emotional_wellbeing_concern_pct", "92315", "2021/22", "2021-22", "2021-04-01"),
    ],
)
def test_values_counts_and_periods_match_the_csv(parsed, indicator, fingertips_id, label,
                                                 period, start):  # fmt: skip
    got = observations(parsed, indicator)
    for code in PLACES:
        source = headline(fingertips_id, code, label)
        row = got[(code, period)]
        assert row["value"] == pytest.approx(float(source["Value"])), code
        assert row["numerator"] == float(source["Count"])
        assert row["denominator"] == float(source["Denominator"])
        assert (row["status"], row["period_start"], row["source_area_code"]) == (None, start, code)
        assert row["breakdown"] == "Total"


def test_suppressed_value_is_a_status_never_a_zero(parsed):
    source = headline("92315", "E06000001", "2022/23")
    assert source["Value"] == "" and "suppressed" in source["Value note"]
    row = observations(parsed, "ft_cla_emotional_wellbeing_concern_pct")[("E06000001", "2021-22")]
    assert row["value"] == pytest.approx(float(headline("92315", "E06000001", "2021/22")["Value"]))
    row = observations(parsed, "ft_cla_emotional_wellbeing_concern_pct")[("E06000001", "2022-23")]
    assert row["status"] == "suppressed"
    assert row["value"] != row["value"] and row["numerator"] != row["numerator"]  # NaN, not 0


def test_raw_table_keeps_every_row_and_the_confidence_intervals(parsed):
    raw = parsed.raw_tables["raw_phe_fingertips_data"]
    rows = source_rows()
    assert len(raw) == len(rows)
    assert list(raw.columns) == list(rows[0])
    england = raw[(raw["Indicator ID"] == "90813") & (raw["Area Code"] == "E92000001")]
    assert set(england["Sex"]) == {"Persons", "Female"}
    assert (england["Category Type"] != "").sum() == 2
    assert raw["Lower CI 99.8 limit"].iloc[0] == rows[0]["Lower CI 99.8 limit"]


def test_only_headline_persons_rows_become_observations(parsed):
    expected = [
        r for r in source_rows()
        if r["Sex"] == "Persons" and r["Category Type"] == "" and r["Area Code"] != "E06000063"
    ]  # fmt: skip
    assert len(parsed.observations) == len(expected)
    assert not parsed.observations.duplicated(["indicator_id", "area_code", "period"]).any()


def test_unknown_area_is_reported_not_dropped(parsed):
    assert parsed.unmatched_areas == ["Cumberland (E06000063): unknown"]


@pytest.mark.parametrize(
    ("label", "year_type", "expected"),
    [
        ("2023", "financial", ("2023", "2023-01-01", "2023-12-31")),
        ("2022/23", "financial", ("2022-23", "2022-04-01", "2023-03-31")),
        ("2022/23", "academic", ("2022/23", "2022-09-01", "2023-08-31")),
        ("2021 - 23", "financial", ("2021 to 2023", "2021-01-01", "2023-12-31")),
        ("2020/21 - 22/23", "financial", ("2020-21 to 2022-23", "2020-04-01", "2023-03-31")),
        ("2017/18 - 19/20", "academic", ("2017/18 to 2019/20", "2017-09-01", "2020-08-31")),
        ("1999/00", "academic", ("1999/00", "1999-09-01", "2000-08-31")),
    ],
)
def test_fingertips_periods(label, year_type, expected):
    assert fingertips_period(label, year_type) == expected


@pytest.mark.parametrize(
    ("label", "year_type"), [("2022/23", ""), ("2023 Q1", "financial"), ("Mar 2023", "academic")]
)
def test_unknown_periods_are_refused(label, year_type):
    with pytest.raises(PeriodError):
        fingertips_period(label, year_type)


# --- layouts ------------------------------------------------------------------------------------


def test_older_layout_without_time_period_range_and_england_parent_column(tmp_path, resolver):
    lines = CSV_BYTES.decode().splitlines()
    header = (
        lines[0]
        .replace(",Time period range", "")
        .replace(
            "Compared to Regions (statistical) value or percentiles", "Compared to percentiles"
        )
    )
    body = [line.rsplit(",", 1)[0] for line in lines[1:]]
    parsed = parse(tmp_path, resolver, "\r\n".join([header, *body]).encode())
    source = headline("90631", "E10000016", "2022/23")
    got = observations(parsed, "ft_school_readiness_gld_pct")[("E10000016", "2022/23")]
    assert got["value"] == pytest.approx(float(source["Value"]))


def test_changed_column_fails_listing_missing_and_unexpected():
    broken = CSV_BYTES.replace(b",Denominator,", b",Denominator count,", 1)
    with pytest.raises(LayoutError) as err:
        read_fingertips_csv(broken, "phe_fingertips", "x.csv", None, Parsed())
    assert err.value.missing == ["Denominator"]
    assert err.value.unexpected == ["Denominator count"]


@pytest.mark.parametrize("content", [b"", b"\r\n", CSV_BYTES.splitlines(keepends=True)[0]])
def test_an_empty_csv_is_an_error(content):
    with pytest.raises(BadFileError, match="empty file|no rows"):
        read_fingertips_csv(content, "phe_fingertips", "x.csv", None, Parsed())


# --- the API path -------------------------------------------------------------------------------


def add_fingertips(rsps, body: bytes = CSV_BYTES, area_types: bytes | None = None) -> None:
    rsps.get(AREA_TYPES_URL, body=area_types or (HERE / "area_types.json").read_bytes(),
             content_type="application/json")  # fmt: skip
    rsps.get(DATA_URL, body=body, content_type="text/csv",
             match=[matchers.query_param_matcher(QUERY)])  # fmt: skip


def test_network_path_resolves_area_types_and_loads(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_fingertips(rsps)
        db, results = run_refresh(tmp_path, ["dfe_areas", "phe_fingertips"])
    result = results["phe_fingertips"]
    assert result.status == "loaded", result.error
    assert result.release == datetime.now(timezone.utc).date().isoformat()
    assert result.unmatched_areas == ["Cumberland (E06000063): unknown"]
    source = db.execute("select source from harvests where dataset_id = 'phe_fingertips'")
    assert source.fetchone()[0].startswith(f"{DATA_URL}?indicator_ids=90813,91871,90631,92315&")
    assert db["raw_phe_fingertips_data"].count == len(source_rows())
    for code in ("E92000001", "E06000065", "E10000016", "E09000033"):
        expected = headline("90813", code, "2022/23")
        row = db.execute(
            "select value, numerator, denominator from observations where indicator_id = "
            "'ft_self_harm_admissions_10_24_rate' and area_code = ? and period = '2022-23'",
            [code],
        ).fetchone()
        assert row == pytest.approx(
            (float(expected["Value"]), float(expected["Count"]), float(expected["Denominator"]))
        )


@pytest.mark.parametrize(
    ("body", "message"),
    [(b"", "empty file"), (CSV_BYTES.splitlines(keepends=True)[0], "a header but no rows")],
)
def test_an_empty_response_fails_and_keeps_the_last_data(tmp_path, body, message):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_fingertips(rsps)
        db, _ = run_refresh(tmp_path, ["dfe_areas", "phe_fingertips"])
    loaded = db["observations"].count_where("dataset_id = 'phe_fingertips'")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_fingertips(rsps, body=body)
        db, results = run_refresh(tmp_path, ["dfe_areas", "phe_fingertips"])
    failed = results["phe_fingertips"]
    assert failed.status == "failed" and message in failed.error
    assert db["observations"].count_where("dataset_id = 'phe_fingertips'") == loaded > 0


def test_missing_area_type_fails_naming_it(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_fingertips(rsps, area_types=b'[{"Id": 6, "Name": "Regions (statistical)"}]')
        _, results = run_refresh(tmp_path, ["dfe_areas", "phe_fingertips"])
    failed = results["phe_fingertips"]
    assert failed.status == "failed" and "Upper tier local authorities" in failed.error


# --- the real files -----------------------------------------------------------------------------


@needs_shared_data
def test_from_shared_data_the_dataset_is_skipped(tmp_path):
    """No Fingertips file is in ../shared/data: `refresh --from` skips it, naming the file."""
    assert not list(SHARED_DATA.rglob("fingertips_*.csv"))
    db, results = run_refresh(tmp_path, ["dfe_areas"], from_dir=SHARED_DATA)
    assert results["dfe_areas"].status == "loaded"
    catalogue = load_catalogue()
    with HttpClient(tmp_path / "raw", offline=True) as http:
        result = refresh_one(
            db, catalogue, catalogue.dataset("phe_fingertips"), http, from_dir=SHARED_DATA,
            run_id="test", say=lambda *a: None, required=False,  # `refresh --from DIR`
        )  # fmt: skip
    assert result.status == "skipped", result.error
    assert "fingertips_*.csv" in result.error and result.files == []
    # Named explicitly (`refresh phe_fingertips --from DIR`) a missing file is a failure.
    _, results = run_refresh(tmp_path, ["dfe_areas", "phe_fingertips"], from_dir=SHARED_DATA)
    assert results["phe_fingertips"].status == "failed"


def test_a_newer_la_geography_is_used_and_noted(tmp_path):
    listing = json.loads((HERE / "area_types.json").read_text())
    listing.append({"Id": 602, "Name": "Upper tier local authorities (from Apr 2028)"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        rsps.get(AREA_TYPES_URL, json=listing)
        query = matchers.query_param_matcher({**QUERY, "child_area_type_id": "602"})
        rsps.get(DATA_URL, body=CSV_BYTES, content_type="text/csv", match=[query])
        _, results = run_refresh(tmp_path, ["dfe_areas", "phe_fingertips"])
    result = results["phe_fingertips"]
    assert result.status == "loaded", result.error
    assert any("child_area_type is now 602, not 502" in note for note in result.notes)
