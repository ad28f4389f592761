"""DfE: Key stage 2 attainment by region, local authority and pupil characteristics (EES).

- Publisher: Department for Education. Publication: "Key stage 2 attainment" (national
  curriculum assessments at the end of primary school; state-funded schools in England).
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/key-stage-2-attainment
- Cadence: annual; provisional figures in September, revised in December. Each release's LA file
  covers every year since 2018/19 (none for 2019/20 and 2020/21: assessments were cancelled).
- Latest release: the EES content API (``ees.py``); the "Download all data" zip.
- Local files: the release zip (``key-stage-2-attainment_<release>.zip``), or the LA file as EES
  names it, ``ks2_regional_local_authority_and_pupil_characteristics_2019_and_2022_revised.csv``
  (2021/22), ``…_2019_to_2023_revised.csv`` (2022/23) and so on. ../shared/data holds only the
  2021/22 data guidance, so ``--from`` that folder finds no file (``MissingLocalFiles``: skipped
  when every dataset is refreshed).

Indicators: the percentage of pupils meeting the expected standard in reading, writing and maths
(combined) for pupils with an EHC plan, with SEN support and with no SEN, by LA.

Layouts (kept as data below; sources in tests/fixtures/README.md):
- 2021/22: ``characteristic_group``/``characteristic``/``school_type``/``gender`` (the release's
  data guidance and its EES data catalogue page); 2022/23: ``breakdown_topic``/``breakdown``
  with ``school_type``/``gender``; 2023/24: ``establishment_type_group``/``sex``. SEN rows are
  ``breakdown_topic`` ``SEN status`` with ``breakdown`` ``EHC plan``, ``SEN support``,
  ``No SEN``, ``All SEN``, ``SEN unclassified``. Figures are rounded to whole percentages.
- 2024/25 is tidy: one row per ``subject`` with a column per characteristic (``sex``,
  ``disadvantage_status``, ``fsm_status``, ``ethnicity_minor``, ``first_language``,
  ``sen_provision``) and ``eligible_pupil_count``, ``expected_standard_pupil_count``,
  ``expected_standard_pupil_percent``. It is pivoted (``TIDY_2025``) into the wide columns above;
  only rows where every other characteristic is ``Total`` take part, and the raw table keeps
  the file as published. This layout is reconstructed from the release's other files and code
  that reads it (no copy could be obtained): an unknown spelling fails with the values listed.
- Regional rows for Inner and Outer London (``E13…``) are not areas: they are set aside (kept in
  the raw table) and listed with the unmatched areas.
- Symbols: ``c`` suppressed, ``x`` not available, ``z`` not applicable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import pandas as pd

from sendbench.catalogue import Indicator
from sendbench.errors import BadFileError, HarvestError
from sendbench.harvesters.base import HarvestContext, Parsed, Release
from sendbench.harvesters.dfe import ees
from sendbench.harvesters.dfe.eesbase import DataFile, EesHarvester, Layout, raw_table_name
from sendbench.http import RawFile

# Headline measures every wide layout has (data guidance 2021/22; EES data catalogue 2022-2024).
SUBJECTS = {
    "Reading, writing and maths": "rwm",
    "Reading": "read",
    "Writing": "writta",
    "Maths": "mat",
}
MEASURES = [
    f"{prefix}_{code}_{what}"
    for code in SUBJECTS.values()
    for prefix, what in (
        ("t", "eligible_pupils"),
        ("t", "met_expected_standard"),
        ("pt", "met_expected_standard"),
    )
]
_MEASURES = " ".join(MEASURES)
# The 2021/22 file as its data guidance lists it (ks2-data-guidance.txt in ../shared/data), in the
# order of its EES data catalogue page (becde90c-f6de-4629-a2ec-9353ef9036ec).
COLUMNS_2021_22 = """
    version education_investment_area_flag characteristic_group characteristic school_type
    gender no_schools t_rwm_eligible_pupils t_rwm_met_expected_standard
    t_rwm_met_higher_standard t_read_eligible_pupils t_read_met_expected_standard
    t_read_met_higher_standard t_read_not_achieved_expected_standard
    t_read_working_below_assessment t_read_absent t_read_unable_to_access_or_just_arrived
    t_read_unable_to_access t_read_avg_scaled_score_eligible_pupils t_read_sum_scaled_scores
    t_read_progress_eligible_pupils t_read_progress_score t_gps_eligible_pupils
    t_gps_met_expected_standard t_gps_met_higher_standard
    t_gps_not_achieved_expected_standard t_gps_working_below_assessment t_gps_absent
    t_gps_unable_to_access_or_just_arrived t_gps_unable_to_access
    t_gps_avg_scaled_score_eligible_pupils t_gps_sum_scaled_scores t_mat_eligible_pupils
    t_mat_met_expected_standard t_mat_met_higher_standard
    t_mat_not_achieved_expected_standard t_mat_working_below_assessment t_mat_absent
    t_mat_unable_to_access_or_just_arrived t_mat_unable_to_access
    t_mat_avg_scaled_score_eligible_pupils t_mat_sum_scaled_scores
    t_mat_progress_eligible_pupils t_mat_progress_score t_writta_eligible_pupils
    t_writta_met_expected_standard t_writta_met_higher_standard
    t_writta_working_towards_expected_standard t_writta_pre_key_stage_standard_6
    t_writta_pre_key_stage_standard_5 t_writta_pre_key_stage_standard_4
    t_writta_pre_key_stage_standard_3 t_writta_pre_key_stage_standard_2
    t_writta_pre_key_stage_standard_1 t_writta_growing_development_of_expected_standard
    t_writta_early_development_of_expected_standard
    t_writta_foundations_of_expected_standard
    t_writta_engagement_model_or_below_pre_key_stage_standards
    t_writta_below_interim_pre_key_stage_standards t_writta_absent t_writta_disapplied
    t_writta_progress_eligible_pupils t_writta_progress_score t_scita_eligible_pupils
    t_scita_met_expected_standard t_scita_not_met_expected_standard t_scita_absent
    t_scita_disapplied pt_rwm_met_expected_standard pt_rwm_met_higher_standard
    pt_read_met_expected_standard pt_read_met_higher_standard
    pt_read_not_achieved_expected_standard pt_read_working_below_assessment pt_read_absent
    pt_read_unable_to_access_or_just_arrived pt_read_unable_to_access
    pt_gps_met_expected_standard pt_gps_met_higher_standard
    pt_gps_not_achieved_expected_standard pt_gps_working_below_assessment pt_gps_absent
    pt_gps_unable_to_access_or_just_arrived pt_gps_unable_to_access
    pt_mat_met_expected_standard pt_mat_met_higher_standard
    pt_mat_not_achieved_expected_standard pt_mat_working_below_assessment pt_mat_absent
    pt_mat_unable_to_access_or_just_arrived pt_mat_unable_to_access
    pt_writta_met_expected_standard pt_writta_met_higher_standard
    pt_writta_working_towards_expected_standard pt_writta_pre_key_stage_standard_6
    pt_writta_pre_key_stage_standard_5 pt_writta_pre_key_stage_standard_4
    pt_writta_pre_key_stage_standard_3 pt_writta_pre_key_stage_standard_2
    pt_writta_pre_key_stage_standard_1 pt_writta_growing_development_of_expected_standard
    pt_writta_early_development_of_expected_standard
    pt_writta_foundations_of_expected_standard
    pt_writta_engagement_model_or_below_pre_key_stage_standards
    pt_writta_below_interim_pre_key_stage_standards pt_writta_absent pt_writta_disapplied
    pt_scita_met_expected_standard pt_scita_not_met_expected_standard pt_scita_absent
    pt_scita_disapplied avg_read_scaled_score avg_read_progress_score
    avg_read_progress_score_lower_ci avg_read_progress_score_upper_ci avg_gps_scaled_score
    avg_mat_scaled_score avg_mat_progress_score avg_mat_progress_score_lower_ci
    avg_mat_progress_score_upper_ci avg_writta_progress_score
    avg_writta_progress_score_lower_ci avg_writta_progress_score_upper_ci
