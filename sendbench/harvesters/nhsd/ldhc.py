"""NHS Digital: Learning Disabilities Health Check Scheme (LDHC), GP practices summed to NHS areas.

- Publisher: NHS Digital (now NHS England), Primary Care Domain. Publication: "[MI] Learning
  Disabilities Health Check Scheme, England <Month> <Year>", a GP enhanced service.
- Landing page: https://digital.nhs.uk/data-and-information/publications/statistical/learning-disabilities-health-check-scheme
- Cadence: monthly management information, cumulative over the financial year (April to the
  end of the reporting month).
- Latest release: the landing page links its editions under its own path, e.g.
  ``…/learning-disabilities-health-check-scheme/england-april-2026`` (the April 2026 edition,
  published 11 June 2026, found with the ``pages`` search corpus); sendbench takes those links
  whose slug carries a year, prefers ``a.cta__button`` ones (as on the MHSDS pages, see
  ``nhsd/mhsds.py``), skips "upcoming" ones and picks the latest month and year in the slug.
  On the edition page it takes the csv (else zip) on ``files.digital.nhs.uk`` whose name says
  ``learning-disabilities-health-check-scheme`` or ``ldhc``. The file name comes from NHS
  Digital's own pipeline (NHSDigital/ldhc_publication, ``pipeline/output/write_LDHC_monthly.py``:
  ``learning-disabilities-health-check-scheme-eng-<%b-%Y>.csv``, e.g. ``…-eng-Mar-2026.csv``).
  The live pages were not fetched while writing this (no network); the fixtures imitate them.
- Local files (``--from DIR``): ``learning-disabilities-health-check-scheme-eng-*.csv|zip``.
  ``../shared/data/nhsd/ld-health-checks`` holds only the data dictionary, the indicator to
  measure map and ``LDHC_participation_totals.xlsx``, which is the pipeline's placeholder (one
  row of the word ``test``), not a published table; so ``--from`` there ends "skipped".

Layout (``LAYOUTS``), from the same repository (``pipeline/processing/original_mapping.py``
``headings``, ``format.py``, ``registers.py``, ``original_suppression.py``) and the data
dictionary ``LDHC Data Dictionary_Python_only.xlsx``: one row per practice, indicator and
measure, 18 columns ``QUALITY_SERVICE, PRACTICE_CODE, PRACTICE_NAME, PCN_ODS_CODE, PCN_NAME,
ONS_SUB_ICB_LOC_CODE, SUB_ICB_LOC_CODE, SUB_ICB_LOC_NAME, ONS_ICB_CODE, ICB_CODE, ICB_NAME,
ONS_COMM_REGION_CODE, COMM_REGION_CODE, COMM_REGION_NAME, ACH_DATE, IND_CODE, MEASURE, VALUE``.
``ACH_DATE`` is ``YYYYMMDD`` (the end of the reporting period). Measures: ``Count`` (LDHC021, and
the registers ``LD_REG_1417`` / ``LD_REG_18OV`` = Denominator + HLTHCHKDEC of LDHCMI034 /
LDHCMI035), ``Numerator``, ``Denominator`` and the personalised care adjustment ``HLTHCHKDEC``
(declined) for LDHCMI034-037; exclusions are not published. Older (pre 2022-23) count layouts
and any other column set fail with the missing and unexpected columns listed.

Quirks and decisions:
- ``*`` = suppressed: NHS Digital stars the Denominator and HLTHCHKDEC where the Denominator is
  under 2 and HLTHCHKDEC is above 0, never the Numerator or the register. Percentages are
  therefore Numerator / register, summed over practices (a pooled rate). Should a practice's
  numerator or register ever be a symbol or missing, the area's value, numerator and
  denominator are NULL and its status is ``*`` (``missing`` if no symbol): a sum over the other
  practices would look complete and be too low, so none is given; a note counts such areas.
- Geography is NHS Digital's mapping of each practice at the time: sub-ICB location, ICB and NHS
  commissioning region by ODS code, area codes ``sub_icb:<ODS>``, ``icb:<ODS>``,
  ``nhs_region:<ODS>`` as nhsd_mhsds writes them, England ``E92000001`` (the sum of all
  practices). Areas are written with ``replace_by = {"areas": "area_code"}``: only the codes in
  this file are replaced, so this dataset never deletes nhsd_mhsds's rows, and nhsd_mhsds (which
  replaces by code too) never deletes this dataset's.
  A practice without a sub-ICB/ICB/region code is counted in England only and reported in
  ``unmatched_areas``. Practice rows are kept only in the raw table.
"""

