"""MoJ / DfE: SEND Tribunal appeal rates by local authority (appeals / appealable decisions).

- Publishers: Ministry of Justice (appeals registered, from HMCTS's GAPS2 case management system)
  and Department for Education (appealable decisions, from the SEN2 return). Table "SEND appeal
  rate table 1 / SEND_2: Appeal rate to the SEND Tribunal based on total appealable decisions, by
  local authorities in England", calendar years from 2014.
- Landing page: the EES publication "Education, health and care plans"
  (https://explore-education-statistics.service.gov.uk/find-statistics/education-health-and-care-plans),
  whose 2025 release ships the table as the supporting file ``SEND Tribunals and appeal rate
  2014-2024.csv`` (``supporting-files/`` of its "Download all data" zip: the real zip in
  ../shared/data/dfe/ehcp, as saved in MastodonC/witan.sen2). Earlier editions were ODS tables
  attached to MoJ's "Tribunal statistics quarterly" on GOV.UK (``send_appeal_rate_table_2022.ods``,
  sheet ``SEND_2``, as saved in dfe-analytical-services/SEND-AP-Inclusion-Dashboard
  ``data/tribunals/``).
- Cadence: annual, with the EHC plans release (June).
- Latest release: the EES content API (``sendbench.harvesters.dfe.ees``),
  ``GET …/api/publications/education-health-and-care-plans/releases/latest``. When its
  ``downloadFiles`` lists the table (file name matching the catalogue's ``release.file``), that one
  file is fetched with ``GET …/api/releases/{releaseVersionId}/files/{fileId}`` (EES
  ``ReleaseFileController.Stream``, dfe-analytical-services/explore-education-statistics
  ``src/GovUk.Education.ExploreEducationStatistics.Content.Api/Controllers/
  ReleaseFileController.cs``); otherwise the release zip (``…/releases/{id}/files``,
  ``StreamFilesToZip`` in the same controller) is fetched and the table read from
  ``supporting-files/``.
- Local files (``--from DIR``): ``SEND Tribunals and appeal rate <years>.csv`` or
  ``send_appeal_rate_table_<year>.ods``; the one whose name ends in the latest year is read (the
  CSV runs 2014-2024 and so supersedes the 2014-2022 ODS).

Layout (both editions, kept as data in ``LAYOUTS``): title lines, then a two-row header: row A
``Local Authority`` (the CSV adds ``LA code``) and each year over three columns, row B the
measures ``Appeals registered4``, ``Total Appealable Decisions1`` (``1,9`` from 2023),
``SEND Tribunal Appeal Rate2`` (footnote digits stuck to the text). The CSV adds two 2024 columns
"In development: Total Appealable Decisions" / "…Appeal Rate" (raw table only). Then region
headings in capitals with no values, LA rows, ``England Total``, and notes from ``Sources:`` on.

Quirks:
- Names carry footnote digits (``Cumbria8``, ``Bournemouth, Christchurch and Poole5``, ``England
  Total4,9``): dropped before matching. Names decide the area: the CSV's ``LA code`` column is
  wrong for five LAs (Northamptonshire 892, Nottingham 891 and Nottinghamshire 928 are rotated;
  Central Bedfordshire and Cambridgeshire are swapped), so a code that disagrees with the name is
  only noted. ``Durham`` is County Durham (``NAME_ALIASES``), not the county abolished in 2009.
- ``-`` means zero (the ODS legend says ``- zero``; its cells hold the number 0 shown through an
  accounting format, and the CSV is that display as text): loaded as ``value`` 0 with no
  ``status``, because a published zero is a number (the raw table keeps ``-``). ``..`` (not
  available) and ``~`` (suppressed) are symbols: ``value`` NULL, ``status`` the symbol.
- Rates are fractions in the ODS (0.013423) and rounded percentages in the CSV (``1.30%``); both
  load as percentages. Rows are one LA across all years: abolished councils (Bournemouth, Poole,
  Northamptonshire, Cumbria) keep their own codes, their successors have ``..`` before they
  existed, and Dorset's pre-2019 figures (old county boundary) are filed under today's Dorset as
  the table gives them. The ODS says all its figures are provisional (``flag``).
"""

