"""NHS Digital: Mental Health Services Monthly Statistics (MHSDS), children and young people.

- Publisher: NHS Digital (now NHS England). Publication: "Mental Health Services Monthly
  Statistics", from the Mental Health Services Data Set (MHSDS).
- Landing page: https://digital.nhs.uk/data-and-information/publications/statistical/mental-health-services-monthly-statistics
- Cadence: monthly (each edition: "Performance <month>, Provisional <next month> <year>").
- Latest release: the landing page lists its editions as ``a.cta__button`` links, newest first;
  each edition page lists its files as ``a.nhsd-a-box-link`` links to
  ``files.digital.nhs.uk/<changing path>/<name>.csv|zip``. That structure is the one the Health
  Foundation's MHSDS pipeline scrapes (HFAnalyticsLab/sg-peytrignet "MHSDS-pipeline", R:
  ``//a[contains(@class,'cta__button')]`` then ``//a[contains(@class,'nhsd-a-box-link')]``,
  file patterns ``MHSDS%20Data_<Mon>``); the time-series file is published as
  ``files.digital.nhs.uk/…/MHSDS%20Time_Series_data.zip`` (a URL quoted in a public repository's
  tests). sendbench takes the first edition link and, on it, the time-series file (csv or zip), or
  else the edition's main ``MHSDS Data`` csv, which has the same 11-column layout. Any anchor whose
  href is under the series path or on files.digital.nhs.uk is accepted, so a class rename does
  not break discovery. The live pages were not fetched while writing this (no network): the
  fixtures imitate that structure.
- Local files (``--from DIR``): ``MHSDS*Time*Series*.csv.gz`` (as saved in ../shared/data,
  ``MHSDS_Time_Series_data_Apr_2016_NovPrf_2022.csv.gz``), ``.csv`` or ``.zip``. Gzip, zip and
  plain CSV are told apart by their first bytes, not their names.

Layout (``LAYOUTS``): long, 11 columns ``REPORTING_PERIOD_START, REPORTING_PERIOD_END, STATUS,
BREAKDOWN, PRIMARY_LEVEL, PRIMARY_LEVEL_DESCRIPTION, SECONDARY_LEVEL,
SECONDARY_LEVEL_DESCRIPTION, MEASURE_ID, MEASURE_NAME, MEASURE_VALUE``; dates dd/mm/yyyy. Older
wide monthly files (``REPORTING_PERIOD`` plus one column per measure) are not read: they fail
with the missing and unexpected columns listed.

Quirks (Apr 2016 to Nov 2022 performance file, 465,927 rows, 46 measures):
- ``*`` = suppressed (never zero; kept as ``status``). Counts are rounded to the nearest 5 and
  percentages are computed from unrounded counts, so value != numerator / denominator exactly.
- ``STATUS`` is ``Performance`` (first publication, revised later: flag ``provisional``) or
  ``Final`` (flag ``final``).
- ``MEASURE_NAME`` changes spelling over time (``ED86 - Referrals…`` and ``Referrals…``).
- Geography is NHS, never LA: England, NHS region (``Y56``…), STP then ICB (from July 2022, the
  same ODS codes, e.g. ``QE1``), CCG then sub-ICB location (same ODS codes, e.g. ``00L``),
  provider (ODS codes; councils that provide services have 3-digit codes such as ``417``).
  Sub-ICB/CCG rows are "of Residence" for some measures and "GP Practice or Residence" for others
  (one method per measure). ``UNKNOWN`` codes are not areas: reported, kept in the raw table.
- Each geography is kept at its own level in ``areas`` with a type-prefixed code (``icb:QE1``,
  ``stp:QE1``, ``sub_icb:00L``, ``ccg:00L``, ``provider:RX4``, ``nhs_region:Y56``) because STP
  and ICB share codes and provider codes clash with nothing else only by luck. England is
  ``E92000001``. No CCG→sub-ICB or STP→ICB links are asserted, and there is no LA view: no
  published sub-ICB↔LA lookup is shipped (see the catalogue notes).
- England rows stop at July 2022 in this file; sub-national rows run to November 2022.
- Periods: a calendar month (MHS24a-c, labelled ``2022-11``), a rolling quarter (ED86/ED87,
  MHS104a/105a) or 12 months (MHS95), labelled ``2021-12 to 2022-11``; ``period_start`` and
  ``period_end`` are the published dates.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from datetime import date, timedelta
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
from sendbench.http import HttpClient, RawFile, open_zip
from sendbench.normalise import parse_values

log = logging.getLogger(__name__)

SITE = "https://digital.nhs.uk"
FILES_HOST = "files.digital.nhs.uk"
LAYOUTS: dict[str, list[str]] = {
    "long-11": [
        "REPORTING_PERIOD_START", "REPORTING_PERIOD_END", "STATUS", "BREAKDOWN", "PRIMARY_LEVEL",
        "PRIMARY_LEVEL_DESCRIPTION", "SECONDARY_LEVEL", "SECONDARY_LEVEL_DESCRIPTION",
        "MEASURE_ID", "MEASURE_NAME", "MEASURE_VALUE",
    ],
}  # fmt: skip
# BREAKDOWN (geography only) -> area_type; other breakdowns ("England; Age"…) stay raw only.
GEOGRAPHIES = {
    "england": "country",
    "region": "nhs_region",
    "stp": "stp",
    "icb": "icb",
    "ccg of residence": "ccg",
    "ccg - gp practice or residence": "ccg",
    "sub icb of residence": "sub_icb",
    "sub icb - gp practice or residence": "sub_icb",
    # Autism statistics (from July 2022): one label for the CCG's successor, the sub-ICB location.
    "ccg or sub icb location - gp practice or residence": "sub_icb",
    "provider": "provider",
    "provider of responsibility": "provider",
}
# Health and Care Act 2022: ICBs (and sub-ICB locations) replaced STPs and CCGs on 1 July 2022.
NHS_REFORM = "2022-07-01"
DATES = {"ccg": (None, "2022-06-30"), "stp": (None, "2022-06-30"),
         "icb": (NHS_REFORM, None), "sub_icb": (NHS_REFORM, None)}  # fmt: skip
FLAGS = {"performance": "provisional", "provisional": "provisional", "final": "final",
         "end of year final": "final",
         "latest available data": None}  # autism statistics: no standing stated  # fmt: skip
NOT_AN_AREA = {"UNKNOWN", ""}
AREA_SOURCE = ["BREAKDOWN", "PRIMARY_LEVEL", "PRIMARY_LEVEL_DESCRIPTION", "SECONDARY_LEVEL",
               "REPORTING_PERIOD_END"]  # fmt: skip
TIME_SERIES = re.compile(r"time[\s_-]*series", re.IGNORECASE)
MAIN_DATA = re.compile(r"^MHSDS[\s_]+Data_", re.IGNORECASE)
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")


class Harvester(BaseHarvester):
    """MHSDS monthly: NHS geographies into ``areas``, CYP measures into ``observations``."""

    layouts: dict[str, list[str]] = LAYOUTS
    # The edition's data file: the first link whose name matches, trying each pattern in turn.
    edition_files: tuple[re.Pattern, ...] = (TIME_SERIES, MAIN_DATA)
    what = "MHSDS time-series or 'MHSDS Data' csv/zip"

    def read(self, raw: RawFile) -> tuple[pd.DataFrame, str]:
        """The file as text columns and the name of the layout (of ``layouts``) it matches."""
        frame = read_file(raw, self.id)
        return frame, match_layout(frame.columns, self.id, raw, self.layouts)

    def find_release(self, http: HttpClient) -> Release:
        landing = self.dataset.landing_page
        edition_url, edition_title = self._latest_edition(http, landing)
        html = http.get_text(edition_url, dataset=self.id)
        url = pick_file(file_links(html, edition_url), self.edition_files)
        if url is None:
            raise HarvestError(
                self.id,
                f"the latest edition page links no {self.what} on "
                f"{FILES_HOST}; check the page and this harvester",
                edition_url,
            )
        name = basename(url)
        expect = "zip" if name.lower().endswith(".zip") else "csv"
        label = release_label(name) or edition_title
        ref = FileRef(key="release", filename=name, url=url, expect=expect)
        return Release(label=label, files=[ref], url=edition_url)

    def _latest_edition(self, http: HttpClient, landing: str) -> tuple[str, str]:
        soup = BeautifulSoup(http.get_text(landing, dataset=self.id), "html.parser")
        series = urlparse(landing).path.rstrip("/")
        links = [a for a in soup.find_all("a", href=True) if _is_edition(a["href"], series)]
        links.sort(key=lambda a: "cta__button" not in (a.get("class") or []))  # stable sort
        if not links:
            raise HarvestError(
                self.id, "the publication page links no edition; check the landing page", landing
            )
        first = links[0]
        return urljoin(SITE, first["href"]), " ".join(first.get_text(" ", strip=True).split())

    def local_release_label(self, refs: list[FileRef]) -> str:
        return release_label(refs[0].filename) or "local"

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        raw = files["release"]
        frame, layout = self.read(raw)
        # Replaced by code, as nhsd_ldhc does: neither NHS dataset removes the other's areas.
        parsed = Parsed(replace_by={"areas": "area_code"})
        parsed.notes.append(f"{raw.filename}: layout {layout}, {len(frame):,} rows")
        parsed.raw_tables[f"raw_{self.id}_data"] = frame  # the whole file, every measure
        parsed.tables["areas"] = nhs_areas(frame[AREA_SOURCE].drop_duplicates())
        if context.resolver.resolve(code=ENGLAND_CODE) is None:
            raise HarvestError(self.id, f"{ENGLAND_CODE} is not in the areas table")
        needed = frame[frame["MEASURE_ID"].str.strip().isin(self.measures())]  # early, small
        geo = _geography_rows(needed, parsed)
        parsed.observations = self._observations(geo, release.label, parsed)
        return parsed

    def measures(self) -> set[str]:
        """MEASURE_IDs the catalogue's indicators read: values, numerators and denominators."""
        found = set()
        for ind in self.indicators():
            found.add(ind.filter.get("MEASURE_ID"))
            for spec in (ind.numerator, ind.denominator):
                found.update(m.strip() for m in (spec or "").split("+") if m.strip())
        return found

    def _observations(self, geo: pd.DataFrame, label: str, parsed: Parsed) -> pd.DataFrame:
        parts = []
        for ind in self.indicators():
            measure = ind.filter.get("MEASURE_ID")
            rows = geo[geo["MEASURE_ID"] == measure]
            if rows.empty:
                parsed.notes.append(f"{ind.id}: no rows for measure {measure}")
                continue
            parts.append(_indicator_rows(ind, rows, geo, self.id, label, parsed))
        if not parts:
            return empty_observations()
        return pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS]


