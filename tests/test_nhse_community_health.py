"""NHS England community health services waiting lists: found on the statistics page, read as
saved, checked.

Expected values are read here from the workbooks with openpyxl (cells by header and organisation
code) and the shares worked out here, never taken from sendbench's output.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import openpyxl
import pytest
import responses
from conftest import FIXTURES, LAS_URL, REGIONS_URL, SHARED_DATA, needs_shared_data, run_refresh

from sendbench.harvesters.nhse.community_health import file_month

HERE = FIXTURES / "nhse" / "community_health"
EXCERPTS = {"2023-09": HERE / "community_health_2023-11-01_excerpt.xlsx",
            "2023-10": HERE / "community_health_2023-12-01_excerpt.xlsx"}  # fmt: skip
REAL = SHARED_DATA / "nhse" / "community-health"
REAL_FILES = {"2023-09": REAL / "community_health_2023-11-01.xlsx",
              "2023-10": REAL / "community_health_2023-12-01.xlsx"}  # fmt: skip
LANDING = "https://www.england.nhs.uk/statistics/statistical-work-areas/community-health-services-waiting-lists/"
UPLOADS = "https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2"
OCTOBER_URL = f"{UPLOADS}/2023/12/Community-health-services-waiting-lists-2023-24-October.xlsx"
DATASETS = ["dfe_areas", "nhse_community_health"]
BAND_SHEETS = [f"Table 4{c}" for c in "abcdefg"]  # 0-1, >1-2, >2-4, >4-12, >12-18, >18-52, >52
# indicator prefix -> the workbook's column, written out here on purpose
SERVICES = {
    "chs_paediatrics": "(CYP) Community paediatric service",
    "chs_slt": "(CYP) Therapy interventions: Speech and language",
    "chs_ot": "(CYP) Therapy interventions: Occupational therapy",
    "chs_physio": "(CYP) Therapy interventions: Physiotherapy",
    "chs_audiology": "(CYP) Audiology",
}
KINDS = {"National": None, "Region": "nhs_region", "ICB": "icb", "Provider": "provider"}


def read_tables(path: Path) -> dict[str, dict[str, dict[str, object]]]:
    """Sheet -> area code (as sendbench files it) -> header -> cell, read with openpyxl."""
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    out = {}
    for name in ["Table 4", *BAND_SHEETS]:
        sheet = book[name]
        sheet.reset_dimensions()
        rows = list(sheet.iter_rows(values_only=True))
        header = rows[4]
        assert header[:3] == ("Organisation Type", "Organisation Code", "Organisation Name")
        table = {}
        for row in rows[5:]:
            if row[0] not in KINDS:
                continue
            code = "E92000001" if row[0] == "National" else f"{KINDS[row[0]]}:{row[1]}"
            table[code] = {h: v for h, v in zip(header, row, strict=False) if h}
        out[name] = table
    book.close()
    return out


def expected(tables, code: str, column: str) -> dict[str, tuple]:
    """The four measures of one service line (or every CYP line) as the publication gives them."""
    if column == "CYP services":
        columns = [h for h in tables["Table 4"][code] if str(h).startswith("(CYP)")]
    else:
        columns = [column]
    total = sum(tables["Table 4"][code][c] or 0 for c in columns)
    bands = [sum(tables[s][code][c] or 0 for c in columns) for s in BAND_SHEETS]
    over_18, over_52, banded = bands[5] + bands[6], bands[6], sum(bands)

    def share(count):  # nobody with a banded wait: no share (status z)
        return 100 * count / banded if banded else None

    return {
        "waiting_list": (total, None, None),
        "over_18_weeks": (over_18, None, None),
        "over_18_weeks_pct": (share(over_18), over_18, banded),
        "over_52_weeks": (over_52, None, None),
        "over_52_weeks_pct": (share(over_52), over_52, banded),
    }


def stored(db, indicator: str, code: str, month: str):
    return db.execute(
        "select value, numerator, denominator, status, period_start, period_end, release, "
        "source_area_code from observations where indicator_id = ? and area_code = ? "
        "and period = ?",
        [indicator, code, month],
    ).fetchone()


def check(db, tables, month: str, code: str, prefix: str, column: str, measures) -> None:
    want = expected(tables, code, column)
    for m in measures:
        row = stored(db, f"{prefix}_{m}", code, month)
        assert row is not None, (prefix, m, code, month)
        value, numerator, denominator, status = row[:4]
        if want[m][0] is None:
            assert (value, status) == (None, "z"), (prefix, m, code, month)
        else:
            assert value == pytest.approx(want[m][0], rel=1e-12), (prefix, m, code, month)
            assert status is None
        assert (numerator, denominator) == want[m][1:], (prefix, m, code, month)
        assert row[6] == month and row[7] == ("E92000001" if ":" not in code
                                              else code.split(":")[1])  # fmt: skip


def local_folder(tmp_path: Path, months=("2023-09", "2023-10"), edit=None) -> Path:
    folder = tmp_path / "from"
    folder.mkdir(exist_ok=True)
    for name in ("las.csv", "regions.csv"):
        shutil.copy(FIXTURES / "dfe" / "las" / name, folder / name)
    for month in months:
        target = folder / EXCERPTS[month].name
        shutil.copy(EXCERPTS[month], target)
        if edit is not None:
            book = openpyxl.load_workbook(target)
            edit(book)
            book.save(target)
    return folder


SERVICE_MEASURES = ("waiting_list", "over_18_weeks_pct", "over_52_weeks")
CYP_MEASURES = ("waiting_list", "over_18_weeks", "over_18_weeks_pct", "over_52_weeks",
                "over_52_weeks_pct")  # fmt: skip


def test_both_months_load_with_the_published_figures(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    result = results["nhse_community_health"]
    assert result.status == "loaded", result.error
    held = [
        r[0]
        for r in db.execute(
            "select release from releases where dataset_id = 'nhse_community_health' order by 1"
        )
    ]
    assert held == ["2023-09", "2023-10"]
    for month, path in EXCERPTS.items():
        tables = read_tables(path)
        for code in ("E92000001", "nhs_region:Y60", "icb:QOC", "icb:QE1", "provider:R1D"):
            for prefix, column in SERVICES.items():
                if tables["Table 4"][code][column] is None:
                    assert stored(db, f"{prefix}_waiting_list", code, month) is None
                    continue
                check(db, tables, month, code, prefix, column, SERVICE_MEASURES)
            check(db, tables, month, code, "chs_cyp", "CYP services", CYP_MEASURES)
    row = stored(db, "chs_slt_waiting_list", "icb:QOC", "2023-10")
    assert row[4:6] == ("2023-10-01", "2023-10-31")


def test_england_all_services_figure_is_the_publishers_own(tmp_path):
    """Table 3 of the real September 2023 workbook gives CYP services 216,613 waiting."""
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path, months=["2023-09"]))
    assert stored(db, "chs_cyp_waiting_list", "E92000001", "2023-09")[0] == 216613


def test_blank_cells_are_no_submission_never_zero(tmp_path):
    db, results = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    tables = read_tables(EXCERPTS["2023-09"])
    qox = tables["Table 4"]["icb:QOX"]
    assert qox["(CYP) Community paediatric service"] is None  # BSW: no submission
    assert stored(db, "chs_paediatrics_waiting_list", "icb:QOX", "2023-09") is None
    assert tables["Table 4"]["provider:RYW"]["(CYP) Audiology"] is None
    assert stored(db, "chs_audiology_waiting_list", "provider:RYW", "2023-09") is None
    notes = " ".join(results["nhse_community_health"].notes)
    assert "(CYP) Community paediatric service:" in notes and "blank total" in notes


def test_nhs_areas_are_filed_with_their_codes_and_names(tmp_path):
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    rows = {r[0]: r[1:] for r in db.execute(
        "select area_code, name, area_type, valid_from from areas "
        "where area_code in ('icb:QOC', 'nhs_region:Y60', 'provider:R1D')")}  # fmt: skip
    assert rows == {
        "icb:QOC": ("SHROPSHIRE, TELFORD AND WREKIN", "icb", "2022-07-01"),
        "nhs_region:Y60": ("MIDLANDS", "nhs_region", None),
        "provider:R1D": ("SHROPSHIRE COMMUNITY HEALTH NHS TRUST", "provider", None),
    }


def test_an_older_month_loaded_later_erases_nothing(tmp_path):
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path, months=["2023-10"]))
    before = stored(db, "chs_slt_waiting_list", "icb:QOC", "2023-10")
    shutil.rmtree(tmp_path / "from")
    db, results = run_refresh(
        tmp_path, ["nhse_community_health"], from_dir=local_folder(tmp_path, months=["2023-09"])
    )
    assert results["nhse_community_health"].status == "loaded"
    assert stored(db, "chs_slt_waiting_list", "icb:QOC", "2023-10") == before
    assert stored(db, "chs_slt_waiting_list", "icb:QOC", "2023-09") is not None


def test_a_renamed_service_column_fails_naming_it_and_keeps_the_last_good_data(tmp_path):
    db, _ = run_refresh(tmp_path, DATASETS, from_dir=local_folder(tmp_path))
    before = list(
        db.execute(
            "select * from observations where dataset_id = 'nhse_community_health' order by 1, 2, 3"
        )
    )
    slt = SERVICES["chs_slt"]

    def rename(book):
        sheet = book["Table 4f"]
        for cell in sheet[5]:
            if cell.value == slt:
                cell.value = "(CYP) Speech and language therapy"

    shutil.rmtree(tmp_path / "from")
    db, results = run_refresh(tmp_path, ["nhse_community_health"],
                              from_dir=local_folder(tmp_path, edit=rename))  # fmt: skip
    result = results["nhse_community_health"]
    assert result.status == "failed"
    assert "nhse_community_health" in result.error
    assert "community_health_2023-11-01_excerpt.xlsx (Table 4f)" in result.error
    assert f"missing columns: {slt}" in result.error
    assert "(CYP) Speech and language therapy" in result.error
    after = list(
        db.execute(
            "select * from observations where dataset_id = 'nhse_community_health' order by 1, 2, 3"
        )
    )
    assert after == before


def test_a_blank_band_under_a_published_total_leaves_the_band_measures_null(tmp_path):
    column = SERVICES["chs_slt"]

    def blank(book):
        sheet = book["Table 4e"]
        at = [c.value for c in sheet[5]].index(column) + 1
        for row in sheet.iter_rows(min_row=6):
            if row[1].value == "QOC":
                row[at - 1].value = None

    db, _ = run_refresh(
        tmp_path, DATASETS, from_dir=local_folder(tmp_path, months=["2023-09"], edit=blank)
    )
    tables = read_tables(EXCERPTS["2023-09"])
    assert (
        stored(db, "chs_slt_waiting_list", "icb:QOC", "2023-09")[0]
        == (tables["Table 4"]["icb:QOC"][column])
    )
    for indicator in ("chs_slt_over_18_weeks_pct", "chs_slt_over_52_weeks"):
        value, numerator, denominator, status = stored(db, indicator, "icb:QOC", "2023-09")[:4]
        assert (value, numerator, denominator, status) == (None, None, None, "missing")


def test_an_over_52_weeks_band_split_in_two_is_summed(tmp_path):
    """The 2024-25 workbooks split "over 52 weeks" into >52-104 weeks (Table 4g) and over 104
    weeks (Table 4h); here the split is made from the fixture: half of each cell moved to 4h."""

    def split(book):
        g = book["Table 4g"]
        h = book.copy_worksheet(g)
        h.title = "Table 4h"
        g["A1"] = g["A1"].value.replace(
            "over 52 weeks (over 365 days)", ">52-104 weeks (365-728 days)"
        )
        h["A1"] = h["A1"].value.replace(
            "over 52 weeks (over 365 days)", "over 104 weeks (over 728 days)"
        )
        for row_g, row_h in zip(g.iter_rows(min_row=6), h.iter_rows(min_row=6), strict=True):
            for cg, ch in zip(row_g[3:], row_h[3:], strict=True):
                if isinstance(cg.value, int):
                    cg.value, ch.value = cg.value - cg.value // 2, cg.value // 2

    db, results = run_refresh(
        tmp_path, DATASETS, from_dir=local_folder(tmp_path, months=["2023-09"], edit=split)
    )
    assert results["nhse_community_health"].status == "loaded"
    tables = read_tables(EXCERPTS["2023-09"])  # the unsplit cells: the sums must come back
    check(db, tables, "2023-09", "icb:QOC", "chs_slt", SERVICES["chs_slt"], SERVICE_MEASURES)
    check(db, tables, "2023-09", "E92000001", "chs_cyp", "CYP services", CYP_MEASURES)
    assert "over 104 weeks" in " ".join(results["nhse_community_health"].notes)


def test_a_missing_band_is_refused(tmp_path):
    def drop(book):
        del book["Table 4e"]

    db, results = run_refresh(
        tmp_path, DATASETS, from_dir=local_folder(tmp_path, months=["2023-09"], edit=drop)
    )
    result = results["nhse_community_health"]
    assert result.status == "failed"
    assert "do not cover 0 weeks to over N weeks without a gap" in result.error
    assert "Table 4d: 4-12 weeks" in result.error and "Table 4f: 18-52 weeks" in result.error


def test_a_web_page_saved_as_the_workbook_is_a_clear_error(tmp_path):
    folder = local_folder(tmp_path, months=[])
    (folder / "community_health_2023-11-01.xlsx").write_text("<html><body>Not found</body></html>")
    db, results = run_refresh(tmp_path, DATASETS, from_dir=folder)
    result = results["nhse_community_health"]
    assert result.status == "failed"
    assert (
        "community_health_2023-11-01.xlsx is an HTML page, not the published file" in result.error
    )
    assert f"the file {folder / 'community_health_2023-11-01.xlsx'} is the problem" in result.error


def test_file_months():
    assert file_month("Community-health-services-waiting-lists-2023-24-October.xlsx") == "2023-10"
    assert file_month("Community-health-services-waiting-lists-2024-25-March.xlsx") == "2025-03"
    assert (
        file_month("Community-health-services-waiting-lists-2023-24-August-revised.xlsx")
        == "2023-08"
    )
    assert file_month("Community-health-services-waiting-lists-2023-24-June-2.xlsx") == "2023-06"
    assert file_month("Community-health-services-waiting-lists-timeseries.xlsx") == ""
    assert file_month("community_health_2023-11-01.xlsx") == ""


def test_the_newest_workbook_on_the_statistics_page_is_found_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(LAS_URL, body=(FIXTURES / "dfe" / "las" / "las.csv").read_bytes())
        rsps.get(REGIONS_URL, body=(FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
        rsps.get(LANDING, body=(HERE / "landing.html").read_bytes(), content_type="text/html")
        rsps.get(
            OCTOBER_URL,
            body=EXCERPTS["2023-10"].read_bytes(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhse_community_health"]
    assert result.status == "loaded", result.error
    assert [f.source for f in result.files] == [OCTOBER_URL]
    assert result.release == "2023-10"
    tables = read_tables(EXCERPTS["2023-10"])
    check(db, tables, "2023-10", "icb:QOC", "chs_slt", SERVICES["chs_slt"], SERVICE_MEASURES)


def test_a_page_with_no_workbook_is_a_clear_error(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        rsps.get(LAS_URL, body=(FIXTURES / "dfe" / "las" / "las.csv").read_bytes())
        rsps.get(REGIONS_URL, body=(FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
        rsps.get(LANDING, body="<html><body><p>Moved</p></body></html>", content_type="text/html")
        db, results = run_refresh(tmp_path, DATASETS)
    result = results["nhse_community_health"]
    assert result.status == "failed"
    assert "links no monthly" in result.error and LANDING in result.error


@needs_shared_data
def test_the_real_workbooks_match_for_every_organisation(tmp_path):
    folder = local_folder(tmp_path, months=[])
    for path in REAL_FILES.values():
        shutil.copy(path, folder / path.name)
    db, results = run_refresh(tmp_path, DATASETS, from_dir=folder)
    assert results["nhse_community_health"].status == "loaded"
    for month, path in REAL_FILES.items():
        tables = read_tables(path)
        codes = list(tables["Table 4"])
        assert len(codes) == {"2023-09": 182, "2023-10": 185}[month]  # 1 + 7 + 42 + providers
        for code in codes:
            for prefix, column in SERVICES.items():
                if tables["Table 4"][code][column] is None:
                    assert stored(db, f"{prefix}_waiting_list", code, month) is None
                else:
                    check(db, tables, month, code, prefix, column, SERVICE_MEASURES)
        for code in ("E92000001", "nhs_region:Y58", "icb:QOC", "icb:QE1", "provider:R1D"):
            check(db, tables, month, code, "chs_cyp", "CYP services", CYP_MEASURES)
