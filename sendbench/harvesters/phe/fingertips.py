"""OHID Fingertips: child health and SEND-relevant indicators for England, regions and LAs.

- Publisher: Office for Health Improvement and Disparities (OHID; Public Health England until
  2021). Publication: the Fingertips public health profiles, https://fingertips.phe.org.uk/
  (Child and Maternal Health, ``child-health-profiles``; Children and Young People's Mental
  Health and Wellbeing, ``cypmh``). Licence: OGL v3.0.
- Cadence: rolling. Each indicator is updated when its source publishes; there is no release, so
  the release label is the date of the request (UTC) and the raw store's checksum says whether
  anything changed.
- How the data is found (the API at https://fingertips.phe.org.uk/api/, endpoint names as used by
  fingertips_py's ``retrieve_data.py``/``metadata.py`` and ropensci/fingertipsR's
  ``R/retrieve_data.R``/``R/area_types.R``):
  1. ``GET area_types`` (JSON list of ``{"Id", "Name", "ShortName", …}``): the child area type
     is the newest ``Upper tier local authorities`` / ``Counties & UAs (from Apr YYYY)`` (502,
     from April 2023, when written), the parent ``Regions (statistical)`` (6). Both are looked
     up at run time; an id other than the catalogue's ``expected_id`` becomes a harvest note.
  2. ``GET all_data/csv/by_indicator_id?indicator_ids=<ids>&child_area_type_id=<child>&
     parent_area_type_id=<parent>``: one CSV for every catalogue indicator, with England, the
     parent areas (regions) and the child areas (LAs), as written by Fingertips'
     ``CsvBuilderIndicatorDataBodyPeriodWriter`` (ukhsa-collaboration/fingertips-open).
- Columns (``LAYOUTS``): fingertips-open's ``CsvBuilderIndicatorDataHeaderWriter`` writes 26
  columns; column 23 is named after the parent area type (``Compared to <ShortName> value or
  percentiles``, ``Compared to percentiles`` when the parent is England); the current service
  adds ``Time period range`` (``1y``, ``3y``…), as public code reading the endpoint shows. The
  parent column is matched by pattern and kept as published in the raw table.
- Local files (``--from DIR``): a saved response named ``fingertips_*.csv``. No real Fingertips
  file is in ../shared/data, so a refresh from there ends ``skipped``.

Decisions and quirks:
- An empty body, or a header with no rows, is an error (BadFileError), never an empty success: a
  silently empty API is a known complaint about tools built on Fingertips.
- Raw table ``raw_phe_fingertips_data``: every row as published (all sexes, ages, deprivation
  categories), with both confidence intervals, value notes, recent trend and comparisons.
- Observations: the row of each catalogue indicator matching its filter (``Indicator ID``,
  ``Sex``, ``Age``) with no ``Category Type`` (the headline, ``breakdown`` = ``Total``).
  ``Count`` and ``Denominator`` become numerator and denominator. Fingertips publishes no
  symbols: a blank ``Value`` becomes status ``suppressed`` when its value note mentions
  suppression, otherwise ``missing``; never a zero.
- Periods (``fingertips_period``): ``2023`` is the calendar year; ``2022/23`` is the financial
  (``2022-23``, April-March) or academic (``2022/23``, September-August) year per the
  indicator's ``year_type`` in the catalogue; ranges ``2021 - 23`` and ``2020/21 - 22/23`` become
  ``2021 to 2023`` and ``2020-21 to 2022-23``. Other labels (quarters, months) are noted and kept
  raw only.
- Areas: ``Area Code`` (ONS) resolved through the areas table, with the name as a fallback;
  anything unresolved is reported in ``unmatched_areas``. ``source_area_code`` is the code as
  published. Two published codes landing on one area for the same period is an error.
"""

from __future__ import annotations

import io
import logging
import re
from datetime import datetime, timezone
from urllib.parse import urlencode

import pandas as pd

from sendbench.areas import AreaResolver
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
from sendbench.http import HttpClient, RawFile
from sendbench.normalise import PeriodError, normalise_period, parse_values

log = logging.getLogger(__name__)

API = "https://fingertips.phe.org.uk/api/"
PARENT_COLUMN = "Compared to <parent> value or percentiles"
_PARENT = re.compile(r"^Compared to (?!England value)(.+ value or percentiles|percentiles)$")
_BASE_COLUMNS = [
    "Indicator ID", "Indicator Name", "Parent Code", "Parent Name", "Area Code", "Area Name",
    "Area Type", "Sex", "Age", "Category Type", "Category", "Time period", "Value",
    "Lower CI 95.0 limit", "Upper CI 95.0 limit", "Lower CI 99.8 limit", "Upper CI 99.8 limit",
    "Count", "Denominator", "Value note", "Recent Trend",
    "Compared to England value or percentiles", PARENT_COLUMN, "Time period Sortable",
    "New data", "Compared to goal",
]  # fmt: skip
# Newest first; the first layout whose columns are all present is used.
LAYOUTS = {
    "current (27 columns, with Time period range)": [*_BASE_COLUMNS, "Time period range"],
    "fingertips-open (26 columns)": _BASE_COLUMNS,
}
YEAR_TYPES = {"financial": "Financial year", "academic": "Academic year"}


