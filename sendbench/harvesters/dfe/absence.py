"""DfE: Pupil absence in schools in England, by SEN provision, from EES.

- Publisher: Department for Education. Publication: "Pupil absence in schools in England".
- Landing page:
  https://explore-education-statistics.service.gov.uk/find-statistics/pupil-absence-in-schools-in-england
- Cadence: three releases a year: the full academic year (March, for the year that ended the
  previous summer), the autumn term and the autumn and spring terms. Only the full-year release
  has the full-year file by pupil characteristic for England, regions and LAs.
- Latest release: the EES content API, taking the newest release whose ``downloadFiles`` list
  the full-year characteristics file (the latest release is often a termly one without it), then
  its "Download all data" zip.
- Local files (``--from DIR``): the full-year zip as EES names it
  (``pupil-absence-in-schools-in-england_<yyyy-yy>.zip``; termly zips, ``…_<yyyy-yy>-autumn-term
  .zip``, are not matched), else the data file ``*absence_3term_characteristics*.csv`` (2024/25
  release: ``6_absence_3term_characteristics.csv``, every year from 2018/19 in one file).
  Not this dataset: ``4_absence_2term_pru.csv`` (pupil referral units, autumn and spring terms, no
  SEN breakdown) and DfE's EES test data ``absence_in_prus.zip``; neither name matches.

Layouts (data, not branches; see ``LAYOUTS``):
- 2024/25 full year: ``absence_terms``, ``education_phase``, ``breakdown_topic``, ``breakdown``,
  then enrolments, sessions, persistent (10%) and severe (50%) absence, reasons and their rates
  (EES data catalogue preview of "Absence by pupil characteristics").
- 2024/25 termly files: ``education_phase``, ``characteristic`` (the group) and
  ``characteristic_breakdown`` (the value); 2023/24: the same with ``school_type``. Renamed.

Quirks: ``education_phase`` "Total" is state-funded primary, secondary and special schools
(not alternative provision or PRUs); rates are percentages; ``x`` not available, ``z`` not
applicable (e.g. extended authorised holiday). The exact SEN labels of the current file could
not be confirmed here: the filters accept the DfE published-data QA SEN vocabulary and the short
forms, and a file whose labels match none fails naming the labels it has.
"""

from __future__ import annotations

from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout

# Columns of the 2024/25 file as its data catalogue preview shows them (the preview stops after
# sess_auth_excluded_rate; later rate columns are not required, and noted when present).
LAYOUT_2025 = """
    absence_terms education_phase breakdown_topic breakdown enrolments sess_possible sess_overall
    sess_authorised sess_unauthorised sess_overall_percent sess_authorised_percent
    sess_unauthorised_percent enrolments_pa_10_exact enrolments_pa_10_exact_percent
    sess_possible_pa_10_exact sess_overall_pa_10_exact sess_authorised_pa_10_exact
    sess_unauthorised_pa_10_exact sess_overall_percent_pa_10_exact
    sess_authorised_percent_pa_10_exact sess_unauthorised_percent_pa_10_exact
    enrolments_pa_50_exact enrolments_pa_50_exact_percent sess_auth_illness sess_auth_appointments
    sess_auth_religious sess_auth_study sess_auth_traveller sess_auth_holiday sess_auth_ext_holiday
    sess_auth_excluded sess_auth_interview sess_auth_reg_performance
    sess_auth_temp_reduced_timetable sess_auth_other sess_auth_totalreasons sess_unauth_holiday
    sess_unauth_late sess_unauth_other sess_unauth_noyet sess_unauth_totalreasons
    sess_overall_totalreasons sess_x_covid sess_y_exceptional sess_q_la_arrangements
    sess_auth_illness_rate sess_auth_appointments_rate sess_auth_religious_rate
    sess_auth_study_rate sess_auth_traveller_rate sess_auth_holiday_rate
    sess_auth_ext_holiday_rate sess_auth_excluded_rate
"""
# What every layout must give: the measures the catalogue's indicators read.
MEASURES = """
    enrolments sess_possible sess_overall sess_overall_percent enrolments_pa_10_exact
    enrolments_pa_10_exact_percent enrolments_pa_50_exact enrolments_pa_50_exact_percent
"""
CHARACTERISTIC = {"characteristic": "breakdown_topic", "characteristic_breakdown": "breakdown"}

LAYOUTS = (
    Layout.of("2025", LAYOUT_2025),
    Layout.of(
        "2024 termly",
        f"education_phase characteristic characteristic_breakdown {MEASURES}",
        renames=CHARACTERISTIC,
    ),
    Layout.of(
        "2023 termly",
        f"school_type characteristic characteristic_breakdown {MEASURES}",
        renames={"school_type": "education_phase", **CHARACTERISTIC},
    ),
)

DATA_FILES = (
    DataFile(
        key="absence_3term_characteristics.csv",
        patterns=("*absence_3term_characteristics*.csv",),
        layouts=LAYOUTS,
        breakdown_pairs=(),  # one indicator per SEN group: the file's other groups are not ours
    ),
)


class Harvester(EesHarvester):
    """Overall, persistent and severe absence by SEN provision (``absence_*`` indicators)."""

    data_files = DATA_FILES
    release_needs_files = True
    require_observations = True
    narrow_to_indicator_rows = True
