from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from batchhub.api.queries import api_activity, api_call_get, api_calls_for_user
from batchhub.core.roles import CSM, PRIVACY_ADMIN, has_role
from batchhub.projects.panels import panel_get_for_user, panel_render
from batchhub.projects.queries import project_get_for_user


@login_required
@require_GET
def activity(request: HttpRequest, code) -> HttpResponse:
    """The project page's "API activity" panel: calls per route, error rate, latest errors, a call by its token."""
    panel = panel_get_for_user(request.user, "api-activity")
    project = project_get_for_user(request.user, code)
    context = {
        "api_activity": api_activity(api_calls_for_user(request.user, project)),
        "only_own_connectors": not has_role(request.user, CSM, PRIVACY_ADMIN),
    }
    return panel_render(request, panel=panel, project=project, template="api/activity_panel.html", context=context)


@login_required
@require_GET
def call_detail(request: HttpRequest, code, token) -> HttpResponse:
    """The status of one API call, by the token its 202 answer carried."""
    project = project_get_for_user(request.user, code)
    call = api_call_get(api_calls_for_user(request.user, project), token)
    return render(request, "api/call_detail.html", {"project": project, "call": call})


@login_required
@require_GET
def call_lookup(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    token = request.GET.get("token", "").strip()
    try:
        call = api_call_get(api_calls_for_user(request.user, project), token)
    except Http404:
        messages.error(request, f"No API call of {project.name} has the token “{token[:64]}”.")
        return redirect("projects:detail", code=project.code)
    return redirect("api_calls:detail", code=project.code, token=call.token)
