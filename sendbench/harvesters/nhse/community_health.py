"""NHS England: Community Health Services waiting lists, children and young people's services.

- Publisher: NHS England. Publication: "Community health services waiting lists", from the
  Community Health Services (CHS) SitRep: unvalidated management information, monthly.
- Landing page: https://www.england.nhs.uk/statistics/statistical-work-areas/community-health-services-waiting-lists/
  (the page a public analysis repository, dfe-analytical-services/SEND-AP-Inclusion-Dashboard,
  and others scrape: one ``<a>`` per monthly workbook, plus a time-series workbook).
- Files: one workbook a month, linked from the landing page as
  ``https://www.england.nhs.uk/statistics/wp-content/uploads/sites/2/<yyyy>/<mm>/`` +
  ``Community-health-services-waiting-lists-<financial year>-<Month>.xlsx``
  (``…/2025/05/Community-health-services-waiting-lists-2024-25-March.xlsx`` is quoted in a
  public repository), the month being the data month; a corrected file is re-published with
  ``-revised`` (or ``-2``) before ``.xlsx``. Latest release: of the landing page's links to such
  workbooks (the time series excluded), the newest data month, a revised file before the
  original. The live page was not fetched while writing this (no network): the fixture imitates
  it with links of that shape.
- Local files (``--from DIR``): ``Community-health-services-waiting-lists-*.xlsx`` as published,
  or ``community_health_<date>.xlsx`` as the DfE SEND and AP dashboard saves them
  (``../shared/data/nhse/community-health/``). Each workbook is its own release, labelled by the
  data month in its tables' titles (``…by service, October 2023`` → ``2023-10``); releases
  accumulate month by month.

Layout (the 2023-24 workbooks, read from the real November and December 2023 files):
- Sheets ``Cover page``, ``Contents``, ``Table 1`` (non-submitters), ``Table 2`` (national time
  series), ``Table 3`` (national overview), ``Table 4`` (total waiting list by service) and
  ``Table 4a``…``Table 4g`` (the number waiting in each band: 0-1, >1-2, >2-4, >4-12, >12-18,
  >18-52 and over 52 weeks). Each table sheet starts with a title row (``Number waiting >18-52
  weeks (127-364 days) by service, October 2023``), three note rows, then the header
  ``Organisation Type, Organisation Code, Organisation Name`` and one column per service line,
  ``(A) …`` for adults and ``(CYP) …`` for children and young people.
- Sheets are found by their titles, not their names, and bands by the weeks in the title, so a
  workbook that splits "over 52 weeks" into ">52-104" and "over 104" (as the 2024-25 ones do,
  with a ``Table 4h``) still reads: over 18 weeks is every band from 18 weeks up, over 52 weeks
  every band from 52 up. Bands that do not run from 0 weeks without a gap are refused.
- Rows: ``National`` (England, code blank), ``Region`` (NHS regions, ``Y56``…), ``ICB`` (ODS codes,
  ``QOX``…) and ``Provider`` (ODS codes). They are filed as ``E92000001``, ``nhs_region:Y56``,
  ``icb:QOX`` and ``provider:RCF``, the codes ``nhsd_mhsds`` uses, so both datasets meet on the
  same NHS areas. A blank ``Organisation Type`` under a filled one is the one above (merged cells).
- Blank cells: "no organisation submitted for the service line". An area with a blank total for
  a service has no row for it (counted in the harvest notes); a blank band under a published
  total makes the band measures NULL with status ``missing``, never zero. The looked-after
  children and safeguarding lines are published for England only, as totals.
- "The sum of weekly breakdowns may not match the total waiting list as some providers were still
  collecting data by weeks waiting" (Table 3): shares are therefore of the children whose wait
  is banded (the sum of the bands), with those counts as numerator and denominator; the total
  waiting list is its own indicator.
- ``CYP services``: the sum of every ``(CYP)`` service line, blanks as nothing (the publisher's own
  England figure, 216,613 in September 2023, is that sum).
- NHS geography only: no LA figures (the provider or ICB to LA mapping is separate work).

Every table sheet read is kept whole as ``raw_nhse_community_health_table_4``, ``…_table_4a`` …
"""

