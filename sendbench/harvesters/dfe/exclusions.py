"""DfE: Suspensions and permanent exclusions in England, by SEN provision, from EES.

- Publisher: Department for Education. Publication: "Suspensions and permanent exclusions in
  England" (called "Permanent and fixed-period exclusions in England" until 2021, when fixed-period
  exclusions were renamed suspensions; the EES slug changed with it).
- Landing page:
  https://explore-education-statistics.service.gov.uk/find-statistics/suspensions-and-permanent-exclusions-in-england
- Cadence: termly releases (autumn term, spring term) plus the full academic year, published in
  July about a year after the year ends; the full-year "by characteristic" file (England, regions,
  LAs; sex, age, ethnicity, FSM and SEN) comes with the July release.
- Latest release: the EES content API, taking the newest release whose ``downloadFiles`` list the
  by-characteristic file (a termly release may not carry it), then its "Download all data" zip.
- Local files (``--from DIR``): the zip as EES names it
  (``suspensions-and-permanent-exclusions-in-england_<release>.zip``, or the pre-2021 slug), else
  ``exc_characteristics*.csv``, else DfE's pre-EES national file ``nat_char (201112 to 201617).csv``
  (2011/12 to 2016/17, England only, the same measures). DfE's EES *test data* zips
  (``exclusions_by_characteristic.zip``, ``exclusions_by_geographic_level.zip``) match none of
  these names, so they are never taken for a release. Several ``exc_characteristics*.csv``
  (extracts of several releases) are all read, the later file winning where they overlap.

Layouts (data, not branches; see ``LAYOUTS``):
- 2022/23 onwards: ``education_phase``, ``characteristic_group``, ``characteristic``, then
  ``headcount``, ``perm_excl``, ``perm_excl_rate``, ``suspension``, ``susp_rate``,
  ``one_plus_susp``, ``one_plus_susp_rate`` (EES data catalogue preview of "Suspensions and
  permanent exclusions - full year by characteristic").
- 2019/20 to 2021/22: the same with ``school_type`` for ``education_phase``.
- 2016/17 to 2018/19 (EES): ``school_type`` and the fixed-period names (``fixed_excl``,
  ``fixed_excl_rate``, ``one_plus_fixed``, ``one_plus_fixed_rate``), renamed to the suspension
  names (2016/17 data guidance; DfE's EES test data). The 2016/17 file was named
  ``exclusions_by_characteristic.csv``, which is not matched because DfE's test data uses it.
- pre-EES national file: ``year``, ``level`` (``NATIONAL``), ``country``, ``characteristic_desc``,
  ``characteristic_1``, ``characteristic_2``; renamed, given ``time_identifier`` "Academic year"
  and EES level names by ``_pre_ees``.

Quirks: rates are per 100 pupils (percent of the headcount); the pre-EES file spells its level
``NATIONAL`` in most rows and ``National`` in 30 (2014/15 IDACI rows), quotes numbers with
thousands separators (``"749,750"``) and uses ``x`` (1 or 2 pupils) and ``.`` (not applicable);
"SEN without statement" there means School Action/Action Plus before the 2014 reforms. The exact
SEN labels of the current file could not be confirmed here: the indicator filters accept the
DfE published-data QA SEN vocabulary, the short forms and the older labels, and a file whose SEN
labels match none fails naming the labels it has (``require_observations``).
"""

from __future__ import annotations

import fnmatch
from pathlib import Path, PurePosixPath

import pandas as pd

from sendbench.harvesters.base import Release
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout

MEASURES = (
    "headcount perm_excl perm_excl_rate suspension susp_rate one_plus_susp one_plus_susp_rate"
)
FIXED_PERIOD = {
    "fixed_excl": "suspension",
    "fixed_excl_rate": "susp_rate",
    "one_plus_fixed": "one_plus_susp",
    "one_plus_fixed_rate": "one_plus_susp_rate",
}
FIXED_MEASURES = "headcount perm_excl perm_excl_rate fixed_excl fixed_excl_rate one_plus_fixed "
FIXED_MEASURES += "one_plus_fixed_rate"
# DfE's pre-EES files: capitalised levels, no time_identifier.
PRE_EES_LEVELS = {
    "NATIONAL": "National",
    "REGIONAL": "Regional",
    "LOCAL AUTHORITY": "Local authority",
    "LA": "Local authority",
}
LEGACY_PATTERNS = ("nat_char*.csv",)
CURRENT_PATTERNS = ("exc_characteristics*.csv",)


def _pre_ees(frame: pd.DataFrame) -> pd.DataFrame:
    """Give a pre-EES file the EES time identifier and level names (academic years only)."""
    levels = frame["geographic_level"].str.strip().str.upper()  # "NATIONAL", some "National"
    unknown = sorted(set(levels) - set(PRE_EES_LEVELS))
    if unknown:
        raise ValueError(f"unknown levels {unknown} (known: {sorted(PRE_EES_LEVELS)})")
    frame = frame.copy()
    frame["geographic_level"] = levels.map(PRE_EES_LEVELS)
    frame["time_identifier"] = "Academic year"
    return frame


LAYOUTS = (
    Layout.of("2023", f"education_phase characteristic_group characteristic {MEASURES}"),
    Layout.of(
        "2020",
        f"school_type characteristic_group characteristic {MEASURES}",
        renames={"school_type": "education_phase"},
    ),
    Layout.of(
        "2017",
        f"school_type characteristic_group characteristic {FIXED_MEASURES}",
        renames={"school_type": "education_phase", **FIXED_PERIOD},
    ),
    Layout.of(
        "pre-EES national",
        f"year level country school_type characteristic_desc characteristic_1 characteristic_2 "
        f"{FIXED_MEASURES}",
        renames={
            "year": "time_period",
            "level": "geographic_level",
            "country": "country_name",
            "school_type": "education_phase",
            "characteristic_desc": "characteristic_group",
            "characteristic_1": "characteristic",
            **FIXED_PERIOD,
        },
        reshape=_pre_ees,
    ),
)

DATA_FILES = (
    DataFile(
        key="exc_characteristics.csv",
        patterns=CURRENT_PATTERNS + LEGACY_PATTERNS,
        layouts=LAYOUTS,
        series=True,
        breakdown_pairs=(),  # one indicator per SEN group: the file's other groups are not ours
    ),
)


class Harvester(EesHarvester):
    """Suspension and permanent exclusion rates by SEN provision (``excl_*`` indicators)."""

    data_files = DATA_FILES
    release_needs_files = True
    require_observations = True
    narrow_to_indicator_rows = True

    def find_local(self, directory: Path) -> Release:
        """As the base does; the pre-EES national file only when no current file is there."""
        release = super().find_local(directory)
        current = [f for f in release.files if not _is_legacy(f.filename)]
        if current and len(current) < len(release.files):
            return Release(label=self.local_release_label(current), files=current)
        return release


def _is_legacy(filename: str) -> bool:
    name = PurePosixPath(filename).name.lower()
    return any(fnmatch.fnmatch(name, p) for p in LEGACY_PATTERNS)
