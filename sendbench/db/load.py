"""Loading a parsed release into the database: all or nothing, and nothing published is lost.

Raw tables, owned tables and observations are first written to staging tables named for the run
(``_staging_<run>_…``, so two runs never share one); then one transaction merges them in. If
anything fails the transaction rolls back and the dataset's data stays exactly as it was.

Observations accumulate across releases. For each indicator, area, period and breakdown:

- a key the database does not hold is added, with its release;
- a key it holds is replaced only by a value that is *at least as strong*: a release gives a
  figure (a number, or a symbol that is a statement about the figure such as ``c`` suppressed)
  or no figure (``x``/``..`` not available, ``z`` not applicable, an empty cell); a figure beats
  no figure, then the newer release (``sendbench.releases``) beats the older, and a reload of
  the same release replaces its own values. So a newer release revises what it covers, an older
  or partial file never erases a newer value, and a newer file that has no figure for a cell an
  older release published never blanks it. The result does not depend on the order of loading;
- every key the new files do not hold stays as it was, with its own release.

Raw tables are kept per release: ``raw_<dataset>_<file>`` is the newest release's copy, an older
release's copy of the same file is ``raw_<dataset>_<file>__<release>`` (``source_tables`` says
which is which). Tables a dataset owns (``areas`` for the LA list) are refilled from the newest
release only, or by key (``Parsed.replace_by``); an owned table the schema does not define
(``send_inspections``) is created by the dataset's first load. ``replace=True`` (``refresh --replace``)
first removes everything the dataset held, in the same transaction.
"""

from __future__ import annotations

import logging
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timezone

import pandas as pd
import sqlite_utils

from sendbench.harvesters.base import OBSERVATION_COLUMNS, Parsed, Release
from sendbench.normalise import NO_FIGURE_STATUSES
from sendbench.releases import order_key, slug

log = logging.getLogger(__name__)

STAGING = "_staging_"
STAGE_ROWS = 50_000  # rows converted at a time: a 641k-row LAIT table is never copied whole
KEY = ("indicator_id", "area_code", "period", "breakdown")
# Columns whose equality makes a re-published value "the same" (release aside).
VALUE_COLUMNS = (
    "value", "numerator", "denominator", "status", "period_start", "period_end",
    "source_area_code", "flag",
)  # fmt: skip


