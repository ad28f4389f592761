"""Small inline SVG charts for the dashboard, drawn on the server (no JavaScript library).

:func:`trend_svg`: the LA against its neighbour average and England over time. Each series has
its own colour *and* line style and marker (solid line with circles, dashed with squares, dotted
with diamonds), and the page carries a text legend, so colour is never the only signal.
:func:`neighbours_svg`: one bar per LA of the neighbour group, the LA highlighted by colour, a
bold label and a marker. Every chart has ``role="img"`` and a ``<title>`` that says in words
what it shows (its accessible name). The markers are defined once per page (:func:`marker_defs`).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from markupsafe import Markup

# Colours with at least 4.5:1 contrast on white (WCAG AA for text, and more than the 3:1 that
# graphics need).
LA_COLOUR, SN_COLOUR, ENGLAND_COLOUR, BAR_COLOUR = "#1d4f91", "#a3410b", "#4b4b4b", "#6b6b6b"
SERIES = {  # key -> (label, colour, dash pattern, marker)
    "value": ("this LA", LA_COLOUR, "", "circle"),
    "sn_mean": ("neighbour average", SN_COLOUR, "5 3", "square"),
    "england_value": ("England", ENGLAND_COLOUR, "1 3", "diamond"),
}
WIDTH, HEIGHT, PAD = 240, 96, 6


def fmt(value: float | None) -> str:
    """A number as the dashboard shows it: thousands separators, at most two decimals."""
    if value is None:
        return "no value"
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def trend_svg(points: Sequence[dict], area_name: str, indicator: str, unit: str = "") -> Markup:
    """A line chart of ``points`` (dicts with period, value, sn_mean, england_value, in time
    order); an empty Markup when there are fewer than two points. England is left out for a
    count (England's total is on another scale than one LA's)."""
    skip_england = unit == "count"
    keys = [k for k in SERIES if not (k == "england_value" and skip_england)]
    values = [p[k] for p in points for k in keys if p.get(k) is not None]
    if len(points) < 2 or not values:
        return Markup("")
    low, high = min(values), max(values)
    span = (high - low) or abs(high) or 1.0
    low, high = low - span * 0.08, high + span * 0.08
    step = (WIDTH - 2 * PAD) / (len(points) - 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return PAD + i * step, PAD + (high - v) / (high - low) * (HEIGHT - 2 * PAD)

    parts = []
    for key in SERIES:
        if key == "england_value" and skip_england:
            continue
        coords = [xy(i, p[key]) for i, p in enumerate(points) if p.get(key) is not None]
        if coords:  # markers: marker_defs(), once per page
            line = " ".join(f"{x:.0f},{y:.1f}" for x, y in coords)
            parts.append(f'<polyline class="s-{key}" points="{line}"/>')  # style: dashboard.css
    first, last = points[0], points[-1]
    england = ("England not drawn (a count)" if skip_england
               else f"England {fmt(last.get('england_value'))}")  # fmt: skip
    summary = (
        f"{indicator}: {area_name} from {fmt(first.get('value'))} in {first['period']} to "
        f"{fmt(last.get('value'))} in {last['period']}; neighbour average "
        f"{fmt(last.get('sn_mean'))}, {england}, in {last['period']}."
    )
    axis = (f'<text x="{PAD}" y="{HEIGHT + 12}" class="axis">{escape(first["period"])}</text>'
            f'<text x="{WIDTH - PAD}" y="{HEIGHT + 12}" class="axis" text-anchor="end">'
            f'{escape(last["period"])}</text>')  # fmt: skip
    return _svg("trend-chart", summary, WIDTH, HEIGHT + 16, "".join(parts) + axis)


def neighbours_svg(bars: Sequence[tuple[str, float, bool]], indicator: str) -> Markup:
    """Horizontal bars, one per (name, value, is_this_la), largest first; the LA highlighted."""
    bars = sorted((b for b in bars if b[1] is not None), key=lambda b: -b[1])
    if len(bars) < 2:
        return Markup("")
    row, label_w = 13, 118
    top = max(max(b[1] for b in bars), 0.0)
    bottom = min(min(b[1] for b in bars), 0.0)
    scale = (WIDTH - label_w - 40) / ((top - bottom) or 1.0)
    parts = []
    for i, (name, value, mine) in enumerate(bars):
        y = i * row
        x0 = label_w + (min(value, 0.0) - bottom) * scale
        w = max(abs(value) * scale, 1.0)
        short = escape(name if len(name) <= 20 else name[:19] + "…")
        bold = ' font-weight="bold"' if mine else ""
        group = '<g class="this-la">' if mine else "<g>"
        parts.append(
            f"{group}"
            f'<text x="{label_w - 4}" y="{y + 10}" text-anchor="end"{bold}>'
            f"{'▶ ' if mine else ''}{short}</text>"
            f'<rect x="{x0:.0f}" y="{y + 2}" width="{w:.1f}" height="{row - 4}"/>'
            f'<text x="{x0 + w + 3:.0f}" y="{y + 10}"{bold}>{fmt(value)}</text></g>'
        )
    position = next((i + 1 for i, b in enumerate(bars) if b[2]), None)
    where = f"; this LA is {position} of {len(bars)}, highest first" if position else ""
    summary = f"{indicator}: the neighbour group's values as bars{where}."
    return _svg("neighbours-chart", summary, WIDTH, len(bars) * row, "".join(parts))


def marker_defs() -> Markup:
    """The series' markers (circle, square, diamond), defined once per page for every chart."""
    shapes = {
        "circle": '<circle cx="3" cy="3" r="2.6" fill="{c}"/>',
        "square": '<rect x="0.6" y="0.6" width="4.8" height="4.8" fill="{c}"/>',
        "diamond": '<path d="M3 0L6 3L3 6L0 3Z" fill="{c}"/>',
    }
    markers = "".join(
        f'<marker id="sb-m-{key}" viewBox="0 0 6 6" refX="3" refY="3" markerWidth="6" '
        f'markerHeight="6" markerUnits="userSpaceOnUse">{shapes[shape].format(c=colour)}</marker>'
        for key, (_label, colour, _dash, shape) in SERIES.items()
    )
    return Markup(f'<svg class="sb-defs" width="0" height="0" aria-hidden="true" '
                  f'focusable="false"><defs>{markers}</defs></svg>')  # fmt: skip


def _svg(kind: str, summary: str, width: int, height: int, body: str) -> Markup:
    return Markup(
        f'<svg class="{kind}" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><title>{escape(summary)}</title>{body}</svg>'
    )