from __future__ import annotations

import csv
import fnmatch
import io
import logging
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from sendbench.areas import ENGLAND_CODE, AreaResolver
from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import (
    OBSERVATION_COLUMNS,
    BaseHarvester,
    FileRef,
    HarvestContext,
    MissingLocalFiles,
    Parsed,
    Release,
    check_columns,
)
from sendbench.harvesters.dfe.ees import CONTENT_API, FIND_STATISTICS
from sendbench.http import HttpClient, RawFile, open_zip
from sendbench.normalise import normalise_period, parse_values

log = logging.getLogger(__name__)

NAME = "Local Authority"
MEASURES = ("Appeals registered", "Total Appealable Decisions", "SEND Tribunal Appeal Rate")
RATE = "SEND Tribunal Appeal Rate"


@dataclass(frozen=True)
class Layout:
    """One edition's layout: id columns, extra measures, how rates and zeros are written."""

    id_columns: tuple[str, ...]
    sheet: str | None = None  # ODS sheet; None for the CSV
    extras: tuple[str, ...] = ()  # measures in the last year only (kept in the raw table)
    rate_scale: float = 1.0  # multiply rates by this to get percentages
    flag: str | None = None  # the observations' standing, where the edition states it
    zero_symbols: tuple[str, ...] = ("-",)  # cells that are a published zero
    end_marker: str = "sources:"  # the first row (by name, lower case) after the table
    not_areas: tuple[str, ...] = ("england total excluding suppressed",)


LAYOUTS: dict[str, Layout] = {
    # send_appeal_rate_table_2022.ods (MoJ, GOV.UK), sheet SEND_2, 2014-2022.
    "ods": Layout(id_columns=(NAME,), sheet="SEND_2", rate_scale=100.0, flag="provisional"),
    # SEND Tribunals and appeal rate 2014-2024.csv (EES EHC plans 2025, supporting-files/).
    "csv": Layout(
        id_columns=(NAME, "LA code"),
        extras=(
            "In development: Total Appealable Decisions",
            "In development: SEND Tribunal Appeal Rate",
        ),
    ),
}
ENGLAND_NAMES = frozenset({"england", "england total"})
# Published names that mean another area than the LA list's entry of that name.
NAME_ALIASES = {"durham": "County Durham"}
_FOOTNOTE = re.compile(r"(?<=[A-Za-z)])\d+(?:,\d+)*$")
_YEAR = re.compile(r"^(?:19|20)\d\d$")
_LAST_YEAR = re.compile(r"((?:19|20)\d\d)(?!.*(?:19|20)\d\d)")


