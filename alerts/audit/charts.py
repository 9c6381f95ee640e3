"""Charts drawn on the server as SVG: no script, nothing fetched, printable.

Every piece of text passes through ``format_html`` (escaped) before it becomes
markup, so a unit named ``<script>`` is drawn, never run. Each chart is one
image to a screen reader (``role="img"``, its title as the label, a
description); the page puts the numbers beside it in a table. Values are
counts: whole numbers, never below zero.
"""

import datetime
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.formats import date_format, number_format
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _

WIDTH = 760
PLOT_HEIGHT = 220
TOP = 30  # room for the unit label above the plot
RIGHT = 16
AXIS_BELOW = 34  # tick labels under the plot
LEGEND_ROW = 20
CHAR_WIDTH = 7  # enough for a 12 px character of digits and most letters
INK, MUTED, GRID = "#1b1f24", "#5b6470", "#e3e6ea"
# Okabe–Ito, told apart by people with colour-blindness, and a grey.
PALETTE = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#D55E00",
    "#CC79A7",
    "#56B4E9",
    "#000000",
    "#8A94A3",
    "#F0E442",
    "#882255",
    "#44AA99",
    "#117733",
    "#AA4499",
    "#332288",
    "#DDCC77",
    "#661100",
    "#999933",
    "#88CCEE",
)
# Past this many points a series is drawn as a line only: a marker with its
# own tooltip for each of thousands of counts would weigh the page down.
MARKER_LIMIT = 400
CHART_ID = re.compile(r"^[a-z][a-z0-9-]*$")
HOUR, DAY = datetime.timedelta(hours=1), datetime.timedelta(days=1)
TIME_STEPS = (HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR, DAY, 2 * DAY, 7 * DAY, 14 * DAY)
MAX_TIME_TICKS = 8


@dataclass(frozen=True)
class Series:
    """One thing drawn: numbers per category (bars), or ``(time, number)``
    pairs (step charts)."""

    name: str
    values: Sequence
    color: str = PALETTE[0]
    dash: str = ""  # a line's stroke-dasharray: series apart without colour too


# --- Public charts ------------------------------------------------------------


def step_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    series: Sequence[Series],
    start: datetime.datetime,
    end: datetime.datetime,
    tz: datetime.tzinfo,
    unit_label: str,
) -> SafeString:
    """Several series over time; each value holds until the next (a count's
    figure stands until the next count). Times are shown in ``tz``."""
    points = [(at, _count(value)) for one in series for at, value in one.values]
    if not points:
        return _empty(chart_id, title, description)
    start = min(start, *(at for at, _value in points))
    end = max(end, *(at for at, _value in points))
    if end <= start:  # one moment: give it room either side
        start, end = start - HOUR, end + HOUR
    frame = _Frame(max(value for _at, value in points), series, unit_label)
    span = (end - start).total_seconds()

    def x(at):
        return frame.left + (at - start).total_seconds() / span * frame.plot_width

    parts = [frame.grid()]
    for tick, label in _time_ticks(start, end, tz):
        parts.append(frame.x_tick(x(tick), label))
    for one in series:
        pairs = sorted(((at, _count(value)) for at, value in one.values), key=lambda p: p[0])
        if not pairs:
            continue
        path = [f"M{x(pairs[0][0]):.1f} {frame.y(pairs[0][1]):.1f}"]
        path += [f"H{x(at):.1f} V{frame.y(value):.1f}" for at, value in pairs[1:]]
        parts.append(
            _markup(
                '<path d="{}" fill="none" stroke="{}" stroke-width="2"{}/>',
                " ".join(path),
                one.color,
                _dash(one.dash),
            )
        )
        if len(pairs) <= MARKER_LIMIT:
            parts.append(
                _markup_each(
                    '<circle cx="{}" cy="{}" r="3" fill="{}"><title>{}</title></circle>',
                    (
                        (x(at), frame.y(value), one.color, _point_title(at, tz, one.name, value))
                        for at, value in pairs
                    ),
                )
            )
    parts += [frame.axes(), frame.legend(lines=True)]
    return _svg(chart_id, title, description, frame.height, parts)


def stacked_bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit_label: str,
) -> SafeString:
    """One bar per category (a day), stacked by series (a kind)."""
    totals = [sum(_count(one.values[i]) for one in series) for i in range(len(categories))]
    if not any(totals):
        return _empty(chart_id, title, description)
    frame = _Frame(max(totals), series, unit_label)
    band = frame.plot_width / len(categories)
    bar = max(band * 0.8, 1)
    parts = [frame.grid(), _category_ticks(frame, categories, band)]
    for index, category in enumerate(categories):
        left = frame.left + index * band + (band - bar) / 2
        below = 0
        for one in series:
            value = _count(one.values[index])
            if not value:
                continue
            top = frame.y(below + value)
            tooltip = f"{category} · {one.name}: {_number(value)}"
            parts.append(_bar(left, top, bar, frame.y(below) - top, one.color, tooltip))
            below += value
    parts += [frame.axes(), frame.legend()]
    return _svg(chart_id, title, description, frame.height, parts)


