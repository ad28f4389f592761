"""DfE: children's services statistical neighbours, every vintage, into ``statistical_neighbours``.

- Publisher: Department for Education. Publication: "Children's services statistical neighbour
  benchmarking tool" (model built by NFER in 2007; LGR versions since, e.g. April 2021; a new model
  in May 2025), an attachment of the GOV.UK page "Local authority interactive tool (LAIT)".
- Landing page: https://www.gov.uk/government/publications/local-authority-interactive-tool-lait
  (the page DfE's LAIT dashboard names as its source publication: ``parent_publication`` in
  ``global.R`` of dfe-analytical-services/local-authority-interactive-tool; its links point to the
  attachment ``assets.publishing.service.gov.uk/media/606458acd3bf7f0c8d06b7e2/Childrens_services_
  statistical_neighbour_benchmarking_tool_-_LGR_Version__April_2021_.xlsx``).
- Cadence: irregular (a new vintage after a reorganisation or a model refresh).
- Latest release: the GOV.UK content API, ``GET https://www.gov.uk/api/content/<page path>``. Its
  shape is the publishing-api ``publication`` frontend schema (alphagov/publishing-api,
  ``content_schemas/dist/formats/publication/frontend/schema.json``): ``details.attachments[]`` of
  ``publication_attachment_asset`` (``attachment_type`` file/html/external, ``content_type``,
  ``filename``, ``title``, ``url``, ``file_size``…) and ``details.documents[]``, the same list as
  rendered HTML (read when ``attachments`` is absent). Every xlsx attachment whose title or file
  name names the tool is fetched: all vintages on the page are kept.
- Local files (``--from DIR``): every ``sn_<month>_<year>.xlsx`` (DfE's LAIT repository copies,
  ../shared/data/dfe/statistical-neighbours) or GOV.UK-named workbook under DIR, one vintage each.

Layout (sn_may_2025.xlsx and sn_april_2021.xlsx, read with openpyxl): one sheet ``LA SN Groups``;
row 1 holds column letters and row 2 column numbers (lookup helpers), row 3 the header ``LA num,
LA Name, LA number, GOInd, GOReg, SN1, SNP, SN2, SNP, … SN10, SNP``; LAs from row 4. Neighbours
are DfE 3-digit LA numbers; each ``SNP`` is the closeness band of the neighbour before it. The
repeated ``SNP`` columns are kept as ``SNP, SNP__2 … SNP__10`` in the raw tables.

Quirks: bands are spelled ``Very close`` and ``Very Close`` (stored as ``Extremely close``, ``Very
close``, ``Close``, ``Somewhat close``, ``Not close``; raw tables keep the published text). After
the live LAs a row ``Old SNs:`` introduces councils abolished in reorganisations (Dorset, Poole,
Bournemouth ``(Pre LG)``, Northamptonshire, and in 2025 Cumbria) with their old neighbours: kept.
The 2021 workbook lists Cumberland and Westmorland and Furness with ``-`` in every SN cell (added
after 2023, never given neighbours): no rows, a note. Neither workbook has a title or notes cell,
so the vintage comes from the file name (``sn_may_2025`` → ``dfe-2025-05``) or the GOV.UK
attachment's name and title; ``-lgr`` marks an LGR version, read from the GOV.UK name
(``…_LGR_Version__April_2021_.xlsx``) or, for copies renamed without it, ``LGR_EDITIONS``.

Area codes: DfE numbers resolve (``AreaResolver``; the workbook's name only if the number is
unknown) to the code observations use: the current code after a 1:1 code change (North Yorkshire
815 → E06000065 in every vintage, so benchmarks join) and a council's own code when it was
abolished in a split or merger (Northamptonshire 928 → E10000021, Cumbria 909 → E10000006), never
a successor's. The code valid at the workbook's date is not used: the 2021 North Yorkshire row
would then be E10000023, a code no observation is filed under. An LA row that cannot be resolved
is left out of the table and listed in ``unmatched_areas``; an unresolved neighbour keeps its row
with no ``neighbour_code`` and is listed too. The raw tables keep every row as published.
"""

