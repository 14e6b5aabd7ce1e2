"""Company REST keys came in with a migration: every key that worked before it keeps working after it."""

from __future__ import annotations

import json

import pytest
from django.core.cache import cache
from django.test import Client

from tests.migrating import latest, migrate_to

pytestmark = pytest.mark.portable

BEFORE = [("projects", "0004_apicall_operations_lz4")]
# The migration under test is 0005_customer_rest_keys; the test runs today's code, whose models need the columns
# of every later migration too (of every app): it migrates to the latest.
AFTER = latest()


@pytest.fixture
def old_world(transactional_db):
    """Two projects of one customer and one of another, with per-project and per-app REST keys as before."""
    old = migrate_to(BEFORE)
    Project, App = old.get_model("projects", "Project"), old.get_model("projects", "App")
    keys = {}
    for slug, customer in (("acme-eu", "Acme Corp"), ("acme-us", " acme corp "), ("globex", "Globex")):
        project = Project.objects.create(
            name=slug,
            slug=slug,
            customer=customer,
            key=f"project_{slug}",
            rest_api_key=f"{slug}-project-rest-key-0123456789",
        )
        app = App.objects.create(
            project=project,
            name="Shop",
            platform="ios",
            live_api_key=f"LIVE{slug}",
            dev_api_key=f"DEV{slug}",
            rest_api_key=f"{slug}-app-rest-key-0123456789ab",
        )
        keys[slug] = (project.key, project.rest_api_key.reveal(), app.live_api_key, app.rest_api_key.reveal())
    yield keys
    migrate_to(AFTER)  # leave the schema as the rest of the suite expects it


def test_every_key_that_worked_keeps_working_and_only_where_it_did(old_world):
    migrate_to(AFTER)
    cache.clear()
    client = Client()

    def app_call(live_key, rest_key):
        return client.post(
            f"/1.0/{live_key}/events/users/alice",
            json.dumps({"events": [{"name": "ue.opened"}]}),
            content_type="application/json",
            headers={"X-Authorization": rest_key},
        ).status_code

    def project_call(project_key, rest_key):
        return client.post(
            "/2.1/profiles/update",
            json.dumps([{"identifiers": {"custom_id": "alice"}}]),
            content_type="application/json",
            headers={"Authorization": f"Bearer {rest_key}", "X-Batch-Project": project_key},
        ).status_code

    for project_key, project_rest, live_key, app_rest in old_world.values():
        assert app_call(live_key, app_rest) == 202
        assert project_call(project_key, project_rest) == 202
    eu, us = old_world["acme-eu"], old_world["acme-us"]
    assert app_call(us[2], eu[3]) == 401  # a migrated key is narrowed to where it worked, even within the company
    assert project_call(us[0], eu[1]) == 401
    assert project_call(eu[0], eu[3]) == 401  # an app's old key never opened the project's /2.x routes

    from batchhub.projects.models import Customer, Project, RestApiKey

    assert sorted(Customer.objects.values_list("name", flat=True)) == ["Acme Corp", "Globex"]
    assert Project.objects.get(slug="acme-us").customer == Project.objects.get(slug="acme-eu").customer
    assert RestApiKey.objects.count() == 6
    assert not RestApiKey.objects.filter(project__isnull=True).exists()
