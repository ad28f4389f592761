"""Explore Education Statistics (EES): finding a publication's latest release and reading its files.

Sources for the formats (checked in the EES source code, dfe-analytical-services/
explore-education-statistics):

- ``GET https://content.explore-education-statistics.service.gov.uk/api/publications/{slug}/releases/latest``
  returns the latest release as JSON: ``id`` (the release version id), ``slug`` (e.g. ``2025``),
  ``title``, ``published`` and ``downloadFiles`` (``id``, ``fileName``, ``name``, ``type``…)
  (Content API ``ReleaseController.GetLatestRelease``).
- ``GET https://content.explore-education-statistics.service.gov.uk/api/releases/{id}/files``
  streams the release's "Download all data" zip (``ReleaseFileController.StreamFilesToZip``), with
  ``data/*.csv``, ``data-guidance/`` and ``supporting-files/``, and a Last-Modified header.

EES data files follow DfE's open data standards: ``time_period``/``time_identifier``,
``geographic_level`` (``National``, ``Regional``, ``Local authority``…), ``country_code``,
``region_code``, ``new_la_code``/``old_la_code``/``la_name``, then filters and indicators. CSVs
have a BOM and CRLF line ends.
"""

from __future__ import annotations

import csv
import io
import logging
from collections.abc import Callable, Iterable

import pandas as pd

from sendbench import csvread
from sendbench.areas import ENGLAND_CODE, AreaResolver
from sendbench.catalogue import Indicator
from sendbench.csvread import Opener, head_of, opener_of
from sendbench.errors import BadFileError, HarvestError
from sendbench.harvesters.base import OBSERVATION_COLUMNS, FileRef, Release
from sendbench.http import HttpClient, sniff_bytes
from sendbench.normalise import PeriodError, normalise_period, parse_values

log = logging.getLogger(__name__)

CONTENT_API = "https://content.explore-education-statistics.service.gov.uk/api"
FIND_STATISTICS = "https://explore-education-statistics.service.gov.uk/find-statistics"

TIME_COLUMNS = ["time_period", "time_identifier"]
GEOGRAPHY_COLUMNS = [
    "geographic_level",
    "country_code",
    "country_name",
    "region_code",
    "region_name",
    "new_la_code",
    "old_la_code",
    "la_name",
]
# Filter columns that split a file into a headline and published breakdowns: (topic, value). A
# pair may name one column twice when the column is its own topic (e.g. a phase with "Total").
BREAKDOWN_PAIRS = [("breakdown_topic", "breakdown")]
# Levels that become observations; others (e.g. local authority district) stay in raw tables.
LEVELS = ["National", "Regional", "Local authority"]


def latest_release(http: HttpClient, slug: str, *, dataset: str) -> Release:
    """Ask the EES content API for the latest release of ``slug`` and return its all-data zip."""
    url = f"{CONTENT_API}/publications/{slug}/releases/latest"
    return _release(http.get_json(url, dataset=dataset), slug, dataset=dataset, url=url)


def latest_release_with(
    http: HttpClient,
    slug: str,
    *,
    dataset: str,
    has_files: Callable[[list[str]], bool],
    look_back: int = 6,
) -> Release:
    """The newest release of ``slug`` whose data files satisfy ``has_files``.

    Publications with termly releases (absence, exclusions) publish some files only in some
    releases, so the latest release may lack them. ``has_files`` gets the data file names a
    release JSON lists in ``downloadFiles``; when the latest release fails it, the releases of
    ``GET /api/publications/{slug}/releases`` (newest first) are tried, at most ``look_back``.
    """
    url = f"{CONTENT_API}/publications/{slug}/releases/latest"
    latest = http.get_json(url, dataset=dataset)
    if has_files(release_file_names(latest)):
        return _release(latest, slug, dataset=dataset, url=url)
    list_url = f"{CONTENT_API}/publications/{slug}/releases"
    summaries = http.get_json(list_url, dataset=dataset)
    tried = [str(latest.get("slug"))] if isinstance(latest, dict) else []
    listed = summaries if isinstance(summaries, list) else []
    slugs = [s.get("slug") for s in listed if isinstance(s, dict)]
    for release_slug in [s for s in slugs if s and s not in tried][:look_back]:
        one_url = f"{CONTENT_API}/publications/{slug}/releases/{release_slug}"
        data = http.get_json(one_url, dataset=dataset)
        tried.append(release_slug)
        if has_files(release_file_names(data)):
            return _release(data, slug, dataset=dataset, url=one_url)
    raise HarvestError(
        dataset,
        f"none of the releases {', '.join(tried)} of {slug} has the data files this dataset "
        "reads; the publisher may have renamed them: check the release's data guidance",
        list_url,
    )


