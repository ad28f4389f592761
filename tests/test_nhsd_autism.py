"""NHS Digital autism statistics: found on the publication pages, read as saved, checked.

Expected values come from the fixture or the real file read here with the csv and gzip modules,
never from sendbench's output.
"""

from __future__ import annotations

import csv
import gzip
import io
import shutil
from pathlib import Path

import pytest
import responses
from conftest import FIXTURES, LAS_URL, REGIONS_URL, SHARED_DATA, needs_shared_data, run_refresh

from sendbench.harvesters.nhsd.autism import edition_label

HERE = FIXTURES / "nhsd" / "autism"
EXCERPT = HERE / "AutismStatsDec22_subICB_excerpt.csv"
REAL = SHARED_DATA / "nhsd" / "autism" / "AutismStatsDec22_subICB.csv.gz"
LANDING = "https://digital.nhs.uk/data-and-information/publications/statistical/autism-statistics"
EDITION = f"{LANDING}/july-2022-to-september-2022"
FILE_URL = "https://files.digital.nhs.uk/6A/1B2C3D/AutismStatsDec22_subICB.csv"
DATASETS = ["dfe_areas", "nhsd_autism"]
HEADLINE = "CCG or Sub ICB Location - GP Practice or Residence"
# indicator -> METRIC (the catalogue's filter), written out here on purpose
METRICS = {"autism_open_referrals_cyp": "ASD11a", "autism_waiting_13_weeks_cyp": "ASD16c",
           "autism_first_appointment_13_weeks_cyp_pct": "ASD19c",
           "autism_diagnoses_cyp": "ASD21a"}  # fmt: skip


def published(text: str) -> dict[tuple[str, str, str, str], str]:
    """(METRIC, BREAKDOWN, PRIMARY_LEVEL, REPORTING_PERIOD_END) -> METRIC_VALUE, as text."""
    return {
        (r["METRIC"], r["BREAKDOWN"], r["PRIMARY_LEVEL"], r["REPORTING_PERIOD_END"]): r[
            "METRIC_VALUE"
        ]
        for r in csv.DictReader(io.StringIO(text))
    }


def expect(cell: str) -> tuple[float | None, str | None]:
    return (None, cell) if cell == "*" else (float(cell), None)


def stored(db, indicator: str, area: str, period_end: str) -> tuple:
    row = db.execute(
        "select value, status, numerator, denominator, period, source_area_code from observations "
        "where indicator_id = ? and area_code = ? and period_end = ?",
        [indicator, area, period_end],
    ).fetchone()
    assert row is not None, (indicator, area, period_end)
    return tuple(row)


def local_folder(tmp_path: Path, text: str | None = None) -> Path:
    folder = tmp_path / "from"
    folder.mkdir()
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    data = (text or EXCERPT.read_text(encoding="utf-8")).encode("utf-8")
    (folder / REAL.name).write_bytes(gzip.compress(data))
    return folder


def iso(day: str) -> str:
    d, m, y = day.split("/")
    return f"{y}-{m}-{d}"


def check_cases(db, values: dict, cases) -> None:
    for indicator, code, end in cases:
        cell = values[(METRICS[indicator], HEADLINE, code, end)]
        value, status, numerator, denominator, period, source = stored(
            db, indicator, f"sub_icb:{code}", iso(end)
        )
        assert (value, status) == expect(cell), (indicator, code, end)
        assert period == iso(end)[:7] and source == code
        if indicator == "autism_first_appointment_13_weeks_cyp_pct":
            assert numerator == float(values[("ASD18c", HEADLINE, code, end)])
            assert denominator == float(values[("ASD16c", HEADLINE, code, end)])


