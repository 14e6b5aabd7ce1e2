from __future__ import annotations

import pytest
from django.urls import reverse

from batchhub.core.models import AuditEvent
from batchhub.projects import services

pytestmark = pytest.mark.portable


def test_audit_records_actor_diff_and_address(client, csm, project):
    client.force_login(csm)
    client.post(
        reverse("profiles:purge_shorten", kwargs={"code": project.code}),
        {"months": 10, "confirm": 0},
        REMOTE_ADDR="203.0.113.9",
    )
    event = AuditEvent.objects.get(action="project.inactivity_shorten")
    assert event.actor == csm
    assert event.ip_address == "203.0.113.9"
    assert event.project_name == project.name
    assert event.changes["inactivity_months"] == [13, 10]


def test_project_update_records_only_changed_fields(csm, project):
    services.project_update(actor=csm, project=project, name="Acme Retail EU", customer=project.customer)
    event = AuditEvent.objects.get(action="project.update")
    assert event.changes == {"name": ["Acme Retail", "Acme Retail EU"]}


def test_audit_log_page_filters_by_project(client, csm, project, other_project):
    services.project_update(actor=csm, project=project, name="Acme One", customer="Acme")
    services.project_update(actor=csm, project=other_project, name="Globex One", customer="Globex")
    client.force_login(csm)
    response = client.get(reverse("core:audit_log"), {"project": str(project.code)})
    assert response.status_code == 200
    rows = response.context["page"].rows
    assert {event.project_code for event in rows} == {project.code}
    assert "Acme One" in response.text


def test_audit_log_with_malformed_project_filter_is_empty(client, privacy_admin, csm, project):
    services.project_update(actor=csm, project=project, name="Acme One", customer="Acme")
    client.force_login(privacy_admin)
    response = client.get(reverse("core:audit_log"), {"project": "not-a-uuid"})
    assert response.status_code == 200
    assert "Nothing recorded" in response.text


def test_audit_log_pages_with_htmx_load_more(client, csm, project):
    for n in range(55):
        services.project_update(actor=csm, project=project, name=f"Name {n}", customer="Acme")
    client.force_login(csm)
    first = client.get(reverse("core:audit_log"))
    assert first.text.count('class="action-tag"') == 50
    cursor = first.context["page"].next_cursor
    more = client.get(reverse("core:audit_log"), {"after": cursor}, headers={"HX-Request": "true"})
    assert "<html" not in more.text
    assert more.text.count('class="action-tag"') == 5


def test_admin_changes_are_audited(client, project, django_user_model):
    admin_user = django_user_model.objects.create_superuser("root", "root@example.com", "x" * 16)
    client.force_login(admin_user)
    url = reverse("admin:projects_project_change", args=[project.pk])
    response = client.post(url, {"name": "Renamed", "slug": project.slug, "customer": project.customer_id,
                                 "inactivity_months": 13, "api_rate_limit_per_minute": 6000,
                                 "apps-TOTAL_FORMS": 0, "apps-INITIAL_FORMS": 0,
                                 "grants-TOTAL_FORMS": 0, "grants-INITIAL_FORMS": 0})  # fmt: skip
    assert response.status_code == 302, response.content[:2000]
    event = AuditEvent.objects.get(action="project.update.admin")
    assert event.changes == {"name": ["Acme Retail", "Renamed"]}
    assert event.project_code == project.code


def test_the_admin_names_task_deliveries_in_english(client, django_user_model):
    client.force_login(django_user_model.objects.create_superuser("root2", "root2@example.com", "x" * 16))
    page = client.get(reverse("admin:index"))
    assert "Task deliveries" in page.text and "deliverys" not in page.text
