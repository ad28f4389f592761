"""Area SEND inspections: every inspection and revisit of the official ODS, the councils only its
notes give, report links from the summary list, the GOV.UK collection walked to the newest
statistics page (and the 2023 framework's layout), a changed layout, and the real files.

Expected values are read here with pandas' odf reader and openpyxl, the ODS hyperlinks with odfpy,
independently of the harvester's own reading.
"""

from __future__ import annotations

import io
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
import responses
from conftest import FIXTURES, SHARED_DATA, add_publishers, needs_shared_data, run_refresh
from odf import opendocument, table, text

from sendbench.errors import LayoutError

DATASET = "ofsted_send_inspections"
FIXTURE_DIR = FIXTURES / "ofsted" / "send_inspections"
REAL_DIR = SHARED_DATA / "ofsted"
ODS = "Area_SEND_inspection_data_01_May_2016_to_31_August_2022.ods"
SUMMARY = "SEND_Outcomes_Summary_www.xlsx"
SHEET = "Area_SEND_up_to_31_Aug_2022"
GOV_UK = "https://www.gov.uk/api/content"
COLLECTION = f"{GOV_UK}/government/collections/area-send-statistics"
PAGE_2022 = (
    "/government/statistics/area-send-inspections-and-outcomes-in-england-as-at-31-august-2022"
)
PAGE_2024 = (
    "/government/statistics/area-send-inspections-and-outcomes-in-england-as-at-31-december-2024"
)
CODE_CHANGES = {"E10000023": "E06000065", "E10000002": "E06000060", "E10000027": "E06000066",
                "E08000016": "E08000038", "E08000019": "E08000039"}  # fmt: skip


def published_rows(folder: Path) -> pd.DataFrame:
    frame = pd.read_excel(folder / ODS, engine="odf", sheet_name=SHEET, header=4, dtype=object)
    return frame.dropna(subset=["Local authority code"])


def day(value) -> str | None:
    return (
        None if pd.isna(value) or isinstance(value, str) else pd.Timestamp(value).date().isoformat()
    )


def hyperlinks(folder: Path) -> dict[str, str]:
    """LA code -> the HYPERLINK formula's URL in column A, read with odfpy."""
    doc = opendocument.load(str(folder / ODS))
    sheet = next(t for t in doc.spreadsheet.getElementsByType(table.Table)
                 if t.getAttribute("name") == SHEET)  # fmt: skip
    out = {}
    for row in sheet.getElementsByType(table.TableRow):
        cells = row.getElementsByType(table.TableCell)
        formula = cells[0].getAttribute("formula") if cells else None
        if formula and "HYPERLINK" in formula:
            code = "".join(str(p) for p in cells[1].getElementsByType(text.P))
            out[code] = formula.split('"')[1]
    return out


def expected_visits(folder: Path, known: set[str] | None) -> dict[tuple, dict]:
    """(area, visit, start) -> the published fields, for every ODS row of a known area."""
    out = {}
    for row in published_rows(folder).to_dict("records"):
        code = row["Local authority code"]
        if known is not None and code not in known:
            continue
        area = CODE_CHANGES.get(code, code)
        wsoa = row["Inspection outcome: written statement of action required?"]
        out[(area, "inspection", day(row["Inspection start date"]))] = {
            "published_date": day(row["Inspection publication date"]),
            "wsoa": wsoa,
            "source_area_code": code,
        }
        start = day(row["Revisit start date"])
        if start:
            result = row[
                "Revisit outcome: sufficient progress in addressing all significant weaknesses?"
            ]
            out[(area, "revisit", start)] = {
                "published_date": day(row["Revisit publication date"]),
                "revisit_result": result,
                "source_area_code": code,
            }
    return out


def summary_links(folder: Path) -> dict[tuple[str, str], str]:
    """(LA name as listed, visit date) -> report URL (hyperlink, else a URL typed in the cell)."""
    sheet = openpyxl.load_workbook(folder / SUMMARY).worksheets[0]
    out = {}
    for row in sheet.iter_rows(min_row=3):
        if row[0].value is None:
            continue
        link = row[5].hyperlink.target if row[5].hyperlink else str(row[5].value)
        out[(row[0].value.strip(), row[3].value.date().isoformat())] = link.strip()
    return out


def fixture_las() -> set[str]:
    return set(pd.read_csv(FIXTURES / "dfe" / "las" / "las.csv", dtype=str)["new_la_code"])


def inspections(db) -> dict[tuple, dict]:
    rows = db.execute("select * from send_inspections").fetchall()
    columns = [c[0] for c in db.execute("select * from send_inspections").description]
    return {(r["area_code"], r["visit"], r["start_date"]): r
            for r in (dict(zip(columns, row, strict=True)) for row in rows)}  # fmt: skip


