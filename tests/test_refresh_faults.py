"""Faults while refreshing: each leaves the dataset's previous data intact, refreshes the others,
and says clearly which dataset, which URL or file, and what went wrong."""

from __future__ import annotations

import pytest
import requests
import responses
from conftest import (
    LAS_URL,
    LATEST_URL,
    REGIONS_URL,
    ZIP_URL,
    add_publishers,
    ehcp_zip,
    fixture_bytes,
    run_refresh,
    snapshot,
)

CHANGED_LAS = fixture_bytes("dfe", "las", "las.csv") + b"\n"  # new bytes: areas must reload


def _renamed_column_zip() -> bytes:
    data = fixture_bytes("dfe", "ehcp", "data", "timeliness_20_week.csv")
    return ehcp_zip(
        {
            "timeliness_20_week.csv": data.replace(
                b"PC_plans_issued_20_weeks_ex,", b"pc_plans_issued_20wks_excl,", 1
            )
        }
    )


def _register_second_run(rsps, fault: str) -> None:
    rsps.get(LAS_URL, body=CHANGED_LAS, headers={"ETag": '"las-2"'})
    rsps.get(REGIONS_URL, status=304)
    latest = fixture_bytes("dfe", "ehcp", "latest_release.json")
    if fault == "connection error":
        rsps.get(LATEST_URL, body=requests.exceptions.ConnectionError("Name or service not known"))
        return
    rsps.get(LATEST_URL, body=latest, content_type="application/json")
    if fault == "timeout":
        rsps.get(ZIP_URL, body=requests.exceptions.ReadTimeout("read timed out"))
    elif fault == "404":
        rsps.get(ZIP_URL, status=404, body="Not Found")
    elif fault == "html page":
        rsps.get(
            ZIP_URL,
            status=200,
            content_type="text/html",
            body="<!DOCTYPE html><html><body>Sorry, the service is unavailable</body></html>",
        )
    elif fault == "truncated zip":
        whole = ehcp_zip()
        rsps.get(ZIP_URL, body=whole[: len(whole) // 2], content_type="application/zip")
    elif fault == "renamed column":
        rsps.get(ZIP_URL, body=_renamed_column_zip(), content_type="application/zip")


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("connection error", ["could not connect", LATEST_URL]),
        ("timeout", ["timed out", ZIP_URL]),
        ("404", ["404", ZIP_URL]),
        ("html page", ["expected a zip", "HTML", ZIP_URL]),
        ("truncated zip", ["not a readable zip"]),
        (
            "renamed column",
            [
                "timeliness_20_week.csv",
                "missing columns: PC_plans_issued_20_weeks_ex",
                "unexpected columns: pc_plans_issued_20wks_excl",
            ],
        ),
    ],
)
def test_fault_keeps_previous_data_and_refreshes_others(tmp_path, fault, message):
    with responses.RequestsMock() as rsps:
        add_publishers(rsps)
        db, first = run_refresh(tmp_path)
    assert first["dfe_ehcp"].status == "loaded"
    ehcp_before = snapshot(db, "dfe_ehcp")
    areas_loads = db.execute(
        "select count(distinct run_id) from harvests where dataset_id='dfe_areas' "
        "and status='loaded'"
    ).fetchone()[0]

    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        _register_second_run(rsps, fault)
        db, second = run_refresh(tmp_path)

    ehcp = second["dfe_ehcp"]
    assert ehcp.status == "failed"
    assert ehcp.error.startswith("dfe_ehcp: ")
    for part in message:
        assert part in ehcp.error, ehcp.error
    assert snapshot(db, "dfe_ehcp") == ehcp_before
    assert second["dfe_areas"].status == "loaded"
    assert (
        db.execute(
            "select count(distinct run_id) from harvests where dataset_id='dfe_areas' "
            "and status='loaded'"
        ).fetchone()[0]
        == areas_loads + 1
    )
    recorded = db.execute(
        "select status, error from harvests where dataset_id='dfe_ehcp' order by id desc limit 1"
    ).fetchone()
    assert recorded == ("failed", ehcp.error)


def test_server_error_then_success_is_retried(tmp_path):
    with responses.RequestsMock() as rsps:
        add_publishers(rsps)
        rsps.replace(responses.GET, ZIP_URL, status=500, body="Internal Server Error")
        rsps.add(responses.GET, ZIP_URL, body=ehcp_zip(), content_type="application/zip")
        db, results = run_refresh(tmp_path)
        zip_statuses = [c.response.status_code for c in rsps.calls if c.request.url == ZIP_URL]
    assert zip_statuses == [500, 200]
    assert results["dfe_ehcp"].status == "loaded"
    assert db.execute("select count(*) from observations where dataset_id='dfe_ehcp'").fetchone()[0]
