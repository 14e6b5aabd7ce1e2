"""The REST API's shared machinery: error shapes of the two families, rate limits, idempotent replays.

Two families of routes speak two error dialects, as Batch's API does:
- per-app routes (`/1.0/{APP_API_KEY}/…`, `/1.1/…`): `{"code": 31, "message": "…"}`
- per-project routes (`/2.x/…`): `{"error_code": "MALFORMED_PARAMETER", "error_message": "…"}`
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import math
import re
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse
from django.utils import timezone

from batchhub.core.models import IdempotencyRecord
from batchhub.core.outage import UNAVAILABLE_MESSAGE
from batchhub.core.redis import as_text, cache_count, shared_redis, shared_script

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
    "PAYLOAD_TOO_LARGE": (413, 34),
    "TOO_MANY_REQUESTS": (429, 60),
    "SERVER_ERROR": (500, 0),
    "SERVICE_UNAVAILABLE": (503, 0),
}
# Batch's 2.x documents only 400, 401, 429, 500 and 503: what the per-app family answers 403 or 422 is a 400 there.
_PROJECT_FAMILY_STATUS = {403: 400, 422: 400}

APP_FAMILY = "app"
PROJECT_FAMILY = "project"
_PROJECT_PATH = re.compile(r"^/2\.[0-9]+/")
API_PATH = re.compile(r"^/(?:1\.[0-9]+|2\.[0-9]+)/")
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

    def status_in(self, family: str) -> int:
        status = ERROR_KINDS[self.kind][0]
        return _PROJECT_FAMILY_STATUS.get(status, status) if family == PROJECT_FAMILY else status


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
    family = api_family(request)
    response = JsonResponse(error_body(family, error.kind, error.message), status=error.status_in(family))
    if error.retry_after is not None:
        response["Retry-After"] = str(error.retry_after)
    return response


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
    return cache_count(key, timeout=90), None


def rate_limit_enforce(count: int, *, per_minute: int) -> None:
    if count > per_minute:
        retry_after = max(1, int(60 - time.time() % 60))
        raise ApiError(
            "TOO_MANY_REQUESTS",
            f"Rate limit of {per_minute} calls per minute reached for this key; retry in {retry_after} s.",
            retry_after=retry_after,
        )


# A token bucket in one round trip: refill by the time elapsed (Redis's own clock), then take `cost` or refuse.
_BUCKET_TAKE = """
local per_second, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_second / 1000)
if cost > tokens then
  return math.ceil((cost - tokens) * 1000 / per_second)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / per_second) + 1000)
