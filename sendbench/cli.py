"""The ``sendbench`` command line: thin commands over the library.

Library errors (``SendbenchError``) become ``click.ClickException`` here and nowhere else.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

import click
import sqlite_utils

from sendbench import __version__
from sendbench.benchmark.store import compute_benchmarks, needs_benchmarks
from sendbench.catalogue import load_catalogue, sources_table
from sendbench.db.lock import RefreshBusy, refresh_lock
from sendbench.db.schema import DEFAULT_DB_NAME, ensure_db_shape
from sendbench.errors import SendbenchError
from sendbench.http import DEFAULT_DEADLINE, HttpClient
from sendbench.refresh import DatasetResult, refresh, unrecognised_files

DEFAULT_DB = Path("db") / DEFAULT_DB_NAME


def _default_db() -> Path:
    return Path(os.environ.get("SENDBENCH_DB", DEFAULT_DB))


db_option = click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=_default_db,
    show_default="db/sendbench.db, or $SENDBENCH_DB",
    help="The SQLite database to build or read.",
)


@click.group()
@click.version_option(__version__, prog_name="sendbench")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def main(verbose: int) -> None:
    """sendbench: national SEND statistics for local areas in England.

    Harvests published datasets into one SQLite database, benchmarks every local authority
    and serves the result with Datasette.
    """
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")


@main.command(name="refresh")
@click.argument("datasets", nargs=-1)
@click.option(
    "--from",
    "from_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Build from files already on disk (found by their published names, recursively) "
    "instead of downloading. Nothing is fetched from the network. Every release of a dataset "
    "found there is read, oldest first; files no dataset reads are listed.",
)
@db_option
@click.option(
    "--raw-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where downloaded files are kept [default: raw/ beside the database].",
)
@click.option(
    "--replace",
    "replace",
    multiple=True,
    metavar="DATASET",
    help="Rebuild DATASET from scratch: drop every release it holds, then load what this run "
    "finds (repeatable). Without it, releases accumulate.",
)
@click.option(
    "--wait/--no-wait",
    default=True,
    show_default=True,
    help="When another refresh is running on the database, wait for it, or stop at once.",
)
@click.option(
    "--download-deadline",
    "deadline",
    type=click.FloatRange(min=1),
    default=DEFAULT_DEADLINE,
    show_default=True,
    metavar="SECONDS",
    help="Give up on a download (one attempt) that has not finished in SECONDS, however "
    "steadily the server still sends.",
)
@click.option(
    "-q",
    "--quiet",
    is_flag=True,
    help="Print only the summary and errors, not each step (nor progress bars).",
)
def refresh_command(datasets, from_dir, db_path, raw_dir, replace, wait, deadline, quiet) -> None:
    """Refresh DATASETS (default: all) from their publishers or from --from DIR.

    Each dataset's latest release is found and its files fetched (only when changed), parsed
    and merged atomically: a release revises the values it covers and every other value stays
    (an older or partial file never erases a newer one). A dataset that fails keeps its last
    good data; the exit status is non-zero when any dataset failed. One refresh runs on a
    database at a time.
    """
    catalogue = _catalogue()
    for dataset_id in [*datasets, *replace]:
        _check(lambda d=dataset_id: catalogue.dataset(d))
    db_path.parent.mkdir(parents=True, exist_ok=True)
    raw_dir = raw_dir or db_path.parent / "raw"
    say = lambda message: _progress("refresh", message)  # noqa: E731
    try:
        with refresh_lock(db_path, wait=wait, say=say):  # before the database is touched
            db = _open_db(db_path, create=True)
            results = _refresh(
                db, catalogue, datasets, from_dir, raw_dir, replace, wait, deadline, quiet
            )
    except RefreshBusy as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"\nDatabase: {db_path}")
    if any(r.status == "failed" for r in results):
        sys.exit(1)


def _refresh(
    db, catalogue, datasets, from_dir, raw_dir, replace, wait, deadline=DEFAULT_DEADLINE,
    quiet=False,
) -> list[DatasetResult]:  # fmt: skip
    """The refresh, its summary and the benchmark recompute, all under the refresh lock."""
    bars = None if quiet else download_bars()
    http = HttpClient(raw_dir, offline=from_dir is not None, deadline=deadline, on_download=bars)
    with http:
        results = _check(
            lambda: refresh(
                db, catalogue, http, dataset_ids=datasets, from_dir=from_dir,
                progress=None if quiet else _progress, replace=replace, wait=wait,
            )
        )  # fmt: skip
    _summary(results)
    if from_dir is not None:
        _not_recognised(catalogue, from_dir)
    loaded = [r for r in results if r.status == "loaded"]
    if loaded or needs_benchmarks(db):
        changed = set().union(*(r.changed_indicators for r in loaded))
        _recompute(db, changed=changed, quiet=quiet)
    return results


def _recompute(
    db: sqlite_utils.Database, changed: set[str] | None = None, quiet: bool = False
) -> None:
    """Recompute the stored benchmarks: of the ``changed`` indicators only, when given."""
    click.echo("", err=True)
    say = None if quiet else (lambda m: _progress("benchmarks", m))
    run = _check(lambda: compute_benchmarks(db, progress=say, changed=changed))
    scope = (
        f"{run['indicators_recomputed']} changed indicators"
        if run.get("indicators_recomputed") is not None
        else "every indicator"
    )
    click.echo(
        f"benchmarks           {run['benchmark_rows']:,} rows ({scope}), neighbour sets "
        f"{', '.join(json.loads(run['neighbour_sets'])) or 'none loaded'} "
        f"(default {run['default_set']}), {run['seconds']:.1f} s"
    )


def _progress(dataset_id: str, message: str) -> None:
    click.echo(f"{click.style(dataset_id, bold=True)}: {message}", err=True)


def download_bars():
    """A progress bar per download (bytes, rate, time left) when stderr is a terminal, with
    tqdm: small, no dependencies of its own, and it steps aside by itself when the output is
    not a terminal. None (plain progress lines only) on a pipe, a log file or under CI=true."""
    ci = os.environ.get("CI", "").strip().lower() in ("true", "1", "yes")
    if ci or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    def bar(dataset: str, name: str, total: int | None):
        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, leave=False,
                    desc=f"{dataset}: {name}", file=sys.stderr, dynamic_ncols=True)  # fmt: skip

    return bar


STATUS_COLOURS = {"loaded": "green", "replaced": "green", "unchanged": "cyan", "skipped": "yellow"}


def _summary(results: list[DatasetResult]) -> None:
    click.echo("")
    width = max([20, *(len(r.dataset_id) for r in results)])
    for r in results:
        colour = STATUS_COLOURS.get(r.status, "red")
        line = f"{r.dataset_id:<{width}} {click.style(r.status, fg=colour):<20}"
        if r.release:
            line += f" release {r.release}"
        if r.status == "loaded":
            line += f", {r.rows_loaded:,} rows in {r.seconds:.1f} s"
        click.echo(line)
        many = len(r.loads) > 1
        for load in r.loads:
            if load.summary is not None:
                prefix = f"release {load.release}: " if many else ""
                click.echo(f"    {prefix}{load.summary.describe()}")
            elif many:
                click.echo(f"    release {load.release}: {load.status}")
        if r.error:
            click.echo(f"    {r.error}")
        for note in r.notes:
            click.echo(f"    note: {note}")
        for area in r.unmatched_areas:
            click.echo(f"    unmatched area (not loaded as an observation): {area}")


def _not_recognised(catalogue, from_dir: Path) -> None:
    files = unrecognised_files(catalogue, from_dir)
    if files:
        click.echo(f"\n{len(files)} files under {from_dir} that no dataset reads:")
    for path in files:
        click.echo(f"    not recognised: {path}")


@main.command()
@db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def status(db_path: Path, as_json: bool) -> None:
    """Each dataset's releases held (and the periods each supplies), when it was last
    refreshed, its rows and its last error."""
    db = _open_db(db_path)
    rows = list(db["dataset_status"].rows)
    held: dict[str, list[dict]] = {}
    for release in db["dataset_releases"].rows:
        held.setdefault(release["dataset_id"], []).append(
            {k: release[k] for k in ("release", "published", "observations", "first_period",
                                     "last_period", "period_list")}
        )  # fmt: skip
    if as_json:
        click.echo(json.dumps([{**r, "releases": held.get(r["dataset_id"], [])} for r in rows],
                              indent=2))  # fmt: skip
        return
    for row in rows:
        click.echo(
            f"{row['dataset_id']:<26} release {row['release'] or '-':<12} "
            f"refreshed {row['last_refreshed'] or 'never':<26} "
            f"{row['observations']:>9,} observations  last: {row['last_status'] or '-'}"
        )
        releases = held.get(row["dataset_id"], [])
        if len(releases) > 1:
            for release in releases:
                click.echo(
                    f"    release {release['release']}: {release['observations']:,} "
                    f"observations, periods {_periods(release)}"
                )
        if row["last_error"]:
            click.echo(f"    last error: {row['last_error']}")


def _periods(release: dict) -> str:
    periods = (release["period_list"] or "").split(", ")
    if len(periods) <= 6:
        return ", ".join(periods)
    return f"{release['first_period']} to {release['last_period']} ({len(periods)} periods)"


@main.command(name="export")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["parquet", "csv"]),
    default="parquet",
    show_default=True,
    help="Parquet (typed, for DuckDB, Polars, R arrow, Spark) or gzipped CSV.",
)
def export_command(out_dir: Path, db_path: Path, fmt: str) -> None:
    """Write observations, benchmarks, areas, indicators and statistical_neighbours under DIR
    as Parquet or gzipped CSV, partitioned by dataset, with the tables' column names and types.

    Example: sendbench export export/ ; then in DuckDB:
    select * from read_parquet('export/benchmarks/*/*.parquet', hive_partitioning = true)
    """
    from sendbench.db.export import export

    _open_db(db_path)
    say = lambda message: _progress("export", message)  # noqa: E731
    manifest = _check(lambda: export(db_path, out_dir, fmt, say=say))
    total = sum(t["rows"] for t in manifest["tables"].values())
    click.echo(f"Exported {total:,} rows of {len(manifest['tables'])} tables to {out_dir} "
               f"({fmt}); what was written: {out_dir / 'export.json'}")  # fmt: skip


@main.command(name="catalogue")
@click.option("--json", "as_json", is_flag=True, help="Print the catalogue as JSON.")
@click.option(
    "--markdown", is_flag=True, help="Print the table of sources (as in the README) in Markdown."
)
@click.option("--dataset", "dataset_id", help="Only this dataset's indicators.")
def catalogue_command(as_json: bool, markdown: bool, dataset_id: str | None) -> None:
    """List the datasets and indicators sendbench knows."""
    catalogue = _catalogue()
    outcomes, datasets, indicators = catalogue.to_records()
    if dataset_id:
        _check(lambda: catalogue.dataset(dataset_id))
        datasets = [d for d in datasets if d["id"] == dataset_id]
        indicators = [i for i in indicators if i["dataset"] == dataset_id]
    if as_json:
        data = {"outcomes": outcomes, "datasets": datasets, "indicators": indicators}
        click.echo(json.dumps(data, indent=2))
        return
    if markdown:
        click.echo(sources_table(catalogue), nl=False)
        return
    for ds in datasets:
        click.echo(click.style(f"{ds['id']}: {ds['title']}", bold=True))
        click.echo(f"  {ds['publisher']}; {ds['cadence']}; {ds['licence']}")
        click.echo(f"  {ds['landing_page']}")
        for ind in (i for i in indicators if i["dataset"] == ds["id"]):
            outcomes_of = ", ".join(json.loads(ind["outcomes"]))
            click.echo(
                f"    {ind['id']:<45} {ind['unit']:<15} {ind['polarity']:<17} {ind['title']}"
                f"  [{outcomes_of}]"
            )
            if ind["withdrawn"]:
                withdrawn = json.loads(ind["withdrawn"])
                click.echo(
                    f"        withdrawn from release {withdrawn['release']}: {withdrawn['note']} "
                    "(earlier releases' values kept)"
                )


@main.command()
@db_option
@click.option("--port", default=8001, show_default=True, help="Port to listen on.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--warm/--no-warm",
    default=True,
    show_default=True,
    help="Render every LA's dashboard in the background as the server starts.",
)
@click.option(
    "--allow-sql",
    is_flag=True,
    help="Let anyone run arbitrary SQL (?sql=, _where=, the query editor), one expensive query "
    "at a time with a 1 s limit. Off by default: the documented endpoints do not need it.",
)
def serve(db_path: Path, port: int, host: str, warm: bool, allow_sql: bool) -> None:
    """Serve the database with Datasette (read-only), with metadata from the catalogue, the
    local area dashboard (/-/sendbench/dashboard) and the API guide (/-/sendbench/api)."""
    from sendbench.db.serve import make_datasette, run

    _open_db(db_path)
    datasette = _check(lambda: make_datasette(db_path, catalogue=_catalogue(), allow_sql=allow_sql))
    click.echo(f"Serving {db_path} at http://{host}:{port}/ (Ctrl+C to stop)", err=True)
    click.echo(f"Dashboard: http://{host}:{port}/-/sendbench/dashboard", err=True)
    run(datasette, host, port, warm=warm, say=lambda text: click.echo(text, err=True))


FORMATS = ("table", "csv", "json", "xlsx")


@main.command()
@click.argument("area", required=False)
@db_option
@click.option(
    "--neighbours",
    "set_id",
    help="Neighbour set to compare with (e.g. dfe-2021-04-lgr) [default: the latest DfE set].",
)
@click.option(
    "--outcome", "outcomes", multiple=True, help="Only indicators of this outcome (repeatable)."
)
@click.option("--indicator", "indicators", multiple=True, help="Only this indicator (repeatable).")
@click.option(
    "--period",
    "periods",
    multiple=True,
    help="Only this period, e.g. 2024 or 2024/25 (repeatable); 'all' for every period "
    "[default: each indicator's latest].",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for the terminal; csv, json; xlsx for the inspection pack workbook.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file instead of the terminal (xlsx default: benchmark-<code>.xlsx).",
)
@click.option(
    "--recompute",
    is_flag=True,
    help="Recompute the stored benchmarks from the observations first (AREA then optional).",
)
def benchmark(area, db_path, set_id, outcomes, indicators, periods, output_format, output,
              recompute) -> None:  # fmt: skip
    """Benchmark AREA (an ONS code, DfE code or name) against its statistical neighbours, its
    region and England: values, ranks, quartile bands, significance and trends by outcome.

    Reads the stored benchmarks table (computed at the end of every refresh), so the table, the
    exports and Datasette always agree.
    """
    from sendbench.benchmark import report

    db = _open_db(db_path)
    if recompute:
        _recompute(db)
    if not area:
        if recompute:
            return
        raise click.UsageError("give an AREA (ONS code, DfE code or name), or --recompute")
    place = _check(lambda: report.resolve_area(db, area))
    bench = _check(
        lambda: report.load_area_benchmark(
            db, place["area_code"], set_id, outcomes=outcomes, indicators=indicators,
            periods=periods,
        )
    )  # fmt: skip
    if output_format == "xlsx":
        from sendbench.benchmark.xlsx import write_workbook

        path = output or Path(f"benchmark-{place['area_code']}.xlsx")
        write_workbook(bench, path)
        click.echo(f"Wrote {path} ({place['name']}, neighbour set {bench.neighbour_set})", err=True)
        return
    from sendbench.benchmark import render as renderings

    render = {"table": renderings.to_table, "csv": renderings.to_csv, "json": renderings.to_json}
    text = render[output_format](bench)
    if output:
        output.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
        click.echo(f"Wrote {output}", err=True)
    else:
        click.echo(text)


@main.command()
@click.argument("area")
@db_option
@click.option(
    "--set",
    "set_id",
    help="Neighbour set (e.g. dfe-2025-05, dfe-2021-04-lgr) [default: the latest DfE set].",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def neighbours(area, db_path, set_id, as_json) -> None:
    """List AREA's statistical neighbours: rank, name, codes, closeness and the set used."""
    from sendbench.benchmark import report

    db = _open_db(db_path)
    place = _check(lambda: report.resolve_area(db, area))
    sets = _check(lambda: report.neighbour_sets(db))
    chosen = _check(lambda: report.pick_neighbour_set(sets, set_id))
    rows = report.neighbour_list(db, place["area_code"], chosen)
    if as_json:
        records = rows.astype(object).where(rows.notna(), None).to_dict("records")
        click.echo(json.dumps({"area_code": place["area_code"], "name": place["name"],
                               "set_id": chosen, "neighbours": records}, indent=2))  # fmt: skip
        return
    click.echo(f"{place['name']} ({place['area_code']}): neighbour set {chosen} "
               f"(loaded: {', '.join(sets)})")  # fmt: skip
    if rows.empty:
        click.echo(f"  {place['name']} has no neighbours in {chosen}.")
    for row in rows.to_dict("records"):
        click.echo(f"  {row['rank']:>2}  {row['neighbour_name'] or '-':<36} "
                   f"{row['neighbour_code'] or '-':<10} {row['neighbour_dfe_code'] or '-':<4} "
                   f"{row['closeness'] or '-'}")  # fmt: skip


def _catalogue():
    return _check(load_catalogue)


def _open_db(db_path: Path, create: bool = False) -> sqlite_utils.Database:
    if not create and not db_path.exists():
        raise click.ClickException(
            f"no database at {db_path}: run `sendbench refresh` first (or pass --db)"
        )
    if create:
        db_path.parent.mkdir(parents=True, exist_ok=True)
        db = sqlite_utils.Database(db_path)
        ensure_db_shape(db)
        return db
    db = sqlite_utils.Database(db_path)
    if "dataset_status" not in db.view_names():
        raise click.ClickException(
            f"{db_path} is not a sendbench database: run `sendbench refresh` first (or pass --db)"
        )
    return db


def _check(call):
    try:
        return call()
    except SendbenchError as exc:
        raise click.ClickException(str(exc)) from exc
