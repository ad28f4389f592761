"""End to end on the real published files: `sendbench refresh --from ../shared/data`, then the
database, the Datasette JSON API and `sendbench status` are checked against the release itself.

Expected values are read here, independently of sendbench, from the real EES zip with ``zipfile``
and ``csv`` (the files have a BOM and CRLF line ends), with a period mapping of our own. The
database is built once for the module (about 10 s).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import re
import shutil
import sqlite3
import zipfile
from collections import Counter
from contextlib import closing
from pathlib import Path

import click.testing
import pytest
from conftest import EHCP_ZIP, SHARED_DATA, needs_shared_data

from sendbench.catalogue import load_catalogue
from sendbench.cli import main
from sendbench.db.serve import make_datasette

pytestmark = needs_shared_data

ENGLAND = "E92000001"
OGL = "Open Government Licence v3.0"

# indicator id -> (file in the zip, headline breakdown_topic, value, numerator, denominator column)
INDICATORS = {
    "ehcp_caseload": ("caseload.csv", "All EHC plans", "ehcplans", None, None),
    "ehcp_new_plans": ("newplans.csv", "New EHC plans", "new_ehc_plans", None, None),
    "ehcp_20_week_timeliness_pct": (
        "timeliness_20_week.csv",
        "All EHC plans issued",
        "PC_plans_issued_20_weeks_ex",
        "plans_issued_20_weeks_ex",
        "plans_issued_den_ex",
    ),
}
NUMBER = re.compile(r"-?\d+(\.\d+)?")


# --- reading the release independently -------------------------------------------------------


def period_of(time_period: str) -> str:
    """EES time_period -> the contract's period: 202425 -> 2024/25, 2024 -> 2024."""
    if re.fullmatch(r"\d{6}", time_period):
        return f"{time_period[:4]}/{time_period[4:]}"
    assert re.fullmatch(r"\d{4}", time_period), f"unexpected time_period {time_period!r}"
    return time_period


def expected_cell(cell: str) -> tuple[float | None, str | None]:
    """(value, status) the contract requires for a published cell: a number, else its symbol."""
    if NUMBER.fullmatch(cell):
        return float(cell), None
    assert cell, "an empty headline cell: this test does not expect any in the 2025 release"
    return None, cell


def read_csv(name: str) -> list[dict[str, str]]:
    with zipfile.ZipFile(EHCP_ZIP) as zf:
        text = zf.read(f"data/{name}").decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.fixture(scope="module")
def headline() -> dict[str, list[dict[str, str]]]:
    """Indicator id -> the CSV's headline rows (its breakdown_topic), every geographic level."""
    out = {}
    for indicator_id, (file, topic, *_columns) in INDICATORS.items():
        out[indicator_id] = [r for r in read_csv(file) if r["breakdown_topic"] == topic]
        assert out[indicator_id], f"{file} has no {topic!r} rows"
    return out


def la_rows(rows: list[dict[str, str]], *codes: str) -> list[dict[str, str]]:
    las = [r for r in rows if r["geographic_level"] == "Local authority"]
    return [r for r in las if r["new_la_code"] in codes] if codes else las


# --- the database, built once ------------------------------------------------------------------


def invoke(*args: str) -> click.testing.Result:
    return click.testing.CliRunner().invoke(main, list(args))


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, click.testing.Result]:
    db_path = tmp_path_factory.mktemp("e2e") / "sendbench.db"
    result = invoke("refresh", "--from", str(SHARED_DATA), "--db", str(db_path))
    assert result.exit_code == 0, result.output
    return db_path, result


@pytest.fixture(scope="module")
def db_path(built) -> Path:
    return built[0]


@pytest.fixture(scope="module")
def conn(db_path):
    connection = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    connection.row_factory = sqlite3.Row
    yield connection
    connection.close()


def headline_observations(conn, indicator_id: str) -> list[sqlite3.Row]:
    return conn.execute(
        "select * from observations where indicator_id = ? and breakdown = 'Total'",
        [indicator_id],
    ).fetchall()


def summary_sections(output: str) -> dict[str, tuple[str, list[str]]]:
    """The refresh summary: dataset id -> (status line, its indented note lines)."""
    sections: dict[str, tuple[str, list[str]]] = {}
    current = None
    for line in output.splitlines():
        match = re.match(r"^([a-z][a-z0-9_]*)\s+(loaded|unchanged|skipped|failed)\b", line)
        if match:
            current = match.group(1)
            sections[current] = (line, [])
        elif current and line.startswith("    "):
            sections[current][1].append(line.strip())
        else:
            current = None
    return sections


