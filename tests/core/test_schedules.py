"""Beat schedules added by migrations go through one operation: added once, removed when migrated back."""

from __future__ import annotations

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask

from batchhub.core.jobs.schedules import beat_schedule

pytestmark = [pytest.mark.portable, pytest.mark.django_db]


def test_an_interval_schedule_is_added_once_and_removed_on_the_way_back():
    operation = beat_schedule("Test sweep", "batchhub.core.tasks.worker_heartbeat", every_seconds=90, expire_seconds=80)
    operation.code(apps, None)
    operation.code(apps, None)  # a migration run twice (or a schedule already there) adds nothing
    task = PeriodicTask.objects.get(name="Test sweep")
    assert (task.interval.every, task.interval.period, task.expire_seconds) == (90, "seconds", 80)
    operation.reverse_code(apps, None)
    assert not PeriodicTask.objects.filter(name="Test sweep").exists()


def test_a_daily_schedule_runs_on_a_utc_crontab():
    beat_schedule("Test daily", "batchhub.core.tasks.worker_heartbeat", crontab={"minute": "30", "hour": "3"}).code(
        apps, None
    )
    crontab = PeriodicTask.objects.get(name="Test daily").crontab
    assert (crontab.minute, crontab.hour, str(crontab.timezone)) == ("30", "3", "UTC")


def test_a_schedule_needs_exactly_one_timing():
    with pytest.raises(ValueError):
        beat_schedule("Bad", "batchhub.core.tasks.worker_heartbeat")
    with pytest.raises(ValueError):
        beat_schedule("Bad", "batchhub.core.tasks.worker_heartbeat", every_seconds=60, crontab={"minute": "0"})
