"""Load and validate the catalogue: the one list of outcomes, datasets and indicators.

``outcomes`` is the logic model (docs/DOMAIN.md), ``datasets`` say where each publication lives and
which harvester reads it, ``indicators`` say which column measures what, its unit, polarity and the
outcomes it evidences. Every problem is collected and raised as one CatalogueError naming entries.
The catalogue is the folder ``catalogue/`` (one YAML file per dataset, shipped inside the package as
``sendbench/catalogue_files``); ``$SENDBENCH_CATALOGUE`` overrides it with another folder or a
single YAML file holding all three lists.
"""

from __future__ import annotations

import difflib
import importlib.util
import json
import os
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

import yaml

from sendbench.errors import CatalogueError

ENV_VAR = "SENDBENCH_CATALOGUE"
ID_PATTERN = re.compile(r"[a-z][a-z0-9_]*")
SECTIONS = ("outcomes", "datasets", "indicators")
LEVELS = ("integration", "impact")
THEMES = (
    "learning_and_employment", "friends_relationships_community",
    "good_health", "independent_living",
)  # fmt: skip
UNITS = (
    "count", "percent", "rate_per_1000", "rate_per_10000", "rate_per_100000",
    "ratio", "score", "days", "weeks", "gbp",
)  # fmt: skip
POLARITIES = ("higher_is_better", "lower_is_better", "none")

_TEXT, _LIST, _MAP = "a non-empty string", "a list of non-empty strings", "a mapping"


class UnknownEntryError(CatalogueError, KeyError):
    """An id asked of a :class:`Catalogue` is not in it; the message suggests close matches."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


@dataclass(frozen=True)
class Outcome:
    """One outcome of the logic model; ``theme`` is set for impact outcomes only."""

    id: str
    title: str
    level: str
    theme: str | None = None
    description: str | None = None


@dataclass(frozen=True)
class Dataset:
    """One publication: where it lives, which harvester reads it, which files it accepts."""

    id: str
    title: str
    publisher: str
    landing_page: str
    licence: str
    harvester: str
    cadence: str
    release: Mapping[str, Any]
    files: tuple[str, ...]
    description: str | None = None
    notes: str | None = None
    depends_on: tuple[str, ...] = ()


@dataclass(frozen=True)
class Indicator:
    """One measure: a column of a dataset's file, optionally filtered to some rows."""

    id: str
    title: str
    definition: str
    dataset: str
    file: str
    column: str
    unit: str
    polarity: str
    outcomes: tuple[str, ...]
    filter: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    numerator: str | None = None
    denominator: str | None = None
    notes: str | None = None
    # A series the publisher withdrew or re-based: ``{release: <the first release without it, or
    # with the new definition>, note: <what changed>}``. Its observations from earlier releases
    # are kept under their own release (never dropped); ``withdrawn_series`` lists them.
    withdrawn: Mapping[str, Any] | None = None


WITHDRAWN_KEYS = ("release", "note")


_Entry = TypeVar("_Entry", Outcome, Dataset, Indicator)


def _key_spec(cls: type) -> dict[str, tuple[bool, str]]:
    """key -> (required, shape), read off the dataclass so the fields are defined once."""
    spec = {}
    for column in fields(cls):
        required = column.default is MISSING and column.default_factory is MISSING
        kind = str(column.type)
        shape = _MAP if kind.startswith("Mapping") else _LIST if kind.startswith("tuple") else _TEXT
        spec[column.name] = (required, shape)
    return spec


_KEYS = {cls.__name__.lower(): _key_spec(cls) for cls in (Outcome, Dataset, Indicator)}


@dataclass(frozen=True)
class Catalogue:
    """The validated catalogue. Mappings inside entries are read-only, lists are tuples."""

    outcomes: tuple[Outcome, ...]
    datasets: tuple[Dataset, ...]
    indicators: tuple[Indicator, ...]

    def outcome(self, outcome_id: str) -> Outcome:
        """The outcome with this id; :class:`UnknownEntryError` if there is none."""
        return _lookup(self.outcomes, "outcome", outcome_id)

    def dataset(self, dataset_id: str) -> Dataset:
        """The dataset with this id; :class:`UnknownEntryError` if there is none."""
        return _lookup(self.datasets, "dataset", dataset_id)

    def indicator(self, indicator_id: str) -> Indicator:
        """The indicator with this id; :class:`UnknownEntryError` if there is none."""
        return _lookup(self.indicators, "indicator", indicator_id)

    def indicators_for(self, dataset_id: str) -> tuple[Indicator, ...]:
        """The indicators read from one dataset, in catalogue order (the dataset must exist)."""
        self.dataset(dataset_id)
        return tuple(ind for ind in self.indicators if ind.dataset == dataset_id)

    def to_records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
        """Rows for the ``outcomes``, ``datasets`` and ``indicators`` tables.

        Scalars are kept as they are; mappings and lists (``release``, ``files``, ``depends_on``,
        ``filter``, an indicator's ``outcomes``) become JSON strings.
        """
        sections = (self.outcomes, self.datasets, self.indicators)
        outcomes, datasets, indicators = ([_record(entry) for entry in s] for s in sections)
        return outcomes, datasets, indicators