"""
# 2022/23 and 2023/24 (EES data catalogue 1ab4c87c-… and 65b16fe2-…; DfE's SEND and AP dashboard
# reads the 2022/23 file by these names): only the characteristics and the headline measures are
# required, as the pages show the rest of their columns only in part; others are noted, kept raw.
LAYOUTS = (
    Layout.of(
        "2023/24",
        f"version breakdown_topic breakdown establishment_type_group sex no_schools {_MEASURES}",
    ),
    Layout.of(
        "2022/23",
        f"version breakdown_topic breakdown school_type gender no_schools {_MEASURES}",
        renames={"school_type": "establishment_type_group", "gender": "sex"},
    ),
    Layout.of(
        "2021/22",
        COLUMNS_2021_22,
        renames={
            "characteristic_group": "breakdown_topic",
            "characteristic": "breakdown",
            "school_type": "establishment_type_group",
            "gender": "sex",
        },
    ),
    Layout.of(
        "2024/25 tidy (pivoted)",
        f"version establishment_type_group breakdown_topic breakdown sex {_MEASURES}",
    ),
)


@dataclass(frozen=True)
class TidyLayout:
    """A one-row-per-subject layout and how it becomes the wide columns the indicators read.

    Rows whose ``only_total`` characteristics (those present) are all ``Total`` are kept; each
    ``subject`` row gives the columns ``values`` names (``{code}`` = the subject's code). The
    ``topic`` column's value becomes ``breakdown`` under ``breakdown_topic`` ``topic_label``
    (``Total`` where it is ``Total``), as in the wide layouts.
    """

    name: str
    subject: str
    values: Mapping[str, str]
    topic: str
    topic_label: str
    only_total: tuple[str, ...]
    keep: tuple[str, ...]

    def matches(self, frame: pd.DataFrame) -> bool:
        return {self.subject, self.topic, *self.values} <= set(frame.columns)

    def pivot(self, frame: pd.DataFrame, *, dataset: str, file: str, source: str | None):
        others = [c for c in self.only_total if c in frame.columns]
        rows = frame[(frame[others] == "Total").all(axis=1)] if others else frame
        rows = rows[rows[self.subject].isin(SUBJECTS)]
        index = [c for c in self.keep if c in rows.columns]
        repeated = rows.duplicated([*index, self.subject])
        if repeated.any():
            first = rows[repeated].iloc[0]
            where = ", ".join(f"{c}={first[c]}" for c in [*index, self.subject] if first[c])
            raise BadFileError(dataset, f"{file}: more than one row for {where}", source)
        wide = rows.pivot(index=index, columns=self.subject, values=list(self.values))
        wide.columns = [self.values[v].format(code=SUBJECTS[s]) for v, s in wide.columns]
        every = [t.format(code=code) for code in SUBJECTS.values() for t in self.values.values()]
        wide = wide.reindex(columns=every, fill_value="").fillna("").reset_index()
        topic = wide.pop(self.topic)
        wide["breakdown_topic"] = topic.where(topic == "Total", self.topic_label)
        wide["breakdown"] = topic
        return wide


# 2024/25: columns from the release's sister files (EES data catalogue: "Attainment by pupil
# characteristics", "Attainment by region and local authority maintained schools") and from code
# that reads ks2_regional_local_authority_and_pupil_characteristics_2019_to_2025_revised.csv.
TIDY_2025 = TidyLayout(
    name="2024/25 tidy (pivoted)",
    subject="subject",
    values={
        "eligible_pupil_count": "t_{code}_eligible_pupils",
        "expected_standard_pupil_count": "t_{code}_met_expected_standard",
        "expected_standard_pupil_percent": "pt_{code}_met_expected_standard",
    },
    topic="sen_provision",
    topic_label="SEN status",
    only_total=(
        "disadvantage_status",
        "fsm_status",
        "ethnicity_major",
        "ethnicity_minor",
        "first_language",
        "month_of_birth",
        "sen_primary_need",
    ),
    keep=(*ees.TIME_COLUMNS, *ees.GEOGRAPHY_COLUMNS, "version", "establishment_type_group")
    + ("sex", "sen_provision"),
)

LA_CHARACTERISTICS = DataFile(
    key="la_characteristics",
    patterns=("ks2_regional_local_authority_and_pupil_characteristics*.csv",),
    layouts=LAYOUTS,
    breakdown_pairs=(),  # filters select rows; the SEN groups are separate indicators
)


# Regional rows that are not regions: kept in the raw table, listed with the unmatched areas.
# The 2018/19 KS4 workbook publishes them with London's code (E12000007) instead of E13….
SUBREGIONS = ("Inner London", "Outer London")


class AttainmentHarvester(EesHarvester):
    """An EES attainment file by LA and pupil characteristics (KS2 here, KS4 in ``ks4.py``).

    On top of :class:`EesHarvester`: a file in a tidy layout is reshaped (``reshape``) and
    sub-regional rows are set aside, the raw table keeping the file as published; and every
    indicator must find rows, so a respelt SEN group fails instead of silently loading nothing.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._published: dict[str, pd.DataFrame] = {}
        self._set_aside: set[str] = set()

    def parse(self, files: dict[str, RawFile], release: Release, context: HarvestContext) -> Parsed:
        self._published, self._set_aside = {}, set()
        parsed = super().parse(files, release, context)
        for name, frame in self._published.items():
            parsed.raw_tables[raw_table_name(self.id, name)] = frame
        parsed.unmatched_areas = sorted({*parsed.unmatched_areas, *self._set_aside})
        require_rows(parsed, self.indicators(), self.id, self.published_names())
        return parsed

    def published_names(self) -> dict[str, set[str]]:
        """Each catalogue column's published spellings (from the layouts' renames)."""
        names: dict[str, set[str]] = {}
        for datafile in self.data_files:
            for layout in datafile.layouts:
                for published, canonical in layout.renames.items():
                    names.setdefault(canonical, set()).add(published)
        return names

    def read_table(
        self, datafile: DataFile, name: str, data: bytes, source: str
    ) -> tuple[pd.DataFrame, list[str]]:
        """The file as published, reshaped if tidy, without its sub-regional rows."""
        published, notes = self.read_published(datafile, name, data, source)
        frame, more = self.reshape(published, name, source)
        if not {"geographic_level", "region_code", "region_name"} <= set(frame.columns):
            return frame, [*notes, *more]  # a file without regions: the layout check says so
        subregion = (frame["geographic_level"] == "Regional") & (
            frame["region_name"].isin(SUBREGIONS) | frame["region_code"].str.startswith("E13")
        )
        if subregion.any():
            for code, region in frame.loc[subregion, ["region_code", "region_name"]].values:
                self._set_aside.add(
                    f"{region} ({code}): a sub-region, not an area; kept in the raw table"
                )
            frame = frame[~subregion]
        if frame is not published:  # the raw table keeps the file as published
            self._published[name] = published
        return frame, [*notes, *more]

    def read_published(
        self, datafile: DataFile, name: str, data: bytes, source: str
    ) -> tuple[pd.DataFrame, list[str]]:
        """One file's cells as text (an EES CSV by default)."""
        return ees.read_ees_csv(data, dataset=self.id, file=name, source=source)

    def reshape(self, frame: pd.DataFrame, name: str, source: str):
        """A tidy layout made into the wide columns the layouts name (none by default)."""
        return frame, []


class Harvester(AttainmentHarvester):
    """KS2 attainment by LA and SEN provision: the catalogue's ``ks2_*`` indicators."""

    data_files = (LA_CHARACTERISTICS,)
    tidy_layouts: tuple[TidyLayout, ...] = (TIDY_2025,)

    def published_names(self) -> dict[str, set[str]]:
        names = super().published_names()
        for tidy in self.tidy_layouts:  # a tidy file's SEN groups are in its topic column
            names.setdefault("breakdown", set()).add(tidy.topic)
        return names

    def reshape(self, frame: pd.DataFrame, name: str, source: str):
        """A tidy (one row per subject) file is pivoted into the wide columns."""
        tidy = next((t for t in self.tidy_layouts if t.matches(frame)), None)
        if tidy is None:
            return frame, []
        wide = tidy.pivot(frame, dataset=self.id, file=name, source=source)
        return wide, [f"{name}: {tidy.name} layout, pivoted for the indicators"]


def require_rows(
    parsed: Parsed,
    indicators: Iterable[Indicator],
    dataset: str,
    published_names: Mapping[str, set[str]] | None = None,
) -> None:
    """Fail when an indicator's filter matches no row: a value respelt by the publisher.

    The message lists, for each filter column (under any of its ``published_names`` in the raw
    tables), the values the files have, so the catalogue's filter can be updated; without this
    check the indicator would silently have no data.
    """
    obs = parsed.observations
    found = set() if obs is None else set(obs["indicator_id"])
    for ind in indicators:
        if ind.id in found:
            continue
        have = []
        for column in ind.filter:
            names = {column, *(published_names or {}).get(column, ())}
            values = set()
            for frame in parsed.raw_tables.values():
                for name in names & set(frame.columns):
                    values.update(frame[name].astype(str))
            listed = ", ".join(repr(v) for v in sorted(values)[:20]) or "no such column"
            have.append(f"{column}: {listed}")
        raise HarvestError(
            dataset,
            f"indicator {ind.id}: no row matches its filter {dict(ind.filter)}; "
            f"the files have {'; '.join(have)}. Update the filter in the catalogue.",
        )