from __future__ import annotations

import logging
import re
import zlib
from datetime import date
from pathlib import PurePosixPath
from urllib.parse import unquote, urljoin, urlparse

import pandas as pd
from bs4 import BeautifulSoup

from sendbench import csvread
from sendbench.areas import AREA_COLUMNS, ENGLAND_CODE
from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import (
    OBSERVATION_COLUMNS,
    BaseHarvester,
    FileRef,
    HarvestContext,
    Parsed,
    Release,
    check_columns,
    empty_observations,
)
from sendbench.harvesters.nhsd.mhsds import DATES, SITE, file_links, period_label
from sendbench.http import HttpClient, RawFile, open_zip
from sendbench.normalise import is_suppressed, parse_values

log = logging.getLogger(__name__)

LAYOUTS: dict[str, list[str]] = {
    "practice-long-2022": [
        "QUALITY_SERVICE", "PRACTICE_CODE", "PRACTICE_NAME", "PCN_ODS_CODE", "PCN_NAME",
        "ONS_SUB_ICB_LOC_CODE", "SUB_ICB_LOC_CODE", "SUB_ICB_LOC_NAME", "ONS_ICB_CODE",
        "ICB_CODE", "ICB_NAME", "ONS_COMM_REGION_CODE", "COMM_REGION_CODE", "COMM_REGION_NAME",
        "ACH_DATE", "IND_CODE", "MEASURE", "VALUE",
    ],
}  # fmt: skip
# area_type -> (code column, name column); England is every practice.
LEVELS = {
    "sub_icb": ("SUB_ICB_LOC_CODE", "SUB_ICB_LOC_NAME"),
    "icb": ("ICB_CODE", "ICB_NAME"),
    "nhs_region": ("COMM_REGION_CODE", "COMM_REGION_NAME"),
}
DATE_FORMATS = ("%Y%m%d", "%d/%m/%Y", "%Y-%m-%d", "%d%b%Y")
LDHC_FILE = re.compile(r"learning[-_ %20]*disabilit(?:y|ies)[-_ ]*health[-_ ]*check|ldhc", re.I)
MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december")  # fmt: skip