def grouped_bar_chart(
    *,
    chart_id: str,
    title: str,
    description: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit_label: str,
) -> SafeString:
    """Bars side by side per category: a distribution (how many in each
    bucket), one colour per series."""
    values = [_count(value) for one in series for value in one.values]
    if not any(values):
        return _empty(chart_id, title, description)
    frame = _Frame(max(values), series, unit_label)
    band = frame.plot_width / len(categories)
    bar = max(band * 0.8 / len(series), 1)
    parts = [frame.grid(), _category_ticks(frame, categories, band)]
    for index, category in enumerate(categories):
        left = frame.left + index * band + (band - bar * len(series)) / 2
        for position, one in enumerate(series):
            value = _count(one.values[index])
            top = frame.y(value)
            tooltip = f"{category} · {one.name}: {_number(value)}"
            parts.append(
                _bar(left + position * bar, top, bar, frame.y(0) - top, one.color, tooltip)
            )
    parts += [frame.axes(), frame.legend()]
    return _svg(chart_id, title, description, frame.height, parts)


# --- The frame: scale, axes, grid and legend ------------------------------------


class _Frame:
    """The plot area of a chart whose values run from 0 to ``top_value``."""

    def __init__(self, top_value: int, series: Sequence[Series], unit_label: str):
        self.ticks = nice_ticks(top_value)
        self.tick_labels = [_number(tick) for tick in self.ticks]
        self.left = max(40, CHAR_WIDTH * max(len(label) for label in self.tick_labels) + 14)
        self.plot_width = WIDTH - self.left - RIGHT
        self.series = series
        self.unit_label = unit_label
        self.legend_rows = self._legend_rows()
        self.height = TOP + PLOT_HEIGHT + AXIS_BELOW + LEGEND_ROW * len(self.legend_rows) + 6

    def y(self, value) -> float:
        return TOP + PLOT_HEIGHT - value / self.ticks[-1] * PLOT_HEIGHT

    def grid(self) -> SafeString:
        return _markup_each(
            '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
            '<text x="{}" y="{}" text-anchor="end" fill="{}">{}</text>',
            (
                (
                    self.left,
                    self.left + self.plot_width,
                    self.y(tick),
                    self.y(tick),
                    GRID,
                    self.left - 6,
                    self.y(tick) + 4,
                    MUTED,
                    label,
                )
                for tick, label in zip(self.ticks, self.tick_labels, strict=True)
            ),
        )

    def axes(self) -> SafeString:
        bottom = TOP + PLOT_HEIGHT
        return _markup(
            '<line x1="{0}" x2="{1}" y1="{2}" y2="{2}" stroke="{3}"/>'
            '<line x1="{0}" x2="{0}" y1="{4}" y2="{2}" stroke="{3}"/>'
            '<text x="{0}" y="{5}" fill="{6}">{7}</text>',
            self.left,
            self.left + self.plot_width,
            bottom,
            INK,
            TOP,
            TOP - 12,
            MUTED,
            self.unit_label,
        )

    def x_tick(self, x: float, label: str) -> SafeString:
        bottom = TOP + PLOT_HEIGHT
        # A label at either end of the axis stays inside the picture.
        half = CHAR_WIDTH * len(str(label)) / 2
        text_x = float(min(max(x, half + 2), WIDTH - half - 2))
        return _markup(
            '<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" stroke="{3}"/>'
            '<text x="{4}" y="{5}" text-anchor="middle" fill="{6}">{7}</text>',
            float(x),
            bottom,
            bottom + 5,
            INK,
            text_x,
            bottom + 18,
            MUTED,
            label,
        )

    def legend(self, *, lines: bool = False) -> SafeString:
        parts = []
        for row, items in enumerate(self.legend_rows):
            y = TOP + PLOT_HEIGHT + AXIS_BELOW + row * LEGEND_ROW + 8
            for one, x in items:
                if lines:
                    key = _markup(
                        '<line x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}" stroke-width="3"{}/>',
                        x,
                        x + 18,
                        y,
                        y,
                        one.color,
                        _dash(one.dash),
                    )
                else:
                    key = _markup(
                        '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>',
                        x + 3,
                        y - 6,
                        one.color,
                    )
                parts.append(
                    key
                    + _markup(
                        '<text x="{}" y="{}" fill="{}">{}</text>', x + 24, y + 4, INK, one.name
                    )
                )
        return _markup('<g class="legend">{}</g>', _join(parts))

    def _legend_rows(self) -> list[list[tuple[Series, float]]]:
        rows, row, x = [], [], self.left
        for one in self.series:
            width = 24 + CHAR_WIDTH * len(one.name) + 16
            if row and x + width > WIDTH - RIGHT:
                rows.append(row)
                row, x = [], self.left
            row.append((one, x))
            x += width
        if row:
            rows.append(row)
        return rows


