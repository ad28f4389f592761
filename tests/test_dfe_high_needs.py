"""High-needs finance: DSG high needs block allocations for every year, the 2021-22 outturn extract,
values per head of the 2-18 population, the DSG page found on GOV.UK, a changed layout and the
real files.

Expected values are read here with odfpy-free tools: the ODS content.xml with zipfile and a regex
over its cells, the outturn extract with openpyxl by column letter; per-head values and shares
are recomputed here.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from datetime import date
from pathlib import Path

import openpyxl
import pytest
import responses
from conftest import FIXTURES, SHARED_DATA, add_publishers, needs_shared_data, run_refresh, snapshot

DATASET = "dfe_high_needs"
FIXTURE_DIR = FIXTURES / "dfe" / "high_needs"
REAL_DIR = SHARED_DATA / "dfe" / "finance"
DSG = ["dedicated-schools-grant_2021_11_18.ods", "dedicated-schools-grant_2022_07_18.ods"]
OUTTURN = "Outturn data 202122.xlsx"
ENGLAND = "E92000001"
# outturn indicator -> column letter of the 2021-22 extract (header texts checked below)
LETTERS = {"hn_population_2_18": "E", "hn_ehcp_count": "G", "ehcp_nmss_independent_placements":
           "K", "hn_place_funding_gbp": "BI", "hn_topup_maintained_gbp": "BP",
           "hn_topup_independent_gbp": "BX", "hn_topup_independent_special_gbp": "CB",
           "hn_sen_support_services_gbp": "CF", "hn_ap_services_gbp": "CG"}  # fmt: skip
TOTAL_LETTERS = ["BI", "BP", "BX", "CF", "CG", "CH", "CI"]
CELL = re.compile(r"<table:table-cell[^>]*?(?:/>|>(.*?)</table:table-cell>)", re.S)


def ods_rows(path: Path, sheet: str) -> list[list[str]]:
    """A sheet's rows as the text of their cells (repeated cells expanded), from content.xml."""
    with zipfile.ZipFile(path) as archive:
        xml = archive.read("content.xml").decode("utf-8")
    start = xml.index(f'<table:table table:name="{sheet}"')
    body = xml[start : xml.index("</table:table>", start)]
    rows = []
    for row in re.findall(r"<table:table-row\b.*?</table:table-row>", body, re.S):
        cells = []
        for match in re.finditer(r"<table:table-cell([^>]*?)(/>|>(.*?)</table:table-cell>)", row,
                                 re.S):  # fmt: skip
            repeat = re.search(r'number-columns-repeated="(\d+)"', match.group(1))
            value = re.search(r'office:value="([^"]+)"', match.group(1))
            text = value.group(1) if value else re.sub(r"<[^>]+>", "", match.group(3) or "")
            cells += [text.strip()] * min(int(repeat.group(1)) if repeat else 1, 20)
        rows.append(cells)
    return rows


def la_list() -> dict[str, str]:
    """DfE code -> the current ONS code of the live LA (the fixture LA list, read with csv)."""
    rows = list(csv.DictReader(io.StringIO((FIXTURES / "dfe" / "las" / "las.csv").read_text())))
    live = {r["old_la_code"]: r["new_la_code"] for r in rows if r["status"] == "live"}
    ended = {r["old_la_code"]: r["new_la_code"] for r in rows if r["status"] != "live"}
    return {**ended, **live}


def dsg_expected(folder: Path, names: list[str], codes: dict[str, str]) -> dict[tuple, float]:
    out = {}
    for name in names:
        rows = ods_rows(folder / name, "Allocations_summary")
        first, second = re.search(r"(\d{4}) to (\d{4})", rows[0][0]).groups()
        period = f"{first}-{second[2:]}"
        for row in rows[4:]:
            code = row[0] if re.fullmatch(r"\d{3}", row[0] or "") else None
            if row[0] == "ENGLAND":
                area = ENGLAND
            elif code in codes:
                area = codes[code]
            else:
                continue  # regions and LA-type totals are checked in the real test
            out[("hnb_allocation_gbp", area, period)] = float(row[4])
            out[("hnb_allocation_after_deductions_gbp", area, period)] = float(row[9])
    return out