def test_refresh_reports_both_datasets_loaded(built):
    output = built[1].output
    sections = summary_sections(output)
    assert re.search(r"^dfe_areas\s+loaded", output, re.MULTILINE), output
    assert re.search(r"^dfe_ehcp\s+loaded\s+release 2025", output, re.MULTILINE), output
    assert not [n for n in sections["dfe_ehcp"][1] if n.startswith("unmatched area")]


# Datasets with no real published file under ../shared/data (see its README): the refresh skips
# them, saying which file names it looked for. Every other dataset loads.
NO_REAL_FILE = {
    "dfe_sen",
    "dfe_absence",
    "dfe_ks2",
    "dfe_1618_destinations",
    "phe_fingertips",
    "nomis_population",
    "nomis_dla",
    "nhsd_ldhc",
}


def test_every_dataset_with_a_real_file_loads_and_the_others_are_skipped(built):
    sections = summary_sections(built[1].output)
    catalogue = load_catalogue()
    assert set(sections) == {d.id for d in catalogue.datasets}
    status = {d: line.split()[1] for d, (line, _) in sections.items()}
    assert {d for d, s in status.items() if s == "skipped"} == NO_REAL_FILE
    assert {d for d, s in status.items() if s == "loaded"} == set(status) - NO_REAL_FILE


def test_every_loaded_dataset_has_observations_or_its_table(conn):
    counts = dict(conn.execute("select dataset_id, count(*) from observations group by 1"))
    catalogue = load_catalogue()
    with_indicators = {i.dataset for i in catalogue.indicators}
    assert set(counts) == with_indicators - NO_REAL_FILE
    assert all(n > 0 for n in counts.values())
    sets = dict(conn.execute("select set_id, count(*) from statistical_neighbours group by 1"))
    assert set(sets) == {"dfe-2025-05", "dfe-2021-04-lgr"}


# --- every headline value, as published --------------------------------------------------------


@pytest.mark.parametrize("indicator_id", INDICATORS)
def test_every_la_and_england_headline_value_is_as_published(conn, headline, indicator_id):
    _file, _topic, column, num_col, den_col = INDICATORS[indicator_id]
    observations = headline_observations(conn, indicator_id)
    by_source = {(o["period"], o["source_area_code"]): o for o in observations}
    assert len(by_source) == len(observations), "two headline observations share a source code"
    england = {o["period"]: o for o in observations if o["area_code"] == ENGLAND}

    rows = headline[indicator_id]
    national = [r for r in rows if r["geographic_level"] == "National"]
    targets = [(r, england.get(period_of(r["time_period"]))) for r in national]
    targets += [
        (r, by_source.get((period_of(r["time_period"]), r["new_la_code"]))) for r in la_rows(rows)
    ]
    assert national and len(targets) > len(national)
    for row, obs in targets:
        where = f"{indicator_id} {row['time_period']} {row['new_la_code'] or row['country_code']}"
        assert obs is not None, f"no observation for {where}"
        value, status = expected_cell(row[column])
        assert (obs["value"], obs["status"]) == (value, status), where
        for col, field in ((num_col, "numerator"), (den_col, "denominator")):
            if col:
                assert obs[field] == expected_cell(row[col])[0], f"{field} of {where}"


def test_symbols_were_among_the_checked_cells(headline):
    """The 2025 timeliness file publishes `x` for some LAs: the symbol branch above is exercised."""
    cells = Counter(
        r["PC_plans_issued_20_weeks_ex"] for r in headline["ehcp_20_week_timeliness_pct"]
    )
    assert cells["x"] > 0


SEN2_MI = SHARED_DATA / "dfe" / "ehcp" / "sen2_mi_2022-release.csv"
SEN2_READ = {"ehcp_new_plans", "ehcp_20_week_timeliness_pct"}  # of INDICATORS, from sen2_mi.csv


