"""sendbench from Python: the national database as pandas DataFrames, for notebooks and scripts.

>>> import sendbench
>>> db = sendbench.open("db/sendbench.db")                 # doctest: +SKIP
>>> db.benchmark("Shropshire", outcome="right_support_right_time")   # doctest: +SKIP
>>> db.series("ehcp_20_week_timeliness_pct", "E06000051")  # doctest: +SKIP

Every method returns a DataFrame with the columns of the Datasette view or table of the same
data (``latest_benchmarks``, ``outcome_scorecard``, ``indicator_series``, ``observations``,
``statistical_neighbours``, ``indicator_catalogue``, ``dataset_status``), read with plain SQL
from the stored tables, so a notebook, the CLI, the dashboard and the JSON API cannot disagree.
An area is an ONS code, a DfE code or a name, resolved as the CLI resolves it; an unknown or
ambiguous one raises :class:`sendbench.errors.AreaError` with close names.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import pandas as pd
import sqlite_utils

from sendbench.benchmark.report import choose_set, resolve_area
from sendbench.db.schema import DEFAULT_DB_NAME
from sendbench.errors import AreaError, SendbenchError

__all__ = ["DEFAULT_DB", "AreaError", "Database", "open"]

DEFAULT_DB = Path("db") / DEFAULT_DB_NAME  # the CLI's default, relative to the working folder

BENCHMARK_SQL = """
select b.*, r.name as region_name, i.title as indicator_title, i.dataset as dataset_id
from benchmarks b
left join indicators i on i.id = b.indicator_id
left join areas r on r.area_code = b.region_code
where b.area_code = :area and b.neighbour_set = :set
"""
SCORECARD_SQL = """
select a.name as area_name, s.*
from benchmark_scorecard s
left join areas a on a.area_code = s.area_code
where s.area_code = :area and s.neighbour_set = :set
order by s.position
"""


def open(db_path: str | Path | None = None) -> Database:  # noqa: A001 - sendbench.open, as documented
    """The sendbench database at ``db_path`` (default ``db/sendbench.db``, as the CLI's)."""
    return Database(db_path or DEFAULT_DB)


class Database:
    """A sendbench database, read with pandas. See the module docstring for an example."""

    def __init__(self, db_path: str | Path):
        self.path = Path(db_path)  # need not exist yet: refresh() creates it

    def __repr__(self) -> str:
        return f"sendbench.Database({str(self.path)!r})"

    # --- reading ---------------------------------------------------------------------------

    def area(self, area: str) -> dict:
        """The ``areas`` row an ONS code, DfE code or name means (AreaError otherwise)."""
        self._connect().close()  # a clear error when there is no database
        return resolve_area(sqlite_utils.Database(self.path), area)

    def benchmark(self, area: str, *, neighbours: str | None = None, outcome: str | None = None,
                  indicator: str | list[str] | None = None,
                  period: str | None = "latest") -> pd.DataFrame:  # fmt: skip
        """The area's benchmark rows (the ``latest_benchmarks`` view's columns): each
        indicator's latest period by default, ``period="2024"`` for one period, ``period=None``
        for every period; under the default neighbour set unless ``neighbours`` names one;
        narrowed to one logic-model ``outcome`` and/or ``indicator`` (an id or a list).

        >>> ids = "ehcp_20_week_timeliness_pct"
        >>> rows = db.benchmark("E06000051", indicator=ids)  # doctest: +SKIP
        >>> rows[["period", "value", "sn_mean", "england_value", "rank"]]  # doctest: +SKIP
        """
        code, set_id = self._area_and_set(area, neighbours)
        sql, params = BENCHMARK_SQL, {"area": code, "set": set_id}
        if period == "latest":
            sql += " and b.is_latest = 1"
        elif period is not None:
            sql, params = sql + " and b.period = :period", {**params, "period": period}
        if indicator is not None:
            ids = [indicator] if isinstance(indicator, str) else list(indicator)
            marks = ", ".join(f":i{n}" for n in range(len(ids)))
            sql += f" and b.indicator_id in ({marks})"
            params.update({f"i{n}": v for n, v in enumerate(ids)})
        if outcome is not None:
            self._check_outcome(outcome)
            sql += (" and b.indicator_id in (select indicator_id from indicator_outcomes "
                    "where outcome_id = :outcome)")  # fmt: skip
            params["outcome"] = outcome
        return self._query(sql + " order by b.area_code, b.indicator_id, b.period_start", params)

    def scorecard(self, area: str, neighbours: str | None = None) -> pd.DataFrame:
        """The area's outcome scorecard (the ``outcome_scorecard`` view's columns): per
        logic-model outcome, its indicators better / similar / worse, gaps included."""
        code, set_id = self._area_and_set(area, neighbours)
        return self._query(SCORECARD_SQL, {"area": code, "set": set_id})

    def series(self, indicator: str, area: str, neighbours: str | None = None) -> pd.DataFrame:
        """One indicator for the area over time, oldest first (the ``indicator_series`` view's
        columns): value, neighbour average, region, England, rank, band, trend."""
        code, set_id = self._area_and_set(area, neighbours)
        sql = ("select * from indicator_series where indicator_id = :indicator "
               "and area_code = :area and neighbour_set = :set order by period_start")  # fmt: skip
        return self._query(sql, {"indicator": indicator, "area": code, "set": set_id})

    def observations(self, **filters) -> pd.DataFrame:
        """Published values (the ``observations`` table), filtered on its columns:
        ``db.observations(indicator_id="ehcp_caseload", area_code="E06000051")``; a list is
        ``in``. ``area=`` resolves an ONS code, DfE code or name to ``area_code``."""
        if "area" in filters:
            filters["area_code"] = self.area(filters.pop("area"))["area_code"]
        columns = set(self._columns("observations"))
        unknown = sorted(set(filters) - columns)
        if unknown:
            raise SendbenchError(f"observations has no column {', '.join(unknown)} "
                                 f"(columns: {', '.join(sorted(columns))})")  # fmt: skip
        where, params = [], {}
        for n, (column, wanted) in enumerate(sorted(filters.items())):
            values = wanted if isinstance(wanted, list | tuple | set) else [wanted]
            marks = ", ".join(f":f{n}_{k}" for k in range(len(values)))
            where.append(f"[{column}] in ({marks})")
            params.update({f"f{n}_{k}": v for k, v in enumerate(values)})
        sql = "select * from observations" + (f" where {' and '.join(where)}" if where else "")
        return self._query(sql + " order by indicator_id, area_code, period_start, breakdown",
                           params)  # fmt: skip

    def neighbours(self, area: str, set: str | None = None) -> pd.DataFrame:  # noqa: A002
        """The area's ranked statistical neighbours in a set (``statistical_neighbours``)."""
        code, set_id = self._area_and_set(area, set)
        sql = ("select * from statistical_neighbours where area_code = :area and set_id = :set "
               "order by rank")  # fmt: skip
        return self._query(sql, {"area": code, "set": set_id})

    def catalogue(self) -> pd.DataFrame:
        """Every indicator: unit, polarity, outcomes, dataset (``indicator_catalogue``)."""
        return self._query("select * from indicator_catalogue", {})

    def status(self) -> pd.DataFrame:
        """Each dataset's newest release, releases held, last refresh, rows (``dataset_status``)."""
        return self._query("select * from dataset_status", {})

    # --- refreshing ---------------------------------------------------------------------------

    def refresh(self, datasets: list[str] | None = None, from_dir: str | Path | None = None, *,
                progress: bool = True, replace: tuple[str, ...] = (),
                raw_dir: str | Path | None = None) -> pd.DataFrame:  # fmt: skip
        """Refresh ``datasets`` (default: all) from their publishers, or from the files under
        ``from_dir``, then recompute the benchmarks they change, as ``sendbench refresh`` does
        (the same code, under the same lock). ``progress`` prints what happens to stderr.
        Returns one row per dataset: status, release, rows loaded, seconds, error.

        >>> sendbench.open("db/sendbench.db").refresh(["dfe_ehcp"])  # doctest: +SKIP
        """
        import sys

        from sendbench.benchmark.store import compute_benchmarks, needs_benchmarks
        from sendbench.catalogue import load_catalogue
        from sendbench.db.lock import refresh_lock
        from sendbench.db.schema import ensure_db_shape
        from sendbench.http import HttpClient
        from sendbench.refresh import refresh

        def say(dataset: str, message: str) -> None:
            if progress:
                print(f"{dataset}: {message}", file=sys.stderr, flush=True)

        self.path.parent.mkdir(parents=True, exist_ok=True)
        local = Path(from_dir) if from_dir is not None else None
        with refresh_lock(self.path, say=lambda message: say("refresh", message)):
            db = sqlite_utils.Database(self.path)
            ensure_db_shape(db)
            raw = Path(raw_dir) if raw_dir else self.path.parent / "raw"
            with HttpClient(raw, offline=local is not None) as http:
                results = refresh(db, load_catalogue(), http, dataset_ids=datasets,
                                  from_dir=local, progress=say, replace=replace)  # fmt: skip
            loaded = [r for r in results if r.status == "loaded"]
            if loaded or needs_benchmarks(db):
                changed = set().union(*(r.changed_indicators for r in loaded))
                compute_benchmarks(db, progress=lambda m: say("benchmarks", m), changed=changed)
        return pd.DataFrame(
            [
                {
                    "dataset_id": r.dataset_id,
                    "status": r.status,
                    "release": r.release,
                    "rows_loaded": r.rows_loaded,
                    "seconds": round(r.seconds, 1),
                    "error": r.error,
                }
                for r in results
            ]  # fmt: skip
        )

    # --- helpers -----------------------------------------------------------------------------

    def _area_and_set(self, area: str, set_id: str | None) -> tuple[str, str]:
        self._connect().close()  # a clear error when there is no database
        db = sqlite_utils.Database(self.path)
        return resolve_area(db, area)["area_code"], choose_set(db, set_id)

    def _check_outcome(self, outcome: str) -> None:
        known = self._query("select id from outcomes", {})["id"].tolist()
        if outcome not in known:
            raise SendbenchError(
                f"no logic-model outcome {outcome!r}; outcomes: {', '.join(known)}"
            )

    def _columns(self, table: str) -> list[str]:
        with closing(self._connect()) as conn:
            return [r[1] for r in conn.execute(f"pragma table_info([{table}])")]

    def _connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise SendbenchError(f"no database at {self.path}: run `sendbench refresh` (or "
                                 "this database's refresh()) first")  # fmt: skip
        return sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def _query(self, sql: str, params: dict) -> pd.DataFrame:
        with closing(self._connect()) as conn:
            return pd.read_sql_query(sql, conn, params=params)
