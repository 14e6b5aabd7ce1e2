"""Shared writes: the worker heartbeat, retention runs, API keys' rotation and revocation (the audit log is
core.audit.record)."""

from __future__ import annotations

import datetime as dt
from typing import TypeVar

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from batchhub.core.audit.record import audit_record
from batchhub.core.models import ApiKey, RetentionRun, WorkerHeartbeat

MAX_ROTATION_OVERLAP = dt.timedelta(days=30)
DEFAULT_ROTATION_OVERLAP = dt.timedelta(hours=24)
K = TypeVar("K", bound=ApiKey)


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


@transaction.atomic
def api_key_rotate(*, actor, key: K, overlap: dt.timedelta) -> tuple[K, K]:
    """Replace a key with a new one of the same scope; the old one keeps working for `overlap` (zero: revoked now).
    Returns (the old key as it now is, the new key, whose secret is shown once). The caller audits."""
    if overlap < dt.timedelta(0) or overlap > MAX_ROTATION_OVERLAP:
        raise ValidationError({"overlap_hours": f"The overlap is 0 to {MAX_ROTATION_OVERLAP.days * 24} hours."})
    model = type(key)
    key = model.objects.select_for_update().get(pk=key.pk)
    now = timezone.now()
    if not key.is_active_at(now):
        raise ValidationError({"key": "This key no longer works: create a new one instead."})
    if key.rotated_to_id is not None:  # a second rotation would extend the old key's life and mint a second heir
        raise ValidationError({"key": "This key was already rotated; revoke it now if it must stop before its end."})
    new_key = model(
        name=key.name,
        created_by=actor if actor and actor.is_authenticated else None,
        **{field: getattr(key, field) for field in model.SCOPE_FIELDS},
    )
    new_key.save()
    key.rotated_to = new_key
    if overlap:
        key.expires_at = now + overlap
    else:
        key.revoked_at = now
    key.save(update_fields=["rotated_to", "expires_at", "revoked_at"])
    return key, new_key


@transaction.atomic
def api_key_revoke(key: K) -> K | None:
    """Stop a key at once: the key as it now is, or None if it had already stopped. The caller audits."""
    key = type(key).objects.select_for_update().get(pk=key.pk)
    if key.revoked_at is not None:
        return None
    key.revoked_at = timezone.now()
    key.save(update_fields=["revoked_at"])  # its post_save makes every web process forget the key
    return key
