"""The inspection pack: one LA's benchmark as an Excel workbook a team can hand over as it is.

Sheets: ``Summary`` (the LA, the neighbour set, its latest area SEND inspection with its
neighbours' outcomes counted, and the scorecard by logic-model outcome, gaps included), ``Finance``
(the high-needs finance measures with numerators and denominators, when loaded), one sheet per
outcome with evidence (each indicator's value, neighbour average, England, region, rank,
band, intervals, significance, change and trend), ``Trends`` (a chart per key indicator: the LA
against its neighbour average and England over time), ``Neighbours``, ``Sources`` and
``Methods``. Every number is the stored ``benchmarks`` value, unrounded (cells are formatted to
show one decimal). Colours follow Excel's Good / Neutral / Bad styles and are never the only
signal: every coloured cell carries its label.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from openpyxl import Workbook
from openpyxl.chart import BarChart, LineChart, Reference
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from sendbench import __version__
from sendbench.benchmark.report import EXPORT_COLUMNS, AreaBenchmark, export_frame

FILLS = {  # label -> (fill, font colour): Excel's Good, Neutral, Bad and a blue for no polarity
    "better": ("C6EFCE", "006100"), "similar": ("FFEB9C", "9C5700"), "worse": ("FFC7CE", "9C0006"),
    "higher": ("DDEBF7", "1F4E78"), "lower": ("DDEBF7", "1F4E78"),
    "A": ("C6EFCE", "006100"), "B": ("E2EFDA", "375623"), "C": ("FFEB9C", "9C5700"),
    "D": ("FFC7CE", "9C0006"), "getting better": ("C6EFCE", "006100"),
    "getting worse": ("FFC7CE", "9C0006"), "gap: no indicator yet": ("FFEB9C", "9C5700"),
}  # fmt: skip
SUMMARY_SHEET, TRENDS_SHEET, NEIGHBOURS_SHEET = "Summary", "Trends", "Neighbours"
SOURCES_SHEET, METHODS_SHEET, FINANCE_SHEET = "Sources", "Methods", "Finance"
FINANCE_DATASETS = ("dfe_high_needs",)
FINANCE_COLUMNS = {
    "indicator_title": "Measure", "period": "Period", "value": "Value",
    "status": "Published symbol",
    "numerator": "Numerator", "denominator": "Denominator (population aged 2-18 for per-head)",
    "sn_mean": "Neighbour average (mean)", "sn_count": "Neighbours with data",
    "england_value": "England", "rank": "Rank", "rank_of": "Ranked LAs",
    "quartile_band": "Quartile band", "vs_neighbours_95": "vs neighbours (95%)",
    "indicator_id": "Indicator id",
}  # fmt: skip
NUMBER_COLUMNS = {
    "value", "sn_mean", "sn_pooled", "england_value", "region_value", "ci95_lower", "ci95_upper",
    "ci998_lower", "ci998_upper", "previous_value", "change",
}  # fmt: skip
BOLD = Font(bold=True)
TITLE = Font(bold=True, size=14)


def write_workbook(bench: AreaBenchmark, path: Path) -> Path:
    """Write the inspection pack for ``bench`` to ``path`` (.xlsx) and return the path."""
    book = Workbook()
    summary = book.active
    summary.title = SUMMARY_SHEET
    sheets = _outcome_sheets(book, bench)
    _summary(summary, bench, sheets)
    _finance(book, bench)
    _trends(book.create_sheet(TRENDS_SHEET), bench)
    _neighbours(book.create_sheet(NEIGHBOURS_SHEET), bench)
    _sources(book.create_sheet(SOURCES_SHEET), bench)
    _methods(book.create_sheet(METHODS_SHEET), bench)
    book.save(path)
    return path


def outcome_sheet_name(outcome_id: str) -> str:
    """An outcome's sheet name (Excel allows 31 characters)."""
    return outcome_id[:31]


def _heading(ws: Worksheet, row: int, headings: list[str]) -> None:
    for col, text in enumerate(headings, start=1):
        cell = ws.cell(row=row, column=col, value=text)
        cell.font = BOLD
        cell.alignment = Alignment(wrap_text=True, vertical="top")


def _paint(cell, label) -> None:
    colours = FILLS.get(label) if isinstance(label, str) else None
    if colours:
        cell.fill = PatternFill("solid", start_color=colours[0], end_color=colours[0])
        cell.font = Font(color=colours[1])


