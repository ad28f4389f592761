"""DfE: Participation in education, training and NEET age 16 to 17 by local authority (EES).

- Publisher: Department for Education (NCCIS management information). Publication:
  "Participation in education, training and NEET age 16 to 17 by local authority".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/participation-in-education-training-and-neet-age-16-to-17-by-local-authority
- Cadence: annual (June). NEET and activity-not-known are the average of the December, January
  and February counts, published as the calendar year of the January (``time_period`` ``2023`` =
  end of 2022 / start of 2023); participation is the March count.
- Latest release: the EES content API (see ``ees.py``); the "Download all data" zip,
  ``participation-in-education-training-and-neet-age-16-to-17-by-local-authority_<yyyy-yy>.zip``.
- File read: the LA scorecard ("dashboard") table, one row per England / region / LA for one
  year, with NEET or not known by SEN status (no SEN, EHC plan, SEN support). The zip names it
  ``data/ud_neetnk_la_dashboard_<year>_final.csv``; DfE's dashboard repository
  (dfe-analytical-services/nccis_localauthority_dashboard) keeps ``UD_NEETNK_LA_dashboard_2021_
  vg_removed.csv``, ``…_2022_final.csv``, ``…_2023_final.csv`` and ``…_2025.csv``. Names match
  case-insensitively. Every year's file found is read (a series). The release's other files
  (NEET and participation by characteristics, participation by type) are kept raw.

Quirks:
- The column set changes between years: the 2021 file has four more quintile columns
  (``NEET_NK_NoSEN_quintile`` … ``VG_NEET_NK_percentage_quintile``); 2022 and 2023 share one
  header; the 2025 file drops ``Age1617_ONS_population`` and replaces
  ``sess_overall_percent_pa_10_exact`` (persistent absence, sessions) with
  ``enrolments_pa_10_exact_percent`` (enrolments), a different measure, so it is not renamed.
  The SEN columns the catalogue reads have the same names in every year.
- The 2021 file ("vulnerable groups removed") leaves the SEN columns empty for regions and LAs:
  only England has them. Empty cells load as status ``missing``, never zero.
- The 2021 file ends with two dashboard demo rows, "Region demo" (a Regional row with no region
  code) and "LA demo" (no codes): the LA demo row is reported as unmatched; neither is loaded.
- Published under the codes of the year: Northamptonshire E10000021 in 2021, its successors from
  2022; North Yorkshire E10000023, Somerset E10000027 and Cumbria E10000006 up to 2023.
- No BOM, LF line ends. Symbols: ``c`` suppressed, ``z`` not applicable. No numerators: only the
  all-pupils cohorts (``Cohort_DJFavg``, ``cohort_March``) are published as counts.
"""

from __future__ import annotations

from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout

COLUMNS_2022 = """
    Age Cohort_DJFavg NEET_not_known_percent NEET_percent Notknown_percent
    annual_change_ppts_NEET_not_known annualchange_NEET annualchange_notknown cohort_March
    TOTAL_participating_in_education_and_training_percent Full_time_education_percent
    Apprenticeship_percent Other_education_and_training_percent
    annual_change_Participation_in_education_training annual_change_FTE
    annual_change_apprenticeship annual_change_other_education_training
    September_guarantee_Offer_made_percent September_guarantee_annual_change_ppts
    cohort_noSEN_percent NEET_NK_noSEN_percent cohort_EHCP_percent NEET_NK_EHCP_percent
    cohort_SENDsupport_percent NEET_NK_SENDsupport_percent VG_cohort_DJF_avg
    VG_cohort_percentage VG_NEET_NK_percentage Level_3 L2_em_GCSE_othL2 avg_att8
    pt_l2basics_94 sess_overall_percent sess_overall_percent_pa_10_exact Age1617_ONS_population
    NEET_NK_quintile NEET_quintile Notknown_quintile Participation_ET_quintile
    Sep_guarantee_quintile
"""
QUINTILES_2021 = """
    NEET_NK_NoSEN_quintile NEET_NK_EHCP_quintile NEET_NK_SENDsupport_quintile
    VG_NEET_NK_percentage_quintile
"""
COLUMNS_2025 = COLUMNS_2022.replace(" Age1617_ONS_population", "").replace(
    "sess_overall_percent_pa_10_exact", "enrolments_pa_10_exact_percent"
)

# Most columns first: a file is matched to the first layout whose columns it has.
LAYOUTS = (
    Layout.of("2021", f"{COLUMNS_2022} {QUINTILES_2021}"),
    Layout.of("2022", COLUMNS_2022),
    Layout.of("2025", COLUMNS_2025),
)

DATA_FILES = (
    DataFile(
        key="la_dashboard",
        patterns=("UD_NEETNK_LA_dashboard_*.csv",),
        layouts=LAYOUTS,
        series=True,
    ),
)


class Harvester(EesHarvester):
    """NEET and participation of 16-17 year olds by LA, with NEET or not known by SEN status."""

    data_files = DATA_FILES
    require_observations = True
