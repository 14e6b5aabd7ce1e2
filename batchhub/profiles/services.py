"""Writes on profiles: applying accepted API calls (custom data, events, profile updates).

A worker claims pending calls of a project and applies them in one transaction together with their
status change, in arrival order: a killed worker leaves nothing half-applied, a redelivered task finds
them applied already.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DataError, OperationalError, connection, transaction
from django.db.models import Q
from django.utils import timezone

from batchhub.core.bulk import sink_for_connection
from batchhub.profiles.ingest import event_name_canonical
from batchhub.profiles.ingest_fast import RAW_EVENTS_KIND, events_bulk_fast
from batchhub.profiles.models import AppCustomData, Installation, Profile, ProfileEvent
from batchhub.projects.models import ApiCall

logger = logging.getLogger(__name__)
_APPLY_LOCK = 7_301  # advisory lock namespace of API call appliers
STRANDED_AFTER = dt.timedelta(seconds=30)
CLAIM_BATCH = 10  # calls per transaction: short lock holds when workers share profiles
_PROFILE_NATIVE = {
    "email_address": "email",
    "email_marketing": "email_marketing",
    "phone_number": "phone_number",
    "language": "language",
    "region": "region",
    "timezone": "timezone",
}


class ApplierBusy(Exception):
    """Another worker is applying this project's calls (PostgreSQL advisory lock held)."""


_EVENT_COLUMNS = ("profile_id", "name", "label", "attributes", "tags", "occurred_at", "source")


def api_calls_apply_pending(*, project_id: int, limit: int = CLAIM_BATCH) -> int:
    """Apply up to `limit` pending calls of a project, oldest first; returns how many were handled.

    If the batch fails, its calls are retried one by one so that a single bad call is marked failed
    (with its error, for the dashboard) instead of blocking the others.
    """
    try:
        return _apply_batch(project_id=project_id, limit=limit)
    except (SoftTimeLimitExceeded, OperationalError, ApplierBusy):
        raise  # transient (time limit, deadlock, lost connection): the task retries the whole batch
    except Exception as exc:
        if limit > 1:
            return sum(api_calls_apply_pending(project_id=project_id, limit=1) for _ in range(limit))
        first = (
            ApiCall.objects.filter(project_id=project_id, apply_status=ApiCall.ApplyStatus.PENDING)
            .order_by("id")
            .values_list("id", flat=True)
            .first()
        )
        if first is None:
            return 0
        logger.exception("API call %s could not be applied", first)
        api_call_mark_failed(call_id=first, error=f"{type(exc).__name__}: {exc}")
        return 1


def _apply_batch(*, project_id: int, limit: int) -> int:
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # One applier per project at a time: concurrent appliers only wait on each other's profile
                # locks (measured: 2 workers on one project drain at less than half the speed of 1). Others
                # leave and come back (the task retries them), and the sweeper catches any left behind.
                cursor.execute("SELECT pg_try_advisory_xact_lock(%s, %s)", [_APPLY_LOCK, project_id])
                if not cursor.fetchone()[0]:
                    raise ApplierBusy(project_id)
                # Safe without waiting for the WAL flush: the calls' status commits with their data, so a
                # crash that loses this transaction loses both, and the calls are applied again.
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        calls = list(
            ApiCall.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(project_id=project_id, apply_status=ApiCall.ApplyStatus.PENDING)
            .select_related("app")
            .order_by("id")[:limit]
        )
        for call in calls:
            call.counts = _apply(call)
            call.apply_status = ApiCall.ApplyStatus.APPLIED
            call.applied_at = timezone.now()
        ApiCall.objects.bulk_update(calls, ["counts", "apply_status", "applied_at"])
    return len(calls)


def api_calls_stranded_projects(*, older_than: dt.timedelta = STRANDED_AFTER) -> list[int]:
    """Projects with calls pending for longer than `older_than` (their applier left just as they arrived)."""
    cutoff = timezone.now() - older_than
    return list(
        ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.PENDING, created_at__lt=cutoff)
        .values_list("project_id", flat=True)
        .distinct()
    )


def api_call_mark_failed(*, call_id: int, error: str) -> None:
    ApiCall.objects.filter(pk=call_id, apply_status=ApiCall.ApplyStatus.PENDING).update(
        apply_status=ApiCall.ApplyStatus.FAILED, apply_error=error[:2000]
    )


