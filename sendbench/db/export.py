"""The national database as Parquet or gzipped CSV, for analysts who query it outside SQLite.

``sendbench export DIR --format parquet`` writes ``observations``, ``benchmarks``, ``areas``,
``indicators`` and ``statistical_neighbours`` under ``DIR``, one folder per table, with the
tables' own column names and types (SQLite ``TEXT`` → Arrow ``string``, ``REAL`` → ``double``,
``INTEGER`` → ``int64``). The large tables are partitioned by dataset in Hive style, so DuckDB,
Polars, R arrow and Spark read one dataset without touching the others:

- ``observations/dataset_id=<id>/part-0.parquet`` (the ``dataset_id`` column is the folder);
- ``benchmarks/dataset_id=<id>/part-0.parquet`` (the indicator's dataset, from ``indicators``:
  benchmarks have no dataset column of their own, so ``dataset_id`` is the folder only);
- ``indicators/dataset=<id>/part-0.parquet``;
- ``areas/part-0.parquet``, ``statistical_neighbours/part-0.parquet``.

``--format csv`` writes the same layout as ``part-0.csv.gz`` (every column kept in the file,
the partition column too, since a CSV has no schema; empty cells are NULL). Rows are read from
SQLite in batches and written as they come, so the export's memory does not grow with the
database. Each table is written to a temporary folder and then put in place, and
``export.json`` records what was written (rows per table and partition, the columns and their
types, the database and when).
"""

from __future__ import annotations

import json
import shutil
import sqlite3
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from sendbench import __version__
from sendbench.errors import SendbenchError

FORMATS = ("parquet", "csv")
BATCH_ROWS = 100_000
ARROW_TYPES = {"TEXT": pa.string(), "REAL": pa.float64(), "INTEGER": pa.int64(),
               "NUMERIC": pa.float64(), "": pa.string()}  # fmt: skip


@dataclass(frozen=True)
class TableExport:
    """A table and how it is split: by one of its columns, by a value looked up, or not."""

    name: str
    key: str | None = None  # the partition column (its folder name)
    key_sql: str | None = None  # where the key comes from, when it is not a column of the table


TABLES = (
    TableExport("observations", "dataset_id"),
    TableExport("benchmarks", "dataset_id",
                "(select dataset from indicators i where i.id = t.indicator_id)"),
    TableExport("indicators", "dataset"),
    TableExport("areas"),
    TableExport("statistical_neighbours"),
)  # fmt: skip


class ExportError(SendbenchError):
    """The database cannot be exported (missing, or without a table the export writes)."""


def export(db_path: Path, out_dir: Path, fmt: str = "parquet", say=lambda message: None) -> dict:
    """Write the tables under ``out_dir`` as ``fmt``; returns what ``export.json`` records."""
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r} (choose {' or '.join(FORMATS)})")
    db_path, out_dir = Path(db_path), Path(out_dir)
    if not db_path.is_file():
        raise ExportError(f"no database at {db_path}: run `sendbench refresh` first")
    out_dir.mkdir(parents=True, exist_ok=True)
    manifest = {"sendbench": __version__, "database": str(db_path.resolve()), "format": fmt,
                "exported_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "tables": {}}  # fmt: skip
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        present = {r[0] for r in conn.execute("select name from sqlite_master where type='table'")}
        missing = [t.name for t in TABLES if t.name not in present]
        if missing:
            raise ExportError(f"{db_path} has no {', '.join(missing)} table: refresh it first")
        for table in TABLES:
            manifest["tables"][table.name] = _export_table(conn, table, out_dir, fmt, say)
    (out_dir / "export.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def schema_of(conn: sqlite3.Connection, table: str) -> pa.Schema:
    """The table's columns as an Arrow schema, from their declared SQLite types."""
    columns = conn.execute(f"pragma table_info([{table}])").fetchall()
    return pa.schema([(name, ARROW_TYPES.get((kind or "").upper(), pa.string()))
                      for _, name, kind, *_ in columns])  # fmt: skip


def _export_table(conn, table: TableExport, out_dir: Path, fmt: str, say) -> dict:
    schema = schema_of(conn, table.name)
    final = out_dir / table.name
    staging = out_dir / f".{table.name}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    counts: dict[str, int] = {}
    if table.key is None:
        counts[""] = _write(conn, f"select * from [{table.name}]", [], schema,
                            staging / _part(fmt), fmt)  # fmt: skip
    else:
        key_sql = table.key_sql or f"t.[{table.key}]"
        values = [r[0] for r in conn.execute(
            f"select distinct {key_sql} from [{table.name}] t order by 1")]  # fmt: skip
        in_file = schema if fmt == "csv" or table.key_sql else _without(schema, table.key)
        for value in values:
            where = f"{key_sql} is ?" if value is None else f"{key_sql} = ?"
            folder = staging / f"{table.key}={_folder_value(value)}"
            folder.mkdir()
            columns = ", ".join(f"t.[{n}]" for n in in_file.names)
            sql = f"select {columns} from [{table.name}] t where {where}"
            counts[str(value)] = _write(conn, sql, [value], in_file, folder / _part(fmt), fmt)
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    rows = sum(counts.values())
    say(f"{table.name}: {rows:,} rows" + (f" in {len(counts)} partitions" if table.key else ""))
    return {
        "rows": rows,
        "partitioned_by": table.key,
        "partitions": counts if table.key else None,
        "columns": {f.name: str(f.type) for f in schema},
    }


def _write(conn, sql: str, params: list, schema: pa.Schema, path: Path, fmt: str) -> int:
    cursor = conn.execute(sql, params)
    rows = 0
    if fmt == "parquet":
        writer = pq.ParquetWriter(path, schema, compression="zstd")
        sink = None
    else:
        sink = pa.CompressedOutputStream(str(path), "gzip")
        writer = pa_csv.CSVWriter(sink, schema)
    try:
        while batch := cursor.fetchmany(BATCH_ROWS):
            columns = list(zip(*batch, strict=True))
            arrays = [pa.array(column, type=field.type)
                      for column, field in zip(columns, schema, strict=True)]  # fmt: skip
            writer.write_table(pa.Table.from_arrays(arrays, schema=schema))
            rows += len(batch)
        if rows == 0 and fmt == "parquet":
            writer.write_table(schema.empty_table())
    finally:
        writer.close()
        if sink is not None:
            sink.close()
    return rows


def _without(schema: pa.Schema, name: str) -> pa.Schema:
    return pa.schema([f for f in schema if f.name != name])


def _part(fmt: str) -> str:
    return "part-0.parquet" if fmt == "parquet" else "part-0.csv.gz"


def _folder_value(value) -> str:
    """A partition value as a Hive folder name (NULL as Hive's default partition)."""
    if value is None:
        return "__HIVE_DEFAULT_PARTITION__"
    text = str(value)
    return "".join(c if c.isalnum() or c in "-_." else f"%{ord(c):02X}" for c in text)