def default_catalogue_path() -> Path:
    """``$SENDBENCH_CATALOGUE`` if set, else the catalogue folder shipped with the package."""
    override = os.environ.get(ENV_VAR)
    return Path(override).expanduser() if override else Path(__file__).with_name("catalogue_files")


def harvester_module_exists(name: str) -> bool:
    """Whether ``sendbench.harvesters.<name>`` can be imported (found without running it)."""
    try:
        return importlib.util.find_spec(f"sendbench.harvesters.{name}") is not None
    except (ModuleNotFoundError, ValueError):  # a missing parent package, or a malformed name
        return False


def load_catalogue(
    path: Path | str | None = None, *, harvester_exists: Callable[[str], bool] | None = None
) -> Catalogue:
    """Read, validate and return the catalogue at ``path`` (default: ``default_catalogue_path()``).

    ``harvester_exists`` decides whether a dataset's ``harvester`` names a real module; it defaults
    to :func:`harvester_module_exists`. Raises :class:`CatalogueError` listing every problem found.
    """
    path = Path(path) if path is not None else default_catalogue_path()
    data = _read_catalogue(path)
    problems = _validate(data, harvester_exists or harvester_module_exists)
    if problems:
        listing = "\n".join(f"  - {problem}" for problem in problems)
        raise CatalogueError(f"{path} has {len(problems)} problem(s):\n{listing}")
    return Catalogue(
        outcomes=tuple(_build(Outcome, raw) for raw in data["outcomes"]),
        datasets=tuple(_build(Dataset, raw) for raw in data["datasets"]),
        indicators=tuple(_build(Indicator, raw) for raw in data["indicators"]),
    )


def _read_catalogue(path: Path) -> Any:
    """The parsed YAML at ``path``; a folder's ``*.yaml`` files are merged section by section."""
    if not path.is_dir():
        return _read_yaml(path)
    files = sorted(path.glob("*.yaml"))
    if not files:
        raise CatalogueError(f"the catalogue folder {path} has no *.yaml files")
    merged: dict[str, Any] = {}
    seen: dict[tuple[str, Any], str] = {}
    clashes: list[str] = []
    for file in files:
        data = _read_yaml(file)
        if data is None:
            continue
        if not isinstance(data, dict):
            raise CatalogueError(f"{file}: must be a mapping with the keys {', '.join(SECTIONS)}")
        for key, value in data.items():
            if key in SECTIONS and not isinstance(value, list):
                raise CatalogueError(f"{file}: {key!r} must be a list")
            if key in SECTIONS:
                merged.setdefault(key, []).extend(value)
                for entry in value:
                    entry_id = entry.get("id") if isinstance(entry, dict) else None
                    if entry_id is None:
                        continue
                    if (key, entry_id) in seen and seen[(key, entry_id)] != file.name:
                        clashes.append(
                            f"{key[:-1]} {entry_id!r} is in both {seen[(key, entry_id)]} "
                            f"and {file.name}"
                        )
                    seen.setdefault((key, entry_id), file.name)
            else:
                merged[key] = value  # reported by validation as an unknown key
    if clashes:
        listing = "\n".join(f"  - {clash}" for clash in clashes)
        raise CatalogueError(
            f"the catalogue folder {path} has {len(clashes)} problem(s):\n{listing}"
        )
    for key in SECTIONS:
        merged.setdefault(key, [])
    return merged


