"""Writes on profiles: the appliers of accepted API calls (custom data, events, profile updates).

Each applier is registered with the API app (`profiles.apps`) and runs inside the API's claim transaction, the
call row locked: what it writes commits with the call's status, or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterable

from django.core.exceptions import ImproperlyConfigured
from django.db import DataError, connection, models, transaction
from django.db.models import NOT_PROVIDED, Q, Value
from django.db.models.functions import Greatest

from batchhub.core.data.bulk import sink_for_connection
from batchhub.core.data.db import rows_delete
from batchhub.core.data.deletions import Subjects
from batchhub.profiles.ingest.fast import events_bulk_fast
from batchhub.profiles.ingest.rules import event_name_canonical
from batchhub.profiles.models import AppCustomData, Installation, Profile, ProfileEvent

_PROFILE_NATIVE = {
    "email_address": "email",
    "email_marketing": "email_marketing",
    "phone_number": "phone_number",
    "language": "language",
    "region": "region",
    "timezone": "timezone",
}
EVENT_COLUMNS = tuple(
    ProfileEvent._meta.get_field(name).column
    for name in ("profile", "name", "label", "attributes", "tags", "occurred_at", "source")
)


# ---- the appliers (registered in apps.py) ----------------------------------------------------------------


def custom_data_apply(call) -> dict:
    return _custom_data_apply(call, json.loads(call.operations), call.created_at)


def custom_data_delete_apply(call) -> dict:
    return _custom_data_delete(call, json.loads(call.operations))


def events_apply(call) -> dict:
    """Normalised Trigger Events: set-based on PostgreSQL (one statement from the stored JSON)."""
    if connection.vendor == "postgresql":
        return _events_apply_postgres(_EVENTS_FROM_OPERATIONS, call.project_id, call.operations, call.created_at)
    return _events_apply(call.project_id, json.loads(call.operations), call.created_at, source=ProfileEvent.Source.API)


def events_raw_apply(call) -> dict:
    """A bulk Trigger Events body stored as it came (`profiles.ingest.fast`)."""
    at = call.created_at
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():  # a savepoint: only this statement is undone if jsonb refuses the body
                return _events_apply_postgres(_EVENTS_FROM_BODY, call.project_id, call.operations, at)
        except DataError:
            # A number JSON allows but jsonb cannot hold (1e-20000, 20,000 decimals, even under a key the
            # rules ignore): the events are written from the body parsed by Python, as the rules read it.
            pass
    events = events_bulk_fast(call.operations.encode(), at)
    if events is None:
        raise ValueError("the stored body no longer passes the fast rules")
    return _events_apply(call.project_id, events, at, source=ProfileEvent.Source.API)


def profile_update_apply(call) -> dict:
    return _profile_updates_apply(call.project_id, json.loads(call.operations), call.created_at)


APPLIERS = {
    "profiles.custom_data": (custom_data_apply, "Custom data"),
    "profiles.custom_data_delete": (custom_data_delete_apply, "Custom data deletion"),
    "profiles.events": (events_apply, "Trigger events"),
    "profiles.events_raw": (events_raw_apply, "Trigger events (stored as received)"),
    "profiles.profile_update": (profile_update_apply, "Profile updates"),
}


TOUCH_ATTEMPTS = 3

# ---- shared writes ------------------------------------------------------------------------------------


def profiles_touch(project_id: int, custom_ids: Iterable[str], at: dt.datetime) -> dict[str, Profile]:
    """The project's profiles for these custom ids, created when missing, locked, with their activity moved to
    `at` unless it is later already (a call applied late never moves activity back).

    An insert of the missing ones, an update of the older ones and one read, whatever the count (again for the
    ones a concurrent purge deleted in between: activity after a purge creates a new profile).
    """
    missing = sorted(set(custom_ids))  # one lock order for every worker: no deadlock between them
    touched: dict[str, Profile] = {}
    for _ in range(TOUCH_ATTEMPTS):
        if not missing:
            return touched
        Profile.objects.bulk_create(
            [Profile(project_id=project_id, custom_id=cid, last_activity_at=at, created_at=at) for cid in missing],
            ignore_conflicts=True,
            batch_size=2000,
        )
        Profile.objects.filter(project_id=project_id, custom_id__in=missing, last_activity_at__lt=at).update(
            last_activity_at=at
        )
        profiles = (
            Profile.objects.filter(project_id=project_id, custom_id__in=missing)
            .order_by("custom_id")
            .select_for_update()
        )
        touched.update((profile.custom_id, profile) for profile in profiles)
        # A profile the purge deleted between the insert (which found it) and the lock is missing: insert it again.
        missing = [cid for cid in missing if cid not in touched]
    raise RuntimeError(f"profiles of project {project_id} kept vanishing while being touched: {missing[:5]}")


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


def _custom_data_apply(call, operations: list[dict], at: dt.datetime) -> dict:
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


def _custom_data_delete(call, custom_ids: list[str]) -> dict:
    """Erase the users' custom data: app-level rows, and the custom attributes and tags of their profiles."""
    deleted, _ = AppCustomData.objects.filter(app=call.app, custom_id__in=custom_ids).delete()
    cleared = Profile.objects.filter(project_id=call.project_id, custom_id__in=custom_ids).update(
        attributes={}, tags={}, last_activity_at=Greatest("last_activity_at", Value(call.created_at))
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
    return sink_for_connection().write(ProfileEvent, EVENT_COLUMNS, rows)


def _new_row_values(model: type[models.Model], given: dict[str, str]) -> tuple[str, str]:
    """(columns, values) of an INSERT … SELECT creating `model` rows: `given` expressions by field name, every
    other column its model default as a literal (what the ORM would write), a fresh UUID for a unique UUID field.
    A new non-null column without a default the statement can write fails here, at import, on every database
    (not at ingest, on PostgreSQL only)."""
    columns, values = [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if field.name in given:
            expression = given[field.name]
        elif isinstance(field, models.UUIDField) and field.default is uuid.uuid4:
            expression = "gen_random_uuid()"
        elif (field.has_default() or (field.empty_strings_allowed and not field.null)) and not field.unique:
            # a constant: not now(), not a fresh value per row
            constant = not field.has_default() or not callable(field.default) or field.default in (dict, list)
            default = field.get_default()
            text = json.dumps(default) if isinstance(field, models.JSONField) else str(default)
            if not constant or default is None or "'" in text or "%" in text or field.db_default is not NOT_PROVIDED:
                raise ImproperlyConfigured(f"{field} has a default the events statement cannot write as a literal")
            expression = f"'{text}'"
        elif field.null:
            continue
        else:
            raise ImproperlyConfigured(f"{field} is required and has no default: the events statement cannot fill it")
        columns.append(connection.ops.quote_name(field.column))
        values.append(expression)
    return ", ".join(columns), ", ".join(values)


def _events_statement(source_rows: str) -> str:
    """One statement per call: read the stored JSON once (`source_rows` yields custom_id and the event `e` with
    its time `at_time`), upsert the profiles it names (sorted: one lock order for every worker) keeping the later
    activity, and insert the events joined to the upsert's own rows. Absent or null fields take their defaults."""
    profile, event = Profile._meta, ProfileEvent._meta
    profile_columns, profile_values = _new_row_values(
        Profile,
        {"project": "%(project)s", "custom_id": "ids.custom_id", "last_activity_at": "%(at)s", "created_at": "%(at)s"},
    )
    activity = connection.ops.quote_name(profile.get_field("last_activity_at").column)
    key = ", ".join(profile.get_field(name).column for name in ("project", "custom_id"))
    return f"""
WITH ops AS MATERIALIZED ({source_rows}),
touched AS (
    INSERT INTO {profile.db_table} ({profile_columns})
    SELECT {profile_values} FROM (SELECT DISTINCT custom_id FROM ops ORDER BY 1) ids
    ON CONFLICT ({key}) DO UPDATE SET {activity} = GREATEST({profile.db_table}.{activity}, EXCLUDED.{activity})
    RETURNING id, custom_id
)
INSERT INTO {event.db_table} ({", ".join(EVENT_COLUMNS)})
SELECT touched.id, regexp_replace(e->>'name', '^ue[.]', ''), COALESCE(e->>'label', ''),
       COALESCE(e->'attributes', '{{}}'), COALESCE(e->'tags', '[]'), COALESCE(at_time, %(at)s), %(source)s
FROM ops JOIN touched ON touched.custom_id = ops.custom_id
RETURNING {event.get_field("profile").column}
"""


# Normalised operations (`profiles.events`): times are ISO 8601 with their offset.
_EVENTS_FROM_OPERATIONS = _events_statement(
    "SELECT e->>'custom_id' AS custom_id, e, (e->>'time')::timestamptz AS at_time "
    "FROM jsonb_array_elements(%(ops)s::jsonb) e"
)
# A bulk body stored as it came (`profiles.events_raw`): the fast rules let through only bodies in normal form
# but for the optional `ue.` of names and absent fields; times are UTC without an offset.
_EVENTS_FROM_BODY = _events_statement(
    "SELECT u->>'id' AS custom_id, e, (e->>'time')::timestamp AT TIME ZONE 'UTC' AS at_time "
    "FROM jsonb_array_elements(%(ops)s::jsonb) u, jsonb_array_elements(u->'events') e"
)


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


# ---- deletion of profiles (registered with core.data.deletions in apps.py) ------------------------------------


def deletion_subjects(project_id: int, profile_ids: frozenset[int], custom_ids: frozenset[str]) -> Subjects:
    """Both sides of the profiles named: the custom ids of the profile ids, the profile ids of the custom ids."""
    rows = Profile.objects.filter(project_id=project_id).filter(Q(pk__in=profile_ids) | Q(custom_id__in=custom_ids))
    found = list(rows.values_list("pk", "custom_id"))
    return Subjects(
        project_id,
        frozenset(pk for pk, _ in found),
        frozenset(custom_ids) | {custom_id for _, custom_id in found if custom_id},
    )


def profile_events_delete(subjects: Subjects) -> int:
    return rows_delete(ProfileEvent, "profile_id", subjects.profile_ids)


def app_custom_data_delete(subjects: Subjects) -> int:
    rows = AppCustomData.objects.filter(app__project_id=subjects.project_id, custom_id__in=subjects.custom_ids)
    return rows.delete()[0]


def installations_unlink(subjects: Subjects) -> int:
    """Installations are app-centric and stay; they stop feeding the deleted profiles."""
    return Installation.objects.filter(profile_id__in=subjects.profile_ids).update(profile=None)


def profiles_delete(subjects: Subjects) -> int:
    """The profiles themselves, once the rows pointing at them are gone (one statement: no rows loaded)."""
    return rows_delete(Profile, "id", subjects.profile_ids, project_id=subjects.project_id)


# name: (deleter, runs last, the purge runs it too), in the order they run. Installations first: the API locks an
# installation before its profile, and the purge, holding the profiles, must wait on installations (if ever) at once,
# so that its lock_timeout ends the wait before the server's deadlock check could pick the API's transaction.
DELETERS = {
    "profiles.installations": (installations_unlink, False, True),
    "profiles.events": (profile_events_delete, False, True),
    # custom data at app level is app-centric: it stays when the purge deletes the omnichannel profile
    "profiles.app_custom_data": (app_custom_data_delete, False, False),
    "profiles.profiles": (profiles_delete, True, True),  # last: the others find rows through them
}
