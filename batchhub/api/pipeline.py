"""The write pipeline every REST route goes through, and the route helper that declares a write route.

A domain app's `api.py` makes an `ApiRouter` per family, declares each write with `router.write(…)` and answers
with `accept_write(request, route=…, check=…)`: `check` turns the body into (kind, operations, answer) or raises
`ApiError`; the call is recorded and, if accepted, applied later by the applier registered for its kind.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any, NamedTuple

import pydantic_core
from django.db import transaction
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from ninja import Path, Router, Schema
from pydantic import TypeAdapter

from batchhub.api.appliers import applier_for
from batchhub.api.auth import ApiCaller, AppKeyAuth, ProjectKeyAuth
from batchhub.api.edge import json_body
from batchhub.api.errors import APP_FAMILY, PROJECT_FAMILY, ApiError, api_family, error_body
from batchhub.api.features import INBOUND_FEATURES
from batchhub.api.idempotency import Replay, idempotency_begin, idempotency_finish
from batchhub.api.models import ApiCall
from batchhub.api.tasks import api_calls_apply_soon
from batchhub.core.data.bulk import insert_one
from batchhub.core.data.ids import uuid7

# ---- schemas and documentation shared by every route ----------------------------------------------


class AppError(Schema):
    code: int
    message: str


class ProjectError(Schema):
    error_code: str
    error_message: str


class TokenOut(Schema):
    token: uuid.UUID


_ERROR_STATUSES = (400, 401, 403, 404, 413, 422, 429)
ERROR_SCHEMAS = {
    APP_FAMILY: dict.fromkeys(_ERROR_STATUSES, AppError),
    PROJECT_FAMILY: dict.fromkeys(_ERROR_STATUSES, ProjectError),
}
APP_VERSION = Path(..., pattern=r"^1\.[01]$", description="1.0 or 1.1")
PROJECT_VERSION = Path(..., pattern=r"^2\.[0-9]{1,3}$", description="2.x, any minor version")
IDEMPOTENCY_DOC = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "Makes the write safe to retry for 24 h: the same answer, no second effect.",
}
PROJECT_HEADER_DOC = {
    "in": "header",
    "name": "X-Batch-Project",
    "required": True,
    "schema": {"type": "string"},
    "description": "The project key",
}


def _inline_refs(node: Any, definitions: dict) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return _inline_refs(definitions[node["$ref"].rsplit("/", 1)[1]], definitions)
        return {key: _inline_refs(value, definitions) for key, value in node.items()}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def body_schema(schema: Any) -> dict:
    """The JSON schema of a body type, references inlined (routes parse their JSON themselves, for keyed errors)."""
    json_schema = TypeAdapter(schema).json_schema()
    definitions = json_schema.pop("$defs", {})
    return _inline_refs(json_schema, definitions)


class ApiRouter(Router):
    """The routes of one domain app in one family: its authentication and error shapes come with the family."""

    def __init__(self, family: str, *, tags: list[str]) -> None:
        if family not in (APP_FAMILY, PROJECT_FAMILY):
            raise ValueError(f"unknown API family {family}")
        super().__init__(tags=tags, auth=AppKeyAuth() if family == APP_FAMILY else ProjectKeyAuth())
        self.family = family

    def write(
        self,
        method: str,
        path: str,
        *,
        body: Any,
        summary: str,
        name: str,
        answer: Any = TokenOut,
        status: int = 202,
    ) -> Callable:
        """Decorator of a write route: its answers (in the family's error shape), its body (None: no body) and its
        headers (Idempotency-Key; X-Batch-Project per project) in the OpenAPI document."""
        parameters = [IDEMPOTENCY_DOC] + ([PROJECT_HEADER_DOC] if self.family == PROJECT_FAMILY else [])
        extra: dict = {"parameters": parameters}
        if body is not None:
            extra["requestBody"] = {"required": True, "content": {"application/json": {"schema": body_schema(body)}}}
        return self.api_operation(
            [method],
            path,
            response={status: answer, **ERROR_SCHEMAS[self.family]},
            openapi_extra=extra,
            summary=summary,
            url_name=name,
        )


# ---- the write pipeline ----------------------------------------------------------------------------


class Stored(NamedTuple):
    """Operations already as the JSON text to store (a body in normal form), and how many they are."""

    json: str
    count: int


# (kind, operations, answer): answer None means the usual {"token": …} of the call
Accepted = tuple[str, list | Stored, dict | None]
Check = Callable[[Any, dt.datetime], Accepted]


def accept_write(
    request: HttpRequest,
    *,
    route: str,
    feature: str | None,
    check: Check,
    needs_body: bool = True,
    fast: Callable[[bytes, dt.datetime], Accepted | None] | None = None,
    accepted_status: int = 202,
    apply_now: bool = False,
) -> JsonResponse:
    """Validate, record and enqueue one write; errors and replays answer without a second effect.

    `check(body, now)` returns (kind, operations, answer or None for the call's token) or raises ApiError;
    `fast(raw, now)` may return the same straight from the bytes, or None to leave the decision to `check`.
    `now` is the call's time, for both. `kind` names a registered applier. `feature` is the inbound feature the
    route belongs to (api.features): a connector's key that lacks it gets 403 API_MISUSE, recorded like any refusal
    (None: `check` asks for the features the body needs, with `ApiCaller.feature_require`).
    Without an Idempotency-Key the call is one INSERT in autocommit (no transaction round trips).

    `apply_now`: the call is applied by its registered applier inside the request's transaction, together with
    its record (status applied): for small writes a client reads back at once (Campaigns API: create, then get or
    update the token), the same applier and the same ApiCall record as the worker's, only sooner. `check` runs in
    that transaction too, so it may lock the rows the applier will change.
    """
    caller: ApiCaller = request.auth
    family = api_family(request)
    idempotency_key = request.headers.get("Idempotency-Key")
    now = timezone.now()
    with transaction.atomic() if idempotency_key is not None or apply_now else nullcontext():
        record = None
        if idempotency_key is not None:
            fingerprint = f"{request.method} {request.path}\n".encode() + request.body
            reserved = idempotency_begin(scope=caller.idempotency_scope, key=idempotency_key, request_body=fingerprint)
            if isinstance(reserved, Replay):
                response = JsonResponse(json.loads(reserved.body), status=reserved.status, safe=False)
                response["Idempotent-Replayed"] = "true"
                return response
            record = reserved
        call = ApiCall(
            project_id=caller.project_id,
            app_id=caller.app_id,
            connector_id=caller.connector_id,
            route=route,
            created_at=now,
        )
        try:
            if feature is not None:
                caller.feature_require(feature, INBOUND_FEATURES[feature])
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
            applier = applier_for(kind)  # a kind nobody applies is a bug: a 500 now, never a 202 that fails later
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
            if apply_now:
                # raises on failure: the transaction (record and effect) rolls back and the client gets a 500
                call.counts = applier.apply(call)
                call.apply_status, call.applied_at, call.operations = ApiCall.ApplyStatus.APPLIED, timezone.now(), ""
        insert_one(call)
        if status == accepted_status and not apply_now:
            api_calls_apply_soon(caller.project_id)
        if record is not None:
            # a feature refused now may be enabled in a minute: that refusal is not replayed
            idempotency_finish(record, status=status, body=answer, replayable=call.error_code != "API_MISUSE")
    response = JsonResponse(answer, status=status)
    if retry_after is not None:
        response["Retry-After"] = str(retry_after)
    return response


def answer_read(request: HttpRequest, *, route: str, feature: str | None, read: Callable[[], Any]) -> JsonResponse:
    """Answer a read route with `read()` (any JSON value) or the ApiError it raises, recorded as an ApiCall like
    every call (the activity panels count reads too); a connector's key must have `feature`."""
    caller: ApiCaller = request.auth
    call = ApiCall(
        project_id=caller.project_id,
        app_id=caller.app_id,
        connector_id=caller.connector_id,
        route=route,
        created_at=timezone.now(),
    )
    try:
        if feature is not None:
            caller.feature_require(feature, INBOUND_FEATURES[feature])
        answer, status = read(), 200
    except ApiError as error:
        family = api_family(request)
        status, answer = error.status_in(family), error_body(family, error.kind, error.message)
        call.error_code, call.error_message = error.kind, error.message[:500]
    call.status_code = status
    insert_one(call)
    return JsonResponse(answer, status=status, safe=False)
