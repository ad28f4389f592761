"""Pupil absence by SEN provision: layouts, symbols, finding the full-year release, faults, --from.

Expected values are read from the fixture with the csv module, never from sendbench's output.
No current-format file is in ../shared/data, so --from there must skip this dataset.
"""

from __future__ import annotations

import csv
import io

import pandas as pd
import pytest
import responses
import sqlite_utils
from conftest import (
    CONTENT_API,
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
from sendbench.errors import LayoutError
from sendbench.harvesters.base import HarvestContext, MissingLocalFiles, Release
from sendbench.harvesters.dfe.absence import Harvester
from sendbench.http import HttpClient
from sendbench.refresh import refresh_one

DATASET = "dfe_absence"
SLUG = "pupil-absence-in-schools-in-england"
RELEASE_ID = "0b5c4d2e-7a61-4f0e-9d3a-000000000002"  # illustrative
FIXTURE = FIXTURES / "dfe" / "absence" / "6_absence_3term_characteristics.csv"
GROUPS = {
    "Education, health and care plan": "ehcp",
    "SEN support / SEN without an EHC plan": "sen_support",
    "No SEN provision": "no_sen",
}
# indicator stem -> (rate, numerator, denominator) columns
MEASURES = {
    "absence_overall_rate": ("sess_overall_percent", "sess_overall", "sess_possible"),
    "absence_persistent_rate": (
        "enrolments_pa_10_exact_percent",
        "enrolments_pa_10_exact",
        "enrolments",
    ),
    "absence_severe_rate": (
        "enrolments_pa_50_exact_percent",
        "enrolments_pa_50_exact",
        "enrolments",
    ),
}
# Codes a reorganised council is published under -> the code it is filed under (DOMAIN.md).
CURRENT_CODE = {"E10000002": "E06000060"}


def fixture_rows(data: bytes | None = None) -> list[dict]:
    text = (FIXTURE.read_bytes() if data is None else data).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


def group_of(row: dict) -> str | None:
    if row["breakdown_topic"] == "Total" and row["breakdown"] == "Total":
        return "all"
    return GROUPS.get(row["breakdown"]) if row["breakdown_topic"] == "SEN provision" else None


def expected(rows: list[dict]) -> dict[tuple[str, str, str], tuple[str, str, str]]:
    """(indicator, area, period) -> (rate, numerator, denominator) cells of the headline rows."""
    out = {}
    for row in rows:
        group = group_of(row)
        if row["education_phase"] != "Total" or group is None:
            continue
        level = row["geographic_level"]
        code = {"National": row["country_code"], "Regional": row["region_code"]}.get(
            level, row["new_la_code"]
        )
        period = f"{row['time_period'][:4]}/{row['time_period'][4:]}"
        for stem, columns in MEASURES.items():
            out[(f"{stem}_{group}", CURRENT_CODE.get(code, code), period)] = tuple(
                row[c] for c in columns
            )
    return out


def release_zip(data: bytes | None = None) -> bytes:
    return ees_zip(
        {
            "data/6_absence_3term_characteristics.csv": FIXTURE.read_bytes()
            if data is None
            else data,
            "data-guidance/data-guidance.txt": b"Pupil absence in schools in England\n",
        }
    )


def harvester() -> Harvester:
    catalogue = load_catalogue()
    return Harvester(catalogue.dataset(DATASET), catalogue)


def parse(tmp_path, zip_bytes: bytes):
    path = tmp_path / f"{SLUG}_2024-25.zip"
    path.write_bytes(zip_bytes)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = http.import_local(path, dataset=DATASET)
    release = Release(label="2024-25", files=[])
    return harvester().parse({"release": raw}, release, HarvestContext(resolver=fixture_resolver()))


def as_number(cell: str) -> float | None:
    return None if cell in ("x", "z", "c") else float(cell)


# --- parsing --------------------------------------------------------------------------------


def test_observations_match_the_fixture(tmp_path):
    parsed = parse(tmp_path, release_zip())
    frame = parsed.observations
    assert set(frame["breakdown"]) == {"Total"}
    got = {(r.indicator_id, r.area_code, r.period): r for r in frame.itertuples()}
    want = expected(fixture_rows())
    assert set(got) == set(want)
    for key, (rate, numerator, denominator) in want.items():
        obs = got[key]
        if as_number(rate) is None:
            assert pd.isna(obs.value) and obs.status == rate, key
        else:
            assert (obs.value, obs.status) == (float(rate), None), key
        assert obs.denominator == float(denominator), key
        assert (
            pd.isna(obs.numerator)
            if as_number(numerator) is None
            else (obs.numerator == float(numerator))
        ), key
    assert parsed.unmatched_areas == []


def test_symbol_row_is_in_the_fixture_and_becomes_a_status(tmp_path):
    symbols = {k: v for k, v in expected(fixture_rows()).items() if v[0] == "x"}
    assert symbols, "the fixture should carry a symbol in a headline row"
    frame = parse(tmp_path, release_zip()).observations
    for indicator, area, period in symbols:
        row = frame[
            (frame.indicator_id == indicator) & (frame.area_code == area) & (frame.period == period)
        ].iloc[0]
        assert row["status"] == "x" and pd.isna(row["value"])


def test_buckinghamshire_county_code_is_filed_under_the_unitary(tmp_path):
    frame = parse(tmp_path, release_zip()).observations
    bucks = frame[frame["area_code"] == "E06000060"]
    published = {
        (f"{r['time_period'][:4]}/{r['time_period'][4:]}", r["new_la_code"])
        for r in fixture_rows()
        if r["la_name"] == "Buckinghamshire"
    }
    assert ("2023/24", "E10000002") in published
    filed = zip(bucks["period"], bucks["source_area_code"], strict=True)
    assert set(filed) == published


def test_older_layout_is_renamed_to_the_same_observations(tmp_path):
    data = FIXTURE.read_bytes()
    older = data.replace(
        b",education_phase,breakdown_topic,breakdown,",
        b",school_type,characteristic,characteristic_breakdown,",
        1,
    )
    assert older != data
    (tmp_path / "new").mkdir()
    (tmp_path / "old").mkdir()
    new = parse(tmp_path / "new", release_zip())
    old = parse(tmp_path / "old", release_zip(older))
    key = ["indicator_id", "area_code", "period"]
    pd.testing.assert_frame_equal(
        new.observations.sort_values(key).reset_index(drop=True),
        old.observations.sort_values(key).reset_index(drop=True),
    )


def test_reading_only_the_indicator_rows_changes_nothing(tmp_path, monkeypatch):
    narrowed = parse(tmp_path, release_zip())
    monkeypatch.setattr(Harvester, "narrow_to_indicator_rows", False)
    whole = parse(tmp_path, release_zip())
    key = ["indicator_id", "area_code", "period"]
    pd.testing.assert_frame_equal(
        narrowed.observations.sort_values(key).reset_index(drop=True),
        whole.observations.sort_values(key).reset_index(drop=True),
    )
    assert narrowed.unmatched_areas == whole.unmatched_areas
    assert len(narrowed.raw_tables["raw_dfe_absence_6_absence_3term_characteristics"]) == len(
        fixture_rows()
    )


def test_unknown_layout_fails_with_missing_and_unexpected_columns(tmp_path):
    data = FIXTURE.read_bytes().replace(b",sess_overall_percent,", b",overall_absence_pct,", 1)
    with pytest.raises(LayoutError) as caught:
        parse(tmp_path, release_zip(data))
    assert caught.value.dataset == DATASET
    assert caught.value.file == "6_absence_3term_characteristics.csv"
    assert "sess_overall_percent" in caught.value.missing
    assert "overall_absence_pct" in caught.value.unexpected


# --- finding the release ------------------------------------------------------------------


def _release_json(release_id: str, slug: str, files: list[str]) -> dict:
    listed = [{"id": f"f{i}", "fileName": name, "type": "Data"} for i, name in enumerate(files)]
    return {"id": release_id, "slug": slug, "title": slug, "downloadFiles": listed}


def test_the_newest_full_year_release_is_taken_not_a_termly_one(tmp_path):
    base = f"{CONTENT_API}/publications/{SLUG}/releases"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        autumn = ["1_absence_1term_nat_reg_la.csv", "6_absence_1term_characteristics.csv"]
        rsps.get(f"{base}/latest", json=_release_json("autumn", "2024-25-autumn-term", autumn))
        rsps.get(base, json=[{"slug": "2024-25-autumn-term"}, {"slug": "2024-25"}])
        full_year = ["1_absence_3term_nat_reg_la.csv", "6_absence_3term_characteristics.csv"]
        rsps.get(f"{base}/2024-25", json=_release_json(RELEASE_ID, "2024-25", full_year))
        rsps.get(f"{CONTENT_API}/releases/{RELEASE_ID}/files", body=release_zip())
        db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert results[DATASET].status == "loaded", results[DATASET].error
    assert results[DATASET].release == "2024-25"
    england = db.execute(
        "select value from observations where indicator_id = 'absence_persistent_rate_ehcp' "
        "and area_code = 'E92000001' and period = '2024/25'"
    ).fetchone()[0]
    want = expected(fixture_rows())[("absence_persistent_rate_ehcp", "E92000001", "2024/25")]
    assert england == float(want[0])


def test_no_release_with_the_file_fails_clearly(tmp_path):
    base = f"{CONTENT_API}/publications/{SLUG}/releases"
    termly = ["6_absence_1term_characteristics.csv"]
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        rsps.get(f"{base}/latest", json=_release_json("a", "2024-25-autumn-term", termly))
        rsps.get(base, json=[{"slug": "2024-25-autumn-term"}, {"slug": "2023-24-autumn-term"}])
        rsps.get(
            f"{base}/2023-24-autumn-term", json=_release_json("b", "2023-24-autumn-term", termly)
        )
        _, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    error = results[DATASET].error
    assert results[DATASET].status == "failed"
    assert error.startswith(
        f"{DATASET}: none of the releases 2024-25-autumn-term, 2023-24-autumn-term"
    )
    assert base in error


def test_html_page_instead_of_the_zip_fails_and_keeps_the_previous_data(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_ees_release(rsps, SLUG, RELEASE_ID, "2024-25", release_zip())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded", first[DATASET].error
    before = snapshot(db, DATASET)
    html = b"<!DOCTYPE html><html><body>Sorry, there is a problem with the service</body></html>"
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        _, zip_url = add_ees_release(rsps, SLUG, "new-release", "2025-26", html)
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET])
    error = second[DATASET].error
    assert second[DATASET].status == "failed"
    assert error.startswith(f"{DATASET}: ") and "HTML" in error and zip_url in error
    assert snapshot(db, DATASET) == before


