"""Nomis API: the probe, paging, page reading and checks shared by the Nomis harvesters.

``NomisHarvester`` is the base of ``population.py`` (``NM_2002_1``) and ``dla.py``
(``NM_110_1``); each sets its layout and probe columns and keeps only its own query, bands and
indicators. The service is Nomis (Durham University), https://www.nomisweb.co.uk; API help:
https://www.nomisweb.co.uk/api/v01/help.

- Query: ``{API}/{dataset}.data.csv?`` with the catalogue's ``release.query`` (``date=latest``,
  geography and the dataset's own dimensions), ``select=`` naming the columns read here.
- Probe: the same query with ``select=<label column>,record_count`` and ``RecordLimit=1``. The
  label column (``DATE_NAME`` or ``DATE``) labels the release and ``RECORD_COUNT`` (the rows the
  whole query has) plans the pages. ``RecordLimit=1`` is seen in public scripts
  (``select=record_count&recordlimit=1``); were it ignored, the probe would just be a longer
  answer.
- Paging: guests get at most 25,000 rows a request (``PAGE_SIZE``), cut silently: Nomis
  truncates a guest's answer with HTTP 200 and no error. The pages are the query with
  ``RecordOffset=0, 25000, …``; ``check_pages`` makes sure every page but the last is full and
  that the pages add up to ``RECORD_COUNT`` (without it, the last page must come back short: the
  "stop when fewer rows come back" rule).
- Layout: each page is CSV with the harvester's ``LAYOUT`` columns (``required`` ones fatal when
  missing, unexpected ones noted and kept raw); an HTML/XML page in place of CSV fails.
- Status: ``OBS_STATUS`` ``A`` (SDMX "normal value") or empty is a number; any other status
  stands in for the number (kept as the observation's status, never a zero).

Where this comes from (no Nomis response is in ../shared/data): the ``.data.csv`` URL,
``date=latest`` and ``select=`` in many public scripts; the columns ``… OBS_VALUE, OBS_STATUS,
OBS_STATUS_NAME … RECORD_OFFSET, RECORD_COUNT`` (a GSS-Cogs population notebook that pages with
``&RecordOffset=``; the nomisdata package's NM_1_1 sample documentation); ``RECORD_COUNT`` and
``recordOffset`` paging in ropensci/nomisr ``R/data_download.R``; the silent 25,000-row cap
(nomisr docs; the nomis-mcp server notes).
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
    empty_observations,
)
from sendbench.http import HttpClient, RawFile
from sendbench.normalise import parse_values

log = logging.getLogger(__name__)

API = "https://www.nomisweb.co.uk/api/v01/dataset"
PAGE_SIZE = 25_000  # Nomis's cap on rows per request for a guest (no API key)
NORMAL_STATUS = {"", "A"}  # SDMX observation status "A": a normal value
PAGE = re.compile(r"^page_(\d+)$")


class NomisHarvester(BaseHarvester):
    """A Nomis ``.data.csv`` query fetched in pages; subclasses set the class attributes below
    and implement ``add_keys``, ``check_rows`` and ``observations``."""

    LAYOUT: dict[str, list[str]]  # {"columns": [...], "required": [...]}, asked for with select=
    PROBE_COLUMNS: list[str]  # asked for by the probe; include LABEL_COLUMN and RECORD_COUNT
    LABEL_COLUMN: str  # the probe column that labels the release
    LABEL_PATTERN: str  # what that label must look like (a full-match regex)
    KEY_COLUMN: str  # the column ``add_keys`` adds (not kept in the raw table)

    def query(self) -> dict[str, str]:
        """The catalogue's Nomis query (without ``select`` and paging)."""
        return {str(k): str(v) for k, v in self.dataset.release["query"].items()}

    def url(self, **extra: str) -> str:
        """The ``.data.csv`` URL for the query plus ``extra`` parameters, commas left readable."""
        params = {**self.query(), **extra}
        return f"{API}/{self.dataset.release['dataset']}.data.csv?" + urlencode(params, safe=",.")

    def probe(self, http: HttpClient, **extra: str) -> tuple[str, int]:
        """(release label, record count) from a one-row answer to the query plus ``extra``."""
        url = self.url(**extra, select=",".join(self.PROBE_COLUMNS).lower(), RecordLimit="1")
        frame = read_frame(http.get_text(url, dataset=self.id), self.id, "the Nomis probe", url)
        check_columns(frame.columns, self.PROBE_COLUMNS, dataset=self.id,
                      file="the Nomis probe", source=url)  # fmt: skip
        if frame.empty:
            raise HarvestError(self.id, "Nomis returned no rows for the query: check it", url)
        label = frame.iloc[0][self.LABEL_COLUMN].strip()
        count = frame.iloc[0]["RECORD_COUNT"].strip()
        if not re.fullmatch(self.LABEL_PATTERN, label) or not count.isdigit():
            msg = f"unexpected {self.LABEL_COLUMN} {label!r} / RECORD_COUNT {count!r}"
            raise BadFileError(self.id, msg, url)
        return label, int(count)

    def paged_release(self, http: HttpClient, shown: str = "{}", **extra: str) -> Release:
        """Probe the query plus ``extra``, then one ``page_<n>`` file per ``PAGE_SIZE`` rows;
        ``shown`` formats the label for the log."""
        label, count = self.probe(http, **extra)
        select = ",".join(self.LAYOUT["columns"]).lower()
        pages = max(1, math.ceil(count / PAGE_SIZE))
        name = self.dataset.release["dataset"]
        refs = [
            FileRef(
                key=f"page_{n}",
                filename=f"{name}_{label}_page_{n}.csv",
                url=self.url(**extra, select=select, RecordOffset=str(n * PAGE_SIZE)),
                expect="csv",
            )
            for n in range(pages)
        ]
        log.info("%s: %s, %d rows in %d page(s)", self.id, shown.format(label), count, pages)
        return Release(label=label, files=refs, url=self.dataset.landing_page)

    def local_release_label(self, refs: list[FileRef]) -> str:
        return "local"

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed()
        data = self.add_keys(self.read_pages(files, parsed), files)
        area = context.resolver.resolve_many(data["GEOGRAPHY_CODE"].str.strip())
        unknown = data.loc[area.isna(), ["GEOGRAPHY_NAME", "GEOGRAPHY_CODE"]].drop_duplicates()
        parsed.unmatched_areas = sorted(f"{n} ({c})" for n, c in unknown.itertuples(index=False))
        rows = data.assign(area_code=area)[area.notna()]
        self.check_rows(rows)
        parsed.raw_tables[f"raw_{self.id}_data"] = data.drop(columns=self.KEY_COLUMN)
        parsed.observations = self.observations(with_values(rows), release.label, parsed)
        return parsed

    def add_keys(self, data: pd.DataFrame, files: dict[str, RawFile]) -> pd.DataFrame:
        """``data`` with ``KEY_COLUMN`` added (what the indicators are picked by)."""
        raise NotImplementedError  # pragma: no cover - abstract

    def check_rows(self, rows: pd.DataFrame) -> None:
        """Fail on rows (those with an area) that would be counted twice."""
        raise NotImplementedError  # pragma: no cover - abstract

    def observations(self, rows: pd.DataFrame, release: str, parsed: Parsed) -> pd.DataFrame:
        """Observations from rows with ``area_code``, ``value`` and ``status``."""
        raise NotImplementedError  # pragma: no cover - abstract

    def page_note(self, rows: int, pages: int) -> str:
        return f"{rows} rows in {pages} page(s)"

    def read_pages(self, files: dict[str, RawFile], parsed: Parsed) -> pd.DataFrame:
        """The pages in order, each checked against ``LAYOUT``, and their counts checked."""
        keyed = sorted(files.items(), key=lambda kv: page_number(kv[0]))
        frames = [self.read_csv(raw, parsed) for _, raw in keyed]
        data = pd.concat(frames, ignore_index=True)
        if any(PAGE.match(key) for key, _ in keyed):
            check_pages([len(f) for f in frames], data, self.id, keyed[-1][1].source)
        parsed.notes.append(self.page_note(len(data), len(frames)))
        if data.empty:
            raise HarvestError(self.id, "the Nomis answer has no rows: check the query")
        return data

    def read_csv(self, raw: RawFile, parsed: Parsed) -> pd.DataFrame:
        text = Path(raw.path).read_bytes().decode("utf-8-sig", errors="replace")
        frame = read_frame(text, self.id, raw.filename, raw.source)
        unexpected = check_columns(frame.columns, self.LAYOUT["columns"], dataset=self.id,
                                   file=raw.filename, source=raw.source,
                                   required=self.LAYOUT["required"])  # fmt: skip
        if unexpected:
            parsed.notes.append(f"{raw.filename}: columns not in the layout kept raw: {unexpected}")
        return frame


