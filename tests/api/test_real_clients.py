"""What real Batch clients need of the framework (keys, paths, errors, rates), with only the base URL changed: each
case broke once and must keep working. (What they send to the profile routes: tests/profiles/test_real_clients.py.)

Bodies are the clients' or Batch's documentation's own (see ../shared/batch-api-digest.md).
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from tests.factories import AppFactory, ProjectFactory, RestApiKeyFactory

pytestmark = pytest.mark.portable


# ---- one company REST key for every app, project and family ------------------------------------------------


def test_the_company_key_opens_every_app_and_project_of_the_company_in_both_families(api, api_app):
    second_app = AppFactory(project=api_app.project, name="AcmeShop", platform="android")
    other_project = ProjectFactory(customer=api_app.project.customer)
    third_app = AppFactory(project=other_project, name="AcmeKids", platform="web")
    event = {"events": [{"name": "added_to_cart"}]}
    for app in (api_app, second_app, third_app):
        assert api.app_call("POST", "/events/users/alice", event, key=app.live_api_key).status_code == 202
    body = [{"identifiers": {"custom_id": "alice"}}]
    for project in (api_app.project, other_project):
        assert api.project_call("/profiles/update", body, project=project, rest_key=api.rest_key).status_code == 202


def test_a_key_narrowed_to_a_project_opens_only_that_project(api, api_app):
    sibling = ProjectFactory(customer=api_app.project.customer)
    sibling_app = AppFactory(project=sibling, name="Sibling", platform="ios")
    narrowed = RestApiKeyFactory(customer=api_app.project.customer, project=api_app.project).secret.reveal()
    event = {"events": [{"name": "opened"}]}
    assert api.app_call("POST", "/events/users/a", event, rest_key=narrowed).status_code == 202
    assert (
        api.app_call("POST", "/events/users/a", event, key=sibling_app.live_api_key, rest_key=narrowed).status_code
        == 401
    )
    body = [{"identifiers": {"custom_id": "a"}}]
    assert api.project_call("/profiles/update", body, rest_key=narrowed).status_code == 202
    assert api.project_call("/profiles/update", body, project=sibling, rest_key=narrowed).status_code == 401


def test_a_rotated_key_keeps_working_for_its_overlap_then_stops(api, api_app, csm, monkeypatch):
    from batchhub.projects.models import RestApiKey
    from batchhub.projects.services import rest_key_rotate

    key = RestApiKey.objects.get(customer=api_app.project.customer)
    old = key.secret.reveal()
    new = rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(hours=24)).reveal()
    event = {"events": [{"name": "opened"}]}
    assert api.app_call("POST", "/events/users/a", event, rest_key=old).status_code == 202
    assert api.app_call("POST", "/events/users/a", event, rest_key=new).status_code == 202
    later = timezone.now() + dt.timedelta(hours=25)
    monkeypatch.setattr("batchhub.api.auth.timezone.now", lambda: later)
    assert api.app_call("POST", "/events/users/a", event, rest_key=old).status_code == 401
    assert api.app_call("POST", "/events/users/a", event, rest_key=new).status_code == 202


def test_a_revoked_key_stops_at_once_and_use_is_recorded(api, api_app, csm):
    from batchhub.projects.models import RestApiKey
    from batchhub.projects.services import rest_key_revoke

    key = RestApiKey.objects.get(customer=api_app.project.customer)
    assert api.app_call("POST", "/events/users/a", {"events": [{"name": "opened"}]}).status_code == 202
    key.refresh_from_db()
    assert key.last_used_at is not None
    rest_key_revoke(actor=csm, key=key)
    assert api.app_call("POST", "/events/users/a", {"events": [{"name": "opened"}]}).status_code == 401


# ---- paths with a trailing slash ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("POST", "/data/users/", [{"id": "alice", "update": {"values": {"u.plan": "gold"}}}], 202),
        ("POST", "/data/users/alice/", {"values": {"u.plan": "gold"}}, 202),
        ("DELETE", "/data/users/alice/", None, 200),
        ("DELETE", "/data/users/", ["alice"], 200),
        ("POST", "/events/users/alice/", {"events": [{"name": "opened"}]}, 202),
        ("POST", "/events/users/", [{"id": "alice", "events": [{"name": "opened"}]}], 202),
    ],
)
def test_per_app_routes_answer_with_a_trailing_slash_without_a_redirect(api, method, path, body, status):
    response = api.app_call(method, path, body)
    assert response.status_code == status, response.content
    assert "token" in response.json()


@pytest.mark.parametrize("path", ["/profiles/update/", "/profiles/mass-update/"])
def test_project_routes_answer_with_a_trailing_slash(api, path):
    response = api.project_call(path, [{"identifiers": {"custom_id": "alice"}}])
    assert response.status_code == 202
    assert response.json() == {"code": "SUCCESS"}


def test_an_unknown_path_with_a_slash_is_still_a_404_in_the_family_shape(api):
    response = api.app_call("POST", "/nothing/here/", {})
    assert response.status_code == 404
    assert response.json()["code"] == 20


# ---- errors, rates and keys ----------------------------------------------------------------------------------


def test_every_real_client_body_gets_json_in_its_family(api):
    response = api.app_call("POST", "/data/users/", raw=b"not json")
    assert response.status_code == 400
    assert json.loads(response.content)["code"] == 32


def test_a_rate_limited_call_is_not_replayed_to_its_idempotent_retry(api, settings):
    from django.conf import settings as django_settings

    if not django_settings.REDIS_URL:
        pytest.skip("the profiles-per-second bucket lives in Redis (the embedded run has none)")
    settings.API_PROFILE_RATES = {"profiles.update": (1, 2), "profiles.mass_update": (1, 2)}
    cache.clear()
    two = [{"identifiers": {"custom_id": "a"}}, {"identifiers": {"custom_id": "b"}}]
    assert api.project_call("/profiles/update", two).status_code == 202  # the bucket is empty now
    headers = {"Idempotency-Key": "retry-me"}
    assert api.project_call("/profiles/update", two, headers=headers).status_code == 429
    settings.API_PROFILE_RATES = {"profiles.update": (300, 1000), "profiles.mass_update": (10_000, 10_000)}
    retried = api.project_call("/profiles/update", two, headers=headers)
    assert retried.status_code == 202
    assert "Idempotent-Replayed" not in retried


def test_another_customers_key_never_spends_a_targets_rate_limit(api, api_app, other_app):
    from tests.factories import company_rest_key

    api_app.project.api_rate_limit_per_minute = 3
    api_app.project.save()
    foreign = company_rest_key(other_app.project)
    event = {"events": [{"name": "opened"}]}
    assert api.app_call("POST", "/events/users/a", event).status_code == 202  # both cached from here on
    for _ in range(5):
        assert api.app_call("POST", "/events/users/a", event, rest_key=foreign).status_code == 401
    assert api.app_call("POST", "/events/users/a", event).status_code == 202
    assert api.app_call("POST", "/events/users/a", event).status_code == 202


def test_a_rotated_key_cannot_be_rotated_again_to_extend_its_life(api, api_app, csm):
    from django.core.exceptions import ValidationError

    from batchhub.projects.models import RestApiKey
    from batchhub.projects.services import rest_key_rotate

    key = RestApiKey.objects.get(customer=api_app.project.customer)
    rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(hours=1))
    with pytest.raises(ValidationError, match="already rotated"):
        rest_key_rotate(actor=csm, key=key, overlap=dt.timedelta(hours=720))
    key.refresh_from_db()
    assert key.expires_at - timezone.now() <= dt.timedelta(hours=1)
