"""core.services and core.audit.record called directly: snapshots, their diff, the audit record, the heartbeat."""

from __future__ import annotations

import datetime as dt

import pytest

from batchhub.core.audit.record import SECRET_CHANGED, audit_record, model_snapshot, snapshot_diff
from batchhub.core.models import AuditEvent, WorkerHeartbeat
from batchhub.core.secrets.crypto import Secret
from batchhub.core.services import worker_heartbeat_record
from batchhub.core.web.context import RequestContext, current_request
from tests.factories import ProjectFactory, RestApiKeyFactory, UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.portable]


def test_a_snapshot_leaves_out_the_primary_key_and_bookkeeping_times_and_keeps_secrets_wrapped():
    key = RestApiKeyFactory(name="Deploy key")
    snapshot = model_snapshot(key)
    assert snapshot["name"] == "Deploy key"
    assert snapshot["customer"] == key.customer_id  # foreign keys by their id
    assert not {"id", "created_at"} & set(snapshot)
    assert isinstance(snapshot["secret"], Secret) and snapshot["secret"].reveal() == key.secret.reveal()


def test_a_snapshot_can_be_narrowed_to_some_fields():
    project = ProjectFactory(name="Acme", inactivity_months=9)
    assert model_snapshot(project, ["name", "inactivity_months"]) == {"name": "Acme", "inactivity_months": 9}


def test_the_diff_holds_only_changed_fields_in_json_form():
    moment = dt.datetime(2026, 3, 1, 12, 30, tzinfo=dt.UTC)
    project = ProjectFactory(name="Acme")
    before = {"name": "Old", "months": 13, "when": None, "project": None, "same": "x"}
    after = {"name": "New", "months": 13, "when": moment, "project": project, "same": "x"}
    assert snapshot_diff(before, after) == {
        "name": ["Old", "New"],
        "project": [None, "Acme"],
        "when": [None, "2026-03-01T12:30:00+00:00"],
    }


def test_the_diff_of_a_secret_says_only_that_it_changed():
    diff = snapshot_diff({"secret": Secret("old-secret-value")}, {"secret": Secret("new-secret-value")})
    assert diff == {"secret": [SECRET_CHANGED, SECRET_CHANGED]}
    assert "secret-value" not in repr(diff)
    assert snapshot_diff({"secret": Secret("same-value")}, {"secret": Secret("same-value")}) == {}


def test_audit_record_names_the_user_the_object_and_the_project():
    user = UserFactory(username="ana")
    project = ProjectFactory(name="Acme Retail")
    event = audit_record(actor=user, action="project.update", obj=project, project=project, changes={"n": [1, 2]})

    event = AuditEvent.objects.get(pk=event.pk)
    assert (event.actor, event.actor_label) == (user, "ana")
    assert (event.object_type, event.object_code, event.object_repr) == (
        "projects.project",
        str(project.code),
        "Acme Retail",
    )
    assert (event.project_code, event.project_name) == (project.code, "Acme Retail")
    assert event.changes == {"n": [1, 2]}
    assert (event.ip_address, event.user_agent) == (None, "")  # no request in progress


def test_audit_record_without_a_user_names_the_system_and_never_stores_a_secret():
    event = audit_record(
        actor=None,
        action="key.rotate",
        object_type="projects.restapikey",
        object_code="k1",
        changes={"secret": Secret("plain-secret-value"), "at": dt.date(2026, 1, 2)},
    )
    assert event.actor is None and event.actor_label == "system"
    assert event.changes == {"secret": SECRET_CHANGED, "at": "2026-01-02"}
    assert audit_record(actor="api", action="call").actor_label == "api"


def test_audit_record_takes_the_address_of_the_request_in_progress():
    token = current_request.set(RequestContext(ip_address="203.0.113.7", user_agent="curl/8"))
    try:
        event = audit_record(actor=None, action="login.failed")
    finally:
        current_request.reset(token)
    assert (event.ip_address, event.user_agent) == ("203.0.113.7", "curl/8")


def test_the_heartbeat_keeps_one_row_per_host_and_moves_it_forward():
    first = worker_heartbeat_record(hostname="celery@a")
    WorkerHeartbeat.objects.filter(pk=first.pk).update(beat_at=first.beat_at - dt.timedelta(minutes=5))
    again = worker_heartbeat_record(hostname="celery@a")
    worker_heartbeat_record(hostname="celery@b")

    assert again.pk == first.pk
    assert WorkerHeartbeat.objects.get(pk=first.pk).beat_at >= first.beat_at
    assert sorted(WorkerHeartbeat.objects.values_list("hostname", flat=True)) == ["celery@a", "celery@b"]
