"""Ofsted area SEND files: finding them on GOV.UK, and reading their sheets and hyperlinks.

The GOV.UK content API answers ``GET https://www.gov.uk/api/content/<path>`` with a content
item: a ``document_collection`` lists its documents in ``links.documents`` (``base_path``,
``title``, ``public_updated_at``); a ``statistics`` page (publishing-api ``publication`` schema)
its files in ``details.attachments`` (read as ``dfe.neighbours`` reads them). Workbooks are read
with pandas (odf / openpyxl engines); the ODS's HYPERLINK formulas, which pandas drops, are read
from its ``content.xml``; the summary list's cell hyperlinks with openpyxl.
"""

from __future__ import annotations

import html
import re
import zipfile
from pathlib import Path

import openpyxl
import pandas as pd

from sendbench.catalogue import Dataset
from sendbench.errors import BadFileError, HarvestError
from sendbench.harvesters.base import FileRef, MissingLocalFiles, Release, newest_match
from sendbench.harvesters.dfe.neighbours import _attachments, _basename
from sendbench.http import HttpClient, RawFile

GOV_UK = "https://www.gov.uk"
CONTENT_API = f"{GOV_UK}/api/content"
SPREADSHEETS = (".ods", ".xlsx")
_AS_AT = re.compile(r"as at (\d{1,2}) ([A-Z][a-z]+) (\d{4})", re.IGNORECASE)
_LINK = re.compile(
    r"HYPERLINK\(&quot;([^&]+)&quot;.*?</table:table-cell>\s*<table:table-cell[^>]*>"
    r"<text:p>(E\d{8})</text:p>",
    re.DOTALL,
)


def find_release(http: HttpClient, dataset: Dataset, dataset_id: str) -> Release:
    """The newest statistics page of the collection, plus the archive pages, as one release."""
    collection = dataset.release["collection_path"]
    url = f"{CONTENT_API}{collection}"
    data = http.get_json(url, dataset=dataset_id)
    documents = (data.get("links") or {}).get("documents") if isinstance(data, dict) else None
    series = dataset.release["page_prefix"]
    pages = [d for d in documents or [] if isinstance(d, dict)
             and str(d.get("base_path", "")).startswith(series)]  # fmt: skip
    if not pages:
        raise HarvestError(dataset_id, f"the GOV.UK collection lists no {series}… page", url)
    newest = max(pages, key=lambda d: (as_at(d.get("title", "")), d.get("public_updated_at", "")))
    paths = [newest["base_path"], *(p for p in dataset.release.get("archive_paths", ())
                                    if p != newest["base_path"])]  # fmt: skip
    refs = []
    for number, path in enumerate(paths):
        page_url = f"{CONTENT_API}{path}"
        page = http.get_json(page_url, dataset=dataset_id)
        sheets = [a for a in _attachments(page, dataset_id, page_url)
                  if _basename(a["url"]).lower().endswith(SPREADSHEETS)]  # fmt: skip
        if not sheets:
            raise HarvestError(dataset_id, "the statistics page has no ods or xlsx file", page_url)
        name = sheets[0].get("filename") or _basename(sheets[0]["url"])
        refs.append(FileRef(key=f"official@{number}", filename=name, url=sheets[0]["url"],
                            expect="zip"))  # fmt: skip
    label = as_at(newest.get("title", "")) or "latest"
    return Release(label=label, files=refs, published=newest.get("public_updated_at"),
                   url=f"{GOV_UK}{newest['base_path']}")  # fmt: skip


def as_at(title: str) -> str:
    """``…as at 31 August 2022`` → ``2022-08-31`` ("" when the title has no such date)."""
    found = _AS_AT.search(title or "")
    if not found:
        return ""
    day = pd.to_datetime(f"{found[1]} {found[2]} {found[3]}", format="%d %B %Y", errors="coerce")
    return "" if pd.isna(day) else day.strftime("%Y-%m-%d")


