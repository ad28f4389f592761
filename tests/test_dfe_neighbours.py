"""DfE statistical neighbours: every vintage parsed, found locally and on GOV.UK, faults reported.

Expected values come from the workbooks read here with openpyxl and from the LA list read with
the csv module, never from sendbench's own output.
"""

from __future__ import annotations

import copy
import csv
import io
import json
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import responses
from conftest import FIXTURES, LAS_URL, REGIONS_URL, SHARED_DATA, needs_shared_data, run_refresh

from sendbench.areas import AreaResolver, build_areas
from sendbench.catalogue import load_catalogue
from sendbench.db.schema import STATISTICAL_NEIGHBOURS
from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import HarvestContext, MissingLocalFiles
from sendbench.harvesters.dfe.neighbours import Harvester, vintage
from sendbench.http import HttpClient

HERE = FIXTURES / "dfe" / "neighbours"
LAS_CSV = FIXTURES / "dfe" / "las" / "las.csv"
REAL = SHARED_DATA / "dfe" / "statistical-neighbours"
CONTENT_URL = (
    "https://www.gov.uk/api/content/government/publications/local-authority-interactive-tool-lait"
)
PAGE = json.loads((HERE / "lait_content_api.json").read_text(encoding="utf-8"))
URL_2025, URL_2021 = (a["url"] for a in PAGE["details"]["attachments"][:2])
WORKBOOKS = {"dfe-2025-05": "sn_may_2025.xlsx", "dfe-2021-04-lgr": "sn_april_2021.xlsx"}
# The Cumbria split rows of the real LA list (lookups/dfe_qa_las.csv), which las.csv leaves out.
CUMBRIA_ROWS = """\
E06000063,Cumberland,01/04/2023,,E12000002,E06,Unitary Authorities,live,942
E06000064,Westmorland and Furness,01/04/2023,,E12000002,E06,Unitary Authorities,live,943
E10000006,Cumbria,01/01/2009,31/03/2023,E12000002,E10,Counties,terminated,909
"""


# Independent readers -------------------------------------------------------------------------


def read_workbook(path: Path) -> dict[str, tuple[str, list[tuple[int, str, str]]]]:
    """DfE number -> (LA name, [(rank, neighbour number, band)]), straight from the sheet."""
    sheet = openpyxl.load_workbook(path)["LA SN Groups"]
    rows = list(sheet.iter_rows(values_only=True))
    top = next(i for i, row in enumerate(rows) if row[0] == "LA num")
    header = rows[top]
    out = {}
    for row in rows[top + 1 :]:
        if not isinstance(row[0], int):
            continue
        given = []
        for rank in range(1, 11):
            at = header.index(f"SN{rank}")
            if isinstance(row[at], int):
                given.append((rank, str(row[at]), row[at + 1]))
        out[str(row[0])] = (row[1], given)
    return out


def la_list(text: str) -> dict[str, str]:
    """DfE number -> the code data rows use: the live code with that number, else its only code."""
    codes: dict[str, str] = {}
    for row in csv.DictReader(io.StringIO(text)):
        number = row["old_la_code"]
        if "/" in row["new_la_code"] or not number.isdigit():
            continue
        if number not in codes or not row["date_of_termination"]:
            codes[number] = row["new_la_code"]
    return codes


def band(text: str) -> str:
    return " ".join(text.split()).capitalize()


# Helpers -----------------------------------------------------------------------------------------


def harvester() -> Harvester:
    catalogue = load_catalogue()
    return Harvester(catalogue.dataset("dfe_statistical_neighbours"), catalogue)


def resolver(extra: str = CUMBRIA_ROWS) -> AreaResolver:
    las = pd.read_csv(io.StringIO(LAS_CSV.read_text() + extra), dtype=str, keep_default_na=False)
    regions = pd.read_csv(
        FIXTURES / "dfe" / "las" / "regions.csv", dtype=str, keep_default_na=False
    )
    areas, _, combinations = build_areas(las, regions)
    return AreaResolver(areas, combinations)


def parse_folder(tmp_path: Path, folder: Path, areas: AreaResolver):
    h = harvester()
    release = h.find_local(folder)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        files = {f.key: http.import_local(f.path, dataset=h.id) for f in release.files}
    return release, h.parse(files, release, HarvestContext(resolver=areas))


def edited_workbook(path: Path, edit) -> bytes:
    book = openpyxl.load_workbook(HERE / "sn_may_2025.xlsx")
    edit(book)
    buffer = io.BytesIO()
    book.save(buffer)
    path.write_bytes(buffer.getvalue())
    return buffer.getvalue()


def rename_header(old: str, new: str):
    def edit(book):
        sheet = book["LA SN Groups"]
        cell = next(c for c in sheet[3] if c.value == old)
        cell.value = new

    return edit


