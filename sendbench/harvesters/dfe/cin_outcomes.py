"""DfE: Outcomes for children in need, including children looked after, from EES.

- Publisher: Department for Education. Publication: "Outcomes for children in need, including
  children looked after by local authorities in England" (the CIN census and the SSDA903 return
  matched to the National Pupil Database).
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/outcomes-for-children-in-need-including-children-looked-after-by-local-authorities-in-england
- Cadence: annual, in March or April; each release revises the previous year's attainment.
- Latest release: the EES content API (``ees.py``); the "Download all data" zip.
- Local files: the release zip (``<slug>_<year>.zip``), or its data files as EES names them
  (``sen_la.csv``, ``sen_national.csv``, ``ks2_la.csv``, ``ks4_la.csv``, ``absence_la.csv``;
  ``absence_six_half_terms_la.csv`` in 2023 and 2024) or as saved in
  ``../shared/data/dfe/children-in-need`` (``cin_cla_sen_la.csv``, ``cin_cla_sen_national.csv``,
  ``outcomes_ks2_la.csv``, ``outcomes_ks4_la.csv``, ``outcomes_absence_la.csv``).

Files read (the zip's other files are kept raw): SEN provision of each social care group by LA and
nationally (the national file adds the "All pupils comparison" and more groups), KS2 and KS4
attainment and absence by LA. LA files carry three groups: ``CINO at 31 March`` (in need, not on
a CP plan nor looked after), ``CPPO at 31 March`` (on a CP plan, not looked after) and
``CLA 12 months at 31 March`` (looked after for at least 12 months); each indicator pins one.

Quirks:
- Columns ``old_la_code, la_name, new_la_code`` in that order (matched by name). LF line ends;
  the KS2 and KS4 files have a BOM, the others do not.
- Layouts change between releases (kept as data below): the 2024 national SEN file spells the
  EHC plan columns ``t_EHC_plan``/``pt_EHC_plan``; the 2025 release publishes SEN as a tidy file
  (``sen_provision``, ``sen_primary_need``, ``pupil_count``, ``pupil_percent``), pivoted here into
  the same columns while its raw table keeps it as published; the 2023 absence file has
  ``year_breakdown``/``school_type`` for ``absence_terms``/``phase_type_grouping``.
- Absence comes per phase: ``Total`` is the headline, the others are breakdowns
  (``phase_type_grouping: Special``). KS2 and KS4 carry ``version`` (Final, Revised): the flag.
- Regional rows include Inner and Outer London (``E13…``): not regions, so raw only (``ees.py``).
- North Yorkshire is E10000023 in the SEN file but E06000065 (DfE 815) in the outcomes files back
  to 2018/19; Cumbria (909) gives way to Cumberland and Westmorland and Furness from 2023/24.
  Hackney has no CIN data for 2020/21 and 2021/22; KS2 is ``x`` in 2019/20 and 2020/21.
- Symbols: ``c`` suppressed, ``x`` unavailable, ``z`` not applicable, ``k`` rounds to zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from sendbench.catalogue import Catalogue, Dataset
from sendbench.errors import BadFileError
from sendbench.harvesters.base import HarvestContext, Parsed, Release
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout, raw_table_name
from sendbench.http import RawFile

NEEDS = ["ASD", "HI", "MLD", "MSI", "NSA", "OTH", "PD", "PMLD", "SEMH", "SLCN", "SLD", "SPLD", "VI"]
SEN_GROUPS = ["pupils", "no_identified_SEN", "all_SEN", "SEN_support", "statement_or_EHC_plan"]
# Canonical SEN columns every layout gives once renamed or pivoted (what the indicators use).
SEN_CORE = ["social_care_group", "t_pupils"]
SEN_CORE += [
    f"{p}_{g}" for p in ("t", "pt") for g in ("all_SEN", "SEN_support", "statement_or_EHC_plan")
]
# 2024 spelling -> canonical, as in the 2024 national file (EES data catalogue data set
# 9a7c9459-cbde-4a89-8b81-db18f6b28d80).
EHC_2024 = {"t_EHC_plan": "t_statement_or_EHC_plan", "pt_EHC_plan": "pt_statement_or_EHC_plan"}
PIVOTED = "2025 tidy (pivoted)"


def _published_2024(columns: list[str]) -> list[str]:
    canonical_to_2024 = {v: k for k, v in EHC_2024.items()}
    return [canonical_to_2024.get(c, c) for c in columns]


@dataclass(frozen=True)
class TidyLayout:
    """A tidy layout (one row per filter combination) and the wide columns it stands for.

    Rows whose ``keys`` values are listed in ``columns`` become columns ``<prefix><name>``, one
    per value column (``values`` maps each to its prefix). Other combinations (the primary needs)
    stay in the raw table only.
    """

    name: str
    keys: tuple[str, ...]
    values: Mapping[str, str]
    columns: Mapping[tuple[str, ...], str]

    def matches(self, frame: pd.DataFrame) -> bool:
        return {*self.keys, *self.values} <= set(frame.columns)

    def pivot(self, frame: pd.DataFrame, *, dataset: str, file: str, source: str | None):
        """The wide frame: one row per time, geography and remaining filters."""
        index = [c for c in frame.columns if c not in {*self.keys, *self.values}]
        keys = list(zip(*(frame[c] for c in self.keys), strict=True))
        present = set(keys)
        absent = [k for k in self.columns if k not in present]
        if absent:
            others = sorted(present - set(self.columns))[:20]
            raise BadFileError(
                dataset,
                f"{file} ({self.name} layout): no rows for {'/'.join(self.keys)} = "
                f"{'; '.join('/'.join(k) for k in absent)}; the file has "
                f"{'; '.join('/'.join(k) for k in others) or 'no others'}. The publisher "
                "may have relabelled them: update the tidy layout in the dataset's module",
                source,
            )
        rows = frame.assign(_column=[self.columns.get(k) for k in keys]).dropna(subset=["_column"])
        repeated = rows.duplicated([*index, "_column"])
        if repeated.any():
            first = rows[repeated].iloc[0]
            raise BadFileError(
                dataset,
                f"{file}: more than one row for {first['_column']} "
                f"({', '.join(f'{c}={first[c]}' for c in index[:8])})",
                source,
            )
        wide = rows.pivot(index=index, columns="_column", values=list(self.values))
        order = list(dict.fromkeys(self.columns.values()))
        wide = wide.reindex(columns=[(v, n) for v in self.values for n in order])
        wide.columns = [f"{self.values[v]}{n}" for v, n in wide.columns]
        return wide.fillna("").reset_index()


# 2025 release, "National - Special educational needs (SEN) - API" (EES data catalogue
# 7c6703f4-59d9-4613-a0dc-27fe7d2b78a2); the LA file is read the same way.
SEN_TIDY = TidyLayout(
    name=PIVOTED,
    keys=("sen_provision", "sen_primary_need"),
    values={"pupil_count": "t_", "pupil_percent": "pt_"},
    columns={
        ("All pupils", "Total"): "pupils",
        ("All SEN provision", "Total"): "all_SEN",
        ("SEN support", "Total"): "SEN_support",
        ("Education, health and care plan", "Total"): "statement_or_EHC_plan",
    },
)

_SEN_LA_2020 = [
    "social_care_group",
    *(f"t_{g}" for g in SEN_GROUPS),
    *(f"t_{n}" for n in NEEDS),
    *(f"pt_{g}" for g in SEN_GROUPS[1:]),
    *(f"pt_{n}" for n in NEEDS),
]
_SEN_NATIONAL_HEAD = [
    "social_care_group",
    "t_pupils",
    *(c for g in SEN_GROUPS[1:] for c in (f"t_{g}", f"pt_{g}")),
]


def _needs(suffix: str) -> list[str]:
    return [c for n in NEEDS for c in (f"t_{n}_{suffix}", f"pt_{n}_{suffix}")]


SEN_LA = DataFile(
    key="sen_la.csv",
    patterns=("sen_la.csv", "cin_cla_sen_la.csv"),
    layouts=(
        # Seen in the 2020 release (EES data catalogue b625422b-d018-4410-90f5-74dcf8208982)
        # and the 2022 one (../shared/data).
        Layout.of("2020-2023", _SEN_LA_2020),
        # 2024: the EHC plan columns respelt as in the 2024 national file (the rest unchecked).
        Layout.of("2024", _published_2024(SEN_CORE), renames=EHC_2024),
        Layout.of(PIVOTED, SEN_CORE),
    ),
)
SEN_NATIONAL = DataFile(
    key="sen_national.csv",
    patterns=("sen_national.csv", "cin_cla_sen_national.csv"),
    layouts=(
        Layout.of("2020-2023", [*_SEN_NATIONAL_HEAD, *_needs("ss"), *_needs("se")]),
        Layout.of(
            "2024",
            _published_2024([*_SEN_NATIONAL_HEAD, *_needs("ss"), *_needs("ehc")]),
            renames=EHC_2024,
        ),
        Layout.of(PIVOTED, SEN_CORE),
    ),
)
KS2_LA = DataFile(
    key="ks2_la.csv",
    patterns=("ks2_la.csv", "outcomes_ks2_la.csv"),
    layouts=(
        Layout.of(
            "2024-2025",  # the 2025 file; the 2024 one per CSC_outcomes_and_enablers' reader
            """
            social_care_group version t_read_eligible_pupils t_read_met_expected_standard
            pt_read_met_expected_standard t_writta_eligible_pupils t_writta_met_expected_standard
            pt_writta_met_expected_standard t_mat_eligible_pupils t_mat_met_expected_standard
            pt_mat_met_expected_standard t_rwm_eligible_pupils t_rwm_met_expected_standard
            pt_rwm_met_expected_standard t_gps_eligible_pupils t_gps_met_expected_standard
            pt_gps_met_expected_standard t_scita_eligible_pupils t_scita_met_expected_standard
            pt_scita_met_expected_standard t_read_progress_eligible_pupils t_read_progress_score
            avg_read_progress_score avg_read_progress_score_lower_CI
            avg_read_progress_score_upper_CI t_writta_progress_eligible_pupils
            t_writta_progress_score avg_writta_progress_score avg_writta_progress_score_lower_CI
            avg_writta_progress_score_upper_CI t_mat_progress_eligible_pupils
            t_mat_progress_score avg_mat_progress_score avg_mat_progress_score_lower_CI
            avg_mat_progress_score_upper_CI
            """,
        ),
    ),
)
KS4_LA = DataFile(
    key="ks4_la.csv",
    patterns=("ks4_la.csv", "outcomes_ks4_la.csv"),
    layouts=(
        Layout.of(
            "2024-2025",  # as for KS2; earlier releases unchecked
            """
            social_care_group version t_pupils t_att8 avg_att8 t_l2basics_95 pt_l2basics_95
            t_l2basics_94 pt_l2basics_94 t_ebacc_e_ptq_ee pt_ebacc_e_ptq_ee t_ebaccaps
            avg_ebaccaps t_inp8calc t_p8score avg_p8score p8score_CI_low p8score_CI_upp
            """,
        ),
    ),
)
_ABSENCE = """
    t_pupils t_sess_possible t_sess_overall pt_overall t_sess_authorised pt_sess_authorised
    t_sess_unauthorised pt_sess_unauthorised t_pupils_pa_10_exact pt_pupils_pa_10_exact
    t_pupils_pa_50_exact pt_pupils_pa_50_exact
