"""REST routes for profile data: Custom Data API 1.0, Trigger Events API 1.0, Profile API 2.x.

Bodies are parsed and validated by `profiles.ingest` (messages name the key at fault); the pydantic
schemas below describe them in the OpenAPI document. An accepted write answers 202 at once and is
applied by a worker (`profiles.tasks.api_calls_apply`).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, Literal, NamedTuple

import pydantic_core
from django.conf import settings
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from ninja import Field, Path, Router, Schema

from batchhub.core.apikit import (
    ApiError,
    Replay,
    api_family,
    error_body,
    idempotency_begin,
    idempotency_finish,
    json_body,
    rate_bucket_take,
)
from batchhub.core.bulk import insert_one
from batchhub.core.ids import uuid7
from batchhub.profiles import ingest
from batchhub.profiles.ingest_fast import RAW_EVENTS_KIND, events_bulk_accepts
from batchhub.profiles.queries import installations_known
from batchhub.profiles.tasks import api_calls_apply_soon
from batchhub.projects.api_auth import ApiCaller, AppKeyAuth, ProjectKeyAuth
from batchhub.projects.models import ApiCall

# ---- schemas (documentation and response validation) ---------------------------------------------


class AppError(Schema):
    code: int
    message: str


class ProjectError(Schema):
    error_code: str
    error_message: str


class TokenOut(Schema):
    token: uuid.UUID


class CustomDataUpdate(Schema):
    overwrite: bool = False
    values: dict[str, Any] = Field(
        ..., description="u.<name>, date(u.<name>), url(u.<name>) or ut.<collection> → value; null removes"
    )


class CustomDataBulkItem(Schema):
    id: str = Field(..., min_length=1, max_length=512)
    update: CustomDataUpdate


class TriggerEvent(Schema):
    name: str = Field(..., examples=["added_to_cart", "ue.added_to_cart"], description="with or without 'ue.'")
    time: str | None = Field(None, description="YYYY-MM-DDTHH:MM:SS, UTC, within the last 24 h")
    label: str | None = Field(None, max_length=200)
    attributes: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)


class TriggerEventsBody(Schema):
    events: list[TriggerEvent]


class TriggerEventsBulkItem(Schema):
    id: str = Field(..., min_length=1, max_length=512)
    events: list[TriggerEvent]


class InstallationRef(Schema):
    apikey: str = Field(..., min_length=1, max_length=64, description="live, dev or SDK API key of the app")
    installation_id: str = Field(..., min_length=1, max_length=64)


class ProfileIdentifiers(Schema):
    """Exactly one of `custom_id` or `installation`."""

    custom_id: str | None = Field(None, min_length=1, max_length=512)
    installation: InstallationRef | None = None


class ProfileEventIn(Schema):
    name: str = Field(..., examples=["validated_purchase"])
    time: str | None = None
    attributes: dict[str, Any] = Field(
        default_factory=dict,
        description="at most 20; values: strings (1-300), numbers, booleans, null, date(name), url(name), "
        "objects (3 deep), arrays of strings or of objects (25 items); reserved: $label, $tags",
    )


class ProfileUpdate(Schema):
    identifiers: ProfileIdentifiers
    attributes: dict[str, Any] = Field(default_factory=dict)
    events: list[ProfileEventIn] = Field(default_factory=list)


class PartialError(Schema):
    category: str
    bulk_index: int
    reason: str
    attribute: str | None = None


class ProfileUpdateOut(Schema):
    code: Literal["SUCCESS", "SUCCESS_WITH_PARTIAL_ERRORS"]
    errors: list[PartialError] | None = None


APP_ERRORS = {400: AppError, 401: AppError, 403: AppError, 404: AppError, 422: AppError, 429: AppError}
PROJECT_ERRORS = {
    400: ProjectError,
    401: ProjectError,
    403: ProjectError,
    404: ProjectError,
    422: ProjectError,
    429: ProjectError,
}
APP_VERSION = Path(..., pattern=r"^1\.[01]$", description="1.0 or 1.1")
PROJECT_VERSION = Path(..., pattern=r"^2\.[0-9]{1,3}$", description="2.x, any minor version")
IDEMPOTENCY_DOC = {
    "parameters": [
        {
            "in": "header",
            "name": "Idempotency-Key",
            "required": False,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255},
            "description": "Makes the write safe to retry for 24 h: the same answer, no second effect.",
        }
    ]
}


def _inline_refs(node: Any, definitions: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
        return {key: _inline_refs(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def _body_doc(schema: Any) -> dict:
    """OpenAPI request body of a route that parses its JSON itself (for precise, keyed error messages)."""
    from pydantic import TypeAdapter

    json_schema = TypeAdapter(schema).json_schema()
    definitions = json_schema.pop("$defs", {})
    return {
        **IDEMPOTENCY_DOC,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline_refs(json_schema, definitions)}},
        },
    }


# ---- the write pipeline shared by every route -----------------------------------------------------


class Stored(NamedTuple):
    """Operations already as the JSON text to store (a body in normal form), and how many they are."""

    json: str
    count: int


# (kind, operations, answer): answer None means the usual {"token": …} of the call
Accepted = tuple[str, list | Stored, dict | None]
Check = Callable[[Any, dt.datetime], Accepted]


def _accept_write(
    request: HttpRequest,
    *,
    route: str,
    check: Check,
    needs_body: bool = True,
    fast: Callable[[bytes, dt.datetime], Accepted | None] | None = None,
    accepted_status: int = 202,
) -> JsonResponse:
    """Validate, record and enqueue one write; errors and replays answer without a second effect.

    `check(body, now)` returns (kind, operations, answer or None for the call's token) or raises ApiError;
    `fast(raw, now)` may return the same straight from the bytes, or None to leave the decision to `check`.
    `now` is the call's time, for both.
    Without an Idempotency-Key the call is one INSERT in autocommit (no transaction round trips).
    """
    caller: ApiCaller = request.auth
    family = api_family(request)
    idempotency_key = request.headers.get("Idempotency-Key")
    now = timezone.now()
    with transaction.atomic() if idempotency_key is not None else nullcontext():
        record = None
        if idempotency_key is not None:
            fingerprint = f"{request.method} {request.path}\n".encode() + request.body
            reserved = idempotency_begin(scope=caller.scope, key=idempotency_key, request_body=fingerprint)
            if isinstance(reserved, Replay):
                response = JsonResponse(json.loads(reserved.body), status=reserved.status, safe=False)
                response["Idempotent-Replayed"] = "true"
                return response
            record = reserved
        call = ApiCall(project_id=caller.project_id, app_id=caller.app_id, route=route, created_at=now)
        try:
            accepted = fast(request.body, now) if fast is not None else None
            if accepted is None:
                body = json_body(request.body) if needs_body or request.body else None
                accepted = check(body, now)
            kind, operations, answer = accepted
        except ApiError as error:
            status, answer = error.status_in(family), error_body(family, error.kind, error.message)
            call.status_code, call.error_code, call.error_message = status, error.kind, error.message[:500]
            retry_after = error.retry_after
        else:
            status, retry_after = accepted_status, None
            call.token = uuid7()  # time-ordered: appended to the token index, not scattered in it
            answer = answer if answer is not None else {"token": str(call.token)}
            call.status_code, call.kind = status, kind
            if isinstance(operations, Stored):
                call.operations, count = operations.json, operations.count
            else:
                call.operations, count = pydantic_core.to_json(operations).decode(), len(operations)
            call.apply_status = ApiCall.ApplyStatus.PENDING
            call.counts = {"operations": count}
        insert_one(call)
        if status == accepted_status:
            api_calls_apply_soon(caller.project_id)
        if record is not None:
            idempotency_finish(record, status=status, body=answer)
    response = JsonResponse(answer, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


# ---- Custom Data API 1.0 -----------------------------------------------------------------------------

app_router = Router(tags=["Custom Data and Trigger Events (per app)"], auth=AppKeyAuth())


@app_router.post(
    "/{version}/{api_key}/data/users/{custom_id}",
    response={202: TokenOut, **APP_ERRORS},
    openapi_extra=_body_doc(CustomDataUpdate),
    summary="Set a user's custom data",
    url_name="custom_data_user",
)
def custom_data_user(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return _accept_write(
        request,
        route="custom_data.user",
        check=lambda body, now: ("custom_data", [ingest.custom_data_check(custom_id, body)], None),
    )


@app_router.delete(
    "/{version}/{api_key}/data/users/{custom_id}",
    response={200: TokenOut, **APP_ERRORS},
    openapi_extra=IDEMPOTENCY_DOC,
    summary="Delete a user's custom data (no body)",
    url_name="custom_data_user_delete",
)
def custom_data_user_delete(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return _accept_write(
        request,
        route="custom_data.delete",
        check=lambda body, now: (
            "custom_data_delete",
            [ingest.custom_id_check(custom_id, "custom user id")],
            None,
        ),
        needs_body=False,
        accepted_status=200,  # Batch documents 200 with the token for deletes; some clients treat 202 as an error
    )


@app_router.post(
    "/{version}/{api_key}/data/users",
    response={202: TokenOut, **APP_ERRORS},
    openapi_extra=_body_doc(list[CustomDataBulkItem]),
    summary="Set custom data of up to 10,000 users",
    url_name="custom_data_bulk",
)
def custom_data_bulk(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return _accept_write(
        request,
        route="custom_data.bulk",
        check=lambda body, now: ("custom_data", ingest.custom_data_bulk_check(body), None),
    )


@app_router.delete(
    "/{version}/{api_key}/data/users",
    response={200: TokenOut, **APP_ERRORS},
    openapi_extra=_body_doc(list[str]),
    summary="Delete custom data of up to 10,000 users",
    url_name="custom_data_bulk_delete",
)
def custom_data_bulk_delete(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return _accept_write(
        request,
        route="custom_data.bulk_delete",
        check=lambda body, now: ("custom_data_delete", ingest.custom_ids_check(body), None),
        accepted_status=200,
    )


# ---- Trigger Events API 1.0 --------------------------------------------------------------------------


def _events_single(custom_id: str):
    def check(body, now):
        if not isinstance(body, dict):
            raise ApiError("MALFORMED_PARAMETER", 'The body must be an object {"events": […]}.')
        events = ingest.events_check(custom_id, body.get("events"), where="", now=now)
        ingest.events_total_check(len(events))
        return "events", events, None

    return check


@app_router.post(
    "/{version}/{api_key}/events/users/{custom_id}",
    response={202: TokenOut, **APP_ERRORS},
    openapi_extra=_body_doc(TriggerEventsBody),
    summary="Track events of a user (at most 1,000)",
    url_name="events_user",
)
def events_user(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return _accept_write(request, route="events.user", check=_events_single(custom_id))


@app_router.post(
    "/{version}/{api_key}/events/users",
    response={202: TokenOut, **APP_ERRORS},
    openapi_extra=_body_doc(list[TriggerEventsBulkItem]),
    summary="Track events of many users (at most 1,000 events in all)",
    url_name="events_bulk",
)
def events_bulk(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return _accept_write(
        request,
        route="events.bulk",
        check=lambda body, now: ("events", ingest.events_bulk_check(body, now), None),
        fast=_events_bulk_as_it_came,
    )


def _events_bulk_as_it_came(raw: bytes, now: dt.datetime) -> Accepted | None:
    """A body already in normal form is stored as it came: the worker reads it, the web skips rebuilding it."""
    count = events_bulk_accepts(raw, now)
    return None if count is None else (RAW_EVENTS_KIND, Stored(raw.decode(), count), None)


# ---- Profile API 2.x -----------------------------------------------------------------------------------

project_router = Router(tags=["Profile API (per project)"], auth=ProjectKeyAuth())
PROJECT_HEADER_DOC = {
    "in": "header",
    "name": "X-Batch-Project",
    "required": True,
    "schema": {"type": "string"},
    "description": "The project key",
}


def _profile_check(limit: int, *, route: str, request: HttpRequest):
    def check(body, now):
        caller: ApiCaller = request.auth
        if isinstance(body, list) and 0 < len(body) <= limit:
            # Batch counts profiles, not calls: a token bucket per project and route (429 with Retry-After).
            per_second, burst = settings.API_PROFILE_RATES[route]
            rate_bucket_take(f"{route}:{caller.project_id}", cost=len(body), per_second=per_second, burst=burst)
        operations, problems = ingest.profile_updates_check(body, limit=limit)
        operations = installations_known(caller.project_id, operations, problems)
        answer: dict = {"code": "SUCCESS"}
        if problems.errors:
            answer = {"code": "SUCCESS_WITH_PARTIAL_ERRORS", "errors": problems.listed()}
        return "profile_update", operations, answer

    return check


def _profile_doc(schema) -> dict:
    doc = _body_doc(schema)
    return {**doc, "parameters": [*doc["parameters"], PROJECT_HEADER_DOC]}


@project_router.post(
    "/{version}/profiles/update",
    response={202: ProfileUpdateOut, **PROJECT_ERRORS},
    openapi_extra=_profile_doc(list[ProfileUpdate]),
    summary="Update up to 200 profiles",
    url_name="profiles_update",
)
def profiles_update(request, version: str = PROJECT_VERSION):
    route = "profiles.update"
    return _accept_write(
        request, route=route, check=_profile_check(ingest.MAX_PROFILE_UPDATES, route=route, request=request)
    )


@project_router.post(
    "/{version}/profiles/mass-update",
    response={202: ProfileUpdateOut, **PROJECT_ERRORS},
    openapi_extra=_profile_doc(list[ProfileUpdate]),
    summary="Update up to 10,000 profiles",
    url_name="profiles_mass_update",
)
def profiles_mass_update(request, version: str = PROJECT_VERSION):
    route = "profiles.mass_update"
    return _accept_write(
        request, route=route, check=_profile_check(ingest.MAX_PROFILE_MASS_UPDATES, route=route, request=request)
    )
