"""The benchmark table built from small DataFrames: neighbour means with missing neighbours, the
pooled rate, England and region values, ranks in each period (an abolished council not ranked
after it ended), the latest flag, change, the trend's inputs, several neighbour sets, the choice
of the default set, and the outcome scorecard with its gaps. Expected values are computed here
from the inputs with plain Python, not by the code under test.
"""

from __future__ import annotations

import statistics

import numpy as np
import pandas as pd
import pytest

from sendbench.benchmark.compare import NO_SET, build_benchmarks
from sendbench.benchmark.neighbours import default_set
from sendbench.benchmark.outcomes import GAP, scorecard

ENGLAND, R1, R2 = "E92000001", "E12000001", "E12000002"
LAS = {  # code: (name, region, valid_to)
    "E06000001": ("Aville", R1, None),
    "E06000002": ("Bton", R1, None),
    "E06000003": ("Cford", R2, None),
    "E06000004": ("Dham", R2, None),
    "E06000005": ("Ebury", R1, None),
    "E10000099": ("Old County", R2, "2020-03-31"),
}
A, B, C, D, E, OLD = LAS
YEARS = ["2019", "2020", "2021", "2022", "2023"]

# indicator pct (percent, higher is better, numerator/denominator): (numerator, denominator)
PCT = {
    A: [(40, 100), (45, 100), (50, 100), (60, 100), (70, 100)],
    B: [(30, 60), (31, 60), (33, 60), (30, 60), (36, 60)],
    C: [(10, 50), (12, 50), (15, 50), (20, 50), (25, 50)],
    D: [(5, 20), (6, 20), (7, 20), (8, 20), None],  # 2023 suppressed ("x")
    E: [(70, 90), (71, 90), (72, 90), (73, 90), (74, 90)],
    OLD: [(9, 30), (10, 30), None, (12, 30), None],  # abolished 2020; a restated 2022 value
}
CNT = {A: 500.0, B: 300.0, C: None, D: 100.0, E: 250.0}  # count indicator, 2023 only


def obs_row(indicator, code, year, value, num=None, den=None, status=None):
    return {
        "indicator_id": indicator, "area_code": code, "period": year, "value": value,
        "numerator": num, "denominator": den, "status": status,
        "period_start": f"{year}-01-01", "period_end": f"{year}-12-31",
    }  # fmt: skip


def observations() -> pd.DataFrame:
    rows = []
    for code, series in PCT.items():
        for year, pair in zip(YEARS, series, strict=True):
            if pair is None:
                if code == D:
                    rows.append(obs_row("pct", code, year, None, status="x"))
                continue
            rows.append(obs_row("pct", code, year, round(100 * pair[0] / pair[1], 1), *pair))
    for i, year in enumerate(YEARS):
        rows.append(obs_row("pct", ENGLAND, year, 50.0 + i))
        rows.append(obs_row("pct", R1, year, 45.0 + i))
        rows.append(obs_row("pct", R2, year, 35.0 + i))
    for code, value in CNT.items():
        if value is not None:
            rows.append(obs_row("cnt", code, "2023", value))
    rows.append(obs_row("cnt", ENGLAND, "2023", 90000.0))
    return pd.DataFrame(rows)


def areas() -> pd.DataFrame:
    rows = [
        {"area_code": ENGLAND, "name": "England", "area_type": "country", "region_code": None},
        {"area_code": R1, "name": "Region One", "area_type": "region", "region_code": R1},
        {"area_code": R2, "name": "Region Two", "area_type": "region", "region_code": R2},
    ]
    for code, (name, region, valid_to) in LAS.items():
        rows.append({"area_code": code, "name": name, "area_type": "la", "region_code": region,
                     "valid_to": valid_to})  # fmt: skip
    frame = pd.DataFrame(rows)
    frame["valid_from"] = "2009-04-01"
    return frame


INDICATORS = pd.DataFrame(
    [
        {"id": "pct", "unit": "percent", "polarity": "higher_is_better", "numerator": "n"},
        {"id": "cnt", "unit": "count", "polarity": "none", "numerator": None},
    ]
)
NEIGHBOURS = {"dfe-2025-05": {A: [B, C, D, OLD], B: [A, C]}, "dfe-2021-04-lgr": {A: [E, B]}}


