"""REST routes for profile data: Custom Data API 1.0, Trigger Events API 1.0, Profile API 2.x.

Bodies are parsed and validated by `profiles.ingest` (messages name the key at fault); the pydantic
schemas below describe them in the OpenAPI document. An accepted write answers 202 at once and is
applied by a worker through the appliers this app registers (`profiles.services.APPLIERS`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Path, Schema

from batchhub.api.auth import ApiCaller
from batchhub.api.errors import APP_FAMILY, PROJECT_FAMILY, ApiError
from batchhub.api.limits import rate_bucket_take
from batchhub.api.pipeline import APP_VERSION, PROJECT_VERSION, Accepted, ApiRouter, Stored, accept_write
from batchhub.profiles import ingest
from batchhub.profiles.ingest_fast import events_bulk_accepts
from batchhub.profiles.queries import installations_known

# ---- schemas (documentation and response validation) ---------------------------------------------


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


# ---- Custom Data API 1.0 -----------------------------------------------------------------------------

app_router = ApiRouter(APP_FAMILY, tags=["Custom Data and Trigger Events (per app)"])


@app_router.write(
    "POST",
    "/{version}/{api_key}/data/users/{custom_id}",
    body=CustomDataUpdate,
    summary="Set a user's custom data",
    name="custom_data_user",
)
def custom_data_user(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="custom_data.user",
        check=lambda body, now: ("profiles.custom_data", [ingest.custom_data_check(custom_id, body)], None),
    )


@app_router.write(
    "DELETE",
    "/{version}/{api_key}/data/users/{custom_id}",
    body=None,
    summary="Delete a user's custom data (no body)",
    name="custom_data_user_delete",
    status=200,
)
def custom_data_user_delete(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="custom_data.delete",
        check=lambda body, now: (
            "profiles.custom_data_delete",
            [ingest.custom_id_check(custom_id, "custom user id")],
            None,
        ),
        needs_body=False,
        accepted_status=200,  # Batch documents 200 with the token for deletes; some clients treat 202 as an error
    )


@app_router.write(
    "POST",
    "/{version}/{api_key}/data/users",
    body=list[CustomDataBulkItem],
    summary="Set custom data of up to 10,000 users",
    name="custom_data_bulk",
)
def custom_data_bulk(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="custom_data.bulk",
        check=lambda body, now: ("profiles.custom_data", ingest.custom_data_bulk_check(body), None),
    )


@app_router.write(
    "DELETE",
    "/{version}/{api_key}/data/users",
    body=list[str],
    summary="Delete custom data of up to 10,000 users",
    name="custom_data_bulk_delete",
    status=200,
)
def custom_data_bulk_delete(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="custom_data.bulk_delete",
        check=lambda body, now: ("profiles.custom_data_delete", ingest.custom_ids_check(body), None),
        accepted_status=200,
    )


# ---- Trigger Events API 1.0 --------------------------------------------------------------------------


def _events_single(custom_id: str):
    def check(body, now):
        if not isinstance(body, dict):
            raise ApiError("MALFORMED_PARAMETER", 'The body must be an object {"events": […]}.')
        events = ingest.events_check(custom_id, body.get("events"), where="", now=now)
        ingest.events_total_check(len(events))
        return "profiles.events", events, None

    return check


@app_router.write(
    "POST",
    "/{version}/{api_key}/events/users/{custom_id}",
    body=TriggerEventsBody,
    summary="Track events of a user (at most 1,000)",
    name="events_user",
)
def events_user(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(request, route="events.user", check=_events_single(custom_id))


@app_router.write(
    "POST",
    "/{version}/{api_key}/events/users",
    body=list[TriggerEventsBulkItem],
    summary="Track events of many users (at most 1,000 events in all)",
    name="events_bulk",
)
def events_bulk(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="events.bulk",
        check=lambda body, now: ("profiles.events", ingest.events_bulk_check(body, now), None),
        fast=_events_bulk_as_it_came,
    )


def _events_bulk_as_it_came(raw: bytes, now: dt.datetime) -> Accepted | None:
    """A body already in normal form is stored as it came: the worker reads it, the web skips rebuilding it."""
    count = events_bulk_accepts(raw, now)
    return None if count is None else ("profiles.events_raw", Stored(raw.decode(), count), None)


# ---- Profile API 2.x -----------------------------------------------------------------------------------

project_router = ApiRouter(PROJECT_FAMILY, tags=["Profile API (per project)"])


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
        return "profiles.profile_update", operations, answer

    return check


@project_router.write(
    "POST",
    "/{version}/profiles/update",
    body=list[ProfileUpdate],
    summary="Update up to 200 profiles",
    name="profiles_update",
    answer=ProfileUpdateOut,
)
def profiles_update(request, version: str = PROJECT_VERSION):
    route = "profiles.update"
    return accept_write(
        request, route=route, check=_profile_check(ingest.MAX_PROFILE_UPDATES, route=route, request=request)
    )


@project_router.write(
    "POST",
    "/{version}/profiles/mass-update",
    body=list[ProfileUpdate],
    summary="Update up to 10,000 profiles",
    name="profiles_mass_update",
    answer=ProfileUpdateOut,
)
def profiles_mass_update(request, version: str = PROJECT_VERSION):
    route = "profiles.mass_update"
    return accept_write(
        request, route=route, check=_profile_check(ingest.MAX_PROFILE_MASS_UPDATES, route=route, request=request)
    )