class Harvester(BaseHarvester):
    """SEND Tribunal appeal rates: one table, all years, England and every LA."""

    def find_release(self, http: HttpClient) -> Release:
        slug = self.dataset.release["publication_slug"]
        url = f"{CONTENT_API}/publications/{slug}/releases/latest"
        data = http.get_json(url, dataset=self.id)
        if not isinstance(data, dict) or not data.get("id"):
            raise BadFileError(self.id, "the EES release JSON has no release id", url)
        release_id, label = data["id"], str(data.get("slug") or data.get("title") or data["id"])
        page = f"{FIND_STATISTICS}/{slug}/{label}"
        listed = [
            f
            for f in data.get("downloadFiles") or []
            if isinstance(f, dict) and f.get("id") and self._is_table(str(f.get("fileName", "")))
        ]
        if listed:
            name = str(listed[0]["fileName"])
            file_url = f"{CONTENT_API}/releases/{release_id}/files/{listed[0]['id']}"
            ref = FileRef(key="release", filename=name, url=file_url, expect="csv")
            label = _last_year(name) or label
        else:  # the table only in the all-data zip's supporting-files/
            ref = FileRef(
                key="release",
                filename=f"{slug}_{label}.zip",
                url=f"{CONTENT_API}/releases/{release_id}/files",
                expect="zip",
            )
        return Release(
            label=label, files=[ref], published=data.get("published"), release_id=release_id,
            url=page,
        )  # fmt: skip

    def find_local(self, directory: Path) -> Release:
        """The table under ``directory`` whose name ends in the latest year (CSV or ODS)."""
        return self.find_local_releases(directory)[-1]

    def find_local_releases(self, directory: Path) -> list[Release]:
        """Every table under ``directory``, each its own release named by its last year, oldest
        first: the 2014-2022 ODS, then the 2014-2024 CSV, whose values win where both give one
        (a CSV before an ODS of the same year)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise HarvestError(
                self.id, "the folder given with --from does not exist", str(directory)
            )
        paths = {p for pat in self.dataset.files for p in directory.rglob(pat) if p.is_file()}
        if not paths:
            patterns = " or ".join(self.dataset.files)
            raise MissingLocalFiles(
                self.id, f"no file named {patterns} under the folder", str(directory)
            )
        ordered = sorted(
            paths, key=lambda p: (_last_year(p.name) or "", p.suffix == ".csv", str(p))
        )
        releases: dict[str, Release] = {}
        for path in ordered:  # of two files of one year, the CSV (sorted last) is read
            label = _last_year(path.name) or "local"
            ref = FileRef(key="release", filename=path.name, path=path)
            releases[label] = Release(label=label, files=[ref])
        return list(releases.values())

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        raw = files["release"]
        kind, grid, file = self._grid(raw)
        layout = LAYOUTS[kind]
        header, years, rows = table(grid, layout, dataset=self.id, file=file, source=raw.source)
        parsed = Parsed()
        parsed.raw_tables[f"raw_{self.id}_{kind}"] = pd.DataFrame(
            [cells for _, cells in rows], columns=header, dtype=object
        )
        long = _long(header, years, rows, layout, context.resolver, parsed, file)
        parsed.observations = self._observations(long, layout, release.label, file, raw.source)
        parsed.notes.append(
            f"{file}: {len(parsed.observations)} observations for "
            f"{parsed.observations['area_code'].nunique()} areas, {years[0]}-{years[-1]}"
        )
        return parsed

    def _is_table(self, name: str) -> bool:
        pattern = self.dataset.release.get("file") or self.dataset.files[0]
        return fnmatch.fnmatch(name.lower(), pattern.lower())

    def _grid(self, raw: RawFile) -> tuple[str, list[list[str]], str]:
        """(layout kind, every cell as text, file name) for a CSV, an ODS or an EES zip."""
        data = raw.path.read_bytes()
        if not data.startswith(b"PK"):
            return "csv", _csv_grid(data, self.id, raw.filename, raw.source), raw.filename
        with zipfile.ZipFile(io.BytesIO(data)) as probe:
            names = probe.namelist()
        if "mimetype" in names and "content.xml" in names:
            return "ods", _ods_grid(raw.path, self.id, raw.filename, raw.source), raw.filename
        folder = self.dataset.release.get("zip_folder", "supporting-files")
        with open_zip(raw.path, dataset=self.id, source=raw.source) as archive:
            inside = [
                n for n in archive.names()
                if n.startswith(f"{folder}/") and self._is_table(n.rsplit("/", 1)[-1])
            ]  # fmt: skip
            if not inside:
                raise HarvestError(
                    self.id,
                    f"the release zip has no {folder}/{self.dataset.release.get('file')}; the "
                    "table may have moved or been renamed: check the release's supporting files",
                    raw.source,
                )
            member = archive.read(inside[0])
        name = inside[0].rsplit("/", 1)[-1]
        return "csv", _csv_grid(member, self.id, name, raw.source), name

    def _observations(self, long: pd.DataFrame, layout: Layout, release: str, file: str,
                      source: str | None) -> pd.DataFrame:  # fmt: skip
        frames = []
        for ind in self.indicators():
            if ind.column not in MEASURES:
                raise HarvestError(self.id, f"indicator {ind.id}: {ind.column!r} is not one of "
                                   f"{list(MEASURES)}")  # fmt: skip
            frames.append(_indicator(long, ind, layout, release))
        out = pd.concat(frames, ignore_index=True)
        dupes = out[out.duplicated(["indicator_id", "area_code", "period"], keep=False)]
        if not dupes.empty:
            sample = dupes.head(4)[["area_code", "source_area_code", "period"]].to_dict("records")
            raise HarvestError(self.id, f"{file}: two rows resolve to one area, e.g. {sample}",
                               source)  # fmt: skip
        return out[OBSERVATION_COLUMNS]


Rows = list[tuple[int, list[str]]]


def table(grid: list[list[str]], layout: Layout, *, dataset: str, file: str,
          source: str | None = None) -> tuple[list[str], list[int], Rows]:  # fmt: skip
    """Column names (``2014 Appeals registered``…), the years, and the rows below the header.

    Rows come with their row number (1-based) and stop at the notes (``Sources:``). Raises
    LayoutError listing the missing and unexpected columns when the header is not the layout's.
    """
    top = next((i for i, row in enumerate(grid) if row and row[0].strip() == NAME), None)
    if top is None or top + 1 >= len(grid):
        raise LayoutError(dataset, f"{file} (no '{NAME}' header row)", [NAME], [], source)
    width = max(len(row) for row in grid)
    years_row, measure_row = (grid[top] + [""] * width)[:width], (grid[top + 1] + [""] * width)
    header, year = [], ""
    for i in range(width):
        if i < len(layout.id_columns):
            header.append(years_row[i].strip())
            continue
        year = years_row[i].strip() if _YEAR.match(years_row[i].strip()) else year
        measure = _clean(measure_row[i])
        header.append(f"{year} {measure}".strip() if measure else "")
    rows = []
    for number, row in enumerate(grid[top + 2 :], start=top + 3):
        cells = (row + [""] * width)[:width]
        if cells[0].strip().lower().startswith(layout.end_marker):
            break
        if any(c.strip() for c in cells):
            rows.append((number, cells))
    keep = [i for i, name in enumerate(header) if name or any(c[i].strip() for _, c in rows)]
    header = [header[i] or f"column {i + 1}" for i in keep]
    rows = [(n, [cells[i] for i in keep]) for n, cells in rows]
    years = sorted({int(h[:4]) for h in header if _YEAR.match(h[:4])})
    if not years:
        raise LayoutError(dataset, f"{file} (no years in the header)", [NAME], header, source)
    required = [*layout.id_columns, *(f"{y} {m}" for y in years for m in MEASURES)]
    expected = [*required, *(f"{years[-1]} {m}" for m in layout.extras)]
    check_columns(header, expected, dataset=dataset, file=file, source=source, required=required)
    return header, years, rows


def _long(header: list[str], years: list[int], rows, layout: Layout, resolver: AreaResolver,
          parsed: Parsed, file: str) -> pd.DataFrame:  # fmt: skip
    """One record per area row and year: area code, published name/code and the three cells."""
    at = {name: i for i, name in enumerate(header)}
    code_at = at.get("LA code")
    records, headings, disagree = [], [], []
    for number, cells in rows:
        published = cells[0].strip()
        name = _clean(published)
        values = [cells[at[f"{y} {m}"]].strip() for y in years for m in MEASURES]
        if not any(values):
            headings.append(name)  # region headings (NORTH EAST…), blank lines
            continue
        if name.lower() in layout.not_areas:
            parsed.notes.append(f"{file} row {number}: {published!r} is not an area; raw only")
            continue
        code = cells[code_at].strip() if code_at is not None else ""
        area = _resolve(name, resolver)
        if area is None:
            given = f" (LA code {code})" if code else ""
            parsed.unmatched_areas.append(
                f"{file} row {number}: {published!r}{given}: no area of that name in the areas "
                "table; its values are in the raw table only"
            )
            continue
        by_code = resolver.resolve(dfe_code=code) if code else None
        if by_code is not None and by_code != area:
            disagree.append(f"{name} ({code} is {by_code}, filed under {area})")
        for year in years:
            cell = {m: cells[at[f"{year} {m}"]] for m in MEASURES}
            records.append({"area_code": area, "source_area_code": code or published,
                            "year": str(year), **cell})  # fmt: skip
    if disagree:
        parsed.notes.append(f"{file}: the LA code column disagrees with the name for "
                            f"{len(disagree)} rows; names used: {'; '.join(disagree)}")  # fmt: skip
    parsed.notes.append(f"{file}: {len(headings)} heading or blank rows without values skipped")
    return pd.DataFrame(records, columns=["area_code", "source_area_code", "year", *MEASURES])


def _indicator(long: pd.DataFrame, ind, layout: Layout, release: str) -> pd.DataFrame:
    value, status = _values(long[ind.column], layout)
    if ind.column == RATE:
        value = value * layout.rate_scale
    periods = [normalise_period(y) for y in long["year"]]
    out = pd.DataFrame(
        {
            "indicator_id": ind.id,
            "area_code": long["area_code"],
            "period": [p[0] for p in periods],
            "breakdown": "Total",
            "value": value,
            "numerator": _values(long[ind.numerator], layout)[0] if ind.numerator else None,
            "denominator": _values(long[ind.denominator], layout)[0] if ind.denominator else None,
            "status": status,
            "period_start": [p[1] for p in periods],
            "period_end": [p[2] for p in periods],
            "dataset_id": ind.dataset,
            "release": release,
            "source_area_code": long["source_area_code"],
            "flag": layout.flag,
        }
    )
    return out


def _values(cells: pd.Series, layout: Layout) -> tuple[pd.Series, pd.Series]:
    """(value, status): a zero symbol is the number 0, other symbols a status with no value."""
    text = cells.astype(str).str.strip()
    text = text.where(~text.isin(layout.zero_symbols), "0")
    return parse_values(text)


def _resolve(name: str, resolver: AreaResolver) -> str | None:
    key = name.lower()
    if key in ENGLAND_NAMES:
        return ENGLAND_CODE
    return resolver.resolve(name=NAME_ALIASES.get(key, name))


def _clean(text: str) -> str:
    """A name or measure without its footnote digits: ``Cumbria8`` → ``Cumbria``."""
    return _FOOTNOTE.sub("", " ".join(str(text).split()))


def _last_year(name: str) -> str | None:
    found = _LAST_YEAR.search(name)
    return found.group(1) if found else None


def _csv_grid(data: bytes, dataset: str, file: str, source: str | None) -> list[list[str]]:
    if data.lstrip(b"\xef\xbb\xbf \r\n\t")[:15].lower().startswith((b"<!doctype", b"<html")):
        raise BadFileError(dataset, f"{file} is an HTML page, not a CSV", source)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        text = data.decode("cp1252", errors="replace")
    return [row for row in csv.reader(io.StringIO(text))]


def _ods_grid(path: Path, dataset: str, file: str, source: str | None) -> list[list[str]]:
    sheet = LAYOUTS["ods"].sheet
    try:
        frame = pd.read_excel(path, engine="odf", sheet_name=sheet, header=None, dtype=object)
    except ValueError as exc:  # pandas: "Worksheet named 'SEND_2' not found"
        raise HarvestError(dataset, f"{file}: no sheet {sheet!r} ({exc}); the publisher may have "
                           "changed the workbook", source) from exc  # fmt: skip
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise BadFileError(dataset, f"{file} is not a readable ODS file: {exc}", source) from exc
    return [[_text(v) for v in row] for row in frame.itertuples(index=False)]


def _text(value: object) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
