"""The export chart: rows exported per day over the last 30 days, one bar a day, as an SVG drawn on the server (no
script, readable without one): a failed day, a day still running and a day with no run each look different."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django import template

from batchhub.core.web.charts import nice_ceiling

register = template.Library()

WIDTH, HEIGHT = 760, 170
LEFT, RIGHT, TOP, BOTTOM = 56, 8, 12, 26
DAYS = 30
MARK = 4  # the height of a failed, running or missing day's mark (half of it: a day exported with no row)


@dataclass(frozen=True)
class Bar:
    day: dt.date
    rows: int | None
    tone: str  # "ok", "failed", "running", "none"
    x: float
    y: float
    width: float
    height: float
    tick: str
    state: str  # "12,345 rows", "failed", "no run"…

    @property
    def label(self) -> str:
        return f"{self.day:%Y-%m-%d}: {self.state}"


@register.inclusion_tag("connectors/_export_chart.html")
def export_chart(runs, last_day: dt.date) -> dict:
    """`runs`: the config's runs of the DAYS days up to `last_day` (yesterday)."""
    by_day = {run.day: run for run in runs}
    days = [last_day - dt.timedelta(days=offset) for offset in range(DAYS - 1, -1, -1)]
    values = [by_day[day].rows or 0 for day in days if day in by_day and by_day[day].status == "succeeded"]
    top = nice_ceiling(max([*values, 1]))
    plot_width, plot_height = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_width / DAYS
    bars = []
    for index, day in enumerate(days):
        run = by_day.get(day)
        if run is None:
            tone, rows, label = "none", None, "no run"
        elif run.status == "succeeded":
            tone, rows, label = "ok", run.rows or 0, f"{run.rows or 0:,} rows"
        elif run.status == "failed":
            tone, rows, label = "failed", None, "failed"
        else:
            tone, rows, label = "running", None, run.get_status_display().lower()
        height = max(plot_height * rows / top, MARK / 2) if rows is not None else MARK  # an empty day shows too
        bars.append(
            Bar(
                day=day, rows=rows, tone=tone, state=label,
                x=round(LEFT + index * slot + slot * 0.12, 1), y=round(TOP + plot_height - height, 1),
                width=round(slot * 0.76, 1), height=round(height, 1),
                tick=f"{day:%b %-d}" if (DAYS - 1 - index) % 7 == 0 else "",
            )
        )  # fmt: skip
    return {
        "width": WIDTH, "height": HEIGHT, "left": LEFT, "plot_right": WIDTH - RIGHT, "top": TOP,
        "baseline": TOP + plot_height, "middle": TOP + plot_height / 2, "tick_y": HEIGHT - 8, "y_top": top,
        "bars": bars, "first": days[0], "last": last_day, "total": sum(values),
        "failed": sum(bar.tone == "failed" for bar in bars),
    }  # fmt: skip
