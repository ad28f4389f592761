"""The local area dashboard and the API guide, rendered in-process with ``datasette.client`` on the
small database of tests/test_cli_benchmark.py (eight LAs, a made-up 20-week timeliness series and
caseload, two neighbour sets), with the links of one outcome removed so that it is a gap, and
made-up breakdown observations added here (see :func:`breakdown_rows`): one neighbour without a
row and one with a suppressed value, a suppressed value of Shropshire's, a region without a row.

Expected numbers are read from the ``latest_benchmarks`` view and the ``benchmarks`` table with
sqlite3; the neighbour averages are also recomputed here from the made-up inputs, and for the
breakdowns with ``statistics.mean`` over the neighbours listed in ``statistical_neighbours``.
"""

from __future__ import annotations

import asyncio
import gzip
import html
import re
import sqlite3
import statistics
from contextlib import closing
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from test_cli_benchmark import INDICATOR, LIVE, SETS, WM, build_db, value

from sendbench.benchmark.store import compute_benchmarks
from sendbench.catalogue import load_catalogue
from sendbench.dashboard import views
from sendbench.db.serve import make_datasette

SHROPSHIRE = "E06000051"
ENGLAND = "E92000001"
GAP_OUTCOME = "jobs_for_cyp"
FEMALE, MALE, INDIAN = "Sex: Female", "Sex: Male", "Ethnicity: Asian - Indian"
AUTISM = "SEN primary need: Autistic spectrum disorder"
NO_ROW = ("E06000019", "2023")  # Herefordshire: no Sex: Female row in 2023
SUPPRESSED = ("E10000034", "2024")  # Worcestershire: Sex: Female 2024 published as "c"
WESTMINSTER = "E09000033"  # no breakdowns at all
WITH_BREAKDOWNS = [code for code in LIVE if code != WESTMINSTER]
ROW = re.compile(
    r'<tr class="indicator" data-indicator="(?P<id>[^"]+)" data-period="(?P<period>[^"]+)">'
    r"(?P<body>.*?)</tr>",
    re.S,
)
CELL = re.compile(r'<td class="num (?P<kind>value|sn-mean|england)" data-value="(?P<raw>[^"]*)">'
                  r"(?P<text>.*?)</td>", re.S)  # fmt: skip


@pytest.fixture(scope="module")
def db_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("dashboard") / "sendbench.db"
    db = build_db(path)
    db["observations"].insert_all(breakdown_rows())
    db.execute("delete from indicator_outcomes where outcome_id = ?", [GAP_OUTCOME])
    db.conn.commit()
    compute_benchmarks(db)  # reads the links from the tables: GAP_OUTCOME has no indicator
    db.conn.close()
    return path


def breakdown_rows() -> list[dict]:
    """Made-up observations in four breakdowns (see the module docstring)."""
    rows = []
    for year in ("2023", "2024"):
        base = {"indicator_id": INDICATOR, "period": year, "period_start": f"{year}-01-01",
                "period_end": f"{year}-12-31", "dataset_id": "dfe_ehcp",
                "release": "2025"}  # fmt: skip
        for i, code in enumerate([*WITH_BREAKDOWNS, ENGLAND, WM]):
            number = round(value(code, year) + 1.5 * i, 1) if code in LIVE else 40.0 + i
            female = {**base, "area_code": code, "breakdown": FEMALE, "value": number}
            if (code, year) == SUPPRESSED:
                female.update(value=None, status="c")
            if (code, year) != NO_ROW:
                rows.append(female)
            if code != WM:  # the region publishes no Sex: Male figures
                male = {**female, "breakdown": MALE, "value": 30.0 + i, "status": None}
                if (code, year) == (SHROPSHIRE, "2024"):
                    male.update(value=None, status="c")
                rows.append(male)
    rows.append({**base, "area_code": SHROPSHIRE, "breakdown": INDIAN, "value": 12.5})
    caseload = {"indicator_id": "ehcp_caseload", "period": "2024/25", "breakdown": AUTISM,
                "period_start": "2024-09-01", "period_end": "2025-08-31",
                "dataset_id": "dfe_ehcp"}  # fmt: skip
    rows += [
        {**caseload, "area_code": code, "value": 300.0 + 10 * i}
        for i, code in enumerate(WITH_BREAKDOWNS)
    ]
    return rows