def outturn_expected(folder: Path, codes: dict[str, str]) -> dict[tuple, float]:
    sheet = openpyxl.load_workbook(folder / OUTTURN, data_only=True).worksheets[0]
    assert sheet["E5"].value.startswith("2-18 Population")
    assert sheet["BI3"].value == "Section 251 outturn"
    assert sheet["BX4"].value.startswith("Top up funding (non-maintained")
    out = {}
    for row in range(8, sheet.max_row + 1):
        code = str(sheet[f"C{row}"].value)
        block = [sheet.cell(row, col).value for col in range(61, 88)]  # BI:CI, the outturn block
        if code not in codes or all(v in (None, "#N/A") for v in block):
            continue  # the rows of abolished councils
        area = codes[code]
        for indicator, letter in LETTERS.items():
            out[(indicator, area, "2021-22")] = number(sheet[f"{letter}{row}"].value)
        parts = [number(sheet[f"{c}{row}"].value) for c in TOTAL_LETTERS]
        total = None if None in parts else sum(parts)  # an error cell: no total, never a short one
        out[("hn_outturn_total_gbp", area, "2021-22")] = total
    return out


def number(cell) -> float | None:
    """A cell's number; None for an Excel error (#N/A) or an empty cell."""
    return float(cell) if isinstance(cell, (int, float)) else None


def with_derived(want: dict[tuple, float]) -> dict[tuple, float]:
    for (indicator, area, period), population in list(want.items()):
        if indicator != "hn_population_2_18":
            continue
        for name, part in (
            ("hnb_allocation_per_head_2_18", "hnb_allocation_gbp"),
            ("hn_outturn_per_head_2_18", "hn_outturn_total_gbp"),
            ("hn_topup_independent_per_head_2_18", "hn_topup_independent_gbp"),
        ):
            if (part, area, period) in want and population:  # a symbol stays a symbol
                value = want[(part, area, period)]
                want[(name, area, period)] = None if value is None else value / population
        plans = want[("hn_ehcp_count", area, period)]
        placed = want[("ehcp_nmss_independent_placements", area, period)]
        if plans:
            share = None if placed is None else placed / plans * 100
            want[("ehcp_nmss_independent_pct", area, period)] = share
    return want


def observed(db) -> dict[tuple, float]:
    rows = db.execute("select indicator_id, area_code, period, value from observations "
                      "where dataset_id = ?", [DATASET]).fetchall()  # fmt: skip
    return {(i, a, p): v for i, a, p, v in rows}


def folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "from"
    folder.mkdir(exist_ok=True)
    for source in (FIXTURES / "dfe" / "las").glob("*.csv"):
        (folder / source.name).write_bytes(source.read_bytes())
    for name, data in files.items():
        (folder / name).write_bytes(data)
    return folder


def fixture_files() -> dict[str, bytes]:
    return {n: (FIXTURE_DIR / n).read_bytes() for n in [*DSG, OUTTURN]}


def test_fixture_values_per_head_and_shares_match_the_files(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=folder_with(
        tmp_path, fixture_files()))  # fmt: skip
    result = results[DATASET]
    assert result.status == "loaded", result.error
    got = {k: v for k, v in observed(db).items() if not k[1].startswith("E12")}
    want = with_derived({**dsg_expected(FIXTURE_DIR, DSG, la_list()),
                         **outturn_expected(FIXTURE_DIR, la_list())})  # fmt: skip
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert (got[key] is None) if value is None else got[key] == pytest.approx(value), key
    # the reorganised councils: Dorset 838 (new) and BCP have outturn rows; Dorset 835 a #N/A one
    assert ("hn_outturn_total_gbp", "E06000059", "2021-22") in got
    assert ("hn_outturn_total_gbp", "E10000009", "2021-22") not in got
    regions = {k[1] for k in observed(db) if k[1].startswith("E12")}
    assert len(regions) == 9  # every region once, though the file lists LONDON twice


