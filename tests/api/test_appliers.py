"""A new kind of call is applied by the applier its app registers; the API app needs no change, profiles none."""

from __future__ import annotations

import json

import pytest

from batchhub.api.appliers import applier_for, applier_register, applier_unregister, kind_choices
from batchhub.api.models import ApiCall
from batchhub.api.tasks import api_calls_apply

ECHOED: list[dict] = []


def echo_apply(call: ApiCall) -> dict:
    operations = json.loads(call.operations)
    ECHOED.extend(operations)
    return {"echoed": len(operations)}


@pytest.fixture
def echo_kind(settings):
    settings.ROOT_URLCONF = "tests.api.echo_urls"
    ECHOED.clear()
    applier_register("tests.echo", echo_apply, label="Echo")
    yield
    applier_unregister("tests.echo")


def test_a_new_kind_is_accepted_and_applied_by_its_own_applier(api, echo_kind):
    response = api.app_call("POST", "/echo", {"hello": "world"})
    assert response.status_code == 202
    call = ApiCall.objects.get(token=response.json()["token"])
    assert (call.kind, call.apply_status) == ("tests.echo", ApiCall.ApplyStatus.PENDING)
    assert ("tests.echo", "Echo") in kind_choices()
    api_calls_apply.delay(call.project_id)
    call.refresh_from_db()
    assert ECHOED == [{"hello": "world"}]
    assert (call.apply_status, call.counts, call.operations) == (ApiCall.ApplyStatus.APPLIED, {"echoed": 1}, "")


def test_a_kind_nobody_applies_is_refused_before_anything_is_stored(api, settings):
    settings.ROOT_URLCONF = "tests.api.echo_urls"
    response = api.app_call("POST", "/echo", {"hello": "world"})
    assert response.status_code == 500  # a bug of the route, never a 202 that no worker could apply
    assert response.json()["code"] == 0
    assert not ApiCall.objects.exists()


def test_a_kind_is_registered_once_and_named_by_its_app():
    with pytest.raises(ValueError, match="app label"):
        applier_register("echo", echo_apply)
    applier_register("tests.once", echo_apply)
    try:
        applier_register("tests.once", echo_apply)  # ready() running twice changes nothing
        with pytest.raises(ValueError, match="registered already"):
            applier_register("tests.once", lambda call: {})
    finally:
        applier_unregister("tests.once")
    with pytest.raises(LookupError):
        applier_for("tests.once")


def test_profiles_registers_its_kinds():
    assert {kind for kind, _ in kind_choices()} >= {
        "profiles.custom_data",
        "profiles.custom_data_delete",
        "profiles.events",
        "profiles.events_raw",
        "profiles.profile_update",
    }


def test_a_call_stored_with_a_kind_of_the_previous_release_is_still_applied(project):
    from tests.factories import ApiCallFactory

    event = {"custom_id": "ann", "name": "opened", "label": "", "attributes": {}, "tags": [], "time": None}
    call = ApiCallFactory(project=project, kind="events", apply_status="pending", operations=json.dumps([event]))
    api_calls_apply.delay(project.pk)
    call.refresh_from_db()
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED, call.apply_error