from __future__ import annotations

import re
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urljoin, urlparse

import openpyxl
import pandas as pd
from bs4 import BeautifulSoup

from sendbench.areas import AREA_COLUMNS, ENGLAND_CODE
from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import (
    OBSERVATION_COLUMNS,
    BaseHarvester,
    FileRef,
    HarvestContext,
    MissingLocalFiles,
    Parsed,
    Release,
    empty_observations,
)
from sendbench.harvesters.nhsd.mhsds import DATES
from sendbench.http import HttpClient, RawFile, not_data, sniff

MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")  # fmt: skip
# Community-health-services-waiting-lists-2023-24-October(-revised|-2).xlsx
_FILE = re.compile(
    r"waiting[-_ ]lists?[-_ ](\d{4})[-_ ](\d{2})[-_ ]([A-Za-z]+)(?:[-_ ]?(revised|\d))?\.xlsx$",
    re.IGNORECASE,
)
_TITLE_MONTH = re.compile(r"by service,\s*([A-Za-z]+)\s+(\d{4})\s*$", re.IGNORECASE)
_TOTAL = re.compile(r"^\s*total waiting list by service", re.IGNORECASE)
_BAND = re.compile(
    r"^\s*number waiting\s*(?:>|over\s+)?\s*(\d+)(?:\s*-\s*(\d+))?\s*weeks?", re.IGNORECASE
)
HEADER = {"type": ("organisation type", "level"), "code": ("organisation code", "code"),
          "name": ("organisation name", "name")}  # fmt: skip
AREA_TYPES = {"national": "country", "region": "nhs_region", "icb": "icb", "provider": "provider"}
ALL_CYP = "CYP services"
MEASURES = ("waiting_list", "over_18_weeks", "over_18_weeks_pct", "over_52_weeks",
            "over_52_weeks_pct")  # fmt: skip


@dataclass
class Sheet:
    """One table of the workbook: its title, weeks band (None for the total) and rows."""

    name: str
    title: str
    band: tuple[int, int | None] | None
    frame: pd.DataFrame  # type, code, name, then one column per service line, cells as published


class Harvester(BaseHarvester):
    """CHS SitRep workbooks: CYP waiting lists by service at England, region, ICB and provider."""

    def find_release(self, http: HttpClient) -> Release:
        landing = self.dataset.landing_page
        links = workbook_links(http.get_text(landing, dataset=self.id), landing)
        if not links:
            raise HarvestError(
                self.id,
                "the statistics page links no monthly 'Community-health-services-waiting-lists-"
                "<year>-<Month>.xlsx' workbook; check the page and this harvester",
                landing,
            )
        url = max(links, key=lambda u: (file_month(basename(u)), _is_revision(basename(u))))
        name = basename(url)
        ref = FileRef(key="release", filename=name, url=url, expect="zip")
        return Release(label=file_month(basename(url)), files=[ref], url=landing)

    def find_local_releases(self, directory: Path) -> list[Release]:
        """Every workbook under ``directory``, each its own release (its data month), oldest
        first; of two workbooks for one month, the one published later is read."""
        directory = Path(directory)
        if not directory.is_dir():
            raise HarvestError(
                self.id, "the folder given with --from does not exist", str(directory)
            )
        paths = {p for pat in self.dataset.files for p in directory.rglob(pat) if p.is_file()}
        if not paths:
            raise MissingLocalFiles(
                self.id,
                f"no file named {' or '.join(self.dataset.files)} under the folder",
                str(directory),
            )
        found = []
        for path in paths:
            month, published = workbook_month(path, self.id)
            ref = FileRef(key="release", filename=path.name, path=path)
            found.append(Release(label=month, files=[ref], published=published))
        found.sort(key=lambda r: (r.label, r.published or "", r.files[0].filename))
        latest = {r.label: r for r in found}  # the later of two files of one month wins
        return list(latest.values())

    def find_local(self, directory: Path) -> Release:
        return self.find_local_releases(directory)[-1]

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None or context.resolver.resolve(code=ENGLAND_CODE) is None:
            raise HarvestError(self.id, "the areas table has no England: refresh dfe_areas first")
        raw = files["release"]
        total, bands, month = read_workbook(raw, self.id)
        services = {ind.filter["service"] for ind in self.indicators()}
        for sheet in (total, *bands):
            check_services(sheet, services - {ALL_CYP}, self.id, raw)
        parsed = Parsed(replace_by={"areas": "area_code"})
        parsed.notes.append(
            f"{raw.filename}: {month}, {len(total.frame):,} organisations, "
            f"{len(bands)} bands ({', '.join(_band_text(s.band) for s in bands)})"
        )
        for sheet in (total, *bands):
            parsed.raw_tables[f"raw_{self.id}_{_slug(sheet.name)}"] = _as_text(sheet.frame)
        cells = long_cells(total, bands, self.id, raw, parsed)
        known = context.resolver
        parsed.tables["areas"] = nhs_areas(cells, known)
        parts = []
        for ind in self.indicators():
            rows = measure(cells, ind.filter["service"], ind.filter["measure"])
            if rows.empty:
                parsed.notes.append(f"{ind.id}: no area has a figure for {ind.filter['service']}")
                continue
            parts.append(_observations(rows, ind.id, self.id, month, release.label))
        for service in sorted(services):
            blank = cells.attrs["blank_totals"].get(service, 0)
            if blank:
                parsed.notes.append(
                    f"{service}: {blank} organisations have a blank total (no submission for "
                    "the service line): no row"
                )
        parsed.observations = (
            pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS]
            if parts
            else empty_observations()
        )
        return parsed