"""
ABSENCE_LA = DataFile(
    key="absence_la.csv",
    patterns=("absence_la.csv", "absence_six_half_terms_la.csv", "outcomes_absence_la.csv"),
    layouts=(
        Layout.of("2024-2025", f"absence_terms social_care_group phase_type_grouping {_ABSENCE}"),
        Layout.of(
            "2023",
            f"year_breakdown social_care_group school_type {_ABSENCE}",
            renames={"year_breakdown": "absence_terms", "school_type": "phase_type_grouping"},
        ),
    ),
    # Each phase is a breakdown of the Total row (ees.py labels it "phase_type_grouping: <phase>").
    breakdown_pairs=(("phase_type_grouping", "phase_type_grouping"),),
)

DATA_FILES = (SEN_LA, SEN_NATIONAL, KS2_LA, KS4_LA, ABSENCE_LA)
TIDY_LAYOUTS = {SEN_LA.key: SEN_TIDY, SEN_NATIONAL.key: SEN_TIDY}


class Harvester(EesHarvester):
    """Outcomes of children in need and looked after: the catalogue's ``cin_*`` indicators."""

    data_files = DATA_FILES
    require_observations = True  # a relabelled social care group must not empty an indicator

    def __init__(self, dataset: Dataset, catalogue: Catalogue):
        super().__init__(dataset, catalogue)
        self._published: dict[str, pd.DataFrame] = {}  # tidy files as published, by file name

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        self._published = {}
        parsed = super().parse(files, release, context)
        for name, frame in self._published.items():  # tidy files: raw tables as published
            parsed.raw_tables[raw_table_name(self.id, name)] = frame
        return parsed

    def read_table(
        self, datafile: DataFile, name: str, data: bytes, source: str
    ) -> tuple[pd.DataFrame, list[str]]:
        """An EES CSV; a tidy SEN file is pivoted into the wide columns its layouts name."""
        frame, notes = super().read_table(datafile, name, data, source)
        tidy = TIDY_LAYOUTS.get(datafile.key)
        if tidy is None or not tidy.matches(frame):
            return frame, notes
        self._published[name] = frame
        wide = tidy.pivot(frame, dataset=self.id, file=name, source=source)
        return wide, [*notes, f"{name}: {tidy.name} layout, pivoted for the indicators"]
