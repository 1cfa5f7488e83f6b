"""Bar charts for the jobs dashboard, drawn server-side as SVG (no script: the CSP allows only
our nonce'd one): this module turns series of numbers per time bucket into coordinates, axis
ticks, time labels and a legend; admin/jobs/dashboard/chart.html draws them.

The y axis always shows 0 and the peak (its top), with round ticks between; the x axis labels
round local times (every 10 min, 30 min, 3 h or day, by the chart's span) and the chart says
its time zone, since operators compare it with logs written in UTC.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypedDict

from django.utils import timezone

WIDTH, HEIGHT = 760, 170  # the SVG's viewBox
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 22, 34  # room for the y ticks, legend, time labels, zone
GREEN, RED, BLUE, AMBER, GREY = "#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#ffcc80"


@dataclass(frozen=True)
class Series:
    label: str  # legend and tooltip: "finished"
    color: str
    values: list[float]  # one per bucket


class Rect(TypedDict):
    y: float
    h: float
    color: str


class Bar(TypedDict):
    x: float
    w: float
    rects: list[Rect]
    title: str


class Tick(TypedDict):
    pos: float  # y of a value tick, x of a time label
    label: str


class LegendItem(TypedDict):
    x: float
    label: str
    color: str


class Chart(TypedDict):
    id: str  # the SVG's element id (the live refresh replaces elements by id)
    title: str
    width: int
    height: int
    left: int
    top: int
    right: int  # x of the plot's right edge
    bottom: int  # y of the plot's baseline
    bars: list[Bar]
    y_ticks: list[Tick]
    x_ticks: list[Tick]
    legend: list[LegendItem]
    peak: float
    peak_text: str
    totals: list[tuple[str, str]]  # (series label, its total as text); empty when overlaid
    time_zone: str


def bar_chart(
    *,
    chart_id: str,
    title: str,
    start: datetime,
    step: timedelta,
    series: list[Series],
    stacked: bool = True,
    fmt: Callable[[float], str] = lambda n: f"{n:,.0f}",
) -> Chart:
    """One bar per bucket from `start`, `step` wide. Stacked: the series add up (finished +
    failed); otherwise they overlap, the first drawn first (a maximum behind an average)."""
    count = len(series[0].values) if series else 0
    heights = [
        sum(s.values[i] for s in series) if stacked else max(s.values[i] for s in series)
        for i in range(count)
    ]
    peak = max(heights, default=0)
    top = peak or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    slot = plot_w / max(count, 1)
    bars: list[Bar] = []
    for i in range(count):
        if not heights[i]:
            continue
        rects: list[Rect] = []
        base: float = bottom
        for s in series:
            h = s.values[i] / top * plot_h
            if h <= 0:
                continue
            y = base - h if stacked else bottom - h
            rects.append({"y": round(y, 2), "h": round(h, 2), "color": s.color})
            if stacked:
                base = y
        when = timezone.localtime(start + i * step)
        parts = ", ".join(f"{fmt(s.values[i])} {s.label}" for s in series)
        bars.append(
            {
                "x": round(LEFT + i * slot, 2),
                "w": max(round(slot * 0.85, 2), 0.5),
                "rects": rects,
                "title": f"{_when(when, step, count * step)}: {parts}",
            }
        )
    legend: list[LegendItem] = []
    x = float(LEFT)
    for s in series:
        legend.append({"x": round(x, 1), "label": s.label, "color": s.color})
        x += 18 + 6.5 * len(s.label)
    return {
        "id": chart_id,
        "title": title,
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "top": TOP,
        "right": WIDTH - RIGHT,
        "bottom": bottom,
        "bars": bars,
        "y_ticks": [
            {"pos": round(bottom - v / top * plot_h, 2), "label": fmt(v)} for v in _y_values(peak)
        ],
        "x_ticks": _x_ticks(start, step, count, slot),
        "legend": legend,
        "peak": peak,
        "peak_text": fmt(peak),
        "totals": [(s.label, fmt(sum(s.values))) for s in series] if stacked else [],
        "time_zone": timezone.get_current_timezone_name(),
    }


def seconds_text(value: float) -> str:
    """A duration in the unit an operator reads at a glance: 850 ms, 12.5 s, 3.2 min."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.4g} s"
    return f"{value / 60:.1f} min"


def _y_values(peak: float) -> list[float]:
    """0, round steps below the peak (not crowding it), and the peak itself."""
    if peak <= 0:
        return [0]
    raw = peak / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    values = [0.0]
    tick = step
    while tick < peak * 0.85:
        values.append(tick)
        tick += step
    return [*values, peak]


# Time-label spacing by the chart's span: about six labels whatever the window.
LABEL_EVERY = [
    (timedelta(hours=1), timedelta(minutes=10)),
    (timedelta(hours=3), timedelta(minutes=30)),
    (timedelta(hours=24), timedelta(hours=3)),
]


def _x_ticks(start: datetime, step: timedelta, count: int, slot: float) -> list[Tick]:
    span = step * count
    every = next((e for limit, e in LABEL_EVERY if span <= limit), timedelta(days=1))
    ticks: list[Tick] = []
    for i in range(count):
        local = timezone.localtime(start + i * step)
        since_midnight = timedelta(hours=local.hour, minutes=local.minute, seconds=local.second)
        if since_midnight % every:
            continue
        label = f"{local:%a %d %b}" if every >= timedelta(days=1) else f"{local:%H:%M}"
        ticks.append({"pos": round(LEFT + i * slot, 2), "label": label})
    return ticks


def _when(local: datetime, step: timedelta, span: timedelta) -> str:
    """A bar's time in its tooltip: 14:05 for a minute, 14:00–14:15 for a longer bucket."""
    text = f"{local:%H:%M}"
    if step > timedelta(minutes=1):
        text += f"–{timezone.localtime(local + step):%H:%M}"
    return f"{local:%a %d %b} {text}" if span > timedelta(hours=24) else text
