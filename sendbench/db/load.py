"""Loading a parsed release into the database, all or nothing.

Raw tables and owned tables are first written to staging tables (``_staging_…``); then one
transaction swaps them in: the dataset's raw tables are replaced, its observations deleted and
re-inserted, and any table it owns (``areas`` for the LA list) refilled; an owned table the
schema does not define (``send_inspections``) is created by the dataset's first load. If anything
fails the transaction rolls back and the dataset's previous data stays exactly as it was.
"""

from __future__ import annotations

import logging
import sqlite3

import pandas as pd
import sqlite_utils

from sendbench.harvesters.base import OBSERVATION_COLUMNS, Parsed

log = logging.getLogger(__name__)

STAGING = "_staging_"


def load_parsed(db: sqlite_utils.Database, dataset_id: str, parsed: Parsed) -> int:
    """Replace ``dataset_id``'s data with ``parsed`` atomically; return observations loaded."""
    conn = db.conn
    staged: dict[str, str] = {}
    try:
        for name, frame in parsed.raw_tables.items():
            staged[name] = _stage(conn, name, frame)
        for name, frame in parsed.tables.items():
            staged[name] = _stage(conn, name, frame)
        _swap(db, dataset_id, parsed, staged)
    finally:
        for staging in staged.values():
            conn.execute(f"DROP TABLE IF EXISTS [{staging}]")
        conn.commit()
        conn.executescript("PRAGMA incremental_vacuum;")
    return 0 if parsed.observations is None else len(parsed.observations)


STAGE_ROWS = 50_000  # rows converted at a time: a 641k-row LAIT table is never copied whole


def _stage(conn: sqlite3.Connection, name: str, frame: pd.DataFrame) -> str:
    staging = f"{STAGING}{name}"
    for start in range(0, max(len(frame), 1), STAGE_ROWS):
        part = frame.iloc[start : start + STAGE_ROWS]
        clean = part.astype(object).where(part.notna(), None)
        mode = "replace" if start == 0 else "append"
        clean.to_sql(staging, conn, if_exists=mode, index=False, chunksize=5000)
    return staging


def _swap(db: sqlite_utils.Database, dataset_id: str, parsed: Parsed, staged: dict[str, str]):
    conn = db.conn
    conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        for old in _raw_tables_of(db, dataset_id):
            if old not in parsed.raw_tables:
                conn.execute(f"DROP TABLE [{old}]")
        for name in parsed.raw_tables:
            conn.execute(f"DROP TABLE IF EXISTS [{name}]")
            conn.execute(f"ALTER TABLE [{staged[name]}] RENAME TO [{name}]")
        for name in parsed.tables:
            columns = list(parsed.tables[name].columns)
            _refill(conn, name, staged[name], columns, parsed.replace_by.get(name))
        if parsed.observations is not None:
            # Inserted straight into place (no staging copy): the transaction still makes the
            # delete and the insert one step.
            conn.execute("DELETE FROM observations WHERE dataset_id = ?", [dataset_id])
            _insert_rows(conn, "observations", parsed.observations[OBSERVATION_COLUMNS])
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _refill(
    conn: sqlite3.Connection, table: str, staging: str, columns: list[str], key: str | None
) -> None:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table]
    ).fetchone()
    if not exists:  # a table a dataset owns is created, empty, by its first load
        conn.execute(f"CREATE TABLE [{table}] AS SELECT * FROM [{staging}] WHERE 0")
    if key is None:
        conn.execute(f"DELETE FROM [{table}]")
    else:
        conn.execute(f"DELETE FROM [{table}] WHERE [{key}] IN (SELECT [{key}] FROM [{staging}])")
    _insert_from(conn, table, staging, columns)


def _insert_rows(conn: sqlite3.Connection, table: str, frame: pd.DataFrame) -> None:
    cols = ", ".join(f"[{c}]" for c in frame.columns)
    marks = ", ".join("?" for _ in frame.columns)
    for start in range(0, len(frame), STAGE_ROWS):
        part = frame.iloc[start : start + STAGE_ROWS]
        clean = part.astype(object).where(part.notna(), None)
        conn.executemany(
            f"INSERT INTO [{table}] ({cols}) VALUES ({marks})",
            clean.itertuples(index=False, name=None),
        )


def _insert_from(conn: sqlite3.Connection, table: str, staging: str, columns: list[str]) -> None:
    cols = ", ".join(f"[{c}]" for c in columns)
    conn.execute(f"INSERT INTO [{table}] ({cols}) SELECT {cols} FROM [{staging}]")


def _raw_tables_of(db: sqlite_utils.Database, dataset_id: str) -> list[str]:
    prefix = f"raw_{dataset_id}_"
    return [t for t in db.table_names() if t.startswith(prefix)]