# --- finding the workbooks -------------------------------------------------------------------


def workbook_links(html: str, base: str) -> list[str]:
    """Links on the statistics page to monthly workbooks (not the time series), page order."""
    soup = BeautifulSoup(html, "html.parser")
    out = []
    for a in soup.find_all("a", href=True):
        url = urljoin(base, a["href"].strip())
        name = basename(url)
        if file_month(name) and "time" not in name.lower() and url not in out:
            out.append(url)
    return out


def file_month(name: str) -> str:
    """``…-waiting-lists-2023-24-October.xlsx`` → ``2023-10`` (the financial year's April to
    December are its first year, January to March its second); ``""`` for other names."""
    found = _FILE.search(name)
    if not found or found.group(3).lower() not in MONTHS:
        return ""
    first, second = int(found.group(1)), int(found.group(2))
    if second != (first + 1) % 100:
        return ""
    month = MONTHS.index(found.group(3).lower()) + 1
    return f"{first + 1 if month <= 3 else first}-{month:02d}"


def _is_revision(name: str) -> bool:
    found = _FILE.search(name)
    return bool(found and found.group(4))


def workbook_month(path: Path, dataset: str) -> tuple[str, str | None]:
    """The data month a workbook's tables are titled with, and its cover's publication date."""
    kind = sniff(path)
    if kind is not None:
        raise not_data(dataset, path.name, kind, str(path))
    try:
        book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise BadFileError(dataset, f"{path.name} is not a readable workbook: {exc}",
                           str(path)) from exc  # fmt: skip
    try:
        month, published = None, None
        for sheet in book.worksheets:
            sheet.reset_dimensions()
            first = [_text(v) for v in next(sheet.iter_rows(max_row=1, values_only=True), ())]
            if sheet.title.lower().startswith("cover"):
                published = _cover_date(sheet)
            elif first and _TOTAL.match(first[0]):
                month = title_month(first[0])
                break
    finally:
        book.close()
    if not month:
        label = file_month(path.name)
        if not label:
            raise BadFileError(
                dataset,
                f"{path.name} has no 'Total waiting list by service, <Month> <year>' table and "
                "its name gives no month",
                str(path),
            )
        return label, published
    return month, published


def _cover_date(sheet) -> str | None:
    for row in sheet.iter_rows(max_row=20, values_only=True):
        if row and _text(row[0]).lower().startswith("published"):
            value = row[1] if len(row) > 1 else None
            if isinstance(value, datetime | date):
                return value.isoformat()[:10]
            text = _text(value)
            try:
                return datetime.strptime(text, "%d/%m/%Y").date().isoformat()
            except ValueError:
                return None
    return None