def _is_edition(href: str, series: str) -> bool:
    path = urlparse(urljoin(SITE, href)).path.rstrip("/")
    rest = path[len(series) :].strip("/") if path.startswith(series + "/") else ""
    return bool(rest) and "/" not in rest  # an edition, not a sub-page of one


def file_links(html: str, base: str) -> list[str]:
    """Every link on an edition page to a csv or zip on files.digital.nhs.uk, in page order."""
    soup = BeautifulSoup(html, "html.parser")
    out = []
    for a in soup.find_all("a", href=True):
        url = urljoin(base, a["href"].strip())
        parts = urlparse(url)
        is_data = parts.netloc == FILES_HOST and parts.path.lower().endswith((".csv", ".zip"))
        if is_data and url not in out:
            out.append(url)
    return out


def pick_file(urls: list[str], patterns=(TIME_SERIES, MAIN_DATA)) -> str | None:
    """The first link whose file name matches the first pattern that any matches (MHSDS: the
    time-series file if linked, else the main ``MHSDS Data`` csv), else None."""
    for wanted in patterns:
        found = [u for u in urls if wanted.search(basename(u))]
        if found:
            return found[0]
    return None


def release_label(name: str) -> str | None:
    """``…_Apr_2016_NovPrf_2022.csv.gz`` → ``2022-11``: the last month and year in a file name."""
    matches = list(re.finditer(r"_([A-Za-z]{3})[A-Za-z]*?(?:Prf|Fnl|Prv)?_((?:19|20)\d\d)", name))
    for found in reversed(matches):
        month = found.group(1).lower()
        if month in MONTHS:
            return f"{found.group(2)}-{MONTHS.index(month) + 1:02d}"
    return None


