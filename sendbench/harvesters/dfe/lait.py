"""DfE: the Local Authority Interactive Tool (LAIT) data store, as published for the new LAIT.

- Publisher: Department for Education. Publication: "Local authority interactive tool (LAIT)",
  https://www.gov.uk/government/publications/local-authority-interactive-tool-lait (the Excel
  tool was withdrawn from that page on 7 November 2024; LAIT is now a Shiny app,
  https://department-for-education.shinyapps.io/local-authority-interactive-tool/).
- Data store: the app's public repository dfe-analytical-services/local-authority-interactive-tool,
  folder ``01_data/02_prod``. The app's ``global.R`` names its source "LAIT GitHub repository
  (files named bds_long)" and reads ``bds_long_0.parquet`` (the long table: ``Short Desc`` =
  measure id, ``Years``, ``LA and Regions``, ``Values``, ``LA Number``…) and
  ``lait_data_dictionary.csv`` (one row per measure and topic: polarity, ``y_axis_name`` (unit),
  ``Year_Type``, ``Last Update``, ``Next Update``…); ``la_code_list.xlsx`` lists LAIT's area
  numbers. ``02_dev/bds_wide_to_long.qmd`` writes the parquet with arrow's ``bds_long_{i}``
  template, so every ``bds_long_*.parquet`` is read.
- Cadence: rolling; DfE updates each measure when its source publishes (see ``lait_measures``).
- Latest release (GitHub REST API, docs.github.com "List commits" and "Get repository content"):
  ``GET https://api.github.com/repos/<repo>/commits?sha=main&path=01_data/02_prod&per_page=1``
  gives the last commit touching the data store (release label = its committer date, id = its
  sha); ``GET …/contents/01_data/02_prod?ref=<sha>`` lists the folder (``name``, ``path``,
  ``type``, ``size``…); files are fetched from ``raw.githubusercontent.com/<repo>/<sha>/<path>``,
  pinned to that commit so the data and dictionary always come from the same version.
- Local files (``--from DIR``): ``bds_long_*.parquet``, ``lait_data_dictionary.csv``,
  ``la_code_list.xlsx`` (older name ``LA code list.xlsx``).

Decisions and quirks:
- Raw tables: ``raw_dfe_lait_data`` (every row of every measure, as published),
  ``raw_dfe_lait_dictionary``, ``raw_dfe_lait_la_codes``. The owned table ``lait_measures``
  (``LAIT_MEASURES``) has one row per measure: LAIT's polarity and sendbench's, unit label, year
  type, last/next update as ISO dates (the CSV has Excel day numbers, e.g. ``45809`` = 2025-06-01;
  text such as ``TBC`` is kept), rows and first/last period. Fourteen measures appear under two
  topics; their rows differ in update dates, so the most recently updated row is kept.
- ``-`` is LAIT's only symbol: no value published (missing, suppressed or not applicable; LAIT
  does not say which, and its app reads ``-``, ``c`` and ``..`` as NA). It becomes ``value`` NULL
  with ``status`` ``-``, never a zero; any other symbol keeps its own text as ``status``.
- Periods follow the dictionary's ``Year_Type`` (``YEAR_TYPES``). A single year ``Y`` of an
  academic measure (also ``Annual - January``, the school census) is the academic year ending in
  ``Y`` (``2025`` → ``2024/25``: checked against SEN2's January 2025 caseload, CIN outcomes
  absence 2024/25, EYFSP 2021/22 and KS4 2018/19 files); of a financial measure the year
  ending 31 March ``Y`` (``2024-25``); calendar and ``Annual``/``Annual (end of Sept)`` measures
  keep ``Y`` (EES's "reporting year").
  ``2015/16`` and ``2016-17`` are two-year periods of the measure's kind; rolling ranges
  (``2014-16``, ``2013/14-15/16``) become ``2014 to 2016`` / ``2013/14 to 2015/16``. The year
  label ``0`` (one measure, all ``-``) is not a period: raw table only, noted.
- Markers become ``flag`` (``MARKERS``): ``(Rev)`` revised, ``(Final)`` final, ``(prov)``
  provisional, ``(OT)`` outturn (S251 outturn, not budget); an unknown marker is kept as written.
  If one year is published both with and without a marker, the later standing wins (noted).
- Areas: ``LA Number`` is DfE's 3-digit code, resolved through the areas table (with the name as
  a fallback; ``(Pre LG)`` councils resolve to their abolished codes); 970 is England, 980-990
  are regions (``AGGREGATES``); London (Inner)/(Outer) (987/988) are not areas sendbench keeps:
  raw only, noted. Any other unresolved area goes to ``unmatched_areas``. ``source_area_code`` is
  the LA Number as published.
- Overlap rule: sendbench shows one primary source per measure, the dataset nearest the
  statistics' own publication: ``dfe_ehcp`` (SEN2), ``dfe_sen``, ``dfe_ks2``, ``dfe_ks4``,
  ``dfe_eyfsp``, ``dfe_absence``, ``dfe_exclusions``, ``dfe_ks4_destinations``, ``dfe_neet``,
  ``dfe_cin_outcomes`` and the other EES datasets as they are added. LAIT re-publishes those
  figures, so such a measure is registered only when LAIT adds something (earlier years, or an
  LA series by SEN, CIN or CLA status or by school type that the primary lacks), and its
  ``notes`` say ``Primary: <dataset> / <indicator>``, the series sendbench shows; LAIT is then a
  back-series or cross-check (e.g. EHCP 20-week timeliness 2016-2018; the overlapping years
  agree). Where no sendbench dataset has the measure, LAIT is the source shown and the notes say
  so. Not registered, as LAIT adds nothing: pupils with an EHC plan or SEN support
  (``dfe_sen``), EHCP caseload and requests (``dfe_ehcp``).
- A registered measure absent from a release (LAIT renames and drops measures) yields no
  observations and a note, not a failed dataset; a missing column fails with LayoutError.
"""

