"""Refreshing datasets: find the latest release, fetch or import its files, parse, merge.

Each dataset is refreshed on its own: a failure (network down, publisher changed a file) is
recorded in ``harvests`` with its message and leaves that dataset's last good data in place,
and the other datasets still refresh. A release whose files and catalogue entries are the same
as at an earlier load is recorded as ``unchanged`` and not reloaded.

Observations accumulate (``sendbench.db.load``): a load revises what its release covers and keeps
everything else. With ``--from DIR`` every release of a dataset found under the folder is read,
oldest first (two EHC plans zips, the tribunal CSV and ODS); each year's file of a per-year series
is its own release. ``replace`` names datasets to rebuild from scratch on purpose.

Only one refresh runs on a database at a time (``sendbench.db.lock``); staging tables a killed
run left behind are dropped when the next one starts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import sqlite_utils

from sendbench import __version__
from sendbench.areas import AreaResolver
from sendbench.catalogue import Catalogue, Dataset
from sendbench.db.load import LoadSummary, drop_stale_staging, load_parsed, register_existing
from sendbench.db.lock import database_path, refresh_lock
from sendbench.db.schema import ensure_db_shape, save_catalogue
from sendbench.errors import SendbenchError
from sendbench.harvesters import load_harvester
from sendbench.harvesters.base import BaseHarvester, HarvestContext, MissingLocalFiles, Release
from sendbench.http import HttpClient, RawFile, not_data, sniff
from sendbench.normalise import out_of_range

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]


@dataclass
class ReleaseLoad:
    """What one release of a dataset did in one run."""

    release: str
    status: str  # loaded | unchanged | failed
    rows_loaded: int = 0
    summary: LoadSummary | None = None
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    unmatched_areas: list[str] = field(default_factory=list)


@dataclass
class DatasetResult:
    """What happened to one dataset in one run (one or more releases)."""

    dataset_id: str
    status: str = "failed"  # loaded | unchanged | failed | skipped
    release: str | None = None  # the newest release read
    published: str | None = None  # the release's publication date, where the publisher gives it
    rows_loaded: int = 0
    files: list[RawFile] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    unmatched_areas: list[str] = field(default_factory=list)
    seconds: float = 0.0
    loads: list[ReleaseLoad] = field(default_factory=list)
    changed_indicators: set[str] = field(default_factory=set)


def refresh(
    db: sqlite_utils.Database,
    catalogue: Catalogue,
    http: HttpClient,
    *,
    dataset_ids: Iterable[str] | None = None,
    from_dir: Path | None = None,
    progress: Progress | None = None,
    replace: Iterable[str] = (),
    wait: bool = True,
) -> list[DatasetResult]:
    """Refresh the named datasets (default: all) and return one result per dataset."""
    say = progress or (lambda dataset, message: None)
    with refresh_lock(database_path(db.conn), wait=wait, say=lambda m: say("refresh", m)):
        ensure_db_shape(db)
        stale = drop_stale_staging(db)
        if stale:
            say("refresh", f"removed {len(stale)} staging tables an interrupted run left behind")
        save_catalogue(db, catalogue)
        register_existing(db)
        explicit = list(dataset_ids or [])
        rebuild = set(replace)
        datasets = plan(catalogue, [*explicit, *sorted(rebuild - set(explicit))],
                        loaded=_loaded_datasets(db))  # fmt: skip
        run_id = uuid.uuid4().hex[:12]
        return [
            refresh_one(
                db, catalogue, dataset, http, from_dir=from_dir, run_id=run_id, say=say,
                required=not from_dir or dataset.id in explicit or dataset.id in rebuild,
                replace=dataset.id in rebuild,
            )
            for dataset in datasets
        ]  # fmt: skip


def plan(catalogue: Catalogue, requested: list[str], *, loaded: set[str]) -> list[Dataset]:
    """Datasets to refresh, dependencies first; a dependency never loaded is added."""
    wanted = [catalogue.dataset(d) for d in requested] if requested else list(catalogue.datasets)
    order: list[Dataset] = []

    def visit(dataset: Dataset, chain: tuple[str, ...]) -> None:
        if dataset.id in chain:
            raise SendbenchError(f"datasets depend on each other: {' -> '.join(chain)}")
        for dep in dataset.depends_on:
            dep_ds = catalogue.dataset(dep)
            if dep_ds in wanted or dep not in loaded:
                visit(dep_ds, (*chain, dataset.id))
        if dataset not in order:
            order.append(dataset)

    for dataset in wanted:
        visit(dataset, ())
    return order


def refresh_one(
    db: sqlite_utils.Database,
    catalogue: Catalogue,
    dataset: Dataset,
    http: HttpClient,
    *,
    from_dir: Path | None,
    run_id: str,
    say: Progress,
    required: bool = True,
    replace: bool = False,
) -> DatasetResult:
    """Refresh one dataset, every release of it found; never raises for the dataset's problems."""
    result = DatasetResult(dataset.id)
    clock = time.monotonic()
    started = _now()
    source = str(from_dir) if from_dir else dataset.landing_page
    try:
        harvester = load_harvester(dataset, catalogue)
        releases = _find(harvester, http, from_dir, say)
    except MissingLocalFiles as exc:
        result.status = "failed" if required else "skipped"
        result.error = str(exc)
        _record(db, run_id, result, None, started, None, source)
        return result
    except SendbenchError as exc:
        result.error = str(exc)
        _record(db, run_id, result, None, started, None, getattr(exc, "source", None) or source)
        return result
    except Exception as exc:  # noqa: BLE001 - one dataset's bug must not stop the others
        log.exception("unexpected error finding %s", dataset.id)
        result.error = f"{dataset.id}: unexpected error {type(exc).__name__}: {exc}"
        _record(db, run_id, result, None, started, None, source)
        return result
    for release in releases:
        load = _refresh_release(db, harvester, release, http, run_id, say, result, replace)
        replace = replace and load.status != "loaded"  # rebuilt once; later releases merge
        result.loads.append(load)
    result.seconds = time.monotonic() - clock
    statuses = {load.status for load in result.loads}
    result.status = next(s for s in ("failed", "loaded", "unchanged") if s in statuses)
    return result


