"""The local area dashboard and the API guide, rendered in-process with ``datasette.client`` on the
small database of tests/test_cli_benchmark.py (eight LAs, a made-up 20-week timeliness series and
caseload, two neighbour sets), with the links of one outcome removed so that it is a gap.

Expected numbers are read from the ``latest_benchmarks`` view and the ``benchmarks`` table with
sqlite3; the neighbour averages are also recomputed here from the made-up inputs.
"""

from __future__ import annotations

import asyncio
import html
import re
import sqlite3
import statistics
from contextlib import closing
from urllib.parse import parse_qs, urlparse

import pytest
from test_cli_benchmark import INDICATOR, SETS, build_db, value

from sendbench.benchmark.store import compute_benchmarks
from sendbench.catalogue import load_catalogue
from sendbench.db.serve import make_datasette

SHROPSHIRE = "E06000051"
GAP_OUTCOME = "jobs_for_cyp"
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
    db.execute("delete from indicator_outcomes where outcome_id = ?", [GAP_OUTCOME])
    db.conn.commit()
    compute_benchmarks(db)  # reads the links from the tables: GAP_OUTCOME has no indicator
    db.conn.close()
    return path


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
    for needed in ("latest_benchmarks.json", "outcome_scorecard.json", "benchmarks.json",
                   "indicators.json"):  # fmt: skip
        assert any(needed in p for p in paths), needed
    for path in paths:
        assert "_shape=array" in path
        answer = get(datasette, path)
        assert answer.status_code == 200 and isinstance(answer.json(), list), path