def release_file_names(data) -> list[str]:
    """The data file names an EES release JSON lists in ``downloadFiles`` (may be empty)."""
    files = data.get("downloadFiles") if isinstance(data, dict) else None
    listed = [f for f in files or [] if isinstance(f, dict)]
    return [str(f["fileName"]) for f in listed if f.get("fileName")]


def _release(data, slug: str, *, dataset: str, url: str) -> Release:
    """A :class:`Release` (its all-data zip) from an EES release JSON."""
    try:
        release_id = data["id"]
        label = str(data.get("slug") or data.get("title") or release_id)
    except (KeyError, TypeError) as exc:
        raise BadFileError(dataset, "the EES release JSON has no release id", url) from exc
    zip_ref = FileRef(
        key="release",
        filename=f"{slug}_{label}.zip",
        url=f"{CONTENT_API}/releases/{release_id}/files",
        expect="zip",
    )
    return Release(
        label=label,
        files=[zip_ref],
        published=data.get("published"),
        release_id=release_id,
        url=f"{FIND_STATISTICS}/{slug}/{label}",
    )


def read_ees_csv(
    data: bytes | Opener, *, dataset: str, file: str, source: str | None = None
) -> tuple[pd.DataFrame, list[str]]:
    """Read an EES CSV as published: every cell text, nothing turned into NaN.

    ``data`` is the file's bytes or a function opening it as a stream (a zip member): it is
    decoded and parsed as it is read, within the memory a table may use
    (:mod:`sendbench.csvread`). UTF-8 (with or without a BOM) is tried first, then
    Windows-1252. Returns the frame and notes. A column name repeated in the header is handled on
    purpose: when the copies are identical in every row one is kept (noted); when they differ
    the later ones are kept as ``name__2``, ``name__3`` (noted) so nothing is lost.
    """
    opener = opener_of(data)
    _refuse_non_text(head_of(data), dataset=dataset, file=file, source=source)
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            with opener() as stream:
                text = io.TextIOWrapper(stream, encoding=encoding, newline="")
                header = next(csv.reader([text.readline()]), None)
                if not header:
                    raise BadFileError(dataset, f"{file} is empty", source)
                frame = csvread.read_chunked(
                    text, dataset=dataset, file=file, source=source, dtype=str,
                    keep_default_na=False, header=None,
                )  # fmt: skip
            break
        except UnicodeDecodeError:
            continue
        except (pd.errors.ParserError, ValueError) as exc:
            raise BadFileError(dataset, f"{file} is not a readable CSV: {exc}", source) from exc
    else:
        raise BadFileError(dataset, f"{file} is neither UTF-8 nor Windows-1252 text", source)
    if frame.empty and not len(frame.columns):
        frame = pd.DataFrame(columns=range(len(header)), dtype=str)
    if frame.shape[1] != len(header):
        raise BadFileError(
            dataset, f"{file} has {frame.shape[1]} columns of data but {len(header)} names", source
        )
    return _dedupe_columns(frame, header, file)


def _refuse_non_text(head: bytes, *, dataset: str, file: str, source: str | None) -> None:
    text = head[:512].lstrip(b"\xef\xbb\xbf \r\n\t").lower()
    if text.startswith((b"<!doctype html", b"<html")):
        raise BadFileError(dataset, f"{file} is an HTML page, not a CSV", source)
    kind = sniff_bytes(head)
    if kind is not None and kind.startswith("UTF-16"):
        raise BadFileError(dataset, f"{file} is {kind}, not a UTF-8 or Windows-1252 CSV as EES "
                           "publishes them; save it as UTF-8", source)  # fmt: skip
    if not head:
        raise BadFileError(dataset, f"{file} is empty", source)