def check_against_published(got: dict, folder: Path, known: set[str] | None) -> None:
    want = expected_visits(folder, known)
    links = hyperlinks(folder)
    for key, fields in want.items():
        assert key in got, key
        for field, value in fields.items():
            assert got[key][field] == value, (key, field)
        assert got[key]["framework"] == "2016"
        assert got[key]["la_webpage_url"] == links[fields["source_area_code"]], key


def test_fixture_every_visit_councils_from_the_notes_and_report_links(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=fixture_folder(tmp_path))
    result = results[DATASET]
    assert result.status == "loaded", result.error
    got = inspections(db)
    check_against_published(got, FIXTURE_DIR, fixture_las())
    assert result.unmatched_areas == [f"{ODS}: 'Barnsley' (E08000016): unknown"]
    # the notes: Dorset county and Northamptonshire, dated from the summary list's visit dates
    links = summary_links(FIXTURE_DIR)
    dorset = got[("E10000009", "inspection", "2017-01-23")]
    assert (dorset["wsoa"], dorset["report_url"]) == ("Yes", links[("Dorset", "2017-01-23")])
    revisit = got[("E10000009", "revisit", "2019-02-04")]
    assert revisit["revisit_result"] == "Some"
    assert got[("E10000021", "inspection", "2017-05-15")]["wsoa"] == "No"
    # report links by name, visit and date: informal names ("Hull", "Telford") included
    assert (
        got[("E06000010", "revisit", "2019-10-15")]["report_url"] == links[("Hull", "2019-10-15")]
    )
    assert (
        got[("E06000020", "inspection", "2017-05-22")]["report_url"]
        == links[("Telford", "2017-05-22")]
    )
    assert (
        got[("E06000060", "inspection", "2022-03-07")]["report_url"]
        == links[("Buckinghamshire", "2022-03-07")]
    )
    assert len(got) == len(expected_visits(FIXTURE_DIR, fixture_las())) + 3
    assert not [r for r in db.table_names() if r.startswith("raw_") and "summary" in r]


def fixture_folder(tmp_path: Path) -> Path:
    """A folder holding the LA list fixture and the Ofsted fixtures, for refresh --from."""
    folder = tmp_path / "from"
    folder.mkdir(exist_ok=True)
    sources = [*(FIXTURES / "dfe" / "las").glob("*.csv"), FIXTURE_DIR / ODS, FIXTURE_DIR / SUMMARY]
    for source in sources:
        (folder / source.name).write_bytes(source.read_bytes())
    return folder


def new_framework_ods(renames: dict[str, str] | None = None) -> bytes:
    """A 2023 framework file in the columns DfE's dashboard reads (module docstring): written."""
    frame = pd.DataFrame(
        {
            "Local area partnership": ["Shropshire", "Kent"],
            "Inspection publication date": ["14/03/2025", "02/07/2024"],
            "Inspection outcome": [
                "Inconsistent experiences and outcomes",
                "Widespread and/or systemic failings",
            ],
            "Priority action plan required?": ["No", "Yes"],
        }
    )
    frame = frame.rename(columns=renames or {})
    buffer = io.BytesIO()
    with pd.ExcelWriter(buffer, engine="odf") as writer:
        pd.DataFrame([["Area SEND inspections as at 31 December 2024"]]).to_excel(
            writer, sheet_name="All_ASEND", header=False, index=False
        )
        frame.to_excel(writer, sheet_name="All_ASEND", startrow=3, index=False)
    return buffer.getvalue()


def add_gov_uk(rsps, newest_body: bytes) -> None:
    rsps.get(COLLECTION, json={"links": {"documents": [
        {"base_path": PAGE_2022, "title": "Area SEND inspections and outcomes in England as at "
         "31 August 2022", "public_updated_at": "2022-11-17T09:30:00Z"},
        {"base_path": PAGE_2024, "title": "Area SEND inspections and outcomes in England as at "
         "31 December 2024", "public_updated_at": "2025-06-26T09:30:00Z"},
        {"base_path": "/government/publications/area-send-framework", "title": "Framework"},
    ]}})  # fmt: skip
    for path, name, body in (
        (PAGE_2024, "Area_SEND_inspections_outcomes_as_at_31_December_2024.ods", newest_body),
        (PAGE_2022, ODS, (FIXTURE_DIR / ODS).read_bytes()),
    ):
        url = f"https://assets.publishing.service.gov.uk/media/0a1b2c3d/{name}"
        rsps.get(f"{GOV_UK}{path}", json={"details": {"attachments": [
            {"attachment_type": "html", "url": f"https://www.gov.uk{path}/main-findings",
             "title": "Main findings"},
            {"attachment_type": "file", "url": url, "filename": name,
             "content_type": "application/vnd.oasis.opendocument.spreadsheet"},
        ]}})  # fmt: skip
        rsps.get(url, body=body, content_type="application/vnd.oasis.opendocument.spreadsheet")


