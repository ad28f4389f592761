"""DfE: Special educational needs in England (the January school census), from EES.

- Publisher: Department for Education. Publication: "Special educational needs in England".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/special-educational-needs-in-england
- Cadence: annual, in June; pupils on roll in January (academic year ``202425`` = January 2025),
  from the spring school census, the school level annual school census (independent schools)
  and the general hospital school census.
- Latest release: the EES content API (``ees.latest_release``), publication slug
  ``special-educational-needs-in-england``; the "Download all data" zip.
- Local files: ``special-educational-needs-in-england_<year>.zip`` (the zip as EES names it), else
  the data CSVs ``sen_phase_type_.csv`` (pupils by SEN provision and school type) and
  ``sen_ncyear_.csv`` (pupils by SEN provision, primary type of need and year group).

Two shapes of the same tables (layouts below; no real file of either is in ../shared/data, so
they come from the EES data guidance and data catalogue previews, see
tests/fixtures/README.md):

- 2016-2025 releases: ``sen_phase_type_.csv`` is wide (``total_pupils``, ``sen_support``,
  ``ehc_plan`` and their ``_percent``) with filters ``phase_type_grouping``,
  ``type_of_establishment``, ``hospital_school``; ``sen_ncyear_.csv`` has ``sen_status``,
  ``sen_primary_need`` and ``number_of_pupils``.
- "2026 format" (DfE's harmonised SEN fields): long, one row per ``sen_provision`` with
  ``pupil_count`` and ``pupil_percent``, ``establishment_type`` for the school type, and
  parliamentary constituency rows (``pcon_code``); the year-group file has
  ``total_pupil_count``. The phase file is spread back to the wide columns, so indicators do
  not change; the raw table keeps every value (unknown provisions as ``pupil_count: <label>``).

Primary need shares are not published: ``need_percent`` is sendbench's ``pupil_count`` / the
count of the same provision, phase and area for all needs (``need_pupil_total``), both published.
A share takes the symbol of a count that is a symbol, and ``z`` (not applicable) when the group
has no pupils. Filter labels change case and wording between releases ("Autistic Spectrum
Disorder", "Autistic spectrum disorder"), so filters use ``*_key`` columns: the label in lower
case without punctuation.

Symbols: the 2024/25 guidance gives ``x`` not applicable and ``z`` not available (the reverse
of the GSS convention); 2020/21 used ``:``. Each is kept as published in ``status``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping

import pandas as pd

from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout
from sendbench.normalise import parse_values

Reshape = Callable[[pd.DataFrame], pd.DataFrame]
# The rows that make one group: same period, area (LA, region, constituency) and the filters.
GROUP_GEOGRAPHY = [
    "geographic_level",
    "country_code",
    "region_code",
    "old_la_code",
    "new_la_code",
    "la_name",
    "pcon_code",
]
NC_YEARS = ["early_years", "reception", *[f"year_{n}" for n in range(1, 15)], "not_followed"]


def label_key(label: object) -> str:
    """A label compared across releases: lower case, '&' as 'and', punctuation dropped."""
    text = str(label).lower().replace("&", " and ")
    return " ".join(re.sub(r"[^\w\s]", " ", text).split())


def with_keys(*columns: str) -> Reshape:
    """Add ``<column>_key`` (see ``label_key``) for each column."""

    def reshape(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column in columns:
            keys = {v: label_key(v) for v in frame[column].unique()}
            frame[f"{column}_key"] = frame[column].map(keys)
        return frame

    return reshape


def spread(across: str, targets: Mapping[str, Mapping[str, str]]) -> Reshape:
    """Long to wide: one row per group, a column per (value column, label of ``across``).

    ``targets[value_column][label]`` names the new column; a label not named there becomes
    ``<value_column>: <label>`` so nothing published is lost. A combination with no row is ``""``.
    Raises ValueError when a group has two rows for one label.
    """

    def reshape(frame: pd.DataFrame) -> pd.DataFrame:
        values = list(targets)
        keys = [c for c in frame.columns if c not in (across, *values)]
        if frame.duplicated([*keys, across]).any():
            raise ValueError(f"two rows share {across} within one group")
        wide = frame.set_index([*keys, across])[values].unstack(across, fill_value="")
        wide.columns = [
            targets[value].get(label, f"{value}: {label}") for value, label in wide.columns
        ]
        return wide.reset_index()

    return reshape


def group_share(
    count: str, across: str, totals: Iterable[str], *, within: Iterable[str], into: tuple[str, str]
) -> Reshape:
    """Add each row's share of its group: ``into`` = (group total column, percent column).

    The group is the row's period, geography and ``within`` columns; its total is the count on
    the row whose ``across`` label is one of ``totals`` (compared with ``label_key``).
    """
    total_keys = {label_key(t) for t in totals}
    total_col, percent_col = into

    def reshape(frame: pd.DataFrame) -> pd.DataFrame:
        keys = [c for c in [*ees.TIME_COLUMNS, *GROUP_GEOGRAPHY, *within] if c in frame.columns]
        is_total = frame[across].map(label_key).isin(total_keys)
        group_totals = frame.loc[is_total, [*keys, count]].rename(columns={count: total_col})
        if group_totals.duplicated(keys).any():
            raise ValueError(f"a group has more than one {across} total row")
        out = frame.merge(group_totals, on=keys, how="left", validate="many_to_one")
        out[total_col] = out[total_col].fillna("")
        out[percent_col] = _shares(out[count], out[total_col])
        return out

    return reshape


def _shares(count: pd.Series, total: pd.Series) -> pd.Series:
    """100 × count / total as text; a symbol in either is carried, a zero total gives ``z``."""
    n, n_status = parse_values(count)
    d, d_status = parse_values(total)
    share = (100 * n / d).map(lambda v: format(v, ".10g"))
    share = share.where(d != 0, "z")
    share = share.where(d_status.isna(), d_status.replace("missing", ""))
    return share.where(n_status.isna(), n_status.replace("missing", ""))


def chain(*steps: Reshape) -> Reshape:
    """Apply reshapes in order."""

    def reshape(frame: pd.DataFrame) -> pd.DataFrame:
        for step in steps:
            frame = step(frame)
        return frame

    return reshape


PHASE_WIDE = """
    phase_type_grouping type_of_establishment hospital_school total_pupils sen_support ehc_plan
    sen_support_percent ehc_plan_percent
