"""The API's pages: the project page's activity panel, and a call found by its token."""

from __future__ import annotations

from django.urls import reverse


def test_the_api_activity_panel_shows_calls_and_finds_a_call_by_token(client, csm, project):
    import uuid

    from django.utils import timezone

    from batchhub.api.models import ApiCall

    now = timezone.now()
    token = uuid.uuid4()
    ApiCall.objects.create(
        project=project,
        route="events.user",
        status_code=202,
        token=token,
        created_at=now,
        apply_status="applied",
        counts={"events": 3},
    )
    ApiCall.objects.create(
        project=project,
        route="events.user",
        status_code=400,
        created_at=now,
        error_code="MALFORMED_PARAMETER",
        error_message="events[0].name must be 'ue.'…",
    )
    client.force_login(csm)
    page = client.get(reverse("projects:detail", kwargs={"code": project.code}))
    panel_url = reverse("api_calls:activity", kwargs={"code": project.code})
    assert f'hx-get="{panel_url}"' in page.text  # the page loads the panel, and links to it without JavaScript
    fragment = client.get(panel_url, headers={"HX-Request": "true"})
    assert "<html" not in fragment.text  # the fragment only
    assert "2 calls, 1 error" in fragment.text and "50%" in fragment.text
    assert "events[0].name must be" in fragment.text
    found = client.get(reverse("api_calls:lookup", kwargs={"code": project.code}), {"token": str(token)})
    assert found["Location"] == reverse("api_calls:detail", kwargs={"code": project.code, "token": token})
    detail = client.get(found["Location"])
    assert "Applied" in detail.text and "events: 3" in detail.text
    missing = client.get(reverse("api_calls:lookup", kwargs={"code": project.code}), {"token": "nope"})
    assert missing.status_code == 302
    full = client.get(panel_url)  # without HTMX: a page of its own, with the way back
    assert "<html" in full.text and reverse("projects:detail", kwargs={"code": project.code}) in full.text
    activity = full.context["api_activity"]
    assert (activity["calls"], activity["errors"]) == (2, 1)
    assert activity["routes"][0]["error_rate"] == 0.5
