"""Every URL the site serves, tried by the owner and by users who must not reach it.

The route table below must name every URL pattern: a new view without a row here fails the suite.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.factories import (
    CampaignFactory,
    ConnectorFactory,
    ConnectorKeyFactory,
    DestinationFactory,
    ProfileFactory,
    RestApiKeyFactory,
    SourceFactory,
)

pytestmark = pytest.mark.portable


@dataclass(frozen=True)
class Route:
    method: str
    # what the URL names: "", "project", "rest_key", "profile", "grant", "api_call", "retention_run", "connector",
    # "connector_key", "destination", "source", "export", "export_run", "export_backfill" (a connector is the
    # granted partner's, on the project), "campaign" (a draft of the project), "picker_draft" (the connector and a
    # draft of its project), "project_draft" (the project and one of its drafts), "binding" (a template binding of the
    # connector)
    kwargs: str
    allowed: tuple[str, ...]  # roles that may use it on a project they can see
    public: bool = False  # reachable without logging in
    ok: int = 200  # what an allowed user gets


STAFF = ("csm", "privacy_admin")
ALL = ("csm", "privacy_admin", "partner")
OWNER = ("partner",)  # the connector's own partner only

ROUTES: dict[str, Route] = {
    "dashboard:home": Route("GET", "", ALL),
    "accounts:login": Route("GET", "", ALL, public=True),
    "accounts:logout": Route("POST", "", ALL, public=True),
    "projects:list": Route("GET", "", ALL),
    "projects:create": Route("GET", "", ("csm",)),
    "projects:detail": Route("GET", "project", ALL),
    "projects:app_create": Route("POST", "project", ("csm",)),
    "projects:rest_key_create": Route("POST", "project", ("csm",)),
    "projects:rest_key_rotate": Route("POST", "rest_key", ("csm",)),
    "projects:rest_key_revoke": Route("POST", "rest_key", ("csm",)),
    "projects:grant": Route("POST", "project", ("csm",)),
    "projects:revoke": Route("POST", "grant", ("csm",)),
    "api_calls:activity": Route("GET", "project", ALL),
    "api_calls:lookup": Route("GET", "project", ALL, ok=302),  # redirects back with a message
    "api_calls:detail": Route("GET", "api_call", ALL),
    "profiles:list": Route("GET", "project", ALL),
    "profiles:detail": Route("GET", "profile", ALL),
    "profiles:panel": Route("GET", "project", ALL),  # a project page panel (projects/panels.py)
    "profiles:purge_panel": Route("GET", "project", STAFF),  # another panel
    "profiles:purge_history": Route("GET", "project", STAFF),
    "profiles:purge_shorten_preview": Route("GET", "project", ("csm",), ok=400),  # no period asked: a form error
    "profiles:purge_shorten": Route("POST", "project", ("csm",)),
    "profiles:purge_shorten_cancel": Route("POST", "project", ("csm",)),
    "core:audit_log": Route("GET", "", STAFF),
    "core:retention": Route("GET", "", ("csm",)),
    "core:retention_start": Route("POST", "", ("csm",), ok=302),
    "core:retention_progress": Route("GET", "retention_run", ("csm",)),
    "healthz": Route("GET", "", ALL, public=True),
    "connectors:list": Route("GET", "", ALL),
    "connectors:create": Route("GET", "", OWNER),
    "connectors:panel": Route("GET", "project", ALL),
    "connectors:detail": Route("GET", "connector", ALL),  # a privacy admin sees the summary only
    "connectors:edit": Route("GET", "connector", OWNER),
    "connectors:pause": Route("POST", "connector", ("csm", "partner"), ok=302),
    "connectors:resume": Route("POST", "connector", ("csm", "partner"), ok=302),
    "connectors:delete": Route("GET", "connector", OWNER),
    "connectors:key_create": Route("POST", "connector", OWNER, ok=302),
    "connectors:key_rotate": Route("POST", "connector_key", OWNER, ok=302),
    "connectors:key_revoke": Route("POST", "connector_key", OWNER, ok=302),
    "connectors:destination_create": Route("GET", "connector", OWNER),
    "connectors:destination_edit": Route("GET", "destination", OWNER),
    "connectors:destination_test": Route("POST", "destination", OWNER, ok=302),
    "connectors:destination_delete": Route("POST", "destination", OWNER, ok=302),
    "connectors:source_create": Route("GET", "connector", OWNER),
    "connectors:source_edit": Route("GET", "source", OWNER),
    "connectors:source_test": Route("POST", "source", OWNER, ok=302),
    "connectors:source_delete": Route("POST", "source", OWNER, ok=302),
    "connectors:export_create": Route("GET", "connector", OWNER),
    "connectors:export_edit": Route("GET", "export", ("csm", "partner")),  # a CSM sees it without its forms
    "connectors:export_delete": Route("POST", "export", OWNER, ok=302),
    "connectors:export_run": Route("POST", "export", OWNER, ok=302),
    "connectors:export_run_detail": Route("GET", "export_run", ("csm", "partner")),
    "connectors:export_run_progress": Route("GET", "export_run", ("csm", "partner")),
    "connectors:export_backfill": Route("POST", "export", OWNER, ok=400),  # no days given: a form error
    "connectors:export_backfill_progress": Route("GET", "export_backfill", ("csm", "partner")),
    # campaigns: a CSM writes them; a partner reads the drafts of projects where it has a connector (the matrix's
    # partner has one); a privacy admin has no campaign screens
    "campaigns:index": Route("GET", "", ("csm", "partner")),
    "campaigns:list": Route("GET", "project", ("csm", "partner")),
    "campaigns:create": Route("GET", "project", ("csm",)),
    "campaigns:preview": Route("POST", "project", ("csm",)),
    "campaigns:detail": Route("GET", "campaign", ("csm", "partner")),  # a draft
    "campaigns:edit": Route("GET", "campaign", ("csm",)),
    "campaigns:delete": Route("GET", "campaign", ("csm",)),
    # the template picker: the connector's own partner only (a CSM reads drafts on the campaign pages instead)
    "campaigns:picker": Route("GET", "connector", OWNER),
    "campaigns:picker_preview": Route("GET", "picker_draft", OWNER),
    "campaigns:picker_bind": Route("POST", "connector", OWNER),
    "campaigns:picker_bindings": Route("GET", "connector", OWNER),
    "campaigns:picker_binding_refresh": Route("POST", "binding", OWNER),
    "campaigns:picker_binding_delete": Route("POST", "binding", OWNER),
    "campaigns:panel": Route("GET", "project", ("csm",)),
    # a project's picker: a CSM browses drafts and every connector's bindings, read-only
    "campaigns:project_picker": Route("GET", "project", ("csm",)),
    "campaigns:project_picker_preview": Route("GET", "project_draft", ("csm",)),
}
CONNECTOR_KWARGS = (
    "connector", "connector_key", "destination", "source", "export", "export_run", "export_backfill", "picker_draft",
    "binding",
)  # fmt: skip


def _named_routes(resolver=None, namespace: str = "") -> set[str]:
    names: set[str] = set()
    for pattern in (resolver or get_resolver()).url_patterns:
        if isinstance(pattern, URLResolver):
            if pattern.namespace == "admin":
                continue  # the Django admin: staff only, checked in test_admin_is_staff_only
            if pattern.namespace == "api":
                continue  # key-authenticated REST API: its own matrix in tests/api/test_isolation.py
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            names |= _named_routes(pattern, inner)
        elif isinstance(pattern, URLPattern):
            assert pattern.name, f"URL pattern {pattern.pattern} has no name"
            names.add(f"{namespace}{pattern.name}")
    return names


def test_every_url_is_in_the_matrix():
    assert _named_routes() == set(ROUTES)


def _url(name: str, route: Route, project, partner) -> str:
    profile = ProfileFactory(project=project)
    connector = ConnectorFactory(project=project, partner=partner)
    kwargs = {
        "connector": {"code": connector.code},
        "connector_key": {"code": connector.code, "key_code": ConnectorKeyFactory(connector=connector).code},
        "destination": {"code": connector.code, "storage_code": DestinationFactory(connector=connector).code},
        "source": {"code": connector.code, "storage_code": SourceFactory(connector=connector).code},
        "export": {"code": connector.code, "export_code": _export_config(connector, project).code},
        "export_run": _export_run(connector, project),
        "export_backfill": _export_backfill(connector, project),
        "": {},
        "project": {"code": project.code},
        "rest_key": {"code": project.code, "key_code": RestApiKeyFactory(customer=project.customer).code},
        "profile": {"code": project.code, "profile_code": profile.code},
        "grant": {"code": project.code, "partner_code": partner.code},
        "api_call": {"code": project.code, "token": _api_call(project, connector).token},
        "retention_run": {"run_id": _retention_run().pk},
        "campaign": {"code": CampaignFactory(project=project).code},
        "picker_draft": {"code": connector.code, "campaign_code": CampaignFactory(project=project).code},
        "project_draft": {"code": project.code, "campaign_code": CampaignFactory(project=project).code},
        "binding": {"code": connector.code, "binding_code": _binding(connector, project).code},
    }[route.kwargs]
    return reverse(name, kwargs=kwargs)


def _binding(connector, project):
    from batchhub.campaigns.models import TemplateBinding

    campaign = CampaignFactory(project=project)
    return TemplateBinding.objects.create(connector=connector, scenario="welcome", campaign=campaign,
                                          content_fingerprint="")  # fmt: skip


def _export_config(connector, project):
    from batchhub.connectors.models import ExportConfig

    config = ExportConfig.objects.filter(connector=connector, kind="userbase").first()
    return config or ExportConfig.objects.create(connector=connector, app=project.apps.first(), kind="userbase",
                                                 destination=DestinationFactory(connector=connector))  # fmt: skip


def _export_run(connector, project) -> dict:
    import datetime as dt

    config = _export_config(connector, project)
    run = config.runs.create(day=dt.date(2026, 12, 1))
    return {"code": connector.code, "export_code": config.code, "day": run.day}


def _export_backfill(connector, project) -> dict:
    import datetime as dt

    config = _export_config(connector, project)
    backfill = config.backfills.create(first_day=dt.date(2026, 11, 1), last_day=dt.date(2026, 11, 30))
    return {"code": connector.code, "export_code": config.code, "backfill_code": backfill.code}


def _retention_run():
    from batchhub.core.models import RetentionRun

    return RetentionRun.objects.create()


def _api_call(project, connector):
    """A call made with the partner's connector's key: the partner sees it (a CSM sees every call)."""
    import uuid

    from django.utils import timezone

    from batchhub.api.models import ApiCall

    return ApiCall.objects.create(
        project=project,
        connector=connector,
        route="events.user",
        status_code=202,
        token=uuid.uuid4(),
        created_at=timezone.now(),
    )


def _call(client, route: Route, url: str):
    return client.get(url) if route.method == "GET" else client.post(url, {})


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.kwargs))
def test_outsider_gets_404_on_another_partners_project(client, name, project, partner, outsider):
    """A partner user whose partner was not granted the project cannot tell it exists."""
    route = ROUTES[name]
    client.force_login(outsider)
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.kwargs))
def test_user_without_role_gets_404(client, name, project, partner, django_user_model):
    route = ROUTES[name]
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if not r.public))
def test_anonymous_is_sent_to_login(client, name, project, partner):
    route = ROUTES[name]
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("accounts:login"))


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if "partner" not in r.allowed))
def test_granted_partner_cannot_use_staff_routes(client, name, project, partner, partner_user):
    route = ROUTES[name]
    client.force_login(partner_user)
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if "privacy_admin" not in r.allowed))
def test_privacy_admin_cannot_manage_projects(client, name, project, partner, privacy_admin):
    route = ROUTES[name]
    client.force_login(privacy_admin)
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == 404


@pytest.mark.parametrize(
    ("role", "name"),
    sorted((role, n) for n, r in ROUTES.items() if r.method == "GET" and not r.public for role in r.allowed),
)
def test_allowed_roles_reach_the_page(client, request, role, name, project, partner):
    route = ROUTES[name]
    user = request.getfixturevalue({"partner": "partner_user"}.get(role, role))
    client.force_login(user)
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == route.ok


def test_admin_is_staff_only(client, partner_user, csm):
    client.force_login(partner_user)
    response = client.get(reverse("admin:index"))
    assert response.status_code == 302
    assert "/admin/login/" in response["Location"]
    response = client.get(reverse("admin:projects_project_changelist"))
    assert response.status_code == 302


def test_a_key_of_another_customer_cannot_be_reached_through_a_visible_project(client, csm, project, other_project):
    foreign_key = RestApiKeyFactory(customer=other_project.customer)
    client.force_login(csm)
    url = reverse("projects:rest_key_rotate", kwargs={"code": project.code, "key_code": foreign_key.code})
    assert client.post(url, {"overlap_hours": 0}).status_code == 404
    foreign_key.refresh_from_db()
    assert foreign_key.rotated_to is None and foreign_key.revoked_at is None


def test_a_partner_sees_only_its_own_grant(client, project, partner, partner_user):
    from tests.factories import GrantFactory, PartnerFactory

    GrantFactory(project=project, partner=PartnerFactory(name="Competitor Inc"))
    client.force_login(partner_user)
    response = client.get(reverse("projects:detail", kwargs={"code": project.code}))
    assert "Pushwave" in response.text
    assert "Competitor Inc" not in response.text


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if "csm" not in r.allowed and r.kwargs))
def test_csm_cannot_use_a_partners_own_routes(client, name, project, partner, csm, settings, tmp_path):
    """A CSM sees every connector and may pause it, but configures none: keys, storage and edits are the partner's."""
    settings.STORAGE_LOCAL_ROOT = tmp_path
    route = ROUTES[name]
    client.force_login(csm)
    response = _call(client, route, _url(name, route, project, partner))
    assert response.status_code == 404


@pytest.mark.parametrize("name", sorted(n for n, r in ROUTES.items() if r.kwargs in CONNECTOR_KWARGS))
def test_another_partner_on_the_same_project_cannot_reach_the_connector(client, name, project, partner):
    """Two partners granted the same project: neither sees nor changes the other's connectors, keys or storage."""
    from batchhub.connectors.models import Connector, ConnectorKey
    from tests.factories import GrantFactory, PartnerFactory, UserFactory

    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    route = ROUTES[name]
    url = _url(name, route, project, partner)
    before = list(Connector.objects.values_list("status", "name")), ConnectorKey.objects.filter(revoked_at=None).count()
    client.force_login(UserFactory.partner_user(partner=rival, username="rival"))
    response = _call(client, route, url)
    assert response.status_code == 404
    after = list(Connector.objects.values_list("status", "name")), ConnectorKey.objects.filter(revoked_at=None).count()
    assert after == before
