from __future__ import annotations

import datetime as dt

import pytest
from dateutil.relativedelta import relativedelta
from django.urls import reverse
from django.utils import timezone

from batchhub.projects.models import Project
from tests.factories import InstallationFactory, ProfileEventFactory, ProfileFactory

pytestmark = pytest.mark.portable


def _list_url(project):
    return reverse("profiles:list", kwargs={"code": project.code})


def test_profile_list_pages_by_keyset(client, csm, project, settings):
    settings.PROFILES_PAGE_SIZE = 10
    profiles = ProfileFactory.create_batch(25, project=project)
    client.force_login(csm)
    first = client.get(_list_url(project))
    assert first.status_code == 200
    shown_first = [p["custom_id"] for p in first.context["page"].rows]
    assert shown_first == [p.custom_id for p in reversed(profiles)][:10]
    assert first.context["count"] == 25

    cursor = first.context["page"].next_cursor
    second = client.get(_list_url(project), {"after": cursor})
    shown_second = [p["custom_id"] for p in second.context["page"].rows]
    assert shown_second == [p.custom_id for p in reversed(profiles)][10:20]
    third = client.get(_list_url(project), {"after": second.context["page"].next_cursor})
    assert len(third.context["page"].rows) == 5
    assert third.context["page"].next_cursor is None


def test_profile_list_load_more_answers_rows_only_to_htmx(client, csm, project, settings):
    settings.PROFILES_PAGE_SIZE = 5
    ProfileFactory.create_batch(8, project=project)
    client.force_login(csm)
    cursor = client.get(_list_url(project)).context["page"].next_cursor
    response = client.get(_list_url(project), {"after": cursor}, headers={"HX-Request": "true"})
    assert "<html" not in response.text and "<table" not in response.text
    assert response.text.count("<tr>") == 3


def test_a_tampered_cursor_starts_from_the_top(client, csm, project):
    ProfileFactory.create_batch(3, project=project)
    client.force_login(csm)
    response = client.get(_list_url(project), {"after": "1:forged"})
    assert response.status_code == 200
    assert len(response.context["page"].rows) == 3


def test_profile_search_by_custom_id_prefix_and_email(client, csm, project, other_project):
    ProfileFactory(project=project, custom_id="alice-1", email="alice@example.com")
    ProfileFactory(project=project, custom_id="bob-1", email="bob@example.com")
    ProfileFactory(project=other_project, custom_id="alice-2", email="alice2@example.com")
    client.force_login(csm)
    by_id = client.get(_list_url(project), {"q": "alice"})
    assert [p["custom_id"] for p in by_id.context["page"].rows] == ["alice-1"]
    by_email = client.get(_list_url(project), {"q": "BOB@Example.com"})
    assert [p["custom_id"] for p in by_email.context["page"].rows] == ["bob-1"]
    htmx = client.get(_list_url(project), {"q": "zzz"}, headers={"HX-Request": "true"})
    assert 'id="profile-results"' in htmx.text and "<html" not in htmx.text
    assert "No profile starts with" in htmx.text


def test_profile_page_shows_attributes_events_and_installations(client, partner_user, project):
    profile = ProfileFactory(
        project=project, custom_id="carol", attributes={"plan": "gold"}, tags={"interests": ["ski"]}
    )
    ProfileEventFactory(profile=profile, name="ue.purchase", label="order 42")
    InstallationFactory(app=project.apps.first(), custom_id="carol", installation_id="inst-carol-1")
    client.force_login(partner_user)
    response = client.get(reverse("profiles:detail", kwargs={"code": project.code, "profile_code": profile.code}))
    assert response.status_code == 200
    for text in ("gold", "ski", "ue.purchase", "order 42", "inst-carol-1"):
        assert text in response.text


def test_profile_of_another_project_is_404_even_with_a_visible_project(client, csm, project, other_project):
    foreign = ProfileFactory(project=other_project)
    client.force_login(csm)
    response = client.get(reverse("profiles:detail", kwargs={"code": project.code, "profile_code": foreign.code}))
    assert response.status_code == 404


