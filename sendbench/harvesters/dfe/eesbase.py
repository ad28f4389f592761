"""The shared EES harvester: a dataset described as data files and their published layouts.

Most DfE statistics are EES publications whose "Download all data" zip holds tidy CSVs under
``data/``. A dataset module says which data files it reads and the layouts each has been
published in (:class:`DataFile`, :class:`Layout`); :class:`EesHarvester` does the rest:

- the latest release through the EES content API (``ees.latest_release``), or with
  ``--from DIR`` the release zip by its published name, else the data CSVs themselves;
- a file whose name matches several releases (one file per year, such as the NEET LA tables) is
  a ``series``: locally every year's file is read, and where two files give the same
  observation the later file wins (it is the revision), noted in the harvest summary;
- each file is matched to the first layout whose columns it has, renamed to the names the
  catalogue uses, and checked: a column an indicator needs that is missing fails with the
  missing and unexpected columns listed; a file matching no layout fails the same way against
  the closest layout;
- every file is kept as a raw table ``raw_<dataset>_<file>``, as published;
- observations for the catalogue's indicators (``ees.ees_observations``), with the ``version``
  column (``Provisional``, ``Revised``, ``Final``) kept as the observation's ``flag``;
- opt-ins for publications with termly releases and big by-characteristic files:
  ``release_needs_files`` (the newest release listing the files, ``ees.latest_release_with``),
  ``require_observations`` (an indicator matching no row fails, naming the values found) and
  ``narrow_to_indicator_rows`` (observations see only the rows some indicator selects).

Layout differences between releases live in the dataset module as data, never as branches.
"""

from __future__ import annotations

import fnmatch
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pandas as pd

from sendbench.csvread import Opener
from sendbench.errors import BadFileError, HarvestError, LayoutError
from sendbench.harvesters.base import (
    BaseHarvester,
    FileRef,
    HarvestContext,
    MissingLocalFiles,
    Parsed,
    Release,
    check_columns,
)
from sendbench.harvesters.dfe import ees
from sendbench.http import HttpClient, RawFile, open_zip
from sendbench.releases import is_dated, release_time

log = logging.getLogger(__name__)

SERIES_SEPARATOR = "@"
# A data file no layout describes is kept as a raw table up to this size; bigger ones (school-level
# files of hundreds of MB) stay in the release zip in the raw store, named in the notes.
UNKNOWN_RAW_LIMIT = 50_000_000
# Geography columns a national-only or regional-only file may leave out; filled with "".
OPTIONAL_GEOGRAPHY = ["region_code", "region_name", "new_la_code", "old_la_code", "la_name"]


@dataclass(frozen=True)
class Layout:
    """One published layout of a data file.

    ``columns`` are the columns after the EES time and geography ones, as published (a file must
    have all of them to match); ``renames`` maps published names to the names the catalogue
    uses, so indicators do not change when a release respells a column. ``reshape``, for a
    release that changed the table's shape (long instead of wide, say), is a function applied
    after the renames (frame in, frame out; ValueError for a file it cannot reshape); the
    columns it adds count as expected, the ones it removes are no longer expected.
    """

    name: str
    columns: tuple[str, ...]
    renames: Mapping[str, str] = field(default_factory=dict)
    reshape: Callable[[pd.DataFrame], pd.DataFrame] | None = None

    @classmethod
    def of(cls, name: str, columns: str | Iterable[str], renames=None, reshape=None) -> Layout:
        cols = columns.split() if isinstance(columns, str) else list(columns)
        return cls(name, tuple(cols), MappingProxyType(dict(renames or {})), reshape)


@dataclass(frozen=True)
class DataFile:
    """One data file of a publication: its key (an indicator's ``file``), names and layouts."""

    key: str
    patterns: tuple[str, ...]
    layouts: tuple[Layout, ...]
    required: bool = True
    series: bool = False
    breakdown_pairs: tuple[tuple[str, str], ...] = tuple(ees.BREAKDOWN_PAIRS)

    def matches(self, filename: str) -> bool:
        name = PurePosixPath(filename).name.lower()
        return any(fnmatch.fnmatch(name, p.lower()) for p in self.patterns)


@dataclass
class _Table:
    """One file read: which data file it is, its name, source and frame (canonical columns)."""

    datafile: DataFile
    name: str
    source: str
    frame: pd.DataFrame
    layout: str
    release: str | None = None  # its own release, for one year's file of a series