class Harvester(BaseHarvester):
    """LDHC: practice rows kept raw; health-check shares and registers by NHS area."""

    def find_release(self, http: HttpClient) -> Release:
        landing = self.dataset.landing_page
        edition_url, title = latest_edition(http.get_text(landing, dataset=self.id), landing)
        if edition_url is None:
            raise HarvestError(
                self.id, "the publication page links no edition; check the landing page", landing
            )
        url = pick_file(file_links(http.get_text(edition_url, dataset=self.id), edition_url))
        if url is None:
            raise HarvestError(
                self.id,
                "the latest edition page links no learning disabilities health check csv or zip "
                "on files.digital.nhs.uk; check the page and this harvester",
                edition_url,
            )
        name = _basename(url)
        expect = "zip" if name.lower().endswith(".zip") else "csv"
        ref = FileRef(key="release", filename=name, url=url, expect=expect)
        return Release(label=release_label(name) or title, files=[ref], url=edition_url)

    def local_release_label(self, refs: list[FileRef]) -> str:
        return release_label(refs[0].filename) or "local"

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None or context.resolver.resolve(code=ENGLAND_CODE) is None:
            raise HarvestError(self.id, "the areas table has no England: refresh dfe_areas first")
        raw = files["release"]
        frame = read_file(raw, self.id)
        layout = match_layout(frame.columns, self.id, raw)
        parsed = Parsed(replace_by={"areas": "area_code"})
        parsed.notes.append(f"{raw.filename}: layout {layout}, {len(frame):,} rows")
        parsed.raw_tables[f"raw_{self.id}_data"] = frame
        cells = practice_cells(frame, self.id, raw)
        parsed.tables["areas"] = nhs_areas(cells)
        _report_unmapped(cells, parsed)
        parts = [self._indicator(ind, cells, release.label, parsed) for ind in self.indicators()]
        parts = [p for p in parts if p is not None]
        parsed.observations = (
            pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS]
            if parts
            else empty_observations()
        )
        return parsed

    def _indicator(self, ind, cells: pd.DataFrame, label: str, parsed: Parsed):
        if ind.numerator:
            specs = {"numerator": ind.numerator, "denominator": ind.denominator}
        else:
            specs = {"value": f"{ind.filter['IND_CODE']}/{ind.filter['MEASURE']}"}
        wanted = set(specs.values())
        rows = cells[cells["key"].isin(wanted)]
        if rows.empty:
            parsed.notes.append(f"{ind.id}: no rows for {' or '.join(sorted(wanted))}")
            return None
        frames = [_aggregate(cells, specs, area_type) for area_type in (*LEVELS, "country")]
        out = pd.concat([f for f in frames if not f.empty], ignore_index=True)
        if "numerator" in specs:
            den = out["denominator"].where(out["denominator"] != 0)
            out["value"] = 100 * out["numerator"] / den
            out.loc[out["status"].isna() & den.isna(), "status"] = "z"  # empty register
        held = int(out["status"].notna().sum())
        if held:
            parsed.notes.append(
                f"{ind.id}: {held} area-periods have no value: a practice's "
                f"{' or '.join(sorted(wanted))} is suppressed or missing (or the register is 0)"
            )
        return _observations(out, ind.id, self.id, label)


def latest_edition(html: str, landing: str) -> tuple[str | None, str]:
    """The URL and link text of the newest edition linked from the landing page."""
    soup = BeautifulSoup(html, "html.parser")
    series = urlparse(landing).path.rstrip("/")
    found = []
    for a in soup.find_all("a", href=True):
        url = urljoin(SITE, a["href"].strip())
        path = urlparse(url).path.rstrip("/")
        slug = path[len(series) + 1 :] if path.startswith(series + "/") else ""
        text = " ".join(a.get_text(" ", strip=True).split())
        if slug and "/" not in slug and _edition_key(slug) and "upcoming" not in text.lower():
            found.append((url, text, "cta__button" in (a.get("class") or [])))
    if any(cta for *_, cta in found):
        found = [f for f in found if f[2]]
    if not found:
        return None, ""
    url, text, _ = max(found, key=lambda f: _edition_key(urlparse(f[0]).path))  # first of ties
    return url, text


def _edition_key(slug: str) -> tuple[int, int] | None:
    """(year, month) from ``england-april-2026``; (year, 0) when only a year is given."""
    slug = slug.lower()
    dated = re.search(rf"({'|'.join(MONTHS)})-((?:19|20)\d\d)", slug)
    if dated:
        return int(dated.group(2)), MONTHS.index(dated.group(1)) + 1
    years = re.findall(r"(?:19|20)\d\d", slug)
    return (int(max(years)), 0) if years else None


def pick_file(urls: list[str]) -> str | None:
    """The LDHC csv if linked, else an LDHC zip, else None."""
    named = [u for u in urls if LDHC_FILE.search(_basename(u))]
    for suffix in (".csv", ".zip"):
        for url in named:
            if _basename(url).lower().endswith(suffix):
                return url
    return None


def release_label(name: str) -> str | None:
    """``…-eng-Mar-2026.csv`` → ``2026-03``."""
    found = re.search(r"[-_ ]([A-Za-z]{3})[A-Za-z]*[-_ ]((?:19|20)\d\d)\b", name)
    if not found:
        return None
    short = [m[:3] for m in MONTHS]
    month = found.group(1).lower()
    return f"{found.group(2)}-{short.index(month) + 1:02d}" if month in short else None


