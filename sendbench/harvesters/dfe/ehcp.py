"""DfE: Education, health and care plans (the SEN2 return), from Explore Education Statistics.

- Publisher: Department for Education. Publication: "Education, health and care plans".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/education-health-and-care-plans
- Cadence: annual, in June; the reporting year's January caseload plus the previous calendar
  year's requests, assessments, new plans, timeliness, annual reviews and ceased plans.
- Latest release: the EES content API (see ``ees.py``); the "Download all data" zip.
- Local files: ``education-health-and-care-plans_<year>.zip`` (the zip as EES names it), and
  ``sen2_mi*.csv`` (one data file of the SEN2 layout below, as its own release).

Two release layouts:
- **2025 on**: twelve topic files (``caseload.csv``, ``newplans.csv``, ``requests.csv`` …), with
  ``breakdown_topic`` / ``breakdown``; the flow files start at calendar year 2019.
- **SEN2, up to the 2024 release** (the 2022, 2023 and 2024 data guidance, ``../shared/data/dfe/
  ehcp/data-guidance_202[2-4].txt``): ``sen2_*.csv`` files, one per table, wide.
  ``sen2_mi.csv`` (2014 to the previous calendar year; ``sen2_mi_2022-release.csv`` in the shared
  data is the 2022 release's copy) gives requests, refusals, assessments, new plans and 20-week
  timeliness per calendar year. It is read for the indicators whose measure is the same
  (``SEN2_MI``: the same England figures as the 2025 release for 2019-2021, checked), so the
  years 2014-2018, and percentages the 2025 release leaves as ``x`` (requests refused,
  assessments leading to a plan), are kept. The release's other ``sen2_*`` files (caseload by
  age and establishment, work-based placements) are kept as raw tables; no indicator is read
  from them, as no real copy was at hand to check their layout.

Quirks (2025 release):
- Twelve data files under ``data/``; CSVs have a BOM and CRLF line ends.
- ``time_period`` is a calendar year (``2024``) in flow files and an academic year (``202425``,
  i.e. January 2025) in caseload files.
- ``annual_reviews.csv`` repeats ``review_meeting_prior_24``. The copies are identical, so one is
  kept (a note is recorded); if a later release ever makes them differ, both are kept.
- North Yorkshire and Somerset still carry their pre-2023 county codes (E10000023, E10000027),
  and Buckinghamshire switches between E10000002 and E06000060; the areas table files each under
  its current code and keeps the published code in ``source_area_code``.
- Symbols: ``x`` (unavailable) and ``z`` (not applicable); no suppression or rounding.
"""

from __future__ import annotations

import dataclasses
import fnmatch
from functools import partial
from pathlib import Path, PurePosixPath
from types import MappingProxyType

import pandas as pd

from sendbench.csvread import Opener
from sendbench.errors import HarvestError, LayoutError
from sendbench.harvesters.base import (
    OBSERVATION_COLUMNS,
    FileRef,
    HarvestContext,
    MissingLocalFiles,
    Parsed,
    Release,
)  # fmt: skip
from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import (
    DataFile,
    EesHarvester,
    Layout,
    check_unique,
    matching_files,
    raw_table_name,
)  # fmt: skip
from sendbench.http import RawFile, member_opener, open_zip
from sendbench.releases import order_key