def _apply(call: ApiCall) -> dict:
    at = call.created_at
    if call.kind == "events" and connection.vendor == "postgresql":
        return _events_apply_postgres(_PG_EVENTS_APPLY, call.project_id, call.operations, at)
    if call.kind == RAW_EVENTS_KIND:
        if connection.vendor == "postgresql":
            try:
                with transaction.atomic():  # a savepoint: only this statement is undone if jsonb refuses the body
                    return _events_apply_postgres(_PG_RAW_EVENTS_APPLY, call.project_id, call.operations, at)
            except DataError:
                # A number JSON allows but jsonb cannot hold (1e-20000, 20,000 decimals, even under a key the
                # rules ignore): the events are written from the body parsed by Python, as the rules read it.
                pass
        events = events_bulk_fast(call.operations.encode(), at)
        if events is None:
            raise ValueError("the stored body no longer passes the fast rules")
        return _events_apply(call.project_id, events, at, source=ProfileEvent.Source.API)
    operations = json.loads(call.operations)
    if call.kind == "custom_data":
        return _custom_data_apply(call, operations, at)
    if call.kind == "custom_data_delete":
        return _custom_data_delete(call, operations)
    if call.kind == "events":
        return _events_apply(call.project_id, operations, at, source=ProfileEvent.Source.API)
    if call.kind == "profile_update":
        return _profile_updates_apply(call.project_id, operations, at)
    raise ValueError(f"unknown API call kind {call.kind}")


def profiles_touch(project_id: int, custom_ids: Iterable[str], at: dt.datetime) -> dict[str, Profile]:
    """The project's profiles for these custom ids, created when missing, with their activity set to `at`.

    One upsert (INSERT … ON CONFLICT (project, custom_id) DO UPDATE) and one read, whatever the count.
    """
    custom_ids = sorted(set(custom_ids))  # one lock order for every worker: no deadlock between them
    if not custom_ids:
        return {}
    Profile.objects.bulk_create(
        [Profile(project_id=project_id, custom_id=cid, last_activity_at=at, created_at=at) for cid in custom_ids],
        update_conflicts=True,
        unique_fields=["project", "custom_id"],
        update_fields=["last_activity_at"],
        batch_size=2000,
    )
    profiles = (
        Profile.objects.filter(project_id=project_id, custom_id__in=custom_ids)
        .order_by("custom_id")
        .select_for_update()
    )
    return {profile.custom_id: profile for profile in profiles}


def _merge_custom(attributes: dict, tags: dict, operation: dict) -> tuple[dict, dict]:
    attributes = {} if operation.get("overwrite") else dict(attributes)
    tags = {} if operation.get("overwrite") else dict(tags)
    for name in operation["remove"]:
        attributes.pop(name, None)
    attributes.update(operation["set"])
    for name in operation["remove_tags"]:
        tags.pop(name, None)
    tags.update(operation["tags"])
    added, taken = operation.get("tags_add", {}), operation.get("tags_remove", {})
    for name in {*added, *taken}:
        if name in tags or added.get(name):  # removing from a collection it does not have creates none
            tags[name] = items_merged(tags.get(name, []), add=added.get(name), remove=taken.get(name))
    return attributes, tags


def items_merged(current: object, *, add: list | None = None, remove: list | None = None) -> list:
    """A list updated set-wise: `add` appended where missing, then `remove` taken out, order kept (linear time)."""
    items = list(current) if isinstance(current, list) else []
    if add:
        present = set(items)
        items += [item for item in add if item not in present]
    if remove:
        taken = set(remove)
        items = [item for item in items if item not in taken]
    return items


def _custom_data_apply(call: ApiCall, operations: list[dict], at: dt.datetime) -> dict:
    """App-level data always; the Profile only for merges (`overwrite: true` stays app-level, as in Batch)."""
    app_rows = {
        row.custom_id: row
        for row in AppCustomData.objects.select_for_update()
        .filter(app=call.app, custom_id__in=[op["custom_id"] for op in operations])
        .order_by("custom_id")
    }
    merges = [op for op in operations if not op["overwrite"]]
    profiles = profiles_touch(call.project_id, [op["custom_id"] for op in merges], at)
    for operation in operations:
        row = app_rows.get(operation["custom_id"])
        if row is None:
            row = app_rows[operation["custom_id"]] = AppCustomData(
                app=call.app, custom_id=operation["custom_id"], updated_at=at
            )
        row.attributes, row.tags = _merge_custom(row.attributes, row.tags, operation)
        row.updated_at = at
        if not operation["overwrite"]:
            profile = profiles[operation["custom_id"]]
            profile.attributes, profile.tags = _merge_custom(profile.attributes, profile.tags, operation)
    AppCustomData.objects.bulk_create([r for r in app_rows.values() if r.pk is None], batch_size=2000)
    AppCustomData.objects.bulk_update(
        [r for r in app_rows.values() if r.pk is not None], ["attributes", "tags", "updated_at"], batch_size=1000
    )
    Profile.objects.bulk_update(list(profiles.values()), ["attributes", "tags"], batch_size=1000)
    return {"users": len(operations), "profiles_updated": len(profiles)}


