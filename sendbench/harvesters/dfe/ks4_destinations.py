"""DfE: Key stage 4 destination measures, from Explore Education Statistics.

- Publisher: Department for Education. Publication: "Key stage 4 destination measures".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/key-stage-4-destination-measures
- Cadence: annual; provisional figures in the autumn, revised the next year. ``time_period`` is
  the destination year (``202122`` = pupils who finished key stage 4 in 2020/21 and were in a
  sustained destination during 2021/22).
- Latest release: the EES content API (publication slug ``key-stage-4-destination-measures``;
  see ``ees.py``); the "Download all data" zip, ``key-stage-4-destination-measures_<yyyy-yy>.zip``.
- Local files: that zip, else the data CSVs as published: national
  ``ks4_dm_ud_<yyyyyy>_nat_<prov|rev>.csv`` and local authority
  ``ks4_dm_ud_<yyyyyy>_la_<prov|rev>.csv``
  (data guidance, ``../shared/data/dfe/destinations/ks4-data-guidance.txt``); releases from 2023/24
  name them ``ees_ks4_nat_<yyyyyy>.csv`` / ``ees_ks4_la_<yyyyyy>.csv``. Every file found is read
  (a series): each national file repeats the whole time series, and where two files give the same
  figure the later file wins. (Files are ordered by name, so an ``ees_ks4_*`` file sorts before a
  ``ks4_dm_ud_*`` one; keep one naming family in a ``--from`` folder.)

Quirks:
- Long in ``data_type``: each group has a ``Number of pupils`` row and a ``Percentage`` row with
  the same columns. The layouts' ``reshape`` (:func:`with_counts`) gives every row the counts of
  its pair as ``<measure>_n`` columns, so a percentage indicator carries its numerator and
  denominator (``cohort``). Two count rows one percentage row could pair with, or a
  ``data_type`` value other than those, fail the file (a numerator must never be guessed).
- 2020/21 files call the SEN filter ``characteristic_group``/``characteristic``; 2021/22 files
  ``breakdown_topic``/``breakdown``: two layouts, renamed to the latter.
- SEN provision values changed in 2015/16: ``Statement of SEN`` → ``Statement of SEN/Education
  Health and Care plan``, ``School Action/plus`` → ``School Action/SEN support``. The catalogue's
  filters list both, so the series runs on (the years never overlap).
- National files have ``institution_type`` and ``inst_count``; LA files have ``level_methodology``
  instead (LA files: Regional, Local authority, LA district, constituency and opportunity-area rows;
  only regional and LA rows become observations). No LA file could be obtained for
  ``../shared/data``: the LA layouts are the guidance's variables plus the filter-group column
  (``characteristic_group``, which EES guidance does not list), and the ``institution_group``
  value is the one DfE's SEND-AP-Inclusion-Dashboard filters the real LA file on.
- Symbols: ``c`` suppressed, ``x`` not available, ``z`` not applicable, ``low`` a positive
  percentage under 0.5; ``version`` (Provisional, Revised) becomes each observation's flag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import pandas as pd

from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout

# The measures whose counts travel with the percentage rows (the catalogue's numerators).
COUNTED = ("overall", "appren", "all_notsust", "education", "all_work")
PERCENT_TYPE = "Percentage"
COUNT_TYPES = ("Number of pupils", "Number of students")
# Columns that identify a row apart from data_type: a percentage row pairs with the count row
# that agrees on every one of these the file has, and on every geography column (EES names them
# ``<level>_code`` / ``<level>_name``: lad, pcon, opportunity_area, english_devolved_area…).
PAIR_KEY = (
    *ees.TIME_COLUMNS,
    *ees.GEOGRAPHY_COLUMNS,
    "version",
    "institution_group",
    "institution_type",
    "level_methodology",
    "cohort_level_group",
    "cohort_level",
    "breakdown_topic",
    "breakdown",
)
SEN_RENAMES = {"characteristic_group": "breakdown_topic", "characteristic": "breakdown"}


def with_counts(frame: pd.DataFrame, counted: Iterable[str] = COUNTED) -> pd.DataFrame:
    """Add ``<measure>_n``: the measure in the row's ``Number of …`` pair (text, as published).

    Raises ValueError when the file has no ``data_type``, has a ``data_type`` value other than
    ``Percentage`` and the count labels (a relabelled count row would leave numerators empty), or
    has two count rows with the same filters (a pair could not be told apart).
    """
    if "data_type" not in frame.columns:
        raise ValueError("no data_type column to pair percentages with counts")
    known = (PERCENT_TYPE, *COUNT_TYPES)
    other = sorted(set(frame["data_type"]) - set(known))
    if other:
        raise ValueError(f"unknown data_type values {other} (known: {', '.join(known)})")
    key = [c for c in frame.columns if c in PAIR_KEY or c.endswith(("_code", "_name"))]
    measures = [c for c in counted if c in frame.columns]
    counts = frame[frame["data_type"].isin(COUNT_TYPES)]
    clashes = counts.duplicated(key, keep=False)
    if clashes.any():
        sample = counts.loc[clashes, key].head(2).to_dict("records")
        raise ValueError(f"{int(clashes.sum())} count rows share the same filters, e.g. {sample}")
    lookup = counts[[*key, *measures]].rename(columns={m: f"{m}_n" for m in measures})
    out = frame.merge(lookup, on=key, how="left", validate="many_to_one")
    added = [f"{m}_n" for m in measures]
    out[added] = out[added].fillna("")
    out.index = frame.index
    return out


def reshaper(**fill: str) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """A layout's reshape: fill the named columns where a file lacks them, then pair counts.

    ``fill`` states what a layout leaves implicit (e.g. an LA file publishes only the total of
    each institution group, so ``institution_type="Total"``).
    """

    def reshape(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.copy()
        for column, value in fill.items():
            if column not in frame.columns:
                frame[column] = value
        return with_counts(frame)

    return reshape


MEASURES = """
    cohort overall education fe ssf sfc other_edu ind appru special spi edu_combo he appren
    appl3 appl2 all_work all_notsust notsust notsust_beneet only_beneet all_unknown unknown_id
    unknown
