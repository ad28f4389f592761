"""The database schema: table and column names that the API and later work rely on.

``ensure_db_shape`` is idempotent: it creates what is missing (tables, indexes, views) and leaves
data alone, so it runs at the start of every refresh and before serving.
"""

from __future__ import annotations

import sqlite_utils

from sendbench.catalogue import Catalogue

DEFAULT_DB_NAME = "sendbench.db"

AREAS = {
    "area_code": str,
    "name": str,
    "area_type": str,
    "dfe_code": str,
    "region_code": str,
    "valid_from": str,
    "valid_to": str,
    "entity_code": str,
    "status": str,
    "predecessor_codes": str,
    "successor_codes": str,
    "current_code": str,
}
AREA_LINKS = {
    "predecessor_code": str,
    "successor_code": str,
    "change_date": str,
    "kind": str,
    "note": str,
}
AREA_COMBINATIONS = {
    "combined_code": str,
    "combined_dfe_code": str,
    "name": str,
    "member_code": str,
}
OBSERVATIONS = {
    "indicator_id": str,
    "area_code": str,
    "period": str,
    "breakdown": str,
    "value": float,
    "numerator": float,
    "denominator": float,
    "status": str,
    "period_start": str,
    "period_end": str,
    "dataset_id": str,
    "release": str,
    "source_area_code": str,
    "flag": str,
}
# DfE's children's services statistical neighbours: one row per LA and neighbour, per vintage
# (``set_id`` such as ``dfe-2025-05``), rank 1 = closest.
STATISTICAL_NEIGHBOURS = {
    "set_id": str,
    "area_code": str,
    "dfe_code": str,
    "area_name": str,
    "neighbour_code": str,
    "neighbour_dfe_code": str,
    "neighbour_name": str,
    "rank": int,
    "closeness": str,
    "published": str,
    "source": str,
}
# LAIT's data dictionary, one row per measure (owned by dfe_lait): LAIT's polarity and sendbench's,
# unit label, year type, last and next update, and the catalogue indicator it feeds, if any.
LAIT_MEASURES = {
    "measure": str, "measure_code": str, "title": str, "topics": str, "lait_polarity": str,
    "polarity": str, "unit_label": str, "year_type": str, "decimal_places": str,
    "source_table": str, "last_update": str, "next_update": str, "data_owner": str,
    "rows": int, "first_period": str, "last_period": str, "indicator_id": str,
}  # fmt: skip
HARVESTS = {
    "id": int,
    "run_id": str,
    "dataset_id": str,
    "release": str,
    "published": str,
    "file": str,
    "source": str,
    "sha256": str,
    "bytes": int,
    "started": str,
    "finished": str,
    "rows_loaded": int,
    "status": str,
    "error": str,
    "notes": str,
}
# One row per dataset and release held: the publisher's label, id and publication date, and
# ``order_key`` (``sendbench.releases``), which decides which release's value wins for a key.
RELEASES = {
    "dataset_id": str,
    "release": str,
    "published": str,
    "release_id": str,
    "order_key": str,
    "source": str,
    "first_loaded": str,
    "last_loaded": str,
}
# Every raw table and the release it holds: ``raw_<dataset>_<file>`` is the newest release's copy
# of a file; an older release's copy of the same file is ``raw_<dataset>_<file>__<release>``.
SOURCE_TABLES = {
    "table_name": str,
    "dataset_id": str,
    "release": str,
    "file": str,
    "rows": int,
    "loaded": str,
}
OUTCOMES = {"id": str, "title": str, "level": str, "theme": str, "description": str}
DATASETS = {
    "id": str,
    "title": str,
    "publisher": str,
    "landing_page": str,
    "licence": str,
    "harvester": str,
    "cadence": str,
    "release": str,
    "files": str,
    "depends_on": str,
    "description": str,
    "notes": str,
}
INDICATORS = {
    "id": str,
    "title": str,
    "definition": str,
    "dataset": str,
    "file": str,
    "column": str,
    "filter": str,
    "unit": str,
    "polarity": str,
    "outcomes": str,
    "numerator": str,
    "denominator": str,
    "notes": str,
    "withdrawn": str,
}

