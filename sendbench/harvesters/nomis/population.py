"""Nomis: ONS mid-year population estimates by single year of age, summed into SEND age bands.

- Publisher: Office for National Statistics; served by Nomis (Durham University) as dataset
  ``NM_2002_1``, "Population estimates - local authority based by single year of age".
- Landing page: https://www.nomisweb.co.uk/datasets/pestsyoala; API help:
  https://www.nomisweb.co.uk/api/v01/help.
- Cadence: annual; the estimate for 30 June of a year is published the following summer.
- Latest release: the API's own ``date=latest``. The query (catalogue ``release.query``) asks for
  England ``2092957699``, its regions (``2092957699TYPE480``) and its counties and unitary
  authorities as of April 2023 (``2092957699TYPE423``), ``gender=0`` (all persons),
  ``c_age=101...126`` (single years: 101 is ``Age 0``, 191 is ``Aged 90+``, 200 is all ages) and
  ``measures=20100`` (the count), with ``select=`` naming the columns read here.
- Paging: guests get at most 25,000 rows a request. ``find_release`` first asks for
  ``select=date_name,record_count`` with ``RecordLimit=1``: ``DATE_NAME`` labels the release and
  ``RECORD_COUNT`` (the rows the whole query has) plans the pages, each the same query with
  ``RecordOffset=0, 25000, …``. ``parse`` checks that every page but the last is full and that
  the pages add up to ``RECORD_COUNT`` (without it, the last page must come back short: the
  "stop when fewer rows come back" rule): Nomis truncates a guest's answer with HTTP 200 and no
  error. The probe's ``RecordLimit=1`` is seen in public scripts (``select=record_count&
  recordlimit=1``); were it ignored, the probe would just be a longer two-column answer.
- Local files (``--from DIR``): a saved ``NM_2002_1*.csv`` / ``nomis_population*.csv`` with the
  columns below; ../shared/data has none, so the dataset ends "skipped" there.

Where the format comes from (no Nomis response is in ../shared/data): the dataset id, the
``.data.csv`` URL, ``date=latest``, ``gender``, ``c_age=101...191``, ``measures=20100`` and
``select=`` in many public scripts (e.g. ``NM_2002_1.data.csv?geography=TYPE446&date=latest&
gender=0&c_age=200&measures=20100&select=geography_code,obs_value``); ``TYPE423`` = "local
authorities: county / unitary (as of April 2023)", the labels ``Age 0`` … ``Age 89``, ``Aged
90+``, ``All Ages`` and ``DATE_NAME`` as a year (``uk_mye.py``, a Nomis NM_2002_1 reader found with
the code search); ``TYPE480`` = regions and the ``<parent>TYPE<n>`` form (scripts querying
``2092957699TYPE449``, "nuts 2013 level 3 within England"); the full column list ``DATE …
GEOGRAPHY_CODE, GEOGRAPHY_TYPE … C_AGE, C_AGE_NAME … OBS_VALUE, OBS_STATUS, OBS_STATUS_NAME …
RECORD_OFFSET, RECORD_COUNT`` (a GSS-Cogs population notebook that pages with ``&RecordOffset=``);
``RECORD_COUNT`` and ``recordOffset`` paging in ropensci/nomisr ``R/data_download.R``; the silent
25,000-row cap (nomisr docs; the nomis-mcp server notes).

Observations: each band in the catalogue (``filter: {age_from, age_to}``) is the sum of its
single years for an area, period ``DATE_NAME`` (``2024``) with start and end 30 June. A band with
a single year missing, empty or carrying a status has no value and that status (never a zero).
Areas resolve by ONS code (``AreaResolver``): a pre-2023 county code in an older year is filed
under the current code, the published code kept in ``source_area_code``; a code the areas table
does not know is listed in ``unmatched_areas`` and its rows stay in the raw table only.
"""

from __future__ import annotations