def nice_ticks(top_value: int, most: int = 5) -> list[int]:
    """0 and whole steps of 1, 2 or 5 times a power of ten, up to at least ``top_value``."""
    top_value = max(math.ceil(top_value), 1)
    raw = top_value / most
    magnitude = 10 ** max(math.floor(math.log10(raw)), 0) if raw >= 1 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    return [step * n for n in range(-(-top_value // step) + 1)]


# --- Pieces ---------------------------------------------------------------------


def _svg(chart_id, title, description, height, parts) -> SafeString:
    if not CHART_ID.match(chart_id):
        raise ValueError(f"Not a usable element id: {chart_id!r}")
    return _markup(
        '<svg xmlns="http://www.w3.org/2000/svg" class="chart-svg" viewBox="0 0 {0} {1}" '
        'width="{0}" height="{1}" role="img" aria-label="{2}" aria-describedby="{3}-desc" '
        'font-family="system-ui, sans-serif" font-size="12">'
        '<title id="{3}-title">{2}</title><desc id="{3}-desc">{4}</desc>{5}</svg>',
        WIDTH,
        int(height),
        title,
        chart_id,
        description,
        _join(parts),
    )


def _empty(chart_id, title, description) -> SafeString:
    message = _markup(
        '<text x="{}" y="50" text-anchor="middle" fill="{}" font-size="14">{}</text>',
        WIDTH // 2,
        MUTED,
        _("Nothing in this period."),
    )
    return _svg(chart_id, title, description, 80, [message])


def _bar(x, y, width, height, color: str, tooltip: str) -> SafeString:
    return _markup(
        '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}</title></rect>',
        x,
        y,
        width,
        max(height, 0),
        color,
        tooltip,
    )


def _category_ticks(frame: _Frame, categories: Sequence[str], band: float) -> SafeString:
    """A label under every category that fits, evenly skipping the rest."""
    widest = CHAR_WIDTH * max(len(str(c)) for c in categories) + 8
    every = max(1, math.ceil(widest / band))
    return _join(
        frame.x_tick(frame.left + (index + 0.5) * band, category)
        for index, category in enumerate(categories)
        if index % every == 0
    )


def _time_ticks(start, end, tz) -> list[tuple[datetime.datetime, str]]:
    """Round local times between ``start`` and ``end``: hours within a few
    days, midnights within a few months, first days of months beyond; at most
    about ``MAX_TIME_TICKS``."""
    span = end - start
    step = next((s for s in TIME_STEPS if span / s <= MAX_TIME_TICKS), None)
    local = start.astimezone(tz)
    if step is None:
        moments, pattern = (
            _month_starts(local, end, math.ceil(span / DAY / 30 / MAX_TIME_TICKS)),
            "M Y",
        )
    elif step < DAY:
        moments, pattern = _hours(local, end, step), ("j M H:i" if span > DAY else "H:i")
    else:
        moments, pattern = _midnights(local, end, step), "j M"
    return [(at, date_format(at, pattern)) for at in moments if start <= at <= end]


def _hours(local, end, step) -> list[datetime.datetime]:
    hours = int(step / HOUR)
    at = local.replace(minute=0, second=0, microsecond=0)
    at = at.replace(hour=at.hour - at.hour % hours)
    moments = []
    while at <= end:
        moments.append(at)
        # Add in UTC: a wall-clock hour can repeat or vanish at a DST change.
        at = (at.astimezone(datetime.UTC) + step).astimezone(local.tzinfo)
    return moments


def _midnights(local, end, step) -> list[datetime.datetime]:
    day = local.date() + (DAY if local.time() != datetime.time() else datetime.timedelta())
    moments = []
    while (at := datetime.datetime.combine(day, datetime.time(), tzinfo=local.tzinfo)) <= end:
        moments.append(at)
        day += step
    return moments


def _month_starts(local, end, months: int) -> list[datetime.datetime]:
    year, month = local.year, local.month
    moments = []
    while True:
        at = datetime.datetime(year, month, 1, tzinfo=local.tzinfo)
        if at > end:
            return moments
        moments.append(at)
        year, month = divmod(year * 12 + month - 1 + months, 12)
        month += 1


def _point_title(at, tz, name, value) -> str:
    return f"{date_format(at.astimezone(tz), 'j M H:i')} · {name}: {_number(value)}"


def _dash(dash: str) -> SafeString:
    return _markup(' stroke-dasharray="{}"', dash) if dash else SafeString("")


def _count(value) -> int:
    return max(int(value or 0), 0)


def _number(value) -> str:
    return number_format(value, force_grouping=True)


def _join(parts) -> SafeString:
    return format_html_join("", "{}", ((part,) for part in parts))


def _markup(template: str, *args) -> SafeString:
    """``format_html`` (every argument escaped), with coordinates rounded to a
    tenth of a pixel first: escaping turns numbers into text."""
    return format_html(template, *(f"{a:.1f}" if isinstance(a, float) else a for a in args))


def _markup_each(template: str, rows) -> SafeString:
    return _join(_markup(template, *row) for row in rows)