from __future__ import annotations

import fnmatch
import logging
import re
import zipfile
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlparse

import openpyxl
import pandas as pd
from bs4 import BeautifulSoup
from openpyxl.utils import get_column_letter
from openpyxl.utils.exceptions import InvalidFileException

from sendbench.areas import AreaResolver
from sendbench.db.schema import STATISTICAL_NEIGHBOURS
from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import (
    BaseHarvester,
    FileRef,
    HarvestContext,
    MissingLocalFiles,
    Parsed,
    Release,
    check_columns,
)
from sendbench.http import HttpClient, RawFile

log = logging.getLogger(__name__)

GOV_UK = "https://www.gov.uk"
CONTENT_API = f"{GOV_UK}/api/content"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SHEET = "LA SN Groups"
NEIGHBOURS = 10
HEADER_SEARCH_ROWS = 10  # the header is row 3; look a little further in case rows are added
ID_COLUMNS = ["LA num", "LA Name", "LA number", "GOInd", "GOReg"]
SN_COLUMNS = [f"SN{k}" for k in range(1, NEIGHBOURS + 1)]
SNP_COLUMNS = ["SNP"] + [f"SNP__{k}" for k in range(2, NEIGHBOURS + 1)]  # SNP after SNk
LAYOUT = ID_COLUMNS + [c for pair in zip(SN_COLUMNS, SNP_COLUMNS, strict=True) for c in pair]
REQUIRED = ["LA num", "LA Name", *SN_COLUMNS, *SNP_COLUMNS]
BANDS = {b.lower(): b for b in ("Extremely close", "Very close", "Close", "Somewhat close",
                                "Not close")}  # fmt: skip
NO_NEIGHBOUR = {"", "-"}
OLD_BLOCK = re.compile(r"old\s+sns?\b", re.IGNORECASE)
DFE_NUMBER = re.compile(r"^\d{3}$")
TITLE = re.compile(r"statistical[\s_-]+neighbour", re.IGNORECASE)
# Editions published as LGR versions whose local copies may have lost "LGR" from the name: the
# April 2021 workbook is GOV.UK's "…_-_LGR_Version__April_2021_.xlsx", LAIT's sn_april_2021.xlsx.
LGR_EDITIONS = frozenset({"2021-04"})
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_MONTH_YEAR = re.compile(
    r"(?<![a-z])(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)[a-z]*[\s_.,-]*((?:19|20)\d\d)"
    r"(?!\d)",
    re.IGNORECASE,
)
_YEAR_MONTH = re.compile(r"(?<!\d)((?:19|20)\d\d)[_-](0[1-9]|1[0-2])(?!\d)")
_LGR = re.compile(r"(?<![a-z])lgr(?![a-z])", re.IGNORECASE)
_KEY = re.compile(r"^sn_(\d{4})_(\d{2})(_lgr)?$")


