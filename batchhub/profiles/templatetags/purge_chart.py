"""The purge chart: profiles by month of last activity, as an SVG drawn on the server (no script, readable without
one), with the next run's cutoff drawn on it and, when a shorter period is being previewed, the cutoff it would
bring."""

from __future__ import annotations

import calendar
import datetime as dt
import math
from dataclasses import dataclass

from django import template

from batchhub.core.web.charts import nice_ceiling

register = template.Library()

WIDTH, HEIGHT = 760, 200
LEFT, RIGHT, TOP, BOTTOM = 48, 8, 14, 30
MOST_MONTHS = 36  # older months are one bar


@dataclass(frozen=True)
class Bar:
    label: str
    profiles: int
    x: float
    y: float
    width: float
    height: float
    tone: str  # "gone": the next run deletes it all; "partly": the cutoff falls inside; "newly": only by the
    # previewed period; "kept"
    tick: str  # the x-axis label under it, or ""


def _month_add(month: dt.date, months: int) -> dt.date:
    year, index = divmod(month.year * 12 + month.month - 1 + months, 12)
    return dt.date(year, index + 1, 1)


def _month_of(at: dt.datetime) -> dt.date:
    at = at.astimezone(dt.UTC)
    return dt.date(at.year, at.month, 1)


def _fraction_of_month(at: dt.datetime) -> float:
    at = at.astimezone(dt.UTC)
    start = dt.datetime(at.year, at.month, 1, tzinfo=dt.UTC)
    days = calendar.monthrange(at.year, at.month)[1]
    return (at - start).total_seconds() / (days * 86400)


@register.inclusion_tag("profiles/_purge_chart.html")
def purge_chart(by_month: list[tuple[dt.date, int]], cutoff: dt.datetime, now: dt.datetime,
                proposed: dt.datetime | None = None) -> dict:  # fmt: skip
    last = _month_of(now)
    marks = [_month_of(cutoff)] + ([_month_of(proposed)] if proposed else [])
    first = min([month for month, _ in by_month[:1]] + [_month_add(mark, -2) for mark in marks])
    first = max(first, _month_add(last, -(MOST_MONTHS - 1)))
    months = []
    month = first
    while month <= last:
        months.append(month)
        month = _month_add(month, 1)
    counts = dict.fromkeys(months, 0)
    older = 0
    for month, profiles in by_month:
        if month < first:
            older += profiles
        elif month in counts:
            counts[month] = profiles
    slots = ([("older", None)] if older else []) + [(m.strftime("%b %Y"), m) for m in months]
    top = nice_ceiling(max([older, *counts.values(), 1]))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / len(slots)
    every = max(1, math.ceil(len(slots) / 12))

    first_start = dt.datetime.combine(first, dt.time(), tzinfo=dt.UTC)

    def tone(month: dt.date | None) -> str:
        end = dt.datetime.combine(_month_add(month, 1), dt.time(), tzinfo=dt.UTC) if month else first_start
        start = dt.datetime.combine(month, dt.time(), tzinfo=dt.UTC) if month else None
        if end <= cutoff:
            return "gone"
        if start is not None and start < cutoff:
            return "partly"
        if proposed is not None and (start is None or start < proposed):
            return "newly"
        return "kept"

    bars = []
    for index, (label, month) in enumerate(slots):
        profiles = older if month is None else counts[month]
        height = plot_height * profiles / top
        bars.append(
            Bar(
                label=label,
                profiles=profiles,
                x=round(LEFT + index * slot + slot * 0.1, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(slot * 0.8, 1),
                height=round(height, 1),
                tone=tone(month),
                tick=(label if month is None else month.strftime("%b %y")) if index % every == 0 else "",
            )
        )

    def x_of(at: dt.datetime) -> float | None:
        month = _month_of(at)
        if month < first or month > last:
            return None
        index = months.index(month) + (1 if older else 0)
        return round(LEFT + (index + _fraction_of_month(at)) * slot, 1)

    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "plot_right": WIDTH - RIGHT,
        "baseline": TOP + plot_height,
        "top": TOP,
        "middle": TOP + plot_height / 2,
        "tick_y": HEIGHT - 10,
        "y_top": top,
        "bars": bars,
        "cutoff": cutoff,
        "cutoff_x": x_of(cutoff),
        "proposed": proposed,
        "proposed_x": x_of(proposed) if proposed else None,
        "total": sum(bar.profiles for bar in bars),
    }
