"""The per-role home page (dashboard:home)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import PASSWORD

pytestmark = pytest.mark.portable


@pytest.mark.parametrize(
    ("fixture", "heading"),
    [("csm", "Good to see you"), ("privacy_admin", "Open requests"), ("partner_user", "Pushwave")],
)
def test_login_lands_on_the_home_of_the_role(client, request, fixture, heading, project):
    user = request.getfixturevalue(fixture)
    response = client.post(reverse("accounts:login"), {"username": user.username, "password": PASSWORD}, follow=True)
    assert response.status_code == 200
    assert heading in response.text


def test_partner_home_lists_only_granted_projects(client, partner_user, project, other_project):
    client.force_login(partner_user)
    response = client.get(reverse("dashboard:home"))
    assert project.name in response.text
    assert other_project.name not in response.text


def test_partner_without_grant_sees_an_empty_state(client, django_user_model):
    from tests.factories import UserFactory

    user = UserFactory.partner_user(username="lonely")
    client.force_login(user)
    response = client.get(reverse("dashboard:home"))
    assert "No project is granted" in response.text


def test_csm_home_shows_worker_state(client, csm):
    from batchhub.core.services import worker_heartbeat_record

    client.force_login(csm)
    assert "No worker has reported yet" in client.get(reverse("dashboard:home")).text
    worker_heartbeat_record(hostname="celery@box")
    response = client.get(reverse("dashboard:home"))
    assert "celery@box" in response.text
    assert "dot-ok" in response.text


def test_csm_home_counts_live_projects_their_apps_and_every_partner(client, csm, project, other_project, partner):
    from django.utils import timezone

    from tests.factories import AppFactory, ProjectFactory

    AppFactory(project=ProjectFactory(name="Going away", deleting_since=timezone.now()), platform="web")
    client.force_login(csm)
    stats = client.get(reverse("dashboard:home")).context["stats"]
    assert (stats["projects"], stats["apps"], stats["partners"]) == (2, 3, 1)  # the project being deleted is gone
    assert isinstance(stats["profiles"], int)


def test_the_navigation_marks_the_current_section(client, csm, project):
    client.force_login(csm)
    home = client.get(reverse("dashboard:home")).text
    assert f'<a href="{reverse("dashboard:home")}" aria-current="page">Home</a>' in home
    profiles = client.get(reverse("profiles:list", kwargs={"code": project.code})).text
    assert f'<a href="{reverse("projects:list")}" aria-current="page">Projects</a>' in profiles


def test_a_user_without_a_role_is_told_so(client, django_user_model):
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    assert "Your account has no role yet." in client.get(reverse("dashboard:home")).text
