"""How errors raised anywhere under a route are answered: always JSON, always in the caller's family shape."""

from __future__ import annotations

import logging

from django.http import Http404
from ninja import NinjaAPI
from ninja.errors import AuthenticationError, HttpError, ValidationError

from batchhub.api.errors import ApiError, error_response
from batchhub.core.web.outage import RETRY_AFTER_SECONDS, UNAVAILABLE_MESSAGE, outage_met
from batchhub.core.web.text import shown

logger = logging.getLogger(__name__)


def api_error(request, exc: ApiError):
    return error_response(request, exc)


def authentication_error(request, exc):
    return error_response(
        request, ApiError("AUTHENTICATION_INVALID", "The API key or the REST API key is missing or invalid.")
    )


def validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    location = [str(part) for part in first.get("loc", [])]
    if location[:2] == ["path", "version"]:
        return error_response(request, ApiError("ROUTE_NOT_FOUND", f"No API version {request.path.split('/')[1]}."))
    field = ".".join(location[1:]) or "request"
    kind = "MISSING_PARAMETER" if first.get("type") == "missing" else "MALFORMED_PARAMETER"
    return error_response(request, ApiError(kind, f"{field}: {first.get('msg', 'invalid value')}."))


def http_error(request, exc: HttpError):
    if exc.status_code == 400:
        return error_response(request, ApiError("MALFORMED_JSON_BODY", "The body is not valid JSON."))
    kinds = {401: "AUTHENTICATION_INVALID", 403: "API_MISUSE", 404: "ROUTE_NOT_FOUND", 429: "TOO_MANY_REQUESTS"}
    return error_response(request, ApiError(kinds.get(exc.status_code, "SERVER_ERROR"), str(exc)))


def not_found(request, exc):
    return error_response(request, ApiError("ROUTE_NOT_FOUND", f"No API route {request.method} {request.path}."))


def server_error(request, exc):
    if outage_met(exc, method=request.method, path=shown(request.path, 200)):
        return error_response(
            request, ApiError("SERVICE_UNAVAILABLE", UNAVAILABLE_MESSAGE, retry_after=RETRY_AFTER_SECONDS)
        )
    logger.exception("API error on %s %s", request.method, request.path)
    return error_response(request, ApiError("SERVER_ERROR", "Internal error; it was logged. Retrying later may help."))


def exception_handlers_install(api: NinjaAPI) -> None:
    for exception, handler in (
        (ApiError, api_error),
        (AuthenticationError, authentication_error),
        (ValidationError, validation_error),
        (HttpError, http_error),
        (Http404, not_found),
        (Exception, server_error),
    ):
        api.add_exception_handler(exception, handler)