# Vintages and local files ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("texts", "expected"),
    [
        (["sn_may_2025.xlsx"], ("2025-05", False)),
        (["SN_April 2021.xlsx"], ("2021-04", True)),  # published as the LGR version
        (
            [
                "Childrens_services_statistical_neighbour_benchmarking_tool_-_LGR_Version__April_2021_"
                ".xlsx"
            ],
            ("2021-04", True),
        ),  # fmt: skip
        ([None, "Statistical neighbours: LGR version (March 2019)"], ("2019-03", True)),
        (["sn_2025_05.xlsx"], ("2025-05", False)),
        (["LAIT_user_guide.pdf", "Local authority interactive tool: user guide"], None),
    ],
)
def test_vintage_read_from_names_and_titles(texts, expected):
    assert vintage(texts) == expected


def test_every_local_workbook_is_a_release_file(tmp_path):
    release = harvester().find_local(FIXTURES)
    assert [(f.key, f.filename) for f in release.files] == [
        ("sn_2025_05", "sn_may_2025.xlsx"),
        ("sn_2021_04_lgr", "sn_april_2021.xlsx"),
    ]
    assert release.label == "dfe-2025-05"
    with pytest.raises(MissingLocalFiles, match="sn_"):
        harvester().find_local(tmp_path)
    (tmp_path / "sn_latest.xlsx").write_bytes((HERE / "sn_may_2025.xlsx").read_bytes())
    with pytest.raises(HarvestError, match="sn_latest.xlsx.*no month and year"):
        harvester().find_local(tmp_path)


# Parsing the fixture -----------------------------------------------------------------------------


def test_fixture_parsed_with_every_neighbour_and_band(tmp_path):
    codes = la_list(LAS_CSV.read_text() + CUMBRIA_ROWS)
    _, parsed = parse_folder(tmp_path, HERE, resolver())
    table = parsed.tables["statistical_neighbours"]
    assert list(table.columns) == list(STATISTICAL_NEIGHBOURS)
    assert parsed.replace_by == {"statistical_neighbours": "set_id"}
    assert set(table["closeness"]) <= {
        "Extremely close", "Very close", "Close", "Somewhat close", "Not close"
    }  # fmt: skip
    for set_id, name in WORKBOOKS.items():
        published = read_workbook(HERE / name)
        rows = table[table["set_id"] == set_id]
        expected = {
            (number, codes[number], rank, sn, codes.get(sn), band(b))
            for number, (_, given) in published.items()
            for rank, sn, b in given
        }
        got = set(
            zip(rows["dfe_code"], rows["area_code"], rows["rank"], rows["neighbour_dfe_code"],
                rows["neighbour_code"], rows["closeness"], strict=True)
        )  # fmt: skip
        assert got == expected
        assert len(rows) == sum(len(given) for _, given in published.values())
        assert set(rows["published"]) == {set_id[4:11]}
        names = {number: la_name for number, (la_name, _) in published.items()}
        assert dict(zip(rows["neighbour_dfe_code"], rows["neighbour_name"], strict=True)) == {
            sn: names.get(sn) for sn in rows["neighbour_dfe_code"]
        }
    # Abolished councils keep their own codes; North Yorkshire has its current code in both.
    by_set = table.groupby("set_id")["area_code"].agg(set)
    assert {"E10000021", "E06000065"} <= by_set["dfe-2021-04-lgr"] & by_set["dfe-2025-05"]
    assert "E10000006" in by_set["dfe-2025-05"]  # Cumbria, after "Old SNs:"
    # Cumberland and Westmorland and Furness have "-" for every 2021 neighbour: no rows, a note.
    in_2021 = table[table["set_id"] == "dfe-2021-04-lgr"]
    assert not in_2021["dfe_code"].isin(["942", "943"]).any()
    assert any("Cumberland (942) has 0 of 10" in note for note in parsed.notes)


def test_unknown_las_and_neighbours_are_reported_not_dropped(tmp_path):
    codes = la_list(LAS_CSV.read_text())
    _, parsed = parse_folder(tmp_path, HERE, resolver(extra=""))
    table = parsed.tables["statistical_neighbours"]
    for set_id, name in WORKBOOKS.items():
        published = read_workbook(HERE / name)
        rows = table[table["set_id"] == set_id]
        for number, (la_name, given) in published.items():
            if number not in codes:
                assert f"{set_id}: {la_name} ({number}): unknown DfE number" in " ".join(
                    parsed.unmatched_areas
                )
                assert number not in set(rows["dfe_code"])
            else:
                assert len(rows[rows["dfe_code"] == number]) == len(given)
        unknown = {sn for number, (_, g) in published.items() if number in codes for _, sn, _ in g}
        unknown -= set(codes)
        kept = rows[rows["neighbour_code"].isna()]
        assert set(kept["neighbour_dfe_code"]) == unknown
        assert len(
            [u for u in parsed.unmatched_areas if u.startswith(f"{set_id}: neighbour")]
        ) == len(kept)