def edit_ods(data: bytes, old: str, new: str) -> bytes:
    """The ODS with one piece of content.xml text replaced."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as archive, zipfile.ZipFile(out, "w") as copy:
        for info in archive.infolist():
            body = archive.read(info.filename)
            if info.filename == "content.xml":
                body = body.decode("utf-8").replace(old, new, 1).encode("utf-8")
            copy.writestr(info, body)
    return out.getvalue()


def add_gov_uk(rsps, bodies: dict[str, bytes]) -> None:
    today = date.today()
    year = today.year if today.month >= 4 else today.year - 1
    base = "https://www.gov.uk/api/content/government/publications/dedicated-schools-grant-dsg"
    rsps.get(f"{base}-{year}-to-{year + 1}", status=404)  # not published yet
    attachments = [{"attachment_type": "file", "filename": name, "title": "DSG allocations",
                    "url": f"https://assets.publishing.service.gov.uk/media/5f1a/{name}"}
                   for name in bodies]  # fmt: skip
    rsps.get(f"{base}-{year - 1}-to-{year}", json={"public_updated_at": "2024-07-20T10:00:00Z",
             "details": {"attachments": attachments}})  # fmt: skip
    for att in attachments:
        rsps.get(att["url"], body=bodies[att["filename"]],
                 content_type="application/vnd.oasis.opendocument.spreadsheet")  # fmt: skip


@responses.activate
def test_the_dsg_page_is_found_on_gov_uk_and_loaded(tmp_path):
    add_publishers(responses)
    add_gov_uk(responses, {n: (FIXTURE_DIR / n).read_bytes() for n in DSG})
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert result.status == "loaded", result.error
    assert result.published == "2024-07-20T10:00:00Z"
    assert "no high-needs outturn file: outturn indicators not refreshed" in result.notes
    got = {k: v for k, v in observed(db).items() if not k[1].startswith("E12")}
    assert got == dsg_expected(FIXTURE_DIR, DSG, la_list())


def test_a_changed_layout_fails_keeps_the_last_load_and_others_still_refresh(tmp_path):
    bodies = {n: (FIXTURE_DIR / n).read_bytes() for n in DSG}
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_gov_uk(rsps, bodies)
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = snapshot(db, DATASET)
    bodies[DSG[1]] = edit_ods(bodies[DSG[1]], "High needs block (£s)", "High needs (£s)")
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_gov_uk(rsps, bodies)
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET, "dfe_ehcp"])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith(f"{DATASET}: {DSG[1]} does not have the expected layout")
    assert "missing columns: High needs block (£s);" in result.error
    assert "unexpected columns: High needs (£s)." in result.error
    assert snapshot(db, DATASET) == before
    assert second["dfe_ehcp"].status == "loaded"


@needs_shared_data
def test_real_files_england_and_reorganised_councils(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []
    got = observed(db)
    names = sorted(p.name for p in REAL_DIR.glob("dedicated-schools-grant_*.ods"))
    real_las = {r["old_la_code"]: r["new_la_code"] for r in csv.DictReader(io.StringIO(
        (SHARED_DATA / "lookups" / "dfe_qa_las.csv").read_text(encoding="utf-8-sig")))
        if r["status"] == "live"}  # fmt: skip
    # England, Shropshire, BCP (2019) and North Yorkshire (DfE 815, E06000065 since 2023)
    picked = {k: v for k, v in real_las.items() if k in {"893", "839", "815", "940"}}
    assert picked == {"893": "E06000051", "839": "E06000058", "815": "E06000065",
                      "940": "E06000061"}  # fmt: skip
    want = with_derived({**dsg_expected(REAL_DIR, names, picked),
                         **outturn_expected(REAL_DIR, picked)})  # fmt: skip
    for key, value in want.items():
        assert (got[key] is None) if value is None else got[key] == pytest.approx(value), key
    assert got[("hnb_allocation_gbp", ENGLAND, "2023-24")] == 9952172126.0
    periods = {k[2] for k in got if k[0] == "hnb_allocation_gbp"}
    assert periods == {"2020-21", "2021-22", "2022-23", "2023-24"}
    assert ("hn_topup_independent_gbp", "E10000021", "2021-22") not in got  # a row of #N/A
