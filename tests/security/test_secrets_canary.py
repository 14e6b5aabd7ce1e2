"""A canary REST key sent where it does not belong never reaches a log line or the audit page in full."""

from __future__ import annotations

import json
import logging

import pytest
from django.test import Client
from django.urls import reverse

from batchhub.core.models import AuditEvent
from batchhub.core.web.logging import RedactSecretsFilter, masked_path
from tests.factories import company_rest_key

pytestmark = pytest.mark.portable


@pytest.fixture
def logged(caplog):
    """Every record as the console handler would write it (through the redacting filter), as one text."""
    caplog.set_level(logging.DEBUG)
    caplog.handler.addFilter(RedactSecretsFilter())
    yield caplog
    caplog.handler.removeFilter(caplog.handler.filters[-1])


def test_a_rest_key_sent_in_the_app_key_slot_is_never_logged_or_audited_in_full(client, csm, project, logged):
    canary = company_rest_key(project)
    app = project.apps.first()
    body = json.dumps({"events": [{"name": "opened"}]})
    api = Client()
    for path in (f"/1.0/{canary}/events/users/alice", f"/1.0/{canary}/nothing/here", f"/2.1/{canary}/x"):
        response = api.post(path, body, content_type="application/json", headers={"X-Authorization": app.live_api_key})
        assert response.status_code in (401, 404)
    assert logged.records, "the refusals were logged"
    assert canary not in logged.text
    assert canary[-4:] in logged.text  # masked, still recognisable
    audited = " ".join(AuditEvent.objects.values_list("object_repr", flat=True))
    assert "api.auth_failed" in set(AuditEvent.objects.values_list("action", flat=True))
    assert canary not in audited
    client.force_login(csm)
    assert canary not in client.get(reverse("core:audit_log")).text


def test_a_newline_in_a_url_cannot_forge_a_log_line(project, logged):
    Client().post("/1.0/NOSUCHKEY/events/users/alice%0A2026-12-01 INFO forged", "{}", content_type="application/json")
    messages = [record.getMessage() for record in logged.records]
    assert messages and all("\n" not in message for message in messages)
    assert any("\\x0a2026-12-01 INFO forged" in message for message in messages)


def test_masked_path_keeps_the_shape_of_the_path():
    assert masked_path("/1.0/0123456789abcdef0123456789abcdef/events/users/bob") == "/1.0/••••••••cdef/events/users/bob"
    assert masked_path("/projects/abc/\r\n") == "/projects/abc/\\x0d\\x0a"