class Harvester(BaseHarvester):
    """Fingertips bulk CSV for the catalogue's indicators at upper-tier LA level."""

    _release_notes: list[str] = []  # set by find_release, reported by parse

    def find_release(self, http: HttpClient) -> Release:
        spec = self.dataset.release
        api = spec.get("api", API)
        self._release_notes = []
        types = http.get_json(f"{api}area_types", dataset=self.id)
        child, parent = self._area_types(types, f"{api}area_types")
        ids = ",".join(str(ind["id"]) for ind in spec["indicators"])
        query = urlencode({"indicator_ids": ids, "child_area_type_id": child,
                           "parent_area_type_id": parent}, safe=",")  # fmt: skip
        url = f"{api}all_data/csv/by_indicator_id?{query}"
        ref = FileRef(key="release", filename=f"fingertips_{child}.csv", url=url, expect="csv")
        label = datetime.now(timezone.utc).date().isoformat()
        return Release(label=label, files=[ref], release_id=f"area-type-{child}", url=url)

    def _area_types(self, types, url: str) -> tuple[int, int]:
        """(child, parent) area type ids, found by name in the ``area_types`` listing."""
        if not isinstance(types, list) or not types:
            raise BadFileError(self.id, "Fingertips listed no area types", url)
        spec = self.dataset.release
        pattern = re.compile(spec["child_area_type"]["name_pattern"])
        children = []
        for entry in types:
            names = (str(entry.get("Name", "")), str(entry.get("ShortName", "")))
            found = next((m for m in map(pattern.match, names) if m), None)
            if found:
                children.append((int(found.group(1)), int(entry["Id"])))
        parent_name = spec["parent_area_type"]["name"]
        parents = [int(e["Id"]) for e in types if e.get("Name") == parent_name
                   or e.get("ShortName") == parent_name]  # fmt: skip
        if not children or not parents:
            wanted = pattern.pattern if not children else parent_name
            msg = f"no Fingertips area type named {wanted!r}; check the catalogue's release section"
            raise HarvestError(self.id, msg, url)
        child = max(children)[1]
        for kind, got in (("child_area_type", child), ("parent_area_type", parents[0])):
            if got != int(spec[kind]["expected_id"]):
                note = (
                    f"{kind} is now {got}, not {spec[kind]['expected_id']}: Fingertips "
                    "has a new geography; check the areas resolve"
                )
                log.warning("%s: %s", self.id, note)
                self._release_notes.append(note)
        return child, parents[0]

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        raw = files["release"]
        parsed = Parsed(notes=list(self._release_notes))
        data = read_fingertips_csv(raw.path.read_bytes(), self.id, raw.filename, raw.source, parsed)
        parsed.raw_tables[f"raw_{self.id}_data"] = data
        areas = _place_areas(data, context.resolver, parsed)
        year_types = {str(i["id"]): i["year_type"] for i in self.dataset.release["indicators"]}
        parts = [
            self._indicator_rows(data, ind, areas, year_types, release.label, parsed)
            for ind in self.indicators()
        ]
        parts = [p for p in parts if not p.empty]
        observations = pd.concat(parts, ignore_index=True) if parts else empty_observations()
        _check_one_per_key(observations, self.id, raw.source)
        parsed.observations = observations
        return parsed

    def _indicator_rows(self, data, ind, areas, year_types, label: str, parsed: Parsed):
        indicator_id = str(ind.filter["Indicator ID"])
        rows = data[data["Indicator ID"] == indicator_id]
        if rows.empty:
            parsed.notes.append(f"indicator {ind.id}: Fingertips returned no rows for "
                                f"{indicator_id}; no observations")  # fmt: skip
            return empty_observations()
        chosen = rows[rows["Category Type"] == ""]
        for column, wanted in ind.filter.items():
            chosen = chosen[chosen[column] == str(wanted)]
        if chosen.empty:
            found = sorted(set(zip(rows["Sex"], rows["Age"], strict=True)))
            parsed.notes.append(f"indicator {ind.id}: no headline rows match {dict(ind.filter)}; "
                                f"Fingertips has (sex, age) {found}")  # fmt: skip
            return empty_observations()
        return _observations(chosen, ind, areas, year_types.get(indicator_id, ""), label, parsed)


def read_fingertips_csv(content: bytes, dataset: str, file: str, source: str | None,
                        parsed: Parsed) -> pd.DataFrame:  # fmt: skip
    """A Fingertips CSV as text columns; BadFileError if empty, LayoutError if columns differ."""
    text = content.decode("utf-8-sig", errors="replace")
    if not text.strip():
        msg = (f"Fingertips returned an empty file ({file}); the API may be down or the "
               "indicator ids wrong: try again later")  # fmt: skip
        raise BadFileError(dataset, msg, source)
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError) as exc:
        raise BadFileError(dataset, f"{file} is not a readable CSV: {exc}", source) from exc
    if frame.empty:
        msg = (f"Fingertips returned a header but no rows ({file}); the API may be down or the "
               "indicator ids wrong: try again later")  # fmt: skip
        raise BadFileError(dataset, msg, source)
    _check_layout(list(frame.columns), dataset, file, source, parsed)
    return frame