def neighbours() -> pd.DataFrame:
    rows = [
        {"set_id": s, "area_code": a, "neighbour_code": n, "rank": i + 1}
        for s, groups in NEIGHBOURS.items()
        for a, group in groups.items()
        for i, n in enumerate(group)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def table() -> pd.DataFrame:
    return build_benchmarks(observations(), areas(), INDICATORS, neighbours())


def row(table, indicator, code, period, set_id="dfe-2025-05") -> dict:
    found = table[
        (table["indicator_id"] == indicator) & (table["area_code"] == code)
        & (table["period"] == period) & (table["neighbour_set"] == set_id)
    ]  # fmt: skip
    assert len(found) == 1, (indicator, code, period, set_id)
    return {k: None if pd.isna(v) else v for k, v in found.iloc[0].to_dict().items()}


def pct_value(code, year):
    pair = PCT[code][YEARS.index(year)]
    return None if pair is None else round(100 * pair[0] / pair[1], 1)


@pytest.mark.parametrize("set_id", NEIGHBOURS)
@pytest.mark.parametrize("year", YEARS)
def test_neighbour_mean_leaves_out_missing_neighbours_and_pooled_sums(table, set_id, year):
    group = NEIGHBOURS[set_id][A]
    values = [pct_value(n, year) for n in group]
    values = [v for v in values if v is not None]
    pairs = [PCT[n][YEARS.index(year)] for n in group if PCT[n][YEARS.index(year)] is not None]
    got = row(table, "pct", A, year, set_id)
    assert got["sn_mean"] == pytest.approx(statistics.mean(values))
    assert got["sn_count"] == len(values) and got["sn_size"] == len(group)
    pooled = 100 * sum(p[0] for p in pairs) / sum(p[1] for p in pairs)
    assert got["sn_pooled"] == pytest.approx(pooled)
    assert got["sn_pooled_count"] == len(pairs)


def test_2023_group_has_two_of_four_neighbours(table):
    got = row(table, "pct", A, "2023")  # D published "x", the old county no longer exists
    assert (got["sn_count"], got["sn_size"]) == (2, 4)


def test_an_la_outside_the_set_has_no_neighbour_values(table):
    got = row(table, "pct", C, "2023")
    assert got["sn_mean"] is None and got["sn_count"] == 0 and got["sn_size"] == 0
    assert got["vs_neighbours_95"] is None


def test_england_and_region_values(table):
    for code in (A, C):
        got = row(table, "pct", code, "2021")
        region = LAS[code][1]
        assert got["england_value"] == 52.0
        assert got["region_value"] == (47.0 if region == R1 else 37.0)


def brute_rank(values: dict[str, float], code: str) -> int:
    return 1 + sum(v > values[code] for v in values.values())


@pytest.mark.parametrize("year", YEARS)
def test_ranks_are_among_las_that_existed(table, year):
    values = {c: pct_value(c, year) for c in PCT if pct_value(c, year) is not None}
    if int(year) > 2020:  # the old county ended in March 2020: its restated value is not ranked
        values.pop(OLD, None)
    published = [c for c in PCT if PCT[c][YEARS.index(year)] is not None or c == D]
    for code in published:
        got = row(table, "pct", code, year)
        if code in values:
            assert (got["rank"], got["rank_of"]) == (brute_rank(values, code), len(values))
        else:
            assert got["rank"] is None and got["rank_of"] is None


def test_no_polarity_ranks_highest_first_and_has_band_dash(table):
    got = row(table, "cnt", A, "2023")
    assert (got["rank"], got["rank_of"], got["rank_order"]) == (1, 4, "1 = highest")
    assert got["quartile_band"] == "-"
    assert got["ci95_lower"] is None and got["vs_england_95"] is None  # no denominator


def test_latest_flag_and_change(table):
    latest = table[table["indicator_id"] == "pct"].groupby("period")["is_latest"].max()
    assert latest.to_dict() == {"2019": 0, "2020": 0, "2021": 0, "2022": 0, "2023": 1}
    got = row(table, "pct", A, "2023")
    assert got["previous_period"] == "2022" and got["previous_value"] == 60.0
    assert got["change"] == pytest.approx(10.0)
    assert row(table, "pct", D, "2023")["change"] is None  # suppressed this year


def test_interval_and_significance_against_england_and_neighbours(table):
    got = row(table, "pct", A, "2023")  # 70 of 100: Wilson 95% about 60.4 to 78.1
    assert got["ci_method"] == "wilson"
    assert got["ci95_lower"] < 70.0 < got["ci95_upper"]
    assert got["vs_england_95"] == ("better" if got["ci95_lower"] > 54.0 else "similar")
    pooled = got["sn_pooled"]
    expected = "better" if got["ci95_lower"] > pooled else "similar"
    assert got["vs_neighbours_95"] == expected
    assert row(table, "pct", D, "2023")["ci95_lower"] is None  # a symbol has no interval


def cochran_armitage(numerators, denominators) -> float:
    x, y = [], []
    for year, (r, n) in enumerate(zip(numerators, denominators, strict=True)):
        x += [year] * n
        y += [1] * r + [0] * (n - r)
    r = np.corrcoef(x, y)[0, 1]
    return len(x) * r * r


def test_trend_uses_the_five_annual_points(table):
    got = row(table, "pct", A, "2023")
    expected = cochran_armitage([p[0] for p in PCT[A]], [p[1] for p in PCT[A]])
    assert got["trend_points"] == 5
    assert got["trend_chi2"] == pytest.approx(expected, rel=1e-9)
    assert (got["trend"], got["trend_judgement"]) == ("increasing", "getting better")
    assert row(table, "pct", A, "2022")["trend"] == "too few points"


def test_every_set_gets_every_la_row(table):
    la_rows = observations()["area_code"].isin(list(LAS)).sum()
    assert table.groupby("neighbour_set").size().to_dict() == {s: la_rows for s in NEIGHBOURS}


def test_without_a_neighbour_set_rows_are_still_made():
    empty = pd.DataFrame(columns=["set_id", "area_code", "neighbour_code", "rank"])
    table = build_benchmarks(observations(), areas(), INDICATORS, empty)
    assert set(table["neighbour_set"]) == {NO_SET}
    assert table["sn_mean"].isna().all() and (table["sn_count"] == 0).all()
    assert table["rank"].notna().any()


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["dfe-2021-04-lgr", "dfe-2025-05"], "dfe-2025-05"),
        (["dfe-2025-05", "dfe-2021-04-lgr"], "dfe-2025-05"),
        (["dfe-2025-05-lgr", "dfe-2025-05"], "dfe-2025-05"),
        (["dfe-2026-01-lgr", "dfe-2025-05"], "dfe-2026-01-lgr"),
        (["dfe-2021-04-lgr"], "dfe-2021-04-lgr"),
        (["nhse-peers-2021", "dfe-2019-11"], "dfe-2019-11"),
        ([], None),
    ],
)
def test_default_set_is_the_latest_dfe_set(sets, expected):
    assert default_set(sets) == expected


