"""DfE: Key stage 4 performance by local authority and pupil characteristics (EES).

- Publisher: Department for Education. Publication: "Key stage 4 performance" (GCSE results at
  the end of secondary school, state-funded schools; formerly "Key stage 4 performance
  (revised)", slug ``key-stage-4-performance-revised``).
- Landing page: https://explore-education-statistics.service.gov.uk/find-statistics/key-stage-4-performance
- Cadence: annual; provisional figures in October, revised in February. Each release's LA
  characteristics file covers earlier years too (2024/25: 2009/10 to 2024/25).
- Latest release: the EES content API (``ees.py``); the "Download all data" zip.
- Local files: the release zip (``key-stage-4-performance_<release>.zip``) or the LA file as EES
  names it: ``<yyyyyy>_all_state_funded_pupils_characteristics_and_geography_breakdowns_<version>
  .csv`` (2024/25), ``<yyyyyy>_la_char_data_<version>.csv`` (2022/23 and 2023/24),
  ``2122_lachar_data.csv`` (2021/22), and the 2018/19 workbook
  ``201819_LA_characteristics_data_including_sen_description.xlsx`` (in ../shared/data, from
  DfE's SEND and AP dashboard). DfE's EES *test data* (``KS4_2018_LA_Char_Testdata.zip``) is not
  a release and matches no name here.

Indicators: Attainment 8 and Progress 8 for pupils with an EHC plan, with SEN support and with
no SEN, by LA; numerators and denominators are the published sums and pupil counts.

Layouts (kept as data below; sources in tests/fixtures/README.md), renamed to the 2024/25 names:
- 2024/25: ``breakdown_topic`` and one column per characteristic (``sex``, ``sen_provision``
  = EHC plan / SEN support / no SEN, ``sen_status`` = any / no identified SEN, …);
  ``attainment8_average``, ``progress8_average``. Progress 8 is ``z`` for 2024/25 (no KS2
  results for that cohort).
- 2023/24: ``breakdown``, ``sen_provision``, ``sen_status``, ``avg_att8``, ``avg_p8score``.
- 2022/23: ``breakdown``, ``gender``, ``sen_status`` (the provision) and ``sen_description``
  (any / no identified SEN): the two SEN columns swap names with 2023/24.
- 2018/19 to 2020/21: ``characteristic_*`` columns; the 2018/19 workbook (sheet ``Sheet1``,
  header on row 1) also has ``avg_att8_unrounded``. Its SEN values are ``SEN State EHC``,
  ``SEN Supp``, ``No SEN``; its numbers are workbook numbers, not text, and no symbols occur.
- The workbook's Inner and Outer London rows are regional rows with London's code
  (``E12000007``), so they would collide with London: like any ``E13…`` sub-region they are set
  aside (kept in the raw table) and listed with the unmatched areas (``ks2.AttainmentHarvester``).
- 2019/20 and 2021/22 publish no Progress 8 columns, so those files are refused with the
  missing columns listed (their years are in every later release's file).
"""

from __future__ import annotations

import fnmatch
import io
from dataclasses import dataclass

import pandas as pd

from sendbench.csvread import as_bytes
from sendbench.errors import BadFileError
from sendbench.harvesters.dfe.eesbase import DataFile, Layout
from sendbench.harvesters.dfe.ks2 import AttainmentHarvester