DATASET_STATUS_VIEW = """
select d.id as dataset_id, d.title, d.publisher,
  (select release from releases r where r.dataset_id = d.id
     order by r.order_key desc limit 1) as release,
  (select count(*) from releases r where r.dataset_id = d.id) as releases_held,
  (select max(finished) from harvests h where h.dataset_id = d.id
     and h.status in ('loaded', 'replaced', 'unchanged')) as last_refreshed,
  (select count(*) from observations o where o.dataset_id = d.id) as observations,
  (select status from harvests h where h.dataset_id = d.id order by h.id desc limit 1)
     as last_status,
  (select error from harvests h where h.dataset_id = d.id and h.status = 'failed'
     and h.id = (select max(id) from harvests h2 where h2.dataset_id = d.id)) as last_error
from datasets d
"""

# Which releases a dataset holds and which periods each supplies: a release keeps the values
# no newer release gives (sendbench.db.load), so an older release may still supply old periods.
DATASET_RELEASES_VIEW = """
select o.dataset_id, o.release, r.published, r.order_key, r.source, r.last_loaded,
  count(*) as observations, count(distinct o.indicator_id) as indicators,
  count(distinct o.period) as periods, min(o.period) as first_period,
  max(o.period) as last_period,
  (select group_concat(period, ', ') from (select distinct o2.period from observations o2
     where o2.dataset_id = o.dataset_id and o2.release = o.release order by o2.period))
     as period_list
from observations o
left join releases r on r.dataset_id = o.dataset_id and r.release = o.release
group by o.dataset_id, o.release
order by o.dataset_id, r.order_key
"""

# Series the publisher withdrew or re-based (the catalogue's ``withdrawn``): the releases whose
# observations are still held, kept under their own release, never dropped.
WITHDRAWN_SERIES_VIEW = """
select i.id as indicator_id, i.title, i.dataset as dataset_id,
  json_extract(i.withdrawn, '$.release') as withdrawn_from_release,
  json_extract(i.withdrawn, '$.note') as note,
  o.release, r.published, count(*) as observations, min(o.period) as first_period,
  max(o.period) as last_period
from indicators i
join observations o on o.indicator_id = i.id
left join releases r on r.dataset_id = o.dataset_id and r.release = o.release
where i.withdrawn is not null
group by i.id, o.release
order by i.id, r.order_key
"""

# The catalogue as other tools should read it: each indicator with its dataset's title,
# publisher, licence and landing page, and the release last loaded (with its publication date).
INDICATOR_CATALOGUE_VIEW = """
select i.id as indicator_id, i.title, i.definition, i.unit, i.polarity, i.outcomes, i.numerator,
  i.denominator, i.withdrawn, i.dataset as dataset_id, d.title as dataset_title, d.publisher,
  d.licence, d.landing_page, h.release, h.published, h.finished as loaded_at
from indicators i
left join datasets d on d.id = i.dataset
left join harvests h on h.id = (select max(h2.id) from harvests h2
  where h2.dataset_id = i.dataset and h2.status in ('loaded', 'replaced'))
order by i.dataset, i.id
"""


