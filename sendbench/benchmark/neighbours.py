"""Statistical-neighbour groups: which set to use by default, and each group's summary values.

A neighbour set (``set_id`` such as ``dfe-2025-05`` or ``dfe-2021-04-lgr``) lists ten ranked
neighbours per LA. For every LA, indicator and period the group's summaries are:

- ``sn_mean``: the simple mean of the neighbours' values, leaving out neighbours without one
  (LAIT's "statistical neighbour average");
- ``sn_pooled``: sum of the neighbours' numerators over the sum of their denominators, in the
  indicator's unit, over the neighbours that have both (the better statistic where it exists);
- ``sn_count`` / ``sn_pooled_count``: how many neighbours each used; ``sn_size``: how many
  neighbours the set lists for the LA.

A neighbour that did not exist in a period (Westmorland and Furness before 2023) simply has no
value then: the group shrinks and ``sn_count`` says so.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import numpy as np
import pandas as pd

from sendbench.benchmark.methods import scale_of

LAS_PER_BATCH = 25  # LAs whose neighbour groups are summed at once
_DFE_SET = re.compile(r"^dfe-(\d{4})-(\d{2})")


def default_set(set_ids: Iterable[str]) -> str | None:
    """The latest DfE set by the date in its id (``dfe-YYYY-MM…``); an ``-lgr`` set never wins
    over a newer one. Falls back to the greatest id when no id is a DfE one; None if no sets."""
    ids = sorted(set(set_ids))
    if not ids:
        return None
    dated = [(m.groups(), not s.endswith("-lgr"), s) for s in ids if (m := _DFE_SET.match(s))]
    if not dated:
        return ids[-1]
    return max(dated)[2]


def neighbour_summaries(
    observations: pd.DataFrame, neighbours: pd.DataFrame, units: dict[str, str]
) -> pd.DataFrame:
    """One row per set, LA, indicator and period with the group's mean, pooled value and counts.

    ``observations``: indicator_id, area_code, period, value, numerator, denominator (headline
    rows of LAs). ``neighbours``: set_id, area_code, neighbour_code. ``units``: indicator -> unit.

    Every (LA, neighbour) link is paired with every observation of the neighbour using integer
    positions (no wide merge of text columns), and the groups are summed with ``np.bincount``.
    """
    obs = observations.reset_index(drop=True)
    series_key = obs["indicator_id"].astype(str) + "\x1f" + obs["period"].astype(str)
    series, series_names = pd.factorize(series_key)
    links = neighbours[["set_id", "area_code", "neighbour_code"]].drop_duplicates()
    places = pd.Index(pd.unique(pd.concat([obs["area_code"], links["area_code"],
                                           links["neighbour_code"]]).dropna()))  # fmt: skip
    obs_place = places.get_indexer(obs["area_code"])
    frames = [
        _summarise(set_id, batch, places, obs, obs_place, series, series_names, units)
        for set_id, group in links.dropna(subset=["neighbour_code"]).groupby("set_id")
        for batch in _batches(group, LAS_PER_BATCH)
    ]
    columns = ["set_id", "area_code", "indicator_id", "period", "sn_mean", "sn_count",
               "sn_pooled_count", "sn_pooled"]  # fmt: skip
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=columns)


def _batches(links: pd.DataFrame, size: int):
    """The links of ``size`` LAs at a time (an LA's links stay together), to bound memory."""
    las = links["area_code"].unique()
    for start in range(0, len(las), size):
        yield links[links["area_code"].isin(las[start : start + size])]


def _summarise(set_id, links, places, obs, obs_place, series, series_names, units):
    """The summaries of one set (see neighbour_summaries)."""
    la = places.get_indexer(links["area_code"])
    nb = places.get_indexer(links["neighbour_code"])
    order = np.argsort(obs_place, kind="stable")
    counts = np.bincount(obs_place, minlength=len(places))
    starts = np.cumsum(counts) - counts
    per_link = counts[nb]
    link = np.repeat(np.arange(len(links)), per_link)
    offset = np.arange(per_link.sum()) - np.repeat(np.cumsum(per_link) - per_link, per_link)
    rows = order[np.repeat(starts[nb], per_link) + offset]
    key = la[link].astype(np.int64) * len(series_names) + series[rows]
    groups, group = np.unique(key, return_inverse=True)
    value = obs["value"].to_numpy(dtype=float)[rows]
    num = obs["numerator"].to_numpy(dtype=float)[rows]
    den = obs["denominator"].to_numpy(dtype=float)[rows]
    has_value, has_pair = ~np.isnan(value), ~np.isnan(num) & (den > 0)
    n_groups = len(groups)
    count = np.bincount(group, weights=has_value, minlength=n_groups)
    total = np.bincount(group, weights=np.where(has_value, value, 0.0), minlength=n_groups)
    pairs = np.bincount(group, weights=has_pair, minlength=n_groups)
    num_sum = np.bincount(group, weights=np.where(has_pair, num, 0.0), minlength=n_groups)
    den_sum = np.bincount(group, weights=np.where(has_pair, den, 0.0), minlength=n_groups)
    pairs_of_names = [name.split("\x1f", 1) for name in series_names]  # a few hundred
    indicators = np.array([i for i, _ in pairs_of_names], dtype=object)
    periods = np.array([p for _, p in pairs_of_names], dtype=object)
    scales = np.array([scale_of(units.get(i, "")) or np.nan for i in indicators], dtype=float)
    which = groups % len(series_names)
    out = pd.DataFrame(
        {
            "set_id": set_id,
            "area_code": places[groups // len(series_names)],
            "indicator_id": indicators[which],
            "period": periods[which],
            "sn_count": count.astype(int),
            "sn_pooled_count": pairs.astype(int),
        }
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        out["sn_mean"] = np.where(count > 0, total / np.maximum(count, 1), np.nan)
        pooled = num_sum / np.where(pairs > 0, den_sum, np.nan)
    out["sn_pooled"] = pooled * scales[which]
    return out


def set_sizes(neighbours: pd.DataFrame) -> pd.DataFrame:
    """set_id, area_code, sn_size: how many neighbours each LA has in each set."""
    sizes = neighbours.groupby(["set_id", "area_code"])["neighbour_code"].nunique()
    return sizes.rename("sn_size").reset_index()