def read_file(raw: RawFile, dataset: str) -> pd.DataFrame:
    """The published CSV as text columns, from a gzip, a zip (its time-series or only csv) or
    a plain file; empty cells stay ``""``."""
    with raw.path.open("rb") as fh:
        head = fh.read(4)
    try:
        if head[:2] == b"\x1f\x8b":  # streamed: the 87 MB of text is never held whole
            with gzip.open(raw.path, "rb") as stream:
                return _read_csv(stream, raw, dataset)
        if head == b"PK\x03\x04":
            with (
                open_zip(raw.path, dataset=dataset, source=raw.source) as archive,
                _zip_member(archive, raw, dataset)() as stream,
            ):
                return _read_csv(stream, raw, dataset)
        with raw.path.open("rb") as stream:
            return _read_csv(stream, raw, dataset)
    except (OSError, EOFError, zlib.error) as exc:
        msg = f"{raw.filename} is not a readable gzip file (truncated?): {exc}"
        raise BadFileError(dataset, msg, raw.source) from exc
    except (ValueError, pd.errors.ParserError) as exc:
        msg = f"{raw.filename} is not a readable CSV: {exc}"
        raise BadFileError(dataset, msg, raw.source) from exc


def _read_csv(stream, raw: RawFile, dataset: str) -> pd.DataFrame:
    """Parsed in chunks within the memory a table may use (``sendbench.csvread``)."""
    return csvread.read_chunked(stream, dataset=dataset, file=raw.filename, source=raw.source,
                                dtype=str, keep_default_na=False, encoding="utf-8-sig")  # fmt: skip


