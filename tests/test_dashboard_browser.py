"""The dashboard in a real browser: `sendbench refresh --from ../shared/data` builds the database
(once per session, about 40 s), `sendbench serve` runs as a subprocess on a free port, and headless
Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by Selenium with explicit paths so
Selenium Manager never downloads anything) opens Shropshire's dashboard.

Checked: the charts are drawn (non-empty boxes, lines with length), the numbers on the page
equal the ``benchmarks`` table (read here with sqlite3), the page is usable by keyboard, and
axe-core (MPL-2.0; from npm, pinned in tests/package.json and installed by ``npm ci --prefix
tests``, which .ci/run does) finds no accessibility violations; the
same for Shropshire in the breakdown "Sex: Female", whose numbers must equal the
``observations`` table (the neighbour average recomputed here with ``statistics.mean``).
A screenshot is saved under the test's tmp folder. Under CI=true a missing browser or axe-core
fails; else the module is skipped with the reason.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.request
from contextlib import closing
from pathlib import Path

import pytest
from conftest import SHARED_DATA, needs_shared_data

CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")
AXE = Path(__file__).parent / "node_modules" / "axe-core" / "axe.min.js"
SHROPSHIRE = "E06000051"


def _browser_missing() -> str | None:
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    try:
        import selenium  # noqa: F401
    except ImportError:
        missing.append("the selenium package (pip install -e '.[test]')")
    if not AXE.exists():
        missing.append(f"{AXE} (npm ci --prefix tests)")
    return ", ".join(missing) or None


MISSING = _browser_missing()
if MISSING and os.environ.get("CI") == "true":
    raise RuntimeError(f"CI needs the browser for the dashboard test; missing: {MISSING}")
pytestmark = [
    needs_shared_data,
    pytest.mark.skipif(bool(MISSING), reason=f"no headless browser or axe-core: missing {MISSING}"),
]


def free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sendbench(*args: str) -> list[str]:
    """The command line of `sendbench ARGS` in this virtual environment."""
    exe = Path(sys.executable).with_name("sendbench")
    return [
        str(exe) if exe.exists() else sys.executable,
        *([] if exe.exists() else ["-m", "sendbench"]),
        *args,
    ]


@pytest.fixture(scope="session")
def full_db(tmp_path_factory) -> Path:
    """Every dataset refreshed from ../shared/data with the CLI (once per session)."""
    path = tmp_path_factory.mktemp("dashboard_real") / "sendbench.db"
    command = sendbench("refresh", "--from", str(SHARED_DATA), "--db", str(path))
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert path.exists() and "benchmark" in done.stdout + done.stderr, done.stderr[-2000:]
    return path


@pytest.fixture(scope="session")
def server(full_db):
    """`sendbench serve` on a free port; yields its base URL."""
    port = free_port()
    command = sendbench("serve", "--db", str(full_db), "--port", str(port))
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{base}/-/versions.json", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1400,1000", "--disable-gpu"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_script_timeout(180)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def dashboard(server, browser, tmp_path_factory):
    """Shropshire's dashboard open in the browser; a full-page screenshot is saved."""
    browser.get(f"{server}/-/sendbench/dashboard?area={SHROPSHIRE}&set=dfe-2025-05")
    assert "Shropshire" in browser.title
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1400, min(height, 16000))
    shot = tmp_path_factory.mktemp("screenshots") / "shropshire-dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000
    browser.set_window_size(1400, 1000)
    return browser


def stored(db: Path) -> dict[tuple[str, str], dict]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("select * from benchmarks where area_code = ? and neighbour_set = ? "
                            "and is_latest = 1", [SHROPSHIRE, "dfe-2025-05"])  # fmt: skip
        return {(r["indicator_id"], r["period"]): dict(r) for r in rows}


def shown(number: float) -> str:
    return f"{round(number, 2):,.2f}".rstrip("0").rstrip(".")


def test_charts_are_drawn(dashboard):
    boxes = dashboard.execute_script(
        "return [...document.querySelectorAll('svg.trend-chart, svg.neighbours-chart')].map("
        "s => ({kind: s.classList[0], w: s.getBoundingClientRect().width,"
        " h: s.getBoundingClientRect().height, title: s.querySelector('title').textContent,"
        " lines: [...s.querySelectorAll('polyline')].map(p => p.getTotalLength()),"
        " bars: s.querySelectorAll('rect').length}))"
    )
    trends = [b for b in boxes if b["kind"] == "trend-chart"]
    bars = [b for b in boxes if b["kind"] == "neighbours-chart"]
    assert len(trends) > 50 and len(bars) > 50
    assert all(b["w"] > 100 and b["h"] > 50 and b["title"] for b in boxes)
    assert all(any(length > 0 for length in t["lines"]) for t in trends)
    assert all(b["bars"] >= 2 for b in bars)


def test_numbers_on_the_page_equal_the_benchmarks_table(dashboard, full_db):
    rows = dashboard.execute_script(
        "return [...document.querySelectorAll('tr.indicator')].map(tr => ({"
        " id: tr.dataset.indicator, period: tr.dataset.period,"
        " cells: Object.fromEntries(['value', 'sn-mean', 'england'].map(k => {"
        "   const td = tr.querySelector('td.' + k);"
        "   return [k, [td.dataset.value, td.innerText.trim()]]; }))}))"
    )
    expected = stored(full_db)
    assert len(rows) > 100
    assert {(r["id"], r["period"]) for r in rows} == set(expected)
    for row in rows:
        record = expected[(row["id"], row["period"])]
        for kind, column in (("value", "value"), ("sn-mean", "sn_mean"),
                             ("england", "england_value")):  # fmt: skip
            raw, text = row["cells"][kind]
            if record[column] is None:
                assert raw == "", (row, kind)
            else:
                assert float(raw) == record[column], (row, kind)
                assert text.startswith(shown(record[column])), (row, kind, text)