@responses.activate
def test_the_collection_gives_the_newest_page_and_the_2016_framework_archive(tmp_path):
    add_publishers(responses)
    add_gov_uk(responses, new_framework_ods())
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET])
    result = results[DATASET]
    assert (result.status, result.release, result.published) == (
        "loaded", "2024-12-31", "2025-06-26T09:30:00Z",
    )  # fmt: skip
    got = inspections(db)
    check_against_published(got, FIXTURE_DIR, fixture_las())
    new = {k: v for k, v in got.items() if v["framework"] == "2023"}
    assert {(k[0], v["published_date"], v["outcome"], v["priority_action_plan"])
            for k, v in new.items()} == {
        ("E06000051", "2025-03-14", "Inconsistent experiences and outcomes", "No"),
        ("E10000016", "2024-07-02", "Widespread and/or systemic failings", "Yes"),
    }  # fmt: skip


def test_a_changed_layout_fails_keeps_the_last_load_and_others_still_refresh(tmp_path):
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_gov_uk(rsps, new_framework_ods())
        db, first = run_refresh(tmp_path, ["dfe_areas", DATASET])
    assert first[DATASET].status == "loaded"
    before = sorted(map(repr, inspections(db).items()))
    changed = new_framework_ods({"Inspection outcome": "Outcome of inspection"})
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        add_publishers(rsps)
        add_gov_uk(rsps, changed)
        db, second = run_refresh(tmp_path, ["dfe_areas", DATASET, "dfe_ehcp"])
    result = second[DATASET]
    assert result.status == "failed"
    assert result.error.startswith(
        f"{DATASET}: Area_SEND_inspections_outcomes_as_at_31_December_2024.ods "
    )
    assert "missing columns: Inspection outcome;" in result.error
    assert "unexpected columns: Outcome of inspection." in result.error
    assert sorted(map(repr, inspections(db).items())) == before
    assert second["dfe_ehcp"].status == "loaded"


def test_layout_error_lists_missing_and_unexpected_columns(tmp_path):
    from sendbench.catalogue import load_catalogue
    from sendbench.harvesters.base import HarvestContext, Release
    from sendbench.harvesters.ofsted.send_inspections import Harvester
    from sendbench.http import HttpClient

    path = tmp_path / "Area_SEND_inspections_changed.ods"
    path.write_bytes(new_framework_ods({"Local area partnership": "Local area"}))
    catalogue = load_catalogue()
    harvester = Harvester(catalogue.dataset(DATASET), catalogue)
    with HttpClient(tmp_path / "raw", offline=True) as http:
        raw = {"official@0": http.import_local(path, dataset=DATASET)}
    from conftest import fixture_resolver

    with pytest.raises(LayoutError) as caught:
        harvester.parse(raw, Release("x", []), HarvestContext(resolver=fixture_resolver()))
    assert caught.value.missing == ["Local area partnership"]
    assert caught.value.unexpected == ["Local area"]


@needs_shared_data
def test_real_files_every_inspected_council_has_its_visits(tmp_path):
    db, results = run_refresh(tmp_path, ["dfe_areas", DATASET], from_dir=SHARED_DATA)
    result = results[DATASET]
    assert result.status == "loaded", result.error
    assert result.unmatched_areas == []
    got = inspections(db)
    check_against_published(got, REAL_DIR, None)
    councils = {k[0] for k in got}
    published = {CODE_CHANGES.get(c, c) for c in published_rows(REAL_DIR)["Local authority code"]}
    assert councils == published | {"E10000009", "E10000021"}  # + Dorset county, Northamptonshire
    assert len(councils) == 151
    links = summary_links(REAL_DIR)
    # Cumbria (abolished 2023) keeps its 2019 inspection; Buckinghamshire under its new code;
    # Dorset county's inspection and revisit from the notes, with the summary list's dates
    assert got[("E10000006", "inspection", "2019-03-18")]["wsoa"] == "Yes"
    bucks = got[("E06000060", "inspection", "2022-03-07")]
    assert (bucks["source_area_code"], bucks["report_url"]) == (
        "E10000002", links[("Buckinghamshire", "2022-03-07")],
    )  # fmt: skip
    assert got[("E10000009", "revisit", "2019-02-04")]["revisit_result"] == "Some"
    shropshire = got[("E06000051", "inspection", "2020-01-27")]
    assert shropshire["report_url"] == links[("Shropshire", "2020-01-27")]