def _refresh_release(db, harvester, release: Release, http, run_id, say, result, replace):
    """Fetch, parse and merge one release, recording it in ``harvests``."""
    started = _now()
    result.release, result.published = release.label, release.published
    source = release.url or (str(release.files[0].path) if release.files else None)
    load = ReleaseLoad(release.label, "failed")
    files: dict[str, RawFile] = {}
    fingerprint = None
    try:
        files = _get_files(harvester, release, http, say)
        result.files.extend(files.values())
        fingerprint = _fingerprint(files, harvester)
        if not replace and fingerprint in _loaded_fingerprints(db, harvester.id):
            load.status = "unchanged"
            say(harvester.id, f"release {release.label} unchanged since it was loaded")
        else:
            say(harvester.id, f"parsing release {release.label}")
            parsed = harvester.parse(files, release, HarvestContext(resolver=_resolver(db)))
            units = {ind.id: ind.unit for ind in harvester.indicators()}
            parsed.notes.extend(out_of_range(parsed.observations, units))
            say(harvester.id, "merging into the database" + (" (rebuilding)" if replace else ""))
            summary = load_parsed(
                db, harvester.id, parsed, release=release, run_id=run_id, replace=replace
            )
            load.summary, load.status = summary, "loaded"
            load.rows_loaded = summary.observations or _table_rows(parsed)
            result.rows_loaded += load.rows_loaded
            load.notes, load.unmatched_areas = parsed.notes + summary.notes, parsed.unmatched_areas
            result.notes.extend(load.notes)
            result.unmatched_areas.extend(load.unmatched_areas)
            result.changed_indicators |= summary.changed_indicators
    except SendbenchError as exc:
        load.error = str(exc)
        source = getattr(exc, "source", None) or source
    except Exception as exc:  # noqa: BLE001 - one dataset's bug must not stop the others
        log.exception("unexpected error refreshing %s", harvester.id)
        load.error = f"{harvester.id}: unexpected error {type(exc).__name__}: {exc}"
    if load.error:
        result.error = "; ".join(filter(None, [result.error, load.error]))
    status = "replaced" if replace and load.status == "loaded" else load.status
    _record(db, run_id, result, load, started, fingerprint, source, files, status)
    return load


def _find(harvester: BaseHarvester, http: HttpClient, from_dir: Path | None, say: Progress):
    if from_dir is not None:
        say(harvester.id, f"looking for its files under {from_dir}")
        return harvester.find_local_releases(from_dir)
    say(harvester.id, "finding the latest release")
    return [harvester.find_release(http)]


def _get_files(
    harvester: BaseHarvester, release: Release, http: HttpClient, say: Progress
) -> dict[str, RawFile]:
    files = {}
    for ref in release.files:
        if ref.path is not None:
            say(harvester.id, f"reading {ref.path}")
            files[ref.key] = http.import_local(ref.path, dataset=harvester.id)
        else:
            say(harvester.id, f"downloading {ref.url}")
            files[ref.key] = http.fetch(
                ref.url, dataset=harvester.id, filename=ref.filename, expect=ref.expect
            )
        _refuse_non_data(files[ref.key], harvester.id)
    return files


def _refuse_non_data(raw: RawFile, dataset: str) -> None:
    """An empty file, a web page or UTF-16 text under a data file's name is refused before any
    reader sees it, saying what it is and which file (under the --from folder, or downloaded)."""
    kind = sniff(raw.path)
    if kind is not None:
        raise not_data(dataset, raw.filename, kind, raw.source)


