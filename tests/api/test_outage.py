"""A database outage is answered 503 with Retry-After in the caller's shape (dashboard page, both API
families), and the request after it succeeds on a fresh connection."""

from __future__ import annotations

import time

import pytest
from django.db import connections
from django.test import Client

from batchhub.core.web.outage import RETRY_AFTER_SECONDS

pytestmark = pytest.mark.django_db(transaction=True)


EVENTS = [{"id": "user-1", "events": [{"name": "ue.opened"}]}]


def test_an_outage_is_a_503_with_retry_after_in_each_api_family_then_calls_succeed_again(api, database_down):
    down, back = database_down
    down()
    per_app = api.app_call("POST", "/events/users", EVENTS)
    per_project = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "user-1"}, "attributes": {}}])
    back()

    assert per_app.status_code == 503, per_app.content
    assert per_app["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert per_app.json()["code"] == 0 and "Retry in" in per_app.json()["message"]
    assert per_project.status_code == 503, per_project.content
    assert per_project["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert per_project.json()["error_code"] == "SERVICE_UNAVAILABLE"

    assert api.app_call("POST", "/events/users", EVENTS).status_code == 202  # a fresh connection, no stale failure


def test_an_outage_is_a_503_page_on_the_dashboard(csm, password, database_down):
    client = Client(raise_request_exception=False)
    client.login(username=csm.username, password=password)
    down, back = database_down
    down()
    response = client.get("/")
    back()
    assert response.status_code == 503
    assert response["Retry-After"] == str(RETRY_AFTER_SECONDS)
    assert b"briefly unavailable" in response.content
    assert client.get("/").status_code == 200


def test_after_a_database_restart_no_request_fails_on_its_old_connection(api):
    """The server closed the kept connection (as a restart does): the next request opens a new one, no 503."""
    import psycopg

    database = connections["default"]
    if database.vendor != "postgresql":
        pytest.skip("PostgreSQL ends its own backends")
    assert api.app_call("POST", "/events/users", EVENTS).status_code == 202
    old_backend = database.connection.info.backend_pid
    settings = database.settings_dict
    with psycopg.connect(
        host=settings["HOST"], port=settings["PORT"], user=settings["USER"], password=settings["PASSWORD"],
        dbname=settings["NAME"], autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute("SELECT pg_terminate_backend(%s)", [old_backend])
        time.sleep(0.2)
    response = api.app_call("POST", "/events/users", EVENTS)
    assert response.status_code == 202, response.content
    assert database.connection.info.backend_pid != old_backend