return 0
"""


def rate_bucket_take(scope: str, *, cost: int, per_second: float, burst: int) -> None:
    """Take `cost` units from the token bucket of `scope` (refilled at `per_second`, holding at most `burst`), or
    answer 429 with the seconds to wait. A call costing more than the burst waits for a full bucket and takes it
    (Batch's mass update: 10,000 profiles per second, no burst). Without Redis (the embedded run) nothing is
    counted."""
    script = shared_script(_BUCKET_TAKE)
    if script is None:
        return
    make_key = shared_redis()[1]
    wait_ms = int(script(keys=[make_key(f"bucket:{scope}")], args=[per_second, burst, min(cost, burst)]))
    if wait_ms > 0:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise ApiError(
            "TOO_MANY_REQUESTS",
            f"Rate limit of {per_second:g} profiles per second (burst {burst}) reached; retry in {retry_after} s.",
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
    if status >= 500 or status == 429:
        record.delete()  # a server error or a rate limit may be retried for real, with the same key
        return
    record.status_code = status
    record.body = json.dumps(body)
    record.save(update_fields=["status_code", "body"])


# ---- the edge: what every request and every JSON body must pass before any rule looks at it ----------------


def shown(text: str, limit: int = 60) -> str:
    """User text as an error message may quote it: control characters, quotes, backslashes and lone surrogates
    escaped, cut."""
    cut = json.dumps(text[:limit], ensure_ascii=False)[1:-1]
    cut = cut.encode("utf-8", "backslashreplace").decode("utf-8")  # a lone surrogate cannot be stored as is
    return cut + ("…" if len(text) > limit else "")


def text_fault(text: str) -> str | None:
    """Why `text` cannot be stored (a NUL, a lone surrogate), or None."""
    if "\x00" in text:
        return "a NUL character (\\u0000)"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "an unpaired UTF-16 surrogate"
    return None


def first_bad_text(value: Any, where: str = "") -> str | None:
    """Where the first string (key or value) that cannot be stored sits, and why, or None. Iterative: a body
    nested as deep as the JSON parser allows costs no recursion."""
    stack = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            fault = text_fault(item)
            if fault:
                return f"{path or 'the body'} contains {fault}"
        elif isinstance(item, dict):
            for key, child in reversed(item.items()):
                fault = text_fault(key)
                if fault:
                    return f"a key of {path or 'the body'} contains {fault}"
                stack.append((f"{path}['{shown(key)}']" if path else shown(key), child))
        elif isinstance(item, list):
            stack.extend((f"{path}[{index}]", child) for index, child in reversed(list(enumerate(item))))
    return None


# JSON carries NUL and lone surrogates only as escapes: a body without these bytes needs no walk.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|[dD][89a-fA-F])")


def json_body(raw: bytes) -> Any:
    """The request body parsed, or a 400 that says why: not JSON, nested too deep, or a string (key or value)
    that no store accepts (NUL, lone surrogate), named by its place. The one parser every write goes through."""
    if not raw:
        raise ApiError("MISSING_PARAMETER", "The body is empty; a JSON body is required.")
    try:
        # Strict UTF-8 first (JSON over HTTP is UTF-8): json.loads would also take UTF-16 or UTF-32 and encoded
        # surrogates, which carry NUL and lone surrogates past the escape check below.
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError("MALFORMED_JSON_BODY", f"The body is not UTF-8 (byte {exc.start}).") from None
    try:
        body = json.loads(text)
    except RecursionError:
        raise ApiError("MALFORMED_JSON_BODY", "The body is nested too deeply to be a valid request.") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError("MALFORMED_JSON_BODY", f"The body is not valid JSON: {shown(str(exc), 120)}.") from None
    if b"\\u" in raw and _SUSPECT_ESCAPE.search(raw):
        fault = first_bad_text(body)
        if fault:
            raise ApiError("MALFORMED_PARAMETER", f"{fault}, which cannot be stored.")
    return body


_CHECKED_HEADERS = {
    "HTTP_AUTHORIZATION": "Authorization",
    "HTTP_X_AUTHORIZATION": "X-Authorization",
    "HTTP_X_BATCH_PROJECT": "X-Batch-Project",
    "HTTP_IDEMPOTENCY_KEY": "Idempotency-Key",
}


def _request_fault(request: HttpRequest) -> str | None:
    """What in the path, the query or the API headers cannot be stored (NUL), named; None if all is well.

    Reads the raw strings first (a query carries NUL only as %00): the hot path pays a few substring checks."""
    meta = request.META
    if "\x00" in request.path_info:
        return "The path contains a NUL character (%00)."
    if "%00" in meta.get("QUERY_STRING", ""):
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in value for value in values):
                return f"The query parameter '{shown(key.replace(chr(0), ''))}' contains a NUL character (%00)."
    for variable, header in _CHECKED_HEADERS.items():
        if "\x00" in meta.get(variable, ""):
            return f"The {header} header contains a NUL character."
    return None


def api_max_body_bytes() -> int:
    return settings.API_MAX_BODY_BYTES


class ApiEdgeMiddleware:
    """The edge of every request, before any view or rule:

    - a NUL in the path, the query or an API header is a 400 (family JSON on API paths), never a database error;
    - API paths answer with or without a trailing slash (no redirect: a client posting a body would not follow);
    - API bodies up to `API_MAX_BODY_BYTES` are read (above Django's form limit: a mass update of 10,000
      profiles is about 3 MB), larger ones get a 413 in the family's shape;
    - any error answer on an API path that is not already JSON (Django's 404/405/500 pages) becomes the family's
      JSON error: an API client never receives an HTML page.
    """

    _KINDS = {
        400: "MALFORMED_PARAMETER",
        404: "ROUTE_NOT_FOUND",
        405: "METHOD_NOT_ALLOWED",
        500: "SERVER_ERROR",
        503: "SERVICE_UNAVAILABLE",
    }

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        is_api = bool(API_PATH.match(request.path_info))
        fault = _request_fault(request)
        if fault is not None:
            if is_api:
                return error_response(request, ApiError("MALFORMED_PARAMETER", fault))
            return HttpResponseBadRequest(fault, content_type="text/plain; charset=utf-8")
        if is_api:
            refused = self._api_request(request)
            if refused is not None:
                return refused
        response = self.get_response(request)
        if not is_api or response.status_code < 400:
            return response
        return self._as_json(request, response)

    @staticmethod
    def _api_request(request) -> JsonResponse | None:
        if len(request.path_info) > 1 and request.path_info.endswith("/"):
            request.path_info = request.path_info[:-1]
            request.path = request.path[:-1]
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None  # Django answers a malformed length itself
        limit = api_max_body_bytes()
        if not length and "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
            # A chunked body has no Content-Length, so Django would read it as empty: read it here, bounded.
            body = request.META["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                too_large = ApiError(
                    "PAYLOAD_TOO_LARGE", f"The body is over {limit} bytes, the most accepted per call."
                )
                return error_response(request, too_large)
            request._body, request._stream = body, io.BytesIO(body)
            return None
        if length > limit:
            return error_response(
                request,
                ApiError("PAYLOAD_TOO_LARGE", f"The body is {length} bytes; at most {limit} are accepted per call."),
            )
        if length > (settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0):
            # Read it here, within the API's own limit, as Django's `request.body` would below its form limit.
            request._body = request.read()
            request._stream = io.BytesIO(request._body)
        return None

    def _as_json(self, request, response):
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        kind = self._KINDS.get(response.status_code, "SERVER_ERROR" if response.status_code >= 500 else "API_MISUSE")
        messages = {
            "MALFORMED_PARAMETER": "The request is malformed.",
            "ROUTE_NOT_FOUND": f"No API route {request.method} {shown(request.path, 200)}.",
            "METHOD_NOT_ALLOWED": f"{request.method} is not allowed on {shown(request.path, 200)}; allowed: "
            f"{response.get('Allow', 'none')}.",
            "SERVER_ERROR": "Internal error; it was logged. Retrying later may help.",
            "SERVICE_UNAVAILABLE": UNAVAILABLE_MESSAGE,
            "API_MISUSE": "The request was refused.",
        }
        converted = error_response(request, ApiError(kind, messages[kind]))
        for header in ("Allow", "Retry-After"):
            if response.has_header(header):
                converted[header] = response[header]
        return converted