def sen2_only_la_rows(headline_rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(LA code, year) rows the SEN2 file gives in years the 2025 release covers, that the 2025
    release does not publish (they are kept from the older release)."""
    newer = {(r["new_la_code"], r["time_period"]) for r in la_rows(headline_rows)}
    years = {r["time_period"] for r in headline_rows}
    with open(SEN2_MI, newline="", encoding="utf-8-sig") as handle:
        rows = la_rows(list(csv.DictReader(handle)))
    older = {(r["new_la_code"], r["time_period"]) for r in rows}
    return sorted(key for key in older - newer if key[1] in years)


@pytest.mark.parametrize("indicator_id", INDICATORS)
def test_no_la_headline_row_is_dropped(conn, headline, indicator_id):
    # Over the periods the 2025 release covers (the SEN2 file adds earlier calendar years, and
    # the LA rows the 2025 release no longer has: Isles of Scilly, 2019).
    periods = sorted({period_of(r["time_period"]) for r in headline[indicator_id]})
    extra = sen2_only_la_rows(headline[indicator_id]) if indicator_id in SEN2_READ else []
    if indicator_id == "ehcp_new_plans":
        assert extra == [("E06000053", "2019")]
    (loaded,) = conn.execute(
        "select count(*) from observations o join areas a on a.area_code = o.area_code "
        "where a.area_type = 'la' and o.indicator_id = ? and o.breakdown = 'Total' "
        "and o.period in (select value from json_each(?))",
        [indicator_id, json.dumps(periods)],
    ).fetchone()
    assert loaded == len(la_rows(headline[indicator_id])) + len(extra)


def test_every_observation_area_is_in_areas(conn):
    (observations,) = conn.execute("select count(*) from observations").fetchone()
    orphans = conn.execute(
        "select distinct area_code from observations "
        "where area_code not in (select area_code from areas)"
    ).fetchall()
    assert observations > 0
    assert [r[0] for r in orphans] == []


def test_england_caseload_january_2025_is_the_published_figure(conn):
    rows = conn.execute(
        "select value, status from observations where indicator_id = 'ehcp_caseload' "
        "and area_code = ? and period = '2024/25' and breakdown = 'Total'",
        [ENGLAND],
    ).fetchall()
    assert [tuple(r) for r in rows] == [(638745.0, None)]  # DfE, EHC plans, January 2025


# --- local government reorganisation -----------------------------------------------------------


def test_north_yorkshire_is_filed_under_its_current_code(conn, headline):
    rows = conn.execute(
        "select area_code, source_area_code, period, breakdown from observations "
        "where indicator_id = 'ehcp_caseload' "
        "and (area_code in ('E06000065', 'E10000023') or source_area_code in "
        "('E06000065', 'E10000023'))"
    ).fetchall()
    assert rows
    assert {(r["area_code"], r["source_area_code"]) for r in rows} == {("E06000065", "E10000023")}
    published = {
        period_of(r["time_period"]) for r in la_rows(headline["ehcp_caseload"], "E10000023")
    }
    totals = [r["period"] for r in rows if r["breakdown"] == "Total"]
    assert sorted(totals) == sorted(published)
    assert len(published) == 7


@pytest.mark.parametrize("indicator_id", INDICATORS)
def test_buckinghamshire_is_one_series_under_e06000060(conn, headline, indicator_id):
    bucks = ("E10000002", "E06000060")
    rows = conn.execute(
        "select area_code, source_area_code, period, breakdown from observations "
        "where indicator_id = ? and (area_code in (?, ?) or source_area_code in (?, ?))",
        [indicator_id, *bucks, *bucks],
    ).fetchall()
    assert {r["area_code"] for r in rows} == {"E06000060"}
    published = la_rows(headline[indicator_id], *bucks)
    covered = {period_of(r["time_period"]) for r in headline[indicator_id]}
    rows = [r for r in rows if r["period"] in covered]  # the SEN2 file adds earlier years
    assert {r["new_la_code"] for r in published} == set(bucks)  # both codes occur in the file
    totals = Counter(r["period"] for r in rows if r["breakdown"] == "Total")
    assert sorted(totals) == sorted(period_of(r["time_period"]) for r in published)
    assert set(totals.values()) == {1}
    sources = {(r["period"], r["source_area_code"]) for r in rows if r["breakdown"] == "Total"}
    assert sources == {(period_of(r["time_period"]), r["new_la_code"]) for r in published}


def test_cumbria_until_2022_23_then_cumberland_and_westmorland(conn, headline):
    def periods(code: str) -> list[str]:
        rows = conn.execute(
            "select period, source_area_code from observations where indicator_id = "
            "'ehcp_caseload' and breakdown = 'Total' and area_code = ? order by period",
            [code],
        ).fetchall()
        assert {r["source_area_code"] for r in rows} == {code}
        return [r["period"] for r in rows]

    def published(code: str) -> list[str]:
        return sorted(period_of(r["time_period"]) for r in la_rows(headline["ehcp_caseload"], code))

    cumbria = periods("E10000006")
    assert cumbria == published("E10000006")
    assert cumbria[0] == "2018/19" and cumbria[-1] == "2022/23"
    for successor in ("E06000063", "E06000064"):
        assert periods(successor) == published(successor) == ["2023/24", "2024/25"]


# --- Datasette ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def datasette(db_path):
    return make_datasette(db_path, catalogue=load_catalogue())


def get(datasette, path: str):
    response = asyncio.run(datasette.client.get(path))
    assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
    return response


def test_datasette_shropshire_caseload_matches_the_csv(datasette, headline):
    published = {
        period_of(r["time_period"]): float(r["ehcplans"])
        for r in la_rows(headline["ehcp_caseload"], "E06000051")
    }
    assert sorted(published) == [f"{y}/{(y + 1) % 100:02d}" for y in range(2018, 2025)]
    rows = get(
        datasette,
        "/sendbench/observations.json?_shape=array&indicator_id=ehcp_caseload"
        "&area_code=E06000051&breakdown=Total&_size=max",
    ).json()
    assert len(rows) == len(published)
    assert {r["period"]: r["value"] for r in rows} == published


def test_datasette_harvests_show_the_local_zip_loaded(datasette):
    rows = get(datasette, "/sendbench/harvests.json?_shape=array&dataset_id=dfe_ehcp").json()
    loaded = [r for r in rows if r["status"] == "loaded" and r["file"] == EHCP_ZIP.name]
    assert len(loaded) == 1
    older = [(r["file"], r["release"]) for r in rows if r["file"] != EHCP_ZIP.name]
    assert older == [("sen2_mi_2022-release.csv", "2022")]  # the SEN2 file, its own release
    assert Path(loaded[0]["source"]).resolve() == EHCP_ZIP.resolve()
    assert loaded[0]["release"] == "2025"
    assert loaded[0]["bytes"] == EHCP_ZIP.stat().st_size
    assert loaded[0]["sha256"] == hashlib.sha256(EHCP_ZIP.read_bytes()).hexdigest()


def test_datasette_metadata_gives_the_licence_of_the_ehcp_tables(datasette):
    metadata = get(datasette, "/-/metadata.json").json()
    tables = metadata["databases"]["sendbench"]["tables"]
    ehcp = {name: meta for name, meta in tables.items() if name.startswith("raw_dfe_ehcp_")}
    assert "raw_dfe_ehcp_caseload" in ehcp
    assert {meta.get("license") for meta in ehcp.values()} == {OGL}


# --- sendbench status, and a second refresh ----------------------------------------------------


def test_status_names_the_ehcp_release(db_path):
    result = invoke("status", "--db", str(db_path))
    assert result.exit_code == 0, result.output
    assert re.search(r"^dfe_ehcp\s+release 2025\b", result.output, re.MULTILINE), result.output


def test_status_json_counts_the_ehcp_observations(db_path, conn):
    result = invoke("status", "--db", str(db_path), "--json")
    assert result.exit_code == 0, result.output
    status = {row["dataset_id"]: row for row in json.loads(result.stdout)}
    (count,) = conn.execute(
        "select count(*) from observations where dataset_id = 'dfe_ehcp'"
    ).fetchone()
    assert status["dfe_ehcp"]["release"] == "2025"
    assert status["dfe_ehcp"]["observations"] == count > 0


def test_second_refresh_is_unchanged_and_loads_nothing(db_path, tmp_path):
    copy = tmp_path / "sendbench.db"  # a copy, so the module's database stays as first built
    shutil.copyfile(db_path, copy)

    def count() -> int:
        with closing(sqlite3.connect(copy)) as connection:
            return connection.execute("select count(*) from observations").fetchone()[0]

    before = count()
    result = invoke("refresh", "--from", str(SHARED_DATA), "--db", str(copy))
    assert result.exit_code == 0, result.output
    for dataset_id in ("dfe_areas", "dfe_ehcp"):
        assert re.search(rf"^{dataset_id}\s+unchanged", result.output, re.MULTILINE), result.output
    assert count() == before > 0


def test_the_parquet_export_of_the_real_database_round_trips(db_path, tmp_path):
    """Every exported table read back with pyarrow (Hive partitions) equals its SQLite table."""
    import math

    import pyarrow.dataset as pads

    result = invoke("export", str(tmp_path / "export"), "--db", str(db_path))
    assert result.exit_code == 0, result.output
    keys = {"observations": "dataset_id", "benchmarks": "dataset_id", "indicators": "dataset",
            "areas": None, "statistical_neighbours": None}  # fmt: skip
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as plain:
        for table, key in keys.items():
            cursor = plain.execute(f"select * from [{table}]")
            names = [c[0] for c in cursor.description]
            rows = [tuple(r) for r in cursor]
            back = pads.dataset(tmp_path / "export" / table, format="parquet",
                                partitioning="hive" if key else None)  # fmt: skip
            got = back.to_table().to_pandas()[names].itertuples(index=False, name=None)

            def norm(values):
                return sorted(
                    (tuple(None if isinstance(v, float) and math.isnan(v) else v for v in r)
                     for r in values), key=repr)  # fmt: skip

            assert norm(got) == norm(rows), table
            assert len(rows) > 0