@dataclass
class LoadSummary:
    """What one load did to a dataset's observations, raw tables and owned tables."""

    observations: int = 0  # rows the release gave
    actions: dict[str, int] = field(default_factory=dict)  # added, revised, … (see ACTIONS)
    changed_indicators: set[str] = field(default_factory=set)
    raw_tables: dict[str, str] = field(default_factory=dict)  # table -> release it holds
    notes: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line for the harvest summary, e.g. ``added 1,272, kept 2,560 newer values``."""
        parts = [f"{ACTIONS[a]} {n:,}" for a, n in self.actions.items() if n and a in ACTIONS]
        return ", ".join(parts) or "no observations"


ACTIONS = {
    "added": "added",
    "revised": "revised",
    "filled": "filled (a figure where the newer release gives none)",
    "confirmed": "re-published unchanged by a newer release",
    "same": "unchanged",
    "kept_newer": "not applied (a newer release holds the key)",
    "kept_figure": "not applied (no figure where the database holds one)",
}


def load_parsed(
    db: sqlite_utils.Database,
    dataset_id: str,
    parsed: Parsed,
    *,
    release: Release | None = None,
    run_id: str = "run",
    replace: bool = False,
) -> LoadSummary:
    """Merge ``parsed`` into the database atomically (see the module docstring)."""
    conn = db.conn
    labels = _labels(parsed, release)
    staged: dict[str, str] = {}
    summary = LoadSummary()
    try:
        for name, frame in [*parsed.raw_tables.items(), *parsed.tables.items()]:
            staged[name] = _stage(conn, f"{STAGING}{run_id}_{name}", frame)
        if parsed.observations is not None:
            _stage_observations(conn, run_id, parsed.observations, labels, release)
        _swap(db, dataset_id, parsed, staged, labels, release, run_id, replace, summary)
    finally:
        for staging in staged.values():
            conn.execute(f"DROP TABLE IF EXISTS [{staging}]")
        conn.execute(f"DROP TABLE IF EXISTS temp.[{STAGING}{run_id}_obs]")
        conn.execute(f"DROP TABLE IF EXISTS temp.[{STAGING}{run_id}_merge]")
        conn.commit()
        conn.executescript("PRAGMA incremental_vacuum;")
    summary.observations = 0 if parsed.observations is None else len(parsed.observations)
    return summary


def drop_stale_staging(db: sqlite_utils.Database) -> list[str]:
    """Drop staging tables a killed run left behind (call only while holding the refresh lock)."""
    stale = [t for t in db.table_names() if t.startswith(STAGING)]
    for table in stale:
        db.conn.execute(f"DROP TABLE IF EXISTS [{table}]")
    db.conn.commit()
    return stale


def _labels(parsed: Parsed, release: Release | None) -> dict[str, str]:
    """Each release label the load brings -> its order key."""
    main = release.label if release else "local"
    published = release.published if release else None
    found = {main}
    if parsed.observations is not None and len(parsed.observations):
        found.update(str(x) for x in parsed.observations["release"].dropna().unique())
    found.update(parsed.raw_releases.values())
    return {label: order_key(label, published if label == main else None) for label in found}


def _stage(conn: sqlite3.Connection, staging: str, frame: pd.DataFrame) -> str:
    for start in range(0, max(len(frame), 1), STAGE_ROWS):
        part = frame.iloc[start : start + STAGE_ROWS]
        clean = part.astype(object).where(part.notna(), None)
        mode = "replace" if start == 0 else "append"
        clean.to_sql(staging, conn, if_exists=mode, index=False, chunksize=5000)
    return staging


def _stage_observations(conn, run_id: str, frame: pd.DataFrame, labels, release) -> None:
    """The new observations in a temporary table, each with its release's order and strength."""
    table = f"{STAGING}{run_id}_obs"
    cols = ", ".join(f"[{c}]" for c in OBSERVATION_COLUMNS)
    conn.execute(f"DROP TABLE IF EXISTS temp.[{table}]")
    conn.execute(f"CREATE TEMP TABLE [{table}] ({cols}, rk TEXT, fig INTEGER)")
    main = release.label if release else "local"
    marks = ", ".join("?" for _ in range(len(OBSERVATION_COLUMNS) + 2))
    for start in range(0, len(frame), STAGE_ROWS):
        part = frame.iloc[start : start + STAGE_ROWS][OBSERVATION_COLUMNS]
        part = part.assign(release=part["release"].fillna(main))
        rk = part["release"].map(labels)
        status = part["status"]
        fig = part["value"].notna() | (status.notna() & ~status.isin(NO_FIGURE_STATUSES))
        fig = fig.astype(int)
        clean = part.astype(object).where(part.notna(), None).assign(rk=rk, fig=fig)
        conn.executemany(
            f"INSERT INTO temp.[{table}] VALUES ({marks})",
            clean.itertuples(index=False, name=None),
        )


def _swap(db, dataset_id, parsed, staged, labels, release, run_id, replace, summary) -> None:
    conn = db.conn
    conn.commit()
    conn.execute("BEGIN IMMEDIATE")
    try:
        removed = _remove_dataset(db, dataset_id) if replace else set()
        _save_releases(conn, dataset_id, labels, release)
        newest = _is_newest(conn, dataset_id, max(labels.values()))
        for name in parsed.raw_tables:
            label = parsed.raw_releases.get(name, release.label if release else "local")
            table = _place_raw(db, dataset_id, name, staged[name], label, labels[label])
            summary.raw_tables[table] = label
        for name, frame in parsed.tables.items():
            key = parsed.replace_by.get(name)
            if key is None and not newest:
                summary.notes.append(f"{name} kept as the newer release has it (an older release)")
                continue
            _refill(conn, name, staged[name], list(frame.columns), key)
        if parsed.observations is not None:
            _merge(conn, dataset_id, run_id, summary)
        summary.changed_indicators |= removed  # a rebuild may leave an indicator with less
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _remove_dataset(db: sqlite_utils.Database, dataset_id: str) -> set[str]:
    """Remove everything the dataset holds; returns the indicators it had observations for."""
    conn = db.conn
    held = conn.execute(
        "SELECT DISTINCT indicator_id FROM observations WHERE dataset_id = ?", [dataset_id]
    )
    indicators = {r[0] for r in held}
    conn.execute("DELETE FROM observations WHERE dataset_id = ?", [dataset_id])
    tables = conn.execute("SELECT table_name FROM source_tables WHERE dataset_id = ?", [dataset_id])
    for (table,) in tables.fetchall():
        conn.execute(f"DROP TABLE IF EXISTS [{table}]")
    conn.execute("DELETE FROM source_tables WHERE dataset_id = ?", [dataset_id])
    conn.execute("DELETE FROM releases WHERE dataset_id = ?", [dataset_id])
    return indicators


