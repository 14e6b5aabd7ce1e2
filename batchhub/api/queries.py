"""Reads of API calls, always inside a project the caller already may see."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, has_role


def api_calls_for_user(user, project) -> QuerySet[ApiCall]:
    """The project's calls the user may see (the project itself already is): staff see every call; a partner user
    only the calls its own connectors' keys made, never the customer's nor another partner's."""
    calls = ApiCall.objects.filter(project=project)
    if has_role(user, CSM, PRIVACY_ADMIN):
        return calls
    if has_role(user, PARTNER) and user.partner_id is not None:
        return calls.filter(connector__partner_id=user.partner_id)
    return calls.none()


def api_activity(calls: QuerySet[ApiCall], *, hours: int = 24) -> dict:
    """Over the last `hours`, of `calls` (already scoped): calls per route, their error rate, and the latest errors
    (never a key)."""
    since = timezone.now() - dt.timedelta(hours=hours)
    recent = calls.filter(created_at__gte=since)
    routes = list(
        recent.values("route")
        .annotate(calls=Count("id"), errors=Count("id", filter=Q(status_code__gte=400)))
        .order_by("-calls", "route")
    )
    for row in routes:
        row["error_rate"] = row["errors"] / row["calls"] if row["calls"] else 0.0
    total = sum(row["calls"] for row in routes)
    errors = sum(row["errors"] for row in routes)
    last_errors = list(
        calls.filter(Q(status_code__gte=400) | Q(apply_status=ApiCall.ApplyStatus.FAILED))
        .select_related("app")
        .order_by("-created_at")[:10]
    )
    return {
        "routes": routes,
        "calls": total,
        "errors": errors,
        "error_rate": errors / total if total else 0.0,
        "last_errors": last_errors,
        "hours": hours,
    }


def api_call_get(calls: QuerySet[ApiCall], token) -> ApiCall:
    """The call among `calls` (already scoped) with this token (from its 202 answer), else 404."""
    return get_by_code_or_404(calls.select_related("app"), token, field="token", what="API call")


def calls_pending_accepted_before(project_id: int, at: dt.datetime) -> int:
    """How many of the project's calls accepted before `at` (or at that instant) still wait to be applied (the
    pending calls' index)."""
    return ApiCall.objects.filter(
        project_id=project_id, apply_status=ApiCall.ApplyStatus.PENDING, created_at__lte=at
    ).count()


def calls_pending_any() -> bool:
    """Whether any project has calls waiting to be applied (the pending calls' index): the API is busy."""
    return ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.PENDING).exists()
