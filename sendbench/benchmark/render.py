"""Renderings of one area's benchmark (:class:`~sendbench.benchmark.report.AreaBenchmark`): a
plain-text table for the terminal, CSV (the same table as the workbook's outcome sheets, one row
per indicator and period, column ids as header) and JSON (the area, the set, its neighbours, the
rows and the scorecard). The workbook is :mod:`sendbench.benchmark.xlsx`.
"""

from __future__ import annotations

import csv
import io
import json

import pandas as pd

from sendbench.benchmark.report import AreaBenchmark, export_frame, is_missing


def to_csv(bench: AreaBenchmark) -> str:
    """CSV with the column ids as header, one row per indicator and period."""
    buffer = io.StringIO()
    frame = export_frame(bench)
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["area_code", "area_name", *frame.columns])
    for record in frame.itertuples(index=False):
        cells = ["" if is_missing(v) else v for v in record]
        writer.writerow([bench.area["area_code"], bench.area["name"], *cells])
    return buffer.getvalue()


def to_json(bench: AreaBenchmark) -> str:
    """The area, the set, its neighbours, the benchmark rows and the scorecard as one object."""
    area_keys = ("area_code", "name", "dfe_code", "region_code", "region_name", "valid_to")
    data = {
        "area": {k: bench.area.get(k) for k in area_keys},
        "neighbour_set": bench.neighbour_set,
        "computed_at": bench.run.get("computed_at"),
        "neighbours": _records(bench.neighbours),
        "benchmarks": _records(export_frame(bench)),
        "scorecard": _records(bench.scorecard),
    }
    return json.dumps(data, indent=2, ensure_ascii=False)


def _records(frame: pd.DataFrame) -> list[dict]:
    records = frame.to_dict("records")
    return [{k: (None if is_missing(v) else v) for k, v in r.items()} for r in records]


def fmt(value, digits: int = 1) -> str:
    """A number for a terminal table: thousands separators, ``digits`` decimals unless whole."""
    if is_missing(value):
        return "-"
    if isinstance(value, str):
        return value
    if float(value).is_integer():
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


TABLE = (  # heading, width, cell
    ("Indicator", 46, lambda r: _clip(r["indicator_title"] or r["indicator_id"], 46)),
    ("Period", 8, lambda r: r["period"]),
    ("Value", 9, lambda r: fmt(r["value"]) if not is_missing(r["value"]) else r["status"] or "-"),
    ("SN avg", 9, lambda r: fmt(r["sn_mean"])),
    ("SN n", 5, lambda r: f"{r['sn_count']}/{r['sn_size']}"),
    ("England", 9, lambda r: fmt(r["england_value"])),
    ("Region", 9, lambda r: fmt(r["region_value"])),
    ("Rank", 8, lambda r: "-" if is_missing(r["rank"]) else f"{r['rank']:.0f}/{r['rank_of']:.0f}"),
    ("Band", 4, lambda r: r["quartile_band"] or "-"),
    ("vs SN", 8, lambda r: r["vs_neighbours_95"] or "-"),
    ("vs Eng", 8, lambda r: r["vs_england_95"] or "-"),
    ("Trend", 22, lambda r: _trend_text(r)),
)


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def _trend_text(row) -> str:
    if row["trend"] == "too few points":
        return f"too few points ({row['trend_points']})"
    judgement = row["trend_judgement"]
    if judgement and judgement != row["trend"]:
        return judgement
    return row["trend"] or "-"


def to_table(bench: AreaBenchmark) -> str:
    """A plain-text table for the terminal: one line per indicator and period, then the
    scorecard. Significance is at 95%; SN avg is the simple mean of neighbours with data."""
    area = bench.area
    lines = [
        f"{area['name']} ({area['area_code']}, DfE {area['dfe_code'] or '-'}), "
        f"{area.get('region_name') or '-'}; neighbour set {bench.neighbour_set}; "
        f"computed {bench.run.get('computed_at', '-')}",
    ]
    if area.get("valid_to"):
        lines.append(f"Note: this council ended on {area['valid_to']}"
                     f" (successors: {area.get('successor_codes') or 'none'}).")  # fmt: skip
    lines.append("  ".join(f"{h:<{w}}" for h, w, _ in TABLE))
    for row in bench.rows.to_dict("records"):
        lines.append("  ".join(f"{str(cell(row)):<{w}}" for _, w, cell in TABLE).rstrip())
    if bench.rows.empty:
        lines.append("(no benchmark rows for this selection)")
    lines += ["", "Outcomes, latest periods (95%: better/similar/worse than neighbours; England)"]
    for card in bench.scorecard.to_dict("records"):
        counts = "/".join(str(card[f"neighbours_{k}"]) for k in ("better", "similar", "worse"))
        england = "/".join(str(card[f"england_{k}"]) for k in ("better", "similar", "worse"))
        count = f"{card['indicators']} indicator{'s' if card['indicators'] != 1 else ''}"
        status = card["status"] if card["status"] != "covered" else count
        lines.append(f"  {_clip(card['outcome_title'], 70):<70}  {status:<22} SN {counts:<8} "
                     f"England {england}")  # fmt: skip
    return "\n".join(lines)