class EesHarvester(BaseHarvester):
    """An EES publication read through its data files. Subclasses set ``data_files``."""

    data_files: tuple[DataFile, ...] = ()
    # Release layouts the publisher used before, named in a refusal when a release of one lacks
    # what this version reads: (pattern every data file's name matches, how to describe it).
    older_layouts: tuple[tuple[str, str], ...] = ()
    time_columns: tuple[str, ...] = tuple(ees.TIME_COLUMNS)
    # Opt-in: take the newest release that lists every required data file (publications whose
    # termly releases lack some files), rather than the latest release whatever it holds.
    release_needs_files: bool = False
    # Opt-in: fail when an indicator's filter matches no row of its file, naming the values the
    # file has (a publisher relabelling a filter value must not silently empty an indicator).
    require_observations: bool = False
    # Opt-in, for big files whose indicators use few rows (one pupil group of many): observations
    # and area matching see only the rows and columns some indicator's filter selects.
    narrow_to_indicator_rows: bool = False

    # -- finding the release ---------------------------------------------------------------

    def find_release(self, http: HttpClient) -> Release:
        slug = self.dataset.release["publication_slug"]
        if self.release_needs_files:
            return ees.latest_release_with(
                http, slug, dataset=self.id, has_files=self.release_has_files
            )
        return ees.latest_release(http, slug, dataset=self.id)

    def release_has_files(self, names: list[str]) -> bool:
        """Whether a release listing these data files has every required one (unknown: yes)."""
        if not names:
            return True
        required = [d for d in self.data_files if d.required]
        return all(any(d.matches(name) for name in names) for d in required)

    def find_local_releases(self, directory: Path) -> list[Release]:
        """Every release zip under ``directory`` (oldest first), else the data files as one."""
        zips = (
            matching_files(Path(directory), self.dataset.files) if Path(directory).is_dir() else []
        )
        if len(zips) < 2:
            return [self.find_local(directory)]
        refs = [FileRef(key="release", filename=path.name, path=path) for path in zips]
        return [Release(label=self.local_release_label([ref]), files=[ref]) for ref in refs]

    def claims(self, path: Path) -> bool:
        patterns = [*self.dataset.files, *(p for d in self.data_files for p in d.patterns)]
        return any(fnmatch.fnmatch(path.name.lower(), p.lower()) for p in patterns)

    def find_local(self, directory: Path) -> Release:
        """The release zip by its published name if there is one, else the data files."""
        directory = Path(directory)
        if not directory.is_dir():
            raise HarvestError(
                self.id, "the folder given with --from does not exist", str(directory)
            )
        zips = matching_files(directory, self.dataset.files)
        if zips:
            path = zips[-1]
            ref = FileRef(key="release", filename=path.name, path=path)
            return Release(label=self.local_release_label([ref]), files=[ref])
        refs: list[FileRef] = []
        for datafile in self.data_files:
            found = matching_files(directory, datafile.patterns)
            if not found:
                if datafile.required:
                    names = " or ".join([*self.dataset.files, *datafile.patterns])
                    raise MissingLocalFiles(
                        self.id, f"no file named {names} under the folder", str(directory)
                    )
                continue
            chosen = found if datafile.series else found[-1:]
            for path in chosen:
                key = datafile.key
                if datafile.series:
                    key = f"{datafile.key}{SERIES_SEPARATOR}{path.name}"
                refs.append(FileRef(key=key, filename=path.name, path=path))
        return Release(label=self.local_release_label(refs), files=refs)

    def local_release_label(self, refs: list[FileRef]) -> str:
        years = [
            y for ref in refs for y in re.findall(r"(?<!\d)(20\d{2}(?:[-_]?\d{2})?)", ref.filename)
        ]
        return max(years) if years else "local"

    # -- parsing ---------------------------------------------------------------------------

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        parsed = Parsed()
        tables = self._read_all(files, parsed)
        for table in tables:
            name = raw_table_name(self.id, table.name)
            parsed.raw_tables[name] = table.frame
            if table.release and table.release != release.label:
                parsed.raw_releases[name] = table.release
        parsed.observations = self._observations(tables, release, context, parsed)
        if not is_dated(release.label):
            _label_from_data(release, parsed)
        return parsed

    def read_table(
        self, datafile: DataFile, name: str, data: bytes | Opener, source: str
    ) -> tuple[pd.DataFrame, list[str]]:
        """Read one file into text columns; CSV by default (override for workbooks). ``data``
        is its bytes or, for a zip member, a function opening it as a stream
        (``sendbench.csvread.as_bytes`` gives the bytes to readers that need them whole)."""
        return ees.read_ees_csv(data, dataset=self.id, file=name, source=source)

    def _read_all(self, files: dict[str, RawFile], parsed: Parsed) -> list[_Table]:
        tables: list[_Table] = []
        held: list[str] = []  # every data file the release holds, read or not
        for key, raw in sorted(files.items(), key=lambda kv: _natural(kv[1].filename)):
            if key == "release":
                tables.extend(self._read_zip(raw, parsed, held))
                continue
            held.append(raw.filename)
            datafile = self._datafile(key.split(SERIES_SEPARATOR)[0])
            data = raw.path.read_bytes()
            table = self._read_one(datafile, raw.filename, data, raw.source, parsed)
            if datafile.series:  # one year's file of a series is a release of its own
                table.release = self.local_release_label([FileRef(key, raw.filename)])
            tables.append(table)
        read = {t.datafile.key for t in tables}
        missing = [d.key for d in self.data_files if d.required and d.key not in read]
        if missing:
            source = next(iter(files.values())).source if files else None
            raise HarvestError(self.id, self._unknown_release(files, missing, held), source)
        return tables

    def _unknown_release(self, files: dict[str, RawFile], missing: list[str], held: list[str]):
        """Why a release's files match no known layout: what it holds, what is missing."""
        names = ", ".join(f.filename for f in files.values())
        older = next(
            (text for pattern, text in self.older_layouts
             if held and all(fnmatch.fnmatch(n.lower(), pattern) for n in held)),
            None,
        )  # fmt: skip
        read = {d.key for d in self.data_files} - set(missing)
        unexpected = [n for n in held if not any(d.matches(n) for d in self.data_files)]
        layout = self.data_files[0].layouts[-1].name if self.data_files else "?"
        what = f"{names} is {older}: " if older else f"{names}: "
        return (
            f"{what}the release has no file for {', '.join(missing)} (it holds "
            f"{', '.join(held) or 'no data files'}). The closest known layout ({layout}) has "
            f"{len(read)} of its {len(self.data_files)} files; unexpected: "
            f"{', '.join(unexpected) or 'none'}"
        )

    def _read_zip(
        self, raw: RawFile, parsed: Parsed, held: list[str] | None = None
    ) -> list[_Table]:
        tables = []
        with open_zip(raw.path, dataset=self.id, source=raw.source) as archive:
            names = sorted((n for n in archive.names() if _is_data_file(n)), key=_natural)
            if held is not None:
                held.extend(PurePosixPath(n).name for n in names)
            for datafile in self.data_files:
                members = [n for n in names if datafile.matches(n)]
                if not datafile.series:
                    members = members[-1:]
                for member in members:
                    name = PurePosixPath(member).name
                    data = archive.opener(member)  # streamed: never held whole
                    tables.append(self._read_one(datafile, name, data, raw.source, parsed))
            known = {t.name for t in tables}
            for member in names:
                name = PurePosixPath(member).name
                if name in known or not name.lower().endswith(".csv"):
                    continue
                if archive.size(member) > UNKNOWN_RAW_LIMIT:
                    parsed.notes.append(
                        f"{name}: a data file this version does not know, "
                        f"{archive.size(member) / 1e6:.0f} MB; kept in the downloaded zip only"
                    )
                    continue
                try:
                    frame, notes = ees.read_ees_csv(
                        archive.opener(member), dataset=self.id, file=name, source=raw.source
                    )
                except HarvestError as exc:
                    parsed.notes.append(f"{name}: a data file this version does not read ({exc})")
                    continue
                parsed.notes.extend(notes)
                parsed.notes.append(f"{name}: a data file this version does not know; kept raw")
                parsed.raw_tables[raw_table_name(self.id, name)] = frame
        return tables

    def _read_one(
        self, datafile: DataFile, name: str, data: bytes, source: str, parsed: Parsed
    ) -> _Table:
        frame, notes = self.read_table(datafile, name, data, source)
        parsed.notes.extend(notes)
        frame, layout = self._apply_layout(datafile, name, frame, source, parsed)
        return _Table(datafile, name, source, frame, layout.name)

    def _apply_layout(
        self, datafile: DataFile, name: str, frame: pd.DataFrame, source: str, parsed: Parsed
    ) -> tuple[pd.DataFrame, Layout]:
        columns = [c.strip() for c in frame.columns]
        frame = frame.set_axis(columns, axis=1)
        layout = next((lay for lay in datafile.layouts if set(lay.columns) <= set(columns)), None)
        if layout is None:
            closest = min(datafile.layouts, key=lambda lay: len(set(lay.columns) - set(columns)))
            expected = [*self.time_columns, "geographic_level", *closest.columns]
            known = set(expected) | set(ees.GEOGRAPHY_COLUMNS)
            raise LayoutError(
                self.id,
                name,
                [c for c in expected if c not in columns],
                [c for c in columns if c not in known],
                source,
            )
        frame = frame.rename(columns=dict(layout.renames))
        known = {*self.time_columns, *ees.GEOGRAPHY_COLUMNS, *_renamed(layout)}
        _check_geography(frame, self.id, name, source, known)
        for column in OPTIONAL_GEOGRAPHY:
            if column not in frame.columns:
                frame[column] = ""
        if "country_code" not in frame.columns:
            frame["country_code"] = ""
        expected = [*self.time_columns, "geographic_level", *_renamed(layout)]
        if layout.reshape is not None:
            before = set(frame.columns)
            try:
                frame = layout.reshape(frame)
            except ValueError as exc:
                raise BadFileError(
                    self.id, f"{name} ({layout.name} layout) cannot be reshaped: {exc}", source
                ) from exc
            expected = [c for c in expected if c in frame.columns]
            expected += [c for c in frame.columns if c not in before]
        unexpected = check_columns(
            frame.columns,
            expected,
            dataset=self.id,
            file=name,
            source=source,
            required=[*self.time_columns, "geographic_level", *self._used_columns(datafile.key)],
        )
        extra = [c for c in unexpected if c not in ees.GEOGRAPHY_COLUMNS]
        if extra:
            parsed.notes.append(
                f"{name} ({layout.name} layout): new columns {', '.join(extra)} "
                "(kept in the raw table)"
            )
        return frame, layout

    def _datafile(self, key: str) -> DataFile:
        for datafile in self.data_files:
            if datafile.key == key:
                return datafile
        raise HarvestError(self.id, f"no data file {key!r} is described for this dataset")

    def _used_columns(self, key: str) -> list[str]:
        used: list[str] = []
        for ind in self.indicators():
            if ind.file == key:
                used += [ind.column, *list(ind.filter)]
                used += [c for c in (ind.numerator, ind.denominator) if c]
        return used

    def _observations(
        self, tables: list[_Table], release: Release, context: HarvestContext, parsed: Parsed
    ) -> pd.DataFrame:
        parts: list[pd.DataFrame] = []
        unmatched: set[str] = set()
        keys = {t.datafile.key for t in tables}
        for ind in self.indicators():
            if ind.file not in keys:
                raise HarvestError(
                    self.id, f"indicator {ind.id} needs {ind.file}, not in the release"
                )
        for table in tables:  # oldest file first: a later file's value replaces an earlier one's
            indicators = [i for i in self.indicators() if i.file == table.datafile.key]
            if not indicators:
                continue
            rows = self._indicator_rows(table, indicators)
            geo = ees.geography(rows, context.resolver, dataset=self.id, file=table.name)
            unmatched.update(geo[1])
            pairs = table.datafile.breakdown_pairs
            per_file = []
            for ind in indicators:
                obs, _ = ees.ees_observations(
                    rows,
                    ind,
                    release=table.release or release.label,
                    resolver=context.resolver,
                    geo=geo,
                    breakdown_pairs=pairs,
                )
                per_file.append(obs)
            frame = pd.concat(per_file, ignore_index=True)
            check_unique(frame, self.id, table.name)
            parts.append(frame)
        parsed.unmatched_areas = sorted(unmatched)
        if self.require_observations:
            self._check_every_indicator_found(tables, parts)
        if not parts:
            raise HarvestError(self.id, "no file in the release gives any catalogue indicator")
        observations = pd.concat(parts, ignore_index=True)
        key = ["indicator_id", "area_code", "period", "breakdown"]
        replaced = observations.duplicated(key, keep="last")
        if replaced.any():
            parsed.notes.append(
                f"{int(replaced.sum())} observations given again by a later file; "
                "the later file's values are kept"
            )
            observations = observations[~replaced].reset_index(drop=True)
        return observations

    def _indicator_rows(self, table: _Table, indicators: list) -> pd.DataFrame:
        frame = table.frame
        if not self.narrow_to_indicator_rows:
            return frame
        topics = {column for pair in table.datafile.breakdown_pairs for column in pair}
        keep = pd.Series(False, index=frame.index)
        for ind in indicators:
            match = pd.Series(True, index=frame.index)
            for column, wanted in ind.filter.items():
                if column not in topics:
                    values = wanted if isinstance(wanted, (list, tuple)) else [wanted]
                    match &= frame[column].isin([str(v) for v in values])
            keep |= match
        used = {*self.time_columns, *ees.GEOGRAPHY_COLUMNS, "version", *topics}
        used.update(self._used_columns(table.datafile.key))
        return frame.loc[keep, [c for c in frame.columns if c in used]]

    def _check_every_indicator_found(self, tables: list[_Table], parts: list[pd.DataFrame]):
        found = set().union(*(set(p["indicator_id"]) for p in parts)) if parts else set()
        for ind in self.indicators():
            if ind.id in found:
                continue
            files = [t for t in tables if t.datafile.key == ind.file]
            seen = {
                column: sorted({v for t in files for v in t.frame[column].unique()})[:30]
                for column in ind.filter
            }
            raise HarvestError(
                self.id,
                f"indicator {ind.id}: no row of {', '.join(t.name for t in files)} matches "
                f"its filter {dict(ind.filter)}; the file has {seen}. The publisher may have "
                "relabelled a filter value: update the indicator's filter in the catalogue",
                files[0].source if files else None,
            )


