"""Connector keys through the REST API: accepted like the customer's keys, but only for the connector's project and
inbound features; attributed to the connector; rotated, revoked and paused without touching anyone else."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.connectors import services
from batchhub.projects.models import ProjectGrant
from tests.factories import AppFactory, GrantFactory, PartnerFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.portable

EVENTS = {"events": [{"name": "opened"}]}
DATA = {"overwrite": False, "values": {"u.tier": "gold"}}


@pytest.fixture
def pushwave(api_app):
    partner = PartnerFactory(name="Pushwave")
    GrantFactory(project=api_app.project, partner=partner)
    return partner


@pytest.fixture
def owner(pushwave):
    return UserFactory.partner_user(partner=pushwave, username="pushwave")


def _connector(owner, project, features, name="CRM sync"):
    connector = services.connector_create(
        actor=owner, partner=owner.partner, project=project, kind="marketing_automation", name=name, features=features
    )
    key, secret = services.connector_key_create(actor=owner, connector=connector, name="production")
    return connector, key, secret.reveal()


def test_a_connector_key_works_on_per_app_and_project_routes_and_its_calls_are_attributed(api, owner):
    connector, _, secret = _connector(owner, api.app.project, ["custom_data", "trigger_events"])
    response = api.app_call("POST", "/data/users/alice", DATA, rest_key=secret)
    assert response.status_code == 202, response.content
    response = api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret, version="1.1")
    assert response.status_code == 202
    response = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "bob"}}], rest_key=secret)
    assert response.status_code == 202, response.content
    calls = ApiCall.objects.filter(connector=connector)
    assert sorted(calls.values_list("route", flat=True)) == ["custom_data.user", "events.user", "profiles.update"]
    # the customer's own key still works, and its calls are nobody's connector's
    assert api.app_call("POST", "/data/users/carol", DATA).status_code == 202
    assert ApiCall.objects.get(route="custom_data.user", connector=None).status_code == 202


def test_a_feature_the_connector_has_not_enabled_answers_403_api_misuse_naming_it(api, owner):
    connector, _, secret = _connector(owner, api.app.project, ["custom_data"])
    response = api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret)
    assert response.status_code == 403
    assert response.json()["code"] == 12
    assert "Trigger events" in response.json()["message"]
    # in /2.x the same refusal is a 400 API_MISUSE (Batch documents no 403 there), also for events in a profile
    body = [{"identifiers": {"custom_id": "bob"}, "events": [{"name": "opened"}]}]
    response = api.project_call("/profiles/update", body, rest_key=secret)
    assert response.status_code == 400
    assert response.json()["error_code"] == "API_MISUSE"
    assert "Trigger events" in response.json()["error_message"]
    refused = ApiCall.objects.filter(connector=connector, error_code="API_MISUSE")
    assert refused.count() == 2  # recorded, attributed: the connector's activity shows them
    # enabling the feature opens it at once
    services.connector_update(
        actor=owner, connector=connector, kind=connector.kind, name=connector.name,
        features=["custom_data", "trigger_events"],
    )  # fmt: skip
    assert api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret).status_code == 202


def test_a_connector_key_opens_only_its_own_project(api, owner):
    _, _, secret = _connector(owner, api.app.project, ["custom_data"])
    elsewhere = AppFactory(project=ProjectFactory(name="Other", customer=api.app.project.customer), platform="web")
    response = api.app_call("POST", "/data/users/alice", DATA, key=elsewhere.live_api_key, rest_key=secret)
    assert response.status_code == 401
    response = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "x"}}], project=elsewhere.project,
                                rest_key=secret)  # fmt: skip
    assert response.status_code == 401


def test_revoking_a_connector_key_affects_no_one_else(api, owner):
    connector, key, secret = _connector(owner, api.app.project, ["custom_data"])
    _, _, other_secret = _connector(owner, api.app.project, ["custom_data"], name="Analytics")
    _, second_secret = services.connector_key_create(actor=owner, connector=connector, name="staging")
    assert services.connector_key_revoke(actor=owner, key=key)
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 401
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=second_secret.reveal()).status_code == 202
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=other_secret).status_code == 202
    assert api.app_call("POST", "/data/users/alice", DATA).status_code == 202  # the customer's key
    assert not services.connector_key_revoke(actor=owner, key=key)  # twice: nothing more


def test_rotation_keeps_the_old_key_for_the_overlap_only(api, owner):
    _, key, secret = _connector(owner, api.app.project, ["custom_data"])
    new_secret = services.connector_key_rotate(actor=owner, key=key, overlap=dt.timedelta(hours=2)).reveal()
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 202
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=new_secret).status_code == 202
    key.refresh_from_db()
    key.expires_at = timezone.now() - dt.timedelta(seconds=1)
    key.save(update_fields=["expires_at"])  # the overlap ends (its save makes the API forget the key)
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 401
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=new_secret).status_code == 202


def test_a_paused_connector_s_keys_are_refused_until_it_resumes(api, owner, csm):
    connector, _, secret = _connector(owner, api.app.project, ["custom_data"])
    assert services.connector_pause(actor=csm, connector=connector, reason="flooding the API")
    response = api.app_call("POST", "/data/users/alice", DATA, rest_key=secret)
    assert response.status_code == 403
    assert "paused" in response.json()["message"]
    assert services.connector_resume(actor=owner, connector=connector)
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 202


def test_a_revoked_grant_stops_the_partner_s_connector_keys(api, owner):
    _, _, secret = _connector(owner, api.app.project, ["custom_data"])
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 202
    ProjectGrant.objects.filter(project=api.app.project, partner=owner.partner).delete()
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 401


def test_idempotency_keys_of_a_connector_are_its_own(api, owner):
    _, _, secret = _connector(owner, api.app.project, ["custom_data"])
    headers = {"Idempotency-Key": "same-key"}
    first = api.app_call("POST", "/data/users/alice", DATA, rest_key=secret, headers=headers)
    customer = api.app_call("POST", "/data/users/alice", DATA, headers=headers)
    assert first.status_code == customer.status_code == 202
    assert first.json()["token"] != customer.json()["token"]  # not a replay of another caller's answer
    assert "Idempotent-Replayed" not in customer


def test_a_paused_connector_spends_none_of_the_customer_s_rate_limit(api, owner, csm):
    from batchhub.api.limits import rate_window_count

    connector, _, secret = _connector(owner, api.app.project, ["custom_data"])
    services.connector_pause(actor=csm, connector=connector, reason="flooding")
    scope = f"app:{api.app.pk}"
    before = rate_window_count(scope)[0]
    for _ in range(3):
        assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 403
    assert rate_window_count(scope)[0] == before + 1  # only this look itself counted


def test_a_refused_feature_is_not_replayed_under_its_idempotency_key(api, owner):
    connector, _, secret = _connector(owner, api.app.project, ["custom_data"])
    headers = {"Idempotency-Key": "retry-me"}
    assert api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret, headers=headers).status_code == 403
    services.connector_update(actor=owner, connector=connector, kind=connector.kind, name=connector.name,
                              features=["custom_data", "trigger_events"])  # fmt: skip
    retried = api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret, headers=headers)
    assert retried.status_code == 202 and "Idempotent-Replayed" not in retried


def test_profile_api_asks_for_the_features_the_body_needs(api, owner):
    _, _, events_only = _connector(owner, api.app.project, ["trigger_events"])
    events = [{"identifiers": {"custom_id": "bob"}, "events": [{"name": "opened"}]}]
    assert api.project_call("/profiles/update", events, rest_key=events_only).status_code == 202
    attributes = [{"identifiers": {"custom_id": "bob"}, "attributes": {"tier": "gold"}}]
    refused = api.project_call("/profiles/update", attributes, rest_key=events_only)
    assert refused.status_code == 400 and "Custom data" in refused.json()["error_message"]


def test_a_key_without_profile_features_is_refused_before_it_spends_the_profile_rate(api, owner):

    _, _, gdpr_only = _connector(owner, api.app.project, ["gdpr"])
    body = [{"identifiers": {"custom_id": f"u{n}"}} for n in range(200)]
    for _ in range(6):  # 1,200 profiles: more than the burst of 1,000 the project's bucket holds
        assert api.project_call("/profiles/update", body, rest_key=gdpr_only).status_code == 400
    # the bucket is whole: the customer's own call passes
    assert api.project_call("/profiles/update", body).status_code == 202
