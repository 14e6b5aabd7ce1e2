"""What is forgotten on time: each app registers retention rules; one daily job (a run) applies them in batches.

A rule names the rows that are due at a given time (`due(now)`, a queryset) and whether they go or only have some
fields emptied (`clear`: the row stays). The run counts them (for its total and ETA) and handles them in bounded
batches, oldest ids first, each committed with the run's progress, so a killed worker leaves whole batches and the
next run simply finds fewer rows. A cleared row must fall out of `due` (so that the batches end).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from batchhub.core.jobs.runs import run_finish, run_progress
from batchhub.core.models import Run

BATCH_ROWS = 5_000


@dataclass(frozen=True)
class RetentionRule:
    name: str  # "<app label>.<what>"
    description: str  # what goes, and when: shown on the retention page
    due: Callable[[dt.datetime], QuerySet]
    clear: tuple[tuple[str, object], ...] = ()  # (field, emptied value): the rows stay; none: the rows go

    def count(self, now: dt.datetime) -> int:
        return self.due(now).count()

    def batch(self, now: dt.datetime, limit: int) -> int:
        """Handle at most `limit` due rows, oldest ids first (ids grow with time: the primary key's order finds old
        rows first and the scan stops at `limit`); how many were handled, 0 once none are left."""
        rows = self.due(now)
        ids = list(rows.order_by("pk").values_list("pk", flat=True)[:limit])
        chosen = rows.model.objects.filter(pk__in=ids)
        if ids and self.clear:
            chosen.update(**dict(self.clear))
        elif ids:
            chosen.delete()
        return len(ids)


_RULES: dict[str, RetentionRule] = {}


def retention_register(
    name: str, description: str, *, due: Callable[[dt.datetime], QuerySet], clear: dict | None = None
) -> None:
    """Add a rule (from an AppConfig.ready()); the same name twice with another rule is a bug."""
    rule = RetentionRule(name, description, due, tuple((clear or {}).items()))
    if _RULES.setdefault(name, rule) != rule:
        raise ValueError(f"a retention rule named {name!r} is registered already")


def retention_rules() -> list[RetentionRule]:
    return sorted(_RULES.values(), key=lambda rule: rule.name)


def retention_apply(run: Run, *, batch_rows: int = BATCH_ROWS, now: dt.datetime | None = None) -> dict[str, int]:
    """Apply every rule in batches of at most `batch_rows`, recording progress; returns rows handled per rule."""
    now = now or timezone.now()
    rules = retention_rules()
    pending = 0
    for rule in rules:  # a count may scan a large table: beat after each
        pending += rule.count(now)
        run_progress(run)
    run_progress(run, total=run.rows_done + pending)
    handled: dict[str, int] = {}
    for rule in rules:
        handled[rule.name] = 0
        while True:
            with transaction.atomic():
                rows = rule.batch(now, batch_rows)
                run_progress(run, done=rows)
            handled[rule.name] += rows
            if rows < batch_rows:
                break
    run_finish(run)
    return handled