def _fingerprint(files: dict[str, RawFile], harvester: BaseHarvester) -> str:
    """Identifies what a load would be made from: the files, the catalogue entries, the code."""
    parts = {
        "version": __version__,
        "files": {key: raw.sha256 for key, raw in sorted(files.items())},
        "dataset": repr(harvester.dataset),
        "indicators": [repr(ind) for ind in harvester.indicators()],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _loaded_fingerprints(db: sqlite_utils.Database, dataset_id: str) -> set[str]:
    """Fingerprints of the releases loaded since the dataset was last rebuilt.

    Loads merge the same way whatever their order, so a release loaded before (same files, same
    catalogue, same code) would change nothing: it is not loaded again.
    """
    rows = db.execute(
        "select notes from harvests where dataset_id = ? and status in ('loaded', 'replaced') "
        "and id >= coalesce((select max(id) from harvests where dataset_id = ? "
        "and status = 'replaced'), 0)",
        [dataset_id, dataset_id],
    ).fetchall()
    found = set()
    for (notes,) in rows:
        fingerprint = json.loads(notes or "{}").get("fingerprint")
        if fingerprint:
            found.add(fingerprint)
    return found


def _loaded_datasets(db: sqlite_utils.Database) -> set[str]:
    rows = db.execute(
        "select distinct dataset_id from harvests where status in ('loaded', 'replaced')"
    )
    return {r[0] for r in rows}


def _resolver(db: sqlite_utils.Database) -> AreaResolver | None:
    if not db["areas"].exists() or db["areas"].count == 0:
        return None
    # The resolver matches published LA, region and England codes and names; NHS geographies
    # (loaded by nhsd_mhsds) are never candidates, so a trust's name cannot match a council.
    areas = pd.read_sql(
        "select * from areas where area_type in ('country', 'region', 'la')", db.conn
    )
    combinations = pd.read_sql("select * from area_combinations", db.conn)
    return AreaResolver(areas, combinations)


def _table_rows(parsed) -> int:
    return sum(len(frame) for frame in parsed.tables.values())


def _record(db, run_id, result, load, started, fingerprint, source, files=None, status=None):
    summary = load.summary if load else None
    notes = {
        "fingerprint": fingerprint,
        "notes": load.notes if load else result.notes,
        "unmatched": load.unmatched_areas if load else result.unmatched_areas,
        "merge": summary.actions if summary else None,
        "raw_tables": summary.raw_tables if summary else None,
        "held": held_releases(db, result.dataset_id) if summary else None,
        "pid": os.getpid(),
    }
    base = {
        "run_id": run_id,
        "dataset_id": result.dataset_id,
        "release": load.release if load else result.release,
        "published": result.published if load else None,
        "started": started,
        "finished": _now(),
        "rows_loaded": load.rows_loaded if load else 0,
        "status": status or (load.status if load else result.status),
        "error": (load.error if load else result.error),
        "notes": json.dumps(notes),
    }
    rows = [
        {**base, "file": raw.filename, "source": raw.source, "sha256": raw.sha256,
         "bytes": raw.bytes}
        for raw in (files or {}).values()
    ] or [{**base, "file": None, "source": source, "sha256": None, "bytes": None}]  # fmt: skip
    db["harvests"].insert_all(rows, alter=True)


def unrecognised_files(catalogue: Catalogue, directory: Path) -> list[Path]:
    """Files under ``directory`` (recursively) that no dataset of the catalogue reads.

    ``--from`` reports them so that a user sees a file was not used (a misnamed download, a
    publisher's new file name, a dataset sendbench does not know). Hidden files and the
    folder's own documentation (``*.md``) are not listed.
    """
    harvesters = []
    for dataset in catalogue.datasets:
        try:
            harvesters.append(load_harvester(dataset, catalogue))
        except SendbenchError:  # a dataset whose harvester cannot load claims nothing
            continue
    found = []
    for path in sorted(Path(directory).rglob("*")):
        relative = path.relative_to(directory)
        if not path.is_file() or any(part.startswith(".") for part in relative.parts):
            continue
        if path.suffix.lower() == ".md":
            continue
        if not any(h.claims(path) for h in harvesters):
            found.append(path)
    return found


def held_releases(db: sqlite_utils.Database, dataset_id: str) -> list[dict]:
    """The releases a dataset's observations come from, oldest first, with their periods."""
    rows = db.execute(
        "select o.release, o.period, count(*) from observations o "
        "left join releases r on r.dataset_id = o.dataset_id and r.release = o.release "
        "where o.dataset_id = ? group by o.release, o.period order by r.order_key, o.period",
        [dataset_id],
    ).fetchall()
    held: dict[str, dict] = {}
    for release, period, count in rows:
        entry = held.setdefault(release, {"release": release, "periods": [], "observations": 0})
        entry["periods"].append(period)
        entry["observations"] += count
    return list(held.values())


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
