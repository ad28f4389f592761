"""DfE: high-needs finance by LA: DSG high needs block allocations and s251 high-needs outturn.

- Publisher: Department for Education (Education and Skills Funding Agency for the DSG).
- Publications:
  - "Dedicated schools grant (DSG): <year> to <year>" on GOV.UK, one page a financial year
    (``/government/publications/dedicated-schools-grant-dsg-2024-to-2025``, the shape the
    search index shows for 2018-19 and 2024-25), whose ODS attachment
    ``dedicated-schools-grant_<date>.ods`` has sheet ``Allocations_summary``: per LA (DfE code
    and name), region and England, each block before and after academy recoupment and direct
    funding of high needs places, ``High needs block (£s)`` ([C]) and ``High needs block
    allocation (£s)`` ([H]). Files for 2020-21 to 2023-24 are in ../shared/data/dfe/finance (as
    saved in dfe-analytical-services/SEND-AP-Inclusion-Dashboard ``data/finance/``).
  - High-needs section 251 outturn, 2021-22: ``Outturn data 202122.xlsx``, the extract of DfE's
    "High needs benchmarking tool" that its owner gave the SEND and AP dashboard team (their
    ``data-raw`` script reads it with range ``B6:DO165``): per LA (DfE code), the 2-18 population
    (ONS mid-2021 projection), EHC plans and their placements, then blocks headed in row 3
    (``Section 251 budget``, ``Section 251 outturn``, per-head tables) with row-4 labels (place
    funding, top-up funding to maintained and to non-maintained and independent schools and
    colleges, each by phase, SEN support and inclusion, alternative provision, hospital and
    therapy services). LA rows only: no England or regional rows.
- Cadence: DSG allocations each financial year (updated through the year; the July file
  carries the final high needs block); s251 outturn yearly.
- Latest release: the GOV.UK content API for the DSG page of the current financial year, else
  the years before it (``release.look_back``); every DSG ODS attachment of that page. The
  outturn extract is not a GOV.UK attachment: it is read with ``--from`` only (a live refresh
  says so in its notes).
- Local files (``--from DIR``): every ``dedicated-schools-grant_*.ods`` (one per year, a series)
  and ``Outturn data *.xlsx``.

Derived here (``DERIVED``): the high needs block per head of the 2-18 population (2021-22, with
the outturn extract's population: the DSG files give no population), outturn per head and the
share of EHC plans placed in non-maintained special or independent schools, with numerator and
denominator. No published file here gives the DSG cumulative balance (reserve or deficit) as a
share of DSG income: neither the DSG allocations nor the outturn extract carries it.

Quirks: the outturn extract keeps rows of ``#N/A`` for councils abolished in reorganisations
(Bournemouth, Poole, Dorset 835, Northamptonshire, with stale or zero populations) and names new
Dorset ``Dorset (New, LA code 838)``; rows are matched by DfE code, and rows whose outturn block
is all ``#N/A`` or empty are skipped. Other ``#N/A`` cells (North and West Northamptonshire's EHC
plan counts) load as the status ``#N/A``; a total with such a part is left unknown. Its per-head
tables hold ``#REF!`` errors in the NFF columns (not read). DSG LA rows: DfE code in column
A, name in B;
region rows have a name only; ``ENGLAND`` is England; totals by LA type (metropolitan, unitary,
upper tier, and a first ``LONDON``) are not areas. Amounts are pounds.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import openpyxl
import pandas as pd

from sendbench.areas import ENGLAND_CODE
from sendbench.errors import BadFileError, FetchError, HarvestError, LayoutError
from sendbench.harvesters.base import (
    OBSERVATION_COLUMNS,
    BaseHarvester,
    FileRef,
    HarvestContext,
    MissingLocalFiles,
    Parsed,
    Release,
    check_columns,
)
from sendbench.harvesters.dfe.eesfiles import add_derived
from sendbench.harvesters.dfe.neighbours import _attachments, _basename
from sendbench.http import HttpClient, RawFile
from sendbench.normalise import normalise_period, parse_values

GOV_UK = "https://www.gov.uk"
DSG_SHEET = "Allocations_summary"
DSG_HEADER = [
    "Schools block (£s)", "Central school services block (£s)", "High needs block (£s)",
    "Early years block (£s)", "Total DSG allocation (£s)", "Schools block (£s)",
    "Central school services block allocation (£s)", "High needs block allocation (£s)",
    "Early years block (£s)", "Total DSG allocation (£s)",
]  # fmt: skip
DSG_COLUMNS = {"High needs block (£s)": 4, "High needs block allocation (£s)": 9}
# Totals by LA type in the DSG summary: not areas (their rows stay in the raw table).
LA_TYPE_TOTALS = {"METROPOLITAN AUTHORITIES", "UNITARY AUTHORITIES", "UPPER TIER AUTHORITIES"}
_DSG_YEAR = re.compile(r"(\d{4}) to (\d{4}) allocations")
OUTTURN_BLOCK = "Section 251 outturn"
# Row-4 labels of the outturn block, in order (the layout of the 2021-22 extract).
OUTTURN_LABELS = [
    "Place funding", "Early Years", "Primary", "Secondary", "Special schools and academies",
    "PRUs and AP academies", "Post School",
    "Top up funding (maintained schools, academies, free schools and colleges)",
    "Early Years (1)", "Primary (1)", "Secondary (1)", "Special schools and academies (1)",
    "PRUs and AP academies (1)", "Post School (1)", "Income (1)",
    "Top up funding (non-maintained and independent schools and colleges)", "Early Years (2)",
    "Primary (2)", "Secondary (2)", "Special schools and academies (2)",
    "PRUs and AP academies (2)", "Post School (2)", "Income (2)",
    "SEN support and inclusion services", "Alternative provision services",
    "Hospital education services", "Therapies and other health related services",
]  # fmt: skip
# Columns before the blocks, by their row-5 (or row-6) label.
IDENTITY = {"LA code": "LA code", "LA name": "LA name",
            "2-18 Population": "2-18 Population", "EHC plans": "No. aged up to 25 with SEN "
            "statement or EHCP", "NMSS or independent schools": "NMSS or independent schools",
            "Maintained special schools or special academies": "Maintained special schools or "
            "special academies"}  # fmt: skip
TOTAL_PARTS = [OUTTURN_LABELS[i] for i in (0, 7, 15, 23, 24, 25, 26)]
TOTAL = "Total high needs outturn (sum of place funding, top-ups and services)"
DERIVED = {
    "hnb_allocation_per_head_2_18": ("hnb_allocation_gbp", "hn_population_2_18", 1.0),
    "hn_outturn_per_head_2_18": ("hn_outturn_total_gbp", "hn_population_2_18", 1.0),
    "hn_topup_independent_per_head_2_18": ("hn_topup_independent_gbp", "hn_population_2_18", 1.0),
    "ehcp_nmss_independent_pct": ("ehcp_nmss_independent_placements", "hn_ehcp_count", 100.0),
}


class Harvester(BaseHarvester):
    """High needs block allocations (DSG, each year) and 2021-22 high-needs outturn."""

    local_files = {"dsg": ("dedicated-schools-grant_*.ods",), "outturn": ("Outturn data *.xlsx",)}

    def indicators(self):
        return [ind for ind in super().indicators() if ind.id not in DERIVED]

    def find_release(self, http: HttpClient) -> Release:
        prefix, today = self.dataset.release["page_prefix"], date.today()
        first = today.year if today.month >= 4 else today.year - 1
        tried = []
        for year in range(first, first - int(self.dataset.release.get("look_back", 3)), -1):
            path = f"{prefix}-{year}-to-{year + 1}"
            url = f"{GOV_UK}/api/content{path}"
            tried.append(url)
            try:
                page = http.get_json(url, dataset=self.id)
            except FetchError:
                continue
            found = [a for a in _attachments(page, self.id, url)
                     if _basename(a["url"]).lower().endswith(".ods")]  # fmt: skip
            refs = [FileRef(f"dsg@{_basename(a['url'])}", _basename(a["url"]), url=a["url"],
                            expect="zip") for a in found]  # fmt: skip
            if refs:
                return Release(
                    label=f"{year}-{(year + 1) % 100:02d}",
                    files=refs,
                    published=page.get("public_updated_at"),
                    url=f"{GOV_UK}{path}",
                )
        raise HarvestError(self.id, f"no DSG page with an ODS file at {', '.join(tried)}")

    def find_local(self, directory: Path) -> Release:
        directory = Path(directory)
        if not directory.is_dir():
            raise HarvestError(
                self.id, "the folder given with --from does not exist", str(directory)
            )
        dsg = sorted(directory.rglob(self.local_files["dsg"][0]))
        if not dsg:
            raise MissingLocalFiles(self.id, f"no file named {self.local_files['dsg'][0]} under "
                                    "the folder", str(directory))  # fmt: skip
        refs = [FileRef(f"dsg@{p.name}", p.name, path=p) for p in dsg]
        outturn = sorted(directory.rglob(self.local_files["outturn"][0]))
        refs += [FileRef("outturn", outturn[-1].name, path=outturn[-1])] if outturn else []
        years = [dsg_file_year(p.name) for p in dsg]
        return Release(label=max(y for y in years if y) if any(years) else "local", files=refs)

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed()
        frames = []
        for key in sorted(k for k in files if k.startswith("dsg")):
            table, period = read_dsg(files[key], self.id)
            parsed.raw_tables[f"raw_{self.id}_dsg_{period.replace('-', '_')}"] = table
            frames.append(self._long(table, period, "dsg", context.resolver, parsed, release))
        if "outturn" in files:
            table, period = read_outturn(files["outturn"], self.id)
            parsed.raw_tables[f"raw_{self.id}_outturn_{period.replace('-', '_')}"] = table
            frames.append(self._long(table, period, "outturn", context.resolver, parsed, release))
        else:
            parsed.notes.append("no high-needs outturn file: outturn indicators not refreshed")
        parsed.observations = pd.concat(frames, ignore_index=True)[OBSERVATION_COLUMNS]
        add_derived(parsed, DERIVED, {i.id for i in self.catalogue.indicators_for(self.id)})
        return parsed

    def _long(self, table, period, file, resolver, parsed, release) -> pd.DataFrame:
        """Observations of the indicators read from ``file``'s table."""
        codes = [_area(r, resolver) for r in table.to_dict("records")]
        for row, code in zip(table.to_dict("records"), codes, strict=True):
            if code is None:
                parsed.unmatched_areas.append(
                    f"{file} {period}: {row['name']!r} ({row['dfe_code'] or 'no code'}): unknown"
                )
        keep = table.assign(area_code=codes).dropna(subset=["area_code"])
        label, start, end = normalise_period(period.replace("-", ""), "Financial year")
        parts = []
        for ind in (i for i in self.indicators() if i.file == file):
            if ind.column not in keep:
                raise LayoutError(self.id, f"{file} {period}", [ind.column], [], None)
            value, status = parse_values(keep[ind.column].replace({"": None}))
            parts.append(pd.DataFrame({
                "indicator_id": ind.id, "area_code": keep["area_code"], "period": label,
                "breakdown": "Total", "value": value, "numerator": None, "denominator": None,
                "status": status, "period_start": start, "period_end": end,
                "dataset_id": self.id, "release": release.label,
                "source_area_code": keep["dfe_code"].where(keep["dfe_code"] != "", keep["name"]),
                "flag": None,
            }))  # fmt: skip
        return (
            pd.concat(parts, ignore_index=True)
            if parts
            else pd.DataFrame(columns=OBSERVATION_COLUMNS)
        )