import io
import logging
import math
import re
from pathlib import Path
from urllib.parse import urlencode

import pandas as pd

from sendbench.errors import BadFileError, HarvestError
from sendbench.harvesters.base import (
    OBSERVATION_COLUMNS,
    BaseHarvester,
    FileRef,
    HarvestContext,
    Parsed,
    Release,
    check_columns,
)
from sendbench.http import HttpClient, RawFile
from sendbench.normalise import parse_values

log = logging.getLogger(__name__)

API = "https://www.nomisweb.co.uk/api/v01/dataset"
PAGE_SIZE = 25_000  # Nomis's cap on rows per request for a guest (no API key)
# The layout asked for with select= (a layout is data: a new one is a new entry here).
LAYOUTS = {
    "nomis-v01": {
        "columns": [
            "DATE_NAME",
            "GEOGRAPHY_NAME",
            "GEOGRAPHY_CODE",
            "GEOGRAPHY_TYPE",
            "C_AGE",
            "C_AGE_NAME",
            "OBS_VALUE",
            "OBS_STATUS",
            "RECORD_COUNT",
        ],  # fmt: skip
        "required": ["DATE_NAME", "GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "C_AGE_NAME", "OBS_VALUE"],
    }
}
LAYOUT = LAYOUTS["nomis-v01"]
PROBE_COLUMNS = ["DATE_NAME", "RECORD_COUNT"]
NORMAL_STATUS = {"", "A"}  # SDMX observation status "A": a normal value
_AGE = re.compile(r"^Age (\d+)$")
_OPEN_AGE = re.compile(r"^Aged (\d+)\+$")
_PAGE = re.compile(r"^page_(\d+)$")


class Harvester(BaseHarvester):
    """Population by single year of age 0-25 for England, regions and upper-tier LAs."""

    def query(self) -> dict[str, str]:
        """The catalogue's Nomis query (without ``select`` and paging)."""
        return {str(k): str(v) for k, v in self.dataset.release["query"].items()}

    def url(self, **extra: str) -> str:
        """The ``.data.csv`` URL for the query plus ``extra`` parameters, commas left readable."""
        params = {**self.query(), **extra}
        return f"{API}/{self.dataset.release['dataset']}.data.csv?" + urlencode(params, safe=",.")

    def find_release(self, http: HttpClient) -> Release:
        probe = self.url(select=",".join(PROBE_COLUMNS).lower(), RecordLimit="1")
        text = http.get_text(probe, dataset=self.id)
        year, count = _read_probe(text, self.id, probe)
        select = ",".join(LAYOUT["columns"]).lower()
        pages = max(1, math.ceil(count / PAGE_SIZE))
        refs = [
            FileRef(
                key=f"page_{n}",
                filename=f"{self.dataset.release['dataset']}_{year}_page_{n}.csv",
                url=self.url(select=select, RecordOffset=str(n * PAGE_SIZE)),
                expect="csv",
            )
            for n in range(pages)
        ]
        log.info("%s: mid-%s, %d rows in %d page(s)", self.id, year, count, pages)
        return Release(label=year, files=refs, url=self.dataset.landing_page)

    def local_release_label(self, refs: list[FileRef]) -> str:
        return "local"

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed()
        data = self._read_pages(files, parsed)
        data = data.assign(age=_ages(data["C_AGE_NAME"], self.id, files))
        codes = data["GEOGRAPHY_CODE"].str.strip()
        area = context.resolver.resolve_many(codes)
        unknown = data.loc[area.isna(), ["GEOGRAPHY_NAME", "GEOGRAPHY_CODE"]].drop_duplicates()
        parsed.unmatched_areas = sorted(f"{n} ({c})" for n, c in unknown.itertuples(index=False))
        rows = data.assign(area_code=area)[area.notna()]
        _no_collisions(rows, self.id)
        parsed.raw_tables[f"raw_{self.id}_data"] = data.drop(columns="age")
        parsed.observations = self._observations(rows, release.label, parsed)
        return parsed

    def _read_pages(self, files: dict[str, RawFile], parsed: Parsed) -> pd.DataFrame:
        keyed = sorted(files.items(), key=lambda kv: _page_number(kv[0]))
        frames = [_read_csv(raw, self.id, parsed) for _, raw in keyed]
        data = pd.concat(frames, ignore_index=True)
        if any(_PAGE.match(key) for key, _ in keyed):
            _check_pages([len(f) for f in frames], data, self.id, keyed[-1][1].source)
        parsed.notes.append(f"{len(data)} rows in {len(frames)} page(s) of at most {PAGE_SIZE}")
        if data.empty:
            raise HarvestError(self.id, "the Nomis answer has no rows: check the query")
        return data

    def _observations(self, rows: pd.DataFrame, release: str, parsed: Parsed) -> pd.DataFrame:
        value, status = parse_values(rows["OBS_VALUE"])
        flagged = rows["OBS_STATUS"].fillna("").str.strip() if "OBS_STATUS" in rows else None
        if flagged is not None:  # a Nomis status other than "A" stands in for the number
            odd = ~flagged.isin(NORMAL_STATUS)
            status = status.where(~odd, flagged)
            value = value.where(~odd)
        singles = rows.assign(value=value, status=status)
        parts = [self._band(singles, ind, release, parsed) for ind in self.indicators()]
        parts = [p for p in parts if not p.empty]
        if not parts:
            return pd.DataFrame({c: pd.Series(dtype=object) for c in OBSERVATION_COLUMNS})
        return pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS]

    def _band(self, singles: pd.DataFrame, ind, release: str, parsed: Parsed) -> pd.DataFrame:
        first, last = int(ind.filter["age_from"]), int(ind.filter["age_to"])
        wanted = set(range(first, last + 1))
        band = singles[singles["age"].isin(wanted)]
        out = []
        keys = ["area_code", "GEOGRAPHY_CODE", "DATE_NAME"]
        for (area, source, year), group in band.groupby(keys, sort=True):
            value, status, why = _sum_band(group, wanted)
            if status is not None:
                parsed.notes.append(f"{ind.id}: {source} {year}: {why}; no value ({status})")
            period = str(year).strip()
            day = f"{period}-06-30"
            out.append({
                "indicator_id": ind.id, "area_code": area, "period": period,
                "breakdown": "Total", "value": value, "numerator": None, "denominator": None,
                "status": status, "period_start": day, "period_end": day,
                "dataset_id": self.id, "release": release, "source_area_code": source,
                "flag": None,
            })  # fmt: skip
        return pd.DataFrame(out, columns=OBSERVATION_COLUMNS)