def test_raw_tables_keep_the_sheet_as_published(tmp_path):
    _, parsed = parse_folder(tmp_path, HERE, resolver())
    for set_id, name in WORKBOOKS.items():
        raw = parsed.raw_tables[f"raw_dfe_statistical_neighbours_{set_id.replace('-', '_')}"]
        sheet = openpyxl.load_workbook(HERE / name)["LA SN Groups"]
        rows = [r for r in sheet.iter_rows(min_row=4, values_only=True) if any(r)]
        assert len(raw) == len(rows)
        assert raw.columns[:7].tolist() == ["LA num", "LA Name", "LA number", "GOInd", "GOReg",
                                             "SN1", "SNP"]  # fmt: skip
        assert raw.columns[-1] == "SNP__10"
        assert raw["LA Name"].tolist() == [r[1] or "" for r in rows]
        assert raw["SN1"].tolist() == ["" if r[5] is None else str(r[5]) for r in rows]


def test_missing_sheet_and_renamed_column_are_named(tmp_path):
    h = harvester()
    folder = tmp_path / "in"
    folder.mkdir()

    def rename_sheet(book):
        book["LA SN Groups"].title = "SN groups"

    edited_workbook(folder / "sn_may_2025.xlsx", rename_sheet)
    with pytest.raises(HarvestError, match=r"sn_may_2025.xlsx has no sheet 'LA SN Groups'"):
        parse_folder(tmp_path, folder, resolver())
    edited_workbook(folder / "sn_may_2025.xlsx", rename_header("SN3", "SN 3"))
    with pytest.raises(LayoutError) as err:
        parse_folder(tmp_path, folder, resolver())
    assert err.value.missing == ["SN3"] and err.value.unexpected == ["SN 3"]
    assert h.id in str(err.value) and "sn_may_2025.xlsx" in str(err.value)


# The network path --------------------------------------------------------------------------------


def register(rsps, page: dict | None = None, workbooks: dict | None = None) -> None:
    """The LA lists, the GOV.UK content item and the workbooks it lists."""
    rsps.get(LAS_URL, body=LAS_CSV.read_bytes(), headers={"ETag": '"las-1"'})
    rsps.get(REGIONS_URL, body=(FIXTURES / "dfe" / "las" / "regions.csv").read_bytes())
    rsps.get(CONTENT_URL, json=PAGE if page is None else page)
    if workbooks is None:
        workbooks = {
            URL_2025: (HERE / "sn_may_2025.xlsx").read_bytes(),
            URL_2021: (HERE / "sn_april_2021.xlsx").read_bytes(),
        }
    for url, body in workbooks.items():
        rsps.get(url, body=body, content_type="application/octet-stream")


def refresh_online(tmp_path):
    return run_refresh(tmp_path, ["dfe_areas", "dfe_statistical_neighbours"])


def neighbour_rows(db) -> list[tuple]:
    return list(db.execute("select * from statistical_neighbours order by set_id, area_code, rank"))


def test_every_vintage_on_the_gov_uk_page_is_fetched_and_loaded(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=True) as rsps:
        register(rsps)
        db, results = refresh_online(tmp_path)
    result = results["dfe_statistical_neighbours"]
    assert result.status == "loaded", result.error
    assert result.release == "dfe-2025-05"
    codes = la_list(LAS_CSV.read_text())
    for set_id, name in WORKBOOKS.items():
        published = read_workbook(HERE / name)
        loaded = sum(len(g) for number, (_, g) in published.items() if number in codes)
        count = db.execute(
            "select count(*) from statistical_neighbours where set_id = ?", [set_id]
        ).fetchone()[0]
        assert count == loaded
    sources = {r[0] for r in db.execute(
        "select source from harvests where dataset_id = 'dfe_statistical_neighbours'")}  # fmt: skip
    assert sources == {URL_2025, URL_2021}
    assert {r[0] for r in db.execute("select distinct source from statistical_neighbours")} == {
        URL_2025,
        URL_2021,
    }
    assert any("Cumbria (909)" in u for u in result.unmatched_areas)  # not in the fixture LA list


