"""The API framework: authentication of both families, error shapes, rate limits, idempotency, the call log."""

from __future__ import annotations

import datetime as dt

import pytest

from batchhub.api.models import ApiCall
from batchhub.core.models import AuditEvent
from batchhub.profiles.models import Profile, ProfileEvent
from batchhub.projects.models import RestApiKey
from tests.factories import company_rest_key

EVENT = {"events": [{"name": "ue.added_to_cart", "label": "basket", "attributes": {"sku": "A1"}}]}


def test_app_route_accepts_live_dev_and_sdk_keys(api, api_app, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        live = api.app_call("POST", "/events/users/alice", EVENT)
        dev = api.app_call("POST", "/events/users/alice", EVENT, key=api_app.dev_api_key, version="1.1")
        sdk = api.app_call("POST", "/events/users/alice", EVENT, key=api_app.sdk_api_key)
    assert live.status_code == dev.status_code == sdk.status_code == 202
    assert ProfileEvent.objects.filter(profile__custom_id="alice").count() == 3


@pytest.mark.parametrize(
    "rest_key", ["wrong-key", "", "ffffffffffffffffffffffffffffffff"], ids=["wrong", "empty", "same-length"]
)
def test_wrong_rest_key_is_401_code_10_and_audited(api, rest_key):
    response = api.app_call("POST", "/events/users/alice", EVENT, rest_key=rest_key or " ")
    assert response.status_code == 401
    assert response.json()["code"] == 10
    assert AuditEvent.objects.filter(action="api.auth_failed").count() == 1
    assert not ApiCall.objects.exists()


def test_unknown_app_key_is_401(api):
    response = api.app_call("POST", "/events/users/alice", EVENT, key="NOSUCHKEY")
    assert response.status_code == 401
    assert response.json() == {"code": 10, "message": "The API key or the REST API key is missing or invalid."}


def test_rest_key_of_another_project_is_refused_and_nothing_is_written(api, other_app):
    response = api.app_call("POST", "/events/users/alice", EVENT, rest_key=company_rest_key(other_app.project))
    assert response.status_code == 401
    response = api.project_call(
        "/profiles/update",
        [{"identifiers": {"custom_id": "alice"}}],
        project=api.app.project,
        rest_key=company_rest_key(other_app.project),
    )
    assert response.status_code == 401
    assert response.json()["error_code"] == "AUTHENTICATION_INVALID"
    assert not ApiCall.objects.exists() and not Profile.objects.exists()


def test_project_route_needs_the_project_header(api):
    response = api.project_call("/profiles/update", [], headers={"X-Batch-Project": ""})
    assert response.status_code == 401
    assert set(response.json()) == {"error_code", "error_message"}


def test_any_2x_version_is_accepted_and_others_are_not_found(api):
    body = [{"identifiers": {"custom_id": "alice"}}]
    assert api.project_call("/profiles/update", body, version="2.0").status_code == 202
    assert api.project_call("/profiles/update", body, version="2.17").status_code == 202
    response = api.app_call("POST", "/events/users/alice", EVENT, version="1.9")
    assert response.status_code == 404 and response.json()["code"] == 20


def test_unknown_routes_and_methods_answer_json_never_html(api):
    response = api.app_call("POST", "/nothing/here", {})
    assert response.status_code == 404
    assert response.json()["code"] == 20
    response = api.app_call("GET", "/events/users/alice")
    assert response.status_code == 405
    assert response["Content-Type"] == "application/json"
    assert "POST" in response.json()["message"]
    response = api.client.get("/2.0/profiles/nothing")
    assert response.json()["error_code"] == "ROUTE_NOT_FOUND"


def test_malformed_json_is_400_code_32(api):
    response = api.app_call("POST", "/events/users/alice", raw=b'{"events": [')
    assert response.status_code == 400
    assert response.json()["code"] == 32
    response = api.project_call("/profiles/update", None, headers={})
    assert response.json()["error_code"] in {"MALFORMED_PARAMETER", "MISSING_PARAMETER"}


def test_rate_limit_answers_429_with_retry_after(api, api_app):
    api_app.project.api_rate_limit_per_minute = 2
    api_app.project.save()
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
    response = api.app_call("POST", "/events/users/alice", EVENT)
    assert response.status_code == 429
    assert response.json()["code"] == 60
    assert 1 <= int(response["Retry-After"]) <= 60
    assert ApiCall.objects.filter(status_code=202).count() == 2


def test_rate_limit_is_per_key(api, api_app, other_app):
    from tests.api_client import ApiClient

    api_app.project.api_rate_limit_per_minute = 1
    api_app.project.save()
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 429
    assert ApiClient(other_app).app_call("POST", "/events/users/alice", EVENT).status_code == 202


def test_idempotency_key_replays_the_answer_without_a_second_effect(api, django_capture_on_commit_callbacks):
    headers = {"Idempotency-Key": "order-42"}
    with django_capture_on_commit_callbacks(execute=True):
        first = api.app_call("POST", "/events/users/alice", EVENT, headers=headers)
        again = api.app_call("POST", "/events/users/alice", EVENT, headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again["Idempotent-Replayed"] == "true"
    assert ApiCall.objects.count() == 1
    assert ProfileEvent.objects.count() == 1


def test_idempotency_key_reused_with_another_body_is_refused(api):
    headers = {"Idempotency-Key": "order-43"}
    api.app_call("POST", "/events/users/alice", EVENT, headers=headers)
    response = api.app_call("POST", "/events/users/bob", EVENT, headers=headers)
    assert response.status_code == 422
    assert "different request body" in response.json()["message"]


@pytest.mark.parametrize(
    "key", ["caf\u00e9-1", "tab\tkey", "x" * 256, "\ud800"], ids=["latin", "tab", "long", "surrogate"]
)
def test_an_idempotency_key_that_is_not_printable_ascii_is_a_400_and_nothing_is_recorded(api, key):
    response = api.app_call("POST", "/events/users/alice", EVENT, headers={"Idempotency-Key": key})
    assert response.status_code == 400
    assert "printable ASCII" in response.json()["message"]
    assert not ApiCall.objects.filter(status_code=202).exists()


def test_idempotency_replays_errors_too(api):
    headers = {"Idempotency-Key": "bad-1"}
    first = api.app_call("POST", "/events/users/alice", {"events": [{"name": "no-pe"}]}, headers=headers)
    again = api.app_call("POST", "/events/users/alice", {"events": [{"name": "no-pe"}]}, headers=headers)
    assert first.status_code == again.status_code == 400
    assert first.json() == again.json()


def test_each_call_is_logged_with_its_route_and_error(api):
    api.app_call("POST", "/events/users/alice", EVENT)
    api.app_call("POST", "/events/users/alice", {"events": [{"name": "ue.x", "label": "y" * 201}]})
    calls = list(ApiCall.objects.order_by("id").values_list("route", "status_code", "error_code"))
    assert calls == [("events.user", 202, ""), ("events.user", 400, "MALFORMED_PARAMETER")]
    assert api.rest_key not in str(ApiCall.objects.values_list("error_message", flat=True))


def test_openapi_document_lists_every_route(client):
    spec = client.get("/api/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/{version}/{api_key}/data/users/{custom_id}",
        "/{version}/{api_key}/data/users",
        "/{version}/{api_key}/events/users/{custom_id}",
        "/{version}/{api_key}/events/users",
        "/{version}/profiles/update",
        "/{version}/profiles/mass-update",
    } <= paths
    docs = client.get("/api/docs")
    assert docs.status_code == 200
    assert "cdn" not in docs.text.lower()


def _credential_queries(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries if "restapikey" in q["sql"] or "customer_id" in q["sql"]]


def test_a_known_key_is_checked_without_a_database_query(api, settings):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202  # reads the key once
    with CaptureQueriesContext(connection) as captured:
        assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
        assert api.project_call("/profiles/update", [{"identifiers": {"custom_id": "a"}}]).status_code == 202
        assert api.project_call("/profiles/update", [{"identifiers": {"custom_id": "a"}}]).status_code == 202
    assert len(_credential_queries(captured)) == 1  # the project key's first use only (the REST key is known)


@pytest.mark.parametrize("family", ["app", "project"])
def test_a_key_rotated_without_overlap_stops_working_at_once_though_it_was_cached(api, api_app, csm, family):
    from batchhub.projects.services import rest_key_rotate

    body = [{"identifiers": {"custom_id": "a"}}]
    key = RestApiKey.objects.get(customer=api_app.project.customer)
    old = key.secret.reveal()

    def call(rest_key):
        if family == "app":
            return api.app_call("POST", "/events/users/alice", EVENT, rest_key=rest_key)
        return api.project_call("/profiles/update", body, rest_key=rest_key)

    assert call(old).status_code == 202
    new = rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(0)).reveal()
    assert call(old).status_code == 401
    assert call(new).status_code == 202


def test_a_deleted_app_key_stops_working_at_once(api, api_app):
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
    rest_key = api.rest_key
    ApiCall.objects.all().delete()
    api_app.delete()
    assert api.app_call("POST", "/events/users/alice", EVENT, rest_key=rest_key).status_code == 401


def test_a_lowered_rate_limit_applies_at_once(api, api_app):
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
    project = api_app.project
    project.api_rate_limit_per_minute = 1
    project.save()
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 429


def test_failed_authentications_are_audited_once_per_key_and_minute_with_their_count(api, monkeypatch):
    monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)  # one minute throughout, whatever the clock does
    for _ in range(20):
        assert api.app_call("POST", "/events/users/alice", EVENT, rest_key="wrong-key").status_code == 401
    api.app_call("POST", "/events/users/alice", EVENT, key="OTHERAPPKEY", rest_key="wrong-key")
    rows = list(AuditEvent.objects.filter(action="api.auth_failed").order_by("id"))
    assert len(rows) == 2
    assert rows[0].changes == {"failures in this minute": 20}
    assert rows[1].changes == {"failures in this minute": 1}


