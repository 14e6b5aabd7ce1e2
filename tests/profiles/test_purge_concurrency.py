"""The purge beside other writers, on PostgreSQL: rows another transaction holds, and a worker killed mid-run."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.db import connection, connections, transaction
from django.utils import timezone

from batchhub.core.jobs.runs import STALE_AFTER, run_claim
from batchhub.profiles import tasks
from batchhub.profiles.models import Installation, Profile, ProfileEvent, PurgeRun
from batchhub.profiles.purge import purge_execute, purge_run_scheduled
from tests.factories import AppFactory, InstallationFactory, ProfileFactory, ProjectFactory

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]
OLD = dt.timedelta(days=500)


@pytest.fixture(autouse=True)
def _postgres():
    if connection.vendor != "postgresql":
        pytest.skip("row locks and a second process need PostgreSQL")


def _inactive(project, count: int, *, events: int = 3, sharing: int = 1) -> list[Profile]:
    """`count` inactive profiles with `events` events each; `sharing` profiles in a row have the same last activity."""
    now = timezone.now()
    profiles = Profile.objects.bulk_create(
        [
            Profile(
                project=project,
                custom_id=f"u{i:05d}",
                last_activity_at=now - OLD + dt.timedelta(seconds=i // sharing),
                created_at=now - OLD,
            )
            for i in range(count)
        ]
    )
    ProfileEvent.objects.bulk_create(
        [ProfileEvent(profile=p, name="opened", occurred_at=now - OLD) for p in profiles for _ in range(events)]
    )
    return profiles


class Holder(threading.Thread):
    """Another connection that locks rows (SELECT … FOR UPDATE) and keeps them for `seconds`."""

    def __init__(self, sql: str, params: list, seconds: float):
        super().__init__(daemon=True)
        self.sql, self.params, self.seconds = sql, params, seconds
        self.locked = threading.Event()

    def run(self):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(self.sql, self.params)
                self.locked.set()
                time.sleep(self.seconds)
        finally:
            connections.close_all()


def _claimed(project) -> PurgeRun:
    run, _ = purge_run_scheduled(project)
    return run_claim(PurgeRun, run.pk, claimer="test")


def test_a_profile_an_api_call_holds_is_skipped_not_waited_for():
    project = ProjectFactory()
    profiles = _inactive(project, 6)
    held = profiles[2]
    holder = Holder("SELECT id FROM profiles_profile WHERE id = %s FOR UPDATE", [held.pk], seconds=6)
    holder.start()
    holder.locked.wait(5)
    started = time.monotonic()
    run = purge_execute(_claimed(project), batch_rows=2)
    took = time.monotonic() - started
    holder.join()

    assert run.status == PurgeRun.Status.SUCCEEDED and run.rows_done == 5
    assert list(Profile.objects.filter(project=project).values_list("pk", flat=True)) == [held.pk]
    assert took < 4.5  # it did not wait for the holder's 6 s


def test_a_batch_that_waits_on_a_lock_gives_way_and_is_retried(caplog):
    """An installation row an API call holds: the batch's lock_timeout stops it, it is rolled back and retried."""
    project = ProjectFactory()
    app = AppFactory(project=project)
    profiles = _inactive(project, 4)
    installation = InstallationFactory(app=app, profile=profiles[0])
    holder = Holder("SELECT id FROM profiles_installation WHERE id = %s FOR UPDATE", [installation.pk], seconds=1.2)
    holder.start()
    holder.locked.wait(5)
    with caplog.at_level("INFO", logger="batchhub.profiles.purge"):
        run = purge_execute(_claimed(project), batch_rows=4)
    holder.join()

    assert run.status == PurgeRun.Status.SUCCEEDED and run.rows_done == 4
    assert "gave way to a lock" in caplog.text
    assert Installation.objects.get(pk=installation.pk).profile_id is None
    assert not ProfileEvent.objects.filter(profile__project=project).exists()


def test_a_killed_purge_resumes_where_it_stopped_without_deleting_twice_or_skipping(settings):
    """The command runs the purge in another process, killed (SIGKILL) mid-run; the worker task takes the run over
    once its heartbeat is stale and finishes it: whole batches only, every count exact. Profiles share their last
    activity 60 at a time, so batches of 25 resume inside a run of equal times."""
    project = ProjectFactory()
    total, batch = 3000, 25
    _inactive(project, total, events=2, sharing=60)
    keep = ProfileFactory(project=project)
    database = connections["default"].settings_dict
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "BATCHHUB_ENV": "test", "PURGE_BATCH_ROWS": str(batch)}
    process = subprocess.Popen(
        [sys.executable, "manage.py", "profiles_purge", "--project", str(project.code)], cwd=ROOT, env=env
    )
    deadline = time.monotonic() + 60
    while not PurgeRun.objects.filter(project=project, rows_done__gte=4 * batch).exists():
        assert process.poll() is None and time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)
    process.wait()

    run = PurgeRun.objects.get(project=project)
    assert run.status == PurgeRun.Status.RUNNING and 0 < run.rows_done < total
    # what is visible is whole batches: every profile counted as deleted is gone with its events, no more
    left = Profile.objects.filter(project=project).exclude(pk=keep.pk)
    assert left.count() == total - run.rows_done and run.rows_done % batch == 0
    assert ProfileEvent.objects.filter(profile__project=project).count() == 2 * left.count()
    assert run.deleted["profiles.events"] == 2 * run.rows_done

    settings.PURGE_BATCH_ROWS = batch  # the worker's batches as the command's
    # the redelivered task: put off while the dead worker's heartbeat is fresh, taking over once it is stale
    with pytest.raises(Retry):
        tasks.purge_run.apply(args=[run.pk])
    assert PurgeRun.objects.get(pk=run.pk).rows_done == run.rows_done
    PurgeRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now() - STALE_AFTER - dt.timedelta(seconds=1))
    assert tasks.purge_run.apply(args=[run.pk]).get() == total

    run.refresh_from_db()
    assert run.status == PurgeRun.Status.SUCCEEDED
    assert (run.rows_total, run.rows_done) == (total, total)
    assert run.deleted == {"profiles.events": 2 * total, "profiles.installations": 0, "profiles.profiles": total}
    assert run.batches == total // batch
    assert list(Profile.objects.filter(project=project).values_list("pk", flat=True)) == [keep.pk]
    # a further delivery finds the run finished and does nothing
    assert tasks.purge_run.apply(args=[run.pk]).get() is None
