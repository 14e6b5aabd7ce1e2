"""Shared writes: the worker heartbeat, retention runs (the audit log is core.audit.record)."""

from __future__ import annotations

from django.utils import timezone

from batchhub.core.audit.record import audit_record
from batchhub.core.models import RetentionRun, WorkerHeartbeat


def worker_heartbeat_record(*, hostname: str) -> WorkerHeartbeat:
    heartbeat, _ = WorkerHeartbeat.objects.update_or_create(hostname=hostname, defaults={"beat_at": timezone.now()})
    return heartbeat


def retention_run_create(*, started_by=None) -> RetentionRun | None:
    """A new queued retention run, or None if one is queued or running already (its rules are idempotent, so two
    started at the same instant would only repeat each other's batches)."""
    active = RetentionRun.objects.filter(status__in=[RetentionRun.Status.QUEUED, RetentionRun.Status.RUNNING])
    if active.exists():
        return None
    run = RetentionRun.objects.create(started_by=started_by)
    if started_by is not None:
        audit_record(actor=started_by, action="retention.start", obj=run)
    return run
