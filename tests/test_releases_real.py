"""Releases accumulate, on the real published files: an older or partial file never erases what
the database holds, the order of loading does not change the result, and a rebuild is on purpose.

The NEET series is three real yearly files (2021, 2022, 2023); the tribunal table is published as
the 2014-2022 ODS and as the 2014-2024 CSV shipped with the 2025 EHC plans release. Expected
values are read here from the files with the ``csv`` module, not through sendbench.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import click.testing
import pytest
import sqlite_utils
from conftest import EHCP_ZIP, SHARED_DATA, needs_shared_data

from sendbench.catalogue import load_catalogue
from sendbench.cli import main

pytestmark = needs_shared_data

NEET = SHARED_DATA / "dfe" / "neet"
NEET_FILES = {
    "2021": NEET / "UD_NEETNK_LA_dashboard_2021_vg_removed.csv",
    "2022": NEET / "UD_NEETNK_LA_dashboard_2022_final.csv",
    "2023": NEET / "UD_NEETNK_LA_dashboard_2023_final.csv",
}
TRIBUNAL_CSV = SHARED_DATA / "tribunal" / "SEND Tribunals and appeal rate 2014-2024.csv"
TRIBUNAL_ODS = SHARED_DATA / "tribunal" / "send_appeal_rate_table_2022.ods"
DARLINGTON = "E06000005"


def cli(*args: str) -> click.testing.Result:
    return click.testing.CliRunner().invoke(main, list(args), catch_exceptions=False)


def folder(tmp_path: Path, name: str, *files: Path) -> Path:
    """A --from folder holding copies of ``files`` (and nothing else)."""
    target = tmp_path / name
    target.mkdir()
    for path in files:
        shutil.copy(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def areas_db(tmp_path_factory) -> Path:
    """A database with the real LA list only (every test copies it)."""
    path = tmp_path_factory.mktemp("areas") / "areas.db"
    result = cli("refresh", "dfe_areas", "--from", str(SHARED_DATA), "--db", str(path))
    assert result.exit_code == 0, result.output
    return path


def fresh(areas_db: Path, tmp_path: Path) -> Path:
    path = tmp_path / "sendbench.db"
    shutil.copy(areas_db, path)
    return path


def refresh(db: Path, dataset: str, source: Path, *extra: str) -> click.testing.Result:
    return cli("refresh", dataset, "--from", str(source), "--db", str(db), *extra)


def observations(db: Path, dataset: str) -> list[tuple]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(
            "select indicator_id, area_code, period, breakdown, value, status, release "
            "from observations where dataset_id = ? order by 1, 2, 3, 4",
            [dataset],
        ).fetchall()


def count(db: Path, dataset: str, period: str | None = None) -> int:
    with closing(sqlite3.connect(db)) as conn:
        sql = "select count(*) from observations where dataset_id = ?"
        args = [dataset]
        if period:
            sql, args = sql + " and period = ?", [dataset, period]
        return conn.execute(sql, args).fetchone()[0]


def neet_cell(year: str, code: str, column: str) -> float:
    """The published value for one LA (by its ONS code) in one year's NEET file."""
    with open(NEET_FILES[year], newline="", encoding="utf-8-sig") as handle:
        for row in csv.DictReader(handle):
            if row["geographic_level"] == "Local authority" and row["new_la_code"] == code:
                return float(row[column])
    raise AssertionError(f"{code} not in the {year} file")


# --- the NEET series: one file per year ------------------------------------------------------