def read_file(raw: RawFile, dataset: str) -> pd.DataFrame:
    """The published CSV (plain or the LDHC csv inside a zip) as text; empty cells stay ``""``."""
    try:
        with raw.path.open("rb") as fh:
            is_zip = fh.read(4) == b"PK\x03\x04"
        options = {"dataset": dataset, "file": raw.filename, "source": raw.source, "dtype": str,
                   "keep_default_na": False, "encoding": "utf-8-sig"}  # fmt: skip
        if is_zip:
            with open_zip(raw.path, dataset=dataset, source=raw.source) as archive:
                csvs = [n for n in archive.names() if n.lower().endswith(".csv")]
                chosen = [n for n in csvs if LDHC_FILE.search(n)] or csvs
                if not chosen:
                    raise BadFileError(dataset, f"{raw.filename} holds no csv file", raw.source)
                with archive.opener(chosen[0])() as stream:  # streamed, within the table budget
                    frame = csvread.read_chunked(stream, **options)
        else:
            with raw.path.open("rb") as stream:
                frame = csvread.read_chunked(stream, **options)
    except (OSError, zlib.error, UnicodeDecodeError, ValueError, pd.errors.ParserError) as exc:
        msg = f"{raw.filename} is not a readable CSV: {exc}"
        raise BadFileError(dataset, msg, raw.source) from exc
    return frame.rename(columns=lambda c: c.strip())


def match_layout(columns, dataset: str, raw: RawFile) -> str:
    """The name of the layout the columns fit; LayoutError naming the closest one's differences."""
    columns = list(columns)
    for name, expected in LAYOUTS.items():
        if all(c in columns for c in expected):
            extra = check_columns(columns, expected, dataset=dataset, file=raw.filename)
            if extra:
                log.info("%s: %s has extra columns %s", dataset, raw.filename, extra)
            return name
    expected = min(LAYOUTS.values(), key=lambda cols: len(set(cols) ^ set(columns)))
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected]
    raise LayoutError(dataset, raw.filename, missing, unexpected, raw.source)


def practice_cells(frame: pd.DataFrame, dataset: str, raw: RawFile) -> pd.DataFrame:
    """The file with stripped codes, ``end`` / ``start`` ISO dates (financial year to date) and
    ``key`` = ``IND_CODE/MEASURE``; a repeated practice, date and key is an error."""
    cells = frame.apply(lambda col: col.str.strip())
    dates = {v: _iso_date(v, dataset, raw) for v in cells["ACH_DATE"].unique()}  # a few
    cells["end"] = cells["ACH_DATE"].map(dates)
    cells["start"] = cells["end"].map({d: _financial_year_start(d) for d in dates.values()})
    cells["key"] = cells["IND_CODE"] + "/" + cells["MEASURE"]
    repeated = cells.duplicated(["PRACTICE_CODE", "end", "key"])
    if repeated.any():
        first = cells[repeated].iloc[0]
        msg = (
            f"{raw.filename}: {int(repeated.sum())} rows repeat a practice, date and measure "
            f"(first: {first['PRACTICE_CODE']} {first['key']} {first['ACH_DATE']}); not summed"
        )
        raise BadFileError(dataset, msg, raw.source)
    return cells


def _iso_date(value: str, dataset: str, raw: RawFile) -> str:
    for fmt in DATE_FORMATS:
        try:
            return pd.to_datetime(value, format=fmt).date().isoformat()
        except ValueError:
            continue
    raise BadFileError(dataset, f"{raw.filename}: ACH_DATE {value!r} is not a date", raw.source)


def _financial_year_start(end: str) -> str:
    day = date.fromisoformat(end)
    return f"{day.year if day.month >= 4 else day.year - 1}-04-01"


