"""A whole-worker crash: a real Celery worker applying a backlog of API calls is killed with SIGKILL (its
message stays unacknowledged, its queued flag set); a new worker drains the backlog at once, every call
applied exactly once."""

from __future__ import annotations

import pytest

from batchhub.api.models import ApiCall
from batchhub.profiles.models import ProfileEvent
from tests.workers import wait_for, worker_kill, worker_start, worker_up

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

CALLS, USERS, EVENTS_PER_USER = 60, 10, 100
DRAIN_TARGET_SECONDS = 5.0


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
    first = worker_start(first_log)
    try:
        wait_for(lambda: worker_up(first_log), timeout=60, what="the first worker boots")
        wait_for(applied.exists, timeout=30, what="the first worker applies")
    finally:
        worker_kill(first)  # the whole worker, mid-backlog: no warm shutdown, no ack
    left = pending.count()
    assert left > 0, "the first worker drained everything before the kill: the test proves nothing"

    second = worker_start(second_log)
    try:
        wait_for(lambda: worker_up(second_log), timeout=60, what="the second worker boots")
        drained = wait_for(lambda: not pending.exists(), timeout=60, what="the backlog drains")
    finally:
        worker_kill(second)

    print(f"backlog left by the kill: {left} calls; drained {drained:.2f} s after the new worker was up")
    assert drained < DRAIN_TARGET_SECONDS, f"{left} calls drained {drained:.1f} s after the worker was up"
    assert applied.count() == CALLS  # none failed
    assert ProfileEvent.objects.count() == CALLS * USERS * EVENTS_PER_USER  # each applied exactly once
    labels = ProfileEvent.objects.values_list("label", flat=True).distinct().count()
    assert labels == CALLS