# --- --from a folder --------------------------------------------------------------------------


def test_find_local_takes_the_full_year_zip_not_a_termly_one(tmp_path):
    (tmp_path / f"{SLUG}_2024-25-autumn-term.zip").write_bytes(release_zip())
    with pytest.raises(MissingLocalFiles):
        harvester().find_local(tmp_path)
    (tmp_path / f"{SLUG}_2023-24.zip").write_bytes(release_zip())
    release = harvester().find_local(tmp_path)
    assert [f.filename for f in release.files] == [f"{SLUG}_2023-24.zip"]


def test_find_local_ignores_the_pru_file(tmp_path):
    (tmp_path / "4_absence_2term_pru.csv").write_bytes(b"time_period\n201314\n")
    (tmp_path / "absence_in_prus.zip").write_bytes(ees_zip({"absence_in_prus.csv": b"a\n1\n"}))
    with pytest.raises(MissingLocalFiles, match="absence_3term_characteristics"):
        harvester().find_local(tmp_path)


@needs_shared_data
def test_refresh_from_shared_data_skips_this_dataset(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas"], from_dir=SHARED_DATA)
    assert results["dfe_areas"].status == "loaded"
    catalogue = load_catalogue()
    with HttpClient(tmp_path / "raw", offline=True) as http:
        result = refresh_one(
            sqlite_utils.Database(tmp_path / "sendbench.db"),
            catalogue,
            catalogue.dataset(DATASET),
            http,
            from_dir=SHARED_DATA,
            run_id="test",
            say=lambda dataset, message: None,
            required=False,  # as in `sendbench refresh --from DIR` without naming the dataset
        )
    assert result.status == "skipped"
    assert "absence_3term_characteristics" in result.error
    assert result.files == []  # neither the PRU file nor the test data zip was taken
    recorded = db.execute(
        "select status from harvests where dataset_id = ? order by id desc limit 1", [DATASET]
    ).fetchone()
    assert recorded == ("skipped",)