# Older names -> 2024/25 names (the characteristics and the measures the indicators use).
MEASURES_OLD = {
    "t_schools": "school_count",
    "t_pupils": "pupil_count",
    "t_att8": "attainment8_sum",
    "avg_att8": "attainment8_average",
    "t_inp8calc": "progress8_pupil_count",
    "t_p8score": "progress8_sum",
    "avg_p8score": "progress8_average",
}
CI_LOWER_CASE = {
    "p8score_ci_low": "progress8_lower_95_ci",
    "p8score_ci_upp": "progress8_upper_95_ci",
}
CI_UPPER_CASE = {k.replace("_ci_", "_CI_"): v for k, v in CI_LOWER_CASE.items()}
CHARACTERISTIC_2018 = {
    "school_characteristic": "establishment_type_group",
    "breakdown": "breakdown_topic",
    "characteristic_gender": "sex",
    "characteristic_free_school_meals": "fsm_status",
    "characteristic_sen_status": "sen_provision",
    "characteristic_sen_description": "sen_status",
    "characteristic_disadvantage": "disadvantage_status",
    "characteristic_first_language": "first_language",
}
_MEASURES_2018 = """
    t_schools t_pupils t_att8 {unrounded} avg_att8 t_entbasics pt_entbasics t_l2basics_95
    pt_l2basics_95 t_l2basics_94 pt_l2basics_94 t_ebacc_e_ptq_ee pt_ebacc_e_ptq_ee t_ebacc_95
    pt_ebacc_95 t_ebacc_94 pt_ebacc_94 t_ebaccaps avg_ebaccaps t_inp8calc t_p8score avg_p8score
"""
_CHARACTERISTICS_2018 = """
    version school_characteristic breakdown characteristic_gender {ethnic}
    characteristic_free_school_meals characteristic_sen_status characteristic_sen_description
    characteristic_disadvantage characteristic_first_language
"""

LAYOUTS = (
    # "All state-funded pupil characteristics and geography data" (EES data catalogue
    # 9e761bdf-fe02-4e1e-9d3d-b32dac9fa6ef); the file has further measure columns after these.
    Layout.of(
        "2024/25",
        """
        version education_investment_area_flag priority_area_flag establishment_type_group
        breakdown_topic sex ethnicity_major ethnicity_minor fsm_status sen_provision sen_status
        sen_primary_need disadvantage_status first_language prior_attainment ks2_scaled_score_group
        mobility young_carer school_admission_type school_religious_character school_count
        pupil_count attainment8_sum attainment8_average engmath_entering_total
        engmath_entering_percent engmath_95_total engmath_95_percent engmath_94_total
        engmath_94_percent ebacc_entering_total ebacc_entering_percent ebacc_95_total
        ebacc_95_percent ebacc_94_total ebacc_94_percent ebacc_aps_sum ebacc_aps_average
        progress8_pupil_count progress8_sum progress8_average progress8_lower_95_ci
        progress8_upper_95_ci
        """,
    ),
    # "Local authority characteristics data", 2023/24 (EES data catalogue 85bdb5af-…).
    Layout.of(
        "2023/24",
        """
        version education_investment_area_flag priority_area_flag establishment_type_group
        breakdown sex ethnicity_major ethnicity_minor free_school_meals sen_provision sen_status
        disadvantage first_language t_schools t_pupils t_att8 avg_att8 t_entbasics pt_entbasics
        t_l2basics_95 pt_l2basics_95 t_l2basics_94 pt_l2basics_94 t_ebacc_e_ptq_ee
        pt_ebacc_e_ptq_ee t_ebacc_95 pt_ebacc_95 t_ebacc_94 pt_ebacc_94 t_ebaccaps avg_ebaccaps
        t_inp8calc t_p8score avg_p8score p8score_ci_low p8score_ci_upp
        """,
        renames={
            "breakdown": "breakdown_topic",
            "free_school_meals": "fsm_status",
            "disadvantage": "disadvantage_status",
            **MEASURES_OLD,
            **CI_LOWER_CASE,
        },
    ),
    # 2022/23 (EES data catalogue 78722527-…, and DfE's SEND and AP dashboard code reading
    # 202223_la_char_data_revised.csv): sen_status is the provision, sen_description any/none.
    Layout.of(
        "2022/23",
        """
        version breakdown gender ethnicity_major ethnicity_minor free_school_meals sen_status
        sen_description disadvantage first_language t_schools t_pupils t_att8 avg_att8
        t_inp8calc t_p8score avg_p8score p8score_ci_low p8score_ci_upp
        """,
        renames={
            "breakdown": "breakdown_topic",
            "gender": "sex",
            "free_school_meals": "fsm_status",
            "sen_status": "sen_provision",
            "sen_description": "sen_status",
            "disadvantage": "disadvantage_status",
            **MEASURES_OLD,
            **CI_LOWER_CASE,
        },
    ),
    Layout.of(
        "2018/19 workbook",
        _CHARACTERISTICS_2018.format(ethnic="characteristic_Ethnic_major").split()
        + _MEASURES_2018.format(unrounded="avg_att8_unrounded").split()
        + list(CI_UPPER_CASE),
        renames={**CHARACTERISTIC_2018, **MEASURES_OLD, **CI_UPPER_CASE},
    ),
    # 2020/21 (EES data catalogue 13be970d-…): as the workbook, without avg_att8_unrounded.
    Layout.of(
        "2020/21",
        _CHARACTERISTICS_2018.format(ethnic="characteristic_ethnic_major").split()
        + _MEASURES_2018.format(unrounded="").split()
        + list(CI_UPPER_CASE),
        renames={**CHARACTERISTIC_2018, **MEASURES_OLD, **CI_UPPER_CASE},
    ),
)