def _zip_member(archive, raw: RawFile, dataset: str):
    """The time-series csv of a zip (else its only csv), to be opened as a stream."""
    csvs = [n for n in archive.names() if n.lower().endswith(".csv")]
    chosen = [n for n in csvs if TIME_SERIES.search(n)] or csvs
    if not chosen:
        raise BadFileError(dataset, f"{raw.filename} holds no csv file", raw.source)
    return archive.opener(chosen[0])


def match_layout(
    columns, dataset: str, raw: RawFile, layouts: dict[str, list[str]] | None = None
) -> str:
    """The name of the layout whose columns the file has; LayoutError listing the differences
    from the closest layout otherwise."""
    layouts = layouts or LAYOUTS
    columns = [c.strip() for c in columns]
    best = min(layouts, key=lambda k: len(set(layouts[k]) ^ set(columns)))
    for name, expected in layouts.items():
        if all(c in columns for c in expected):
            extra = check_columns(columns, expected, dataset=dataset, file=raw.filename)
            if extra:
                log.info("%s: %s has extra columns %s", dataset, raw.filename, extra)
            return name
    expected = layouts[best]
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected]
    raise LayoutError(dataset, raw.filename, missing, unexpected, raw.source)


def _geography_rows(frame: pd.DataFrame, parsed: Parsed) -> pd.DataFrame:
    """Rows at one NHS geography (no secondary split), with area_type, area_code and dates."""
    kind = frame["BREAKDOWN"].str.strip().str.lower().map(GEOGRAPHIES)
    whole = frame["SECONDARY_LEVEL"].str.strip().str.upper().isin(["NONE", ""])
    geo = frame[kind.notna() & whole].copy()
    geo["area_type"] = kind[geo.index]
    code = geo["PRIMARY_LEVEL"].str.strip()
    known = ~code.str.upper().isin(NOT_AN_AREA) | (geo["area_type"] == "country")
    for (breakdown, value), n in geo[~known].groupby(["BREAKDOWN", "PRIMARY_LEVEL"]).size().items():
        parsed.unmatched_areas.append(
            f"{breakdown} {value or '(blank)'}: {n} rows not filed to an area (kept in raw)"
        )
    geo = geo[known]
    geo["area_code"] = (geo["area_type"] + ":" + code[geo.index]).where(
        geo["area_type"] != "country", ENGLAND_CODE
    )
    geo["start"] = _iso_dates(geo["REPORTING_PERIOD_START"])
    geo["end"] = _iso_dates(geo["REPORTING_PERIOD_END"])
    return geo


def _iso_dates(values: pd.Series) -> pd.Series:
    parsed = pd.to_datetime(values.str.strip(), format="%d/%m/%Y", errors="coerce")
    if parsed.isna().any():
        bad = values[parsed.isna()].iloc[0]
        raise HarvestError("nhsd_mhsds", f"reporting period date {bad!r} is not dd/mm/yyyy")
    return parsed.dt.strftime("%Y-%m-%d")