from __future__ import annotations

import logging
import re
from datetime import date, timedelta
from pathlib import Path, PurePosixPath
from urllib.parse import quote

import pandas as pd

from sendbench.areas import ENGLAND_CODE, AreaResolver
from sendbench.db.schema import LAIT_MEASURES
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
from sendbench.harvesters.dfe.ees import read_ees_csv
from sendbench.http import HttpClient, RawFile
from sendbench.normalise import PeriodError, normalise_period, parse_values

log = logging.getLogger(__name__)

GITHUB_API = "https://api.github.com/repos"
RAW_BASE = "https://raw.githubusercontent.com"
MEASURE = "Short Desc"
DATA_COLUMNS = ["Short Desc", "Data item", "Years", "LA and Regions", "Values", "LA Number",
                "Region"]  # fmt: skip
DATA_REQUIRED = ["Short Desc", "Years", "LA and Regions", "Values", "LA Number"]
DICTIONARY_COLUMNS = [
    "Measure_code", "Topic", "Measure", "Chart_title", "Measure_short", "Polarity",
    "y_axis_name", "state_funded_flag", "Table_status", "Description", "Last Update",
    "Next Update", "Data Owner (DO) /Supplier and Contact Details", "Methodology",
    "Hyperlink(s)", "dps", "Year_Type", "No_Quartile",
]  # fmt: skip
DICTIONARY_REQUIRED = ["Measure_short", "Topic", "Measure", "Polarity", "y_axis_name",
                       "Year_Type", "Last Update", "Next Update"]  # fmt: skip
LA_CODE_COLUMNS = ["LA Number", "LA Name", "Region", "Type"]
POLARITY = {"High": "higher_is_better", "Low": "lower_is_better", "-": "none", "NA": "none"}
YEAR_TYPES = {"Academic Year": "academic", "Annual - January": "academic",
              "Financial Year": "financial", "Calendar Year": "calendar",
              "Annual": "reporting", "Annual (end of Sept)": "reporting"}  # fmt: skip
MARKERS = {"rev": "revised", "final": "final", "prov": "provisional", "ot": "outturn"}
STANDING = {"provisional": 0, None: 1, "outturn": 2, "revised": 2, "final": 3}
AGGREGATES = {"970": ENGLAND_CODE, **{str(980 + i): f"E1200000{i + 1}" for i in range(7)},
              "989": "E12000008", "990": "E12000009"}  # fmt: skip
