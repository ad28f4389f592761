"""What a refresh of one small dataset costs, against recomputing every benchmark.

Run from the repository root with the real files beside it:

    .venv/bin/python bench/refresh_one_dataset.py [--data ../shared/data] [--repeat 3]

It builds one database from the real files (``sendbench refresh --from DATA``), then, on fresh
copies of it, interleaved so that the shared machine's noise falls on both alike:

- ``one dataset``: ``sendbench refresh tribunal_appeals --from <a folder with the 2014-2022 ODS>``,
  the whole command (find, read, merge, recompute the benchmarks of the indicators it changed);
- ``full recompute``: ``sendbench benchmark --recompute``, every indicator's benchmarks.

The ODS is an older release than the CSV already loaded, so the merge keeps the CSV's values and
changes no indicator: ``one dataset`` is the floor of a refresh that loads a file. ``revise``
is the same with the SEN2 ``sen2_mi`` file loaded into a database built without it (six EHC plans
indicators gain years), so some indicators are recomputed. Compare the ratios within one run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def sendbench(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "sendbench", *args], check=True, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="sendbench-bench-"))
    try:
        base = work / "base.db"
        without_sen2 = work / "without-sen2"
        shutil.copytree(args.data, without_sen2, ignore=shutil.ignore_patterns("sen2_mi*"))
        print(f"building {base} from {without_sen2} ...", flush=True)
        sendbench("refresh", "--from", str(without_sen2), "--db", str(base))
        ods = work / "ods"
        ods.mkdir()
        shutil.copy(args.data / "tribunal" / "send_appeal_rate_table_2022.ods", ods)
        sen2 = work / "sen2"
        sen2.mkdir()
        shutil.copy(args.data / "dfe" / "ehcp" / "sen2_mi_2022-release.csv", sen2)
        jobs = {
            "one dataset (no change)": ["refresh", "tribunal_appeals", "--from", str(ods)],
            "revise (6 indicators)": ["refresh", "dfe_ehcp", "--from", str(sen2)],
            "full recompute": ["benchmark", "--recompute"],
        }
        times: dict[str, list[float]] = {name: [] for name in jobs}
        for _ in range(args.repeat):
            for name, command in jobs.items():
                db = work / "run.db"
                shutil.copy(base, db)
                times[name].append(sendbench(*command, "--db", str(db)))
                db.unlink()
        full = statistics.median(times["full recompute"])
        for name, seconds in times.items():
            median = statistics.median(seconds)
            print(f"{name:<26} median {median:6.2f} s  ({median / full:.2f} x full recompute)  "
                  f"runs: {', '.join(f'{s:.2f}' for s in seconds)}")  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