def test_scorecard_counts_and_gaps(table):
    outcomes = pd.DataFrame(
        [
            {"id": "o_timely", "title": "Timely", "level": "integration", "theme": None},
            {"id": "o_size", "title": "Size", "level": "impact", "theme": "good_health"},
            {"id": "o_gap", "title": "Nothing yet", "level": "impact", "theme": "good_health"},
        ]
    )
    links = pd.DataFrame({"indicator_id": ["pct", "cnt", "pct"],
                          "outcome_id": ["o_timely", "o_size", "o_size"]})  # fmt: skip
    cards = scorecard(table, outcomes, links)
    mine = cards[(cards["area_code"] == A) & (cards["neighbour_set"] == "dfe-2025-05")]
    by_outcome = mine.set_index("outcome_id")
    assert list(mine["outcome_id"]) == ["o_timely", "o_size", "o_gap"]
    assert by_outcome.loc["o_gap", "status"] == GAP and by_outcome.loc["o_gap", "indicators"] == 0
    latest = row(table, "pct", A, "2023")
    size = by_outcome.loc["o_size"]
    assert size["indicators"] == 2 and size["with_data"] == 2
    label = latest["vs_neighbours_95"]
    assert size[f"neighbours_{label}"] == 1
    assert size["neighbours_not_compared"] == 1  # the count has no interval
    assert size["england_" + latest["vs_england_95"]] == 1
    c_size = cards[(cards["area_code"] == C) & (cards["outcome_id"] == "o_size")].iloc[0]
    assert c_size["with_data"] == 1  # C has no count in 2023
    with_latest = table.loc[table["is_latest"] == 1, ["area_code", "neighbour_set"]]
    assert len(cards) == 3 * len(with_latest.drop_duplicates())  # every outcome for each LA
    assert OLD not in set(cards["area_code"])  # no latest rows: abolished