class Harvester(BaseHarvester):
    """Statistical neighbours: one set per workbook (``dfe-2025-05``, ``dfe-2021-04-lgr``…)."""

    def find_release(self, http: HttpClient) -> Release:
        path = self.dataset.release["path"]
        url = f"{CONTENT_API}{path}"
        data = http.get_json(url, dataset=self.id)
        found = [a for a in _attachments(data, self.id, url) if self._is_workbook(a)]
        if not found:
            titles = [a.get("title") or a.get("filename") for a in _attachments(data, self.id, url)]
            raise HarvestError(
                self.id,
                "the GOV.UK page lists no statistical neighbour workbook (xlsx); attachments: "
                f"{titles or 'none'}. Check the page and the catalogue's release path",
                url,
            )
        refs: dict[str, FileRef] = {}
        for att in found:
            texts = [att.get("filename"), att.get("title"), _basename(att["url"])]
            key = _vintage_key(texts, dataset=self.id, source=att["url"])
            if key in refs:
                log.warning(
                    "%s: %s repeats vintage %s; keeping the first", self.id, att["url"], key
                )
                continue
            name = att.get("filename") or _basename(att["url"])
            refs[key] = FileRef(key=key, filename=name, url=att["url"], expect="zip")
        return _release(refs, url=f"{GOV_UK}{path}", published=data.get("public_updated_at"))

    def find_local(self, directory: Path) -> Release:
        """Every workbook matching the catalogue's names under ``directory``, one per vintage."""
        directory = Path(directory)
        if not directory.is_dir():
            raise HarvestError(
                self.id, "the folder given with --from does not exist", str(directory)
            )
        paths = sorted(
            {p for pat in self.dataset.files for p in directory.rglob(pat) if p.is_file()}
        )
        if not paths:
            patterns = " or ".join(self.dataset.files)
            raise MissingLocalFiles(
                self.id, f"no file named {patterns} under the folder", str(directory)
            )
        refs: dict[str, FileRef] = {}
        for path in paths:
            key = _vintage_key([path.name], dataset=self.id, source=str(path))
            if key in refs:
                log.warning(
                    "%s: %s repeats vintage %s; keeping %s", self.id, path, key, refs[key].path
                )
                continue
            refs[key] = FileRef(key=key, filename=path.name, path=path)
        return _release(refs)

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed(replace_by={"statistical_neighbours": "set_id"})
        tables = []
        for key, raw in sorted(files.items(), reverse=True):
            set_id = set_id_for_key(key, dataset=self.id)
            header, rows = read_sheet(
                raw.path, dataset=self.id, file=raw.filename, source=raw.source
            )
            name = f"raw_{self.id}_{set_id.replace('-', '_')}"
            parsed.raw_tables[name] = pd.DataFrame(
                [cells for _, cells in rows], columns=header, dtype=object
            )
            parsed.raw_releases[name] = set_id  # each vintage's workbook is its own release
            table = _neighbours(header, rows, set_id, raw, context.resolver, parsed)
            _check_unique(table, self.id, raw)
            tables.append(table)
        parsed.tables["statistical_neighbours"] = pd.concat(tables, ignore_index=True)
        return parsed

    def _is_workbook(self, att: dict) -> bool:
        name = att.get("filename") or _basename(att.get("url", ""))
        is_xlsx = att.get("content_type") == XLSX_TYPE or name.lower().endswith(".xlsx")
        named = bool(TITLE.search(att.get("title") or "")) or any(
            fnmatch.fnmatch(name.lower(), pat.lower()) for pat in self.dataset.files
        )
        return att.get("attachment_type", "file") == "file" and is_xlsx and named


def vintage(texts: list[str | None]) -> tuple[str, bool] | None:
    """``("2021-04", True)`` from names or titles such as ``…_LGR_Version__April_2021_.xlsx``.

    The first text with a month and year gives the date; any text saying ``LGR``, or a date in
    ``LGR_EDITIONS``, marks an LGR version. None when no text has a date.
    """
    date = None
    for text in filter(None, texts):
        if found := _MONTH_YEAR.search(text):
            date = f"{found.group(2)}-{MONTHS.index(found.group(1).lower()) + 1:02d}"
        elif found := _YEAR_MONTH.search(text):
            date = f"{found.group(1)}-{found.group(2)}"
        if date:
            break
    if date is None:
        return None
    return date, date in LGR_EDITIONS or any(_LGR.search(t) for t in filter(None, texts))


def set_id_for_key(key: str, *, dataset: str) -> str:
    """``sn_2021_04_lgr`` → ``dfe-2021-04-lgr``."""
    found = _KEY.match(key)
    if not found:
        raise HarvestError(dataset, f"{key!r} is not a workbook key like sn_2025_05")
    year, month, lgr = found.groups()
    return f"dfe-{year}-{month}{'-lgr' if lgr else ''}"


