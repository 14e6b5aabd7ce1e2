"""Beat schedules added by migrations go through one operation: added once, removed when migrated back."""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django_celery_beat.models import PeriodicTask

from batchhub.core.jobs.schedules import beat_schedule, schedule_next_run

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


def test_the_next_run_is_counted_from_the_time_given():
    beat_schedule("Test next", "tests.next", crontab={"minute": "30", "hour": "2"}).code(apps, None)
    at = dt.datetime(2026, 3, 31, 12, 0, tzinfo=dt.UTC)
    assert schedule_next_run("tests.next", now=at) == dt.datetime(2026, 4, 1, 2, 30, tzinfo=dt.UTC)
    at = dt.datetime(2030, 12, 31, 2, 29, 59, tzinfo=dt.UTC)
    assert schedule_next_run("tests.next", now=at) == dt.datetime(2030, 12, 31, 2, 30, tzinfo=dt.UTC)
    beat_schedule("Test next, hourly", "tests.next", crontab={"minute": "0", "hour": "*"}).code(apps, None)
    assert schedule_next_run("tests.next", now=at) == dt.datetime(2030, 12, 31, 2, 30, tzinfo=dt.UTC)  # the soonest
    PeriodicTask.objects.filter(task="tests.next").update(enabled=False)
    assert schedule_next_run("tests.next", now=at) is None
    assert schedule_next_run("tests.none", now=at) is None
