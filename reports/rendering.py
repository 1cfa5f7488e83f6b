"""A report's numbers as files: the CSV download and the SVG chart, both drawn here in the
worker (no browser-side charting, no image library).

The CSV is opened in spreadsheets by members and staff, and its text comes from other members
(post titles, usernames, board names): no text cell may read as a formula there (CSV or
formula injection, OWASP). Numbers are written as numbers; every other cell is text, quoted,
and prefixed with an apostrophe when a spreadsheet could take it for a formula (`text_cell`).
"""

from __future__ import annotations

import csv
import io
import math
import unicodedata

from django.template.loader import render_to_string

WIDTH, HEIGHT = 760, 320
LEFT, RIGHT, TOP, BOTTOM = 56, 12, 40, 56
COLOURS = ["#1b7f3b", "#d98e04", "#2a6fb0", "#b0123a"]
MAX_X_LABELS = 12


def render_csv(result: dict) -> str:
    """Totals first, then each table under its title, separated by a blank line.

    Text cells are quoted (QUOTE_NONNUMERIC), so a `;` or a tab inside a title cannot start
    a new cell in a spreadsheet that splits on those; numbers are not, and stay numbers."""
    out = io.StringIO()
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC)
    rows = [["Total", "Count"], *result["totals"].items()]
    for table in result["tables"]:
        rows += [[], [table["title"]], table["columns"], *table["rows"]]
    writer.writerows([_cell(value) for value in row] for row in rows)
    return out.getvalue()


# Characters that make a spreadsheet read a cell as a formula when it starts with one (OWASP's
# CSV Injection page): = + - @, and a leading tab, carriage return or line feed.
FORMULA_SIGNS = frozenset("=+-@")
LEADING_BREAKS = frozenset("\t\r\n\x00")


def text_cell(text: str) -> str:
    """`text` as a spreadsheet shows it and never evaluates: prefixed with ' (OWASP's advice;
    Excel hides it) when it starts with a tab or line break, or when its first visible
    character is a formula sign, after any spaces or invisible characters (spreadsheets
    differ on trimming them) and in any width: ＝ ＋ － ＠ and the small forms fold to the
    ASCII signs under NFKC, and which spreadsheets fold them is not documented. Escaping
    one of those costs an apostrophe; missing one would run a formula."""
    if text[:1] in LEADING_BREAKS:
        return "'" + text
    for char in text:
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf"):
            continue  # leading blanks do not stop every spreadsheet from evaluating
        if unicodedata.normalize("NFKC", char)[:1] in FORMULA_SIGNS:
            return "'" + text
        break
    return text


def _cell(value: object) -> object:
    """Numbers as numbers (a count, even a negative one, is not a formula); anything else
    as safe text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return text_cell("" if value is None else str(value))


def render_chart_svg(chart: dict) -> str:
    """A grouped bar chart: one group per label, one bar per series."""
    labels, series = chart["labels"], chart["series"]
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top_value = _nice_ceiling(max((max(s["values"], default=0) for s in series), default=0))
    group_w = plot_w / max(len(labels), 1)
    bar_w = group_w * 0.8 / max(len(series), 1)
    bars = []
    for s_index, s in enumerate(series):
        for i, value in enumerate(s["values"]):
            height = plot_h * value / top_value
            bars.append(
                {
                    "x": round(LEFT + i * group_w + group_w * 0.1 + s_index * bar_w, 2),
                    "y": round(TOP + plot_h - height, 2),
                    "w": round(max(bar_w - 0.5, 0.5), 2),
                    "h": round(height, 2),
                    "colour": COLOURS[s_index % len(COLOURS)],
                    "tip": f"{labels[i]} · {s['name']}: {value}",
                }
            )
    every = math.ceil(len(labels) / MAX_X_LABELS) or 1
    x_labels = [
        {"x": round(LEFT + (i + 0.5) * group_w, 2), "text": _short(label)}
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    ticks = [
        {"y": round(TOP + plot_h - plot_h * k / 4, 2), "value": _number(top_value * k / 4)}
        for k in range(5)
    ]
    legend = [
        {"x": LEFT + 130 * i, "name": s["name"], "colour": COLOURS[i % len(COLOURS)]}
        for i, s in enumerate(series)
    ]
    return render_to_string(
        "reports/chart.svg",
        {
            "title": chart["title"],
            "width": WIDTH,
            "height": HEIGHT,
            "left": LEFT,
            "right": WIDTH - RIGHT,
            "bottom": TOP + plot_h,
            "label_y": TOP + plot_h + 18,
            "bars": bars,
            "x_labels": x_labels,
            "ticks": ticks,
            "legend": legend,
            "empty": not labels,
        },
    )


def _nice_ceiling(value: float) -> float:
    """The axis top: 1, 2, 2.5 or 5 times a power of ten, at least `value` (and 1)."""
    if value <= 1:
        return 1
    power = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * power:
            return step * power
    return 10 * power


def _number(value: float) -> str:
    return f"{value:g}" if value < 10_000 else f"{value / 1000:g}k"


def _short(label: str) -> str:
    return label if len(label) <= 14 else label[:13] + "…"