def test_attachment_links_are_read_from_documents_html_when_attachments_are_absent(tmp_path):
    page = copy.deepcopy(PAGE)
    del page["details"]["attachments"]
    h = harvester()
    for body in (PAGE, page):
        with responses.RequestsMock() as rsps, HttpClient(tmp_path) as http:
            rsps.get(CONTENT_URL, json=body)
            release = h.find_release(http)
        assert [(f.key, f.url, f.expect) for f in release.files] == [
            ("sn_2025_05", URL_2025, "zip"),
            ("sn_2021_04_lgr", URL_2021, "zip"),
        ]
        assert release.url == h.dataset.landing_page
        assert release.published == PAGE["public_updated_at"]


def test_a_vintage_the_page_no_longer_lists_is_kept(tmp_path):
    with responses.RequestsMock() as rsps:
        register(rsps)
        db, _ = refresh_online(tmp_path)
    before = neighbour_rows(db)
    page = copy.deepcopy(PAGE)
    page["details"]["attachments"] = [
        a for a in PAGE["details"]["attachments"] if a["url"] != URL_2021
    ]
    with responses.RequestsMock() as rsps:
        register(rsps, page, {URL_2025: (HERE / "sn_may_2025.xlsx").read_bytes()})
        db, results = refresh_online(tmp_path)
    assert results["dfe_statistical_neighbours"].status == "loaded"
    assert neighbour_rows(db) == before  # the 2021 rows stay although the page dropped them
    assert {r[0] for r in db.execute("select distinct set_id from statistical_neighbours")} == set(
        WORKBOOKS
    )


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (
            "renamed column",
            [Path(URL_2025).name, "missing columns: SN3", "unexpected columns: SN 3", URL_2025],
        ),
        ("no workbook", ["no statistical neighbour workbook", "user guide", CONTENT_URL]),
    ],
)
def test_fault_fails_the_dataset_and_keeps_its_rows(tmp_path, fault, message):
    with responses.RequestsMock() as rsps:
        register(rsps)
        db, _ = refresh_online(tmp_path)
    before = neighbour_rows(db)
    with responses.RequestsMock() as rsps:
        if fault == "renamed column":
            renamed = edited_workbook(tmp_path / "renamed.xlsx", rename_header("SN3", "SN 3"))
            older = (HERE / "sn_april_2021.xlsx").read_bytes()
            register(rsps, workbooks={URL_2025: renamed, URL_2021: older})
        else:
            page = copy.deepcopy(PAGE)
            page["details"]["attachments"] = PAGE["details"]["attachments"][2:]
            register(rsps, page, workbooks={})
        db, results = refresh_online(tmp_path)
    result = results["dfe_statistical_neighbours"]
    assert result.status == "failed"
    assert "dfe_statistical_neighbours" in result.error
    for part in message:
        assert part in result.error
    assert neighbour_rows(db) == before


# The real workbooks ------------------------------------------------------------------------------


@needs_shared_data
def test_real_workbooks_load_every_row_of_both_vintages(tmp_path):
    db, results = run_refresh(
        tmp_path, ["dfe_areas", "dfe_statistical_neighbours"], from_dir=SHARED_DATA
    )
    result = results["dfe_statistical_neighbours"]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []
    codes = la_list((SHARED_DATA / "lookups" / "dfe_qa_las.csv").read_text(encoding="utf-8-sig"))
    counts = dict(db.execute("select set_id, count(*) from statistical_neighbours group by 1"))
    published = {set_id: read_workbook(REAL / name) for set_id, name in WORKBOOKS.items()}
    assert counts == {s: sum(len(g) for _, g in p.values()) for s, p in published.items()}
    # North Yorkshire (code change), Northamptonshire and Cumbria (abolished), two others.
    for set_id, sheet in published.items():
        for number in ("815", "928", "909", "893", "202"):
            rows = list(db.execute(
                "select area_code, rank, neighbour_dfe_code, neighbour_code, closeness "
                "from statistical_neighbours where set_id = ? and dfe_code = ? order by rank",
                [set_id, number]))  # fmt: skip
            expected = [
                (codes[number], rank, sn, codes[sn], band(b)) for rank, sn, b in sheet[number][1]
            ]
            assert rows == expected and len(rows) == 10, (set_id, number)
    assert codes["928"] == "E10000021" and codes["909"] == "E10000006"
    assert codes["815"] == "E06000065"
    raw = db.execute("select count(*) from raw_dfe_statistical_neighbours_dfe_2025_05").fetchone()
    sheet = openpyxl.load_workbook(REAL / "sn_may_2025.xlsx")["LA SN Groups"]
    assert raw[0] == sum(1 for r in sheet.iter_rows(min_row=4, values_only=True) if any(r))


@needs_shared_data
def test_real_2021_workbook_lists_las_without_neighbours():
    sheet = read_workbook(REAL / "sn_april_2021.xlsx")
    empty = sorted(name for name, given in sheet.values() if not given)
    assert empty == ["Cumberland", "Westmorland and Furness"]