def title_month(title: str) -> str | None:
    """``Total waiting list by service, October 2023`` → ``2023-10``."""
    found = _TITLE_MONTH.search(title)
    if not found or found.group(1).lower() not in MONTHS:
        return None
    return f"{found.group(2)}-{MONTHS.index(found.group(1).lower()) + 1:02d}"


# --- reading a workbook ----------------------------------------------------------------------


def read_workbook(raw: RawFile, dataset: str) -> tuple[Sheet, list[Sheet], str]:
    """The total table, the band tables (in order of weeks) and the data month."""
    try:
        book = openpyxl.load_workbook(raw.path, read_only=True, data_only=True)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        raise BadFileError(dataset, f"{raw.filename} is not a readable workbook: {exc}",
                           raw.source) from exc  # fmt: skip
    total, bands = None, []
    try:
        for ws in book.worksheets:
            ws.reset_dimensions()
            rows = [list(r) for r in ws.iter_rows(values_only=True)]
            title = _text(rows[0][0]) if rows and rows[0] else ""
            if _TOTAL.match(title):
                total = Sheet(ws.title, title, None, _table(rows, dataset, raw, ws.title))
            elif (band := _BAND.match(title)) is not None:
                weeks = (int(band.group(1)), int(band.group(2)) if band.group(2) else None)
                bands.append(Sheet(ws.title, title, weeks, _table(rows, dataset, raw, ws.title)))
    finally:
        book.close()
    if total is None:
        raise BadFileError(
            dataset,
            f"{raw.filename} has no sheet titled 'Total waiting list by service, <Month> <year>' "
            "(the publisher may have changed the workbook)",
            raw.source,
        )
    bands.sort(key=lambda s: s.band[0])
    _check_bands(bands, dataset, raw)
    months = {title_month(s.title) for s in (total, *bands)}
    if len(months) != 1 or None in months:
        titles = "; ".join(f"{s.name}: {s.title}" for s in (total, *bands))
        raise BadFileError(
            dataset, f"{raw.filename}: the tables do not name one month ({titles})", raw.source
        )
    return total, bands, months.pop()


def _table(rows: list[list], dataset: str, raw: RawFile, sheet: str) -> pd.DataFrame:
    """The sheet's table under its header row: type, code, name, then the service columns."""
    at = next((i for i, r in enumerate(rows[:15]) if _header_positions(r)), None)
    if at is None:
        found = [_text(c) for c in rows[4]] if len(rows) > 4 else []
        missing = [names[0].title() for names in HEADER.values()]
        raise LayoutError(dataset, f"{raw.filename} ({sheet})", missing,
                          [c for c in found if c], raw.source)  # fmt: skip
    header = rows[at]
    where = _header_positions(header)
    services = {i: _service_name(h) for i, h in enumerate(header)
                if i not in where.values() and _text(h)}  # fmt: skip
    records = []
    kind = ""
    for row in rows[at + 1 :]:
        row = row + [None] * (len(header) - len(row))
        code, name = _text(row[where["code"]]), _text(row[where["name"]])
        kind = _text(row[where["type"]]) or (kind if (code or name) else "")
        if not (code or name):
            continue  # blank rows and notes under the table
        record = {"type": kind, "code": code, "name": name}
        record.update({service: row[i] for i, service in services.items()})
        records.append(record)
    return pd.DataFrame(records, columns=["type", "code", "name", *services.values()], dtype=object)


def _header_positions(row: list) -> dict[str, int] | None:
    cells = [_text(c).lower() for c in row]
    found = {}
    for key, names in HEADER.items():
        at = next((i for i, c in enumerate(cells) if c in names), None)
        if at is None:
            return None
        found[key] = at
    return found


def _service_name(cell) -> str:
    return " ".join(_text(cell).split())


