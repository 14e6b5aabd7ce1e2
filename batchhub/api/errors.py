"""Errors of the REST API, in the shape of the caller's family, as Batch's API answers them.

Two families of routes speak two error dialects:
- per-app routes (`/1.0/{APP_API_KEY}/…`, `/1.1/…`): `{"code": 31, "message": "…"}`
- per-project routes (`/2.x/…`): `{"error_code": "MALFORMED_PARAMETER", "error_message": "…"}`
"""

from __future__ import annotations

import re

from django.http import HttpRequest, JsonResponse

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
