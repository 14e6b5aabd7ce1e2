from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from batchhub.accounts.queries import partners_count
from batchhub.connectors.queries import connector_list_rows
from batchhub.core.queries import audit_events_for_user, worker_heartbeats
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, primary_role
from batchhub.profiles.queries import profiles_total_estimate
from batchhub.projects.queries import apps_by_project, apps_count_for_user, project_list_rows, projects_count_for_user


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """The dashboard home: what each role needs first. Every figure comes from its own app's queries."""
    role = primary_role(request.user)
    projects = list(project_list_rows(request.user)[:20])
    context: dict = {"role": role, "projects": projects}
    if role == CSM:
        context.update(
            stats={
                "projects": projects_count_for_user(request.user),
                "apps": apps_count_for_user(request.user),
                "partners": partners_count(),
                "profiles": profiles_total_estimate(),
            },
            recent_audit=list(audit_events_for_user(request.user)[:8]),
            heartbeats=worker_heartbeats(),
        )
    elif role == PRIVACY_ADMIN:
        context.update(recent_audit=list(audit_events_for_user(request.user)[:8]))
    elif role == PARTNER:
        context.update(
            partner=request.user.partner,
            apps_by_project=apps_by_project(projects),
            connectors=list(connector_list_rows(request.user)[:50]),
        )
    return render(request, f"dashboard/home_{role or 'none'}.html", context)