def _check_layout(columns: list[str], dataset: str, file: str, source: str | None,
                  parsed: Parsed) -> str:  # fmt: skip
    """The name of the layout these columns follow; LayoutError naming missing/unexpected."""
    generic = [PARENT_COLUMN if _PARENT.match(c) else c for c in columns]
    failures = []
    for name, expected in LAYOUTS.items():
        try:
            unexpected = check_columns(generic, expected, dataset=dataset, file=file,
                                       source=source)  # fmt: skip
        except LayoutError as exc:
            failures.append(exc)
            continue
        if unexpected:
            parsed.notes.append(f"{file}: new columns {', '.join(unexpected)} (kept raw)")
        return name
    raise min(failures, key=lambda exc: len(exc.missing))


def fingertips_period(label: str, year_type: str) -> tuple[str, str, str]:
    """``(period, period_start, period_end)`` for a Fingertips time period label."""
    text = re.sub(r"\s+", " ", str(label).strip())
    if re.fullmatch(r"\d{4}", text):
        return normalise_period(text, "Calendar year")
    if found := re.fullmatch(r"(\d{4})/(\d{2})", text):
        return _two_year(int(found.group(1)), found.group(2), year_type, label)
    if found := re.fullmatch(r"(\d{4}) - (\d{2})", text):
        first = int(found.group(1))
        last = _full_year(first, found.group(2))
        return _span(normalise_period(str(first)), normalise_period(str(last)))
    if found := re.fullmatch(r"(\d{4})/(\d{2}) - (\d{2})/(\d{2})", text):
        first = int(found.group(1))
        last = _full_year(first, found.group(3))
        return _span(_two_year(first, found.group(2), year_type, label),
                     _two_year(last, found.group(4), year_type, label))  # fmt: skip
    raise PeriodError(f"unrecognised Fingertips time period {label!r}")


def _two_year(first: int, second: str, year_type: str, label: str) -> tuple[str, str, str]:
    if year_type not in YEAR_TYPES:
        raise PeriodError(f"{label!r} needs the indicator's year_type (financial or academic)")
    return normalise_period(f"{first}{second}", YEAR_TYPES[year_type])


def _full_year(first: int, two_digits: str) -> int:
    year = first // 100 * 100 + int(two_digits)
    return year if year >= first else year + 100


def _span(first: tuple[str, str, str], last: tuple[str, str, str]) -> tuple[str, str, str]:
    return f"{first[0]} to {last[0]}", first[1], last[2]


def _place_areas(data: pd.DataFrame, resolver: AreaResolver, parsed: Parsed) -> dict:
    """Area Code -> the area it is filed under, or None (reported in unmatched_areas)."""
    placed, unmatched = {}, []
    pairs = data[["Area Code", "Area Name"]].drop_duplicates("Area Code")
    for code, name in pairs.itertuples(index=False):
        placed[code] = resolver.resolve(code=code or None, name=name or None)
        if placed[code] is None:
            why = "a combined reporting unit" if resolver.is_combination(code) else "unknown"
            unmatched.append(f"{name} ({code or '-'}): {why}")
    parsed.unmatched_areas = sorted(unmatched)
    return placed


def _observations(rows, ind, areas: dict, year_type: str, label: str, parsed: Parsed):
    periods, problems = {}, set()
    for text in rows["Time period"].unique():
        try:
            periods[text] = fingertips_period(text, year_type)
        except PeriodError as exc:
            periods[text] = (None, None, None)
            problems.add(str(exc))
    for problem in sorted(problems):
        parsed.notes.append(f"indicator {ind.id}: {problem}; those rows are kept raw only")
    value, status = parse_values(rows["Value"])
    suppressed = rows["Value note"].str.contains("suppress", case=False, regex=False)
    status = status.where(~(value.isna() & suppressed), "suppressed")
    period = pd.DataFrame([periods[t] for t in rows["Time period"]], index=rows.index,
                          columns=["period", "period_start", "period_end"])  # fmt: skip
    out = pd.DataFrame({
        "indicator_id": ind.id, "area_code": rows["Area Code"].map(areas), "breakdown": "Total",
        "value": value, "numerator": pd.to_numeric(rows["Count"], errors="coerce"),
        "denominator": pd.to_numeric(rows["Denominator"], errors="coerce"), "status": status,
        "dataset_id": ind.dataset, "release": label, "source_area_code": rows["Area Code"],
        "flag": None,
    }, index=rows.index).join(period)  # fmt: skip
    return out[out["area_code"].notna() & out["period"].notna()][OBSERVATION_COLUMNS]


def _check_one_per_key(observations: pd.DataFrame, dataset: str, source: str | None) -> None:
    key = ["indicator_id", "area_code", "period", "breakdown"]
    clash = observations[observations.duplicated(key, keep=False)]
    if not clash.empty:
        sample = clash[[*key, "source_area_code"]].head(6).to_dict("records")
        msg = f"two published rows land on the same area and period: {sample}"
        raise HarvestError(dataset, msg, source)
