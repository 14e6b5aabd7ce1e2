from __future__ import annotations

import pytest
from django.urls import reverse

from batchhub.core.models import AuditEvent
from batchhub.projects.models import App, Project, ProjectGrant
from tests.factories import PartnerFactory

pytestmark = pytest.mark.portable


def test_project_list_shows_only_granted_projects_to_a_partner(client, project, other_project, partner_user):
    client.force_login(partner_user)
    response = client.get(reverse("projects:list"))
    assert response.status_code == 200
    assert project.name in response.text
    assert other_project.name not in response.text


def test_project_list_shows_every_project_to_a_csm(client, project, other_project, csm):
    client.force_login(csm)
    response = client.get(reverse("projects:list"))
    assert project.name in response.text
    assert other_project.name in response.text


def test_project_list_search_answers_the_table_partial_to_htmx(client, project, other_project, csm):
    client.force_login(csm)
    response = client.get(reverse("projects:list"), {"q": "globex"}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "<html" not in response.text
    assert 'id="project-table"' in response.text
    assert other_project.name in response.text
    assert project.name not in response.text


def test_csm_creates_a_project_and_sees_its_rest_key_once(client, csm):
    client.force_login(csm)
    response = client.post(reverse("projects:create"), {"name": "Initech", "customer": "Initech Inc"})
    project = Project.objects.get(name="Initech")
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:detail", kwargs={"code": project.code})
    key = project.rest_api_key.reveal()

    first = client.get(response["Location"])
    assert key in first.text
    assert "no-store" in first["Cache-Control"]
    second = client.get(response["Location"])
    assert key not in second.text
    assert key[-4:] in second.text  # the masked form keeps the last characters
    assert AuditEvent.objects.filter(action="project.create", project_code=project.code).exists()


def test_project_create_form_reports_missing_fields(client, csm):
    client.force_login(csm)
    response = client.post(reverse("projects:create"), {"name": ""})
    assert response.status_code == 200
    assert "This field is required." in response.text
    assert not Project.objects.exists()


def test_csm_adds_an_app(client, csm, project):
    client.force_login(csm)
    response = client.post(
        reverse("projects:app_create", kwargs={"code": project.code}), {"name": "AcmeWeb", "platform": "web"}
    )
    assert response.status_code == 302
    app = App.objects.get(project=project, name="AcmeWeb")
    page = client.get(response["Location"])
    assert app.rest_api_key.reveal() in page.text
    assert app.live_api_key in page.text


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ({"name": "Acme/Shop", "platform": "ios"}, "letters, digits"),
        ({"name": "AcmeShop", "platform": "windows"}, "Select a valid choice"),
        ({"name": "AcmeShop", "platform": "ios"}, "already exists"),
    ],
)
def test_app_form_errors_are_shown_and_nothing_is_created(client, csm, project, payload, message):
    client.force_login(csm)
    before = App.objects.count()
    response = client.post(reverse("projects:app_create", kwargs={"code": project.code}), payload)
    assert response.status_code == 400
    assert message in response.text
    assert App.objects.count() == before


def test_rotating_an_app_key_replaces_it_and_shows_the_new_one_once(client, csm, project):
    client.force_login(csm)
    app = project.apps.first()
    old = app.rest_api_key.reveal()
    response = client.post(reverse("projects:app_rotate_key", kwargs={"code": project.code, "app_code": app.code}))
    app.refresh_from_db()
    new = app.rest_api_key.reveal()
    assert new != old
    assert not app.rest_api_key.matches(old)
    page = client.get(response["Location"])
    assert new in page.text
    assert old not in page.text
    event = AuditEvent.objects.get(action="app.rest_key_rotate")
    assert old not in str(event.changes) and new not in str(event.changes)


def test_rotating_the_project_key(client, csm, project):
    client.force_login(csm)
    old = project.rest_api_key.reveal()
    client.post(reverse("projects:rotate_key", kwargs={"code": project.code}))
    project.refresh_from_db()
    assert not project.rest_api_key.matches(old)


def test_inactivity_can_be_shortened(client, csm, project):
    client.force_login(csm)
    response = client.post(reverse("projects:inactivity", kwargs={"code": project.code}), {"inactivity_months": 6})
    assert response.status_code == 302
    project.refresh_from_db()
    assert project.inactivity_months == 6
    event = AuditEvent.objects.get(action="project.inactivity_shorten")
    assert event.changes == {"inactivity_months": [13, 6]}