# The 2025 layout: each data file's columns after the EES standard ones (repeats removed).
# A later release that renames a column an indicator uses fails with the columns listed.
LAYOUT_2025: dict[str, str] = {
    "annual_reviews.csv": """
        total_ehc_plans review_expected review_not_expected review_meeting_25
        review_meeting_24 review_meeting_prior_24 total_review_meeting no_review_meeting
        review_decision25 review_decision24 review_decision_prior24 review_decision_not_due
        review_decision_outstanding outcome_amend outcome_cease outcome_maintan no_outcome
        number_decsion_4weeks number_decision_gt_4weeks pc_decsion_4weeks
        pc_decision_gt_4weeks
    """,
    "assessments.csv": """
        assess_in_year assess_issued assess_issued_pc assess_not_issued assess_not_issued_pc
        assess_not_made assess_not_made_pc assess_withdrawn assess_withdrawn_pc
        outcome_decision_within_time outcome_decision_over_time
        outcome_decision_within_time_pc outcome_decision_over_time_pc
        number_assess_mediation number_assess_tribunal number_asssess_mediation_tribunal
        number_other_mediation number_other_tribunal number_other_mediation_tribunal
    """,
    "caseload.csv": """
        ehcplans mainstream_la_maintained mainstream_la_maintained_resourced_provision
        mainstream_la_maintained_senunit mainstream_academy
        mainstream_academy_resourced_provision mainstream_academy_senunit
        mainstream_free_school mainstream_free_school_resourced_provision
        mainstream_free_school_senunit mainstream_independent mainstream_total
        mainstream_total_pc special_la_maintained special_academy_free special_independent
        special_non_maintained special_total special_total_pc ap_pru_academy
        ap_pru_free_school ap_pru_la_maintained ap_pru_total AP_PRU_total_pc
        general_fe_tertiary_colleges specialist_post_16_institutions ukrlp_provider fe_total
        fe_total_pc elective_home_education other_arrangements_la other_arrangements_parents
        online_provider w_settings other_schools other_placement_settings neet neet_ntci
        neet_other neet_other_csa ed_elsewhere ed_elsewhere_pc nm_early_years
        nm_early_years_pc placement_unknown placement_unknown_pc await_prov_2022
        perm_ex_2022
    """,
    "ceased_plans.csv": """
        max_age needs_met he employ transfer no_engage moved_outside_eng deceased not_rec
        other total_ceased
    """,
    "newplans.csv": """
        new_ehc_plans mainstream_la_maintained mainstream_la_maintained_resourced_provision
        mainstream_la_maintained_senunit mainstream_academy
        mainstream_academy_resourced_provision mainstream_academy_senunit
        mainstream_free_school mainstream_free_school_resourced_provision
        mainstream_free_school_senunit mainstream_independent mainstream_total
        mainstream_total_pc special_la_maintained special_academy_free special_independent
        special_non_maintained special_total special_total_pc ap_pru_academy
        ap_pru_free_school ap_pru_la_maintained ap_pru_total AP_PRU_total_pc
        general_fe_tertiary_colleges specialist_post_16_institutions ukrlp_provider fe_total
        fe_total_pc elective_home_education other_arrangements_la other_arrangements_parents
        online_provider w_settings other_schools other_placement_settings neet neet_ntci
        neet_other neet_other_csa ed_elsewhere ed_elsewhere_pc nm_early_years
        nm_early_years_pc placement_unknown placement_unknown_pc await_prov_2022
        perm_ex_2022
    """,
    "personal_budgets.csv": """
        personal_budget org_arrangments pb_health pb_education pb_social pb_integrated
    """,
    "requests.csv": """
        requests_received_in_year requests_rya requests_decided_to_assess
        requests_decided_not_to_assess requests_decision_not_made requests_withdrawn
        request_assess_pc request_not_assess_pc request_outstanding_pc request_withdrawn_pc
        request_outcome_six_weeks request_outcome_over_6_weeks request_outcome_six_weeks_pc
        request_outcome_over_6_weeks_pc mediation_related_request tribunal_related_request
        tribunal_after_mediation_request
    """,
    "residential_settings.csv": """
        Res_3851 Res_52 Res_tot
    """,
    "sen_need_newplans.csv": """
        ehc_plans number_asd number_hi number_mld number_msi number_oth number_pd
        number_pmld number_semh number_slcn number_sld number_spld number_vi
        number_need_unknown asd_pc hi_pc mld_pc msi_pc oth_pc pd_pc pmld_pc semh_pc slcn_pc
        sld_pc spld_pc vi_pc unknown_pc
    """,
    "sen_needs_all_plans.csv": """
        ehc_plans number_asd number_hi number_mld number_msi number_oth number_pd
        number_pmld number_semh number_slcn number_sld number_spld number_vi
        number_need_unknown asd_pc hi_pc mld_pc msi_pc oth_pc pd_pc pmld_pc semh_pc slcn_pc
        sld_pc spld_pc vi_pc unknown_pc
    """,
    "timeliness_20_week.csv": """
        plans_issued_den plans_issued_den_ex plans_issued_within_20_weeks
        plans_issued_20_weeks_ex pc_plans_issued_within_20_weeks PC_plans_issued_20_weeks_ex
        plans_issued_gt20weeks_ltYear plans_issued_gt20weeks_ltYear_ex
        pc_plans_issued_gt20weeks_ltYear PC_plans_issued_gt20weeks_ltYear_ex
        plans_issued_gt_1_year plans_issued_gt_1_year_ex pc_plans_issued_gt_1_year
        PC_plans_issued_gt_1_year_ex
    """,
    "work_based_placements.csv": """
        open_supp_intern open_apprentice open_trainee open_wbp
    """,
}


DATA_FILES = tuple(
    DataFile(
        key=name,
        patterns=(name,),
        layouts=(Layout.of("2025", ["breakdown_topic", "breakdown", *columns.split()]),),
    )
    for name, columns in sorted(LAYOUT_2025.items())
)


# The SEN2 layout's sen2_mi.csv: indicator -> (value, numerator, denominator) columns, for the
# indicators whose measure it publishes (the descriptions in the 2022 data guidance).
SEN2_MI: dict[str, tuple[str, str | None, str | None]] = {
    "ehcp_requests": ("InreqEHC", None, None),
    "ehcp_requests_refused_pct": ("AssRefusedEHC_pc", "AssRefusedEHC", "InreqEHC"),
    "ehcp_assessments_plan_issued_pct": ("NewallEHC_pc", "NewallEHC", "NewallEHC_AssnoneEHC_sum"),
    "ehcp_new_plans": ("NewallEHC", None, None),
    "ehcp_20_week_timeliness_pct": ("NoExc20weekRate", "NoExc20weekEHC", "TotNoExcEHC"),
    "ehcp_20_week_timeliness_incl_exceptions_pct": (
        "IncExc20weekRate", "IncExc20weekEHC", "TotIncExcEHC",
    ),
}  # fmt: skip
SEN2_FILES = "sen2_*.csv"
SEN2_MI_FILE = "sen2_mi.csv"
SEN2_LOCAL = ("sen2_mi*.csv",)


