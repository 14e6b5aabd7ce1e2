"""The REST API: one NinjaAPI at the site root, a router per domain app, errors in each family's shape."""

from __future__ import annotations

import logging

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from batchhub.core.apikit import ApiError, error_response, shown
from batchhub.core.outage import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, outage_met
from batchhub.profiles.api import app_router as profiles_app_router
from batchhub.profiles.api import project_router as profiles_project_router

logger = logging.getLogger(__name__)

api = NinjaAPI(
    title="BatchHub REST API",
    version="1.0",
    description=(
        "Batch-compatible inbound API. Per-app routes `/1.0/{APP_API_KEY}/…` authenticate with "
        "`X-Authorization: <REST API key>`; per-project routes `/2.x/…` with `Authorization: Bearer "
        "<REST API key>` and `X-Batch-Project: <project key>`."
    ),
    urls_namespace="api",
    openapi_url="/api/openapi.json",
    docs_url="/api/docs",
)
api.add_router("", profiles_app_router)
api.add_router("", profiles_project_router)


@api.exception_handler(ApiError)
def _api_error(request, exc: ApiError):
    return error_response(request, exc)


@api.exception_handler(AuthenticationError)
def _authentication_error(request, exc):
    return error_response(
        request, ApiError("AUTHENTICATION_INVALID", "The API key or the REST API key is missing or invalid.")
    )


@api.exception_handler(ValidationError)
def _validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    location = [str(part) for part in first.get("loc", [])]
    if location[:2] == ["path", "version"]:
        return error_response(request, ApiError("ROUTE_NOT_FOUND", f"No API version {request.path.split('/')[1]}."))
    field = ".".join(location[1:]) or "request"
    kind = "MISSING_PARAMETER" if first.get("type") == "missing" else "MALFORMED_PARAMETER"
    return error_response(request, ApiError(kind, f"{field}: {first.get('msg', 'invalid value')}."))


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return error_response(request, ApiError("MALFORMED_JSON_BODY", "The body is not valid JSON."))
    kinds = {401: "AUTHENTICATION_INVALID", 403: "API_MISUSE", 404: "ROUTE_NOT_FOUND", 429: "TOO_MANY_REQUESTS"}
    return error_response(request, ApiError(kinds.get(exc.status_code, "SERVER_ERROR"), str(exc)))


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, ApiError("ROUTE_NOT_FOUND", f"No API route {request.method} {request.path}."))


@api.exception_handler(Exception)
def _server_error(request, exc):
    if outage_met(exc, method=request.method, path=shown(request.path, 200)):
        return error_response(
            request, ApiError("SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE, retry_after=RETRY_AFTER_SECONDS)
        )
    logger.exception("API error on %s %s", request.method, request.path)
    return error_response(request, ApiError("SERVER_ERROR", "Internal error; it was logged. Retrying later may help."))