def _widths(ws: Worksheet, widths: dict[int, float]) -> None:
    for col, width in widths.items():
        ws.column_dimensions[get_column_letter(col)].width = width


def _area_line(bench: AreaBenchmark) -> str:
    area = bench.area
    return f"{area['name']} ({area['area_code']}, DfE {area.get('dfe_code') or '-'})"


# --- Summary -------------------------------------------------------------------------------------

SUMMARY_HEADINGS = {
    "level": "Level", "theme": "Theme", "outcome_title": "Outcome", "status": "Status",
    "indicators": "Indicators", "with_data": "With data",
    "neighbours_better": "Better than neighbours", "neighbours_similar": "Similar to neighbours",
    "neighbours_worse": "Worse than neighbours",
    "neighbours_higher_or_lower": "Higher/lower than neighbours (no polarity)",
    "neighbours_not_compared": "Not compared with neighbours",
    "england_better": "Better than England", "england_similar": "Similar to England",
    "england_worse": "Worse than England",
    "england_higher_or_lower": "Higher/lower than England (no polarity)",
    "england_not_compared": "Not compared with England",
}  # fmt: skip


def _summary(ws: Worksheet, bench: AreaBenchmark, sheets: dict[str, str]) -> None:
    ws["A1"] = f"SEND benchmark: {_area_line(bench)}"
    ws["A1"].font = TITLE
    facts = [
        ("Region", bench.area.get("region_name") or "-"),
        ("Neighbour set", bench.neighbour_set),
        ("Neighbours", "; ".join(bench.neighbours["neighbour_name"].dropna()) or "none listed"),
        ("Benchmarks computed", bench.run.get("computed_at", "-")),
        (
            "Significance",
            "95% intervals against England and the neighbours' pooled value; "
            "99.8% on the outcome sheets",
        ),  # fmt: skip
        ("Made with", f"sendbench {__version__}; methods on the Methods sheet"),
        *_inspection_facts(bench),
    ]
    for i, (key, value) in enumerate(facts, start=2):
        ws.cell(row=i, column=1, value=key).font = BOLD
        ws.cell(row=i, column=2, value=value)
    top = len(facts) + 3
    _heading(ws, top, [*SUMMARY_HEADINGS.values(), "Sheet"])
    for r, card in enumerate(bench.scorecard.to_dict("records"), start=top + 1):
        for c, key in enumerate(SUMMARY_HEADINGS, start=1):
            cell = ws.cell(row=r, column=c, value=card[key])
            if key == "status":
                _paint(cell, card[key])
        sheet = sheets.get(card["outcome_id"])
        if sheet:
            link = ws.cell(row=r, column=len(SUMMARY_HEADINGS) + 1, value=sheet)
            link.hyperlink = f"#'{sheet}'!A1"
            link.font = Font(color="0563C1", underline="single")
    ws.freeze_panes = ws.cell(row=top + 1, column=1)
    _widths(ws, {1: 22, 2: 26, 3: 60, 4: 22} | {c: 14 for c in range(5, 18)})


def _inspection_facts(bench: AreaBenchmark) -> list[tuple[str, str]]:
    """The inspection line and the neighbours' outcomes counted (never averaged), if loaded."""
    found = bench.inspection
    if found is None:
        return []
    counted = "; ".join(f"{n['count']} of {n['of']} neighbours had {n['category']}"
                        for n in found["neighbours"]) or "no neighbours listed"  # fmt: skip
    return [("Area SEND inspection", found["line"]), ("Neighbours' inspections", counted)]


def _finance(book: Workbook, bench: AreaBenchmark) -> None:
    """The high-needs finance sheet: each measure's latest value, its numerator and denominator
    (per-head values divide by the 2-18 population), neighbours and England."""
    rows = bench.rows[bench.rows["dataset_id"].isin(FINANCE_DATASETS)]
    if rows.empty:
        return
    ws = book.create_sheet(FINANCE_SHEET)
    ws["A1"] = f"High-needs finance: {_area_line(bench)}"
    ws["A1"].font = TITLE
    ws["A2"] = (f"Neighbour set {bench.neighbour_set}. Dedicated Schools Grant high needs block "
                "and s251 high-needs outturn; pounds.")  # fmt: skip
    _heading(ws, 4, list(FINANCE_COLUMNS.values()))
    rows = rows.sort_values(["indicator_title", "period_start"])
    for r, record in enumerate(rows.to_dict("records"), start=5):
        for c, key in enumerate(FINANCE_COLUMNS, start=1):
            cell = ws.cell(row=r, column=c, value=_number(record.get(key)))
            if isinstance(cell.value, float):
                cell.number_format = "#,##0.00"
            if key in ("vs_neighbours_95", "quartile_band"):
                _paint(cell, cell.value)
    ws.freeze_panes = "B5"
    _widths(ws, {1: 60, 2: 10} | {c: 16 for c in range(3, len(FINANCE_COLUMNS) + 1)})


