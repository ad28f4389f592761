"""Latency of the documented JSON endpoints while other clients send runaway queries.

Run from the repository root:

    .venv/bin/python bench/api_load.py [--db PATH | --data ../shared/data] [--clients 20]
                                       [--runaway 4] [--requests 400] [--allow-sql]

It uses ``--db`` if given, else builds one with ``sendbench refresh --from DATA`` into a
temporary folder (about 50 s). It starts ``sendbench serve --no-warm`` on a free loopback port
(with ``--allow-sql`` when asked), then, for each of two runs:

- ``quiet``: CLIENTS threads request the documented endpoints (``latest_benchmarks``,
  ``outcome_scorecard``, ``indicator_series``, ``observations`` by indicator and LA,
  ``statistical_neighbours``) for LAs in turn until REQUESTS requests are done;
- ``under load``: the same while RUNAWAY more threads loop on expensive requests: an arbitrary
  ``?sql=`` query that counts to a billion (a recursive CTE: it runs until the SQL time limit
  ends it), a ``_where=`` filter doing the same, and a table view sorted on an unindexed column
  of ``observations`` with three facets.

It reports p50, p95 and max seconds of the documented requests, and what the runaway requests
got (status codes and how long each took). Every request is on 127.0.0.1 and every thread stops
when the documented requests are done, so the run is bounded. The target: p95 <= 0.3 s under 20
clients while 4 send runaway queries. The machine is shared and noisy: compare runs made
together.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboard import SENDBENCH, build, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COUNT_TO_A_BILLION = (
    "with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000000000) "
    "select count(*) from n"
)


def get(url: str) -> tuple[float, int]:
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(url, timeout=120) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    return time.perf_counter() - started, status


def documented(base: str, las: list[str], indicator: str, set_id: str, n: int) -> list[str]:
    def path(table: str, **filters) -> str:
        return f"{base}/{table}.json?" + urlencode({**filters, "_shape": "array"})

    urls = []
    for i in range(n):
        la = las[i % len(las)]
        urls.append([
            path("latest_benchmarks", area_code=la),
            path("outcome_scorecard", area_code=la),
            path("indicator_series", indicator_id=indicator, area_code=la, neighbour_set=set_id,
                 _sort="period_start"),
            path("observations", indicator_id=indicator, area_code=la, breakdown="Total"),
            path("statistical_neighbours", area_code=la, set_id=set_id),
        ][i % 5])  # fmt: skip
    return urls


def runaway(base: str) -> list[str]:
    return [
        f"{base}.json?" + urlencode({"sql": COUNT_TO_A_BILLION, "_shape": "array"}),
        f"{base}/observations.json?"
        + urlencode({"_where": f"value < ({COUNT_TO_A_BILLION})", "_shape": "array"}),
        f"{base}/observations.json?_sort_desc=numerator&_facet=area_code"
        "&_facet=period&_facet=release&_size=max&_shape=array",
    ]


def run(urls: list[str], clients: int, bad: list[str], spoilers: int) -> tuple[dict, Counter]:
    stop = threading.Event()
    got: Counter = Counter()

    def spoil(number: int) -> None:
        i = number
        while not stop.is_set():
            seconds, status = get(bad[i % len(bad)])
            kind = (
                "sql"
                if "sql=" in bad[i % len(bad)]
                else ("_where" if "_where" in bad[i % len(bad)] else "sort+facets")
            )
            got[(kind, status)] += 1
            got[("seconds", "max")] = max(got[("seconds", "max")], round(seconds, 1))
            i += 1

    threads = [threading.Thread(target=spoil, args=(n,), daemon=True) for n in range(spoilers)]
    for thread in threads:
        thread.start()
    if spoilers:
        time.sleep(2)  # the runaway queries are running before the clients start
    try:
        with ThreadPoolExecutor(max_workers=clients) as pool:
            results = list(pool.map(get, urls))
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=130)
    seconds = sorted(s for s, _ in results)
    statuses = Counter(status for _, status in results)
    return {
        "requests": len(seconds),
        "p50": statistics.median(seconds),
        "p95": seconds[max(0, round(0.95 * len(seconds)) - 1)],
        "max": seconds[-1],
        "statuses": dict(statuses),
    }, got


@contextmanager
def server(db: Path, allow_sql: bool):
    port = free_port()
    command = [*SENDBENCH, "serve", "--db", str(db), "--port", str(port), "--no-warm"]
    command += ["--allow-sql"] if allow_sql else []
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json").close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/{db.stem}"  # the database's path: its file's stem
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--runaway", type=int, default=4)
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--allow-sql", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or build(args.data, Path(tmp))
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            las = [r[0] for r in conn.execute(
                "select distinct area_code from latest_benchmarks order by area_code")]  # fmt: skip
            set_id = conn.execute("select default_set from benchmark_runs "
                                  "order by rowid desc limit 1").fetchone()[0]  # fmt: skip
        indicator = "ehcp_20_week_timeliness_pct"
        with server(db, args.allow_sql) as base:
            urls = documented(base, las, indicator, set_id, args.requests)
            get(urls[0])  # start-up
            label = "with --allow-sql" if args.allow_sql else "default (arbitrary SQL off)"
            for name, spoilers in (("quiet", 0), ("under load", args.runaway)):
                r, got = run(urls, args.clients, runaway(base), spoilers)
                print(f"{label:28} {name:10} {args.clients} clients, {r['requests']} requests: "
                      f"p50 {r['p50']:.3f} s, p95 {r['p95']:.3f} s, max {r['max']:.3f} s, "
                      f"statuses {r['statuses']}")  # fmt: skip
                if spoilers:
                    slowest = got.pop(("seconds", "max"), 0)
                    shown = ", ".join(f"{k[0]} {k[1]}: {n}" for k, n in sorted(got.items()))
                    print(f"{'':28} runaway ({spoilers} clients): {shown}; slowest {slowest} s")


if __name__ == "__main__":
    main()