class Harvester(EesHarvester):
    """EHC plans: all twelve data files as raw tables, and the catalogue's ``ehcp_*`` indicators."""

    data_files = DATA_FILES
    older_layouts = (
        (
            SEN2_FILES,
            "the SEN2 release layout (data files sen2_*.csv, up to the 2024 release) "
            "without sen2_mi.csv, the file this version reads from it",
        ),
    )

    def find_local_releases(self, directory: Path) -> list[Release]:
        """The release zips (either layout) and any standalone ``sen2_mi*.csv``, oldest first."""
        directory = Path(directory)
        older = []
        if directory.is_dir():
            for path in matching_files(directory, SEN2_LOCAL):
                ref = FileRef(key=SEN2_MI_FILE, filename=path.name, path=path)
                older.append(Release(label=self.local_release_label([ref]), files=[ref]))
        try:
            current = super().find_local_releases(directory)
        except MissingLocalFiles:
            if not older:
                raise
            current = []
        return sorted([*older, *current], key=lambda r: order_key(r.label))

    def claims(self, path: Path) -> bool:
        lowered = path.name.lower()
        return super().claims(path) or any(fnmatch.fnmatch(lowered, p) for p in SEN2_LOCAL)

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        members = self._sen2_members(files)
        if members is None:
            return super().parse(files, release, context)
        if context.resolver is None:
            raise HarvestError(self.id, "the areas table is empty: refresh dfe_areas first")
        return self._parse_sen2(members, release, context)

    def _sen2_members(self, files: dict[str, RawFile]) -> dict[str, tuple[Opener, str]] | None:
        """The SEN2 layout's data files (name -> a function opening it as a stream, source), or
        None for the 2025 layout."""
        if SEN2_MI_FILE in files:
            raw = files[SEN2_MI_FILE]
            return {SEN2_MI_FILE: (lambda: raw.path.open("rb"), raw.source)}  # streamed
        raw = files.get("release")
        if raw is None:
            return None
        with open_zip(raw.path, dataset=self.id, source=raw.source) as archive:
            names = [n for n in archive.names() if PurePosixPath(n).parent.name == "data"
                     and n.lower().endswith(".csv")]  # fmt: skip
            if not names or not all(
                fnmatch.fnmatch(PurePosixPath(n).name.lower(), SEN2_FILES) for n in names
            ):
                return None
            if not any(PurePosixPath(n).name.lower() == SEN2_MI_FILE for n in names):
                return None  # refused by the usual check, naming the files it holds
        opener = partial(member_opener, raw.path, dataset=self.id, source=raw.source)
        return {PurePosixPath(n).name.lower(): (opener(n), raw.source) for n in names}

    def _parse_sen2(self, members, release: Release, context: HarvestContext) -> Parsed:
        parsed = Parsed()
        frames = {}
        for name, (data, source) in sorted(members.items()):
            frame, notes = ees.read_ees_csv(data, dataset=self.id, file=name, source=source)
            parsed.notes.extend(notes)
            frames[name] = frame
            parsed.raw_tables[raw_table_name(self.id, name)] = frame
        mi = frames[SEN2_MI_FILE]
        source = members[SEN2_MI_FILE][1]
        wanted = {c for cols in SEN2_MI.values() for c in cols if c}
        needed = [*self.time_columns, "geographic_level", *sorted(wanted)]
        missing = [c for c in needed if c not in mi.columns]
        if missing:
            known = set(needed) | set(ees.GEOGRAPHY_COLUMNS)
            raise LayoutError(
                self.id, SEN2_MI_FILE, missing, [c for c in mi.columns if c not in known], source
            )
        geo = ees.geography(mi, context.resolver, dataset=self.id, file=SEN2_MI_FILE)
        parts = []
        read = [ind for ind in self.indicators() if ind.id in SEN2_MI]
        for ind in read:
            column, numerator, denominator = SEN2_MI[ind.id]
            as_sen2 = dataclasses.replace(
                ind, file=SEN2_MI_FILE, column=column, numerator=numerator,
                denominator=denominator, filter=MappingProxyType({}),
            )  # fmt: skip
            obs, _ = ees.ees_observations(
                mi, as_sen2, release=release.label, resolver=context.resolver, geo=geo
            )
            parts.append(obs)
        observations = pd.concat(parts, ignore_index=True)
        check_unique(observations, self.id, SEN2_MI_FILE)
        parsed.observations = observations[OBSERVATION_COLUMNS]
        parsed.unmatched_areas = sorted(geo[1])
        others = sorted(n for n in frames if n != SEN2_MI_FILE)
        parsed.notes.append(
            f"read as the SEN2 release layout: {len(read)} indicators from {SEN2_MI_FILE} "
            f"({', '.join(ind.id for ind in read)})"
            + (f"; kept raw: {', '.join(others)}" if others else "")
        )
        return parsed
