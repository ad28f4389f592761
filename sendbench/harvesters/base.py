"""The base every harvester stands on: finding a release, reading its files, checking layouts.

A harvester does three things, and only the first depends on where the bytes come from:

1. ``find_release(http)`` asks the publisher for the latest release and returns the files to get
   (URLs); ``find_local(directory)`` finds the same files by their published names under a folder
   the user already has (``sendbench refresh --from DIR``).
2. The runner (``sendbench.refresh``) fetches or imports each file into the raw store through
   ``sendbench.http``.
3. ``parse(files, release, context)`` turns the raw files into tables: each published file as
   published (``raw_tables``), the long ``observations`` for catalogue indicators, and any other
   tables the dataset owns. Parsing never touches the network or the database.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from sendbench.areas import AreaResolver
from sendbench.catalogue import Catalogue, Dataset, Indicator
from sendbench.errors import HarvestError, LayoutError
from sendbench.http import HttpClient, RawFile

log = logging.getLogger(__name__)

OBSERVATION_COLUMNS = [
    "indicator_id",
    "area_code",
    "period",
    "breakdown",
    "value",
    "numerator",
    "denominator",
    "status",
    "period_start",
    "period_end",
    "dataset_id",
    "release",
    "source_area_code",
    "flag",
]
# ``flag`` marks a published value's standing where the publisher gives it: ``provisional``,
# ``revised`` or ``final`` (e.g. LAIT's ``2025 (prov)``); NULL when the publisher says nothing.


@dataclass(frozen=True)
class FileRef:
    """One file a release consists of: a URL to download, or a local path to import."""

    key: str
    filename: str
    url: str | None = None
    path: Path | None = None
    expect: str | None = None


@dataclass
class Release:
    """A publisher's release: its label (e.g. ``2025``) and the files that make it up."""

    label: str
    files: list[FileRef]
    published: str | None = None
    release_id: str | None = None
    url: str | None = None


@dataclass
class HarvestContext:
    """What a parser may need beyond its files: the areas known so far."""

    resolver: AreaResolver | None = None


@dataclass
class Parsed:
    """The result of parsing one release."""

    raw_tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    observations: pd.DataFrame | None = None
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    # table -> column: replace only the rows whose value in that column the new data has (e.g.
    # ``{"statistical_neighbours": "set_id"}`` keeps vintages the latest release no longer carries);
    # a table not named here is replaced whole.
    replace_by: dict[str, str] = field(default_factory=dict)
    # raw table -> the release it is a copy of, where that is not the release being loaded (each
    # year's file of a series is its own release); see sendbench.db.load.
    raw_releases: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    unmatched_areas: list[str] = field(default_factory=list)


class BaseHarvester:
    """Shared behaviour; subclasses set ``local_files`` and implement the two abstract methods.

    ``local_files`` maps each file key to the published names it may have (glob patterns). By
    default a dataset has one file, ``release``, named by the catalogue's ``files``.
    """

    local_files: dict[str, tuple[str, ...]] | None = None

    def __init__(self, dataset: Dataset, catalogue: Catalogue):
        self.dataset = dataset
        self.catalogue = catalogue

    @property
    def id(self) -> str:
        return self.dataset.id

    def indicators(self) -> list[Indicator]:
        return list(self.catalogue.indicators_for(self.dataset.id))

    def file_patterns(self) -> dict[str, tuple[str, ...]]:
        return self.local_files or {"release": tuple(self.dataset.files)}

    def find_release(self, http: HttpClient) -> Release:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        raise NotImplementedError  # pragma: no cover - abstract

    def find_local_releases(self, directory: Path) -> list[Release]:
        """Every release of this dataset under ``directory``, oldest first (default: one)."""
        return [self.find_local(directory)]

    def claims(self, path: Path) -> bool:
        """Whether a file of this name is one this dataset reads (``--from`` reports the rest)."""
        patterns = [*self.dataset.files, *(p for ps in self.file_patterns().values() for p in ps)]
        return any(fnmatch.fnmatch(path.name.lower(), p.lower()) for p in patterns)

    def find_local(self, directory: Path) -> Release:
        """Find this dataset's files under ``directory`` by their published names (recursively)."""
        directory = Path(directory)
        if not directory.is_dir():
            raise HarvestError(
                self.id, "the folder given with --from does not exist", str(directory)
            )
        refs = []
        for key, patterns in self.file_patterns().items():
            path = newest_match(directory, patterns)
            if path is None:
                raise MissingLocalFiles(
                    self.id,
                    f"no file named {' or '.join(patterns)} under the folder",
                    str(directory),
                )
            refs.append(FileRef(key=key, filename=path.name, path=path))
        return Release(label=self.local_release_label(refs), files=refs)

    def local_release_label(self, refs: list[FileRef]) -> str:
        """A release label from local file names (``…_2025.zip`` → ``2025``), else ``local``."""
        for ref in refs:
            match = re.search(r"_(\d{4}(?:[-_]\d{2,4})?)\.[a-z]+$", ref.filename)
            if match:
                return match.group(1)
        return "local"


class MissingLocalFiles(HarvestError):
    """``--from DIR`` holds none of this dataset's files."""


def newest_match(directory: Path, patterns: Iterable[str]) -> Path | None:
    """The matching file with the greatest name (releases sort by their year), or None."""
    found: list[Path] = []
    for pattern in patterns:
        found.extend(p for p in directory.rglob(pattern) if p.is_file())
    if not found:
        return None
    return max(found, key=lambda p: (_natural_key(p.name), str(p)))


def _natural_key(name: str) -> list:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def check_columns(
    columns: Iterable[str],
    expected: Iterable[str],
    *,
    dataset: str,
    file: str,
    source: str | None = None,
    required: Iterable[str] | None = None,
) -> list[str]:
    """Compare a file's columns with its known layout.

    Raises LayoutError (listing missing and unexpected columns) when a column the layout expects
    is missing; returns the unexpected columns otherwise, for the harvest notes. ``required``
    narrows which missing columns are fatal (default: all of ``expected``).
    """
    columns = list(columns)
    expected = list(expected)
    missing = [c for c in expected if c not in columns]
    unexpected = [c for c in columns if c not in expected]
    fatal = missing if required is None else [c for c in missing if c in set(required)]
    if fatal:
        raise LayoutError(dataset, file, missing, unexpected, source)
    return unexpected


def empty_observations() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in OBSERVATION_COLUMNS})