def _check_bands(bands: list[Sheet], dataset: str, raw: RawFile) -> None:
    """Bands must run from 0 weeks, each starting where the last ended, the last open-ended."""
    edges = [s.band for s in bands]
    ok = bool(edges) and edges[0][0] == 0 and edges[-1][1] is None
    ok = ok and all(a[1] == b[0] for a, b in zip(edges, edges[1:], strict=False))
    if not ok:
        shown = ", ".join(f"{s.name}: {_band_text(s.band)}" for s in bands) or "none"
        raise BadFileError(
            dataset,
            f"{raw.filename}: the weeks-waited tables do not cover 0 weeks to over N weeks "
            f"without a gap ({shown}); the publisher may have changed the bands",
            raw.source,
        )


def check_services(sheet: Sheet, wanted: set[str], dataset: str, raw: RawFile) -> None:
    """Every service line the catalogue reads must be a column of the sheet (case and spacing
    aside), else LayoutError naming the missing lines and the sheet's unfamiliar ones."""
    have = {_key(c) for c in sheet.frame.columns[3:]}
    missing = sorted(s for s in wanted if _key(s) not in have)
    if missing:
        cyp = [c for c in sheet.frame.columns[3:] if c.startswith("(CYP)")]
        unexpected = [c for c in cyp if _key(c) not in {_key(s) for s in wanted}]
        raise LayoutError(dataset, f"{raw.filename} ({sheet.name})", missing, unexpected,
                          raw.source)  # fmt: skip


def _key(name: str) -> str:
    return " ".join(str(name).split()).casefold()


# --- from cells to measures ------------------------------------------------------------------


def long_cells(
    total: Sheet, bands: list[Sheet], dataset: str, raw: RawFile, parsed: Parsed
) -> pd.DataFrame:
    """One row per organisation and service line: area, total and each band's number (NaN for a
    blank cell), with ``cyp`` marking the children's lines."""
    frame = total.frame
    kind = frame["type"].str.strip().str.lower().map(AREA_TYPES)
    for (label, code), n in frame[kind.isna()].groupby(["type", "code"]).size().items():
        parsed.unmatched_areas.append(f"{label or '(no type)'} {code or '(blank)'}: {n} rows not "
                                      "filed to an area (kept in raw)")  # fmt: skip
    no_code = kind.notna() & (kind != "country") & (frame["code"] == "")
    for name in frame.loc[no_code, "name"]:
        parsed.unmatched_areas.append(f"{name}: no organisation code (kept in raw)")
    keep = kind.notna() & ~no_code
    ids = frame.loc[keep, ["type", "code", "name"]].assign(area_type=kind[keep])
    ids["area_code"] = (ids["area_type"] + ":" + ids["code"]).where(
        ids["area_type"] != "country", ENGLAND_CODE
    )
    ids["source"] = ids["code"].where(ids["area_type"] != "country", ENGLAND_CODE)
    key = ["type", "code"]
    services = list(frame.columns[3:])
    long = ids.merge(_melt(frame, "total"), on=key, how="left")
    for number, sheet in enumerate(bands):
        long = long.merge(_melt(sheet.frame, f"band{number}"), on=[*key, "service"], how="left")
    long["service_key"] = long["service"].map(_key)
    long["cyp"] = long["service"].str.startswith("(CYP)")
    long.attrs["bands"] = [s.band for s in bands]
    blank = long[long["total"].isna()]
    long.attrs["blank_totals"] = {
        s: int(n) for s, n in blank.groupby("service").size().items() if s in services
    }
    long.attrs["blank_totals"][ALL_CYP] = int(
        (~long[long["cyp"]].groupby("area_code")["total"].count().astype(bool)).sum()
    )
    return long


