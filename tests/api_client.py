"""Calling the REST API as a partner's server does: the client, the fixtures of the API tests (tests/api for the
framework, tests/profiles for the profile routes; their conftests import them) and an applier swapped for a test.
"""

from __future__ import annotations

import json
from contextlib import contextmanager

import pytest
from django.core.cache import cache
from django.test import Client

from batchhub.api.appliers import applier_for, applier_register, applier_unregister
from tests.factories import AppFactory, ProjectFactory, company_rest_key


@pytest.fixture(autouse=True)
def fresh_rate_limits():
    """Rate limits start empty in each test (they live in the cache)."""
    cache.clear()


@pytest.fixture
def api_app(db):
    project = ProjectFactory(name="Acme Retail")
    return AppFactory(project=project, name="AcmeShop", platform="ios")


@pytest.fixture
def other_app(db):
    return AppFactory(project=ProjectFactory(name="Globex"), name="GlobexNews", platform="android")


class ApiClient:
    """Calls the REST API the way a partner's server does."""

    def __init__(self, app):
        self.app = app
        self.client = Client()
        self.rest_key = company_rest_key(app.project)  # the customer's company key, as Batch's clients hold

    def app_call(self, method: str, path: str, body=None, *, key: str | None = None, rest_key: str | None = None,
                 raw: bytes | None = None, headers: dict | None = None, version: str = "1.0"):  # fmt: skip
        url = f"/{version}/{key or self.app.live_api_key}{path}"
        data = raw if raw is not None else (json.dumps(body) if body is not None else "")
        headers = {"X-Authorization": rest_key or self.rest_key, **(headers or {})}
        return self.client.generic(method, url, data, content_type="application/json", headers=headers)

    def _key_of(self, project) -> str:
        return self.rest_key if project == self.app.project else company_rest_key(project)

    def project_call(self, path: str, body, *, project=None, rest_key: str | None = None, headers=None,
                     version: str = "2.1"):  # fmt: skip
        project = project or self.app.project
        headers = {
            "Authorization": f"Bearer {rest_key or self._key_of(project)}",
            "X-Batch-Project": project.key,
            **(headers or {}),
        }
        return self.client.post(f"/{version}{path}", json.dumps(body), content_type="application/json", headers=headers)


@pytest.fixture
def api(api_app):
    return ApiClient(api_app)


@pytest.fixture
def applied(django_capture_on_commit_callbacks):
    """Run the worker's task for what the calls enqueue (in-process, after the commit); a block can use it twice."""

    class Applied:
        def __enter__(self):
            self.capture = django_capture_on_commit_callbacks(execute=True)
            return self.capture.__enter__()

        def __exit__(self, *exc):
            return self.capture.__exit__(*exc)

    return Applied()


@contextmanager
def applier_replaced(kind: str, apply):
    """Calls of `kind` applied by `apply` inside the block, by the registered applier again after it."""
    registered = applier_for(kind)
    applier_unregister(kind)
    applier_register(kind, apply, label=registered.label)
    try:
        yield
    finally:
        applier_unregister(kind)
        applier_register(kind, registered.apply, label=registered.label)
