"""Runs: claimed by one worker at a time, taken over from a dead one, progress with rate and ETA."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batchhub.core.jobs.runs import run_claim, run_finish, run_progress
from batchhub.core.models import RetentionRun

pytestmark = pytest.mark.portable


def test_a_run_is_claimed_once_and_taken_over_only_from_a_dead_worker(db):
    run = RetentionRun.objects.create()
    first = run_claim(RetentionRun, run.pk, claimer="worker-a")
    assert first is not None and first.status == "running" and first.claimed_by == "worker-a"
    assert run_claim(RetentionRun, run.pk, claimer="worker-b") is None  # alive: not taken
    run_progress(first, done=5, total=20)
    RetentionRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=6))
    taken = run_claim(RetentionRun, run.pk, claimer="worker-b")
    assert taken is not None and taken.claimed_by == "worker-b"
    assert (taken.rows_done, taken.started_at) == (5, first.started_at)  # what committed stays
    run_finish(taken)
    assert run_claim(RetentionRun, run.pk, claimer="worker-c") is None  # finished: nobody


def test_progress_gives_rate_percent_and_eta(db):
    run = run_claim(RetentionRun, RetentionRun.objects.create().pk, claimer="w")
    RetentionRun.objects.filter(pk=run.pk).update(started_at=timezone.now() - dt.timedelta(seconds=10))
    run.refresh_from_db()
    run_progress(run, done=100, total=400)
    assert run.percent == 25
    assert 9 <= run.rate <= 10.1  # 100 rows in about 10 s
    assert 29 <= run.eta.total_seconds() <= 31
    run_finish(run, error="boom")
    assert (run.status, run.error, run.eta) == ("failed", "boom", None)


def test_a_worker_whose_run_was_taken_over_stops_without_counting(db):
    from batchhub.core.jobs.runs import RunLost

    run = RetentionRun.objects.create()
    first = run_claim(RetentionRun, run.pk, claimer="worker-a")
    RetentionRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=6))
    second = run_claim(RetentionRun, run.pk, claimer="worker-b")
    with pytest.raises(RunLost):
        run_progress(first, done=10)
    with pytest.raises(RunLost):
        run_finish(first)
    run_progress(second, done=3)
    second.refresh_from_db()
    assert (second.rows_done, second.status) == (3, "running")


@pytest.mark.django_db(transaction=True)  # the beating thread has its own connection: it must see the run
def test_a_run_beats_from_a_thread_while_its_work_keeps_the_connection_busy_and_learns_it_was_taken_over():
    import time

    from batchhub.core.jobs.runs import run_beating

    run = run_claim(RetentionRun, RetentionRun.objects.create().pk, claimer="w")
    backfill = run_claim(RetentionRun, RetentionRun.objects.create().pk, claimer="w")
    old = timezone.now() - dt.timedelta(minutes=4)
    RetentionRun.objects.update(heartbeat_at=old)
    with run_beating(run, backfill, every=0.05) as beat:
        beat.done = 42
        deadline = time.monotonic() + 10
        while RetentionRun.objects.filter(heartbeat_at=old).exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not beat.lost
    assert not RetentionRun.objects.filter(heartbeat_at=old).exists()  # both beat
    run.refresh_from_db()
    assert run.rows_done == 42  # the progress the work published
    RetentionRun.objects.filter(pk=run.pk).update(claimed_by="another worker")
    with run_beating(run, every=0.05) as beat:
        deadline = time.monotonic() + 10
        while not beat.lost and time.monotonic() < deadline:
            time.sleep(0.02)
        assert beat.lost
