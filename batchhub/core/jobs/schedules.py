"""Beat schedules added by migrations: one operation, idempotent and reversible.

    operations = [beat_schedule("Worker heartbeat", "batchhub.core.tasks.worker_heartbeat", every_seconds=60)]

The schedule lives in django-celery-beat's tables, editable in the admin; migrating back removes it.
"""

from __future__ import annotations

import datetime as dt

from django.db import migrations
from django.utils import timezone


def beat_schedule(
    name: str,
    task: str,
    *,
    every_seconds: int | None = None,
    crontab: dict[str, str] | None = None,
    expire_seconds: int | None = None,
) -> migrations.RunPython:
    """Schedule `task` under `name`, every `every_seconds` or on a `crontab` ({"minute": "0", "hour": "3"}, UTC)."""
    if (every_seconds is None) == (crontab is None):
        raise ValueError("a beat schedule needs every_seconds or a crontab, not both")

    def add(apps, schema_editor):
        PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
        if every_seconds is not None:
            IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
            when, _ = IntervalSchedule.objects.get_or_create(every=every_seconds, period="seconds")
            timing = {"interval": when}
        else:
            CrontabSchedule = apps.get_model("django_celery_beat", "CrontabSchedule")
            when, _ = CrontabSchedule.objects.get_or_create(timezone="UTC", **crontab)
            timing = {"crontab": when}
        PeriodicTask.objects.get_or_create(
            name=name, defaults={"task": task, "expire_seconds": expire_seconds, **timing}
        )

    def remove(apps, schema_editor):
        apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(name=name).delete()

    return migrations.RunPython(add, remove)


def beat_task_renamed(old: str, new: str) -> migrations.RunPython:
    """Point the schedules of task `old` at `new` (a task that moved module), and back when migrating back."""

    def rename(source: str, target: str):
        def run(apps, schema_editor):
            apps.get_model("django_celery_beat", "PeriodicTask").objects.filter(task=source).update(task=target)

        return run

    return migrations.RunPython(rename(old, new), rename(new, old))


def schedule_next_run(task: str, *, now: dt.datetime | None = None) -> dt.datetime | None:
    """When beat next runs `task` after `now`, by its enabled crontab schedules (editable in the admin); None if it
    has none."""
    from celery.schedules import crontab
    from django_celery_beat.models import PeriodicTask

    now = now or timezone.now()
    upcoming = []
    for periodic in PeriodicTask.objects.filter(task=task, enabled=True, crontab__isnull=False).select_related(
        "crontab"
    ):
        fields = periodic.crontab
        local_now = now.astimezone(fields.timezone)
        schedule = crontab(
            minute=fields.minute, hour=fields.hour, day_of_week=fields.day_of_week,
            day_of_month=fields.day_of_month, month_of_year=fields.month_of_year, nowfun=lambda at=local_now: at,
        )  # fmt: skip
        # counted from `now` (celery's own clock would be the real one): the first minute it fires after `now`
        upcoming.append(now + schedule.remaining_estimate(local_now))
    return min(upcoming, default=None)
