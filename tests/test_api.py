"""sendbench from Python: the API's DataFrames against the Datasette views they mirror, for three
LAs, and its area resolution."""

from __future__ import annotations

import asyncio
import math
import sqlite3
from contextlib import closing

import pytest
from test_cli_benchmark import INDICATOR, SETS, build_db

import sendbench
from sendbench.benchmark.store import compute_benchmarks
from sendbench.catalogue import load_catalogue
from sendbench.db.serve import make_datasette
from sendbench.errors import AreaError, SendbenchError

THREE = {
    "E06000051": "Shropshire",
    "E06000065": "North Yorkshire",
    "E06000020": "Telford and Wrekin",
}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("api") / "sendbench.db"
    compute_benchmarks(build_db(path))
    return path


@pytest.fixture(scope="module")
def datasette(db_path):
    return make_datasette(db_path, catalogue=load_catalogue())


def view(datasette, table: str, **filters) -> list[dict]:
    """A view's rows as the JSON API serves them."""
    query = "&".join(f"{k}={v}" for k, v in {**filters, "_shape": "array", "_size": "max"}.items())
    response = asyncio.run(datasette.client.get(f"/sendbench/{table}.json?{query}"))
    assert response.status_code == 200, response.text[:300]
    return response.json()


def records(frame) -> list[dict]:
    rows = frame.to_dict("records")
    return [{k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
            for r in rows]  # fmt: skip


def key(row: dict) -> tuple:
    return tuple(str(row.get(k)) for k in ("indicator_id", "period", "outcome_id", "rank"))


@pytest.mark.parametrize("code", list(THREE))
def test_benchmark_scorecard_and_series_equal_the_views(db_path, datasette, code):
    db = sendbench.open(db_path)
    got = records(db.benchmark(THREE[code]))  # by name
    want = view(datasette, "latest_benchmarks", area_code=code)
    assert got and sorted(got, key=key) == sorted(want, key=key)
    assert list(db.benchmark(code).columns) == list(want[0])  # the view's columns, in order
    cards = records(db.scorecard(code))
    assert cards == view(datasette, "outcome_scorecard", area_code=code, _sort="position")
    for set_id in SETS:
        series = records(db.series(INDICATOR, code, neighbours=set_id))
        expect = view(datasette, "indicator_series", indicator_id=INDICATOR, area_code=code,
                      neighbour_set=set_id, _sort="period_start")  # fmt: skip
        assert series == expect and len(series) > 1


def test_a_period_an_outcome_an_indicator_and_another_set(db_path):
    db = sendbench.open(db_path)
    with closing(sqlite3.connect(db_path)) as conn:
        stored = conn.execute(
            "select value, sn_mean, rank from benchmarks where area_code = 'E06000051' "
            "and indicator_id = ? and neighbour_set = 'dfe-2021-04-lgr' and period = '2020'",
            [INDICATOR],
        ).fetchone()
    rows = db.benchmark("893", neighbours="dfe-2021-04-lgr", period="2020", indicator=INDICATOR)
    assert len(rows) == 1
    assert tuple(rows.iloc[0][["value", "sn_mean", "rank"]]) == stored
    every = db.benchmark("E06000051", period=None, indicator=INDICATOR)
    assert sorted(every["period"]) == ["2019", "2020", "2021", "2022", "2023", "2024"]
    outcome = db.benchmark("E06000051", outcome="families_heard")
    with closing(sqlite3.connect(db_path)) as conn:
        linked = {
            r[0]
            for r in conn.execute(
                "select indicator_id from indicator_outcomes where outcome_id = 'families_heard'"
            )
        }
    assert set(outcome["indicator_id"]) <= linked and len(outcome) > 0
    with pytest.raises(SendbenchError, match="no logic-model outcome 'nope'"):
        db.benchmark("E06000051", outcome="nope")


def test_observations_neighbours_catalogue_and_status_equal_the_tables(db_path, datasette):
    db = sendbench.open(db_path)
    got = records(db.observations(indicator_id=INDICATOR, area="Shropshire"))
    want = view(datasette, "observations", indicator_id=INDICATOR, area_code="E06000051")
    assert sorted(got, key=repr) == sorted(({k: v for k, v in r.items() if k != "rowid"}
                                            for r in want), key=repr)  # fmt: skip
    both = db.observations(indicator_id=INDICATOR, area_code=["E06000051", "E06000020"])
    assert set(both["area_code"]) == {"E06000051", "E06000020"}
    with pytest.raises(SendbenchError, match="observations has no column colour"):
        db.observations(colour="red")
    neighbours = db.neighbours("Shropshire", set="dfe-2025-05")
    assert list(neighbours["neighbour_code"]) == SETS["dfe-2025-05"]["E06000051"]
    assert len(db.catalogue()) == len(view(datasette, "indicator_catalogue"))
    assert set(db.status()["dataset_id"]) == {r["id"] for r in view(datasette, "datasets")}


def test_unknown_areas_and_databases_are_clear_errors(db_path, tmp_path):
    db = sendbench.open(db_path)
    with pytest.raises(AreaError, match="Shropshire"):
        db.benchmark("Shropshre")
    with pytest.raises(SendbenchError, match="no database at"):
        sendbench.open(tmp_path / "none.db").benchmark("E06000051")
    assert not (tmp_path / "none.db").exists()  # reading never creates one
    assert db.area("893")["area_code"] == "E06000051"
    assert repr(db).startswith("sendbench.Database(")


def test_the_readme_example_runs(db_path, tmp_path, monkeypatch, capsys):
    import re
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Using sendbench from Python", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    (tmp_path / "db").mkdir()
    (tmp_path / "db" / "sendbench.db").symlink_to(db_path)
    monkeypatch.chdir(tmp_path)
    names: dict = {}
    exec(compile(code, "README.md", "exec"), names)  # noqa: S102 - the README's own example
    assert len(names["rows"]) > 0 and len(names["series"]) > 1
    assert len(names["cards"]) > 0 and len(names["neighbours"]) > 0
    assert len(names["caseload"]) > 0
    assert "ehcp_20_week_timeliness_pct" in capsys.readouterr().out


def test_refresh_builds_the_database_and_its_benchmarks(tmp_path, capsys):
    import shutil

    from conftest import FIXTURES, ehcp_zip

    folder = tmp_path / "from"
    folder.mkdir()
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    (folder / "education-health-and-care-plans_2025.zip").write_bytes(ehcp_zip())
    db = sendbench.open(tmp_path / "db" / "sendbench.db")
    quiet = db.refresh(["dfe_areas", "dfe_ehcp"], from_dir=folder, progress=False)
    assert capsys.readouterr().err == ""
    assert dict(zip(quiet["dataset_id"], quiet["status"], strict=True)) == {"dfe_areas": "loaded",
                                                               "dfe_ehcp": "loaded"}  # fmt: skip
    assert quiet.set_index("dataset_id").loc["dfe_ehcp", "rows_loaded"] > 0
    with closing(sqlite3.connect(tmp_path / "db" / "sendbench.db")) as conn:
        stored = conn.execute("select count(*) from benchmarks").fetchone()[0]
    assert stored > 0  # recomputed, as the CLI does
    again = db.refresh(["dfe_ehcp"], from_dir=folder)  # the same files: unchanged
    assert list(again["status"]) == ["unchanged"]
    assert "dfe_ehcp:" in capsys.readouterr().err  # progress to stderr