@dataclass(frozen=True)
class Workbook:
    """Where the table is in a published workbook: which sheet, and the header's row (1-based)."""

    pattern: str
    sheet: str
    header_row: int


WORKBOOKS = (Workbook("*_la_characteristics_data_including_sen_description.xlsx", "Sheet1", 1),)

LA_CHARACTERISTICS = DataFile(
    key="la_characteristics",
    patterns=(
        "*_all_state_funded_pupils_characteristics_and_geography_breakdowns*.csv",
        "*_la_char_data*.csv",
        "*lachar_data*.csv",
        "*_la_characteristics_data_including_sen_description.xlsx",
    ),
    layouts=LAYOUTS,
    breakdown_pairs=(),  # filters select rows; the SEN groups are separate indicators
)


class Harvester(AttainmentHarvester):
    """KS4 Attainment 8 and Progress 8 by LA and SEN provision: the ``ks4_*`` indicators."""

    data_files = (LA_CHARACTERISTICS,)

    def read_published(
        self, datafile: DataFile, name: str, data: bytes, source: str
    ) -> tuple[pd.DataFrame, list[str]]:
        """An EES CSV, or a workbook read from the sheet and header row ``WORKBOOKS`` gives."""
        if not name.lower().endswith(".xlsx"):
            return super().read_published(datafile, name, data, source)
        book = next((w for w in WORKBOOKS if fnmatch.fnmatch(name.lower(), w.pattern)), None)
        if book is None:
            raise BadFileError(self.id, f"{name}: a workbook this version does not know", source)
        return read_workbook(as_bytes(data), book, dataset=self.id, file=name, source=source), []


def read_workbook(
    data: bytes, book: Workbook, *, dataset: str, file: str, source: str | None = None
) -> pd.DataFrame:
    """The sheet's table as text cells, like a CSV: numbers as written, blanks as ``""``."""
    from openpyxl import load_workbook  # imported here: only workbook releases need it

    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - openpyxl raises many kinds for a bad file
        raise BadFileError(dataset, f"{file} is not a readable workbook: {exc}", source) from exc
    try:
        if book.sheet not in workbook.sheetnames:
            raise BadFileError(
                dataset,
                f"{file} has no sheet {book.sheet!r} (it has {', '.join(workbook.sheetnames)})",
                source,
            )
        rows = workbook[book.sheet].iter_rows(min_row=book.header_row, values_only=True)
        header = [_text(c) for c in next(rows, ())]
        while header and not header[-1]:
            header.pop()
        if not header:
            raise BadFileError(dataset, f"{file}: row {book.header_row} is empty", source)
        width = len(header)
        body = [[_text(c) for c in row[:width]] for row in rows if any(c is not None for c in row)]
    finally:
        workbook.close()
    body = [row + [""] * (width - len(row)) for row in body]
    return pd.DataFrame(body, columns=header, dtype=object)


def _text(cell) -> str:
    """A workbook cell as the text a CSV would hold (201819, not 201819.0)."""
    if cell is None:
        return ""
    if isinstance(cell, float) and cell.is_integer():
        return str(int(cell))
    return str(cell).strip() if isinstance(cell, str) else str(cell)
