"""Idempotent writes: the answer to a write sent with an Idempotency-Key is replayed for 24 h, never acted twice."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils import timezone

from batchhub.api.errors import ApiError
from batchhub.api.models import IdempotencyRecord

IDEMPOTENCY_TTL = dt.timedelta(hours=24)


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def idempotency_begin(*, scope: str, key: str, request_body: bytes) -> Replay | IdempotencyRecord:
    """Reserve an Idempotency-Key for this write, or return the answer already given to it.

    The same key with another body is a client bug: it gets a 422 rather than a silent replay.
    """
    if not key or len(key) > 255 or not key.isascii() or not key.isprintable():
        raise ApiError("MALFORMED_PARAMETER", "Idempotency-Key must be 1 to 255 printable ASCII characters.")
    digest = hashlib.sha256(request_body).hexdigest()
    cutoff = timezone.now() - IDEMPOTENCY_TTL
    IdempotencyRecord.objects.filter(scope=scope, key=key, created_at__lt=cutoff).delete()
    try:
        with transaction.atomic():
            return IdempotencyRecord.objects.create(scope=scope, key=key, request_hash=digest)
    except IntegrityError:
        record = IdempotencyRecord.objects.get(scope=scope, key=key)
    if record.request_hash != digest:
        raise ApiError(
            "IDEMPOTENCY_KEY_REUSED", "This Idempotency-Key was already used with a different request body."
        ) from None
    if record.status_code is None:
        raise ApiError("API_MISUSE", "A request with this Idempotency-Key is still being processed; retry later.")
    return Replay(status=record.status_code, body=record.body)


def idempotency_finish(record: IdempotencyRecord, *, status: int, body: object, replayable: bool = True) -> None:
    """Keep the answer for replays; a server error, a rate limit or an answer the caller can change (`replayable`
    False: a feature its connector had not enabled) may be retried for real, with the same key."""
    if status >= 500 or status == 429 or not replayable:
        record.delete()
        return
    record.status_code = status
    record.body = json.dumps(body)
    record.save(update_fields=["status_code", "body"])
