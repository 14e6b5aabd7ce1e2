from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from batchhub.profiles.purge_rule import profile_is_purge_eligible, profile_purge_after
from batchhub.profiles.queries import (
    profile_events_recent,
    profile_get,
    profile_installations,
    profiles_count_estimate,
    profiles_page,
)
from batchhub.projects.panels import panel_get_for_user, panel_render
from batchhub.projects.queries import project_get_for_user


@login_required
@require_GET
def profile_list(request: HttpRequest, code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    query = request.GET.get("q", "").strip()[:200]
    cursor = request.GET.get("after")
    page = profiles_page(project, query=query, cursor=cursor, size=settings.PROFILES_PAGE_SIZE)
    context = {"project": project, "page": page, "query": query}
    if request.htmx and cursor:
        return render(request, "profiles/profile_list.html#profile-rows", context)
    count, is_estimate = profiles_count_estimate(project, query=query)
    context.update(count=count, count_is_estimate=is_estimate)
    template = "profiles/profile_list.html#profile-results" if request.htmx else "profiles/profile_list.html"
    return render(request, template, context)


@login_required
@require_GET
def profile_detail(request: HttpRequest, code, profile_code) -> HttpResponse:
    project = project_get_for_user(request.user, code)
    profile = profile_get(project, profile_code)
    context = {
        "project": project,
        "profile": profile,
        "events": profile_events_recent(profile),
        "installations": profile_installations(profile),
        "purge_after": profile_purge_after(profile, project),
        "is_purge_eligible": profile_is_purge_eligible(profile, project),
    }
    return render(request, "profiles/profile_detail.html", context)


@login_required
@require_GET
def project_panel(request: HttpRequest, code) -> HttpResponse:
    """The project page's profiles panel: how many profiles, and the way in to the list."""
    panel = panel_get_for_user(request.user, "profiles")
    project = project_get_for_user(request.user, code)
    count, is_estimate = profiles_count_estimate(project)
    context = {"count": count, "count_is_estimate": is_estimate}
    return panel_render(request, panel=panel, project=project, template="profiles/project_panel.html", context=context)
