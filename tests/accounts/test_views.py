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


def test_wrong_password_is_refused_with_a_message(client, csm):
    response = client.post(reverse("accounts:login"), {"username": "csm", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client, csm):
    client.force_login(csm)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("accounts:home")).status_code == 302


def test_partner_home_lists_only_granted_projects(client, partner_user, project, other_project):
    client.force_login(partner_user)
    response = client.get(reverse("accounts:home"))
    assert project.name in response.text
    assert other_project.name not in response.text


def test_partner_without_grant_sees_an_empty_state(client, django_user_model):
    from tests.factories import UserFactory

    user = UserFactory.partner_user(username="lonely")
    client.force_login(user)
    response = client.get(reverse("accounts:home"))
    assert "No project is granted" in response.text


def test_csm_home_shows_worker_state(client, csm):
    from batchhub.core.services import worker_heartbeat_record

    client.force_login(csm)
    assert "No worker has reported yet" in client.get(reverse("accounts:home")).text
    worker_heartbeat_record(hostname="celery@box")
    response = client.get(reverse("accounts:home"))
    assert "celery@box" in response.text
    assert "dot-ok" in response.text


def test_health_check_answers_without_login(client):
    response = client.get(reverse("healthz"))
    assert response.status_code == 200
    assert response.json()["status"] == "ok"


def test_a_role_removed_takes_effect_on_the_next_request(client, csm):
    from django.contrib.auth.models import Group

    client.force_login(csm)
    assert client.get(reverse("core:audit_log")).status_code == 200
    csm.groups.remove(Group.objects.get(name="csm"))
    assert client.get(reverse("core:audit_log")).status_code == 404


def test_roles_come_with_the_user_in_one_query(client, csm):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.force_login(csm)
    with CaptureQueriesContext(connection) as captured:
        assert client.get(reverse("core:audit_log")).status_code == 200
    group_queries = [q["sql"] for q in captured.captured_queries if "auth_group" in q["sql"]]
    assert len(group_queries) == 1
    assert "accounts_user" in group_queries[0] and "EXISTS" in group_queries[0]