def test_an_older_neet_year_after_every_year_keeps_them_all(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    every = folder(tmp_path, "every", *NEET_FILES.values())
    assert refresh(db, "dfe_neet", every).exit_code == 0
    full = observations(db, "dfe_neet")
    per_period = {p: count(db, "dfe_neet", p) for p in NEET_FILES}
    assert len(full) == 3_832 and sum(per_period.values()) == 3_832

    result = refresh(db, "dfe_neet", folder(tmp_path, "old", NEET_FILES["2021"]))

    assert result.exit_code == 0, result.output
    assert observations(db, "dfe_neet") == full  # nothing lost, nothing changed
    assert {p: count(db, "dfe_neet", p) for p in NEET_FILES} == per_period
    status = cli("status", "--db", str(db), "--json")
    neet = next(r for r in json.loads(status.output) if r["dataset_id"] == "dfe_neet")
    assert neet["releases_held"] == 3 and neet["observations"] == 3_832
    assert [(r["release"], r["period_list"], r["observations"]) for r in neet["releases"]] == [
        (year, year, per_period[year]) for year in NEET_FILES
    ]
    text = cli("status", "--db", str(db)).output
    assert f"    release 2021: {per_period['2021']:,} observations, periods 2021" in text


def test_neet_years_loaded_newest_first_end_as_one_load_of_all(areas_db, tmp_path):
    together = fresh(areas_db, tmp_path)
    assert (
        refresh(together, "dfe_neet", folder(tmp_path, "all", *NEET_FILES.values())).exit_code == 0
    )
    piecewise = tmp_path / "piecewise.db"
    shutil.copy(areas_db, piecewise)
    for year in ("2023", "2021", "2022"):
        result = refresh(piecewise, "dfe_neet", folder(tmp_path, year, NEET_FILES[year]))
        assert result.exit_code == 0, result.output

    assert observations(piecewise, "dfe_neet") == observations(together, "dfe_neet")
    with closing(sqlite3.connect(piecewise)) as conn:
        got = dict(
            conn.execute(
                "select period, value from observations where indicator_id = 'neet_pct' "
                "and area_code = ? and breakdown = 'Total'",
                [DARLINGTON],
            ).fetchall()
        )
        releases = dict(
            conn.execute(
                "select period, release from observations where dataset_id = 'dfe_neet' "
                "group by period"
            ).fetchall()
        )
    assert got == {year: neet_cell(year, DARLINGTON, "NEET_percent") for year in NEET_FILES}
    assert releases == {"2021": "2021", "2022": "2022", "2023": "2023"}  # each year its own


def test_replace_rebuilds_a_dataset_from_what_the_run_finds(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    assert refresh(db, "dfe_neet", folder(tmp_path, "all", *NEET_FILES.values())).exit_code == 0
    only_2023 = folder(tmp_path, "2023", NEET_FILES["2023"])

    result = cli("refresh", "--from", str(only_2023), "--db", str(db), "--replace", "dfe_neet")

    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        periods = {r[0] for r in conn.execute(
            "select distinct period from observations where dataset_id = 'dfe_neet'")}  # fmt: skip
        releases = {r[0] for r in conn.execute(
            "select release from releases where dataset_id = 'dfe_neet'")}  # fmt: skip
        raw = {r[0] for r in conn.execute(
            "select table_name from source_tables where dataset_id = 'dfe_neet'")}  # fmt: skip
        tables = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        last = conn.execute(
            "select status from harvests where dataset_id = 'dfe_neet' order by id desc limit 1"
        ).fetchone()[0]
    assert periods == {"2023"} and releases == {"2023"}
    assert raw == {"raw_dfe_neet_ud_neetnk_la_dashboard_2023_final"} and raw <= tables
    assert not any(t.startswith("raw_dfe_neet_") and t not in raw for t in tables)
    # One observation per area row of the 2023 file (England, 9 regions, the LAs) and indicator.
    with open(NEET_FILES["2023"], newline="", encoding="utf-8-sig") as handle:
        area_rows = len(list(csv.DictReader(handle)))
    indicators = len(load_catalogue().indicators_for("dfe_neet"))
    assert count(db, "dfe_neet") == area_rows * indicators and last == "replaced"
    with closing(sqlite3.connect(db)) as conn:
        benchmarked = {r[0] for r in conn.execute(
            "select distinct period from benchmarks where indicator_id = 'neet_pct'")}  # fmt: skip
    assert benchmarked == {"2023"}  # the rebuilt dataset's benchmarks, not the old years'

    assert sqlite_utils.Database(db)["areas"].count > 0


def test_a_renamed_key_column_fails_and_keeps_the_last_good_data(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    assert refresh(db, "dfe_neet", folder(tmp_path, "all", *NEET_FILES.values())).exit_code == 0
    before = observations(db, "dfe_neet")
    broken = tmp_path / "broken"
    broken.mkdir()
    text = NEET_FILES["2023"].read_text(encoding="utf-8")
    header, rest = text.split("\n", 1)
    assert header.startswith("time_period,")
    (broken / NEET_FILES["2023"].name).write_text(
        header.replace("new_la_code", "la_code_new", 1) + "\n" + rest
    )

    result = refresh(db, "dfe_neet", broken)

    assert result.exit_code == 1
    assert "dfe_neet" in result.output and NEET_FILES["2023"].name.lower() in result.output.lower()
    assert "new_la_code" in result.output and "la_code_new" in result.output
    assert observations(db, "dfe_neet") == before


# --- the tribunal table: the 2014-2022 ODS and the 2014-2024 CSV ------------------------------


def tribunal_csv_cells(name: str) -> dict[str, str]:
    """Year -> the published appeal rate cell of one LA row in the 2014-2024 CSV."""
    with open(TRIBUNAL_CSV, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    years = rows[3]
    row = next(r for r in rows if r and r[0] == name)
    return {years[i]: row[i + 2] for i in range(2, len(years)) if years[i].isdigit()}


def test_the_2022_ods_after_the_2024_csv_loses_nothing(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    assert refresh(db, "tribunal_appeals", folder(tmp_path, "csv", TRIBUNAL_CSV)).exit_code == 0
    before = observations(db, "tribunal_appeals")
    assert len(before) == 5_214

    result = refresh(db, "tribunal_appeals", folder(tmp_path, "ods", TRIBUNAL_ODS))

    assert result.exit_code == 0, result.output
    assert "not applied (a newer release holds the key)" in result.output
    assert observations(db, "tribunal_appeals") == before
    with closing(sqlite3.connect(db)) as conn:
        held = dict(conn.execute(
            "select release, last_period from dataset_releases "
            "where dataset_id = 'tribunal_appeals'").fetchall())  # fmt: skip
        raw = dict(conn.execute(
            "select table_name, release from source_tables "
            "where dataset_id = 'tribunal_appeals'").fetchall())  # fmt: skip
    assert held == {"2024": "2024"}
    assert raw == {"raw_tribunal_appeals_csv": "2024", "raw_tribunal_appeals_ods": "2022"}


def test_the_2024_csv_after_the_2022_ods_adds_2023_and_2024_and_revises(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    assert refresh(db, "tribunal_appeals", folder(tmp_path, "ods", TRIBUNAL_ODS)).exit_code == 0
    assert count(db, "tribunal_appeals") == 4_212
    csv_only = tmp_path / "csv.db"
    shutil.copy(areas_db, csv_only)
    assert (
        refresh(csv_only, "tribunal_appeals", folder(tmp_path, "csv", TRIBUNAL_CSV)).exit_code == 0
    )

    result = refresh(db, "tribunal_appeals", folder(tmp_path, "csv2", TRIBUNAL_CSV))

    assert result.exit_code == 0, result.output
    assert count(db, "tribunal_appeals") == 5_214

    # Where the CSV gives a figure the result is the CSV's, whatever was loaded first.
    def figures(path):
        return {r[:4]: r[4:6] for r in observations(path, "tribunal_appeals") if r[4] is not None}

    assert figures(db) == figures(csv_only)
    with closing(sqlite3.connect(db)) as conn:
        got = dict(conn.execute(
            "select period, value from observations "
            "where indicator_id = 'tribunal_appeal_rate_pct' "
            "and area_code = ?", [DARLINGTON]).fetchall())  # fmt: skip
    published = tribunal_csv_cells("Darlington")
    assert got == {year: float(cell.rstrip("%")) for year, cell in published.items()}
    assert {"2023", "2024"} <= set(got)


def test_both_tribunal_files_in_one_folder_load_oldest_first(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    result = refresh(db, "tribunal_appeals", folder(tmp_path, "both", TRIBUNAL_ODS, TRIBUNAL_CSV))
    assert result.exit_code == 0, result.output
    assert "release 2022: added 4,212" in result.output
    assert count(db, "tribunal_appeals") == 5_214


# --- what --from did not use, and an older EHC plans layout ----------------------------------


def test_files_no_dataset_reads_are_listed(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    source = folder(
        tmp_path,
        "mixed",
        NEET_FILES["2022"],
        SHARED_DATA / "dfe" / "absence" / "4_absence_2term_pru.csv",
    )
    (source / "notes.md").write_text("my notes\n")

    result = refresh(db, "dfe_neet", source)

    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert f"not recognised: {source / '4_absence_2term_pru.csv'}" in lines
    assert not any(NEET_FILES["2022"].name in line for line in lines if "not recognised" in line)
    assert not any("notes.md" in line for line in lines)


SEN2_MI = SHARED_DATA / "dfe" / "ehcp" / "sen2_mi_2022-release.csv"


def england(rows: list[dict], column: str, **where: str) -> dict[str, str]:
    """time_period -> the England cell of ``column`` among rows matching ``where``."""
    return {
        r["time_period"]: r[column]
        for r in rows
        if r["geographic_level"] == "National" and all(r[k] == v for k, v in where.items())
    }


def sen2_rows() -> list[dict]:
    with open(SEN2_MI, newline="", encoding="utf-8-sig") as handle:
        return list(csv.DictReader(handle))


def ehcp_2025_rows(name: str) -> list[dict]:
    with zipfile.ZipFile(EHCP_ZIP) as zf:
        text = zf.read(f"data/{name}").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def ehcp_both(areas_db, tmp_path_factory) -> Path:
    """The EHC plans data as `--from ../shared/data` finds it: the SEN2 file, then the 2025 zip."""
    db = tmp_path_factory.mktemp("ehcp") / "sendbench.db"
    shutil.copy(areas_db, db)
    result = refresh(db, "dfe_ehcp", SHARED_DATA)
    assert result.exit_code == 0, result.output
    assert "read as the SEN2 release layout: 6 indicators from sen2_mi.csv" in result.output
    return db


def england_series(db: Path, indicator: str) -> dict[str, tuple]:
    with closing(sqlite3.connect(db)) as conn:
        rows = conn.execute(
            "select period, value, release from observations where indicator_id = ? "
            "and area_code = 'E92000001' and breakdown = 'Total'",
            [indicator],
        ).fetchall()
    return {period: (value, release) for period, value, release in rows}


def test_the_sen2_layout_keeps_the_years_the_2025_release_no_longer_publishes(ehcp_both):
    older = england(sen2_rows(), "NewallEHC")
    newer = england(
        ehcp_2025_rows("newplans.csv"), "new_ehc_plans", breakdown_topic="New EHC plans"
    )
    assert sorted(older) == [str(y) for y in range(2014, 2022)]
    assert sorted(newer) == [str(y) for y in range(2019, 2025)]
    # The two layouts publish the same measure: equal where both give a year.
    assert all(float(older[y]) == float(newer[y]) for y in set(older) & set(newer))

    got = england_series(ehcp_both, "ehcp_new_plans")

    expected = {y: (float(v), "2022") for y, v in older.items()}
    expected |= {y: (float(v), "2025") for y, v in newer.items()}
    assert got == expected


def test_a_percentage_only_the_sen2_layout_gives_is_kept_beside_the_newer_counts(ehcp_both):
    older = england(sen2_rows(), "AssRefusedEHC_pc")
    newer = england(
        ehcp_2025_rows("requests.csv"), "request_not_assess_pc",
        breakdown_topic="All requests for EHC needs assessments",
    )  # fmt: skip
    assert newer["2021"] == "x"  # the 2025 release does not give the percentage

    got = england_series(ehcp_both, "ehcp_requests_refused_pct")

    assert got["2021"] == (float(older["2021"]), "2022")  # filled from the older release
    assert got["2016"] == (float(older["2016"]), "2022")
    # The newer release keeps every year it gives a figure for, and the years only it covers.
    assert {y for y, (_v, r) in got.items() if r == "2025"} == {
        y for y, v in newer.items() if v != "x" or y not in older
    }


def test_a_sen2_release_zip_loads_and_keeps_its_files_raw(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    source = tmp_path / "ehcp2022"
    source.mkdir()
    with zipfile.ZipFile(source / "education-health-and-care-plans_2022.zip", "w") as zf:
        zf.write(SEN2_MI, "data/sen2_mi.csv")

    result = refresh(db, "dfe_ehcp", source)

    assert result.exit_code == 0, result.output
    with closing(sqlite3.connect(db)) as conn:
        raw = conn.execute("select count(*) from raw_dfe_ehcp_sen2_mi").fetchone()[0]
        held = conn.execute(
            "select release, first_period, last_period from dataset_releases "
            "where dataset_id = 'dfe_ehcp'"
        ).fetchall()
    assert raw == len(sen2_rows())
    assert held == [("2022", "2014", "2021")]
    got = england_series(db, "ehcp_20_week_timeliness_pct")
    assert got["2015"] == (float(england(sen2_rows(), "NoExc20weekRate")["2015"]), "2022")


def test_a_sen2_release_without_its_mi_file_is_refused_by_name(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    source = tmp_path / "ehcp2022"
    source.mkdir()
    with zipfile.ZipFile(source / "education-health-and-care-plans_2022.zip", "w") as zf:
        zf.writestr("data/sen2_age_caseload.csv", "time_period,geographic_level\n")

    result = refresh(db, "dfe_ehcp", source)

    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert (
        "dfe_ehcp: education-health-and-care-plans_2022.zip is the SEN2 release layout (data "
        "files sen2_*.csv, up to the 2024 release) without sen2_mi.csv, the file this version "
        "reads from it: the release has no file for annual_reviews.csv" in message
    )
    assert "the release has no file for annual_reviews.csv, assessments.csv," in message
    assert "(it holds sen2_age_caseload.csv). The closest known layout (2025) has 0" in message
    assert "unexpected: sen2_age_caseload.csv" in message
    assert count(db, "dfe_ehcp") == 0
