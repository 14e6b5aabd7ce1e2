from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from django.utils import timezone

from batchhub.core.models import AuditEvent
from batchhub.projects.models import App, Project, ProjectGrant, RestApiKey
from tests.factories import PartnerFactory, ProjectFactory, RestApiKeyFactory

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


def test_csm_creates_a_project_and_sees_its_company_rest_key_once(client, csm):
    client.force_login(csm)
    response = client.post(reverse("projects:create"), {"name": "Initech", "customer": "Initech Inc"})
    project = Project.objects.get(name="Initech")
    assert response.status_code == 302
    assert response["Location"] == reverse("projects:detail", kwargs={"code": project.code})
    assert project.customer.name == "Initech Inc"
    key = RestApiKey.objects.get(customer=project.customer, project=None).secret.reveal()

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


def test_a_second_project_of_a_customer_shares_its_company_key(client, csm):
    client.force_login(csm)
    client.post(reverse("projects:create"), {"name": "Initech", "customer": "Initech Inc"})
    response = client.post(reverse("projects:create"), {"name": "Initech EU", "customer": " Initech Inc "})
    page = client.get(response["Location"])
    assert 'data-testid="revealed-secret"' not in page.text  # no new key: the company's key works here too
    assert Project.objects.filter(customer__name="Initech Inc").count() == 2
    assert RestApiKey.objects.filter(customer__name="Initech Inc").count() == 1


def test_csm_adds_an_app(client, csm, project):
    client.force_login(csm)
    response = client.post(
        reverse("projects:app_create", kwargs={"code": project.code}), {"name": "AcmeWeb", "platform": "web"}
    )
    assert response.status_code == 302
    app = App.objects.get(project=project, name="AcmeWeb")
    page = client.get(response["Location"])
    assert app.live_api_key in page.text
    assert app.dev_api_key in page.text and app.sdk_api_key in page.text


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


def test_csm_creates_a_narrowed_key_and_sees_it_once(client, csm, project):
    client.force_login(csm)
    url = reverse("projects:rest_key_create", kwargs={"code": project.code})
    response = client.post(url, {"name": "CRM sync", "scope": "project"})
    key = RestApiKey.objects.get(name="CRM sync")
    assert (key.customer_id, key.project_id) == (project.customer_id, project.pk)
    secret = key.secret.reveal()
    assert secret in client.get(response["Location"]).text
    page = client.get(response["Location"])
    assert secret not in page.text and secret[-4:] in page.text
    assert AuditEvent.objects.filter(action="restapikey.create", project_code=project.code).exists()


def test_a_key_form_without_a_name_is_refused(client, csm, project):
    client.force_login(csm)
    response = client.post(reverse("projects:rest_key_create", kwargs={"code": project.code}), {"scope": "nope"})
    assert response.status_code == 400
    assert "This field is required." in response.text
    assert not RestApiKey.objects.filter(customer=project.customer).exists()


def test_rotating_a_key_keeps_the_old_one_for_the_overlap_and_shows_the_new_one_once(client, csm, project):
    client.force_login(csm)
    key = RestApiKeyFactory(customer=project.customer)
    old = key.secret.reveal()
    url = reverse("projects:rest_key_rotate", kwargs={"code": project.code, "key_code": key.code})
    response = client.post(url, {"overlap_hours": 24})
    key.refresh_from_db()
    new_key = key.rotated_to
    assert new_key is not None and new_key.customer_id == key.customer_id and new_key.project_id is None
    assert key.revoked_at is None
    assert dt.timedelta(hours=23) < key.expires_at - timezone.now() <= dt.timedelta(hours=24)
    page = client.get(response["Location"])
    assert new_key.secret.reveal() in page.text
    assert old not in page.text
    event = AuditEvent.objects.get(action="restapikey.rotate")
    assert old not in str(event.changes) and new_key.secret.reveal() not in str(event.changes)


def test_rotating_with_no_overlap_and_revoking_stop_a_key_now(client, csm, project):
    client.force_login(csm)
    rotated, revoked = RestApiKeyFactory(customer=project.customer), RestApiKeyFactory(customer=project.customer)
    client.post(
        reverse("projects:rest_key_rotate", kwargs={"code": project.code, "key_code": rotated.code}),
        {"overlap_hours": 0},
    )
    client.post(reverse("projects:rest_key_revoke", kwargs={"code": project.code, "key_code": revoked.code}))
    rotated.refresh_from_db()
    revoked.refresh_from_db()
    assert rotated.revoked_at is not None and revoked.revoked_at is not None
    assert AuditEvent.objects.filter(action="restapikey.revoke").count() == 1


