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
  error. The probe, paging, page checks and status handling are shared with the DLA harvester in
  ``sendbench/harvesters/nomis/api.py`` (where their sources are cited).
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

import re

import pandas as pd

from sendbench.errors import HarvestError
from sendbench.harvesters.base import OBSERVATION_COLUMNS, Parsed, Release
from sendbench.harvesters.nomis import api
from sendbench.http import HttpClient, RawFile

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
_AGE = re.compile(r"^Age (\d+)$")
_OPEN_AGE = re.compile(r"^Aged (\d+)\+$")


class Harvester(api.NomisHarvester):
    """Population by single year of age 0-25 for England, regions and upper-tier LAs."""

    LAYOUT = LAYOUTS["nomis-v01"]
    PROBE_COLUMNS = ["DATE_NAME", "RECORD_COUNT"]
    LABEL_COLUMN, LABEL_PATTERN = "DATE_NAME", r"\d{4}"
    KEY_COLUMN = "age"

    def find_release(self, http: HttpClient) -> Release:
        return self.paged_release(http, shown="mid-{}")

    def page_note(self, rows: int, pages: int) -> str:
        return f"{rows} rows in {pages} page(s) of at most {api.PAGE_SIZE}"

    def add_keys(self, data: pd.DataFrame, files: dict[str, RawFile]) -> pd.DataFrame:
        return data.assign(age=_ages(data["C_AGE_NAME"], self.id, files))

    def check_rows(self, rows: pd.DataFrame) -> None:
        _no_collisions(rows, self.id)

    def observations(self, rows: pd.DataFrame, release: str, parsed: Parsed) -> pd.DataFrame:
        return api.combine([self._band(rows, ind, release, parsed) for ind in self.indicators()])

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