def read_sheet(
    path: Path, *, dataset: str, file: str, source: str | None = None
) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """The ``LA SN Groups`` header (repeats as ``SNP__2``…) and its non-empty rows, all as text.

    Rows come with their sheet row number. Raises BadFileError for a file that is not a workbook,
    HarvestError when the sheet is missing, LayoutError when columns are missing or renamed.
    """
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (InvalidFileException, zipfile.BadZipFile, KeyError, OSError) as exc:
        raise BadFileError(
            dataset, f"{file} is not a readable xlsx workbook: {exc}", source
        ) from exc
    try:
        if SHEET not in book.sheetnames:
            raise HarvestError(
                dataset,
                f"{file} has no sheet {SHEET!r} (it has {', '.join(book.sheetnames)}); the "
                "publisher may have changed the workbook",
                source,
            )
        grid = [[_text(v) for v in row] for row in book[SHEET].iter_rows(values_only=True)]
    finally:
        book.close()
    at = _header_row(grid, dataset, file, source)
    width = max(len(row) for row in grid)
    rows = [(i + 1, row + [""] * (width - len(row))) for i, row in enumerate(grid) if i > at]
    rows = [(n, cells) for n, cells in rows if any(c.strip() for c in cells)]
    header = _names(grid[at] + [""] * (width - len(grid[at])))
    keep = [i for i, name in enumerate(header) if name or any(c[i].strip() for _, c in rows)]
    header = [header[i] or get_column_letter(i + 1) for i in keep]
    rows = [(n, [cells[i] for i in keep]) for n, cells in rows]
    check_columns(header, LAYOUT, dataset=dataset, file=file, source=source, required=REQUIRED)
    return header, rows


def _header_row(grid: list[list[str]], dataset: str, file: str, source: str | None) -> int:
    known = set(ID_COLUMNS) | set(SN_COLUMNS) | {"SNP"}
    scores = [sum(c.strip() in known for c in row) for row in grid[:HEADER_SEARCH_ROWS]]
    if not scores or max(scores) < 3:
        raise LayoutError(dataset, f"{file} (sheet {SHEET}, no header row)", REQUIRED, [], source)
    return scores.index(max(scores))


def _names(cells: list[str]) -> list[str]:
    """Header names; a repeated name gets ``__2``, ``__3``… (as ``read_ees_csv`` does)."""
    names, seen = [], {}
    for cell in (c.strip() for c in cells):
        seen[cell] = seen.get(cell, 0) + 1
        names.append(f"{cell}__{seen[cell]}" if cell and seen[cell] > 1 else cell)
    return names


def _neighbours(header, rows, set_id: str, raw: RawFile, resolver: AreaResolver, parsed: Parsed):
    records = [(n, dict(zip(header, cells, strict=True))) for n, cells in rows]
    name_of = {r["LA num"].strip(): r["LA Name"].strip() for _, r in records}
    out, old_block, las, old_las = [], False, 0, 0
    for number, rec in records:
        la_num, la_name = rec["LA num"].strip(), rec["LA Name"].strip()
        if not DFE_NUMBER.match(la_num):
            if not la_num and OLD_BLOCK.search(" ".join(rec.values())):
                old_block = True
            else:
                parsed.notes.append(f"{raw.filename} row {number}: not an LA row; kept in raw only")
            continue
        area_code = resolver.resolve(dfe_code=la_num, name=la_name)
        if area_code is None:
            parsed.unmatched_areas.append(
                f"{set_id}: {la_name} ({la_num}): unknown DfE number; its neighbours are not "
                "loaded (the raw table keeps the row)"
            )
            continue
        given = [_neighbour(rec, k, set_id, area_code) for k in range(1, NEIGHBOURS + 1)]
        given = [g for g in given if g is not None]
        if len(given) < NEIGHBOURS:
            parsed.notes.append(
                f"{set_id}: {la_name} ({la_num}) has {len(given)} of {NEIGHBOURS} neighbours "
                f"(row {number}{', after Old SNs' if old_block else ''})"
            )
        for row in given:
            _resolve_neighbour(row, resolver, name_of, parsed)
            row.update(published=set_id[4:11], source=raw.source)  # dfe-2021-04-lgr → 2021-04
            out.append(row)
        las += bool(given)
        old_las += bool(given) and old_block
    parsed.notes.append(
        f"{set_id}: {len(out)} neighbour rows for {las} LAs from {raw.filename} "
        f"({old_las} of them listed after 'Old SNs:')"
    )
    return pd.DataFrame(out, columns=list(STATISTICAL_NEIGHBOURS), dtype=object)