def _dedupe_columns(
    frame: pd.DataFrame, header: list[str], file: str
) -> tuple[pd.DataFrame, list[str]]:
    notes: list[str] = []
    names: list[str] = []
    keep: list[int] = []
    first_at: dict[str, int] = {}
    for i, name in enumerate(header):
        if name not in first_at:
            first_at[name] = i
            names.append(name)
            keep.append(i)
            continue
        if frame.iloc[:, i].equals(frame.iloc[:, first_at[name]]):
            notes.append(f"{file}: column {name!r} is repeated with identical values; one is kept")
            continue
        copy = sum(1 for n in header[:i] if n == name) + 1
        names.append(f"{name}__{copy}")
        keep.append(i)
        notes.append(
            f"{file}: column {name!r} is repeated with different values; kept as {name}__{copy}"
        )
    out = frame.iloc[:, keep].copy()
    out.columns = names
    return out, notes


def ees_observations(
    frame: pd.DataFrame,
    indicator: Indicator,
    *,
    release: str,
    resolver: AreaResolver,
    breakdown_pairs: Iterable[tuple[str, str]] = BREAKDOWN_PAIRS,
    geo: tuple[pd.DataFrame, list[str]] | None = None,
) -> tuple[pd.DataFrame, list[str]]:
    """Long observations for one indicator from one EES file, with unmatched LA rows reported.

    Rows matching the indicator's filter on a breakdown-topic column are the headline
    (``breakdown`` = ``Total``); the file's other topics become ``Topic: value`` breakdowns.
    Filters on any other column apply to every row. ``geo`` is ``geography(frame, …)``, passed
    in when several indicators come from the same file so it is worked out once.
    """
    geo_frame, unmatched = geo or geography(
        frame, resolver, dataset=indicator.dataset, file=indicator.file
    )
    pairs = [(t, v) for t, v in breakdown_pairs if t in frame.columns and v in frame.columns]
    topic_cols = {t for t, _ in pairs}
    rows = frame
    for column, wanted in indicator.filter.items():
        if column in topic_cols:
            continue
        rows = rows[rows[column].isin(_as_list(wanted))]
    rows = rows[rows["geographic_level"].isin(LEVELS)]
    breakdown = _breakdown_labels(rows, indicator, pairs)
    place = geo_frame.loc[rows.index]
    value, status = parse_values(rows[indicator.column])
    out = pd.DataFrame(
        {
            "indicator_id": indicator.id,
            "area_code": place["area_code"],
            "period": place["period"],
            "breakdown": breakdown,
            "value": value,
            "numerator": _number(rows, indicator.numerator),
            "denominator": _number(rows, indicator.denominator),
            "status": status,
            "period_start": place["period_start"],
            "period_end": place["period_end"],
            "dataset_id": indicator.dataset,
            "release": release,
            "source_area_code": place["source_area_code"],
            "flag": _flags(rows),
        },
        index=rows.index,
    )
    out = out[out["area_code"].notna()]
    return out[OBSERVATION_COLUMNS].reset_index(drop=True), unmatched


def geography(
    frame: pd.DataFrame, resolver: AreaResolver, *, dataset: str, file: str
) -> tuple[pd.DataFrame, list[str]]:
    """Area codes and normalised periods for a file's national, regional and LA rows.

    Returns a frame indexed like those rows (``area_code``, ``source_area_code``, ``period``,
    ``period_start``, ``period_end``) and the LA rows that could not be matched to an area.
    """
    rows = frame[frame["geographic_level"].isin(LEVELS)]
    area_code, unmatched = _area_codes(rows, resolver)
    geo = _periods(rows, dataset, file)
    geo["area_code"] = area_code
    geo["source_area_code"] = _source_codes(rows)
    return geo, unmatched


