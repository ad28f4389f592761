"""One refresh at a time on a database, and the benchmarks recomputed for what changed.

Refreshes run as real ``python -m sendbench`` processes on the real NEET and tribunal files (with
the real LA list and neighbour workbooks), so the lock is the operating system's and a SIGKILL is
a real one.
"""

from __future__ import annotations

import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from contextlib import closing
from pathlib import Path

import pandas as pd
import pytest
import sqlite_utils
from conftest import SHARED_DATA, needs_shared_data

from sendbench.benchmark.store import compute_benchmarks
from sendbench.db.lock import refresh_lock

pytestmark = needs_shared_data

DATASETS = ["dfe_areas", "dfe_statistical_neighbours", "dfe_neet", "tribunal_appeals"]
NEET = SHARED_DATA / "dfe" / "neet"


def start(db: Path, *args: str, source: Path = SHARED_DATA) -> subprocess.Popen:
    command = [sys.executable, "-m", "sendbench", "refresh", *args, "--from", str(source),
               "--db", str(db)]  # fmt: skip
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = 300) -> tuple[int, str]:
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def contents(db: Path) -> dict[str, list[tuple]]:
    """What a refresh built, without the times it ran at."""
    with closing(sqlite3.connect(db)) as conn:
        return {
            "observations": conn.execute(
                "select dataset_id, indicator_id, area_code, period, breakdown, value, status, "
                "release from observations order by 2, 3, 4, 5"
            ).fetchall(),
            "areas": conn.execute("select * from areas order by area_code").fetchall(),
            "neighbours": conn.execute(
                "select * from statistical_neighbours order by set_id, area_code, rank"
            ).fetchall(),
            "releases": conn.execute(
                "select dataset_id, release, order_key from releases order by 1, 2"
            ).fetchall(),
            "benchmarks": conn.execute(
                "select * from benchmarks order by neighbour_set, area_code, indicator_id, period"
            ).fetchall(),
        }


def tables(db: Path) -> list[str]:
    with closing(sqlite3.connect(db)) as conn:
        return [r[0] for r in conn.execute("select name from sqlite_master where type = 'table'")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    """One refresh on its own: what every other way of running must end with."""
    db = tmp_path_factory.mktemp("single") / "sendbench.db"
    code, output = finish(start(db, *DATASETS))
    assert code == 0, output
    return contents(db)


def test_two_refreshes_started_together_end_as_one(tmp_path, reference):
    db = tmp_path / "sendbench.db"
    first, second = start(db, *DATASETS), start(db, *DATASETS)
    (code1, out1), (code2, out2) = finish(first), finish(second)

    assert (code1, code2) == (0, 0), out1 + out2
    assert "Traceback" not in out1 + out2
    waited = [out for out in (out1, out2) if "waiting: another refresh (pid " in out]
    assert len(waited) == 1  # one ran, the other said it was waiting for it
    assert contents(db) == reference
    assert not [t for t in tables(db) if t.startswith("_staging_")]


def test_no_wait_refuses_at_once_naming_the_running_refresh(tmp_path):
    db = tmp_path / "sendbench.db"
    with refresh_lock(db):
        code, output = finish(start(db, "dfe_neet", "--no-wait"), timeout=60)
    assert code == 1
    assert f"another refresh (pid {os.getpid()}, started " in output
    assert f"is running on {db}" in output and "Traceback" not in output


def test_a_waiting_refresh_runs_when_the_first_finishes(tmp_path):
    db = tmp_path / "sendbench.db"
    held = threading.Event()
    release = threading.Event()

    def hold():
        with refresh_lock(db):
            held.set()
            release.wait(60)

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait(10)
    process = start(db, "dfe_areas")
    time.sleep(3)
    assert process.poll() is None  # still waiting
    release.set()
    holder.join()
    code, output = finish(process)
    assert code == 0, output
    assert f"waiting: another refresh (pid {os.getpid()}" in output
    assert sqlite_utils.Database(db)["areas"].count > 0


def test_a_refresh_killed_mid_way_leaves_a_sound_database_and_the_next_run_completes(
    tmp_path, reference
):
    db = tmp_path / "sendbench.db"
    process = start(db, *DATASETS)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:  # kill it once it is writing the NEET release
        if db.exists():
            with closing(sqlite3.connect(db, timeout=30)) as conn:
                found = conn.execute(
                    "select count(*) from sqlite_master where name = 'harvests'"
                ).fetchone()[0]
                if (
                    found
                    and conn.execute(
                        "select count(*) from harvests "
                        "where dataset_id = 'dfe_statistical_neighbours'"
                    ).fetchone()[0]
                ):
                    break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate()
    assert process.returncode == -signal.SIGKILL

    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("pragma integrity_check").fetchone()[0] == "ok"

    code, output = finish(start(db, *DATASETS))
    assert code == 0, output
    assert contents(db) == reference
    assert not [t for t in tables(db) if t.startswith("_staging_")]


def test_benchmarks_recomputed_for_changed_indicators_equal_a_full_recompute(tmp_path):
    db = tmp_path / "sendbench.db"
    newer = tmp_path / "newer"
    newer.mkdir()
    for year in ("2022", "2023"):
        shutil.copy(NEET / f"UD_NEETNK_LA_dashboard_{year}_final.csv", newer)
    code, output = finish(start(db, *DATASETS[:2]))
    assert code == 0, output
    code, output = finish(start(db, "dfe_neet", source=newer))
    assert code == 0, output
    older = tmp_path / "older"
    older.mkdir()
    shutil.copy(NEET / "UD_NEETNK_LA_dashboard_2021_vg_removed.csv", older)

    code, output = finish(start(db, "dfe_neet", source=older))

    assert code == 0, output
    with closing(sqlite3.connect(db)) as conn:
        changed = {r[0] for r in conn.execute(
            "select distinct indicator_id from observations where release = '2021'")}  # fmt: skip
        run = conn.execute(
            "select indicators_recomputed from benchmark_runs order by id desc limit 1"
        ).fetchone()[0]
    assert run == len(changed) > 0
    assert f"({len(changed)} changed indicators)" in output
    partial = contents(db)
    with closing(sqlite3.connect(db)) as conn:
        cards = pd.read_sql("select * from benchmark_scorecard order by 1, 2, 3", conn)
    full = compute_benchmarks(sqlite_utils.Database(db))
    assert full["indicators_recomputed"] is None
    assert contents(db)["benchmarks"] == partial["benchmarks"]
    with closing(sqlite3.connect(db)) as conn:
        again = pd.read_sql("select * from benchmark_scorecard order by 1, 2, 3", conn)
    pd.testing.assert_frame_equal(cards, again)