def _save_releases(conn, dataset_id: str, labels: dict[str, str], release: Release | None):
    now = _now()
    for label, key in labels.items():
        mine = release is not None and label == release.label
        published = release.published if mine else None
        conn.execute(
            "INSERT INTO releases (dataset_id, release, order_key, first_loaded) "
            "VALUES (?, ?, ?, ?) ON CONFLICT (dataset_id, release) DO NOTHING",
            [dataset_id, label, key, now],
        )
        conn.execute(
            "UPDATE releases SET last_loaded = ?, published = coalesce(?, published), "
            "release_id = coalesce(?, release_id), source = coalesce(?, source), "
            "order_key = CASE WHEN ? IS NULL THEN order_key ELSE ? END "
            "WHERE dataset_id = ? AND release = ?",
            [now, published, release.release_id if mine else None,
             (release.url if mine else None), published, key, dataset_id, label],
        )  # fmt: skip


def _is_newest(conn, dataset_id: str, key: str) -> bool:
    row = conn.execute("SELECT max(order_key) FROM releases WHERE dataset_id = ?", [dataset_id])
    held = row.fetchone()[0]
    return held is None or key >= held


def _place_raw(db, dataset_id: str, name: str, staging: str, label: str, key: str) -> str:
    """Put a staged raw table in place for its release; returns the table name it got."""
    conn = db.conn
    row = conn.execute(
        "SELECT r.release, coalesce(x.order_key, '') FROM source_tables r "
        "LEFT JOIN releases x ON x.dataset_id = r.dataset_id AND x.release = r.release "
        "WHERE r.table_name = ?",
        [name],
    ).fetchone()
    target = name
    if row and row[0] != label:
        if key >= row[1]:  # the held copy is older: it moves aside under its release
            aside = f"{name}__{slug(row[0])}"
            conn.execute(f"DROP TABLE IF EXISTS [{aside}]")
            conn.execute(f"ALTER TABLE [{name}] RENAME TO [{aside}]")
            conn.execute("UPDATE source_tables SET table_name = ? WHERE table_name = ?", [aside, name])
        else:  # the new copy is the older one
            target = f"{name}__{slug(label)}"
    conn.execute(f"DROP TABLE IF EXISTS [{target}]")
    conn.execute(f"ALTER TABLE [{staging}] RENAME TO [{target}]")
    rows = conn.execute(f"SELECT count(*) FROM [{target}]").fetchone()[0]
    conn.execute(
        "INSERT OR REPLACE INTO source_tables (table_name, dataset_id, release, file, rows, loaded) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [target, dataset_id, label, name.removeprefix(f"raw_{dataset_id}_"), rows, _now()],
    )
    return target