@pytest.mark.parametrize("hours", ["-1", "721", "soon"])
def test_a_bad_overlap_is_refused_and_the_key_is_untouched(client, csm, project, hours):
    client.force_login(csm)
    key = RestApiKeyFactory(customer=project.customer)
    url = reverse("projects:rest_key_rotate", kwargs={"code": project.code, "key_code": key.code})
    response = client.post(url, {"overlap_hours": hours})
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.rotated_to is None and key.expires_at is None and key.revoked_at is None


def test_keys_of_another_customer_or_project_cannot_be_reached(client, csm, project, other_project):
    client.force_login(csm)
    foreign = RestApiKeyFactory(customer=other_project.customer)
    sibling = ProjectFactory(customer=project.customer)
    narrowed_elsewhere = RestApiKeyFactory(customer=project.customer, project=sibling)
    for key in (foreign, narrowed_elsewhere):
        url = reverse("projects:rest_key_revoke", kwargs={"code": project.code, "key_code": key.code})
        assert client.post(url).status_code == 404
        key.refresh_from_db()
        assert key.revoked_at is None


def test_grant_and_revoke_a_partner(client, csm, project):
    client.force_login(csm)
    partner = PartnerFactory(name="Datacircle")
    client.post(reverse("projects:grant", kwargs={"code": project.code}), {"partner": str(partner.code)})
    assert ProjectGrant.objects.filter(project=project, partner=partner).exists()
    client.post(reverse("projects:revoke", kwargs={"code": project.code, "partner_code": partner.code}))
    assert not ProjectGrant.objects.filter(project=project, partner=partner).exists()
    actions = list(AuditEvent.objects.filter(project_code=project.code).values_list("action", flat=True))
    assert "project.grant" in actions and "project.revoke" in actions


def test_a_grant_of_an_unknown_partner_says_so(client, csm, project):
    client.force_login(csm)
    response = client.post(
        reverse("projects:grant", kwargs={"code": project.code}),
        {"partner": "00000000-0000-0000-0000-000000000000"},
        follow=True,
    )
    assert "That partner no longer exists" in response.text
    assert not ProjectGrant.objects.filter(project=project).exists()


def test_a_second_grant_says_nothing_changed(client, csm, project, partner):
    client.force_login(csm)
    url = reverse("projects:grant", kwargs={"code": project.code})
    response = client.post(url, {"partner": str(partner.code)}, follow=True)
    assert "already has access" in response.text
    assert ProjectGrant.objects.filter(project=project, partner=partner).count() == 1
    assert not AuditEvent.objects.filter(action="project.grant").exists()


def test_partner_sees_no_rest_key_and_no_management(client, project, partner_user):
    key = RestApiKeyFactory(customer=project.customer)
    client.force_login(partner_user)
    response = client.get(reverse("projects:detail", kwargs={"code": project.code}))
    assert key.secret.reveal() not in response.text
    assert key.secret.reveal()[-4:] not in response.text
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
    key = RestApiKey.objects.get(customer__name="Initech Inc").secret.reveal()
    elsewhere = client.get(reverse("projects:detail", kwargs={"code": other_project.code}))
    assert key not in elsewhere.text
    assert key in client.get(response["Location"]).text


def test_dumpdata_and_loaddata_keep_secrets_encrypted_and_intact(project, tmp_path):
    from django.core.management import call_command

    rest_key = RestApiKeyFactory(customer=project.customer)
    key = rest_key.secret.reveal()
    dump = tmp_path / "projects.json"
    call_command("dumpdata", "projects.restapikey", output=str(dump))
    assert key not in dump.read_text()
    RestApiKey.objects.filter(pk=rest_key.pk).update(secret="")
    call_command("loaddata", str(dump))
    rest_key.refresh_from_db()
    assert rest_key.secret.reveal() == key


def test_a_customer_is_one_company_whatever_the_case(client, csm):
    client.force_login(csm)
    client.post(reverse("projects:create"), {"name": "Initech", "customer": "Initech Inc"})
    client.post(reverse("projects:create"), {"name": "Initech EU", "customer": "INITECH inc"})
    assert {project.customer.name for project in Project.objects.all()} == {"Initech Inc"}
