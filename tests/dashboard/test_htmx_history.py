"""Screens that push their search to the history (hx-push-url) answer a fragment to htmx and the whole page to a
browser; when htmx restores such an entry from the server (its own cache lost it) it gets the whole page."""

from __future__ import annotations

import pytest
from django.urls import reverse

from tests.factories import CampaignFactory, ConnectorFactory

pytestmark = pytest.mark.portable

HTMX = {"HTTP_HX_REQUEST": "true"}
RESTORE = {"HTTP_HX_REQUEST": "true", "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}


@pytest.fixture
def pushed_urls(project, partner):
    """(user fixture, URL) of every screen whose results push their URL."""
    connector = ConnectorFactory(project=project, partner=partner)
    CampaignFactory(project=project, name="Order shipped")
    return [
        ("csm", reverse("projects:list") + "?q=acme"),
        ("csm", reverse("profiles:list", kwargs={"code": project.code}) + "?q=a"),
        ("csm", reverse("campaigns:list", kwargs={"code": project.code}) + "?status=draft"),
        ("csm", reverse("campaigns:project_picker", kwargs={"code": project.code}) + "?q=order"),
        ("partner_user", reverse("campaigns:picker", kwargs={"code": connector.code}) + "?q=order"),
    ]


def test_a_history_restore_gets_the_whole_page_and_every_answer_varies_with_both_headers(client, request, pushed_urls):
    for user, url in pushed_urls:
        client.force_login(request.getfixturevalue(user))
        fragment = client.get(url, **HTMX)
        assert fragment.status_code == 200 and "<html" not in fragment.text, url
        restored = client.get(url, **RESTORE)
        assert restored.status_code == 200 and "<html" in restored.text, url
        vary = {header.strip().lower() for header in restored["Vary"].split(",")}
        assert {"hx-request", "hx-history-restore-request"} <= vary, url