def test_the_saved_file_loads_sub_icb_locations_with_their_values(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    result = results["nhsd_autism"]
    assert result.status == "loaded", result.error
    assert result.release == "2022-12"
    values = published(EXCERPT.read_text(encoding="utf-8"))
    check_cases(db, values, [(ind, code, end) for ind in METRICS for code in ("00L", "00N", "X2C4Y")
                             for end in ("31/07/2022", "31/08/2022", "30/09/2022")])  # fmt: skip
    names = dict(db.execute("select area_code, name from areas where area_type = 'sub_icb'"))
    assert names == {
        "sub_icb:00L": "NHS NORTH EAST AND NORTH CUMBRIA ICB - 00L",
        "sub_icb:00N": "NHS NORTH EAST AND NORTH CUMBRIA ICB - 00N",
        "sub_icb:X2C4Y": "NHS WEST YORKSHIRE ICB - X2C4Y",
    }
    # 4 indicators x 3 areas x 3 months; UNKNOWN is reported, not filed, and kept raw.
    assert (
        db.execute("select count(*) from observations where dataset_id = 'nhsd_autism'").fetchone()[
            0
        ]
        == 36
    )
    assert any("UNKNOWN" in u for u in result.unmatched_areas)
    assert db.execute("select count(*) from raw_nhsd_autism_data").fetchone()[0] == 126


def test_a_renamed_column_fails_naming_it_and_keeps_the_last_good_data(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    before = list(db.execute("select * from observations where dataset_id = 'nhsd_autism'"))
    text = EXCERPT.read_text(encoding="utf-8").replace("METRIC_VALUE", "VALUE", 1)
    shutil.rmtree(tmp_path / "from")
    db, results = run_refresh(tmp_path, ["nhsd_autism"], from_dir=local_folder(tmp_path, text))
    result = results["nhsd_autism"]
    assert result.status == "failed"
    assert "nhsd_autism" in result.error and REAL.name in result.error
    assert "missing columns: METRIC_VALUE" in result.error
    assert "unexpected columns: VALUE" in result.error
    assert list(db.execute("select * from observations where dataset_id = 'nhsd_autism'")) == before


def test_edition_labels():
    assert edition_label("AutismStatsDec22_subICB.csv.gz") == "2022-12"
    assert edition_label("AutismStats_June_2023_subICB.csv") == "2023-06"
    assert edition_label("subICB.csv") is None


def test_the_latest_edition_and_its_sub_icb_file_are_found_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(LAS_URL, body=(FIXTURES / "dfe" / "las" / "las.csv").read_bytes())
        rsps.get(REGIONS_URL, body=(FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
        rsps.get(LANDING, body=(HERE / "landing.html").read_bytes(), content_type="text/html")
        rsps.get(EDITION, body=(HERE / "edition.html").read_bytes(), content_type="text/html")
        rsps.get(FILE_URL, body=EXCERPT.read_bytes(), content_type="text/csv")
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhsd_autism"]
    assert result.status == "loaded", result.error
    assert [f.source for f in result.files] == [FILE_URL]  # the sub-ICB file, not the provider one
    assert result.release == "Autism Statistics, July 2022 to September 2022"
    values = published(EXCERPT.read_text(encoding="utf-8"))
    check_cases(db, values, [("autism_waiting_13_weeks_cyp", "00L", "30/09/2022")])


needs_autism = pytest.mark.skipif(not REAL.exists(), reason=f"{REAL} is not there")


@needs_shared_data
@needs_autism
def test_the_real_file_matches_for_three_sub_icb_locations(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=SHARED_DATA)
    result = results["nhsd_autism"]
    assert result.status == "loaded", result.error
    with gzip.open(REAL, "rt", encoding="utf-8", newline="") as fh:
        text = fh.read()
    rows = list(csv.DictReader(io.StringIO(text)))
    assert db.execute("select count(*) from raw_nhsd_autism_data").fetchone()[0] == len(rows)
    values = published(text)
    # 00L (North East and North Cumbria), 99A (Cheshire and Merseyside), 11N (Cornwall): three
    # sub-ICB locations in three NHS regions.
    cases = [(ind, code, end) for ind in METRICS for code in ("00L", "99A", "11N")
             for end in ("31/07/2022", "30/09/2022")]  # fmt: skip
    check_cases(db, values, cases)
    codes = {r["PRIMARY_LEVEL"] for r in rows if r["BREAKDOWN"] == HEADLINE} - {"UNKNOWN"}
    sql = "select distinct area_code from observations where dataset_id = 'nhsd_autism'"
    filed = {r[0] for r in db.execute(sql)}
    assert filed == {f"sub_icb:{c}" for c in codes}
    expected = sum(
        1 for r in rows
        if r["BREAKDOWN"] == HEADLINE and r["PRIMARY_LEVEL"] != "UNKNOWN"
        and r["METRIC"] in METRICS.values()
    )  # fmt: skip
    assert (
        db.execute("select count(*) from observations where dataset_id = 'nhsd_autism'").fetchone()[
            0
        ]
        == expected
    )


def test_values_a_unit_cannot_take_are_flagged_in_the_harvest_notes(tmp_path):
    """A percentage of 1,234 and a negative count load as published, and the notes say so."""
    rows = list(csv.DictReader(io.StringIO(EXCERPT.read_text(encoding="utf-8"))))
    edited = {("ASD19c", "00L", "31/07/2022"): "1234", ("ASD11a", "00N", "31/08/2022"): "-5"}
    for row in rows:
        key = (row["METRIC"], row["PRIMARY_LEVEL"], row["REPORTING_PERIOD_END"])
        if row["BREAKDOWN"] == HEADLINE and key in edited:
            row["METRIC_VALUE"] = edited[key]
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path, out.getvalue()))
    result = results["nhsd_autism"]
    assert result.status == "loaded", result.error
    notes = "\n".join(result.notes)
    assert (
        "autism_first_appointment_13_weeks_cyp_pct: 1 value(s) outside what a percent can be "
        "(0 to 100), kept as published; check the source file (sub_icb:00L 2022-07 = 1234)"
    ) in notes
    assert "autism_open_referrals_cyp: 1 value(s) outside what a count can be (at least 0)" in notes
    assert (
        stored(db, "autism_first_appointment_13_weeks_cyp_pct", "sub_icb:00L", "2022-07-31")[0]
        == 1234.0
    )
    assert "autism_waiting_13_weeks_cyp" not in notes