def _area(row: dict, resolver) -> str | None:
    if row["name"].strip().upper() == "ENGLAND":
        return ENGLAND_CODE
    if row["dfe_code"]:
        return resolver.resolve(dfe_code=row["dfe_code"])
    return resolver.resolve(name=row["name"])


def dsg_file_year(name: str) -> str | None:
    """``dedicated-schools-grant_2024_07_20.ods`` is published in 2024: its release label."""
    found = re.search(r"_(\d{4})_\d{2}_\d{2}", name)
    return found.group(1) if found else None


def read_dsg(raw: RawFile, dataset: str) -> tuple[pd.DataFrame, str]:
    """The ``Allocations_summary`` rows of England, regions and LAs (dfe_code, name, every block
    column) and the period; totals by LA type are left out."""
    try:
        grid = pd.read_excel(
            raw.path, engine="odf", sheet_name=DSG_SHEET, header=None, dtype=object
        )
    except ValueError as exc:
        raise BadFileError(
            dataset, f"{raw.filename}: no sheet {DSG_SHEET!r} ({exc})", raw.source
        ) from exc
    cells = grid.fillna("").astype(str).map(str.strip)
    title = cells.iat[0, 0]
    year = _DSG_YEAR.search(title)
    if not year:
        raise BadFileError(dataset, f"{raw.filename}: no year in the title {title!r}", raw.source)
    header = list(cells.iloc[1, 2:12])
    check_columns(header, DSG_HEADER, dataset=dataset, file=raw.filename, source=raw.source)
    if header != DSG_HEADER:
        raise LayoutError(dataset, raw.filename, [h for h in DSG_HEADER if h not in header[:10]],
                          [h for h in header if h not in DSG_HEADER], raw.source)  # fmt: skip
    rows = cells.iloc[4:]
    rows = rows[(rows[0] != "") & ~rows[0].str.upper().isin(LA_TYPE_TOTALS)]
    # LONDON is listed twice, among the LA-type totals and among the regions: the last is kept
    rows = rows[~(rows[1].eq("") & rows[0].str.upper().duplicated(keep="last"))]
    code = rows[0].where(rows[0].str.fullmatch(r"\d{3}"), "")
    name = rows[1].where(code != "", rows[0])
    table = pd.DataFrame({"dfe_code": code, "name": name})
    for col, at in DSG_COLUMNS.items():
        table[col] = rows[at]
    for i, col in enumerate(DSG_HEADER):
        table[f"[{chr(65 + i)}] {col}"] = rows[2 + i]
    return table.reset_index(drop=True), f"{year[1]}-{year[2][2:]}"


