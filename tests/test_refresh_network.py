"""The network path end to end: latest release found, zip downloaded, loaded; then unchanged."""

from __future__ import annotations

import json

import pandas as pd
import responses
from conftest import (
    LAS_URL,
    LATEST_URL,
    REGIONS_URL,
    ZIP_URL,
    add_publishers,
    ehcp_fixture_rows,
    ehcp_zip,
    fixture_bytes,
    run_refresh,
)
from responses import matchers

from sendbench.benchmark.report import sources
from sendbench.http import USER_AGENT


def _fixture_value(file: str, column: str, code: str, period: str, topic: str) -> float:
    """Read one headline value straight from the fixture CSV."""
    for row in ehcp_fixture_rows(file):
        level_code = row["new_la_code"] or row["region_code"] or row["country_code"]
        if level_code == code and row["time_period"] == period and row["breakdown_topic"] == topic:
            return float(row[column])
    raise AssertionError(f"{code} {period} not in {file}")


@responses.activate(assert_all_requests_are_fired=True)
def test_latest_release_found_downloaded_and_loaded(tmp_path):
    add_publishers(responses)
    db, results = run_refresh(tmp_path)

    assert {k: r.status for k, r in results.items()} == {
        "dfe_areas": "loaded",
        "dfe_ehcp": "loaded",
    }
    assert results["dfe_ehcp"].release == "2025"
    assert all(call.request.headers["User-Agent"] == USER_AGENT for call in responses.calls)
    rows = {
        (r["area_code"], r["period"]): r
        for r in db["observations"].rows_where(
            "indicator_id = 'ehcp_20_week_timeliness_pct' and breakdown = 'Total'"
        )
    }
    shropshire = rows[("E06000051", "2024")]
    assert shropshire["value"] == _fixture_value(
        "timeliness_20_week.csv",
        "PC_plans_issued_20_weeks_ex",
        "E06000051",
        "2024",
        "All EHC plans issued",
    )
    assert shropshire["numerator"] == _fixture_value(
        "timeliness_20_week.csv",
        "plans_issued_20_weeks_ex",
        "E06000051",
        "2024",
        "All EHC plans issued",
    )
    # North Yorkshire is published under its pre-2023 county code and filed under its current one.
    north_yorkshire = db.execute(
        "select source_area_code, value from observations where indicator_id = 'ehcp_caseload' "
        "and area_code = 'E06000065' and period = '2024/25' and breakdown = 'Total'"
    ).fetchone()
    assert north_yorkshire == (
        "E10000023",
        _fixture_value("caseload.csv", "ehcplans", "E10000023", "202425", "All EHC plans"),
    )
    harvest = db.execute(
        "select source, sha256, bytes, status, published from harvests "
        "where dataset_id = 'dfe_ehcp'"
    ).fetchone()
    assert harvest[0] == ZIP_URL and harvest[3] == "loaded" and harvest[2] == len(ehcp_zip())
    # The release's publication date, as the EES content API gives it (inspection pack sources).
    latest = json.loads(fixture_bytes("dfe", "ehcp", "latest_release.json"))
    assert harvest[4] == latest["published"] and harvest[4]
    shown = sources(db, pd.DataFrame({"dataset_id": ["dfe_ehcp"]})).set_index("dataset_id")
    assert shown.loc["dfe_ehcp", "published"] == latest["published"]


def test_second_refresh_with_nothing_changed_downloads_nothing(tmp_path):
    with responses.RequestsMock() as rsps:
        add_publishers(rsps)
        db, _ = run_refresh(tmp_path)
    before = {t: list(db[t].rows) for t in db.table_names() if t != "harvests"}

    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(LAS_URL, status=304, match=[matchers.header_matcher({"If-None-Match": '"las-1"'})])
        rsps.get(
            REGIONS_URL,
            status=304,
            match=[matchers.header_matcher({"If-None-Match": '"regions-1"'})],
        )
        rsps.get(LATEST_URL, body=open_fixture_release(), content_type="application/json")
        rsps.get(
            ZIP_URL,
            status=304,
            match=[matchers.header_matcher({"If-Modified-Since": "Thu, 26 Jun 2025 09:30:00 GMT"})],
        )
        db, results = run_refresh(tmp_path)
        downloaded = [c.response.status_code for c in rsps.calls if c.request.url != LATEST_URL]

    assert downloaded == [304, 304, 304]
    assert {k: r.status for k, r in results.items()} == {
        "dfe_areas": "unchanged",
        "dfe_ehcp": "unchanged",
    }
    after = {t: list(db[t].rows) for t in db.table_names() if t != "harvests"}
    assert after == before
    statuses = [r[0] for r in db.execute("select status from harvests order by id")]
    assert statuses[-2:] == ["unchanged", "unchanged"]


def open_fixture_release() -> bytes:
    return fixture_bytes("dfe", "ehcp", "latest_release.json")