def test_empty_project_shows_an_empty_state(client, csm, project):
    client.force_login(csm)
    response = client.get(_list_url(project))
    assert "No profiles yet." in response.text


def test_search_treats_like_wildcards_literally(client, csm, project):
    ProfileFactory(project=project, custom_id="100%_real", email="percent@example.com")
    ProfileFactory(project=project, custom_id="100abc", email="abc@example.com")
    client.force_login(csm)
    response = client.get(_list_url(project), {"q": "100%_"})
    assert [p["custom_id"] for p in response.context["page"].rows] == ["100%_real"]
    assert response.context["count"] == 1


def test_profile_list_sql_survives_query_logging(client, csm, project):
    """With DEBUG's query log on, the statement is interpolated for the log: its % signs must be escaped."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    ProfileFactory(project=project, custom_id="dora")
    client.force_login(csm)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(_list_url(project), {"q": "do"})
    assert response.status_code == 200
    assert [p["custom_id"] for p in response.context["page"].rows] == ["dora"]
    assert any("profiles_profile" in q["sql"] and "LIMIT" in q["sql"] for q in captured.captured_queries)


def test_profile_page_says_when_it_becomes_purge_eligible_and_why(client, csm, project):
    old = ProfileFactory(project=project, last_activity_at=dt.datetime(2024, 1, 31, 9, 30, tzinfo=dt.UTC))
    recent = ProfileFactory(project=project, last_activity_at=timezone.now() - dt.timedelta(days=10))
    client.force_login(csm)

    def said(profile) -> str:
        page = client.get(reverse("profiles:detail", kwargs={"code": project.code, "profile_code": profile.code}))
        return " ".join(page.text.split("purge-eligibility", 1)[1].split("</p>", 1)[0].split())

    text = said(old)
    assert "Purge-eligible" in text and "since 2025-02-28 09:30 UTC" in text  # 13 calendar months later
    assert "13-month inactivity period" in text
    eligible_from = recent.last_activity_at + relativedelta(months=13)
    text = said(recent)
    assert f"Eligible from {eligible_from:%Y-%m-%d %H:%M} UTC" in text and "Purge-eligible" not in text

    Project.objects.filter(pk=project.pk).update(inactivity_months_next=3)  # waiting for the next run
    eligible_from = recent.last_activity_at + relativedelta(months=3)
    text = said(recent)
    assert f"Eligible from {eligible_from:%Y-%m-%d %H:%M} UTC" in text and "3-month" in text
    assert "shortened from the next run" in text


def test_custom_id_search_is_case_sensitive_on_every_database(client, csm, project):
    ProfileFactory(project=project, custom_id="alice-1", email="a1@example.com")
    ProfileFactory(project=project, custom_id="Alice-2", email="a2@example.com")
    client.force_login(csm)
    response = client.get(_list_url(project), {"q": "Alice"})
    assert [p["custom_id"] for p in response.context["page"].rows] == ["Alice-2"]


def test_the_count_agrees_with_the_rows_on_case(client, csm, project):
    ProfileFactory(project=project, custom_id="alice-1", email="a1@example.com")
    ProfileFactory(project=project, custom_id="Alice-2", email="a2@example.com")
    client.force_login(csm)
    response = client.get(_list_url(project), {"q": "Alice"})
    assert response.context["count"] == len(response.context["page"].rows) == 1


def test_partner_supplied_values_are_escaped_on_the_list_and_the_profile_page(client, csm, project):
    """The list's rows are built in Python for speed: a planted script in a custom id, an email, an attribute or
    an event label shows as text everywhere, never as markup."""
    planted = '<script>alert("x")</script>'
    profile = ProfileFactory(
        project=project, custom_id=f"id{planted}", email=f'a"{planted}@example.com', attributes={"plan": planted}
    )
    ProfileEventFactory(profile=profile, name="opened", label=planted)
    client.force_login(csm)
    pages = [
        client.get(_list_url(project)).text,
        client.get(_list_url(project), {"q": "id<script>"}).text,
        client.get(reverse("profiles:detail", kwargs={"code": project.code, "profile_code": profile.code})).text,
    ]
    for page in pages:
        assert "<script>alert" not in page
        assert "&lt;script&gt;alert(" in page
