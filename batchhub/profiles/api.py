"""REST routes for profile data: Custom Data API 1.0, Trigger Events API 1.0, Profile API 2.x.

Bodies are parsed and checked by `profiles.ingest.rules` (messages name the key at fault); `ingest.schemas`
describes them in the OpenAPI document. An accepted write answers 202 at once and is applied by a worker
through the appliers this app registers (`profiles.services.APPLIERS`).
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.http import HttpRequest
from ninja import Path

from batchhub.api.auth import ApiCaller
from batchhub.api.errors import APP_FAMILY, PROJECT_FAMILY, ApiError
from batchhub.api.features import CUSTOM_DATA, INBOUND_FEATURES, TRIGGER_EVENTS
from batchhub.api.limits import rate_bucket_take
from batchhub.api.pipeline import APP_VERSION, PROJECT_VERSION, Accepted, ApiRouter, Stored, accept_write
from batchhub.profiles.ingest import rules
from batchhub.profiles.ingest.fast import events_bulk_accepts
from batchhub.profiles.ingest.schemas import (
    CustomDataBulkBody,
    CustomDataUpdate,
    CustomIdsBody,
    ProfileMassUpdatesBody,
    ProfileUpdateOut,
    ProfileUpdatesBody,
    TriggerEventsBody,
    TriggerEventsBulkBody,
)
from batchhub.profiles.queries import installations_known

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
        feature=CUSTOM_DATA,
        check=lambda body, now: ("profiles.custom_data", [rules.custom_data_check(custom_id, body)], None),
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
        feature=CUSTOM_DATA,
        check=lambda body, now: (
            "profiles.custom_data_delete",
            [rules.custom_id_check(custom_id, "custom user id")],
            None,
        ),
        needs_body=False,
        accepted_status=200,  # Batch documents 200 with the token for deletes; some clients treat 202 as an error
    )


@app_router.write(
    "POST",
    "/{version}/{api_key}/data/users",
    body=CustomDataBulkBody,
    summary=f"Set custom data of up to {rules.MAX_CUSTOM_DATA_USERS:,} users",
    name="custom_data_bulk",
)
def custom_data_bulk(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="custom_data.bulk",
        feature=CUSTOM_DATA,
        check=lambda body, now: ("profiles.custom_data", rules.custom_data_bulk_check(body), None),
    )


@app_router.write(
    "DELETE",
    "/{version}/{api_key}/data/users",
    body=CustomIdsBody,
    summary=f"Delete custom data of up to {rules.MAX_CUSTOM_DATA_USERS:,} users",
    name="custom_data_bulk_delete",
    status=200,
)
def custom_data_bulk_delete(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="custom_data.bulk_delete",
        feature=CUSTOM_DATA,
        check=lambda body, now: ("profiles.custom_data_delete", rules.custom_ids_check(body), None),
        accepted_status=200,
    )


# ---- Trigger Events API 1.0 --------------------------------------------------------------------------


def _events_single(custom_id: str):
    def check(body, now):
        if not isinstance(body, dict):
            raise ApiError("MALFORMED_PARAMETER", 'The body must be an object {"events": […]}.')
        events = rules.events_check(custom_id, body.get("events"), where="", now=now)
        rules.events_total_check(len(events))
        return "profiles.events", events, None

    return check


@app_router.write(
    "POST",
    "/{version}/{api_key}/events/users/{custom_id}",
    body=TriggerEventsBody,
    summary=f"Track events of a user (at most {rules.MAX_EVENTS_PER_CALL:,})",
    name="events_user",
)
def events_user(request, custom_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(request, route="events.user", feature=TRIGGER_EVENTS, check=_events_single(custom_id))


@app_router.write(
    "POST",
    "/{version}/{api_key}/events/users",
    body=TriggerEventsBulkBody,
    summary=f"Track events of many users (at most {rules.MAX_EVENTS_PER_CALL:,} events in all)",
    name="events_bulk",
)
def events_bulk(request, version: str = APP_VERSION, api_key: str = Path(...)):
    return accept_write(
        request,
        route="events.bulk",
        feature=TRIGGER_EVENTS,
        check=lambda body, now: ("profiles.events", rules.events_bulk_check(body, now), None),
        fast=_events_bulk_as_it_came,
    )


def _events_bulk_as_it_came(raw: bytes, now: dt.datetime) -> Accepted | None:
    """A body already in normal form is stored as it came: the worker reads it, the web skips rebuilding it."""
    count = events_bulk_accepts(raw, now)
    return None if count is None else ("profiles.events_raw", Stored(raw.decode(), count), None)


# ---- Profile API 2.x -----------------------------------------------------------------------------------

project_router = ApiRouter(PROJECT_FAMILY, tags=["Profile API (per project)"])


def _profile_features(operations: list[dict]) -> list[str]:
    """What a Profile API call needs of a connector's key, judged on what survived validation: events need trigger
    events; attributes, or a profile written without any valid event, need custom data."""
    data_keys = ("native", "set", "remove", "add", "remove_items")
    needs = [CUSTOM_DATA] if not operations else []  # nothing valid: no event either
    if any(not operation["events"] or any(operation[key] for key in data_keys) for operation in operations):
        needs.append(CUSTOM_DATA)
    if any(operation["events"] for operation in operations):
        needs.append(TRIGGER_EVENTS)
    return needs


def _profile_check(limit: int, *, route: str, request: HttpRequest):
    def check(body, now):
        caller: ApiCaller = request.auth
        if caller.features is not None and not caller.features & {CUSTOM_DATA, TRIGGER_EVENTS}:
            caller.feature_require(CUSTOM_DATA, INBOUND_FEATURES[CUSTOM_DATA])  # before it spends any rate budget
        if isinstance(body, list) and 0 < len(body) <= limit:
            # Batch counts profiles, not calls: a token bucket per project and route (429 with Retry-After).
            per_second, burst = settings.API_PROFILE_RATES[route]
            rate_bucket_take(f"{route}:{caller.project_id}", cost=len(body), per_second=per_second, burst=burst)
        operations, problems = rules.profile_updates_check(body, limit=limit)
        for feature in _profile_features(operations):
            caller.feature_require(feature, INBOUND_FEATURES[feature])
        operations = installations_known(caller.project_id, operations, problems)
        answer: dict = {"code": "SUCCESS"}
        if problems.errors:
            answer = {"code": "SUCCESS_WITH_PARTIAL_ERRORS", "errors": problems.listed()}
        return "profiles.profile_update", operations, answer

    return check


@project_router.write(
    "POST",
    "/{version}/profiles/update",
    body=ProfileUpdatesBody,
    summary=f"Update up to {rules.MAX_PROFILE_UPDATES:,} profiles",
    name="profiles_update",
    answer=ProfileUpdateOut,
)
def profiles_update(request, version: str = PROJECT_VERSION):
    route = "profiles.update"
    return accept_write(
        request,
        route=route,
        feature=None,  # the body says: attributes need custom data, events trigger events
        check=_profile_check(rules.MAX_PROFILE_UPDATES, route=route, request=request),
    )


@project_router.write(
    "POST",
    "/{version}/profiles/mass-update",
    body=ProfileMassUpdatesBody,
    summary=f"Update up to {rules.MAX_PROFILE_MASS_UPDATES:,} profiles",
    name="profiles_mass_update",
    answer=ProfileUpdateOut,
)
def profiles_mass_update(request, version: str = PROJECT_VERSION):
    route = "profiles.mass_update"
    return accept_write(
        request,
        route=route,
        feature=None,  # the body says: attributes need custom data, events trigger events
        check=_profile_check(rules.MAX_PROFILE_MASS_UPDATES, route=route, request=request),
    )
