"""The edge of the REST API: what every request and every JSON body must pass before any rule looks at it."""

from __future__ import annotations

import io
import json
import re
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBadRequest, JsonResponse

from batchhub.api.errors import API_PATH, ApiError, error_response
from batchhub.core.web.outage import UNAVAILABLE_MESSAGE
from batchhub.core.web.text import shown, text_fault


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