def _merge(conn: sqlite3.Connection, dataset_id: str, run_id: str, summary: LoadSummary) -> None:
    new, merge = f"temp.[{STAGING}{run_id}_obs]", f"temp.[{STAGING}{run_id}_merge]"
    on = " AND ".join(f"o.[{c}] = s.[{c}]" for c in KEY)
    same = " AND ".join(f"o.[{c}] IS s.[{c}]" for c in VALUE_COLUMNS)
    old_fig = (
        f"(o.value IS NOT NULL OR (o.status IS NOT NULL AND o.status NOT IN ({_no_figure_list()})))"
    )
    conn.execute(f"DROP TABLE IF EXISTS {merge}")
    conn.execute(
        f"CREATE TEMP TABLE [{STAGING}{run_id}_merge] AS "
        f"SELECT s.rowid AS srow, o.rowid AS orow, s.indicator_id AS indicator_id, CASE "
        f"WHEN o.rowid IS NULL THEN 'added' "
        f"WHEN s.fig > {old_fig} AND s.rk < coalesce(r.order_key, '') THEN 'filled' "
        f"WHEN s.fig > {old_fig} OR (s.fig = {old_fig} AND s.rk >= coalesce(r.order_key, '')) "
        f"THEN CASE WHEN NOT ({same}) THEN 'revised' "
        f"WHEN o.release IS s.release THEN 'same' ELSE 'confirmed' END "
        f"WHEN s.fig < {old_fig} THEN 'kept_figure' ELSE 'kept_newer' END AS action "
        f"FROM {new} s LEFT JOIN observations o ON {on} "
        f"LEFT JOIN releases r ON r.dataset_id = o.dataset_id AND r.release = o.release"
    )
    conn.execute(
        f"DELETE FROM observations WHERE rowid IN "
        f"(SELECT orow FROM {merge} WHERE action IN ('revised', 'filled', 'confirmed'))"
    )
    cols = ", ".join(f"[{c}]" for c in OBSERVATION_COLUMNS)
    picked = ", ".join(f"s.[{c}]" for c in OBSERVATION_COLUMNS)
    conn.execute(
        f"INSERT INTO observations ({cols}) SELECT {picked} FROM {new} s "
        f"JOIN {merge} m ON m.srow = s.rowid "
        f"WHERE m.action IN ('added', 'revised', 'filled', 'confirmed')"
    )
    counts = conn.execute(f"SELECT action, count(*) FROM {merge} GROUP BY action")
    found = dict(counts.fetchall())
    summary.actions = {a: found.get(a, 0) for a in ACTIONS}
    changed = conn.execute(
        f"SELECT DISTINCT indicator_id FROM {merge} WHERE action IN ('added', 'revised', 'filled')"
    )
    summary.changed_indicators = {r[0] for r in changed}


def _no_figure_list() -> str:
    return ", ".join(f"'{s}'" for s in sorted(NO_FIGURE_STATUSES))


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
    cols = ", ".join(f"[{c}]" for c in columns)
    conn.execute(f"INSERT INTO [{table}] ({cols}) SELECT {cols} FROM [{staging}]")


def register_existing(db: sqlite_utils.Database) -> None:
    """Record the releases and raw tables of a database an older sendbench built.

    Releases come from the observations' ``release`` labels (with the publication date the
    harvests recorded); an unregistered raw table belongs to the dataset whose id is the longest
    prefix of its name (``raw_dfe_ks4_destinations_…`` is dfe_ks4_destinations', not dfe_ks4's),
    as a copy of that dataset's last loaded release.
    """
    conn = db.conn
    pairs = conn.execute(
        "SELECT DISTINCT o.dataset_id, o.release FROM observations o WHERE NOT EXISTS "
        "(SELECT 1 FROM releases r WHERE r.dataset_id = o.dataset_id AND r.release = o.release)"
    ).fetchall()
    last = dict(
        conn.execute(
            "SELECT dataset_id, release FROM harvests WHERE id IN "
            "(SELECT max(id) FROM harvests WHERE status = 'loaded' GROUP BY dataset_id)"
        ).fetchall()
    )
    published = dict(
        conn.execute(
            "SELECT dataset_id || '|' || release, max(published) FROM harvests "
            "WHERE status = 'loaded' GROUP BY dataset_id, release"
        ).fetchall()
    )
    rows = [
        (d, r, order_key(r, published.get(f"{d}|{r}")), published.get(f"{d}|{r}"))
        for d, r in pairs
        if r is not None
    ]
    ids = sorted((r[0] for r in conn.execute("SELECT id FROM datasets")), key=len, reverse=True)
    registered = {r[0] for r in conn.execute("SELECT table_name FROM source_tables")}
    raw = []
    for table in db.table_names():
        if not table.startswith("raw_") or table in registered:
            continue
        owner = next((d for d in ids if table.startswith(f"raw_{d}_")), None)
        if owner:
            raw.append((table, owner, last.get(owner) or "local", table[len(owner) + 5 :]))
    if not rows and not raw:
        return
    conn.executemany(
        "INSERT OR IGNORE INTO releases (dataset_id, release, order_key, published) "
        "VALUES (?, ?, ?, ?)",
        rows,
    )
    conn.executemany(
        "INSERT OR IGNORE INTO source_tables (table_name, dataset_id, release, file) "
        "VALUES (?, ?, ?, ?)",
        raw,
    )
    conn.commit()


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