"""
PHASE_LONG = """
    pcon_code pcon_name phase_type_grouping establishment_type hospital_school sen_provision
    pupil_count pupil_percent
"""
# 2026 format: sen_provision labels -> the 2016-2025 columns.
PHASE_SPREAD = spread(
    "sen_provision",
    {
        "pupil_count": {
            "Total": "total_pupils",
            "Education, health and care plan": "ehc_plan",
            "SEN support / SEN without an EHC plan": "sen_support",
        },
        "pupil_percent": {
            "Total": "total_pupils_percent",
            "Education, health and care plan": "ehc_plan_percent",
            "SEN support / SEN without an EHC plan": "sen_support_percent",
        },
    },
)
NCYEAR_WIDE = ["phase_type_grouping", "sen_status", "sen_primary_need", "number_of_pupils"]
NCYEAR_WIDE += [f"nc_{y}" for y in NC_YEARS] + [f"nc_{y}_percent" for y in NC_YEARS]
NCYEAR_LONG = ["pcon_code", "pcon_name", "phase_type_grouping", "sen_provision"]
NCYEAR_LONG += ["sen_primary_need", "total_pupil_count"]
NCYEAR_LONG += [f"nc_{y}_pupil_count" for y in NC_YEARS]
NCYEAR_LONG += [f"nc_{y}_pupil_percent" for y in NC_YEARS]
NEED_SHARES = chain(
    with_keys("sen_provision", "sen_primary_need"),
    group_share(
        "pupil_count",
        "sen_primary_need",
        ["Total", "All primary need"],
        within=["phase_type_grouping", "sen_provision"],
        into=("need_pupil_total", "need_percent"),
    ),
)

DATA_FILES = (
    DataFile(
        key="sen_phase_type.csv",
        patterns=("sen_phase_type*.csv",),
        layouts=(
            Layout.of("2016-2025", PHASE_WIDE),
            Layout.of(
                "2026 format",
                PHASE_LONG,
                renames={"establishment_type": "type_of_establishment"},
                reshape=PHASE_SPREAD,
            ),
        ),
        breakdown_pairs=(),
    ),
    DataFile(
        key="sen_ncyear.csv",
        patterns=("sen_ncyear*.csv",),
        layouts=(
            Layout.of(
                "2016-2025",
                NCYEAR_WIDE,
                renames={"sen_status": "sen_provision", "number_of_pupils": "pupil_count"},
                reshape=NEED_SHARES,
            ),
            Layout.of(
                "2026 format",
                NCYEAR_LONG,
                renames={"total_pupil_count": "pupil_count"},
                reshape=NEED_SHARES,
            ),
        ),
        breakdown_pairs=(),
    ),
)


class Harvester(EesHarvester):
    """SEN in England: pupils by SEN provision and by primary need, the ``sen_*`` indicators."""

    data_files = DATA_FILES
