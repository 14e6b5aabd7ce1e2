"""The apply loop: calls accepted by any route are applied by one worker task per project, a failing call alone,
and the sweeper finds what was left pending. Profile routes serve as the vehicle (the only appliers so far)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from batchhub.api.appliers import applier_for
from batchhub.api.models import ApiCall
from batchhub.profiles.models import Profile, ProfileEvent
from tests.api_client import applier_replaced

pytestmark = pytest.mark.portable


def _event(**fields):
    return {"events": [{"name": "ue.opened", **fields}]}


def test_a_call_that_cannot_be_applied_is_marked_failed_without_blocking_others(api, applied):
    with applied:
        api.app_call("POST", "/events/users/ivy", _event())
    original = applier_for("profiles.events").apply

    def flaky(call):
        if json.loads(call.operations)[0]["custom_id"] == "bad":
            raise RuntimeError("boom")
        return original(call)

    with applier_replaced("profiles.events", flaky), applied:
        bad = api.app_call("POST", "/events/users/bad", _event()).json()["token"]
        jay = api.app_call("POST", "/events/users/jay", _event()).json()["token"]
    bad, jay = ApiCall.objects.get(token=bad), ApiCall.objects.get(token=jay)
    assert bad.apply_status == ApiCall.ApplyStatus.FAILED
    assert "boom" in bad.apply_error
    assert json.loads(bad.operations)[0]["custom_id"] == "bad"  # failed: its body is kept for diagnosis
    assert jay.apply_status == ApiCall.ApplyStatus.APPLIED
    assert ProfileEvent.objects.filter(profile__custom_id="jay").count() == 1
    assert not Profile.objects.filter(custom_id="bad").exists()


def test_the_sweeper_applies_calls_left_pending(api):
    from batchhub.api.tasks import api_calls_sweep

    response = api.app_call("POST", "/events/users/kim", _event())  # its task never ran (no commit hook)
    call = ApiCall.objects.get(token=response.json()["token"])
    assert call.apply_status == ApiCall.ApplyStatus.PENDING
    assert api_calls_sweep.delay().get() == 0  # too recent to be stranded
    ApiCall.objects.filter(pk=call.pk).update(created_at=timezone.now() - dt.timedelta(minutes=2))
    assert api_calls_sweep.delay().get() == 1
    call.refresh_from_db()
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED
    assert ProfileEvent.objects.filter(profile__custom_id="kim").count() == 1


def test_one_applier_is_queued_per_project_however_many_calls_arrive(
    api, monkeypatch, django_capture_on_commit_callbacks
):
    from django.core.cache import cache

    from batchhub.api import tasks
    from batchhub.core.data.redis import shared_redis
    from batchhub.core.jobs.tasking import queued_flag_clear

    queued = []
    monkeypatch.setattr(tasks.api_calls_apply, "apply_async", lambda args, countdown=None: queued.append(countdown))
    cache.clear()
    with django_capture_on_commit_callbacks(execute=True):
        for name in ("ann", "bob", "cid"):
            assert api.app_call("POST", f"/events/users/{name}", _event()).status_code == 202
    if shared_redis() is None:  # a process-local cache cannot be cleared by the worker: every call enqueues
        assert queued == [None, None, None]
        return
    assert queued == [None]
    queued_flag_clear(f"api_calls_apply:{api.app.project_id}")  # what the task does as it starts
    with django_capture_on_commit_callbacks(execute=True):
        assert api.app_call("POST", "/events/users/dee", _event()).status_code == 202
    assert queued == [None, None]


def test_a_busy_applier_comes_back_once_without_multiplying(api, monkeypatch):
    from django.core.cache import cache

    from batchhub.api import services, tasks
    from batchhub.core.data.redis import shared_redis

    def busy(*, project_id, limit=services.CLAIM_BATCH):
        raise services.ApplierBusy(project_id)

    queued = []
    monkeypatch.setattr(tasks, "api_calls_apply_pending", busy)
    monkeypatch.setattr(tasks.api_calls_apply, "apply_async", lambda args, countdown=None: queued.append(countdown))
    cache.clear()
    tasks.api_calls_apply.run(api.app.project_id)
    tasks.api_calls_apply_soon(api.app.project_id, after_commit=False)  # a web call meanwhile
    assert queued[0] == 1  # back in a second
    assert len(queued) == (1 if shared_redis() is not None else 2)