def check_unique(observations: pd.DataFrame, dataset: str, file: str | None = None) -> None:
    """Fail when two observations from one file share indicator, area, period and breakdown."""
    key = ["indicator_id", "area_code", "period", "breakdown"]
    dupes = observations[observations.duplicated(key, keep=False)]
    if not dupes.empty:
        sample = dupes.head(5)[key + ["source_area_code"]].to_dict("records")
        where = f"{file}: " if file else ""
        raise HarvestError(
            dataset,
            f"{where}{len(dupes)} observations share indicator, area, period and breakdown, "
            f"e.g. {sample}",
        )


# The columns that say where a row is, by the geographic level of the rows that need them (DfE's
# open data standards). A file with LA rows but no ``new_la_code`` (renamed, say) fails: its rows
# could otherwise be filed by name alone, or not at all, without a word.
GEOGRAPHY_KEYS = {
    "Regional": ("region_code", "region_name"),
    "Local authority": ("new_la_code", "old_la_code", "la_name"),
}


def _check_geography(frame: pd.DataFrame, dataset: str, name: str, source: str, known: set):
    """Fail, listing missing and unexpected columns, when rows lack the columns that place them."""
    if "geographic_level" not in frame.columns:
        return  # the layout check names it as missing
    levels = set(frame["geographic_level"].unique())
    needed = [c for level, cols in GEOGRAPHY_KEYS.items() if level in levels for c in cols]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        unexpected = [c for c in frame.columns if c not in known]
        raise LayoutError(dataset, name, missing, unexpected, source)