def _as_list(value) -> list[str]:
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


def _breakdown_labels(rows: pd.DataFrame, indicator: Indicator, pairs) -> pd.Series:
    labels = pd.Series("Total", index=rows.index, dtype=object)
    for topic, value in pairs:
        if topic not in indicator.filter:
            continue
        headline = rows[topic].isin(_as_list(indicator.filter[topic]))
        other = ~headline
        # A filter column that is its own breakdown (topic == value, e.g. phase_type_grouping with
        # "Total" as the headline) is labelled by the column's name: "phase_type_grouping: Special".
        prefix = topic if topic == value else rows.loc[other, topic].str.strip()
        labels[other] = prefix + ": " + rows.loc[other, value].str.strip()
    return labels


def _area_codes(rows: pd.DataFrame, resolver: AreaResolver) -> tuple[pd.Series, list[str]]:
    level = rows["geographic_level"]
    codes = pd.Series(None, index=rows.index, dtype=object)
    codes[level == "National"] = rows.loc[level == "National", "country_code"].replace(
        "", ENGLAND_CODE
    )
    # Regional rows are filed under the region in the areas table; DfE also publishes Inner and
    # Outer London (E13) as "Regional" rows, which are not regions there and stay raw only.
    regional = rows.loc[level == "Regional", "region_code"]
    known = {code: resolver.resolve(code=code) for code in regional.unique() if code}
    codes[level == "Regional"] = regional.map(known)
    unmatched = []
    names = rows.loc[level == "Regional", "region_name"]
    for code, name in sorted(set(zip(regional, names, strict=True))):
        if not known.get(code) and not code.startswith("E13"):  # any other region is reported
            unmatched.append(f"{name or '-'} (region {code or '-'}): unknown")
    la = rows[level == "Local authority"]
    keys = la[["new_la_code", "old_la_code", "la_name"]].drop_duplicates()
    lookup = {}
    for new, old, name in keys.itertuples(index=False):
        resolved = resolver.resolve(code=new or None, dfe_code=old or None, name=name or None)
        lookup[(new, old, name)] = resolved
        if resolved is None:
            why = "a combined reporting unit" if resolver.is_combination(new) else "unknown"
            unmatched.append(f"{name} ({new or '-'} / {old or '-'}): {why}")
    row_keys = zip(la["new_la_code"], la["old_la_code"], la["la_name"], strict=True)
    codes[la.index] = [lookup[k] for k in row_keys]
    return codes, unmatched


def _source_codes(rows: pd.DataFrame) -> pd.Series:
    level = rows["geographic_level"]
    return rows["new_la_code"].where(
        level == "Local authority",
        rows["region_code"].where(level == "Regional", rows["country_code"]),
    )


def _periods(rows: pd.DataFrame, dataset: str, file: str) -> pd.DataFrame:
    keys = rows[["time_period", "time_identifier"]].drop_duplicates()
    table = {}
    for tp, ident in keys.itertuples(index=False):
        try:
            table[(tp, ident)] = normalise_period(tp, ident)
        except PeriodError as exc:
            raise HarvestError(dataset, f"{file}: {exc}") from exc
    values = [table[k] for k in zip(rows["time_period"], rows["time_identifier"], strict=True)]
    return pd.DataFrame(values, columns=["period", "period_start", "period_end"], index=rows.index)


# EES's ``version`` column, where a file has one, says whether a figure is provisional, revised or
# final; it becomes the observation's ``flag``.
VERSION_FLAGS = {"provisional": "provisional", "revised": "revised", "final": "final"}


def _flags(rows: pd.DataFrame) -> pd.Series:
    if "version" not in rows.columns:
        return pd.Series(None, index=rows.index, dtype=object)
    text = rows["version"].astype(str).str.strip().str.lower()
    return text.map(VERSION_FLAGS).where(lambda s: s.notna(), None)


def _number(rows: pd.DataFrame, column: str | None) -> pd.Series:
    if not column:
        return pd.Series(float("nan"), index=rows.index)
    return parse_values(rows[column])[0]
