"""Property-based run of the OpenAPI document against the app in-process (WSGI): no 5xx, no answer
outside the declared schemas, whatever the generated input."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.wsgi import get_wsgi_application
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import AppFactory, company_rest_key

# Django's own WSGI handler, on the test's thread and so in its transaction (batchhub.wsgi hands requests to a
# thread of its own, which tests/server covers through gunicorn).
schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())
CHECKS = [schemathesis.checks.not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]  # fmt: skip


@pytest.fixture
def _keep_test_connection():
    """Like Django's test client: requests must not close the connection holding the test's transaction."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def keys(db, _keep_test_connection):
    app = AppFactory()
    return {
        "api_key": app.live_api_key,
        "rest_key": company_rest_key(app.project),
        "project_key": app.project.key,
        "project_rest_key": company_rest_key(app.project),
    }


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_api_honours_its_openapi_document(case, keys):
    if "api_key" in case.path_parameters:
        case.path_parameters["api_key"] = keys["api_key"]
    headers = {
        "X-Authorization": keys["rest_key"],
        "Authorization": f"Bearer {keys['project_rest_key']}",
        "X-Batch-Project": keys["project_key"],
    }
    case.call_and_validate(headers=headers, checks=CHECKS)