def nhs_areas(frame: pd.DataFrame) -> pd.DataFrame:
    """One ``areas`` row per NHS geography code in ``frame`` (columns ``AREA_SOURCE``), named as
    in its latest period; England and ``UNKNOWN`` codes are not NHS areas."""
    geo = frame.assign(area_type=frame["BREAKDOWN"].str.strip().str.lower().map(GEOGRAPHIES))
    whole = geo["SECONDARY_LEVEL"].str.strip().str.upper().isin(["NONE", ""])
    code = geo["PRIMARY_LEVEL"].str.strip()
    keep = whole & geo["area_type"].notna() & (geo["area_type"] != "country")
    geo = geo[keep & ~code.str.upper().isin(NOT_AN_AREA)]
    geo = geo.assign(
        area_code=geo["area_type"] + ":" + code[geo.index],
        end=_iso_dates(geo["REPORTING_PERIOD_END"]),
    )
    nhs = geo.sort_values("end")
    latest = nhs.drop_duplicates("area_code", keep="last")
    rows = []
    for rec in latest[["area_code", "area_type", "PRIMARY_LEVEL_DESCRIPTION"]].itertuples():
        start, end = DATES.get(rec.area_type, (None, None))
        status = "terminated" if end else ("live" if start else None)
        rows.append(dict(zip(AREA_COLUMNS, (
            rec.area_code, rec.PRIMARY_LEVEL_DESCRIPTION.strip(), rec.area_type, None, None,
            start, end, None, status, "", "", rec.area_code,
        ), strict=True)))  # fmt: skip
    return pd.DataFrame(rows, columns=AREA_COLUMNS, dtype=object)


def period_label(start: str, end: str) -> str:
    """``2022-11`` for a calendar month, ``2021-12 to 2022-11`` for a longer period."""
    first, last = date.fromisoformat(start), date.fromisoformat(end)
    month_end = (last.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    same_month = (first.year, first.month) == (last.year, last.month)
    if first.day == 1 and last == month_end and same_month:
        return end[:7]
    return f"{start[:7]} to {end[:7]}"


def _indicator_rows(ind, rows, geo, dataset: str, label: str, parsed: Parsed) -> pd.DataFrame:
    key = ["area_code", "start", "end"]
    rows = _one_per_area(rows, key, ind.id, parsed)
    value, status = parse_values(rows["MEASURE_VALUE"])
    out = pd.DataFrame(
        {
            "indicator_id": ind.id,
            "area_code": rows["area_code"].values,
            "period": [period_label(s, e) for s, e in zip(rows["start"], rows["end"], strict=True)],
            "breakdown": "Total",
            "value": value.values,
            "numerator": _sum_of(ind.numerator, rows, geo, key),
            "denominator": _sum_of(ind.denominator, rows, geo, key),
            "status": status.values,
            "period_start": rows["start"].values,
            "period_end": rows["end"].values,
            "dataset_id": dataset,
            "release": label,
            "source_area_code": rows["PRIMARY_LEVEL"].str.strip().values,
            "flag": rows["STATUS"].str.strip().str.lower().map(FLAGS).values,
        }
    )
    unknown = sorted(set(rows["STATUS"]) - {s for s in rows["STATUS"] if s.lower() in FLAGS})
    if unknown:
        parsed.notes.append(f"{ind.id}: STATUS values {unknown} are not known; flag left empty")
    return out


def _one_per_area(rows: pd.DataFrame, key: list[str], ind_id: str, parsed: Parsed):
    """Keep one row per area and period; "of Residence" wins over "GP Practice or Residence"."""
    rows = rows.assign(_gp=rows["BREAKDOWN"].str.contains("GP Practice", case=False))
    rows = rows.sort_values([*key, "_gp"])
    dupes = rows.duplicated(key)
    if dupes.any():
        parsed.notes.append(
            f"{ind_id}: {int(dupes.sum())} rows repeat an area and period under another "
            "attribution (GP Practice or Residence); the 'of Residence' row is kept"
        )
    return rows[~dupes].drop(columns="_gp")


def _sum_of(spec: str | None, rows: pd.DataFrame, geo: pd.DataFrame, key: list[str]):
    """The sum of the measures named in ``spec`` (``ED87a+ED87b``) for each row; NaN when none
    is given or any part is suppressed."""
    if not spec:
        return float("nan")
    total = pd.Series(0.0, index=rows.index)
    index = pd.MultiIndex.from_frame(rows[key])
    for measure in (m.strip() for m in spec.split("+")):
        part = geo[geo["MEASURE_ID"] == measure].drop_duplicates(key)
        values = pd.to_numeric(part["MEASURE_VALUE"], errors="coerce")
        lookup = pd.Series(values.values, index=pd.MultiIndex.from_frame(part[key]))
        total = total + pd.Series(lookup.reindex(index).values, index=rows.index)
    return total.values


def basename(url: str) -> str:
    return unquote(PurePosixPath(urlparse(url).path).name)