def find_local(directory: Path, patterns: dict[str, tuple[str, ...]], dataset_id: str) -> Release:
    """Every official file under ``directory`` and the newest summary list, if any."""
    directory = Path(directory)
    if not directory.is_dir():
        raise HarvestError(
            dataset_id, "the folder given with --from does not exist", str(directory)
        )
    official = sorted({p for pat in patterns["official"] for p in directory.rglob(pat)})
    if not official:
        names = " or ".join(patterns["official"])
        raise MissingLocalFiles(dataset_id, f"no file named {names} under the folder",
                                str(directory))  # fmt: skip
    refs = [FileRef(f"official@{i}", p.name, path=p) for i, p in enumerate(official)]
    summary = newest_match(directory, patterns["summary"])
    if summary is not None:
        refs.append(FileRef("summary", summary.name, path=summary))
    dates = [d for d in (file_date(p.name) for p in official) if d]
    return Release(label=max(dates) if dates else "local", files=refs)


def file_date(name: str) -> str:
    """``…_to_31_August_2022.ods`` → ``2022-08-31``."""
    found = re.search(r"(\d{1,2})_([A-Za-z]+)_(\d{4})(?!.*\d{4})", name)
    return as_at(f"as at {found[1]} {found[2].capitalize()} {found[3]}") if found else ""


def read_sheets(raw: RawFile, dataset_id: str) -> dict[str, list[list[str]]]:
    """Every sheet of an ods or xlsx as rows of text cells (dates as ISO text)."""
    engine = "odf" if _is_ods(raw.path) else "openpyxl"
    try:
        book = pd.read_excel(raw.path, engine=engine, sheet_name=None, header=None, dtype=object)
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        raise BadFileError(dataset_id, f"{raw.filename} is not a readable workbook: {exc}",
                           raw.source) from exc  # fmt: skip
    return {name: [[_text(v) for v in row] for row in frame.itertuples(index=False)]
            for name, frame in book.items()}  # fmt: skip


def ods_links(raw: RawFile) -> dict[str, str]:
    """LA code -> the URL of column A's HYPERLINK formula in the same row (ODS only)."""
    if not _is_ods(raw.path):
        return {}
    with zipfile.ZipFile(raw.path) as archive:
        xml = archive.read("content.xml").decode("utf-8")
    return {code: html.unescape(url) for url, code in _LINK.findall(xml)}


def read_summary(raw: RawFile, dataset_id: str) -> pd.DataFrame:
    """The summary list's first sheet: its columns as text and ``report_url`` (the hyperlink, or
    the cell's text when it is a URL)."""
    try:
        book = openpyxl.load_workbook(raw.path, read_only=False, data_only=True)
    except (OSError, KeyError, zipfile.BadZipFile) as exc:
        raise BadFileError(dataset_id, f"{raw.filename} is not a readable workbook: {exc}",
                           raw.source) from exc  # fmt: skip
    sheet = book.worksheets[0]
    rows = list(sheet.iter_rows())
    at = next((i for i, r in enumerate(rows[:10]) if _text(r[0].value) == "LA"), None)
    if at is None:
        raise BadFileError(dataset_id, f"{raw.filename}: no header row starting 'LA'", raw.source)
    header = [_text(c.value) for c in rows[at]]
    records = []
    for row in rows[at + 1 :]:
        cells = {h: _text(c.value) for h, c in zip(header, row, strict=False) if h}
        if not cells.get("LA"):
            continue
        link = (
            row[header.index("Link to visit report")] if "Link to visit report" in header else None
        )
        target = link.hyperlink.target if link is not None and link.hyperlink else None
        text = cells.get("Link to visit report", "")
        cells["report_url"] = (target or (text if text.startswith("http") else "")).strip()
        records.append(cells)
    return pd.DataFrame(records, columns=[*header, "report_url"]).fillna("")


def _is_ods(path: Path) -> bool:
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        return "mimetype" in names and archive.read("mimetype").startswith(b"application/vnd.oasis")


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()[:10]
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()