def _label_from_data(release: Release, parsed: Parsed) -> None:
    """Name an undated release (local files without a year) by the latest period it publishes."""
    obs = parsed.observations
    if obs is None or obs.empty:
        return
    latest = max(obs["period"].dropna(), key=lambda p: release_time(p), default=None)
    if latest is None:
        return
    label = f"data to {latest}"
    parsed.notes.append(f"the files name no release; labelled {label!r} by the latest period")
    mine = obs["release"] == release.label
    obs.loc[mine, "release"] = label
    release.label = label


def _renamed(layout: Layout) -> list[str]:
    return [layout.renames.get(c, c) for c in layout.columns]


def raw_table_name(dataset: str, filename: str) -> str:
    stem = re.sub(r"[^a-z0-9]+", "_", PurePosixPath(filename).stem.lower()).strip("_")
    return f"raw_{dataset}_{stem}"


def _is_data_file(name: str) -> bool:
    path = PurePosixPath(name)
    return path.suffix.lower() in (".csv", ".xlsx") and "data" in path.parts[:-1]


def _natural(name: str) -> list:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", str(name).lower())]


def matching_files(directory: Path, patterns: Iterable[str]) -> list[Path]:
    """Files under ``directory`` whose names match any pattern (case-insensitive), oldest first."""
    lowered = [p.lower() for p in patterns]
    found = []
    for root, _dirs, names in os.walk(directory):
        for name in names:
            if any(fnmatch.fnmatch(name.lower(), p) for p in lowered):
                found.append(Path(root) / name)
    return sorted(found, key=lambda p: (_natural(p.name), str(p)))
