"""The REST API's shared machinery: error shapes of the two families, rate limits, idempotent replays.

Two families of routes speak two error dialects, as Batch's API does:
- per-app routes (`/1.0/{APP_API_KEY}/…`, `/1.1/…`): `{"code": 31, "message": "…"}`
- per-project routes (`/2.x/…`): `{"error_code": "MALFORMED_PARAMETER", "error_message": "…"}`
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import time
from dataclasses import dataclass

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone

from batchhub.core.models import IdempotencyRecord
from batchhub.core.redis import as_text, shared_redis, shared_script

# kind: (HTTP status, numeric code of the per-app family)
ERROR_KINDS: dict[str, tuple[int, int]] = {
    "AUTHENTICATION_INVALID": (401, 10),
    "API_MISUSE": (403, 12),
    "ROUTE_NOT_FOUND": (404, 20),
    "METHOD_NOT_ALLOWED": (405, 20),
    "MISSING_PARAMETER": (400, 30),
    "MALFORMED_PARAMETER": (400, 31),
    "MALFORMED_JSON_BODY": (400, 32),
    "IDEMPOTENCY_KEY_REUSED": (422, 33),
    "TOO_MANY_REQUESTS": (429, 60),
    "SERVER_ERROR": (500, 0),
}

APP_FAMILY = "app"
PROJECT_FAMILY = "project"
_PROJECT_PATH = re.compile(r"^/2\.\d+/")
API_PATH = re.compile(r"^/(?:1\.\d+|2\.\d+)/")
IDEMPOTENCY_TTL = dt.timedelta(hours=24)


class ApiError(Exception):
    """An error answered in the caller's family shape; `message` names the field and what was expected."""

    def __init__(self, kind: str, message: str, *, retry_after: int | None = None) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown API error kind {kind}")
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = retry_after

    @property
    def status(self) -> int:
        return ERROR_KINDS[self.kind][0]


def api_family(request: HttpRequest) -> str:
    """The family of the route that matched (per-app routes carry an app key), else of the path."""
    match = getattr(request, "resolver_match", None)
    if match is not None and match.namespace == "api" and "version" in match.kwargs:
        return APP_FAMILY if "api_key" in match.kwargs else PROJECT_FAMILY
    return PROJECT_FAMILY if _PROJECT_PATH.match(request.path) else APP_FAMILY


def error_body(family: str, kind: str, message: str) -> dict:
    if family == PROJECT_FAMILY:
        return {"error_code": kind, "error_message": message}
    return {"code": ERROR_KINDS[kind][1], "message": message}


def error_response(request: HttpRequest, error: ApiError) -> JsonResponse:
    response = JsonResponse(error_body(api_family(request), error.kind, error.message), status=error.status)
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


def rate_limit_check(scope: str, *, per_minute: int) -> None:
    """Count one call for `scope` in the current minute; past the limit, a 429 with Retry-After.

    Fixed one-minute windows in the shared cache (Redis in production), so every web process counts
    together.
    """
    count, _ = rate_window_count(scope)
    rate_limit_enforce(count, per_minute=per_minute)


# One command, one round trip: count the call, start the window's expiry on its first call, read a key.
_COUNT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local read = false
if KEYS[2] then read = redis.call('GET', KEYS[2]) end
return {count, read}
"""


def rate_window_count(scope: str, *, also_read: str | None = None) -> tuple[int, str | None]:
    """Count one call for `scope` in the current minute: (calls so far, value of the cache key `also_read`).

    On Redis one round trip (a Lua script); `also_read` is None without Redis.
    """
    key = f"ratelimit:{scope}:{int(time.time() // 60)}"
    script = shared_script(_COUNT_AND_READ)
    if script is not None:
        make_key = shared_redis()[1]
        keys = [make_key(key)] + ([make_key(also_read)] if also_read is not None else [])
        count, read = script(keys=keys, args=[90])  # a window lives 60 s; 30 more cover clock skew
        return int(count), as_text(read)
    cache.add(key, 0, timeout=90)
    try:
        return cache.incr(key), None
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=90)
        return 1, None


def rate_limit_enforce(count: int, *, per_minute: int) -> None:
    if count > per_minute:
        retry_after = max(1, int(60 - time.time() % 60))
        raise ApiError(
            "TOO_MANY_REQUESTS",
            f"Rate limit of {per_minute} calls per minute reached for this key; retry in {retry_after} s.",
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class Replay:
    status: int
    body: str


def idempotency_begin(*, scope: str, key: str, request_body: bytes) -> Replay | IdempotencyRecord:
    """Reserve an Idempotency-Key for this write, or return the answer already given to it.

    The same key with another body is a client bug: it gets a 422 rather than a silent replay.
    """
    if not key or len(key) > 255:
        raise ApiError("MALFORMED_PARAMETER", "Idempotency-Key must be 1 to 255 characters.")
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


def idempotency_finish(record: IdempotencyRecord, *, status: int, body: object) -> None:
    if status >= 500:
        record.delete()  # a server error may be retried for real
        return
    record.status_code = status
    record.body = json.dumps(body)
    record.save(update_fields=["status_code", "body"])


class ApiJsonErrorsMiddleware:
    """On API paths, any error answer that is not already JSON (Django's 404/405/500 pages) becomes the
    family's JSON error: an API client never receives an HTML page."""

    _KINDS = {404: "ROUTE_NOT_FOUND", 405: "METHOD_NOT_ALLOWED", 500: "SERVER_ERROR"}

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not API_PATH.match(request.path):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        kind = self._KINDS.get(response.status_code, "SERVER_ERROR" if response.status_code >= 500 else "API_MISUSE")
        messages = {
            "ROUTE_NOT_FOUND": f"No API route {request.method} {request.path}.",
            "METHOD_NOT_ALLOWED": f"{request.method} is not allowed on {request.path}; allowed: "
            f"{response.get('Allow', 'none')}.",
            "SERVER_ERROR": "Internal error; it was logged. Retrying later may help.",
            "API_MISUSE": "The request was refused.",
        }
        converted = error_response(request, ApiError(kind, messages[kind]))
        if response.has_header("Allow"):
            converted["Allow"] = response["Allow"]
        return converted
