"""Releases accumulate, on the real published files: an older or partial file never erases what
the database holds, the order of loading does not change the result, and a rebuild is on purpose.

The NEET series is three real yearly files (2021, 2022, 2023); the tribunal table is published as
the 2014-2022 ODS and as the 2014-2024 CSV shipped with the 2025 EHC plans release. Expected
values are read here from the files with the ``csv`` module, not through sendbench.
"""

from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import zipfile
from contextlib import closing
from pathlib import Path

import click.testing
import pytest
import sqlite_utils
from conftest import SHARED_DATA, needs_shared_data

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
    assert count(db, "dfe_neet") == 1_280 and last == "replaced"
    assert count(db, "dfe_areas") == 0  # dfe_areas keeps its table; it has no observations
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
        SHARED_DATA / "nhsd" / "autism" / "AutismStatsDec22_subICB.csv.gz",
    )
    (source / "notes.md").write_text("my notes\n")

    result = refresh(db, "dfe_neet", source)

    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    assert f"not recognised: {source / 'AutismStatsDec22_subICB.csv.gz'}" in lines
    assert not any(NEET_FILES["2022"].name in line for line in lines if "not recognised" in line)
    assert not any("notes.md" in line for line in lines)


def test_the_older_sen2_release_layout_is_refused_by_name(areas_db, tmp_path):
    db = fresh(areas_db, tmp_path)
    source = tmp_path / "ehcp2022"
    source.mkdir()
    with zipfile.ZipFile(source / "education-health-and-care-plans_2022.zip", "w") as zf:
        zf.write(SHARED_DATA / "dfe" / "ehcp" / "sen2_mi_2022-release.csv", "data/sen2_mi.csv")

    result = refresh(db, "dfe_ehcp", source)

    assert result.exit_code == 1
    message = " ".join(result.output.split())
    assert (
        "dfe_ehcp: education-health-and-care-plans_2022.zip is the older SEN2 release layout"
        in message
    )
    assert "the release has no file for annual_reviews.csv, assessments.csv," in message
    assert (
        "(it holds sen2_mi.csv). The closest known layout (2025) has 0 of its 12 files" in message
    )
    assert "unexpected: sen2_mi.csv" in message
    assert count(db, "dfe_ehcp") == 0