def assert_no_axe_violations(driver, tmp_path_factory) -> None:
    """Run axe-core on the open page; fail listing the violations (details saved as JSON)."""
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    results = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then(r => done(r.violations))"
        ".catch(e => done([{id: 'axe-error', impact: 'critical', help: String(e), nodes: []}]));"
    )
    report = tmp_path_factory.mktemp("axe") / "violations.json"
    report.write_text(json.dumps(results, indent=2))
    summary = [(v["id"], v["impact"], v["help"], len(v["nodes"])) for v in results]
    assert summary == [], f"axe violations (details in {report}): {summary}"


def test_no_accessibility_violations(dashboard, tmp_path_factory):
    assert_no_axe_violations(dashboard, tmp_path_factory)


def test_keyboard_user_can_choose_an_la(server, browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    browser.get(f"{server}/-/sendbench/dashboard")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.text == "Skip to content"
    field = browser.find_element(By.ID, "area")
    field.send_keys("Shropshire", Keys.ENTER)
    for _ in range(100):
        if f"area={SHROPSHIRE}" in browser.current_url:
            break
        time.sleep(0.1)
    assert f"area={SHROPSHIRE}" in browser.current_url
    outline = browser.execute_script(
        "const a = document.querySelector('main a'); a.focus();"
        "return getComputedStyle(a).outlineStyle"
    )
    assert outline == "solid"


FEMALE = "Sex: Female"


def observations(db: Path, area_code: str, breakdown: str) -> dict[tuple[str, str], dict]:
    """(indicator, period) -> the observation row of the area in the breakdown."""
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        conn.row_factory = sqlite3.Row
        rows = conn.execute("select * from observations where area_code = ? and breakdown = ?",
                            [area_code, breakdown])  # fmt: skip
        return {(r["indicator_id"], r["period"]): dict(r) for r in rows}


def neighbour_codes(db: Path, set_id: str = "dfe-2025-05") -> list[str]:
    with closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("select neighbour_code from statistical_neighbours where set_id = ? "
                            "and area_code = ?", [set_id, SHROPSHIRE])  # fmt: skip
        return [r[0] for r in rows]


def test_a_breakdown_page_equals_the_observations_and_passes_axe(
    server, browser, full_db, tmp_path_factory
):
    browser.get(f"{server}/-/sendbench/dashboard?area={SHROPSHIRE}&set=dfe-2025-05"
                "&breakdown=Sex%3A+Female")  # fmt: skip
    assert "Shropshire" in browser.title and FEMALE in browser.title
    assert browser.execute_script("return document.getElementById('breakdown').value") == FEMALE
    note = browser.execute_script("return document.getElementById('breakdown-note').innerText")
    assert "computed for the headline figures only" in note
    rows = browser.execute_script(
        "return [...document.querySelectorAll('tr.indicator')].map(tr => ({"
        " id: tr.dataset.indicator, period: tr.dataset.period,"
        " cells: Object.fromEntries(['value', 'sn-mean', 'england'].map(k => {"
        "   const td = tr.querySelector('td.' + k);"
        "   return [k, [td.dataset.value, td.innerText.trim()]]; }))}))"
    )
    mine = observations(full_db, SHROPSHIRE, FEMALE)
    england = observations(full_db, "E92000001", FEMALE)
    peers = [observations(full_db, code, FEMALE) for code in neighbour_codes(full_db)]
    latest: dict[str, dict] = {}
    for row in mine.values():  # each indicator's latest period in the breakdown
        best = latest.get(row["indicator_id"])
        if best is None or row["period_start"] > best["period_start"]:
            latest[row["indicator_id"]] = row
    assert {(r["id"], r["period"]) for r in rows} == {
        (r["indicator_id"], r["period"]) for r in latest.values()
    }
    for row in rows:
        key = (row["id"], row["period"])
        for kind, record in (("value", mine.get(key)), ("england", england.get(key))):
            raw, text = row["cells"][kind]
            if record is None or record["value"] is None:
                assert raw == "" and text, (row, kind)  # a status or "not published"
            else:
                assert float(raw) == record["value"], (row, kind)
                assert text == shown(record["value"]), (row, kind, text)
        values = [p[key]["value"] for p in peers if key in p and p[key]["value"] is not None]
        raw, text = row["cells"]["sn-mean"]
        assert (float(raw) if raw else None) == (
            pytest.approx(statistics.mean(values)) if values else None
        ), row
        assert text.endswith(f"({len(values)} of {len(peers)} neighbours)"), (row, text)
    assert len(rows) > 10
    charts = browser.execute_script(
        "return [...document.querySelectorAll('svg.trend-chart')].map(s =>"
        " [...s.querySelectorAll('polyline')].map(p => p.getTotalLength()))"
    )
    assert charts and all(any(length > 0 for length in lines) for lines in charts)
    assert_no_axe_violations(browser, tmp_path_factory)