"""
# LA files (data guidance, KS4 local authority level destinations): fewer destination columns.
LA_MEASURES = """
    cohort overall education fe ssf sfc other_edu appren appl3 appl2 all_work all_notsust
    all_unknown
"""
LAYOUTS = (
    Layout.of(
        "national 2021/22",
        f"institution_group institution_type breakdown_topic breakdown data_type version "
        f"inst_count {MEASURES}",
        reshape=reshaper(),
    ),
    Layout.of(
        "national 2020/21",
        f"institution_group institution_type characteristic_group characteristic data_type "
        f"version inst_count {MEASURES}",
        renames=SEN_RENAMES,
        reshape=reshaper(),
    ),
    Layout.of(
        "local authority 2021/22",
        f"institution_group level_methodology breakdown_topic breakdown data_type {LA_MEASURES}",
        reshape=reshaper(),
    ),
    Layout.of(
        "local authority 2020/21",
        f"institution_group level_methodology characteristic_group characteristic data_type "
        f"{LA_MEASURES}",
        renames=SEN_RENAMES,
        reshape=reshaper(),
    ),
)

DATA_FILES = (
    DataFile(
        key="ks4_dm_ud",
        patterns=(
            "ks4_dm_ud_*_nat_*.csv",
            "ks4_dm_ud_*_la_*.csv",
            "ees_ks4_nat_*.csv",
            "ees_ks4_la_*.csv",
        ),
        layouts=LAYOUTS,
        series=True,
    ),
)


class Harvester(EesHarvester):
    """KS4 destinations: national and LA files as raw tables, and the ``ks4_dest_*`` indicators."""

    data_files = DATA_FILES
    require_observations = True