def _custom_data_delete(call: ApiCall, custom_ids: list[str]) -> dict:
    """Erase the users' custom data: app-level rows, and the custom attributes and tags of their profiles."""
    deleted, _ = AppCustomData.objects.filter(app=call.app, custom_id__in=custom_ids).delete()
    cleared = Profile.objects.filter(project_id=call.project_id, custom_id__in=custom_ids).update(
        attributes={}, tags={}, last_activity_at=call.created_at
    )
    return {"users": len(custom_ids), "app_rows_deleted": deleted, "profiles_cleared": cleared}


def _events_apply(project_id: int, events: list[dict], at: dt.datetime, *, source: str) -> dict:
    profiles = profiles_touch(project_id, [event["custom_id"] for event in events], at)
    written = _events_write([(profiles[event["custom_id"]].pk, event) for event in events], at, source=source)
    return {"events": written, "profiles": len(profiles)}


def _events_write(events: list[tuple[int, dict]], at: dt.datetime, *, source: str) -> int:
    """Write (profile id, normalised event) pairs; an event without a time happened at `at`."""
    rows = (
        (
            profile_id,
            event_name_canonical(event["name"]),  # calls stored before names lost `ue.` still carry it
            event["label"],
            json.dumps(event["attributes"]),
            json.dumps(event["tags"]),
            dt.datetime.fromisoformat(event["time"]) if event["time"] else at,
            source,
        )
        for profile_id, event in events
    )
    return sink_for_connection().write(ProfileEvent, _EVENT_COLUMNS, rows)


# One statement per call: parse the stored JSON once, upsert the profiles it names (sorted: one lock
# order for every worker) with their activity, and insert the events joined to the upsert's own rows.
_PG_EVENTS_APPLY = """
WITH ops AS MATERIALIZED (
    SELECT e FROM jsonb_array_elements(%(ops)s::jsonb) e
), touched AS (
    INSERT INTO profiles_profile (code, project_id, custom_id, attributes, tags, language, region, timezone,
                                  last_activity_at, created_at)
    SELECT gen_random_uuid(), %(project)s, ids.custom_id, '{}', '{}', '', '', '', %(at)s, %(at)s
    FROM (SELECT DISTINCT e->>'custom_id' AS custom_id FROM ops ORDER BY 1) ids
    ON CONFLICT (project_id, custom_id)
    DO UPDATE SET last_activity_at = GREATEST(profiles_profile.last_activity_at, EXCLUDED.last_activity_at)
    RETURNING id, custom_id
)
INSERT INTO profiles_profileevent (profile_id, name, label, attributes, tags, occurred_at, source)
SELECT touched.id, regexp_replace(e->>'name', '^ue[.]', ''), e->>'label', e->'attributes', e->'tags',
       COALESCE((e->>'time')::timestamptz, %(at)s), %(source)s
FROM ops JOIN touched ON touched.custom_id = ops.e->>'custom_id'
RETURNING profile_id
"""


# The same for a bulk call stored as its body (`RAW_EVENTS_KIND`): the fast rules let through only bodies
# already in normal form but for the optional `ue.` of names, so only that prefix goes and absent or null fields
# take their defaults here.
_PG_RAW_EVENTS_APPLY = """
WITH ops AS MATERIALIZED (
    SELECT u->>'id' AS custom_id, e
    FROM jsonb_array_elements(%(ops)s::jsonb) u, jsonb_array_elements(u->'events') e
), touched AS (
    INSERT INTO profiles_profile (code, project_id, custom_id, attributes, tags, language, region, timezone,
                                  last_activity_at, created_at)
    SELECT gen_random_uuid(), %(project)s, ids.custom_id, '{}', '{}', '', '', '', %(at)s, %(at)s
    FROM (SELECT DISTINCT custom_id FROM ops ORDER BY 1) ids
    ON CONFLICT (project_id, custom_id)
    DO UPDATE SET last_activity_at = GREATEST(profiles_profile.last_activity_at, EXCLUDED.last_activity_at)
    RETURNING id, custom_id
)
INSERT INTO profiles_profileevent (profile_id, name, label, attributes, tags, occurred_at, source)
SELECT touched.id, regexp_replace(e->>'name', '^ue[.]', ''), COALESCE(e->>'label', ''), COALESCE(e->'attributes', '{}'),
       COALESCE(e->'tags', '[]'), COALESCE((e->>'time')::timestamp AT TIME ZONE 'UTC', %(at)s), %(source)s
FROM ops JOIN touched ON touched.custom_id = ops.custom_id
RETURNING profile_id
"""