def test_a_client_guessing_keys_is_throttled_and_known_keys_are_not(api, api_app, settings, monkeypatch):
    from tests.factories import RestApiKeyFactory

    monkeypatch.setattr("time.time", lambda: 1_800_000_000.0)  # one minute throughout
    settings.API_AUTH_FAILURES_PER_MINUTE = 5
    unused = RestApiKeyFactory(customer=api_app.project.customer).secret.reveal()
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202  # this key is known from here on
    for n in range(5):
        assert api.app_call("POST", "/events/users/alice", EVENT, rest_key=f"guess-{n}").status_code == 401
    guessed = api.app_call("POST", "/events/users/alice", EVENT, rest_key="guess-6")
    assert guessed.status_code == 429
    assert guessed.json()["code"] == 60 and int(guessed["Retry-After"]) >= 1
    assert api.app_call("POST", "/events/users/alice", EVENT, rest_key=unused).status_code == 429  # not yet known
    assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202  # a known key keeps working


class _BrokerAway:
    """Redis as the enqueue sees it while the broker restarts."""

    def set(self, *args, **kwargs):
        import redis

        raise redis.exceptions.ConnectionError("Connection refused")


def _broker_away(monkeypatch) -> None:
    monkeypatch.setattr("batchhub.core.jobs.tasking.shared_redis", lambda: (_BrokerAway(), lambda key: key))


