"""The outcome scorecard: for each LA, neighbour set and logic-model outcome, the indicators that
evidence it in their latest period and how many are better / similar / worse than the neighbour
group and England (95% level). Outcomes with no indicator yet are kept, as gaps.

Counted per comparison: ``better``, ``similar``, ``worse``; ``higher_or_lower`` for a significant
difference on an indicator with no polarity (no judgement is made); ``not_compared`` where there
is no interval (no numerator and denominator, or no published number) or no benchmark value.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

SCORECARD_COLUMNS = {
    "area_code": str, "neighbour_set": str, "position": int, "outcome_id": str,
    "outcome_title": str, "level": str, "theme": str, "status": str, "indicators": int,
    "indicator_ids": str, "with_data": int,
    "neighbours_better": int, "neighbours_similar": int, "neighbours_worse": int,
    "neighbours_higher_or_lower": int, "neighbours_not_compared": int,
    "england_better": int, "england_similar": int, "england_worse": int,
    "england_higher_or_lower": int, "england_not_compared": int,
}  # fmt: skip
GAP, NO_DATA, COVERED = "gap: no indicator yet", "no data for this area", "covered"
_BUCKETS = {"better": "better", "similar": "similar", "worse": "worse", "higher": "higher_or_lower",
            "lower": "higher_or_lower"}  # fmt: skip


def scorecard(
    benchmarks: pd.DataFrame, outcomes: pd.DataFrame, links: pd.DataFrame
) -> pd.DataFrame:
    """Scorecard rows (SCORECARD_COLUMNS) from the latest benchmark rows.

    ``benchmarks``: rows with is_latest, area_code, neighbour_set, indicator_id, value,
    vs_neighbours_95, vs_england_95. ``outcomes``: id, title, level, theme (in display order).
    ``links``: indicator_id, outcome_id. Every LA and set with a latest row gets every outcome.
    """
    keys = ["area_code", "neighbour_set", "outcome_id"]
    latest = benchmarks[benchmarks["is_latest"] == 1]
    if latest.empty:  # nothing benchmarked yet (e.g. only the LA list loaded): no scorecard rows
        return pd.DataFrame({c: pd.Series(dtype=object) for c in SCORECARD_COLUMNS})
    grid = latest[["area_code", "neighbour_set"]].drop_duplicates()
    outcome_rows = outcomes.rename(columns={"id": "outcome_id", "title": "outcome_title"})
    grid = grid.merge(outcome_rows[["outcome_id", "outcome_title", "level", "theme"]], how="cross")
    ids = links.groupby("outcome_id")["indicator_id"].agg(lambda s: sorted(s))
    grid["indicators"] = grid["outcome_id"].map(ids.map(len)).fillna(0).astype(int)
    grid["indicator_ids"] = grid["outcome_id"].map(ids.map(",".join)).fillna("")
    linked = latest.merge(links, on="indicator_id")
    counts = linked.assign(has=linked["value"].notna()).groupby(keys)["has"].sum()
    grid = grid.merge(counts.rename("with_data").reset_index(), on=keys, how="left")
    grid["with_data"] = grid["with_data"].fillna(0).astype(int)
    for bench in ("neighbours", "england"):
        bucket = linked[f"vs_{bench}_95"].map(_BUCKETS)
        table = pd.crosstab([linked[k] for k in keys], bucket)
        table = table.reindex(columns=list(dict.fromkeys(_BUCKETS.values())), fill_value=0)
        table.columns = [f"{bench}_{c}" for c in table.columns]
        grid = grid.merge(table.reset_index(), on=keys, how="left")
        judged = [f"{bench}_{c}" for c in dict.fromkeys(_BUCKETS.values())]
        grid[judged] = grid[judged].fillna(0).astype(int)
        grid[f"{bench}_not_compared"] = grid["indicators"] - grid[judged].sum(axis=1)
    grid["status"] = np.select(
        [grid["indicators"] == 0, grid["with_data"] == 0], [GAP, NO_DATA], COVERED
    )
    order = {outcome_id: i for i, outcome_id in enumerate(outcome_rows["outcome_id"])}
    grid["position"] = grid["outcome_id"].map(order) + 1
    grid = grid.sort_values(["neighbour_set", "area_code", "position"])
    return grid[list(SCORECARD_COLUMNS)].reset_index(drop=True)
