from __future__ import annotations

import sys

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from batchhub.core import tasks
from batchhub.core.data.pagination import keyset_page
from batchhub.core.jobs.retention import retention_rules
from batchhub.core.jobs.runs import run_progress_render
from batchhub.core.queries import (
    audit_events_for_user,
    audit_projects_known,
    retention_run_get,
    retention_runs_recent,
)
from batchhub.core.roles import CSM, PRIVACY_ADMIN, role_required
from batchhub.core.web.outage import RETRY_AFTER_SECONDS, outage_met
from batchhub.core.web.text import shown


@role_required(CSM, PRIVACY_ADMIN)
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    project_code = request.GET.get("project", "")
    events = audit_events_for_user(request.user, project_code=project_code or None)
    page = keyset_page(events, key="id", cursor=request.GET.get("after"), size=50)
    context = {
        "page": page,
        "projects": audit_projects_known(),
        "selected_project": project_code,
    }
    template = "core/audit_log.html#audit-rows" if request.htmx and request.GET.get("after") else "core/audit_log.html"
    return render(request, template, context)


@role_required(CSM)
@require_GET
def retention(request: HttpRequest) -> HttpResponse:
    """What the platform forgets on time (each app's rules) and the runs that applied them."""
    runs = retention_runs_recent()
    return render(request, "core/retention.html", {"rules": retention_rules(), "runs": runs})


@role_required(CSM)
@require_POST
def retention_start(request: HttpRequest) -> HttpResponse:
    run, state = tasks.retention_start(started_by=request.user)
    if state == "requeued":
        messages.warning(request, f"Run {run.pk} had lost its worker: it was queued again.")
    elif state == "going":
        messages.info(request, "A retention run is already going: its progress is below.")
    else:
        messages.success(request, "Retention run started.")
    return redirect("core:retention")


@role_required(CSM)
@require_GET
def retention_progress(request: HttpRequest, run_id: int) -> HttpResponse:
    run = retention_run_get(run_id)
    url = reverse("core:retention_progress", kwargs={"run_id": run.pk})
    return run_progress_render(request, run, url=url, label=f"Run {run.pk}")


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's handler500: a database or cache outage is a 503 with Retry-After (a page, or the family's
    JSON on API paths once the edge middleware converts it), anything else the 500 page."""
    exc = sys.exc_info()[1]
    if outage_met(exc, method=request.method, path=shown(request.path, 200)):
        response = HttpResponse(render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}), status=503)
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
        response._has_been_logged = True  # outage_met logged it once, without a traceback
        return response
    return HttpResponse(render_to_string("500.html"), status=500)


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness: answers without touching the database (also the no-database reference of the bench)."""
    return JsonResponse({"status": "ok", "environment": settings.ENVIRONMENT})
