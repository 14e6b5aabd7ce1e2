from __future__ import annotations

import datetime as dt
import uuid
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db.models import Max, Model, QuerySet
from django.http import Http404
from django.utils import timezone

from batchhub.core.jobs.runs import runs_stuck
from batchhub.core.models import AuditEvent, RetentionRun, WorkerHeartbeat
from batchhub.core.roles import CSM, PRIVACY_ADMIN, has_role

M = TypeVar("M", bound=Model)


def get_by_code_or_404(queryset: QuerySet[M], code, *, field: str = "code", what: str = "object") -> M:
    """The row of `queryset` whose public `field` is `code`, else 404: also for a malformed code (not a UUID), so a
    guessed or mangled address answers like a missing one."""
    try:
        return queryset.get(**{field: code})
    except (queryset.model.DoesNotExist, ValidationError, ValueError, TypeError) as exc:
        raise Http404(f"No such {what}") from exc


def audit_events_for_user(user, *, project_code: str | None = None) -> QuerySet[AuditEvent]:
    """The audit log a user may read: everything for CSMs and privacy admins, nothing for others."""
    if not has_role(user, CSM, PRIVACY_ADMIN):
        return AuditEvent.objects.none()
    events = AuditEvent.objects.select_related("actor")
    if project_code:
        try:
            events = events.filter(project_code=uuid.UUID(str(project_code)))
        except ValueError:
            return AuditEvent.objects.none()
    return events


def audit_projects_known() -> list[tuple[uuid.UUID, str]]:
    """(code, name) of projects that appear in the audit log, for its filter."""
    rows = (
        AuditEvent.objects.exclude(project_code=None)
        .values("project_code")
        .annotate(name=Max("project_name"))
        .order_by("name")
    )
    return [(row["project_code"], row["name"]) for row in rows]


HEARTBEAT_FRESH_FOR = dt.timedelta(minutes=3)


def worker_heartbeats() -> list[WorkerHeartbeat]:
    """Recent worker heartbeats, each with `is_fresh` (it beat within the last three minutes)."""
    now = timezone.now()
    heartbeats = list(WorkerHeartbeat.objects.order_by("-beat_at")[:10])
    for heartbeat in heartbeats:
        heartbeat.is_fresh = now - heartbeat.beat_at < HEARTBEAT_FRESH_FOR
    return heartbeats


def retention_runs_recent(limit: int = 10) -> list[RetentionRun]:
    return list(RetentionRun.objects.select_related("started_by")[:limit])


def retention_run_get(run_id) -> RetentionRun:
    return get_by_code_or_404(RetentionRun.objects.all(), run_id, field="pk", what="retention run")


def retention_run_stuck(*, queued_for: dt.timedelta = dt.timedelta(minutes=10)) -> RetentionRun | None:
    """The oldest active run whose task was lost (`core.jobs.runs.runs_stuck`)."""
    return runs_stuck(RetentionRun, queued_for=queued_for).first()
