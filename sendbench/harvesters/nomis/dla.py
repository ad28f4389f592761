"""Nomis: Disability Living Allowance claimants (cases in payment) by age, England to LA.

- Publisher: Department for Work and Pensions (Work and Pensions Longitudinal Study, 100% of
  claims); served by Nomis (Durham University) as "benefit claimants - disability living
  allowance", dataset ``NM_110_1`` (catalogue ``release.dataset``).
- Landing page: https://www.nomisweb.co.uk/sources/dwp_wpls; API help:
  https://www.nomisweb.co.uk/api/v01/help.
- Cadence: quarterly snapshots (end of February, May, August, November). DISCONTINUED: DWP
  stopped supplying these data sets in August 2017; the last quarter is November 2016 (Nomis's
  DWP benefits note, https://www.nomisweb.co.uk/articles/96.pdf). Later quarters are only on
  DWP Stat-Xplore (``DLA_In_Payment_New``), which needs an API key: not harvested here.
- Latest release: three requests. (1) The dataset's age code list,
  ``{API}/NM_110_1/age.def.sdmx.json`` (``structure.codelists.codelist[].code[]`` with
  ``value`` and ``description.value``): the codes whose labels are the indicators' bands
  (catalogue ``filter.age``, e.g. ``under 16``/``16-24``) are asked for, so no age code is
  guessed. (2) A probe, the catalogue query with ``date=latest`` and ``select=date,date_name,
  record_count&RecordLimit=1``: ``DATE`` (``2016-11``) labels the release and ``RECORD_COUNT``
  plans the pages. (3) The pages, ``RecordOffset=0, 25000, …`` (guests get at most 25,000 rows
  a request, cut silently): the probe, paging, page checks and status handling are shared
  with the population harvester in ``sendbench/harvesters/nomis/api.py``.
- Local files (``--from DIR``): a saved ``NM_110_1*.csv`` / ``nomis_dla*.csv`` with the columns
  below; ../shared/data has none, so the dataset ends "skipped" there.

Where this comes from (no Nomis DLA answer is in ../shared/data, and none could be found saved
in public repositories, so the fixture is written from the documented format): the data set's
name and its 100%/LA-level scope from Nomis's DWP sources page (``/sources/dwp_wpls``, pages
search); the end in November 2016 from Nomis's DWP background note (``articles/96.pdf``); the id
from data4nr's record "DWP benefits - Disability Living Allowance (DLA)" (data4nr.net/resources/74)
linking Nomis's query page ``dataset=110`` (Nomis's numeric page id and the API's ``NM_<n>_1``
are the same number, e.g. claimant count ``dataset=162`` / ``NM_162_1`` in Trafford Data Lab's
scripts); WPLS benefit datasets' ``sex=7`` (total) and an ``AGE`` dimension as in a public
nomisr script querying the sibling WPLS data set ``NM_115_1``; the code list JSON shape from
scripts reading ``{dataset}/{dimension}.def.sdmx.json``; ``DATE`` as ``YYYY-MM`` and the columns
``… OBS_VALUE, OBS_STATUS, RECORD_COUNT`` from the nomisdata package's NM_1_1 sample
documentation. NOT verified against the live service: the id ``NM_110_1`` itself, that the
dimension is called ``age`` and its labels' spelling (matched loosely, see ``band_key``), and
that the discontinued data set accepts 2023 geography ``TYPE423``. Any of these failing gives a
specific error naming the URL; they are catalogue data, so fixing one is a YAML edit.

Observations: one per indicator, area and quarter, period ``2016-11`` with start and end the
snapshot day (30 November 2016). A status in place of a number is kept as status (never a
zero). Areas resolve by ONS code (``AreaResolver``): a council abolished since 2016
(Bournemouth, Northamptonshire, Cumbria…) stays under its own terminated code, never given to a
successor; a renamed code for the same area (North Yorkshire ``E10000023``) is filed under the
current code with the published one in ``source_area_code``; a code the LA list does not know is
listed in ``unmatched_areas`` and its rows stay in the raw table only.
"""

from __future__ import annotations

import re

import pandas as pd

from sendbench.errors import BadFileError, HarvestError
from sendbench.harvesters.base import Parsed, Release
from sendbench.harvesters.nomis import api
from sendbench.http import HttpClient, RawFile
from sendbench.normalise import normalise_period

# The layout asked for with select= (a layout is data: a new one is a new entry here).
LAYOUTS = {
    "nomis-v01-age": {
        "columns": [
            "DATE",
            "DATE_NAME",
            "GEOGRAPHY_NAME",
            "GEOGRAPHY_CODE",
            "GEOGRAPHY_TYPE",
            "AGE",
            "AGE_NAME",
            "OBS_VALUE",
            "OBS_STATUS",
            "RECORD_COUNT",
        ],  # fmt: skip
        "required": ["DATE", "GEOGRAPHY_NAME", "GEOGRAPHY_CODE", "AGE_NAME", "OBS_VALUE"],
    }
}


