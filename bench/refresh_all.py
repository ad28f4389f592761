"""A full refresh from the real files against its floor: reading them and inserting their rows.

Run from the repository root with the real files beside it:

    .venv/bin/python bench/refresh_all.py [--data ../shared/data] [--repeat 3]

Each job runs in its own Python process (time from start to end, peak memory as the process's
own VmHWM), the jobs interleaved ``--repeat`` times because the machines are shared and noisy:
compare the ratios within one run.

- ``refresh``: ``sendbench refresh --from DATA`` into a new database (every dataset with files
  there, and the benchmark recompute that ends every refresh; its seconds are shown apart, from
  the ``benchmark_runs`` table).
- ``floor``: what any refresh must do at least: read every file that run loaded (the harvests
  table lists them) with pandas (a CSV or gzip as text, each CSV of a zip, every sheet of a
  workbook, a Parquet file), and insert the same raw cells (every cell as text, a table per file
  or sheet) and the same observation rows (read from the refreshed database) into a new SQLite
  database with ``executemany`` in one transaction.

The issue's target is refresh <= 2 x the floor's time and <= 1.5 x its memory.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PEAK = """
def peak_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
"""
REFRESH = (
    PEAK
    + """
import json, sys, time
t0 = time.perf_counter()
from click.testing import CliRunner
from sendbench.cli import main
result = CliRunner().invoke(main, ["refresh", "--from", sys.argv[1], "--db", sys.argv[2], "--quiet"])
assert result.exit_code == 0, result.output[-2000:]
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": peak_mb()}))
"""
)
FLOOR = (
    PEAK
    + r"""
import io, json, sqlite3, sys, time, zipfile
t0 = time.perf_counter()
import pandas as pd
files, built, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]

def frames(path):
    name = path.lower()
    head = open(path, "rb").read(4)
    is_zip = head == b"PK\x03\x04" and not name.endswith((".xlsx", ".ods"))
    if name.endswith((".csv", ".csv.gz")) and not is_zip:  # a .csv.gz may be a zip: by its bytes
        yield path, pd.read_csv(path, dtype=str, keep_default_na=False, encoding_errors="replace",
                                compression="gzip" if head[:2] == b"\x1f\x8b" else None)
    elif is_zip:
        with zipfile.ZipFile(path) as archive:
            for member in archive.namelist():
                if member.lower().endswith(".csv"):
                    with archive.open(member) as fh:
                        yield member, pd.read_csv(fh, dtype=str, keep_default_na=False,
                                                  encoding_errors="replace")
    elif name.endswith((".xlsx", ".ods")):
        for sheet, frame in pd.read_excel(path, sheet_name=None, header=None, dtype=object).items():
            yield f"{path}:{sheet}", frame.astype(str)
    elif name.endswith(".parquet"):
        yield path, pd.read_parquet(path).astype(str)

conn = sqlite3.connect(out)
obs = pd.read_sql("select * from observations", sqlite3.connect(built))
with conn:
    for number, path in enumerate(files):
        for part, (label, frame) in enumerate(frames(path)):
            table = f"raw_{number}_{part}"
            cols = ", ".join(f"c{i} text" for i in range(frame.shape[1]))
            conn.execute(f"create table {table} ({cols})")
            marks = ", ".join("?" for _ in range(frame.shape[1]))
            conn.executemany(f"insert into {table} values ({marks})",
                             frame.itertuples(index=False, name=None))
    cols = ", ".join(f"[{c}]" for c in obs.columns)
    conn.execute(f"create table observations ({cols})")
    marks = ", ".join("?" for _ in obs.columns)
    rows = obs.astype(object).where(obs.notna(), None).itertuples(index=False, name=None)
    conn.executemany(f"insert into observations values ({marks})", rows)
print(json.dumps({"seconds": time.perf_counter() - t0, "peak_mb": peak_mb(), "rows": len(obs)}))
"""
)


def run(code: str, *args: str) -> dict:
    answer = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                            check=False)  # fmt: skip
    if answer.returncode != 0:
        raise SystemExit(answer.stderr[-3000:])
    return json.loads(answer.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    results: dict[str, list[dict]] = {"refresh": [], "floor": []}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in range(args.repeat):
            db = folder / f"refresh{n}.db"
            results["refresh"].append(run(REFRESH, str(args.data), str(db)))
            with sqlite3.connect(db) as conn:
                files = sorted({r[0] for r in conn.execute(
                    "select source from harvests where status in ('loaded', 'replaced') "
                    "and source is not null")})  # fmt: skip
                bench = conn.execute("select seconds from benchmark_runs order by id desc limit 1")
                results["refresh"][-1]["benchmarks_s"] = bench.fetchone()[0]
            results["floor"].append(
                run(FLOOR, json.dumps(files), str(db), str(folder / f"f{n}.db"))
            )
        med = {job: {k: statistics.median(r[k] for r in rs) for k in ("seconds", "peak_mb")}
               for job, rs in results.items()}  # fmt: skip
        bench_s = statistics.median(r["benchmarks_s"] for r in results["refresh"])
    print(f"files read: {len(files)}; observation rows: {results['floor'][0]['rows']:,}")
    for job, m in med.items():
        print(f"{job:8} median {m['seconds']:6.1f} s, peak {m['peak_mb']:6.0f} MB "
              f"({args.repeat} runs)")  # fmt: skip
    print(f"refresh's benchmark recompute: {bench_s:.1f} s of it")
    t, mem = (
        med["refresh"]["seconds"] / med["floor"]["seconds"],
        (med["refresh"]["peak_mb"] / med["floor"]["peak_mb"]),
    )
    less = (med["refresh"]["seconds"] - bench_s) / med["floor"]["seconds"]
    print(f"refresh / floor: time {t:.2f}x ({less:.2f}x without the benchmarks), memory {mem:.2f}x"
          " (targets: 2x, 1.5x)")  # fmt: skip


if __name__ == "__main__":
    main()
