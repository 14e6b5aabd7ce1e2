from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.portable


def test_wrong_password_is_refused_with_a_message(client, csm):
    response = client.post(reverse("accounts:login"), {"username": "csm", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password" in response.text
    assert "_auth_user_id" not in client.session


def test_logout_ends_the_session(client, csm):
    client.force_login(csm)
    response = client.post(reverse("accounts:logout"))
    assert response.status_code == 302
    assert client.get(reverse("dashboard:home")).status_code == 302


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


@pytest.fixture
def _no_login_failures_yet():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


@pytest.mark.usefixtures("_no_login_failures_yet")
def test_a_username_guessed_too_often_must_wait_even_with_the_right_password(client, csm, password, settings):
    settings.LOGIN_FAILURES_PER_USERNAME = 5
    url = reverse("accounts:login")
    for _ in range(5):
        assert client.post(url, {"username": "csm", "password": "wrong-password"}).status_code == 200
    response = client.post(url, {"username": "CSM", "password": password})
    assert "Too many failed attempts: wait" in response.text
    assert "_auth_user_id" not in client.session
    other = UserFactory(username="someone")
    assert client.post(url, {"username": other.username, "password": password}).status_code == 302


@pytest.mark.usefixtures("_no_login_failures_yet")
def test_an_address_guessing_many_usernames_must_wait_and_so_must_the_admin_login(client, csm, password, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 4
    for n in range(4):
        client.post(reverse("accounts:login"), {"username": f"user{n}", "password": "wrong-password"})
    response = client.post(reverse("accounts:login"), {"username": "csm", "password": password})
    assert "Too many failed attempts" in response.text
    admin = client.post(reverse("admin:login"), {"username": "csm", "password": password})
    assert "Too many failed attempts" in admin.text
    assert "_auth_user_id" not in client.session


@pytest.mark.usefixtures("_no_login_failures_yet")
def test_behind_a_trusted_proxy_the_throttle_counts_each_client_not_the_proxy(client, csm, password, settings):
    settings.LOGIN_FAILURES_PER_ADDRESS = 3
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    url = reverse("accounts:login")

    def via_proxy(client_address: str, username: str, secret: str):
        forwarded = {"HTTP_X_FORWARDED_FOR": f"{client_address}, 10.0.0.1", "REMOTE_ADDR": "10.0.0.1"}
        return client.post(url, {"username": username, "password": secret}, **forwarded)

    for n in range(3):
        via_proxy("203.0.113.5", f"user{n}", "wrong-password")
    assert "Too many failed attempts" in via_proxy("203.0.113.5", "csm", password).text
    assert via_proxy("203.0.113.6", "csm", password).status_code == 302  # another client through the same proxy

    client.logout()
    forged = {"HTTP_X_FORWARDED_FOR": "203.0.113.7", "REMOTE_ADDR": "198.51.100.9"}  # not a trusted proxy
    for n in range(3):
        client.post(url, {"username": f"other{n}", "password": "wrong-password"}, **forged)
    response = client.post(url, {"username": "csm", "password": password}, **forged)
    assert "Too many failed attempts" in response.text  # a forged header does not change the address counted
