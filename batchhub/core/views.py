from __future__ import annotations

import sys

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from batchhub.core.apikit import shown
from batchhub.core.outage import RETRY_AFTER_SECONDS, outage_met
from batchhub.core.pagination import keyset_page
from batchhub.core.queries import audit_events_for_user, audit_projects_known
from batchhub.core.roles import CSM, PRIVACY_ADMIN, role_required


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
