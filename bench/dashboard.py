"""Latency of the LA dashboard page under 20 concurrent clients.

Run from the repository root:

    .venv/bin/python bench/dashboard.py [--db PATH | --data ../shared/data] [--clients 20]
                                        [--requests 200] [--area E06000051]
                                        [--breakdown "Sex: Female" …] [--repeat 7]

It uses ``--db`` if given, else builds one with ``sendbench refresh --from DATA`` into a
temporary folder (about 40 s). It starts ``sendbench serve --no-warm`` on a free port (each page
is rendered when first asked for), waits for it, then:

- ``cold``: the first request for the LA's page (nothing rendered yet);
- ``same LA``: CLIENTS threads, each requesting the LA's page with ``urllib`` until REQUESTS
  requests are done (the page is rendered once, then served from the server's page cache: the
  database is served immutably, so a page for the same filters cannot change);
- ``different LAs``: the same load, each request for another LA (a cache miss the first time
  each LA is asked for: the worst case, rendering under load);
- ``the same again``: those requests again, now served from the page cache, which holds every
  LA's page.

Then it starts ``sendbench serve`` as users do (it renders every LA's page in the background as
it starts), waits until it says the pages are ready, and runs ``different LAs`` again.

Every request asks for gzip, as browsers do, and unpacks the answer. It reports p50, p95 and max
seconds per request and the page size (HTML and gzipped). The target is p95 < 1 s for
the same LA. Then, in this process (``datasette.client``, no HTTP), it renders the LA's headline
page and its page in each ``--breakdown`` (default ``Sex: Female`` and ``Ethnicity: Asian -
Indian``) REPEAT times with the page cache emptied before each, and reports the median and the
slowest render. The machine is shared and noisy: run it twice.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing, contextmanager
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
SENDBENCH = [sys.executable, "-m", "sendbench"]


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fetch(url: str) -> tuple[float, int, int]:
    """Seconds, bytes on the wire and bytes of HTML for one request, asking for gzip as every
    browser does (and unpacking it, as a browser must)."""
    started = time.perf_counter()
    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
    with urllib.request.urlopen(request, timeout=60) as response:
        body = response.read()
        assert response.status == 200, (url, response.status)
        gzipped = response.headers.get("Content-Encoding") == "gzip"
    html = gzip.decompress(body) if gzipped else body
    return time.perf_counter() - started, len(body), len(html)


def load(urls: list[str], clients: int) -> dict:
    with ThreadPoolExecutor(max_workers=clients) as pool:
        results = list(pool.map(fetch, urls))
    seconds = sorted(s for s, _, _ in results)
    return {
        "requests": len(seconds),
        "p50": statistics.median(seconds),
        "p95": seconds[max(0, round(0.95 * len(seconds)) - 1)],
        "max": seconds[-1],
        "wire_kb": statistics.mean(wire for _, wire, _ in results) / 1024,
        "kb": statistics.mean(size for _, _, size in results) / 1024,
    }


def in_process(db: Path, area: str, breakdowns: list[str], repeat: int) -> None:
    """Median and slowest in-process render of the headline page and each breakdown page."""
    from sendbench.catalogue import load_catalogue
    from sendbench.dashboard import views
    from sendbench.db.serve import make_datasette

    datasette = make_datasette(db, catalogue=load_catalogue())

    async def render(params: dict) -> tuple[float, int]:
        views._served.clear()  # every render a cache miss
        started = time.perf_counter()
        response = await datasette.client.get(f"{views.DASHBOARD_PATH}?{urlencode(params)}")
        assert response.status_code == 200, (params, response.status_code)
        return time.perf_counter() - started, len(response.content)

    async def run() -> None:
        await render({"area": area})  # start-up: Datasette's first request
        for breakdown in ["", *breakdowns]:
            params = {"area": area, **({"breakdown": breakdown} if breakdown else {})}
            times = [await render(params) for _ in range(repeat)]
            seconds = sorted(t for t, _ in times)
            print(f"in-process {breakdown or 'headline':28} median {statistics.median(seconds):.3f} s, "
                  f"max {seconds[-1]:.3f} s ({repeat} renders), {times[0][1] / 1024:.0f} KB")  # fmt: skip

    asyncio.run(run())


def build(data: Path, folder: Path) -> Path:
    db = folder / "sendbench.db"
    print(f"building {db} from {data} (about 40 s)…", flush=True)
    subprocess.run([*SENDBENCH, "refresh", "--from", str(data), "--db", str(db)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return db


def report(name: str, r: dict, clients: int) -> None:
    print(f"{name:15} {clients} clients, {r['requests']} requests: "
          f"p50 {r['p50']:.3f} s, p95 {r['p95']:.3f} s, max {r['max']:.3f} s, "
          f"{r['kb']:.0f} KB a page ({r['wire_kb']:.0f} KB gzipped)")  # fmt: skip


@contextmanager
def server(db: Path, warm: bool):
    """`sendbench serve` on a free port; yields the dashboard's base URL once it answers (with
    ``warm``, once it says every LA's page is ready)."""
    port = free_port()
    command = [*SENDBENCH, "serve", "--db", str(db), "--port", str(port),
               "--warm" if warm else "--no-warm"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        if warm:
            started = time.perf_counter()
            for line in process.stderr:
                if "pages ready" in line:
                    print(f"  {line.strip()} (seen {time.perf_counter() - started:.1f} s "
                          "after starting the server)")  # fmt: skip
                    break
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/versions.json").close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}/-/sendbench/dashboard?area="
    finally:
        process.terminate()
        process.wait(timeout=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--area", default="E06000051")
    parser.add_argument("--breakdown", action="append",
                        help="a breakdown to render in-process (repeatable)")  # fmt: skip
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    breakdowns = args.breakdown or ["Sex: Female", "Ethnicity: Asian - Indian"]
    with tempfile.TemporaryDirectory() as tmp:
        db = args.db or build(args.data, Path(tmp))
        with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
            las = [r[0] for r in conn.execute(
                "select distinct area_code from latest_benchmarks order by area_code")]  # fmt: skip
        print("server started with --no-warm (each page rendered when first asked for):")
        with server(db, warm=False) as base:
            cold, wire, size = fetch(base + args.area)
            print(f"cold (first request, {args.area}): {cold:.3f} s, "
                  f"{size / 1024:.0f} KB ({wire / 1024:.0f} KB gzipped)")  # fmt: skip
            runs = {
                "same LA": [base + args.area] * args.requests,
                "different LAs": [base + las[i % len(las)] for i in range(1, args.requests + 1)],
            }
            runs["the same again"] = runs["different LAs"]  # now from the page cache
            for name, urls in runs.items():
                report(name, load(urls, args.clients), args.clients)
        print("server started as `sendbench serve` starts (every LA's page rendered at start):")
        with server(db, warm=True) as base:
            urls = [base + las[i % len(las)] for i in range(1, args.requests + 1)]
            report("different LAs", load(urls, args.clients), args.clients)
        in_process(db, args.area, breakdowns, args.repeat)


if __name__ == "__main__":
    main()