def _neighbour(rec: dict, k: int, set_id: str, area_code: str) -> dict | None:
    number = rec[SN_COLUMNS[k - 1]].strip()
    band = rec[SNP_COLUMNS[k - 1]].strip()
    if number in NO_NEIGHBOUR:
        return None
    closeness = BANDS.get(" ".join(band.lower().split()), band or None)
    return {"set_id": set_id, "area_code": area_code, "dfe_code": rec["LA num"].strip(),
            "area_name": rec["LA Name"].strip(), "neighbour_dfe_code": number, "rank": k,
            "closeness": closeness}  # fmt: skip


def _resolve_neighbour(row: dict, resolver: AreaResolver, name_of: dict, parsed: Parsed) -> None:
    number = row["neighbour_dfe_code"]
    row["neighbour_name"] = name_of.get(number)
    row["neighbour_code"] = resolver.resolve(dfe_code=number, name=row["neighbour_name"])
    if row["neighbour_code"] is None:
        parsed.unmatched_areas.append(
            f"{row['set_id']}: neighbour {row['neighbour_name'] or '?'} ({number}) of "
            f"{row['area_name']} ({row['dfe_code']}): unknown DfE number; row kept without a code"
        )
    if row["closeness"] in BANDS.values():
        return
    note = f"{row['set_id']}: closeness band {row['closeness']!r} is not one of {list(BANDS)}"
    if note not in parsed.notes:  # once per band, not once per row
        parsed.notes.append(note)


def _check_unique(table: pd.DataFrame, dataset: str, raw: RawFile) -> None:
    key = ["set_id", "area_code", "rank"]
    dupes = table[table.duplicated(key, keep=False)]
    if not dupes.empty:
        sample = dupes.head(4)[[*key, "dfe_code", "area_name"]].to_dict("records")
        msg = f"{raw.filename}: two LA rows resolve to the same area, e.g. {sample}"
        raise HarvestError(dataset, msg, raw.source)


def _vintage_key(texts: list[str | None], *, dataset: str, source: str) -> str:
    found = vintage(texts)
    if found is None:
        raise HarvestError(
            dataset,
            f"cannot tell which vintage {texts[0]!r} is: its name has no month and year; "
            "rename it like sn_may_2025.xlsx",
            source,
        )
    date, lgr = found
    return f"sn_{date.replace('-', '_')}{'_lgr' if lgr else ''}"


def _release(refs: dict[str, FileRef], url: str | None = None, published: str | None = None):
    keys = sorted(refs, reverse=True)  # newest vintage first
    label = set_id_for_key(keys[0], dataset="") if keys else "none"
    return Release(label=label, files=[refs[k] for k in keys], url=url, published=published)


def _attachments(data: object, dataset: str, url: str) -> list[dict]:
    """``details.attachments``, or the links in ``details.documents`` HTML when it is absent."""
    details = data.get("details") if isinstance(data, dict) else None
    if not isinstance(details, dict):
        raise BadFileError(dataset, "the GOV.UK content item has no 'details'", url)
    if isinstance(details.get("attachments"), list):
        return [a for a in details["attachments"] if isinstance(a, dict) and a.get("url")]
    found: dict[str, dict] = {}  # url -> attachment; the titled link beats the thumbnail's
    for html in details.get("documents") or []:
        for link in BeautifulSoup(html, "html.parser").find_all("a", href=True):
            href = link["href"] if link["href"].startswith("http") else f"{GOV_UK}{link['href']}"
            title = link.get_text(" ", strip=True)
            if title or href not in found:
                found[href] = {"url": href, "title": title, "filename": _basename(href)}
    return list(found.values())


def _basename(url: str) -> str:
    return unquote(PurePosixPath(urlparse(url).path).name)


def _text(value: object) -> str:
    """A cell as text: ints without ``.0``, empty cells as ``""``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return value.isoformat() if hasattr(value, "isoformat") else str(value)