# --- outcome sheets ------------------------------------------------------------------------------


def _outcome_sheets(book: Workbook, bench: AreaBenchmark) -> dict[str, str]:
    """One sheet per outcome with indicators in the selection; returns outcome id -> sheet."""
    frame = export_frame(bench)
    sheets = {}
    for card in bench.scorecard.to_dict("records"):
        ids = [i for i in (card["indicator_ids"] or "").split(",") if i]
        rows = frame[frame["indicator_id"].isin(ids)]
        if rows.empty:
            continue
        ws = book.create_sheet(outcome_sheet_name(card["outcome_id"]))
        ws["A1"] = card["outcome_title"]
        ws["A1"].font = TITLE
        ws["A2"] = (f"{_area_line(bench)}; neighbour set {bench.neighbour_set}; "
                    f"{card['level']}{' / ' + card['theme'] if card['theme'] else ''}")  # fmt: skip
        _heading(ws, 4, list(EXPORT_COLUMNS.values()))
        _table_rows(ws, 5, rows)
        ws.freeze_panes = "C5"
        _widths(ws, {1: 30, 2: 48} | {c: 13 for c in range(3, len(EXPORT_COLUMNS) + 1)})
        sheets[card["outcome_id"]] = ws.title
    return sheets


def _table_rows(ws: Worksheet, first: int, rows: pd.DataFrame) -> None:
    for r, record in enumerate(rows.to_dict("records"), start=first):
        for c, key in enumerate(EXPORT_COLUMNS, start=1):
            value = _number(record[key])
            cell = ws.cell(row=r, column=c, value=value)
            if key in NUMBER_COLUMNS and isinstance(value, float):
                cell.number_format = "#,##0.0"
            if key.startswith("vs_") or key in ("quartile_band", "trend_judgement"):
                _paint(cell, value)


# --- Trends --------------------------------------------------------------------------------------


def key_indicators(bench: AreaBenchmark) -> list[str]:
    """Indicators that get a chart: those with a polarity (better/worse can be judged)."""
    judged = bench.history[bench.history["polarity"] != "none"]
    return list(dict.fromkeys(judged.sort_values("indicator_id")["indicator_id"]))


def _trends(ws: Worksheet, bench: AreaBenchmark) -> None:
    ws["A1"] = f"Trends: {_area_line(bench)} against its neighbour average and England"
    ws["A1"].font = TITLE
    row = 3
    for indicator_id in key_indicators(bench):
        series = bench.history[bench.history["indicator_id"] == indicator_id]
        series = series.sort_values("period_start")
        title = series["indicator_title"].iloc[0] or indicator_id
        ws.cell(row=row, column=1, value=title).font = BOLD
        _heading(ws, row + 1, ["Period", bench.area["name"], "Neighbour average", "England"])
        for i, rec in enumerate(series.to_dict("records"), start=row + 2):
            ws.cell(row=i, column=1, value=rec["period"])
            for c, key in enumerate(("value", "sn_mean", "england_value"), start=2):
                cell = ws.cell(row=i, column=c, value=_number(rec[key]))
                cell.number_format = "#,##0.0"
        last = row + 1 + len(series)
        ws.add_chart(_chart(ws, title, row + 1, last, len(series)), f"F{row}")
        row = max(last + 2, row + 18)
    _widths(ws, {1: 12, 2: 18, 3: 18, 4: 12})


def _chart(ws: Worksheet, title: str, header: int, last: int, points: int):
    chart = LineChart() if points > 1 else BarChart()
    chart.title = title
    chart.y_axis.title = "value"
    chart.x_axis.title = "period"
    chart.height, chart.width = 7.5, 16
    data = Reference(ws, min_col=2, max_col=4, min_row=header, max_row=last)
    chart.add_data(data, titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=header + 1, max_row=last))
    return chart


def _number(value):
    return None if value is None or (isinstance(value, float) and value != value) else value