def _events_apply_postgres(statement: str, project_id: int, stored_json: str, at: dt.datetime) -> dict:
    """The events of a call applied set-based, straight from the stored JSON (no row passes through Python)."""
    params = {"project": project_id, "at": at, "ops": stored_json, "source": ProfileEvent.Source.API}
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        profile_ids = [row[0] for row in cursor.fetchall()]
    return {"events": len(profile_ids), "profiles": len(set(profile_ids))}


def _profiles_of_installations(project_id: int, refs: list[dict], at: dt.datetime) -> dict[tuple, Profile]:
    """The profile each installation feeds, by (app id, installation id): its linked profile, else the profile of
    its custom id, else a new anonymous profile, linked to it from now on. Installations deleted since the call
    was accepted are absent."""
    wanted: dict[int, set[str]] = {}
    for ref in refs:
        wanted.setdefault(ref["app_id"], set()).add(ref["installation_id"])
    condition = Q()
    for app_id, installation_ids in wanted.items():
        condition |= Q(app_id=app_id, installation_id__in=installation_ids)
    installations = list(Installation.objects.select_for_update().filter(condition).order_by("id"))
    by_custom_id = profiles_touch(
        project_id, [i.custom_id for i in installations if i.profile_id is None and i.custom_id], at
    )
    unlinked = [i for i in installations if i.profile_id is None]
    for installation in unlinked:
        installation.profile = by_custom_id.get(installation.custom_id or "") or Profile.objects.create(
            project_id=project_id, last_activity_at=at, created_at=at
        )
    Installation.objects.bulk_update(unlinked, ["profile"], batch_size=1000)
    linked = [i.profile_id for i in installations]
    Profile.objects.filter(pk__in=linked, last_activity_at__lt=at).update(last_activity_at=at)
    profiles = Profile.objects.select_for_update().in_bulk(linked)
    return {(i.app_id, i.installation_id): profiles[i.profile_id] for i in installations}


def _profile_updates_apply(project_id: int, operations: list[dict], at: dt.datetime) -> dict:
    profiles = profiles_touch(project_id, [op["custom_id"] for op in operations if op.get("custom_id")], at)
    refs = [op["installation"] for op in operations if op.get("installation")]
    by_installation = _profiles_of_installations(project_id, refs, at) if refs else {}
    # One object per row: a call naming a profile by custom id and by installation changes both in one object.
    by_pk = {profile.pk: profile for profile in profiles.values()}
    by_installation = {ref: by_pk.setdefault(profile.pk, profile) for ref, profile in by_installation.items()}
    changed: dict[int, Profile] = {}
    changed_fields: set[str] = set()
    events: list[tuple[int, dict]] = []
    skipped = 0
    for operation in operations:
        ref = operation.get("installation")
        profile = (
            by_installation.get((ref["app_id"], ref["installation_id"])) if ref else profiles[operation["custom_id"]]
        )
        if profile is None:  # the installation was deleted after the call was accepted
            skipped += 1
            continue
        for native, value in operation["native"].items():
            if native == "sms_marketing":
                profile.attributes = {**profile.attributes, "$sms_marketing": value}
                changed_fields.add("attributes")
                continue
            field_name = _PROFILE_NATIVE[native]
            blank = "" if field_name in ("language", "region", "timezone") else None
            setattr(profile, field_name, value if value is not None else blank)
            changed_fields.add(field_name)
        attributes = dict(profile.attributes)
        for name in operation["remove"]:
            attributes.pop(name, None)
        attributes.update(operation["set"])
        for name in operation["add"]:
            attributes[name] = items_merged(attributes.get(name), add=operation["add"][name])
        for name in operation["remove_items"]:
            if isinstance(attributes.get(name), list):
                attributes[name] = items_merged(attributes[name], remove=operation["remove_items"][name])
        if attributes != profile.attributes:
            profile.attributes = attributes
            changed_fields.add("attributes")
        changed[profile.pk] = profile
        events += [(profile.pk, event) for event in operation["events"]]
    if changed_fields:
        Profile.objects.bulk_update(list(changed.values()), sorted(changed_fields), batch_size=1000)
    written = _events_write(events, at, source=ProfileEvent.Source.API) if events else 0
    return {"profiles": len(changed), "events": written, "skipped": skipped}
