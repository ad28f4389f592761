"""DfE: 16-18 destination measures, from Explore Education Statistics.

- Publisher: Department for Education. Publication: "16-18 destination measures".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/16-18-destination-measures
- Cadence: annual; provisional figures in the autumn, revised the next year. ``time_period`` is
  the destination year (``202021`` = students who finished 16-18 study in 2019/20 and were in a
  sustained destination during 2020/21).
- Latest release: the EES content API (publication slug ``16-18-destination-measures``; see
  ``ees.py``); the "Download all data" zip, ``16-18-destination-measures_<yyyy-yy>.zip``.
- Local files: that zip, else the data CSVs as published: national
  ``1618_dm_ud_<yyyyyy>_nat_<prov|rev>.csv`` and local authority
  ``1618_dm_ud_<yyyyyy>_la_<prov|rev>.csv``
  (data guidance, ``../shared/data/dfe/destinations/1618-data-guidance.txt`` and the national
  guidance of the same release); releases from 2023/24 name them ``ees_ks5_nat_<yyyyyy>.csv`` /
  ``ees_ks5_la_<yyyyyy>.csv``. Every file found is read (a series); the later file wins.

No data file of this publication could be obtained for ``../shared/data``, so the layouts follow
the data guidance (variables of the national and LA files) plus the EES filter-group columns that
guidance leaves out (``institution_group``, ``cohort_level_group``, ``characteristic_group``), and
the filter values come from DfE code that reads the real files (dfe-analytical-services/
SEND-AP-Inclusion-Dashboard: ``cohort_level_group == "Total"``, characteristics ``Identified SEN``
and ``No identified SEN``, ``data_type == "Percentage"``; an LSIP pipeline:
``institution_group == "State-funded mainstream schools & colleges"`` with ``level_methodology ==
"16-18 Provider location"``). A release that differs fails, naming the missing and unexpected
columns, or (``require_observations``) the values a filter column has when none matched.

Quirks (shared with key stage 4, see ``ks4_destinations``):
- Long in ``data_type``: counts and percentages in paired rows; :func:`with_counts` gives each row
  its pair's counts as ``<measure>_n``.
- National files carry ``institution_type`` but no ``level_methodology``; LA files the reverse.
  The layouts fill what a file leaves implicit: an LA file gives each institution group's total
  only (``institution_type`` = ``Total``), and a national file has no level methodology
  (``level_methodology`` = ``National``), so one filter selects the same rows in both.
- SEN is read as ``Identified SEN`` / ``No identified SEN`` (the values DfE's code reads); an
  EHC plan / SEN support split, if the files have one, is not in the catalogue yet.
- Symbols: ``c``, ``x``, ``z``, ``low`` (a positive percentage under 0.5).
"""

from __future__ import annotations

from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout
from sendbench.harvesters.dfe.ks4_destinations import SEN_RENAMES, reshaper

NATIONAL_METHODOLOGY = "National"

MEASURES = """
    cohort overall education fe fel3 fel2 fel1 ssf sfc other_edu ind spec_prov non_des edu_combo
    he appren appl4 appl3 appl2 all_work all_notsust notsust notsust_ben only_ben all_unknown
    unknown_id unknown
"""
LA_MEASURES = """
    cohort overall education fe fel3 fel2 fel1 he other_edu appren appl4 appl3 appl2 all_work
    all_notsust all_unknown
"""
NATIONAL_FILTERS = "institution_group institution_type cohort_level_group cohort_level"
LA_FILTERS = "institution_group level_methodology cohort_level_group"

LAYOUTS = (
    Layout.of(
        "national, breakdown_topic",
        f"{NATIONAL_FILTERS} breakdown_topic breakdown data_type inst_count {MEASURES}",
        reshape=reshaper(level_methodology=NATIONAL_METHODOLOGY),
    ),
    Layout.of(
        "national 2020/21",
        f"{NATIONAL_FILTERS} characteristic_group characteristic data_type inst_count {MEASURES}",
        renames=SEN_RENAMES,
        reshape=reshaper(level_methodology=NATIONAL_METHODOLOGY),
    ),
    Layout.of(
        "local authority, breakdown_topic",
        f"{LA_FILTERS} breakdown_topic breakdown data_type {LA_MEASURES}",
        reshape=reshaper(institution_type="Total"),
    ),
    Layout.of(
        "local authority 2020/21",
        f"{LA_FILTERS} characteristic_group characteristic data_type {LA_MEASURES}",
        renames=SEN_RENAMES,
        reshape=reshaper(institution_type="Total"),
    ),
)

DATA_FILES = (
    DataFile(
        key="1618_dm_ud",
        patterns=(
            "1618_dm_ud_*_nat_*.csv",
            "1618_dm_ud_*_la_*.csv",
            "ees_ks5_nat_*.csv",
            "ees_ks5_la_*.csv",
        ),
        layouts=LAYOUTS,
        series=True,
    ),
)


class Harvester(EesHarvester):
    """16-18 destinations: national and LA files as raw tables, and ``dest1618_*`` indicators."""

    data_files = DATA_FILES
    require_observations = True