NOT_AREAS = {"987": "London (Inner)", "988": "London (Outer)", "1000": "England (discontinued)"}
_MARKER = re.compile(r"^(.*?)\s*\(([^()]*)\)$")
_EXCEL_EPOCH = date(1899, 12, 30)


class Harvester(BaseHarvester):
    """LAIT: every measure as a raw table, ``lait_measures``, and the ``lait_*`` indicators."""

    local_files = {
        "data": ("bds_long_*.parquet",),
        "dictionary": ("lait_data_dictionary.csv",),
        "la_codes": ("la_code_list.xlsx", "LA code list.xlsx"),
    }

    def find_release(self, http: HttpClient) -> Release:
        spec = self.dataset.release
        repo, folder = spec["repository"], spec["folder"]
        commits = http.get_json(
            f"{GITHUB_API}/{repo}/commits",
            dataset=self.id,
            params={"sha": spec.get("branch", "main"), "path": folder, "per_page": 1},
        )
        try:
            sha = commits[0]["sha"]
            when = commits[0]["commit"]["committer"]["date"]
        except (IndexError, KeyError, TypeError) as exc:
            msg = f"GitHub lists no commit touching {folder} in {repo}"
            raise BadFileError(self.id, msg, f"{GITHUB_API}/{repo}/commits") from exc
        url = f"{GITHUB_API}/{repo}/contents/{quote(folder)}"
        listing = http.get_json(url, dataset=self.id, params={"ref": sha})
        if not isinstance(listing, list):
            raise BadFileError(self.id, f"GitHub did not list {folder} as a folder", url)
        names = {e.get("name"): e.get("path") for e in listing if e.get("type") == "file"}
        refs = []
        for key, patterns in self.local_files.items():  # the first pattern that matches wins
            found = [n for p in patterns for n in sorted(names) if PurePosixPath(n).match(p)]
            if not found:
                msg = f"{folder} at {sha[:12]} has no file named {' or '.join(patterns)}"
                raise HarvestError(self.id, msg, url)
            for number, name in enumerate(found if key == "data" else found[:1]):
                raw_url = f"{RAW_BASE}/{repo}/{sha}/{quote(names[name])}"
                refs.append(FileRef(key=_key(key, number), filename=name, url=raw_url))
        return Release(label=str(when)[:10], files=refs, published=when, release_id=sha,
                       url=f"https://github.com/{repo}/tree/{sha}/{folder}")  # fmt: skip

    def find_local(self, directory: Path) -> Release:
        release = super().find_local(directory)
        data = next(ref for ref in release.files if ref.key == "data")
        shards = sorted(data.path.parent.glob(self.local_files["data"][0]))
        others = [ref for ref in release.files if ref.key != "data"]
        refs = [FileRef(key=_key("data", n), filename=p.name, path=p) for n, p in enumerate(shards)]
        return Release(label="local", files=refs + others)

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed()
        shards = [_read_parquet(raw, self.id, parsed) for key, raw in sorted(files.items())
                  if key.startswith("data")]  # fmt: skip
        data = shards[0] if len(shards) == 1 else pd.concat(shards, ignore_index=True)
        dictionary = self._read_dictionary(files["dictionary"], parsed)
        la_codes = _read_la_codes(files["la_codes"], self.id, parsed)
        measures = self._measures(dictionary, parsed)
        areas = _place_areas(data, la_codes, context.resolver, parsed)
        periods = _periods(data, measures)
        parsed.raw_tables = {f"raw_{self.id}_data": data, f"raw_{self.id}_dictionary": dictionary,
                             f"raw_{self.id}_la_codes": la_codes}  # fmt: skip
        parsed.tables["lait_measures"] = _measures_table(measures, data, periods, self.indicators())
        parsed.observations = self._observations(data, areas, periods, release, parsed)
        return parsed

    def _read_dictionary(self, raw: RawFile, parsed: Parsed) -> pd.DataFrame:
        frame, notes = read_ees_csv(raw.path.read_bytes(), dataset=self.id, file=raw.filename,
                                    source=raw.source)  # fmt: skip
        parsed.notes.extend(notes)
        _check(frame, DICTIONARY_COLUMNS, DICTIONARY_REQUIRED, self.id, raw, parsed)
        return frame

    def _measures(self, dictionary: pd.DataFrame, parsed: Parsed) -> pd.DataFrame:
        """One row per measure: the most recently updated dictionary row, all its topics."""
        frame = dictionary.assign(
            measure=dictionary["Measure_short"].str.strip(),
            last_update=dictionary["Last Update"].map(excel_date),
            next_update=dictionary["Next Update"].map(excel_date),
        )
        topics = frame.groupby("measure")["Topic"].agg(lambda s: " / ".join(dict.fromkeys(s)))
        shared = int((topics.str.contains(" / ", regex=False)).sum())
        if shared:
            parsed.notes.append(f"{shared} measures are listed under two topics; the most "
                                "recently updated dictionary row is kept for each")  # fmt: skip
        dated = frame["last_update"].where(frame["last_update"].str.match(r"\d{4}-\d\d-\d\d$"), "")
        frame = frame.assign(_dated=dated.fillna("")).sort_values("_dated", kind="stable")
        frame = frame.drop_duplicates("measure", keep="last").set_index("measure")
        return frame.drop(columns="_dated").assign(topics=topics)

    def _observations(self, data, areas, periods, release: Release, parsed: Parsed):
        by_measure = data.groupby(MEASURE, sort=False).indices
        parts = []
        for ind in self.indicators():
            measure = str(ind.filter.get(MEASURE, ""))
            if measure not in by_measure:
                parsed.notes.append(f"indicator {ind.id}: measure {measure!r} is not in this "
                                    "release (renamed or dropped?); no observations")  # fmt: skip
                continue
            rows = data.iloc[by_measure[measure]]
            for column, wanted in ind.filter.items():
                rows = rows[rows[column].astype(str).isin(_as_list(wanted))]
            parts.append(_indicator_rows(rows, ind, areas, periods, release.label, parsed))
        observations = pd.concat(parts, ignore_index=True) if parts else _empty()
        return _one_per_key(observations, self.id, parsed)


