"""Ofsted and CQC: area SEND inspections and revisits, every one, into ``send_inspections``.

- Publisher: Ofsted (joint inspections with the Care Quality Commission). Publication: "Area
  SEND inspections and outcomes in England" official statistics (yearly) and management
  information (twice a year), in the GOV.UK collection
  https://www.gov.uk/government/collections/area-send-statistics (the collection DfE's SEND and
  AP dashboard names as its source: dfe-analytical-services/SEND-AP-Inclusion-Dashboard
  ``data-raw`` script, which fetches
  ``assets.publishing.service.gov.uk/…/file/1117636/Area_SEND_inspection_data_01_May_2016_to_31_August_2022.ods``).
- Cadence: official statistics yearly (June, as at 31 December since 2023; as at 31 August up to
  2022), management information each term.
- Latest release: the GOV.UK content API. ``GET https://www.gov.uk/api/content/government/
  collections/area-send-statistics`` lists the collection's documents in ``links.documents``
  (``base_path``, ``title``, ``public_updated_at``; the publishing-api ``document_collection``
  schema); the newest ``area-send-inspections-and-outcomes-in-england`` statistics page is read
  with the content API too, and its spreadsheet attachments (``details.attachments``: ``url``,
  ``filename``, ``content_type``, as ``dfe.neighbours`` reads them) are fetched. The last page of
  the 2016 framework (``release.archive_paths``, as at 31 August 2022) is always fetched too,
  because later releases leave out areas not yet inspected under the 2023 framework and every
  past inspection is kept. The live pages were not fetched while writing this (no network):
  the paths are from the search index (gov.uk pages "Main findings: area SEND inspections and
  outcomes in England as at 31 December 2024", "…as at 31 August 2022").
- Local files (``--from DIR``): every ``Area_SEND_inspection*.ods`` (and ``.xlsx``) under DIR,
  and ``SEND_Outcomes_Summary*.xlsx``, the "Joint Local Area SEND Inspection Outcomes Summary"
  list kept by ADCS (as saved in SEND-AP-Inclusion-Dashboard ``data/ofsted/``), read for the
  links to each visit's report.

Layouts (``LAYOUTS``, matched by the header row):
- 2016 framework (``Area_SEND_inspection_data_01_May_2016_to_31_August_2022.ods``, sheet
  ``Area_SEND_up_to_31_Aug_2022``): title lines, then the header ``Web link to Ofsted local
  authority webpage, Local authority code, Area name, Ofsted region, Inspection start date,
  Inspection publication date, Inspection outcome: written statement of action required?,
  Number significant weaknesses…, Revisit start date, Revisit publication date, Revisit
  outcome: sufficient progress in addressing all significant weaknesses?, …made, …not made``.
  One row per area: its inspection and, where there was one, its revisit (``Yes``, ``Some``,
  ``No``; ``Not revisited yet`` in the revisit date). Column A's cells are ``HYPERLINK``
  formulas to the LA's Ofsted page, read from the ODS XML.
- 2023 framework (management information, sheet ``All_ASEND_Jan_2023_to_Aug_2023``): ``Local
  area partnership, Inspection publication date, Inspection outcome, Priority action plan
  required?`` (the columns DfE's dashboard script reads; the rest of that layout was not seen).

Quirks:
- The 2016 file leaves out Dorset county (inspected January 2017, WSoA, revisited February
  2019: some progress) and Northamptonshire (May 2017, no WSoA), both since reorganised; its
  ``Notes`` sheet gives them in words. They are read from the notes (``NOTE``) and filed under
  the council inspected (E10000009, E10000021), dated to the month, the day taken from the
  summary list where it has the visit. Buckinghamshire is published as E10000002 and filed under
  E06000060 (a 1:1 code change), with the published code kept in ``source_area_code``.
- The summary list names areas informally (``Stoke``, ``Hull``, ``Leicesteshire``,
  ``Sunderland/TfChildren``; ``NAME_ALIASES``), types visits ``SEND`` / ``Re SEND``, and repeats
  or mislabels a few; only its report links are used, matched by area, visit and start date.
  Links are cell hyperlinks or, from 2020, the cell text.
- No observations: outcomes are categories (shown, and counted among neighbours by
  ``sendbench.benchmark.inspections``, never averaged).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pandas as pd

from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import BaseHarvester, HarvestContext, Parsed, Release
from sendbench.harvesters.ofsted import files as ofsted_files
from sendbench.http import HttpClient, RawFile

log = logging.getLogger(__name__)

OFFICIAL_2016 = {
    "link": "Web link to Ofsted local authority webpage",
    "code": "Local authority code",
    "name": "Area name",
    "region": "Ofsted region",
    "start": "Inspection start date",
    "published": "Inspection publication date",
    "wsoa": "Inspection outcome: written statement of action required?",
    "weaknesses": "Number significant weaknesses identified in written statement of action",
    "revisit_start": "Revisit start date",
    "revisit_published": "Revisit publication date",
    "revisit_result": "Revisit outcome: sufficient progress in addressing all significant "
    "weaknesses?",
    "progress": "Number significant weaknesses where sufficient progress has been made",
    "no_progress": "Number significant weaknesses where sufficient progress has not been made",
}
MI_2023 = {
    "name": "Local area partnership",
    "published": "Inspection publication date",
    "outcome": "Inspection outcome",
    "priority_action_plan": "Priority action plan required?",
}
LAYOUTS = {"2016": OFFICIAL_2016, "2023": MI_2023}  # framework -> field -> published column
REQUIRED = {"2016": ["code", "name", "start", "published", "wsoa"], "2023": ["name", "outcome"]}
SUMMARY = ["LA", "Region", "Type", "Visit Date", "Publication Date", "Link to visit report",
           "Written Statement of Action"]  # fmt: skip
NOTE = re.compile(
    r"(?P<name>[A-Z][A-Za-z ]+?) were inspected in (?P<month>[A-Z][a-z]+ \d{4}) and "
    r"(?P<wsoa>required|did not require) a WSoA\.(?: The revisit took place in "
    r"(?P<rmonth>[A-Z][a-z]+ \d{4}) and \w+ were deemed to be making sufficient progress in "
    r"addressing (?P<progress>all|some|no) significant weaknesses)?"
)
REVISIT_RESULTS = {"yes": "Yes", "some": "Some", "no": "No", "all": "Yes"}
NAME_ALIASES = {  # informal names in the summary list -> the LA list's names
    "stoke": "Stoke-on-Trent", "hull": "Kingston upon Hull, City of",
    "telford": "Telford and Wrekin",
    "durham": "County Durham", "bedford borough": "Bedford", "newcastle": "Newcastle upon Tyne",
    "newcastle city": "Newcastle upon Tyne", "ne lincolnshire": "North East Lincolnshire",
    "kingston": "Kingston upon Thames", "lincolnshire cc": "Lincolnshire",
    "stockton on tees": "Stockton-on-Tees", "bath and ne somerset": "Bath and North East Somerset",
    "blackburn and darwen": "Blackburn with Darwen", "derby city council": "Derby",
    "derby city": "Derby", "leicesteshire": "Leicestershire", "birmingham cc": "Birmingham",
    "sunderland tfchildren": "Sunderland", "east riding": "East Riding of Yorkshire",
    "nottingham city": "Nottingham", "st helens": "St. Helens", "bristol": "Bristol, City of",
}  # fmt: skip
COLUMNS = [
    "area_code", "source_area_code", "area_name", "framework", "visit", "start_date",
    "published_date", "outcome", "wsoa", "revisit_result", "weaknesses", "weaknesses_progress",
    "weaknesses_no_progress", "priority_action_plan", "la_webpage_url", "report_url",
    "source_file", "release",
]  # fmt: skip
TABLE = "send_inspections"


class Harvester(BaseHarvester):
    """Every area SEND inspection and revisit, by the council inspected."""

    local_files = {
        "official": ("Area_SEND_inspection*.ods", "Area_SEND_inspection*.xlsx"),
        "summary": ("SEND_Outcomes_Summary*.xlsx",),
    }

    def find_release(self, http: HttpClient) -> Release:
        return ofsted_files.find_release(http, self.dataset, self.id)

    def find_local(self, directory: Path) -> Release:
        return ofsted_files.find_local(directory, self.local_files, self.id)

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed()
        visits: list[dict] = []
        official = [k for k in sorted(files) if not k.startswith("summary")]
        if not official:
            raise HarvestError(self.id, "no Ofsted inspection data file (Area_SEND_inspection…)")
        for key in official:
            raw = files[key]
            sheets = ofsted_files.read_sheets(raw, self.id)
            framework, sheet, header_at = match_layout(sheets, self.id, raw)
            grid = sheets[sheet]
            table = grid_table(grid, header_at)
            parsed.raw_tables[f"raw_{self.id}_{_stem(raw.filename)}"] = table
            links = ofsted_files.ods_links(raw) if framework == "2016" else {}
            found = read_visits(table, framework, links, raw.filename, release.label)
            found += note_visits(sheets, raw.filename, release.label, parsed)
            visits += found
        filed = file_visits(visits, context.resolver, parsed)
        for key in (k for k in files if k.startswith("summary")):
            summary = ofsted_files.read_summary(files[key], self.id)
            add_report_links(filed, summary, context.resolver.areas, parsed)
        frame = visit_table(filed, self.id)
        parsed.tables[TABLE] = frame
        parsed.notes.append(
            f"{len(frame)} visits ({(frame['visit'] == 'inspection').sum()} inspections) of "
            f"{frame['area_code'].nunique()} councils"
        )
        return parsed


def match_layout(sheets: dict[str, list[list[str]]], dataset: str, raw: RawFile):
    """(framework, sheet, header row index) of the first sheet holding a known header row;
    LayoutError against the closest layout otherwise."""
    best = (-1, "2016", [], [])
    for name, grid in sheets.items():
        for at, row in enumerate(grid[:30]):
            cells = [c.strip() for c in row if c.strip()]
            for framework, layout in LAYOUTS.items():
                wanted = [layout[f] for f in REQUIRED[framework]]
                hits = sum(c in cells for c in layout.values())
                if all(w in cells for w in wanted):
                    return framework, name, at
                if hits > best[0]:
                    best = (hits, framework, cells, wanted)
    _, framework, cells, _ = best
    expected = list(LAYOUTS[framework].values())
    missing = [c for c in expected if c not in cells]
    unexpected = [c for c in cells if c not in expected]
    raise LayoutError(dataset, raw.filename, missing, unexpected, raw.source)


def grid_table(grid: list[list[str]], header_at: int) -> pd.DataFrame:
    """The rows under the header as text, blank rows and trailing empty columns dropped."""
    header = [c.strip() for c in grid[header_at]]
    width = max((i + 1 for i, c in enumerate(header) if c), default=0)
    rows = [(r + [""] * width)[:width] for r in grid[header_at + 1 :]]
    rows = [r for r in rows if any(c.strip() for c in r)]
    names = [h or f"column {i + 1}" for i, h in enumerate(header[:width])]
    return pd.DataFrame(rows, columns=names, dtype=object)


def read_visits(table: pd.DataFrame, framework: str, links: dict[str, str], file: str,
                release: str) -> list[dict]:  # fmt: skip
    """One record per inspection and per revisit that took place."""
    layout = LAYOUTS[framework]
    get = {field: table[col] if col in table else pd.Series("", index=table.index)
           for field, col in layout.items()}  # fmt: skip
    out = []
    for i in table.index:
        cell = {field: str(values[i]).strip() for field, values in get.items()}
        base = {"source_area_code": cell.get("code", ""), "area_name": cell["name"],
                "framework": framework, "source_file": file, "release": release,
                "la_webpage_url": links.get(cell.get("code", ""))}  # fmt: skip
        if framework == "2023":
            out.append({**base, "visit": "inspection", "start_date": None,
                        "published_date": iso_date(cell["published"]), "outcome": cell["outcome"],
                        "priority_action_plan": cell["priority_action_plan"] or None})  # fmt: skip
            continue
        wsoa = cell["wsoa"].capitalize()
        out.append(
            {
                **base,
                "visit": "inspection",
                "start_date": iso_date(cell["start"]),
                "published_date": iso_date(cell["published"]),
                "wsoa": wsoa,
                "outcome": wsoa_outcome(wsoa),
                "weaknesses": number(cell["weaknesses"]),
            }
        )
        if iso_date(cell["revisit_start"]):
            result = REVISIT_RESULTS.get(cell["revisit_result"].lower(), cell["revisit_result"])
            out.append({**base, "visit": "revisit", "start_date": iso_date(cell["revisit_start"]),
                        "published_date": iso_date(cell["revisit_published"]),
                        "revisit_result": result, "outcome": revisit_outcome(result),
                        "weaknesses_progress": number(cell["progress"]),
                        "weaknesses_no_progress": number(cell["no_progress"])})  # fmt: skip
    return out


def note_visits(sheets, file: str, release: str, parsed: Parsed) -> list[dict]:
    """The inspections the 2016 file gives only in its Notes sheet (Dorset, Northamptonshire)."""
    out = []
    for name, grid in sheets.items():
        if name.strip().lower() != "notes":
            continue
        for row in grid:
            text = " ".join(c.strip() for c in row if c.strip())
            for found in NOTE.finditer(text):
                wsoa = "Yes" if found["wsoa"] == "required" else "No"
                base = {"source_area_code": "", "area_name": found["name"], "framework": "2016",
                        "source_file": f"{file} (Notes)", "release": release}  # fmt: skip
                out.append({**base, "visit": "inspection", "start_date": month(found["month"]),
                            "wsoa": wsoa, "outcome": wsoa_outcome(wsoa)})  # fmt: skip
                if found["rmonth"]:
                    result = REVISIT_RESULTS[found["progress"]]
                    out.append(
                        {
                            **base,
                            "visit": "revisit",
                            "start_date": month(found["rmonth"]),
                            "revisit_result": result,
                            "outcome": revisit_outcome(result),
                        }
                    )
                parsed.notes.append(f"{file}: {found['name']} read from the Notes sheet")
    return out


def add_report_links(visits: list[dict], summary: pd.DataFrame, areas: pd.DataFrame,
                     parsed: Parsed) -> None:  # fmt: skip
    """Each visit's report link from the summary list, matched by council, visit and start
    date (by month for visits dated from the notes, whose day the summary then gives)."""
    index: dict[tuple, list[dict]] = {}
    for rec in summary.to_dict("records"):
        kind = "revisit" if rec["Type"].strip().lower().startswith("re") else "inspection"
        area = area_on(areas, rec["LA"], rec["Visit Date"])
        index.setdefault((area, kind, rec["Visit Date"][:7]), []).append(rec)
    matched = 0
    for visit in visits:
        if visit["framework"] != "2016" or not visit.get("start_date"):
            continue
        start = visit["start_date"]
        found = [r for r in index.get((visit["area_code"], visit["visit"], start[:7]), [])
                 if r["Visit Date"] == start or len(start) == 7]  # fmt: skip
        if found:
            visit["report_url"] = found[0]["report_url"] or None
            if len(start) == 7:  # dated to the month by the notes
                visit["start_date"] = found[0]["Visit Date"]
                visit["published_date"] = found[0]["Publication Date"] or None
            matched += 1
    parsed.notes.append(f"summary list: report links for {matched} of {len(visits)} visits")


def file_visits(visits: list[dict], resolver, parsed: Parsed) -> list[dict]:
    """The visits with the code of the council inspected; unknown areas reported, not filed."""
    out = []
    for visit in visits:
        code = visit["source_area_code"]
        area = resolver.resolve(code=code) if code else None
        if area is None:
            when = visit.get("start_date") or visit.get("published_date")
            area = area_on(resolver.areas, visit["area_name"], when)
        if area is None:
            parsed.unmatched_areas.append(
                f"{visit['source_file']}: {visit['area_name']!r} ({code or 'no code'}): unknown"
            )
            continue
        out.append({**dict.fromkeys(COLUMNS), **visit, "area_code": area})
    return out


def visit_table(visits: list[dict], dataset: str) -> pd.DataFrame:
    """The ``send_inspections`` rows, oldest first per council; two rows for one visit fail."""
    frame = pd.DataFrame(visits, columns=COLUMNS)
    frame = frame.sort_values(["area_code", "start_date", "visit"], na_position="last")
    dupes = frame.duplicated(["area_code", "framework", "visit", "start_date"], keep=False)
    dupes &= frame["start_date"].notna()
    if dupes.any():
        sample = frame[dupes].head(4)[["area_code", "visit", "start_date"]].to_dict("records")
        raise BadFileError(dataset, f"two rows describe one visit, e.g. {sample}")
    return frame.reset_index(drop=True)


def area_on(areas: pd.DataFrame, name: str, when: str | None) -> str | None:
    """The council of this name that existed on ``when`` (an abolished county, not its
    successor), else the live one; its ``current_code`` (a 1:1 code change's new code)."""
    las = areas[areas["area_type"] == "la"]
    same = las[las["name"].map(name_key) == name_key(name)]
    if len(same) > 1:
        if when:
            day = when if len(when) == 10 else f"{when}-01"
            start, end = same["valid_from"].fillna(""), same["valid_to"].fillna("9999")
            same = (
                same[(start <= day) & (end >= day)]
                if ((start <= day) & (end >= day)).any()
                else same
            )
        live = same[same["valid_to"].isna()]
        same = live if not live.empty else same
    return None if same.empty else str(same.iloc[-1]["current_code"])


def name_key(name: str) -> str:
    """A name for matching: lower case, punctuation dropped, informal names aliased."""
    text = _plain(name)
    return _plain(NAME_ALIASES[text]) if text in NAME_ALIASES else text


def _plain(name: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9]+", " ", str(name).lower().replace("&", " and ")).split())


def wsoa_outcome(wsoa: str) -> str:
    return {"Yes": "Written statement of action required",
            "No": "No written statement of action"}.get(wsoa, wsoa)  # fmt: skip


def revisit_outcome(result: str) -> str:
    return {"Yes": "Sufficient progress in addressing all significant weaknesses",
            "Some": "Sufficient progress in addressing some significant weaknesses",
            "No": "Insufficient progress in addressing the significant weaknesses"}.get(
        result, result)  # fmt: skip


def iso_date(text: str) -> str | None:
    found = re.match(r"^(\d{4}-\d{2}-\d{2})", text or "")
    if found:
        return found.group(1)
    found = re.match(r"^(\d{1,2})/(\d{1,2})/(\d{4})$", text or "")
    return f"{found[3]}-{int(found[2]):02d}-{int(found[1]):02d}" if found else None


def month(text: str) -> str:
    return pd.to_datetime(f"1 {text}", format="%d %B %Y").strftime("%Y-%m")


def number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _stem(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", Path(name).stem.lower()).strip("_")