def test_a_stored_call_is_answered_202_when_the_broker_is_away_and_the_sweeper_finds_it(api, monkeypatch):
    from batchhub.api.services import api_calls_stranded_projects

    _broker_away(monkeypatch)
    response = api.app_call("POST", "/events/users/alice", EVENT)
    assert response.status_code == 202  # stored: a 500 here would make the client's retry a duplicate
    call = ApiCall.objects.get()
    assert call.apply_status == "pending"
    ApiCall.objects.filter(pk=call.pk).update(created_at=call.created_at - dt.timedelta(minutes=1))
    assert api_calls_stranded_projects() == [api.app.project_id]


def test_a_starting_worker_applies_what_a_dead_one_left_at_once(api, monkeypatch, django_capture_on_commit_callbacks):
    from batchhub.celery import sweep_at_start
    from batchhub.core.data.redis import shared_redis

    with monkeypatch.context() as patched:
        _broker_away(patched)
        assert api.app_call("POST", "/events/users/alice", EVENT).status_code == 202
    client, make_key = shared_redis()
    client.set(make_key(f"queued:api_calls_apply:{api.app.project_id}"), 1, ex=30)  # left by the dead worker's task
    with django_capture_on_commit_callbacks(execute=True):
        sweep_at_start()  # the call is seconds old: beat's sweep would wait 30 s, then the flag would block it
    assert ApiCall.objects.get().apply_status == "applied"
    assert ProfileEvent.objects.filter(profile__custom_id="alice").count() == 1