def _aggregate(rows: pd.DataFrame, specs: dict[str, str], area_type: str) -> pd.DataFrame:
    """Sum each spec's practice values by area and period; a symbol, an empty cell or a practice
    in the file without the row makes the area's sums NULL and its status ``*`` (or
    ``missing``)."""
    if area_type == "country":
        rows = rows.assign(area_code=ENGLAND_CODE, source=ENGLAND_CODE)
    else:
        code = rows[LEVELS[area_type][0]]
        rows = rows[code != ""].assign(area_code=f"{area_type}:" + code, source=code)
    if rows.empty:
        return pd.DataFrame()
    group = ["area_code", "source", "end", "start"]
    index = ["PRACTICE_CODE", *group]
    every = pd.MultiIndex.from_frame(rows[index].drop_duplicates())
    needed = rows[rows["key"].isin(set(specs.values()))]
    wide = needed.pivot(index=index, columns="key", values="VALUE").reindex(every)
    sums, gaps, symbols = {}, [], []
    for name, key in specs.items():
        text = wide[key] if key in wide.columns else pd.Series("", index=wide.index)
        value, status = parse_values(text.fillna(""))
        by_area = pd.DataFrame(
            {"value": value, "gap": status.notna(), "symbol": status.map(is_suppressed)}
        ).groupby(level=group)
        sums[name] = by_area["value"].sum()
        gaps.append(by_area["gap"].any())
        symbols.append(by_area["symbol"].any())
    out = pd.DataFrame(sums)
    bad = pd.concat(gaps, axis=1).any(axis=1)
    out.loc[bad, list(specs)] = float("nan")
    out["status"] = None
    out.loc[bad, "status"] = "missing"
    out.loc[pd.concat(symbols, axis=1).any(axis=1), "status"] = "*"
    return out.reset_index()


def _observations(out: pd.DataFrame, ind_id: str, dataset: str, label: str) -> pd.DataFrame:
    nan = float("nan")
    return pd.DataFrame(
        {
            "indicator_id": ind_id,
            "area_code": out["area_code"],
            "period": [period_label(s, e) for s, e in zip(out["start"], out["end"], strict=True)],
            "breakdown": "Total",
            "value": out["value"],
            "numerator": out.get("numerator", nan),
            "denominator": out.get("denominator", nan),
            "status": out["status"].astype(object).where(out["status"].notna(), None),
            "period_start": out["start"],
            "period_end": out["end"],
            "dataset_id": dataset,
            "release": label,
            "source_area_code": out["source"],
            "flag": None,
        }
    )


def nhs_areas(cells: pd.DataFrame) -> pd.DataFrame:
    """One ``areas`` row per sub-ICB, ICB and region code, named as at the latest ACH_DATE."""
    rows = []
    latest = cells.sort_values("end")
    for area_type, (code_col, name_col) in LEVELS.items():
        named = latest[latest[code_col] != ""].drop_duplicates(code_col, keep="last")
        start, end = DATES.get(area_type, (None, None))
        status = "terminated" if end else ("live" if start else None)
        for code, name in zip(named[code_col], named[name_col], strict=True):
            area = f"{area_type}:{code}"
            values = (area, name or code, area_type, None, None, start, end, None, status,
                      "", "", area)  # fmt: skip
            rows.append(dict(zip(AREA_COLUMNS, values, strict=True)))
    return pd.DataFrame(rows, columns=AREA_COLUMNS, dtype=object)


def _report_unmapped(cells: pd.DataFrame, parsed: Parsed) -> None:
    for area_type, (code_col, _) in LEVELS.items():
        blank = cells[cells[code_col] == ""]
        if not blank.empty:
            practices = sorted(blank["PRACTICE_CODE"].unique())
            parsed.unmatched_areas.append(
                f"{len(practices)} practice(s) with no {code_col} ({', '.join(practices[:10])}): "
                f"counted in England, in no {area_type}; kept in the raw table"
            )


def _basename(url: str) -> str:
    return unquote(PurePosixPath(urlparse(url).path).name)
