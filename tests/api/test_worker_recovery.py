"""A whole-worker crash: a real Celery worker applying a backlog of API calls is killed with SIGKILL (its
message stays unacknowledged, its queued flag set); a new worker drains the backlog at once, every call
applied exactly once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections

from batchhub.api.models import ApiCall
from batchhub.profiles.models import ProfileEvent

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]
CALLS, USERS, EVENTS_PER_USER = 60, 10, 100
DRAIN_TARGET_SECONDS = 5.0


def _worker(log: Path) -> subprocess.Popen:
    """A worker process on the test database and Redis, as `celery -A batchhub worker` runs in production."""
    database = connections["default"].settings_dict
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a worker process needs a database it can share: PostgreSQL")
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    env = {**os.environ, "DATABASE_URL": url, "BATCHHUB_ENV": "test", "LOG_LEVEL": "INFO"}
    command = [sys.executable, "-m", "celery", "-A", "batchhub", "worker", "--loglevel", "INFO",
               "--concurrency", "2", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def _wait(predicate, *, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


def _up(log: Path) -> bool:
    return " ready." in log.read_text(errors="replace")


def _stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)


def test_a_new_worker_drains_what_a_killed_one_left_in_under_5_seconds(api, tmp_path):
    pending = ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.PENDING)
    applied = ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.APPLIED)
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"

    for n in range(CALLS):  # stored and queued while no worker runs
        body = [
            {"id": f"crash-{n}-{user}", "events": [{"name": "opened", "label": f"call-{n}"}] * EVENTS_PER_USER}
            for user in range(USERS)
        ]
        assert api.app_call("POST", "/events/users", body).status_code == 202
    first = _worker(first_log)
    try:
        _wait(lambda: _up(first_log), timeout=60, what="the first worker boots")
        _wait(applied.exists, timeout=30, what="the first worker applies")
        os.killpg(first.pid, signal.SIGKILL)  # the whole worker, mid-backlog: no warm shutdown, no ack
        first.wait(timeout=10)
    finally:
        _stop(first)
    left = pending.count()
    assert left > 0, "the first worker drained everything before the kill: the test proves nothing"

    second = _worker(second_log)
    try:
        _wait(lambda: _up(second_log), timeout=60, what="the second worker boots")
        drained = _wait(lambda: not pending.exists(), timeout=60, what="the backlog drains")
    finally:
        _stop(second)

    print(f"backlog left by the kill: {left} calls; drained {drained:.2f} s after the new worker was up")
    assert drained < DRAIN_TARGET_SECONDS, f"{left} calls drained {drained:.1f} s after the worker was up"
    assert applied.count() == CALLS  # none failed
    assert ProfileEvent.objects.count() == CALLS * USERS * EVENTS_PER_USER  # each applied exactly once
    labels = ProfileEvent.objects.values_list("label", flat=True).distinct().count()
    assert labels == CALLS
