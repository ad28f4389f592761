"""DfE: Early years foundation stage profile (EYFSP) results, from Explore Education Statistics.

- Publisher: Department for Education. Publication: "Early years foundation stage profile
  results".
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/early-years-foundation-stage-profile-results
- Cadence: annual, in November; teacher assessments at the end of reception (the summer term of
  the academic year in which a child turns 5) against 17 early learning goals (ELGs). A "good
  level of development" (GLD) is the expected level in the 12 ELGs of five areas of learning.
- Latest release: the EES content API (``ees.latest_release``), publication slug
  ``early-years-foundation-stage-profile-results``; the "Download all data" zip.
- Local files: ``early-years-foundation-stage-profile-results_<year>.zip``, else the headline
  measures file: ``eyfsp_headline_measures_2022.csv`` (2021/22, as in ../shared/data),
  ``1_eyfsp_headline_measures_2022_2025.csv`` (2024/25 release).

Quirks:
- The 2021/22 file calls the breakdown topic ``characteristic`` ("SEN provision") and its value
  ``characteristic_type`` ("EHC plan"), and sex ``gender`` (Girls/Boys); from 2023/24 they are
  ``breakdown_topic``, ``breakdown`` and ``sex`` (Female/Male). Renames map the first onto the
  second, so one set of filters serves both.
- Rows come at national, regional (including Inner and Outer London, E13, which stay raw),
  local authority and local authority district level; district rows (``lad_code``) stay raw.
- Only the all-children indicator carries breakdowns (``SEN provision: EHC plan``,
  ``Free school meal eligibility: …``); the SEN groups are indicators of their own, so each is
  benchmarked on its headline value.
- Symbols: ``z`` (not applicable: no children in the group, published with a count of 0) in
  2021/22; the 2024/25 guidance adds ``x`` (not available), ``u`` (low reliability) and ``b``
  (break in time series). No suppression.
- The 2021/22 file has no BOM and LF line ends (unlike most EES files).
- The EYFS profile was reformed in September 2021: results from 2021/22 are not comparable with
  2018/19 and earlier, which are not read here (a different file and layout).
"""

from __future__ import annotations

from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout

MEASURES = """
    children_number average_elgs elg_number elg_percentage comm_lang_lit_number
    comm_lang_lit_percentage gld_number gld_percentage
"""

DATA_FILES = (
    DataFile(
        key="eyfsp_headline_measures.csv",
        patterns=("*eyfsp_headline_measures*.csv",),
        layouts=(
            Layout.of("2023/24", f"lad_code lad_name breakdown_topic breakdown sex {MEASURES}"),
            Layout.of(
                "2021/22",
                f"lad_code lad_name characteristic characteristic_type gender {MEASURES}",
                renames={
                    "characteristic": "breakdown_topic",
                    "characteristic_type": "breakdown",
                    "gender": "sex",
                },
            ),
        ),
    ),
)


class Harvester(EesHarvester):
    """EYFSP headline measures by child characteristics; the ``eyfsp_*`` indicators."""

    data_files = DATA_FILES
