"""Arbitrary SQL off by default, and expensive requests in a lane of their own (the load test
with 20 clients and 4 runaway ones is bench/api_load.py)."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import parse_qs, urlencode

import pytest
from test_cli_benchmark import build_db

from sendbench.benchmark.store import compute_benchmarks
from sendbench.catalogue import load_catalogue
from sendbench.db import capacity
from sendbench.db.serve import make_datasette

SHROPSHIRE = "E06000051"
COUNT_TO_A_BILLION = (
    "with recursive n(i) as (select 1 union all select i + 1 from n where i < 1000000000) "
    "select count(*) from n"
)


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("capacity") / "sendbench.db"
    compute_benchmarks(build_db(path))
    return path


def get(datasette, path: str):
    return asyncio.run(datasette.client.get(path))


def test_arbitrary_sql_is_off_by_default_and_the_documented_views_answer(db_path):
    datasette = make_datasette(db_path, catalogue=load_catalogue())
    sql = get(datasette, "/sendbench.json?" + urlencode({"sql": "select 1", "_shape": "array"}))
    assert sql.status_code == 403
    where = get(datasette, "/sendbench/observations.json?_where=1&_shape=array")
    assert where.status_code == 403
    latest = get(
        datasette, f"/sendbench/latest_benchmarks.json?area_code={SHROPSHIRE}&_shape=array"
    )
    assert latest.status_code == 200 and latest.json()


def test_with_allow_sql_a_runaway_query_is_cut_at_the_heavy_lanes_limit(db_path):
    datasette = make_datasette(db_path, catalogue=load_catalogue(), allow_sql=True)
    started = time.monotonic()
    answer = get(datasette, "/sendbench.json?" + urlencode({"sql": COUNT_TO_A_BILLION}))
    took = time.monotonic() - started
    assert answer.status_code == 400 and "interrupted" in answer.text.lower()
    assert took < capacity.HEAVY_LIMIT_MS / 1000 + 2  # not the 3 s the documented queries get
    ok = get(
        datasette, "/sendbench.json?" + urlencode({"sql": "select 41 + 1 as n", "_shape": "array"})
    )
    assert ok.json() == [{"n": 42}]


@pytest.mark.parametrize(
    ("path", "query", "heavy"),
    [
        ("/sendbench/latest_benchmarks.json", "area_code=E06000051&_shape=array", False),
        ("/sendbench/indicator_series.json", "indicator_id=x&area_code=E06000051"
         "&neighbour_set=dfe-2025-05&_sort=period_start&_shape=array", False),
        ("/sendbench/observations.json", "area_code=E06000051&breakdown=Sex%3A+Female"
         "&_size=max", False),
        ("/sendbench/statistical_neighbours.json", "area_code=E06000051&set_id=dfe-2025-05", False),
        ("/-/sendbench/dashboard", "area=E06000051", False),
        ("/sendbench", "", False),
        ("/sendbench.json", "sql=select+1", True),
        ("/sendbench/observations.json", "_where=value>1", True),
        ("/sendbench/observations.json", "_facet=area_code", True),
        ("/sendbench/observations.json", "_sort_desc=numerator", True),
        ("/sendbench/observations.json", "value__gt=5", True),
        ("/sendbench/observations.json", "source_area_code=E10000023", True),
        ("/sendbench/observations.json", "area_code__in=E06000051,E06000020", False),
        ("/sendbench/observations.json", "_search=shropshire", True),
    ],
)  # fmt: skip
def test_what_counts_as_heavy(path, query, heavy):
    assert capacity.is_heavy(path, query) is heavy


def test_heavy_requests_queue_one_at_a_time_get_a_shorter_limit_and_a_503_when_the_queue_is_full():
    seen, running, most = [], [0], [0]

    async def app(scope, receive, send):
        seen.append(parse_qs(scope["query_string"].decode()))
        running[0] += 1
        most[0] = max(most[0], running[0])
        await asyncio.sleep(0.2)
        running[0] -= 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = capacity.wrap(app, lanes=1, queue_seconds=0.3, limit_ms=700)

    async def call(path: str, query: str) -> int:
        sent = []

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "path": path, "query_string": query.encode()}
        await wrapped(scope, None, send)
        return sent[0]["status"]

    async def main():
        heavy = [call("/db/observations.json", "_facet=area_code&_timelimit=5000")
                 for _ in range(3)]  # fmt: skip
        light = [call("/db/latest_benchmarks.json", "area_code=E06000051") for _ in range(3)]
        return await asyncio.gather(*heavy, *light)

    statuses = asyncio.run(main())
    assert statuses[:3].count(200) == 2 and statuses[:3].count(503) == 1  # third waited 0.3 s
    assert statuses[3:] == [200, 200, 200]  # never queued
    limits = [q.get("_timelimit") for q in seen]
    assert limits.count(["700"]) == 2 and limits.count(None) == 3  # the lower of 5000 and 700
    assert most[0] == 4  # two heavy never ran together: at most 1 heavy + 3 light at once