def read_frame(text: str, dataset: str, what: str, source: str) -> pd.DataFrame:
    """Nomis CSV as strings; BadFileError for an HTML/XML page or text that is not CSV."""
    head = text.lstrip("\ufeff \t\r\n")[:200]
    if head.startswith("<"):
        raise BadFileError(dataset, f"{what} is an HTML/XML page, not CSV: {head[:120]!r}", source)
    try:
        return pd.read_csv(io.StringIO(text.lstrip("\ufeff")), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as exc:
        raise BadFileError(dataset, f"{what} cannot be read as CSV: {exc}", source) from exc


def page_number(key: str) -> int:
    found = PAGE.match(key)
    return int(found.group(1)) if found else 0


def check_pages(sizes: list[int], data: pd.DataFrame, dataset: str, source: str) -> None:
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


def with_values(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` with ``value`` and ``status`` from ``OBS_VALUE``; an ``OBS_STATUS`` other than
    ``A`` stands in for the number (the value is left empty, never zero)."""
    value, status = parse_values(rows["OBS_VALUE"])
    if "OBS_STATUS" in rows:
        flagged = rows["OBS_STATUS"].fillna("").str.strip()
        odd = ~flagged.isin(NORMAL_STATUS)
        status, value = status.where(~odd, flagged), value.where(~odd)
    return rows.assign(value=value, status=status)


def combine(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The non-empty parts as one observations table (an empty one if none)."""
    parts = [p for p in parts if not p.empty]
    if not parts:
        return empty_observations()
    return pd.concat(parts, ignore_index=True)[OBSERVATION_COLUMNS]
