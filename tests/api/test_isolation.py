"""Every REST route refuses another project's keys, and writes nothing when it does."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, get_resolver

from batchhub.api.models import ApiCall
from batchhub.campaigns.models import Campaign
from batchhub.core.models import AuditEvent
from batchhub.profiles.models import Profile
from tests.factories import CampaignFactory, company_rest_key

CAMPAIGN = "c0ffee" * 5 + "00"  # a campaign token of the caller's app (the `campaign` fixture)
# operation -> (method, path after the version, body)
OPERATIONS = {
    "custom_data_user": ("POST", "/data/users/alice", {"values": {"u.plan": "gold"}}),
    "custom_data_user_delete": ("DELETE", "/data/users/alice", None),
    "custom_data_bulk": ("POST", "/data/users", [{"id": "alice", "update": {"values": {"u.plan": "gold"}}}]),
    "custom_data_bulk_delete": ("DELETE", "/data/users", ["alice"]),
    "events_user": ("POST", "/events/users/alice", {"events": [{"name": "ue.opened"}]}),
    "events_bulk": ("POST", "/events/users", [{"id": "alice", "events": [{"name": "ue.opened"}]}]),
    "profiles_update": ("POST", "/profiles/update", [{"identifiers": {"custom_id": "alice"}}]),
    "profiles_mass_update": ("POST", "/profiles/mass-update", [{"identifiers": {"custom_id": "alice"}}]),
    "campaigns_create": (
        "POST",
        "/campaigns/create",
        {"name": "n", "live": False, "push_time": "now", "messages": [{"language": "en", "body": "b"}]},
    ),
    "campaigns_update": ("POST", f"/campaigns/update/{CAMPAIGN}", {"live": True}),
    "campaigns_delete": ("POST", f"/campaigns/delete/{CAMPAIGN}", None),
    "campaigns_get": ("GET", f"/campaigns/{CAMPAIGN}", None),
    "campaigns_list": ("GET", "/campaigns/list", None),
    "campaigns_stats": ("GET", f"/campaigns/stats/{CAMPAIGN}", None),
    "transactional_send": (
        "POST",
        "/transactional/send",
        {"group_id": "welcome", "recipients": {"custom_ids": ["alice"]}, "message": {"body": "Hi"}},
    ),
    "transactional_stats": ("GET", "/transactional/stats/welcome", None),
}
PROJECT_OPERATIONS = {"profiles_update", "profiles_mass_update"}
# what each route answers when accepted (else 202, or 200 for a DELETE)
STATUSES = {"campaigns_create": 201, "transactional_send": 201} | dict.fromkeys(
    ("campaigns_update", "campaigns_delete", "campaigns_get", "campaigns_list", "campaigns_stats",
     "transactional_stats"), 200
)  # fmt: skip


@pytest.fixture(autouse=True)
def campaign(api_app):
    """The campaign the campaigns routes name: the caller's own (another project's keys must not reach it)."""
    return CampaignFactory(project=api_app.project, app=api_app, token=CAMPAIGN)


def _api_route_names() -> set[str]:
    for pattern in get_resolver().url_patterns:
        if getattr(pattern, "namespace", None) == "api":
            return {p.name for p in pattern.url_patterns if isinstance(p, URLPattern) and p.name}
    return set()


def test_every_api_route_is_in_the_matrix():
    documentation = {"openapi-json", "openapi-view", "api-root"}  # ninja's own; "/" stays the dashboard
    assert _api_route_names() - documentation == set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_another_customers_keys_are_refused_everywhere(api, other_app, campaign, name):
    method, path, body = OPERATIONS[name]
    if name in PROJECT_OPERATIONS:
        # the project key is ours, the REST key belongs to the other project
        response = api.project_call(path, body, rest_key=company_rest_key(other_app.project))
        assert response.json()["error_code"] == "AUTHENTICATION_INVALID"
    else:
        response = api.app_call(method, path, body, rest_key=company_rest_key(other_app.project))
        assert response.json()["code"] == 10
    assert response.status_code == 401
    assert not ApiCall.objects.exists()
    assert not Profile.objects.exists()
    assert Campaign.objects.get() == campaign and not campaign.is_live and campaign.deleted_at is None
    assert AuditEvent.objects.filter(action="api.auth_failed", project_code=api.app.project.code).exists()


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_own_keys_are_accepted_everywhere(api, name):
    method, path, body = OPERATIONS[name]
    response = api.project_call(path, body) if name in PROJECT_OPERATIONS else api.app_call(method, path, body)
    assert response.status_code == STATUSES.get(name, 200 if method == "DELETE" else 202), response.content


# what each route needs a connector to have enabled
ROUTE_FEATURES = {
    "custom_data_user": "custom_data",
    "custom_data_user_delete": "custom_data",
    "custom_data_bulk": "custom_data",
    "custom_data_bulk_delete": "custom_data",
    "events_user": "trigger_events",
    "events_bulk": "trigger_events",
    "profiles_update": "custom_data",
    "profiles_mass_update": "custom_data",
    # partners use the Campaigns API for the drafts they send as templates
    "campaigns_create": "transactional",
    "campaigns_update": "transactional",
    "campaigns_delete": "transactional",
    "campaigns_get": "transactional",
    "campaigns_list": "transactional",
    "campaigns_stats": "transactional",
    "transactional_send": "transactional",
    "transactional_stats": "transactional",
}


def _connector_key(project, features) -> str:
    from batchhub.connectors.models import Connector, ConnectorKey
    from tests.factories import GrantFactory, PartnerFactory

    partner = PartnerFactory()
    GrantFactory(project=project, partner=partner)
    connector = Connector.objects.create(partner=partner, project=project, kind="cdp_dmp", name="c", features=features)
    return ConnectorKey.objects.create(connector=connector, name="k").secret.reveal()


def _call(api, name: str, rest_key: str):
    method, path, body = OPERATIONS[name]
    if name in PROJECT_OPERATIONS:
        return api.project_call(path, body, rest_key=rest_key)
    return api.app_call(method, path, body, rest_key=rest_key)


def test_every_api_route_names_its_feature():
    assert set(ROUTE_FEATURES) == set(OPERATIONS)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_another_projects_connector_key_is_refused_everywhere(api, other_app, campaign, name):
    response = _call(api, name, _connector_key(other_app.project, list(set(ROUTE_FEATURES.values()))))
    assert response.status_code == 401
    assert not ApiCall.objects.exists() and not Profile.objects.exists()
    assert Campaign.objects.filter(is_live=False, deleted_at__isnull=True).get() == campaign


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_a_connector_key_is_accepted_with_the_routes_feature_only(api, name):
    feature = ROUTE_FEATURES[name]
    response = _call(api, name, _connector_key(api.app.project, [feature]))
    assert response.status_code in (200, 201, 202), response.content
    others = [other for other in set(ROUTE_FEATURES.values()) if other != feature] + ["gdpr"]
    refused = _call(api, name, _connector_key(api.app.project, others))
    assert refused.status_code == (400 if name in PROJECT_OPERATIONS else 403)
    assert ApiCall.objects.filter(error_code="API_MISUSE").count() == 1
