"""Time and peak memory of recomputing the whole ``benchmarks`` table, and how they grow with the
number of indicators.

Run from the repository root with the real files beside it:

    .venv/bin/python bench/benchmarks.py [--data ../shared/data] [--repeat 3]

It builds one database from the real files (``sendbench refresh --from DATA``: every dataset
with files there, or ``--datasets``), then two copies in which every indicator is duplicated once
and three times (synthetic copies ``<id>__copyN`` with the same observations and outcomes), so the
indicator count is x1, x2 and x4. Each measurement runs in its own Python process (peak RSS is
that job's alone), interleaved, because the machines are shared and noisy: compare the ratios
within one run, not the seconds across runs.

- ``read``: import sendbench and read the inputs (headline observations, areas, indicators,
  neighbours) into DataFrames: the floor under any recompute.
- ``compute``: ``compute_benchmarks(db)``: read, build every row for every neighbour set, the
  scorecard, and replace both tables in one transaction.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

READ = """
import json, resource, sys, time
t0 = time.perf_counter()
import sqlite_utils
from sendbench.benchmark.store import read_inputs
frames = read_inputs(sqlite_utils.Database(sys.argv[1]))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": len(frames["observations"])}))
"""

COMPUTE = """
import json, resource, sys, time
t0 = time.perf_counter()
import sqlite_utils
from sendbench.benchmark.store import compute_benchmarks
run = compute_benchmarks(sqlite_utils.Database(sys.argv[1]))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": run["benchmark_rows"]}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def _build(data: Path, path: Path, datasets: list[str]) -> None:
    command = [sys.executable, "-m", "sendbench", "refresh", *datasets, "--from", str(data),
               "--db", str(path)]  # fmt: skip
    subprocess.run(command, check=False, capture_output=True)  # a failed dataset is reported
    if not path.exists():
        raise SystemExit(f"refresh --from {data} built no database")


def _multiply(base: Path, path: Path, factor: int) -> dict:
    """A copy of ``base`` whose indicators (with observations) appear ``factor`` times."""
    shutil.copy(base, path)
    with sqlite3.connect(path) as conn:
        ids = [r[0] for r in conn.execute("select distinct indicator_id from observations")]
        columns = [r[1] for r in conn.execute("pragma table_info(observations)")]
        ind_columns = [r[1] for r in conn.execute("pragma table_info(indicators)")]
        for copy in range(1, factor):
            suffix = f"__copy{copy}"
            obs = ", ".join(f"indicator_id || '{suffix}'" if c == "indicator_id" else c
                            for c in columns)  # fmt: skip
            conn.execute(
                f"insert into observations ({', '.join(columns)}) select {obs} from observations "
                f"where breakdown = 'Total' and indicator_id not like '%__copy%'"
            )
            ind = ", ".join(f"id || '{suffix}'" if c == "id" else c for c in ind_columns)
            conn.execute(
                f"insert into indicators ({', '.join(ind_columns)}) select {ind} from indicators "
                f"where id in ({', '.join('?' for _ in ids)})",
                ids,
            )
            conn.execute(
                f"insert into indicator_outcomes select indicator_id || '{suffix}', outcome_id "
                "from indicator_outcomes where indicator_id in "
                f"({', '.join('?' for _ in ids)})",
                ids,
            )
        (n_indicators,) = conn.execute(
            "select count(distinct indicator_id) from observations"
        ).fetchone()
        (n_obs,) = conn.execute(
            "select count(*) from observations where breakdown = 'Total'"
        ).fetchone()
    conn.close()
    return {"indicators": n_indicators, "headline_observations": n_obs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--repeat", default=3, type=int)
    parser.add_argument(
        "--datasets", nargs="*", default=[], help="datasets to refresh (default: every one)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sendbench-bench-"))
    factors = (1, 2, 4)
    try:
        base = work / "base.db"
        _build(args.data, base, args.datasets)
        sizes = {f: _multiply(base, work / f"x{f}.db", f) for f in factors}
        results: dict[tuple[str, int], list[dict]] = {}
        for _ in range(args.repeat):
            for f in factors:
                db = str(work / f"x{f}.db")
                results.setdefault(("read", f), []).append(_run(READ, db))
                results.setdefault(("compute", f), []).append(_run(COMPUTE, db))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        key: {
            "seconds": statistics.median(r["seconds"] for r in runs),
            "peak_mb": max(r["peak_mb"] for r in runs),
            "rows": runs[0]["rows"],
        }
        for key, runs in results.items()
    }
    print(f"{'job':<8} {'x':>2} {'indicators':>10} {'obs':>8} {'rows':>8} "
          f"{'median s':>9} {'peak MB':>8} {'time/x1':>8} {'mem/x1':>7}")  # fmt: skip
    for (job, f), s in summary.items():
        one = summary[(job, 1)]
        print(
            f"{job:<8} {f:>2} {sizes[f]['indicators']:>10} {sizes[f]['headline_observations']:>8} "
            f"{s['rows']:>8,} {s['seconds']:>9.2f} {s['peak_mb']:>8.1f} "
            f"{s['seconds'] / one['seconds']:>8.2f} {s['peak_mb'] / one['peak_mb']:>7.2f}"
        )
    for f in factors:
        compute, read = summary[("compute", f)], summary[("read", f)]
        print(
            f"x{f}: compute minus read: {compute['seconds'] - read['seconds']:.2f} s, "
            f"{compute['peak_mb'] - read['peak_mb']:.1f} MB above reading the inputs"
        )


if __name__ == "__main__":
    main()