def band_key(label: object) -> str:
    """An age label in a comparable form: ``Aged 16-24`` / ``16 to 24`` → ``16-24``,
    ``Aged under 16`` → ``under 16``."""
    text = re.sub(r"\s+", " ", str(label).strip().lower()).replace("\u2013", "-")
    text = re.sub(r"^aged? ", "", text)
    text = re.sub(r"\s*(?:-| to )\s*", "-", text)
    return text.removesuffix(" years").removesuffix(" yrs")


class Harvester(api.NomisHarvester):
    """DLA cases in payment for the catalogue's age bands, England, regions and upper-tier LAs."""

    LAYOUT = LAYOUTS["nomis-v01-age"]
    PROBE_COLUMNS = ["DATE", "DATE_NAME", "RECORD_COUNT"]
    LABEL_COLUMN, LABEL_PATTERN = "DATE", r"\d{4}-\d{2}"
    KEY_COLUMN = "band"

    def bands(self) -> dict[str, set[str]]:
        """Indicator id → the age labels (as ``band_key``) that give it."""
        out = {}
        for ind in self.indicators():
            wanted = ind.filter["age"]
            wanted = [wanted] if isinstance(wanted, str) else wanted
            out[ind.id] = {band_key(w) for w in wanted}
        return out

    def codelist_url(self) -> str:
        dimension = self.dataset.release.get("age_dimension", "age")
        return f"{api.API}/{self.dataset.release['dataset']}/{dimension}.def.sdmx.json"

    def find_release(self, http: HttpClient) -> Release:
        codes_url = self.codelist_url()
        ages = _age_codes(http.get_json(codes_url, dataset=self.id), self.bands(), self.id,
                          codes_url)  # fmt: skip
        return self.paged_release(http, age=ages)

    def add_keys(self, data: pd.DataFrame, files: dict[str, RawFile]) -> pd.DataFrame:
        return data.assign(band=data["AGE_NAME"].map(band_key))

    def check_rows(self, rows: pd.DataFrame) -> None:
        _no_duplicates(rows, self.id)

    def observations(self, rows: pd.DataFrame, release: str, parsed: Parsed) -> pd.DataFrame:
        seen = sorted(set(rows["AGE_NAME"]))
        parts = []
        for indicator, wanted in self.bands().items():
            band = rows[rows["band"].isin(wanted)]
            if band.empty:
                msg = f"{indicator}: no rows with an age label in {sorted(wanted)}; seen {seen}"
                raise HarvestError(self.id, msg)
            parts.append(_band_rows(band, indicator, self.id, release))
        parsed.notes.append(f"age labels in the answer: {seen}")
        return api.combine(parts)


def _band_rows(band: pd.DataFrame, indicator: str, dataset: str, release: str) -> pd.DataFrame:
    periods = {d: normalise_period(d) for d in band["DATE"].str.strip().unique()}
    period = band["DATE"].str.strip().map(lambda d: periods[d][0])
    end = band["DATE"].str.strip().map(lambda d: periods[d][2])
    value = band["value"].astype(object).where(band["value"].notna(), None)
    return pd.DataFrame({
        "indicator_id": indicator, "area_code": band["area_code"], "period": period,
        "breakdown": "Total", "value": value,
        "numerator": None, "denominator": None, "status": band["status"],
        "period_start": end, "period_end": end, "dataset_id": dataset, "release": release,
        "source_area_code": band["GEOGRAPHY_CODE"].str.strip(), "flag": None,
    })  # fmt: skip


def _age_codes(payload: object, bands: dict[str, set[str]], dataset: str, url: str) -> str:
    """The comma-separated age codes whose labels give the indicators' bands."""
    try:
        lists = payload["structure"]["codelists"]["codelist"]  # type: ignore[index]
        codes = [c for codelist in lists for c in codelist.get("code", [])]
        labels = {str(c["value"]): str(c["description"]["value"]) for c in codes}
    except (KeyError, TypeError) as exc:
        raise BadFileError(dataset, f"the Nomis age code list has no codes ({exc!r})", url) from exc
    picked = []
    for indicator, wanted in bands.items():
        found = [code for code, label in labels.items() if band_key(label) in wanted]
        if not found:
            seen = sorted(labels.values())[:20]
            msg = (f"{indicator}: no age code labelled {sorted(wanted)} in the data set's "
                   f"code list ({seen}): update the catalogue filter")  # fmt: skip
            raise HarvestError(dataset, msg, url)
        picked.extend(c for c in found if c not in picked)
    return ",".join(picked)


def _no_duplicates(rows: pd.DataFrame, dataset: str) -> None:
    """One row per area, quarter and age: more means another dimension was left open, or two
    published codes fall on one area; summing or picking one would be wrong."""
    key = ["area_code", "DATE", "band"]
    twice = rows[rows.duplicated(key, keep=False)]
    if not twice.empty:
        sample = twice[key + ["GEOGRAPHY_CODE"]].head(4).values.tolist()
        raise HarvestError(dataset, f"more than one row per area, quarter and age: {sample}; "
                           "check the query fixes every other dimension")  # fmt: skip