@pytest.fixture(scope="module")
def datasette(db_path):
    return make_datasette(db_path, catalogue=load_catalogue())


def query(db_path, sql: str, params=()) -> list[dict]:
    with closing(sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        return [dict(r) for r in conn.execute(sql, params)]


def get(datasette, path: str):
    return asyncio.run(datasette.client.get(path))


def page(datasette, **params) -> str:
    path = "/-/sendbench/dashboard?" + "&".join(f"{k}={v}" for k, v in params.items())
    response = get(datasette, path)
    assert response.status_code == 200, response.text[:500]
    return response.text


def shown_rows(text: str) -> dict[tuple[str, str], dict]:
    """(indicator, period) -> {kind: (raw data-value, visible text)} of each indicator row."""
    rows = {}
    for match in ROW.finditer(text):
        cells = {
            c["kind"]: (c["raw"], html.unescape(re.sub(r"<[^>]+>", "", c["text"])).strip())
            for c in CELL.finditer(match["body"])
        }
        rows[(match["id"], match["period"])] = cells
    return rows


def shown(number: float) -> str:
    """The page's number format, written independently: thousands separators, <= 2 decimals."""
    text = f"{round(number, 2):,.2f}"
    return text.rstrip("0").rstrip(".")


def test_numbers_equal_the_latest_benchmarks_view(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE)
    rows = shown_rows(text)
    expected = query(db_path, "select * from latest_benchmarks where area_code = ?", [SHROPSHIRE])
    assert {(r["indicator_id"], r["period"]) for r in expected} == set(rows)
    for r in expected:
        cells = rows[(r["indicator_id"], r["period"])]
        for kind, column in (
            ("value", "value"),
            ("sn-mean", "sn_mean"),
            ("england", "england_value"),
        ):
            raw, visible = cells[kind]
            if r[column] is None:
                assert raw == ""
                continue
            assert float(raw) == r[column]
            assert visible.startswith(shown(r[column])), (kind, visible, r[column])
    mean = statistics.mean(value(code, "2024") for code in SETS["dfe-2025-05"][SHROPSHIRE])
    assert float(rows[(INDICATOR, "2024")]["sn-mean"][0]) == pytest.approx(mean)


def test_outcome_sections_scorecard_and_gap(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE)
    cards = query(db_path, "select * from outcome_scorecard where area_code = ?", [SHROPSHIRE])
    assert len(cards) == len(query(db_path, "select id from outcomes"))
    for card in cards:
        assert f'id="outcome-{card["outcome_id"]}"' in text
        assert html.escape(card["outcome_title"]) in text
    gap = next(c for c in cards if c["outcome_id"] == GAP_OUTCOME)
    assert gap["status"].startswith("gap")
    gaps = text[text.index('<ul class="gaps"') : text.index("</ul>", text.index('class="gaps"'))]
    assert f'data-outcome="{GAP_OUTCOME}">Gap:' in gaps
    # the timeliness indicator is listed under both its outcomes; charts once, then a link
    assert text.count(f'data-indicator="{INDICATOR}"') == 2
    assert text.count(f'id="charts-{INDICATOR}"') == 1
    assert f'href="#charts-{INDICATOR}"' in text


def test_charts_show_the_la_its_neighbours_and_england(datasette):
    text = page(datasette, area=SHROPSHIRE)
    charts = text[text.index(f'id="charts-{INDICATOR}"') :]
    trend = charts[: charts.index("</svg>")]
    assert 'role="img"' in trend and "<title>" in trend
    for series in ("s-value", "s-sn_mean", "s-england_value"):
        points = re.search(rf'class="{series}" points="([^"]+)"', trend)[1].split()
        assert len(points) == 6, series  # 2019 to 2024
    bars = charts[charts.index('class="neighbours-chart"') :]
    bars = bars[: bars.index("</svg>")]
    assert bars.count("<rect") == 1 + len(SETS["dfe-2025-05"][SHROPSHIRE])
    assert '<g class="this-la">' in bars and "▶ Shropshire" in bars
    assert 'id="sb-m-value"' in text  # the markers the lines use are defined on the page


def test_another_neighbour_set(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE, set="dfe-2021-04-lgr")
    stored = query(db_path, "select * from benchmarks where area_code = ? and neighbour_set = ? "
                   "and is_latest = 1", [SHROPSHIRE, "dfe-2021-04-lgr"])  # fmt: skip
    rows = shown_rows(text)
    for r in stored:
        raw = rows[(r["indicator_id"], r["period"])]["sn-mean"][0]
        assert (float(raw) if raw else None) == r["sn_mean"]
    assert 'id="neighbour-set">dfe-2021-04-lgr<' in text
    assert "Herefordshire, County of, North Somerset." in text


def test_outcome_and_period_filters(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE, outcome="families_heard", period="2020")
    assert text.count('<section class="sb-outcome"') == 1
    assert 'id="outcome-families_heard"' in text
    rows = shown_rows(text)
    assert list(rows) == [(INDICATOR, "2020")]
    assert float(rows[(INDICATOR, "2020")]["value"][0]) == value(SHROPSHIRE, "2020")
    assert '<option value="2020" selected>' in text
    assert '<option value="families_heard" selected>' in text


@pytest.mark.parametrize(
    ("query", "said"),
    [
        ("period=2031", "has no figures for the period '2031'; periods with figures: "),
        (
            "outcome=no_such_outcome",
            "there is no logic-model outcome 'no_such_outcome'; outcomes: ",
        ),
    ],
)
def test_an_unknown_period_or_outcome_is_a_404_listing_the_choices_and_is_not_cached(
    datasette, db_path, query, said
):
    cached = len(views._state(datasette).pages)
    for _ in range(2):
        response = get(datasette, f"/-/sendbench/dashboard?area={SHROPSHIRE}&{query}")
        assert response.status_code == 404
        text = html.unescape(response.text)
        assert said in text
    if query.startswith("period"):
        default_set = views._state(datasette).default_set  # latest first, as the filter lists
        periods = [r[0] for r in sqlite3.connect(db_path).execute(
            "select period from benchmarks where area_code = ? and neighbour_set = ? "
            "group by period order by max(period_start) desc, period desc",
            [SHROPSHIRE, default_set])]  # fmt: skip
        assert f"periods with figures: {', '.join(periods)}" in text
    else:
        assert "families_heard" in text and "right_support_right_time" in text
    assert f'href="/-/sendbench/dashboard?area={SHROPSHIRE}"' in response.text
    assert len(views._state(datasette).pages) == cached


@pytest.mark.parametrize("query_text", ["Shropshire", "893", "shropshire"])
def test_a_name_or_dfe_code_redirects_to_the_bookmarkable_url(datasette, query_text):
    response = get(datasette, f"/-/sendbench/dashboard?area={query_text}&set=dfe-2021-04-lgr")
    assert response.status_code == 302
    params = parse_qs(urlparse(response.headers["location"]).query)
    assert params == {"area": [SHROPSHIRE], "set": ["dfe-2021-04-lgr"]}


def test_an_unknown_la_says_so_with_suggestions(datasette):
    response = get(datasette, "/-/sendbench/dashboard?area=Shropshre")
    assert response.status_code == 404
    text = html.unescape(response.text)
    assert "no local authority matches 'Shropshre'" in text
    assert "Did you mean: Shropshire" in text
    assert 'role="alert"' in response.text


def test_an_unknown_set_lists_the_loaded_ones(datasette):
    response = get(datasette, f"/-/sendbench/dashboard?area={SHROPSHIRE}&set=cipfa")
    assert response.status_code == 404
    assert "dfe-2021-04-lgr, dfe-2025-05" in html.unescape(response.text)


def test_chooser_lists_the_current_las(datasette, db_path):
    text = page(datasette)
    live = query(db_path, "select name from areas where area_type = 'la' and valid_to is null")
    options = re.findall(r'<option value="([^"]+)">E\d{8}', text)
    assert sorted(options) == sorted(html.escape(r["name"]) for r in live)
    assert '<label for="area">' in text


def test_everything_the_page_needs_is_served_here(datasette):
    text = page(datasette, area=SHROPSHIRE)
    assert "<script" not in text
    assets = re.findall(r'<link[^>]+href="([^"]+)"', text)
    assert assets and all(a.startswith("/") for a in assets)
    for asset in assets:
        assert get(datasette, asset).status_code == 200, asset
    assert '<html lang="en">' in text


@pytest.mark.parametrize(
    ("accept", "gzipped"),
    [("gzip, deflate, br", True), ("identity", False), ("gzip;q=0, deflate", False), ("*", True)],
)
def test_the_page_is_gzipped_for_clients_that_accept_it(datasette, accept, gzipped):
    path = f"/-/sendbench/dashboard?area={SHROPSHIRE}&set={list(SETS)[1]}"
    plain = get(datasette, path).text  # rendered (and cached) first
    for _ in range(2):  # a new entry, then the cached one
        body, headers = asyncio.run(_raw_get(datasette.client.app, path, accept))
        assert headers.get("vary", "").startswith("Accept-Encoding")
        assert (headers.get("content-encoding") == "gzip") is gzipped
        text = (gzip.decompress(body) if gzipped else body).decode("utf-8")
        assert text == plain
        if gzipped:
            assert len(body) * 4 < len(text.encode("utf-8"))


async def _raw_get(app, path: str, accept: str) -> tuple[bytes, httpx.Headers]:
    """GET ``path`` with this Accept-Encoding; the body as sent (not unpacked) and the headers."""
    transport = httpx.ASGITransport(app=app)
    client = httpx.AsyncClient(transport=transport, base_url="http://localhost")
    headers = {"Accept-Encoding": accept}
    async with client, client.stream("GET", path, headers=headers) as response:
        assert response.status_code == 200
        return b"".join([chunk async for chunk in response.aiter_raw()]), response.headers


def test_warm_up_renders_every_current_la_so_pages_come_from_the_cache(db_path, monkeypatch):
    datasette = make_datasette(db_path, catalogue=load_catalogue())  # its own, empty cache
    sql = "select area_code from areas where area_type = 'la' and valid_to is null"
    current = [r["area_code"] for r in query(db_path, sql)]
    assert len(current) > 2
    assert asyncio.run(views.warm_pages(datasette)) == len(current)
    cached = {key[0] for key in views._served[datasette].pages}
    assert cached == set(current)

    async def not_rendered_again(*args, **kwargs):
        raise AssertionError("rendered again")

    monkeypatch.setattr(views, "_dashboard", not_rendered_again)
    default = query(db_path, "select default_set from benchmark_runs order by id desc")[0]
    for code in current:
        response = get(datasette, f"/-/sendbench/dashboard?area={code}")
        assert response.status_code == 200 and 'id="outcome-' in response.text
        # The form names the set it shows: the default set's page is the same cached page.
        named = get(datasette, f"/-/sendbench/dashboard?area={code}&set={default['default_set']}")
        assert named.status_code == 200 and named.text == response.text


def test_links_to_definition_source_release_and_rows(datasette):
    text = page(datasette, area=SHROPSHIRE)
    row = next(ROW.finditer(text))["body"]
    links = dict((label, href) for href, label in re.findall(r'<a href="([^"]+)">([^<]+)</a>', row))
    hrefs = [html.unescape(h) for h in links.values()]
    assert f"/sendbench/indicators/{INDICATOR}" in hrefs or "/sendbench/indicators/" in hrefs[0]
    for href in hrefs:
        response = get(datasette, href)
        assert response.status_code == 200, href
    rows = html.unescape(links["rows"])
    assert "area_code=E06000051" in rows and "breakdown=Total" in rows
    assert get(datasette, rows.replace("/observations?", "/observations.json?")).json()["rows"]


def test_api_guide_lists_working_json_endpoints(datasette):
    response = get(datasette, "/-/sendbench/api")
    assert response.status_code == 200
    paths = [html.unescape(p) for p in re.findall(r"GET <a href=\"([^\"]+)\"", response.text)]
    for needed in ("latest_benchmarks.json", "outcome_scorecard.json", "indicator_series.json",
                   "indicator_catalogue.json"):  # fmt: skip
        assert any(needed in p for p in paths), needed
    for path in paths:
        assert "_shape=array" in path
        answer = get(datasette, path)
        assert answer.status_code == 200 and isinstance(answer.json(), list), path


def test_series_and_catalogue_views_answer_as_the_guide_says(datasette, db_path):
    set_id = list(SETS)[0]
    path = (f"/sendbench/indicator_series.json?indicator_id={INDICATOR}&area_code={SHROPSHIRE}"
            f"&neighbour_set={set_id}&_sort=period_start&_shape=array")  # fmt: skip
    series = get(datasette, path).json()
    sql = ("select * from benchmarks where indicator_id = ? and area_code = ? "
           "and neighbour_set = ? order by period_start")  # fmt: skip
    stored = query(db_path, sql, [INDICATOR, SHROPSHIRE, set_id])
    assert len(series) == len(stored) > 1
    for got, row in zip(series, stored, strict=True):
        assert (got["period"], got["value"], got["sn_mean"], got["england_value"]) == (
            row["period"], row["value"], row["sn_mean"], row["england_value"])  # fmt: skip
        assert got["indicator_title"] == load_catalogue().indicator(INDICATOR).title
    catalogue = get(datasette, "/sendbench/indicator_catalogue.json?_size=max&_shape=array").json()
    indicators = query(db_path, "select id, unit, polarity, dataset from indicators")
    assert {r["indicator_id"] for r in catalogue} == {r["id"] for r in indicators}
    mine = next(r for r in catalogue if r["indicator_id"] == INDICATOR)
    dataset = query(db_path, "select * from datasets where id = ?", [mine["dataset_id"]])[0]
    assert (mine["dataset_title"], mine["licence"]) == (dataset["title"], dataset["licence"])


# Breakdowns ------------------------------------------------------------------------------------

BD_CELL = re.compile(r'<td class="num (?P<kind>value|sn-mean|region|england)" data-value="'
                     r'(?P<raw>[^"]*)"[^>]*>(?P<text>.*?)</td>', re.S)  # fmt: skip
NOTE = ("Ranks, quartile bands, significance and trends are computed for the headline figures "
        "only; this breakdown shows values and a simple neighbour average computed from the "
        "published observations.")  # fmt: skip


def breakdown_cells(text: str) -> dict[tuple[str, str], dict]:
    """(indicator, period) -> {kind: (raw data-value, visible text)} of a breakdown page."""
    rows = {}
    for match in ROW.finditer(text):
        cells = {
            c["kind"]: (
                c["raw"],
                " ".join(html.unescape(re.sub(r"<[^>]+>", "", c["text"])).split()),
            )
            for c in BD_CELL.finditer(match["body"])
        }
        rows[(match["id"], match["period"])] = cells
    return rows


def observed(db_path, area_code: str, breakdown: str, period: str, indicator=INDICATOR):
    rows = query(db_path, "select value, status from observations where indicator_id = ? and "
                 "area_code = ? and period = ? and breakdown = ?",
                 [indicator, area_code, period, breakdown])  # fmt: skip
    return rows[0] if rows else None


def expected_neighbour_mean(db_path, breakdown: str, period: str, set_id="dfe-2025-05"):
    """statistics.mean over the set's listed neighbours that have a value; (mean, n, N)."""
    codes = [r["neighbour_code"] for r in query(
        db_path, "select neighbour_code from statistical_neighbours where set_id = ? and "
        "area_code = ?", [set_id, SHROPSHIRE])]  # fmt: skip
    rows = [observed(db_path, code, breakdown, period) for code in codes]
    values = [r["value"] for r in rows if r and r["value"] is not None]
    return (statistics.mean(values) if values else None), len(values), len(codes)


def test_the_select_lists_the_las_breakdowns_by_topic(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE)
    assert '<label for="breakdown">Breakdown (age, sex, ethnicity, primary need…)</label>' in text
    select = text[text.index('<select id="breakdown" name="breakdown">') :]
    select = html.unescape(select[: select.index("</select>")])
    first = re.search(r'<option value="([^"]*)"[^>]*>([^<]+)</option>', select)
    assert first.groups() == ("", "Headline (all children and young people)")
    stored = query(db_path, "select distinct breakdown from observations where area_code = ? "
                   "and breakdown != 'Total'", [SHROPSHIRE])  # fmt: skip
    expected: dict[str, set] = {}
    for r in stored:
        topic, label = r["breakdown"].split(": ", 1)
        expected.setdefault(topic, set()).add((r["breakdown"], label))
    groups = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', select, re.S)
    shown_groups = {
        topic: set(re.findall(r'<option value="([^"]+)">([^<]+)</option>', body))
        for topic, body in groups
    }
    assert shown_groups == expected
    assert set(expected) == {"Sex", "Ethnicity", "SEN primary need"}
    assert NOTE not in text  # the headline page is the headline page


@pytest.mark.parametrize("period", ["", "2023"])  # "": the latest in the breakdown (2024)
def test_a_breakdown_page_shows_the_la_neighbours_region_and_england(datasette, db_path, period):
    text = page(datasette, area=SHROPSHIRE, breakdown=FEMALE.replace(" ", "+"), period=period)
    assert text.count(NOTE) == 1
    period = period or "2024"
    rows = breakdown_cells(text)
    assert set(rows) == {(INDICATOR, period)}
    cells = rows[(INDICATOR, period)]
    mean, n, size = expected_neighbour_mean(db_path, FEMALE, period)
    assert n == size - 1  # one neighbour suppressed in 2024, one without a row in 2023
    assert float(cells["sn-mean"][0]) == pytest.approx(mean)
    assert cells["sn-mean"][1] == f"{shown(mean)} ({n} of {size} neighbours)"
    for kind, code in (("value", SHROPSHIRE), ("region", WM), ("england", ENGLAND)):
        number = observed(db_path, code, FEMALE, period)["value"]
        assert float(cells[kind][0]) == number, kind
        assert cells[kind][1] == shown(number), kind
    periods = text[
        text.index('<select id="period"') : text.index("</select>", text.index('id="period"'))
    ]
    assert re.findall(r'<option value="(\d+)"', periods) == ["2024", "2023"]  # the breakdown's


def test_breakdown_pages_have_no_rank_band_significance_or_trend_columns(datasette):
    text = page(datasette, area=SHROPSHIRE, breakdown=FEMALE)
    table = text[text.index('<table class="sb-indicators sb-breakdown">') :]
    headers = re.findall(r'<th scope="col">([^<]+)</th>', table[: table.index("</thead>")])
    assert headers == ["Indicator", "Period", "Shropshire", "Neighbour average",
                       f"Region {WM}", "England", "Charts"]  # fmt: skip
    for word in ("Band and rank", "vs neighbours", "vs England", "not compared", "not assessed"):
        assert word not in text, word
    chart = text[text.index(f'id="charts-{INDICATOR}"') :]
    chart = chart[: chart.index("</svg>")]
    for series in ("s-value", "s-sn_mean", "s-england_value"):  # LA, neighbours, England
        assert len(re.search(rf'class="{series}" points="([^"]+)"', chart)[1].split()) == 2


def test_breakdown_bars_are_the_la_and_its_neighbours_in_that_breakdown(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE, breakdown=FEMALE)  # the latest period, 2024
    charts = text[text.index(f'id="charts-{INDICATOR}"') :]
    bars = charts[charts.index('class="neighbours-chart"') :]
    bars = bars[: bars.index("</svg>")]
    codes = [r["neighbour_code"] for r in query(
        db_path, "select neighbour_code from statistical_neighbours where set_id = ? and "
        "area_code = ?", ["dfe-2025-05", SHROPSHIRE])]  # fmt: skip
    values = [observed(db_path, code, FEMALE, "2024") for code in [SHROPSHIRE, *codes]]
    expected = sorted((r["value"] for r in values if r and r["value"] is not None), reverse=True)
    assert len(expected) < 1 + len(codes)  # one neighbour's 2024 value is suppressed
    labels = re.findall(r'<text x="\d+" y="\d+"(?: font-weight="bold")?>([^<]+)</text>', bars)
    assert [float(v.replace(",", "")) for v in labels] == pytest.approx(expected)
    assert '<g class="this-la">' in bars and "▶ Shropshire" in bars


def test_a_suppressed_value_shows_its_status(datasette, db_path):
    cells = breakdown_cells(page(datasette, area=SHROPSHIRE, breakdown=MALE))[(INDICATOR, "2024")]
    assert observed(db_path, SHROPSHIRE, MALE, "2024") == {"value": None, "status": "c"}
    assert cells["value"] == ("", "c (suppressed)")
    assert observed(db_path, WM, MALE, "2024") is None
    assert cells["region"] == ("", "not published")
    mean, n, size = expected_neighbour_mean(db_path, MALE, "2024")
    assert (float(cells["sn-mean"][0]), n) == (pytest.approx(mean), size)


def test_a_breakdown_without_neighbour_values_says_so(datasette, db_path):
    cells = breakdown_cells(page(datasette, area=SHROPSHIRE, breakdown=INDIAN))[(INDICATOR, "2024")]
    assert float(cells["value"][0]) == observed(db_path, SHROPSHIRE, INDIAN, "2024")["value"]
    size = len(SETS["dfe-2025-05"][SHROPSHIRE])
    assert cells["sn-mean"] == ("", f"no value (0 of {size} neighbours)")
    assert cells["england"] == ("", "not published")


def test_outcomes_without_an_indicator_in_the_breakdown_say_so(datasette, db_path):
    text = page(datasette, area=SHROPSHIRE, breakdown=AUTISM)
    outcomes = query(db_path, "select id from outcomes")
    assert text.count('<section class="sb-outcome"') == len(outcomes)
    rows = breakdown_cells(text)
    assert set(rows) == {("ehcp_caseload", "2024/25")}
    families = text[text.index('id="outcome-families_heard"') :]
    families = families[: families.index("</section>")]
    assert "No indicator of this outcome has data for Shropshire in the breakdown" in families
    gaps = text[text.index('<ul class="gaps"') : text.index("</ul>", text.index('class="gaps"'))]
    assert f'data-outcome="{GAP_OUTCOME}">Gap:' in gaps
    mean = statistics.mean(
        observed(db_path, code, AUTISM, "2024/25", "ehcp_caseload")["value"]
        for code in SETS["dfe-2025-05"][SHROPSHIRE]
    )
    assert float(rows[("ehcp_caseload", "2024/25")]["sn-mean"][0]) == pytest.approx(mean)


def test_the_url_keeps_the_breakdown(datasette, db_path):
    response = get(datasette, "/-/sendbench/dashboard?area=Shropshire&breakdown=Sex%3A+Female")
    assert response.status_code == 302
    params = parse_qs(urlparse(response.headers["location"]).query)
    assert params == {"area": [SHROPSHIRE], "breakdown": [FEMALE]}
    text = page(datasette, area=SHROPSHIRE, breakdown="Sex%3A+Female")
    assert f'<option value="{FEMALE}" selected>Female</option>' in text
    json_url = html.unescape(re.search(r'<a href="([^"]+)">These numbers as JSON</a>', text)[1])
    params = parse_qs(urlparse(json_url).query)
    assert params["area_code"] == [SHROPSHIRE] and params["breakdown"] == [FEMALE]
    assert params["_shape"] == ["array"] and "/observations.json" in json_url
    served = get(datasette, json_url).json()
    stored = query(db_path, "select * from observations where area_code = ? and breakdown = ?",
                   [SHROPSHIRE, FEMALE])  # fmt: skip
    assert sorted((r["period"], r["value"]) for r in served) == sorted(
        (r["period"], r["value"]) for r in stored
    )
    row = next(ROW.finditer(text))["body"]
    rows_link = html.unescape(re.search(r'<a href="([^"]+)">rows</a>', row)[1])
    assert parse_qs(urlparse(rows_link).query)["breakdown"] == [FEMALE]
    answer = get(
        datasette, rows_link.replace("/observations?", "/observations.json?") + "&_shape=array"
    )
    assert {r["breakdown"] for r in answer.json()} == {FEMALE} and len(answer.json()) == 2
    total = get(datasette, f"/-/sendbench/dashboard?area={SHROPSHIRE}&breakdown=Total")
    assert total.status_code == 302
    assert parse_qs(urlparse(total.headers["location"]).query) == {"area": [SHROPSHIRE]}


@pytest.mark.parametrize(
    ("breakdown", "listed"),
    [("Sex: Unknown", "Its 'Sex' breakdowns: Female, Male."),
     ("Age: 6", "Its breakdown topics (number of breakdowns): Ethnicity (1), SEN primary need (1), "
      "Sex (2).")],
)  # fmt: skip
def test_an_unknown_breakdown_says_which_exist(datasette, breakdown, listed):
    response = get(datasette, f"/-/sendbench/dashboard?area={SHROPSHIRE}&breakdown={breakdown}")
    assert response.status_code == 404
    text = html.unescape(response.text)
    assert f"Shropshire (E06000051) has no observations in the breakdown '{breakdown}'." in text
    assert listed in text
    assert 'role="alert"' in text and f'href="/-/sendbench/dashboard?area={SHROPSHIRE}"' in text


def test_an_la_without_breakdowns_says_it_has_headline_figures_only(datasette):
    response = get(datasette, f"/-/sendbench/dashboard?area={WESTMINSTER}&breakdown=Sex%3A+Female")
    assert response.status_code == 404
    assert "It has headline figures only." in html.unescape(response.text)
