"""DfE: Education, health and care plans (the SEN2 return), from Explore Education Statistics.

- Publisher: Department for Education. Publication: "Education, health and care plans".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/education-health-and-care-plans
- Cadence: annual, in June; the reporting year's January caseload plus the previous calendar
  year's requests, assessments, new plans, timeliness, annual reviews and ceased plans.
- Latest release: the EES content API (see ``ees.py``); the "Download all data" zip.
- Local files: ``education-health-and-care-plans_<year>.zip`` (the zip as EES names it).

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

from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout

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


class Harvester(EesHarvester):
    """EHC plans: all twelve data files as raw tables, and the catalogue's ``ehcp_*`` indicators."""

    data_files = DATA_FILES
    older_layouts = (
        ("sen2_*.csv", "the older SEN2 release layout (data files sen2_*.csv, up to the 2022 "
         "release)"),
    )  # fmt: skip