def _read_probe(text: str, dataset: str, url: str) -> tuple[str, int]:
    """(year, record count) from the one-row probe; BadFileError if it is not Nomis CSV."""
    frame = _frame(text, dataset, "the Nomis probe", url)
    check_columns(frame.columns, PROBE_COLUMNS, dataset=dataset, file="the Nomis probe",
                  source=url)  # fmt: skip
    if frame.empty:
        raise HarvestError(dataset, "Nomis returned no rows for the query: check it", url)
    year, count = frame.iloc[0]["DATE_NAME"].strip(), frame.iloc[0]["RECORD_COUNT"].strip()
    if not re.fullmatch(r"\d{4}", year) or not count.isdigit():
        raise BadFileError(dataset, f"unexpected DATE_NAME {year!r} / RECORD_COUNT {count!r}", url)
    return year, int(count)


def _frame(text: str, dataset: str, what: str, source: str) -> pd.DataFrame:
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if head.startswith("<"):
        raise BadFileError(dataset, f"{what} is an HTML/XML page, not CSV: {head[:120]!r}", source)
    try:
        return pd.read_csv(io.StringIO(text.lstrip("\ufeff")), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BadFileError(dataset, f"{what} cannot be read as CSV: {exc}", source) from exc


def _read_csv(raw: RawFile, dataset: str, parsed: Parsed) -> pd.DataFrame:
    text = Path(raw.path).read_bytes().decode("utf-8-sig", errors="replace")
    frame = _frame(text, dataset, raw.filename, raw.source)
    unexpected = check_columns(frame.columns, LAYOUT["columns"], dataset=dataset,
                               file=raw.filename, source=raw.source,
                               required=LAYOUT["required"])  # fmt: skip
    if unexpected:
        parsed.notes.append(f"{raw.filename}: columns not in the layout kept raw: {unexpected}")
    return frame


def _page_number(key: str) -> int:
    found = _PAGE.match(key)
    return int(found.group(1)) if found else 0


def _check_pages(sizes: list[int], data: pd.DataFrame, dataset: str, source: str) -> None:
    """Every page but the last is full, and the rows add up to RECORD_COUNT (or, without it, the
    last page is short: a full last page may mean rows were left behind)."""
    for number, size in enumerate(sizes[:-1]):
        if size != PAGE_SIZE:
            msg = (f"page {number + 1} of {len(sizes)} has {size} rows, not {PAGE_SIZE}: the "
                   "answer was cut short; try again later")  # fmt: skip
            raise HarvestError(dataset, msg, source)
    counts = set(data.get("RECORD_COUNT", pd.Series(dtype=str)).str.strip()) - {""}
    if counts and counts != {str(len(data))}:
        msg = f"Nomis says RECORD_COUNT {sorted(counts)} but {len(data)} rows came back"
        raise HarvestError(dataset, msg, source)
    if not counts and sizes[-1] >= PAGE_SIZE:
        msg = f"the last page is full ({sizes[-1]} rows) and there is no RECORD_COUNT to check"
        raise HarvestError(dataset, msg + ": more rows may be missing; try again", source)


def _ages(labels: pd.Series, dataset: str, files: dict[str, RawFile]) -> pd.Series:
    """Single year of age from ``C_AGE_NAME`` (``Age 7`` → 7, ``Aged 90+`` → 90); other labels
    (``All Ages``, bands) → -1, never summed into a band. Unknown spellings fail."""
    out = {}
    for label in labels.unique():
        text = str(label).strip()
        found = _AGE.match(text) or _OPEN_AGE.match(text)
        if found:
            out[label] = int(found.group(1))
        elif text == "All Ages" or re.match(r"^Aged \d+ (to|-) \d+$", text):
            out[label] = -1
        else:
            source = next(iter(files.values())).source
            raise HarvestError(dataset, f"C_AGE_NAME {text!r} is not a known age label", source)
    return labels.map(out)


def _no_collisions(rows: pd.DataFrame, dataset: str) -> None:
    """Two published codes filed under one area for the same year and age would double count."""
    key = ["area_code", "DATE_NAME", "age"]
    sources = rows.groupby(key)["GEOGRAPHY_CODE"].nunique()
    clash = sources[sources > 1]
    if not clash.empty:
        raise HarvestError(dataset, f"different published codes fall on the same area and "
                           f"year: {clash.index[:4].tolist()}")  # fmt: skip


def _sum_band(group: pd.DataFrame, wanted: set[int]) -> tuple[float | None, str | None, str]:
    """``(total, None, "")``, or ``(None, status, why)`` when a single year has no number."""
    missing = sorted(wanted - set(group["age"]))
    if missing:
        return None, "incomplete", f"ages {missing} not in the answer"
    if group["age"].duplicated().any():
        return None, "duplicated", "a single year is given twice"
    bad = group[group["value"].isna()]
    if not bad.empty:
        symbol = str(bad["status"].iloc[0] or "missing")
        return None, symbol, f"age {int(bad['age'].iloc[0])} has no value"
    return float(group["value"].sum()), None, ""