@pytest.mark.parametrize(
    ("months", "message"),
    [(13, "can only be shortened"), (14, "less than or equal to 13"), (0, "greater than or equal to 1")],
)
def test_inactivity_cannot_grow_or_leave_bounds(client, csm, project, months, message):
    client.force_login(csm)
    response = client.post(reverse("projects:inactivity", kwargs={"code": project.code}), {"inactivity_months": months})
    assert response.status_code == 400
    assert message in response.text
    project.refresh_from_db()
    assert project.inactivity_months == 13


def test_inactivity_cannot_grow_back_after_shortening(client, csm, project):
    client.force_login(csm)
    url = reverse("projects:inactivity", kwargs={"code": project.code})
    client.post(url, {"inactivity_months": 6})
    response = client.post(url, {"inactivity_months": 9})
    assert response.status_code == 400
    assert "it is 6 months" in response.text


def test_grant_and_revoke_a_partner(client, csm, project):
    client.force_login(csm)
    partner = PartnerFactory(name="Datacircle")
    client.post(reverse("projects:grant", kwargs={"code": project.code}), {"partner": str(partner.code)})
    assert ProjectGrant.objects.filter(project=project, partner=partner).exists()
    client.post(reverse("projects:revoke", kwargs={"code": project.code, "partner_code": partner.code}))
    assert not ProjectGrant.objects.filter(project=project, partner=partner).exists()
    actions = list(AuditEvent.objects.filter(project_code=project.code).values_list("action", flat=True))
    assert "project.grant" in actions and "project.revoke" in actions


def test_grant_of_unknown_partner_is_404(client, csm, project):
    client.force_login(csm)
    response = client.post(
        reverse("projects:grant", kwargs={"code": project.code}),
        {"partner": "00000000-0000-0000-0000-000000000000"},
    )
    assert response.status_code == 404


def test_partner_sees_masked_keys_and_no_management(client, project, partner_user):
    client.force_login(partner_user)
    response = client.get(reverse("projects:detail", kwargs={"code": project.code}))
    app = project.apps.first()
    assert app.rest_api_key.reveal() not in response.text
    assert project.rest_api_key.reveal() not in response.text
    assert "Rotate" not in response.text
    assert "Shorten" not in response.text


def test_project_search_never_reaches_ungranted_projects(client, project, other_project, partner_user):
    client.force_login(partner_user)
    response = client.get(reverse("projects:list"), {"q": "Globex"})
    assert other_project.name not in response.text
    response = client.get(reverse("projects:list"), {"q": "acme"})
    assert [p.name for p in response.context["projects"]] == [project.name]


def test_a_new_key_is_revealed_only_on_its_own_project_page(client, csm, other_project):
    client.force_login(csm)
    response = client.post(reverse("projects:create"), {"name": "Initech", "customer": "Initech Inc"})
    key = Project.objects.get(name="Initech").rest_api_key.reveal()
    elsewhere = client.get(reverse("projects:detail", kwargs={"code": other_project.code}))
    assert key not in elsewhere.text
    assert key in client.get(response["Location"]).text


def test_dumpdata_and_loaddata_keep_secrets_encrypted_and_intact(project, tmp_path):
    from django.core.management import call_command

    key = project.rest_api_key.reveal()
    dump = tmp_path / "projects.json"
    call_command("dumpdata", "projects.project", output=str(dump))
    assert key not in dump.read_text()
    Project.objects.filter(pk=project.pk).update(rest_api_key="")
    call_command("loaddata", str(dump))
    project.refresh_from_db()
    assert project.rest_api_key.reveal() == key


def test_project_page_shows_api_activity_and_token_status(client, csm, project):
    import uuid

    from django.utils import timezone

    from batchhub.projects.models import ApiCall

    now = timezone.now()
    token = uuid.uuid4()
    ApiCall.objects.create(project=project, route="events.user", status_code=202, token=token, created_at=now,
                           apply_status="applied", counts={"events": 3})  # fmt: skip
    ApiCall.objects.create(project=project, route="events.user", status_code=400, created_at=now,
                           error_code="MALFORMED_PARAMETER", error_message="events[0].name must be 'ue.'…")  # fmt: skip
    client.force_login(csm)
    page = client.get(reverse("projects:detail", kwargs={"code": project.code}))
    activity = page.context["api_activity"]
    assert (activity["calls"], activity["errors"]) == (2, 1)
    assert activity["routes"][0]["error_rate"] == 0.5
    assert "events[0].name must be" in page.text
    found = client.get(reverse("projects:api_call_lookup", kwargs={"code": project.code}), {"token": str(token)})
    assert found["Location"] == reverse("projects:api_call", kwargs={"code": project.code, "token": token})
    detail = client.get(found["Location"])
    assert "Applied" in detail.text and "events: 3" in detail.text
    missing = client.get(reverse("projects:api_call_lookup", kwargs={"code": project.code}), {"token": "nope"})
    assert missing.status_code == 302