# --- Neighbours, Sources, Methods ----------------------------------------------------------------


def _neighbours(ws: Worksheet, bench: AreaBenchmark) -> None:
    ws["A1"] = f"Statistical neighbours of {bench.area['name']}, set {bench.neighbour_set}"
    ws["A1"].font = TITLE
    columns = ["rank", "neighbour_name", "neighbour_code", "neighbour_dfe_code", "closeness"]
    _heading(ws, 3, ["Rank", "Neighbour", "ONS code", "DfE code", "Closeness"])
    for r, rec in enumerate(bench.neighbours.to_dict("records"), start=4):
        for c, key in enumerate(columns, start=1):
            ws.cell(row=r, column=c, value=rec.get(key))
    _widths(ws, {1: 8, 2: 34, 3: 14, 4: 10, 5: 18})


SOURCE_HEADINGS = {
    "dataset_id": "Dataset", "title": "Title", "publisher": "Publisher", "release": "Release",
    "published": "Published", "landing_page": "Landing page", "source": "File fetched from",
    "licence": "Licence", "fetched": "When fetched",
}  # fmt: skip


def _sources(ws: Worksheet, bench: AreaBenchmark) -> None:
    ws["A1"] = "Sources"
    ws["A1"].font = TITLE
    _heading(ws, 3, list(SOURCE_HEADINGS.values()))
    for r, rec in enumerate(bench.sources.to_dict("records"), start=4):
        for c, key in enumerate(SOURCE_HEADINGS, start=1):
            value = rec.get(key)
            if key == "published" and not value:
                value = "not recorded"
            ws.cell(row=r, column=c, value=value)
    _widths(ws, {1: 26, 2: 44, 3: 26, 4: 10, 5: 14, 6: 60, 7: 60, 8: 28, 9: 26})


def methods_text(bench: AreaBenchmark) -> list[str]:
    """The Methods sheet, one paragraph per line."""
    return [
        f"Area: {_area_line(bench)}. Neighbour set: {bench.neighbour_set} (DfE children's services "
        "statistical neighbours; 10 per LA, ranked by closeness).",
        "Headline rows only (breakdown 'Total'). Values are as published; a published symbol "
        "(x, c, z, low…) is shown as such and never as a zero.",
        "Neighbour average (mean): the simple mean of the neighbours' values, leaving out "
        "neighbours without one (as LAIT). 'Neighbours with data' says how many it used.",
        "Neighbour pooled rate: the sum of the neighbours' numerators over the sum of their "
        "denominators, in the indicator's unit, where numerators and denominators are published.",
        "Rank: among LAs with a value for the period whose code had not ended before it began; "
        "1 = best by polarity (1 = highest value where the indicator has no polarity); ties "
        "share the lowest rank; missing values are not ranked. 'Ranked LAs' is out of how many.",
        "Quartile band (LAIT): quartiles of the ranked LAs' values by the type 7 rule (Excel "
        "QUARTILE); A = best quarter, D = worst; a value on a quartile takes the better band; "
        "'-' where the indicator has no polarity.",
        "Confidence intervals where a numerator and denominator are published: Wilson score for "
        "percentages; Byar's approximation for counts and rates, exact Poisson below 10 events. "
        "z = 1.959964 (95%) and 3.090232 (99.8%).",
        "Significance (Fingertips): the LA's interval wholly above the benchmark value is "
        "'higher', wholly below 'lower', else 'similar'; by polarity 'better' / 'worse'. "
        "Benchmarks: England's value, the region's value, the neighbours' pooled rate.",
        "Recent trend (Fingertips): a chi-squared test for trend over the last five consecutive "
        "annual points (proportions: Cochran-Armitage; rates and counts: Poisson score test), "
        "significant when chi-squared > 9.5495 (99.8%). Fewer points: 'too few points'.",
        "Colours: green = better / band A, amber = similar, red = worse / band D, blue = higher or "
        "lower where no judgement is made. Every coloured cell also says its label in words.",
        "Gaps: outcomes of the SEND logic model with no indicator yet are listed on the Summary "
        "sheet as 'gap: no indicator yet'.",
    ]


def _methods(ws: Worksheet, bench: AreaBenchmark) -> None:
    ws["A1"] = "Methods"
    ws["A1"].font = TITLE
    for r, text in enumerate(methods_text(bench), start=3):
        cell = ws.cell(row=r, column=1, value=text)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    ws.column_dimensions["A"].width = 120
