"""Applying accepted API calls: claim a project's pending calls, run each kind's applier, record the outcome.

A worker claims pending calls of a project and applies them in one transaction together with their status
change, in arrival order: a killed worker leaves nothing half-applied, a redelivered task finds them applied
already. The body of an applied call is cleared in that same transaction (it served its purpose; keeping it would
keep partners' data without bound).
"""

from __future__ import annotations

import datetime as dt
import json
import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from batchhub.api.appliers import applier_for
from batchhub.api.idempotency import IDEMPOTENCY_TTL
from batchhub.api.models import ApiCall, IdempotencyRecord
from batchhub.core.data.deletions import Subjects

logger = logging.getLogger(__name__)
_APPLY_LOCK = 7_301  # advisory lock namespace of API call appliers
STRANDED_AFTER = dt.timedelta(seconds=30)
CLAIM_BATCH = 10  # calls per transaction: short lock holds when workers share profiles


class ApplierBusy(Exception):
    """Another worker is applying this project's calls (PostgreSQL advisory lock held)."""


def api_calls_apply_pending(*, project_id: int, limit: int = CLAIM_BATCH) -> int:
    """Apply up to `limit` pending calls of a project, oldest first; returns how many were handled.

    If the batch fails, its calls are retried one by one so that a single bad call is marked failed
    (with its error, for the dashboard) instead of blocking the others.
    """
    try:
        return _apply_batch(project_id=project_id, limit=limit)
    except (SoftTimeLimitExceeded, OperationalError, ApplierBusy):
        raise  # transient (time limit, deadlock, lost connection): the task retries the whole batch
    except Exception as exc:
        if limit > 1:
            return sum(api_calls_apply_pending(project_id=project_id, limit=1) for _ in range(limit))
        first = (
            ApiCall.objects.filter(project_id=project_id, apply_status=ApiCall.ApplyStatus.PENDING)
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
        if first is None:
            return 0
        logger.exception("API call %s could not be applied", first)
        api_call_mark_failed(call_id=first, error=f"{type(exc).__name__}: {exc}")
        return 1


def _apply_batch(*, project_id: int, limit: int) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # One applier per project at a time: concurrent appliers only wait on each other's profile
                # locks (measured: 2 workers on one project drain at less than half the speed of 1). Others
                # leave and come back (the task retries them), and the sweeper catches any left behind.
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_APPLY_LOCK, project_id])
                if not cursor.fetchone()[0]:
                    raise ApplierBusy(project_id)
                # Safe without waiting for the WAL flush: the calls' status commits with their data, so a
                # crash that loses this transaction loses both, and the calls are applied again.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        calls = list(
            ApiCall.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(project_id=project_id, apply_status=ApiCall.ApplyStatus.PENDING)
            .select_related("app")
            .order_by("id")[:limit]
        )
        for call in calls:
            call.counts = applier_for(call.kind).apply(call)
            call.apply_status = ApiCall.ApplyStatus.APPLIED
            call.applied_at = timezone.now()
            call.operations = ""  # applied: what it carried is in the domain's tables now
        ApiCall.objects.bulk_update(calls, ["counts", "apply_status", "applied_at", "operations"])
    return len(calls)


def api_calls_stranded_projects(*, older_than: dt.timedelta = STRANDED_AFTER) -> list[int]:
    """Projects with calls pending for longer than `older_than` (their applier left just as they arrived)."""
    cutoff = timezone.now() - older_than
    return list(
        ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.PENDING, created_at__lt=cutoff)
        .values_list("project_id", flat=True)
        .distinct()
    )


def api_call_mark_failed(*, call_id: int, error: str) -> None:
    """A call no applier could apply: failed with its error, its body kept for diagnosis (core.jobs.retention)."""
    ApiCall.objects.filter(pk=call_id, apply_status=ApiCall.ApplyStatus.PENDING).update(
        apply_status=ApiCall.ApplyStatus.FAILED, apply_error=error[:2000]
    )


# ---- retention (rules registered in apps.py) --------------------------------------------------------------


def failed_bodies_due(now: dt.datetime):
    """Bodies of calls that failed more than API_FAILED_BODY_DAYS ago (emptied: the row, its error and counts stay)."""
    cutoff = now - dt.timedelta(days=settings.API_FAILED_BODY_DAYS)
    return ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.FAILED, created_at__lt=cutoff).exclude(operations="")


def old_calls_due(now: dt.datetime):
    """Call rows older than API_CALL_DAYS, whatever their project; pending calls never go."""
    return ApiCall.objects.filter(created_at__lt=now - dt.timedelta(days=settings.API_CALL_DAYS)).exclude(
        apply_status=ApiCall.ApplyStatus.PENDING
    )


def idempotency_records_due(now: dt.datetime):
    """Records of Idempotency-Keys past their 24 h (a replay after that is a new write anyway)."""
    return IdempotencyRecord.objects.filter(created_at__lt=now - IDEMPOTENCY_TTL)


# ---- deletion of profiles (registered with core.data.deletions in apps.py) --------------------------------------


def stored_bodies_erase(subjects: Subjects) -> int:
    """Empty the stored bodies that name these custom ids. Applied calls hold none (cleared when applied): only
    failed calls, kept for diagnosis, can. Pending calls are left to apply: they are newer than the deletion's
    decision (the purge counts them as activity; an erasure waits for the project's backlog first)."""
    if not subjects.custom_ids:
        return 0
    failed = ApiCall.objects.filter(project_id=subjects.project_id, apply_status=ApiCall.ApplyStatus.FAILED).exclude(
        operations=""
    )
    named = [pk for pk, body in failed.values_list("pk", "operations") if _custom_ids_in(body) & subjects.custom_ids]
    return ApiCall.objects.filter(pk__in=named).update(operations="")


def _custom_ids_in(body: str) -> set[str]:
    """The custom ids a stored body names, decoded (a client may escape them any way JSON allows): the items of a
    list of ids, or the `custom_id` (normalised operations) or `id` (a bulk body as it came) of each object."""
    try:
        items = json.loads(body)
    except ValueError:
        return set()
    found: set[str] = set()
    for item in items if isinstance(items, list) else []:
        if isinstance(item, str):
            found.add(item)
        elif isinstance(item, dict):
            found.update(value for value in (item.get("custom_id"), item.get("id")) if isinstance(value, str))
    return found