def ensure_db_shape(db: sqlite_utils.Database) -> None:
    """Create every table, index and view sendbench needs, if missing."""
    if not db.table_names():
        # Staged loads free many pages; let load.py hand them back without a full VACUUM.
        db.conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
    db.conn.execute("PRAGMA journal_mode=DELETE")
    db["areas"].create(AREAS, pk="area_code", if_not_exists=True)
    db["area_links"].create(AREA_LINKS, if_not_exists=True)
    db["area_combinations"].create(AREA_COMBINATIONS, if_not_exists=True)
    db["outcomes"].create(OUTCOMES, pk="id", if_not_exists=True)
    db["datasets"].create(DATASETS, pk="id", if_not_exists=True)
    db["indicators"].create(
        INDICATORS, pk="id", foreign_keys=[("dataset", "datasets", "id")], if_not_exists=True
    )
    db["indicator_outcomes"].create(
        {"indicator_id": str, "outcome_id": str},
        pk=("indicator_id", "outcome_id"),
        foreign_keys=[("indicator_id", "indicators", "id"), ("outcome_id", "outcomes", "id")],
        if_not_exists=True,
    )
    db["observations"].create(
        OBSERVATIONS,
        foreign_keys=[
            ("indicator_id", "indicators", "id"),
            ("area_code", "areas", "area_code"),
            ("dataset_id", "datasets", "id"),
        ],
        if_not_exists=True,
    )
    _add_missing_columns(db, "observations", OBSERVATIONS)
    db["statistical_neighbours"].create(
        STATISTICAL_NEIGHBOURS, pk=("set_id", "area_code", "rank"), if_not_exists=True
    )
    db["lait_measures"].create(LAIT_MEASURES, pk="measure", if_not_exists=True)
    db["harvests"].create(HARVESTS, pk="id", if_not_exists=True)
    _add_missing_columns(db, "harvests", HARVESTS)
    db["releases"].create(RELEASES, pk=("dataset_id", "release"), if_not_exists=True)
    db["source_tables"].create(SOURCE_TABLES, pk="table_name", if_not_exists=True)
    _add_missing_columns(db, "indicators", INDICATORS)
    _index(db, "observations", ["indicator_id", "area_code", "period", "breakdown"], unique=True)
    _index(db, "observations", ["area_code", "indicator_id"])
    db.conn.execute("DROP INDEX IF EXISTS idx_observations_dataset_id")  # now (dataset_id, release)
    _index(db, "observations", ["dataset_id", "release"])
    _index(db, "harvests", ["dataset_id", "id"])
    _index(db, "statistical_neighbours", ["set_id", "neighbour_code"])
    for name, sql in VIEWS.items():
        ensure_view(db, name, sql)
    # Benchmarks (issue 6): tables and views defined in sendbench.benchmark.store.
    from sendbench.benchmark.store import ensure_benchmark_shape  # imported here: one block

    ensure_benchmark_shape(db)


VIEWS = {
    "dataset_status": DATASET_STATUS_VIEW,
    "dataset_releases": DATASET_RELEASES_VIEW,
    "withdrawn_series": WITHDRAWN_SERIES_VIEW,
    "indicator_catalogue": INDICATOR_CATALOGUE_VIEW,
}


def ensure_view(db: sqlite_utils.Database, name: str, sql: str) -> None:
    """Create the view, or re-create it when an older sendbench defined it differently."""
    row = db.execute("select sql from sqlite_master where type = 'view' and name = ?", [name])
    current = row.fetchone()
    if current and current[0].strip().endswith(sql.strip()):
        return
    if current:
        db.conn.execute(f"DROP VIEW [{name}]")
    db.create_view(name, sql)


def _add_missing_columns(db: sqlite_utils.Database, table: str, columns: dict) -> None:
    """Add the columns a database made by an older sendbench lacks."""
    for column, kind in columns.items():
        if column not in db[table].columns_dict:
            db[table].add_column(column, kind)


def _index(db: sqlite_utils.Database, table: str, columns: list[str], unique: bool = False) -> None:
    name = f"idx_{table}_{'_'.join(columns)}"
    db[table].create_index(columns, index_name=name, unique=unique, if_not_exists=True)


def save_catalogue(db: sqlite_utils.Database, catalogue: Catalogue) -> None:
    """Replace the outcomes, datasets and indicators tables with the catalogue's entries."""
    outcomes, datasets, indicators = catalogue.to_records()
    links = [
        {"indicator_id": ind.id, "outcome_id": outcome}
        for ind in catalogue.indicators
        for outcome in ind.outcomes
    ]
    tables = {
        "outcomes": outcomes,
        "datasets": datasets,
        "indicators": indicators,
        "indicator_outcomes": links,
    }
    conn = db.conn
    conn.commit()
    conn.execute("BEGIN IMMEDIATE")  # one transaction: the catalogue tables are never half-empty
    try:
        for table, rows in tables.items():
            conn.execute(f"DELETE FROM [{table}]")
            if rows:
                columns = list(rows[0])
                cols = ", ".join(f"[{c}]" for c in columns)
                marks = ", ".join("?" for _ in columns)
                conn.executemany(
                    f"INSERT INTO [{table}] ({cols}) VALUES ({marks})",
                    [[row.get(c) for c in columns] for row in rows],
                )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
