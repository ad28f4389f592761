"""Time and peak memory of refreshing EHC plans from local files, next to a bare pandas.read_csv.

Run from the repository root with the real files beside it:

    .venv/bin/python bench/refresh_ehcp.py [--data ../shared/data] [--repeat 3]

Each measurement runs in its own Python process (so peak RSS is that job's alone), in one run
and interleaved, because the machines are shared and noisy: compare the ratios, not the seconds.

- ``read_csv``: pandas.read_csv (all columns as text) of the twelve data CSVs, read from the zip.
- ``refresh``: ``sendbench refresh dfe_ehcp --from DATA`` into a database that already holds the
  areas (so only the EHC plans dataset is measured): read zip, check layouts, build observations,
  load raw tables and observations atomically.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

READ_CSV = """
import io, json, resource, sys, time, zipfile
import pandas as pd
t0 = time.perf_counter()
rows = 0
with zipfile.ZipFile(sys.argv[1]) as zf:
    for name in zf.namelist():
        if name.startswith("data/") and name.endswith(".csv"):
            rows += len(pd.read_csv(io.BytesIO(zf.read(name)), dtype=str, keep_default_na=False))
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": rows}))
"""

REFRESH = """
import json, resource, sys, time
from pathlib import Path
import sqlite_utils
from sendbench.catalogue import load_catalogue
from sendbench.http import HttpClient
from sendbench.refresh import refresh
db = sqlite_utils.Database(sys.argv[2])
t0 = time.perf_counter()
with HttpClient(Path(sys.argv[3]), offline=True) as http:
    [result] = refresh(db, load_catalogue(), http, dataset_ids=["dfe_ehcp"], from_dir=Path(sys.argv[1]))
seconds = time.perf_counter() - t0
assert result.status == "loaded", result.error
print(json.dumps({"seconds": seconds, "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "rows": result.rows_loaded}))
"""


def _run(code: str, *args: str) -> dict:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="../shared/data", type=Path)
    parser.add_argument("--repeat", default=3, type=int)
    args = parser.parse_args()
    zip_path = next(args.data.rglob("education-health-and-care-plans_*.zip"))
    work = Path(tempfile.mkdtemp(prefix="sendbench-bench-"))
    try:
        base = work / "base.db"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "sendbench",
                "refresh",
                "dfe_areas",
                "--from",
                str(args.data),
                "--db",
                str(base),
            ],
            check=True,
            capture_output=True,
        )
        results: dict[str, list[dict]] = {"read_csv": [], "refresh": []}
        for i in range(args.repeat):
            results["read_csv"].append(_run(READ_CSV, str(zip_path)))
            db = work / f"run{i}.db"
            shutil.copy(base, db)
            results["refresh"].append(_run(REFRESH, str(args.data), str(db), str(work / "raw")))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    summary = {
        k: {
            "seconds": statistics.median(r["seconds"] for r in v),
            "peak_mb": max(r["peak_mb"] for r in v),
            "rows": v[0]["rows"],
        }
        for k, v in results.items()
    }
    for name, s in summary.items():
        print(
            f"{name:<9} median {s['seconds']:6.2f} s   peak RSS {s['peak_mb']:7.1f} MB   "
            f"rows {s['rows']:,}"
        )
    ratio_t = summary["refresh"]["seconds"] / summary["read_csv"]["seconds"]
    ratio_m = summary["refresh"]["peak_mb"] / summary["read_csv"]["peak_mb"]
    print(f"refresh / read_csv: time x{ratio_t:.1f}, peak memory x{ratio_m:.1f}")


if __name__ == "__main__":
    main()
