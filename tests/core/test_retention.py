"""What the API stores is forgotten on time: bodies when applied, failed bodies after 7 days, rows after 90, keys'
records after 24 h, task deliveries after 7 days; one daily run applies the rules in bounded batches."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from batchhub.api.models import ApiCall, IdempotencyRecord
from batchhub.api.tasks import api_calls_apply
from batchhub.core.jobs.retention import retention_apply, retention_rules
from batchhub.core.jobs.runs import run_claim
from batchhub.core.models import RetentionRun, TaskDelivery
from batchhub.core.tasks import retention_daily
from tests.factories import ApiCallFactory

pytestmark = pytest.mark.portable
NOW = timezone.now()


def _claimed_run() -> RetentionRun:
    return run_claim(RetentionRun, RetentionRun.objects.create().pk, claimer="test")


def _ago(**delta) -> dt.datetime:
    return NOW - dt.timedelta(**delta)


def test_an_applied_call_loses_its_body_in_the_transaction_that_applies_it(project):
    event = {"custom_id": "ann", "name": "opened", "label": "", "attributes": {}, "tags": [], "time": None}
    call = ApiCallFactory(project=project, apply_status="pending", operations=json.dumps([event]))
    api_calls_apply.delay(project.pk)
    call.refresh_from_db()
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED
    assert call.operations == ""
    assert call.counts == {"events": 1, "profiles": 1} and call.route == "events.user"  # what it did stays


def test_a_failed_call_keeps_its_body_for_seven_days_then_only_its_row(project):
    body = json.dumps([{"custom_id": "ann"}])
    recent = ApiCallFactory(project=project, apply_status="failed", operations=body, created_at=_ago(days=6))
    old = ApiCallFactory(project=project, apply_status="failed", operations=body, created_at=_ago(days=8),
                         apply_error="ValueError: boom")  # fmt: skip
    retention_apply(_claimed_run(), now=NOW)
    recent.refresh_from_db()
    old.refresh_from_db()
    assert recent.operations == body
    assert (old.operations, old.apply_error, old.apply_status) == ("", "ValueError: boom", "failed")


def test_rows_older_than_their_time_are_deleted_in_batches(project):
    for days in (91, 92, 93):
        ApiCallFactory(project=project, created_at=_ago(days=days))
    kept_calls = {ApiCallFactory(project=project, created_at=_ago(days=89)).pk,
                  ApiCallFactory(project=project, created_at=_ago(days=200), apply_status="pending").pk}  # fmt: skip
    for n in range(12):
        record = IdempotencyRecord.objects.create(scope="app:1", key=f"old-{n}", request_hash="h")
    IdempotencyRecord.objects.filter(key__startswith="old-").update(created_at=_ago(hours=25))
    IdempotencyRecord.objects.create(scope="app:1", key="fresh", request_hash="h")
    TaskDelivery.objects.create(task_id="done", task_name="t", status="succeeded")
    TaskDelivery.objects.create(task_id="stuck", task_name="t", status="running")
    TaskDelivery.objects.create(task_id="recent", task_name="t", status="failed")
    TaskDelivery.objects.filter(task_id__in=["done", "stuck"]).update(last_started_at=_ago(days=8))

    run = _claimed_run()
    with CaptureQueriesContext(connection) as queries:
        handled = retention_apply(run, batch_rows=5, now=NOW)

    assert set(ApiCall.objects.values_list("pk", flat=True)) == kept_calls  # pending calls are never dropped
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["fresh"]
    assert set(TaskDelivery.objects.values_list("task_id", flat=True)) == {"stuck", "recent"}
    assert handled == {"api.calls": 3, "api.failed_bodies": 0, "api.idempotency": 12, "core.task_deliveries": 1}
    table = IdempotencyRecord._meta.db_table
    deletes = [q for q in queries.captured_queries if q["sql"].startswith(f'DELETE FROM "{table}"')]
    assert len(deletes) == 3  # 12 rows in batches of at most 5
    run.refresh_from_db()
    assert (run.status, run.rows_done, run.rows_total, run.percent) == ("succeeded", 16, 16, 100)
    assert record.pk not in IdempotencyRecord.objects.values_list("pk", flat=True)


def test_the_daily_job_runs_once_at_a_time(project, django_capture_on_commit_callbacks):
    ApiCallFactory(project=project, created_at=_ago(days=100))
    with django_capture_on_commit_callbacks(execute=True):
        first = retention_daily.delay().get()  # eager: the run is applied once the run's row is committed
    run = RetentionRun.objects.get(pk=first)
    assert (run.status, run.handled["api.calls"]) == ("succeeded", 1)
    RetentionRun.objects.create(status="running", heartbeat_at=timezone.now())
    assert retention_daily.delay().get() is None  # one is going: no second


def test_every_rule_says_what_goes():
    assert {rule.name for rule in retention_rules()} >= {
        "api.calls", "api.failed_bodies", "api.idempotency", "core.task_deliveries"
    }  # fmt: skip
    assert all(rule.description for rule in retention_rules())


def test_a_csm_starts_a_run_and_follows_its_progress(client, csm, django_capture_on_commit_callbacks):
    client.force_login(csm)
    page = client.get(reverse("core:retention"))
    assert "api.failed_bodies" in page.text and "No run yet" in page.text
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(reverse("core:retention_start")).status_code == 302
    run = RetentionRun.objects.get()
    assert run.status == "succeeded" and run.started_by == csm  # eager Celery: done at once
    url = reverse("core:retention_progress", kwargs={"run_id": run.pk})
    finished = client.get(url, headers={"HX-Request": "true"})
    assert finished.status_code == 286  # htmx stops polling
    assert "hx-trigger" not in finished.text
    RetentionRun.objects.filter(pk=run.pk).update(status="running", rows_done=10, rows_total=40)
    going = client.get(url, headers={"HX-Request": "true"})
    assert going.status_code == 200 and f'hx-get="{url}"' in going.text and "10 of 40" in going.text
    assert client.post(reverse("core:retention_start")).status_code == 302
    assert RetentionRun.objects.count() == 1  # one going: no second


def test_old_calls_of_every_project_go_in_one_run(project, other_project):
    from tests.factories import ProjectFactory

    projects = [project, other_project, ProjectFactory()]
    for each in projects:
        ApiCallFactory(project=each, created_at=_ago(days=100))
    handled = retention_apply(_claimed_run(), now=NOW)
    assert handled["api.calls"] == 3 and not ApiCall.objects.exists()


def test_a_run_whose_task_was_lost_is_queued_again(db, django_capture_on_commit_callbacks):
    lost = RetentionRun.objects.create()
    RetentionRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - dt.timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert retention_daily.delay().get() == lost.pk  # not a new run: the lost one, run now
    lost.refresh_from_db()
    assert lost.status == "succeeded"
    assert RetentionRun.objects.count() == 1