def read_outturn(raw: RawFile, dataset: str) -> tuple[pd.DataFrame, str]:
    """The outturn extract's LA rows: identity columns, the outturn block and its total."""
    try:
        sheet = openpyxl.load_workbook(raw.path, read_only=True, data_only=True).worksheets[0]
    except (OSError, KeyError, ValueError) as exc:
        raise BadFileError(
            dataset, f"{raw.filename} is not a readable workbook: {exc}", raw.source
        ) from exc
    grid = [
        ["" if v is None else str(v).strip() for v in row]
        for row in sheet.iter_rows(values_only=True)
    ]
    width = max(len(r) for r in grid)
    grid = [r + [""] * (width - len(r)) for r in grid]
    period = _outturn_year(grid, raw, dataset)
    start = next((c for c, v in enumerate(grid[2]) if v == OUTTURN_BLOCK), None)
    labels = [" ".join(v.split()) for v in grid[3]]
    if start is None:
        raise LayoutError(
            dataset,
            f"{raw.filename} (no '{OUTTURN_BLOCK}' block in row 3)",
            [OUTTURN_BLOCK],
            sorted({v for v in grid[2] if v}),
            raw.source,
        )
    block = labels[start : start + len(OUTTURN_LABELS)]
    check_columns(block, OUTTURN_LABELS, dataset=dataset, file=raw.filename, source=raw.source)
    ids = {}
    for name, wanted in IDENTITY.items():
        at = next((c for c in range(start) if " ".join(grid[4][c].split()).startswith(wanted)
                   or " ".join(grid[5][c].split()).startswith(wanted)), None)  # fmt: skip
        if at is None:
            raise LayoutError(dataset, raw.filename, [wanted], [], raw.source)
        ids[name] = at
    rows = [r for r in grid[7:] if r[ids["LA code"]] or r[ids["LA name"]]]
    table = pd.DataFrame({"dfe_code": [r[ids["LA code"]] for r in rows],
                          "name": [r[ids["LA name"]] for r in rows]})  # fmt: skip
    for name in list(IDENTITY)[2:]:
        table[name] = [r[ids[name]] for r in rows]
    for i, label in enumerate(OUTTURN_LABELS):
        table[label] = [r[start + i] for r in rows]
    blank = table[OUTTURN_LABELS].isin(["", "#N/A"]).all(axis=1)  # abolished councils' rows
    table = table[~blank].reset_index(drop=True)
    parts = table[TOTAL_PARTS].apply(pd.to_numeric, errors="coerce")
    # a part published as an error (#N/A) or left empty leaves the total unknown, never short
    table[TOTAL] = parts.sum(axis=1).where(parts.notna().all(axis=1), "")
    return table.astype(object), period


def _outturn_year(grid, raw: RawFile, dataset: str) -> str:
    for row in grid[:3]:
        for a, b in zip(row, row[1:], strict=False):
            if a == "Year" and re.fullmatch(r"\d{4}-\d{2}", b):
                return b
    raise BadFileError(dataset, f"{raw.filename}: no 'Year' cell in its first rows", raw.source)