def _key(key: str, number: int) -> str:
    return key if number == 0 else f"{key}_{number}"


def _as_list(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _check(frame, expected, required, dataset: str, raw: RawFile, parsed: Parsed) -> None:
    unexpected = check_columns(frame.columns, expected, dataset=dataset, file=raw.filename,
                               source=raw.source, required=required)  # fmt: skip
    missing = [c for c in expected if c not in frame.columns]
    if unexpected or missing:
        gone = ", ".join(missing) or "none"
        parsed.notes.append(f"{raw.filename}: new columns {', '.join(unexpected) or 'none'}; "
                            f"columns gone {gone} (none needed)")  # fmt: skip


def _read_parquet(raw: RawFile, dataset: str, parsed: Parsed) -> pd.DataFrame:
    with raw.path.open("rb") as fh:
        head = fh.read(4)
    if head != b"PAR1":
        raise BadFileError(dataset, f"{raw.filename} is not a parquet file", raw.source)
    try:
        frame = pd.read_parquet(raw.path)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise BadFileError(dataset, f"{raw.filename} cannot be read: {exc}", raw.source) from exc
    _check(frame, DATA_COLUMNS, DATA_REQUIRED, dataset, raw, parsed)
    return frame


def _read_la_codes(raw: RawFile, dataset: str, parsed: Parsed) -> pd.DataFrame:
    try:
        frame = pd.read_excel(raw.path, dtype=str)
    except (OSError, ValueError) as exc:
        raise BadFileError(dataset, f"{raw.filename} cannot be read: {exc}", raw.source) from exc
    _check(frame, LA_CODE_COLUMNS, ["LA Number", "LA Name"], dataset, raw, parsed)
    return frame


def excel_date(text: str) -> str | None:
    """An Excel day number (``45809``) as an ISO date; other text as published; '' as None."""
    text = str(text).strip()
    if re.fullmatch(r"\d{5}(\.0+)?", text):
        return (_EXCEL_EPOCH + timedelta(days=int(float(text)))).isoformat()
    return text or None


def la_number(value) -> str:
    """LAIT's ``LA Number`` (a float in the parquet) as text: ``301.0`` → ``301``."""
    if value is None or pd.isna(value):
        return ""
    number = float(value)
    return str(int(number)) if number.is_integer() else str(value)


def _place_areas(data, la_codes, resolver: AreaResolver, parsed: Parsed) -> dict:
    """(LA Number, name) -> area code or None; unplaceable areas reported or noted."""
    pairs = data[["LA Number", "LA and Regions"]].drop_duplicates()
    listed = set(la_codes["LA Number"].astype(str).str.strip())
    placed, unmatched, skipped = {}, [], []
    for value, name in pairs.itertuples(index=False):
        number = la_number(value)
        if number in NOT_AREAS:
            placed[(value, name)] = None
            skipped.append(f"{name} ({number})")
            continue
        if number in AGGREGATES:
            code = resolver.resolve(code=AGGREGATES[number])
        else:
            code = resolver.resolve(dfe_code=number or None, name=name)
        placed[(value, name)] = code
        if code is None:
            why = "a combined reporting unit" if resolver.is_combination(name) else "unknown"
            unmatched.append(f"{name} ({number or '-'}): {why}")
        if number and number not in listed:
            parsed.notes.append(f"{name} ({number}) is not in LAIT's la_code_list")
    if skipped:
        parsed.notes.append(f"{', '.join(sorted(skipped))}: groupings with no area in the areas "
                            "table; kept in raw_dfe_lait_data only")  # fmt: skip
    parsed.unmatched_areas = sorted(unmatched)
    return placed


def lait_period(label: str, year_type: str) -> tuple[str, str, str, str | None]:
    """``(period, period_start, period_end, flag)`` for a LAIT year label (see module notes)."""
    text, flag = label.strip(), None
    if found := _MARKER.match(text):
        text, marker = found.group(1).strip(), found.group(2).strip()
        flag = MARKERS.get(marker.lower(), marker)
    kind = YEAR_TYPES.get(year_type.strip())
    if kind is None:
        raise PeriodError(f"unknown year type {year_type!r}")
    if re.fullmatch(r"\d{4}", text):
        year = int(text)
        if kind in ("academic", "financial"):
            return (*_two_year(year - 1, kind), flag)
        return (*normalise_period(text), flag)
    if found := re.fullmatch(r"(\d{4})/(\d{2})-(\d{2})/(\d{2})", text):
        first = int(found.group(1))
        last = _full_year(first, found.group(3))
        return (*_span(_two_year(first, kind), _two_year(last, kind)), flag)
    if found := re.fullmatch(r"(\d{4})[-/](\d{2})", text):
        first, last = int(found.group(1)), _full_year(int(found.group(1)), found.group(2))
        if last == first + 1 and (kind != "calendar" or "/" in text):
            return (*_two_year(first, kind), flag)
        if kind == "calendar":
            return (*_span(normalise_period(str(first)), normalise_period(str(last))), flag)
    raise PeriodError(f"year label {label!r} is not a period LAIT's {year_type!r} type allows")


def _two_year(first: int, kind: str) -> tuple[str, str, str]:
    ident = "Financial year" if kind == "financial" else "Academic year"
    return normalise_period(f"{first}{(first + 1) % 100:02d}", ident)


def _full_year(first: int, two_digits: str) -> int:
    year = first // 100 * 100 + int(two_digits)
    return year if year >= first else year + 100


def _span(first: tuple[str, str, str], last: tuple[str, str, str]) -> tuple[str, str, str]:
    return f"{first[0]} to {last[0]}", first[1], last[2]


def _periods(data: pd.DataFrame, measures: pd.DataFrame) -> dict:
    """(measure, year label) -> (period, start, end, flag), or a PeriodError's message."""
    year_types = measures["Year_Type"].to_dict()
    out = {}
    for measure, label in data[[MEASURE, "Years"]].drop_duplicates().itertuples(index=False):
        if measure not in year_types:
            out[(measure, label)] = f"measure {measure!r} is not in the data dictionary"
            continue
        try:
            out[(measure, label)] = lait_period(str(label), year_types[measure])
        except PeriodError as exc:
            out[(measure, label)] = str(exc)
    return out


def _indicator_rows(rows, ind, areas: dict, periods: dict, release: str, parsed: Parsed):
    keys = list(zip(rows[MEASURE], rows["Years"], strict=True))
    found = [periods[k] for k in keys]
    bad = pd.Series([isinstance(p, str) for p in found], index=rows.index)
    for problem in sorted({p for p in found if isinstance(p, str)}):
        parsed.notes.append(f"indicator {ind.id}: {problem}; those rows are kept raw only")
    place = [areas[k] for k in zip(rows["LA Number"], rows["LA and Regions"], strict=True)]
    value, status = parse_values(rows["Values"])
    period = pd.DataFrame([p if not isinstance(p, str) else (None,) * 4 for p in found],
                          columns=["period", "period_start", "period_end", "flag"],
                          index=rows.index, dtype=object)  # fmt: skip
    out = pd.DataFrame({
        "indicator_id": ind.id, "area_code": place, "breakdown": "Total", "value": value,
        "numerator": float("nan"), "denominator": float("nan"), "status": status,
        "dataset_id": ind.dataset, "release": release,
        "source_area_code": rows["LA Number"].map(la_number),
    }, index=rows.index).join(period)  # fmt: skip
    return out[out["area_code"].notna() & ~bad][OBSERVATION_COLUMNS]


def _one_per_key(observations: pd.DataFrame, dataset: str, parsed: Parsed) -> pd.DataFrame:
    """Keep the later standing where a year is published twice; fail if two areas collide."""
    key = ["indicator_id", "area_code", "period", "breakdown"]
    rank = observations["flag"].map(lambda f: STANDING.get(f, 1))
    ordered = observations.assign(_rank=rank).sort_values("_rank", kind="stable")
    kept = ordered.drop_duplicates([*key, "source_area_code"], keep="last")
    if len(kept) < len(ordered):
        parsed.notes.append(f"{len(ordered) - len(kept)} values published for a year that is "
                            "also published with a later standing were superseded")  # fmt: skip
    clash = kept[kept.duplicated(key, keep=False)]
    if not clash.empty:
        sample = clash.head(4)[[*key, "source_area_code"]].to_dict("records")
        raise HarvestError(dataset, f"{len(clash)} observations from different LAIT areas "
                           f"fall on the same area, e.g. {sample}")  # fmt: skip
    return kept.drop(columns="_rank").sort_index().reset_index(drop=True)


def _measures_table(measures, data, periods: dict, indicators) -> pd.DataFrame:
    by_measure = {str(i.filter.get(MEASURE)): i.id for i in indicators}
    counts = data.groupby(MEASURE).size()
    spans: dict[str, list] = {}
    for (measure, _), found in periods.items():
        if not isinstance(found, str):
            spans.setdefault(measure, []).append(found)
    rows = []
    for measure, rec in measures.iterrows():
        known = sorted(spans.get(measure, []), key=lambda p: (p[1], p[2]))
        rows.append({
            "measure": measure, "measure_code": rec["Measure_code"], "title": rec["Measure"],
            "topics": rec["topics"], "lait_polarity": rec["Polarity"],
            "polarity": POLARITY.get(rec["Polarity"].strip(), "none"),
            "unit_label": rec["y_axis_name"], "year_type": rec["Year_Type"],
            "decimal_places": rec.get("dps"), "source_table": rec.get("Table_status"),
            "last_update": rec["last_update"], "next_update": rec["next_update"],
            "data_owner": rec.get("Data Owner (DO) /Supplier and Contact Details"),
            "rows": int(counts.get(measure, 0)),
            "first_period": known[0][0] if known else None,
            "last_period": known[-1][0] if known else None,
            "indicator_id": by_measure.get(measure),
        })  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(LAIT_MEASURES)).astype(object)
    return frame.map(lambda v: (v.strip() or None) if isinstance(v, str) else v)


def _empty() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in OBSERVATION_COLUMNS})
