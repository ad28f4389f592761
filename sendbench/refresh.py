"""Refreshing datasets: find the latest release, fetch or import its files, parse, load.

Each dataset is refreshed on its own: a failure (network down, publisher changed a file) is
recorded in ``harvests`` with its message and leaves that dataset's last good data in place,
and the other datasets still refresh. A dataset whose files and catalogue entries are the same
as at its last successful load is recorded as ``unchanged`` and not reloaded.
"""

from __future__ import annotations

import hashlib
import json
import logging
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
from sendbench.db.load import load_parsed
from sendbench.db.schema import ensure_db_shape, save_catalogue
from sendbench.errors import SendbenchError
from sendbench.harvesters import load_harvester
from sendbench.harvesters.base import BaseHarvester, HarvestContext, MissingLocalFiles, Release
from sendbench.http import HttpClient, RawFile

log = logging.getLogger(__name__)

Progress = Callable[[str, str], None]


@dataclass
class DatasetResult:
    """What happened to one dataset in one run."""

    dataset_id: str
    status: str = "failed"  # loaded | unchanged | failed | skipped
    release: str | None = None
    published: str | None = None  # the release's publication date, where the publisher gives it
    rows_loaded: int = 0
    files: list[RawFile] = field(default_factory=list)
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    unmatched_areas: list[str] = field(default_factory=list)
    seconds: float = 0.0


def refresh(
    db: sqlite_utils.Database,
    catalogue: Catalogue,
    http: HttpClient,
    *,
    dataset_ids: Iterable[str] | None = None,
    from_dir: Path | None = None,
    progress: Progress | None = None,
) -> list[DatasetResult]:
    """Refresh the named datasets (default: all) and return one result per dataset."""
    ensure_db_shape(db)
    save_catalogue(db, catalogue)
    explicit = list(dataset_ids or [])
    datasets = plan(catalogue, explicit, loaded=_loaded_datasets(db))
    run_id = uuid.uuid4().hex[:12]
    say = progress or (lambda dataset, message: None)
    results = []
    for dataset in datasets:
        result = refresh_one(
            db,
            catalogue,
            dataset,
            http,
            from_dir=from_dir,
            run_id=run_id,
            say=say,
            required=not from_dir or dataset.id in explicit,
        )
        results.append(result)
    return results


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
) -> DatasetResult:
    """Refresh one dataset; never raises for a problem with the dataset itself."""
    result = DatasetResult(dataset.id)
    started = _now()
    clock = time.monotonic()
    source = str(from_dir) if from_dir else dataset.landing_page
    try:
        harvester = load_harvester(dataset, catalogue)
        release = _find(harvester, http, from_dir, say)
        result.release = release.label
        result.published = release.published
        source = release.url or source
        files = _get_files(harvester, release, http, say)
        result.files = list(files.values())
        fingerprint = _fingerprint(files, harvester)
        if fingerprint == _last_fingerprint(db, dataset.id):
            result.status = "unchanged"
            say(dataset.id, f"release {release.label} unchanged since the last refresh")
        else:
            say(dataset.id, f"parsing release {release.label}")
            parsed = harvester.parse(files, release, HarvestContext(resolver=_resolver(db)))
            say(dataset.id, "loading into the database")
            result.rows_loaded = load_parsed(db, dataset.id, parsed) or _table_rows(parsed)
            result.notes, result.unmatched_areas = parsed.notes, parsed.unmatched_areas
            result.status = "loaded"
        result.seconds = time.monotonic() - clock
        _record(db, run_id, result, started, fingerprint, source)
    except MissingLocalFiles as exc:
        result.status = "failed" if required else "skipped"
        result.error = str(exc)
        _record(db, run_id, result, started, None, source)
    except SendbenchError as exc:
        result.error = str(exc)
        _record(db, run_id, result, started, None, getattr(exc, "source", None) or source)
    except Exception as exc:  # noqa: BLE001 - one dataset's bug must not stop the others
        log.exception("unexpected error refreshing %s", dataset.id)
        result.error = f"{dataset.id}: unexpected error {type(exc).__name__}: {exc}"
        _record(db, run_id, result, started, None, source)
    return result


def _find(harvester: BaseHarvester, http: HttpClient, from_dir: Path | None, say: Progress):
    if from_dir is not None:
        say(harvester.id, f"looking for its files under {from_dir}")
        return harvester.find_local(from_dir)
    say(harvester.id, "finding the latest release")
    return harvester.find_release(http)


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
    return files


def _fingerprint(files: dict[str, RawFile], harvester: BaseHarvester) -> str:
    """Identifies what a load would be made from: the files, the catalogue entries, the code."""
    parts = {
        "version": __version__,
        "files": {key: raw.sha256 for key, raw in sorted(files.items())},
        "dataset": repr(harvester.dataset),
        "indicators": [repr(ind) for ind in harvester.indicators()],
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _last_fingerprint(db: sqlite_utils.Database, dataset_id: str) -> str | None:
    row = db.execute(
        "select notes from harvests where dataset_id = ? and status = 'loaded' "
        "order by id desc limit 1",
        [dataset_id],
    ).fetchone()
    if not row or not row[0]:
        return None
    return json.loads(row[0]).get("fingerprint")


def _loaded_datasets(db: sqlite_utils.Database) -> set[str]:
    rows = db.execute("select distinct dataset_id from harvests where status = 'loaded'")
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


def _record(db, run_id, result: DatasetResult, started, fingerprint, source) -> None:
    notes = {"fingerprint": fingerprint, "notes": result.notes, "unmatched": result.unmatched_areas}
    base = {
        "run_id": run_id,
        "dataset_id": result.dataset_id,
        "release": result.release,
        "published": result.published,
        "started": started,
        "finished": _now(),
        "rows_loaded": result.rows_loaded,
        "status": result.status,
        "error": result.error,
        "notes": json.dumps(notes),
    }
    rows = [
        {
            **base,
            "file": raw.filename,
            "source": raw.source,
            "sha256": raw.sha256,
            "bytes": raw.bytes,
        }
        for raw in result.files
    ] or [{**base, "file": None, "source": source, "sha256": None, "bytes": None}]
    db["harvests"].insert_all(rows, alter=True)


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