def _read_yaml(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogueError(f"cannot read the catalogue {path}: {exc.strerror or exc}") from exc
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CatalogueError(f"{path} is not valid YAML: {exc}") from exc


def _build(cls: type[_Entry], raw: dict[str, Any]) -> _Entry:
    """An entry from validated YAML: null keys take their defaults, lists and mappings freeze."""
    return cls(**{key: _freeze(value) for key, value in raw.items() if value is not None})


def _validate(data: Any, harvester_exists: Callable[[str], bool]) -> list[str]:
    """Every problem in the parsed YAML, as "<entry>: <problem>" lines."""
    allowed = ", ".join(SECTIONS)
    if not isinstance(data, dict):
        return [f"top level: must be a mapping with the keys {allowed}"]
    problems = [
        f"top level: unknown key {k!r} (allowed: {allowed})" for k in data if k not in SECTIONS
    ]
    outcomes, datasets, indicators = (_section(data, key, problems) for key in SECTIONS)
    outcome_ids, dataset_ids = _ids(outcomes), _ids(datasets)
    found = [(label, _check_outcome(raw)) for label, raw in outcomes]
    found += [
        (label, _check_dataset(raw, dataset_ids, harvester_exists)) for label, raw in datasets
    ]
    found += [(label, _check_indicator(raw, outcome_ids, dataset_ids)) for label, raw in indicators]
    return problems + [f"{label}: {problem}" for label, entry in found for problem in entry]


def _section(data: dict, key: str, problems: list[str]) -> list[tuple[str, dict]]:
    """The labelled entries of one top-level list, after the checks common to every entry."""
    entries, kind, seen = data.get(key), key[:-1], set()
    if not isinstance(entries, list):
        problems.append(f"top level: {key!r} must be a list of {kind} entries")
        return []
    labelled = []
    for number, raw in enumerate(entries, start=1):
        if not isinstance(raw, dict):
            problems.append(f"{kind} #{number}: must be a mapping, not {type(raw).__name__}")
            continue
        entry_id = raw.get("id")
        label = f"{kind} {entry_id!r}" if isinstance(entry_id, str) else f"{kind} #{number}"
        problems.extend(f"{label}: {problem}" for problem in _check_keys(raw, _KEYS[kind]))
        if isinstance(entry_id, str):
            if entry_id in seen:
                problems.append(f"{label}: duplicate id (an earlier {kind} has it too)")
            seen.add(entry_id)
        labelled.append((label, raw))
    return labelled


def _ids(labelled: list[tuple[str, dict]]) -> list[str]:
    return [raw["id"] for _, raw in labelled if isinstance(raw.get("id"), str)]


def _check_keys(raw: dict, spec: dict[str, tuple[bool, str]]) -> Iterator[str]:
    """Unknown keys, missing required keys, values of the wrong shape, a malformed id."""
    for key in (key for key in raw if key not in spec):
        yield f"unknown key {key!r} (allowed: {', '.join(spec)})"
    for key, (required, shape) in spec.items():
        value = raw.get(key)
        if value is None and required:
            yield f"missing required key {key!r}"
        elif value is not None and not _has_shape(value, shape):
            yield f"{key!r} must be {shape}, not {value!r}"
    if isinstance(raw.get("id"), str) and not ID_PATTERN.fullmatch(raw["id"]):
        yield f"id must match ^{ID_PATTERN.pattern}$"


def _has_shape(value: Any, shape: str) -> bool:
    if shape == _MAP:
        return isinstance(value, dict)
    if shape == _LIST:
        return isinstance(value, list) and all(_has_shape(item, _TEXT) for item in value)
    return isinstance(value, str) and bool(value.strip())


def _check_outcome(raw: dict) -> Iterator[str]:
    level, theme = raw.get("level"), raw.get("theme")
    if isinstance(level, str) and level not in LEVELS:
        yield f"unknown level {level!r} (allowed: {', '.join(LEVELS)})"
    if isinstance(theme, str) and theme not in THEMES:
        yield f"unknown theme {theme!r} (allowed: {', '.join(THEMES)})"
    elif level == "impact" and theme is None:
        yield f"an impact outcome needs a theme ({', '.join(THEMES)})"
    if level == "integration" and theme is not None:
        yield "an integration outcome has no theme (use theme: null)"


def _check_dataset(
    raw: dict, dataset_ids: list[str], exists: Callable[[str], bool]
) -> Iterator[str]:
    harvester, release = raw.get("harvester"), raw.get("release")
    if isinstance(harvester, str) and not exists(harvester):
        yield f"unknown harvester {harvester!r} (no module sendbench.harvesters.{harvester})"
    if isinstance(release, dict) and not _has_shape(release.get("method"), _TEXT):
        yield "'release' must have a 'method'"
    if raw.get("files") == []:
        yield "'files' must list at least one accepted file name pattern"
    others = [dataset_id for dataset_id in dataset_ids if dataset_id != raw.get("id")]
    for dependency in _strings(raw.get("depends_on")):
        if dependency == raw.get("id"):
            yield "depends_on names the dataset itself"
        elif dependency not in others:
            yield f"depends_on: {_unknown('dataset', dependency, others)}"


def _check_indicator(raw: dict, outcome_ids: list[str], dataset_ids: list[str]) -> Iterator[str]:
    dataset, unit, polarity = raw.get("dataset"), raw.get("unit"), raw.get("polarity")
    if isinstance(dataset, str) and dataset not in dataset_ids:
        yield _unknown("dataset", dataset, dataset_ids)
    if isinstance(unit, str) and unit not in UNITS:
        yield f"unknown unit {unit!r} (allowed: {', '.join(UNITS)})"
    if isinstance(polarity, str) and polarity not in POLARITIES:
        yield f"bad polarity {polarity!r} (allowed: {', '.join(POLARITIES)})"
    if raw.get("outcomes") == []:
        yield "'outcomes' must name at least one outcome"
    for outcome in _strings(raw.get("outcomes")):
        if outcome not in outcome_ids:
            yield _unknown("outcome", outcome, outcome_ids)
    row_filter = raw.get("filter") if isinstance(raw.get("filter"), dict) else {}
    for column, wanted in row_filter.items():
        values = wanted if isinstance(wanted, list) else [wanted]
        if not values or not all(isinstance(value, (str, int, float)) for value in values):
            yield f"filter on {column!r} must be a value or a non-empty list of values"
    if (raw.get("numerator") is None) != (raw.get("denominator") is None):
        yield "give both 'numerator' and 'denominator', or neither"
    withdrawn = raw.get("withdrawn")
    if isinstance(withdrawn, dict):
        for key in withdrawn:
            if key not in WITHDRAWN_KEYS:
                yield f"withdrawn: unknown key {key!r} (allowed: {', '.join(WITHDRAWN_KEYS)})"
        for key in WITHDRAWN_KEYS:
            if not _has_shape(withdrawn.get(key), _TEXT):
                yield f"withdrawn: {key!r} must be {_TEXT} (the release, as text: '2025')"


def _strings(value: Any) -> list[str]:
    return [item for item in value if isinstance(item, str)] if isinstance(value, list) else []


def _unknown(kind: str, name: str, known: Iterable[str]) -> str:
    """The phrase "unknown <kind> 'x'", with difflib's close matches as suggestions."""
    matches = difflib.get_close_matches(name, list(known), n=3)
    hint = f" (did you mean {' or '.join(repr(m) for m in matches)}?)" if matches else ""
    return f"unknown {kind} {name!r}{hint}"


def _lookup(entries: tuple[_Entry, ...], kind: str, entry_id: str) -> _Entry:
    for entry in entries:
        if entry.id == entry_id:
            return entry
    raise UnknownEntryError(f"{_unknown(kind, entry_id, (e.id for e in entries))} in the catalogue")


def _freeze(value: Any) -> Any:
    """Read-only copy of parsed YAML: dicts become mapping proxies, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({key: _freeze(item) for key, item in value.items()})
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(item) for item in value)
    return value


def _record(entry: Outcome | Dataset | Indicator) -> dict[str, Any]:
    """One table row: tuples and mappings as JSON (``default=dict`` unwraps mapping proxies)."""
    row = {column.name: getattr(entry, column.name) for column in fields(entry)}
    for key, value in row.items():
        if isinstance(value, (Mapping, tuple)):
            row[key] = json.dumps(value, default=dict, ensure_ascii=False)
    return row


def sources_table(catalogue: Catalogue) -> str:
    """The README's table of sources: one row per dataset, in Markdown.

    The README carries this table between ``<!-- sources:start -->`` and ``<!-- sources:end -->``;
    a test checks it still matches, and ``sendbench catalogue --markdown`` prints it afresh.
    """
    lines = [
        "| dataset | source | publisher | cadence | indicators | outcomes evidenced |",
        "|---|---|---|---|---|---|",
    ]
    for ds in catalogue.datasets:
        indicators = catalogue.indicators_for(ds.id)
        outcomes = sorted({o for ind in indicators for o in ind.outcomes})
        title = ds.title.replace("|", "/")
        lines.append(
            f"| `{ds.id}` | [{title}]({ds.landing_page}) | {ds.publisher} | {ds.cadence} | "
            f"{len(indicators)} | {len(outcomes)} |"
        )
    return "\n".join(lines) + "\n"
