"""`sendbench export`: the tables as Parquet and gzipped CSV, partitioned by dataset, round-trip
equal to SQLite (read back here with pyarrow and the csv module, not sendbench's code)."""

from __future__ import annotations

import json
import math
import sqlite3
from contextlib import closing

import click.testing
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from test_cli_benchmark import build_db

from sendbench.benchmark.store import compute_benchmarks
from sendbench.cli import main

TABLES = {"observations": "dataset_id", "benchmarks": "dataset_id", "indicators": "dataset",
          "areas": None, "statistical_neighbours": None}  # fmt: skip
TYPES = {"TEXT": "string", "REAL": "double", "INTEGER": "int64"}


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "sendbench.db"
    db = build_db(path)
    compute_benchmarks(db)
    # '' and NULL side by side, as refreshed databases have them
    db.execute("update areas set successor_codes = '' where area_type = 'la' and rowid % 2 = 0")
    db.conn.commit()
    return path


def sqlite_rows(db_path, table: str) -> tuple[list[str], list[tuple]]:
    with closing(sqlite3.connect(db_path)) as conn:
        cursor = conn.execute(f"select * from [{table}]")
        return [c[0] for c in cursor.description], [tuple(r) for r in cursor]


def declared(db_path, table: str) -> dict[str, str]:
    with closing(sqlite3.connect(db_path)) as conn:
        return {r[1]: TYPES[r[2].upper()] for r in conn.execute(f"pragma table_info([{table}])")}


def same(rows) -> list[tuple]:
    """Rows comparable across formats: NaN as None, sorted."""
    clean = [tuple(None if isinstance(v, float) and math.isnan(v) else v for v in r) for r in rows]
    return sorted(clean, key=repr)


def run_export(db_path, out, fmt: str):
    result = click.testing.CliRunner().invoke(
        main, ["export", str(out), "--db", str(db_path), "--format", fmt]
    )
    assert result.exit_code == 0, result.output
    return json.loads((out / "export.json").read_text())


def test_parquet_round_trips_with_the_same_columns_and_types(db_path, tmp_path):
    out = tmp_path / "export"
    manifest = run_export(db_path, out, "parquet")
    for table, key in TABLES.items():
        names, rows = sqlite_rows(db_path, table)
        assert rows, table
        files = sorted((out / table).rglob("*.parquet"))
        if key:
            folders = {f.parent.name for f in files}
            with closing(sqlite3.connect(db_path)) as conn:
                if table == "benchmarks":
                    sql = ("select distinct i.dataset from benchmarks b join indicators i "
                           "on i.id = b.indicator_id")  # fmt: skip
                else:
                    sql = f"select distinct [{key}] from [{table}]"
                assert folders == {f"{key}={r[0]}" for r in conn.execute(sql)}
        types = declared(db_path, table)
        for file in files:  # each file has the table's types (the partition column is the folder)
            schema = pq.read_schema(file)
            assert {f.name: str(f.type) for f in schema} == {
                n: t for n, t in types.items() if not (key and n == key)
            }
        back = ds.dataset(out / table, format="parquet", partitioning="hive" if key else None)
        frame = back.to_table().to_pandas()
        frame = frame[names]  # benchmarks' dataset_id is the folder only: not compared
        assert same(frame.itertuples(index=False, name=None)) == same(rows), table
        assert manifest["tables"][table]["rows"] == len(rows)


def test_csv_round_trips_telling_empty_text_from_null(db_path, tmp_path):
    with closing(sqlite3.connect(db_path)) as conn:  # '' and NULL side by side
        empty = conn.execute("select count(*) from areas where successor_codes = ''").fetchone()[0]
        nulls = conn.execute("select count(*) from areas where dfe_code is null").fetchone()[0]
    assert empty and nulls
    out = tmp_path / "export"
    run_export(db_path, out, "csv")
    for table in TABLES:
        names, rows = sqlite_rows(db_path, table)
        types = declared(db_path, table)
        schema = pa.schema(
            [(n, getattr(pa, "float64" if t == "double" else t)()) for n, t in types.items()]
        )
        options = pa_csv.ConvertOptions(column_types=schema, strings_can_be_null=True,
                                        quoted_strings_can_be_null=False)  # fmt: skip
        got = []
        for file in sorted((out / table).rglob("part-0.csv.gz")):
            read = pa_csv.read_csv(file, convert_options=options)
            assert read.column_names == list(types)  # every column, the partition column too
            got.extend(read.select(names).to_pandas().itertuples(index=False, name=None))
        assert same(got) == same(rows), table


def test_a_second_export_replaces_the_first(db_path, tmp_path):
    out = tmp_path / "export"
    run_export(db_path, out, "parquet")
    (out / "areas" / "stale.parquet").write_bytes(b"old")
    run_export(db_path, out, "parquet")
    assert not (out / "areas" / "stale.parquet").exists()
    assert not list(out.glob(".*.partial"))


def test_a_missing_database_is_a_clear_error(tmp_path):
    result = click.testing.CliRunner().invoke(
        main, ["export", str(tmp_path / "out"), "--db", str(tmp_path / "none.db")]
    )
    assert result.exit_code != 0
    assert "none.db" in result.output
