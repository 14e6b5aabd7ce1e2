"""What is forgotten on time: each app registers retention rules; one daily job (a run) applies them in batches.

A rule says how many rows it would handle now (`count`, for the run's total and ETA) and handles one bounded batch
(`batch(now, limit)`, returning how many rows it handled, 0 once none are left). Each batch commits with the run's
progress, so a killed worker leaves whole batches and the next run simply finds fewer rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from batchhub.core.jobs.runs import run_finish, run_progress
from batchhub.core.models import Run

BATCH_ROWS = 5_000


@dataclass(frozen=True)
class RetentionRule:
    name: str  # "<app label>.<what>"
    description: str  # what goes, and when: shown on the retention page
    count: Callable[[dt.datetime], int]
    batch: Callable[[dt.datetime, int], int]


_RULES: dict[str, RetentionRule] = {}


def retention_register(name: str, description: str, *, count, batch) -> None:
    """Add a rule (from an AppConfig.ready()); the same name twice with another rule is a bug."""
    rule = RetentionRule(name, description, count, batch)
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


def rows_delete_batch(queryset, limit: int) -> int:
    """Delete at most `limit` rows of `queryset`, oldest ids first; how many went (the common batch of a rule)."""
    ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:limit])
    if not ids:
        return 0
    queryset.model.objects.filter(pk__in=ids).delete()
    return len(ids)