def _melt(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    services = list(frame.columns[3:])
    out = frame.melt(id_vars=["type", "code"], value_vars=services, var_name="service",
                     value_name=name).drop_duplicates(["type", "code", "service"])  # fmt: skip
    out[name] = pd.to_numeric(out[name], errors="coerce").astype(float)
    return out


def measure(cells: pd.DataFrame, service: str, what: str) -> pd.DataFrame:
    """Per area: value, numerator, denominator and status of one measure of one service line
    (or of every CYP line, ``CYP services``); areas with nothing published are left out."""
    if what not in MEASURES:
        raise HarvestError(None, f"unknown community health measure {what!r}")
    bands = [f"band{i}" for i in range(len(cells.attrs["bands"]))]
    lows = [b[0] for b in cells.attrs["bands"]]
    if service == ALL_CYP:
        rows = cells[cells["cyp"]]
        sums = rows.groupby(["area_code", "source"])[["total", *bands]].sum(min_count=1)
        sums = sums[sums["total"].notna()]
        banded = sums[bands].fillna(0.0)  # a line with no bands adds none (as NHS England sums)
        banded[sums[bands].isna().all(axis=1)] = float("nan")
    else:
        rows = cells[(cells["service_key"] == _key(service)) & cells["total"].notna()]
        sums = rows.set_index(["area_code", "source"])[["total", *bands]]
        banded = sums[bands]  # a blank band leaves the band measures NULL
    every = banded.sum(axis=1, min_count=len(bands))
    over = {
        weeks: banded[[b for b, lo in zip(bands, lows, strict=True) if lo >= weeks]]
        .sum(axis=1, min_count=1)
        .where(every.notna())
        for weeks in (18, 52)
    }
    out = pd.DataFrame(index=sums.index)
    out["numerator"] = float("nan")
    out["denominator"] = float("nan")
    if what == "waiting_list":
        out["value"] = sums["total"]
    elif what.endswith("_pct"):
        count = over[18 if "18" in what else 52]
        out["numerator"], out["denominator"] = count, every
        out["value"] = 100 * count / every.where(every != 0)
    else:
        out["value"] = over[18 if "18" in what else 52]
    out["status"] = None
    out.loc[out["value"].isna(), "status"] = "missing"
    if what.endswith("_pct"):
        out.loc[every == 0, "status"] = "z"  # nobody waiting with a banded wait
    return out.reset_index()


def _observations(rows: pd.DataFrame, ind_id: str, dataset: str, month: str, label: str):
    year, number = (int(p) for p in month.split("-"))
    first = date(year, number, 1)
    last = (pd.Timestamp(first) + pd.offsets.MonthEnd(0)).date()
    return pd.DataFrame(
        {
            "indicator_id": ind_id,
            "area_code": rows["area_code"],
            "period": month,
            "breakdown": "Total",
            "value": rows["value"],
            "numerator": rows["numerator"],
            "denominator": rows["denominator"],
            "status": rows["status"].astype(object).where(rows["status"].notna(), None),
            "period_start": first.isoformat(),
            "period_end": last.isoformat(),
            "dataset_id": dataset,
            "release": label,
            "source_area_code": rows["source"],
            "flag": None,
        }
    )


def nhs_areas(cells: pd.DataFrame, resolver) -> pd.DataFrame:
    """``areas`` rows for the regions, ICBs and providers the areas table does not hold yet
    (an NHS area another dataset named keeps its name)."""
    named = cells[cells["area_type"] != "country"].drop_duplicates("area_code")
    rows = []
    for rec in named[["area_code", "area_type", "name"]].itertuples():
        if resolver.resolve(code=rec.area_code) is not None:
            continue
        start, end = DATES.get(rec.area_type, (None, None))
        status = "terminated" if end else ("live" if start else None)
        values = (rec.area_code, rec.name, rec.area_type, None, None, start, end, None, status,
                  "", "", rec.area_code)  # fmt: skip
        rows.append(dict(zip(AREA_COLUMNS, values, strict=True)))
    return pd.DataFrame(rows, columns=AREA_COLUMNS, dtype=object)


# --- small helpers ---------------------------------------------------------------------------


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.rename(columns={"type": "Organisation Type", "code": "Organisation Code",
                                "name": "Organisation Name"})  # fmt: skip
    out = out.loc[:, ~out.columns.duplicated()]
    return out.map(_text)


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _band_text(band: tuple[int, int | None]) -> str:
    return f"over {band[0]} weeks" if band[1] is None else f"{band[0]}-{band[1]} weeks"


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def basename(url: str) -> str:
    return unquote(PurePosixPath(urlparse(url).path).name)
