"""Validation of profile data sent to the REST API, into normalised operations a worker applies.

Every rule names the offending key and what was expected. The per-app APIs (Custom Data, Trigger
Events) refuse a call on its first error (400); the Profile API drops what is invalid and reports it
(SUCCESS_WITH_PARTIAL_ERRORS).
"""

from __future__ import annotations

import datetime as dt
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from batchhub.core.apikit import ApiError

MAX_CUSTOM_DATA_USERS = 10_000
MAX_EVENTS_PER_CALL = 1_000
MAX_PROFILE_UPDATES = 200
MAX_PROFILE_MASS_UPDATES = 10_000
MAX_CUSTOM_ID = 512
MAX_STRING = 64
MAX_URL = 2048
MAX_LABEL = 200
MAX_EVENT_ATTRIBUTES = 15
MAX_EVENT_TAGS = 10
EVENT_MAX_AGE = dt.timedelta(hours=24)
CLOCK_SKEW = dt.timedelta(minutes=2)

_NAME = re.compile(r"^[a-z0-9_]{1,30}\Z")
_EVENT_NAME = re.compile(r"^[a-z0-9_.]{1,30}\Z")
_CUSTOM_KEY = re.compile(r"^(?:(date|url)\((u\.[^)]*)\)|(u\.[^()]*)|(ut\.[^()]*))\Z", re.IGNORECASE)
_ATTRIBUTE_KEY = re.compile(r"^(?:(date|url)\(([^)]*)\)|([^()]*))\Z", re.IGNORECASE)
_EVENT_TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\Z")
_URL = re.compile(r"^[a-z][a-z0-9+.-]*://\S+\Z", re.IGNORECASE)
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+\Z")
_PHONE = re.compile(r"^\+[1-9][0-9]{6,14}\Z")
_LANGUAGE = re.compile(r"^[a-z]{2}\Z")
_REGION = re.compile(r"^[A-Z]{2}\Z")


def _bad(message: str) -> ApiError:
    return ApiError("MALFORMED_PARAMETER", message)


def _text(value: str, where: str) -> str:
    """Text that can be stored: no NUL character, no lone UTF-16 surrogate (both valid JSON escapes)."""
    if "\x00" in value:
        raise _bad(f"{where} contains a NUL character (\\u0000).")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _bad(f"{where} contains an invalid Unicode character (a lone surrogate).") from None
    return value


def custom_id_check(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _bad(f"{where} must be a non-empty string (the custom user id).")
    if len(value) > MAX_CUSTOM_ID:
        raise _bad(f"{where} is longer than {MAX_CUSTOM_ID} characters.")
    return _text(value, where)


def _name(raw: str, where: str, *, pattern: re.Pattern = _NAME) -> str:
    name = raw.casefold()
    if not pattern.match(name):
        raise _bad(f"{where}: attribute name '{raw}' must be 1 to 30 characters of a-z, 0-9 and _.")
    return name


def _date(value: Any, where: str) -> str:
    """ISO 8601 or unix seconds, normalised to an ISO 8601 UTC string."""
    if isinstance(value, bool):
        raise _bad(f"{where} must be an ISO 8601 date or unix seconds, not a boolean.")
    try:
        if isinstance(value, int | float):
            moment = dt.datetime.fromtimestamp(value, tz=dt.UTC)
        elif isinstance(value, str):
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=dt.UTC)
        else:
            raise TypeError
    except (TypeError, ValueError, OverflowError, OSError):
        raise _bad(f"{where} must be an ISO 8601 date or unix seconds, got {str(value)[:40]!r}.") from None
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _URL.match(value) or len(value) > MAX_URL:
        raise _bad(f"{where} must be a URL (scheme://…) of at most {MAX_URL} characters.")
    return _text(value, where)


def _scalar(value: Any, where: str) -> str | int | float | bool:
    if isinstance(value, str):
        if len(value) > MAX_STRING:
            raise _bad(f"{where} is longer than {MAX_STRING} characters.")
        return _text(value, where)
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{where} must be a finite number (JSON numbers beyond ±1.8e308 are not).")
    if isinstance(value, bool | int | float):
        return value
    raise _bad(f"{where} must be a string, a number or a boolean.")


def _tags(value: Any, where: str, *, limit: int | None = None) -> list[str]:
    if not isinstance(value, list):
        raise _bad(f"{where} must be an array of strings.")
    if limit is not None and len(value) > limit:
        raise _bad(f"{where} has {len(value)} tags; at most {limit} are allowed.")
    tags: list[str] = []
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > MAX_STRING:
            raise _bad(f"{where} tags must be non-empty strings of at most {MAX_STRING} characters.")
        if tag not in tags:
            tags.append(_text(tag, where))
    return tags


# ---- Custom Data API 1.0 -------------------------------------------------------------------------


def custom_data_check(custom_id: Any, update: Any, *, where: str = "") -> dict:
    """One user's `{"overwrite": bool, "values": {...}}` as an operation: set, remove, tag sets."""
    custom_id = custom_id_check(custom_id, f"{where}id" if where else "custom user id")
    if not isinstance(update, dict):
        raise _bad(f"{where or 'body'} must be an object with 'overwrite' and 'values'.")
    overwrite = update.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise _bad(f"{where}overwrite must be true or false.")
    values = update.get("values")
    if values is None:
        raise ApiError("MISSING_PARAMETER", f"{where}values is required (an object of custom data).")
    if not isinstance(values, dict):
        raise _bad(f"{where}values must be an object.")
    attributes: dict[str, Any] = {}
    removed: list[str] = []
    tags: dict[str, list[str]] = {}
    removed_tags: list[str] = []
    for key, value in values.items():
        label = f"{where}values['{key}']"
        match = _CUSTOM_KEY.match(key)
        if not match:
            raise _bad(f"{label}: keys are u.<name>, date(u.<name>), url(u.<name>) or ut.<collection>.")
        kind, typed, plain, tag_key = match.groups()
        if tag_key:
            name = _name(tag_key[3:], label)
            if value is None:
                removed_tags.append(name)
            else:
                tags[name] = _tags(value, label)
            continue
        name = _name((typed or plain)[2:], label)
        if value is None:
            removed.append(name)
        elif (kind or "").lower() == "date":
            attributes[name] = _date(value, label)
        elif (kind or "").lower() == "url":
            attributes[name] = _url(value, label)
        else:
            attributes[name] = _scalar(value, label)
    return {
        "custom_id": custom_id,
        "overwrite": overwrite,
        "set": attributes,
        "remove": removed,
        "tags": tags,
        "remove_tags": removed_tags,
    }


def custom_data_bulk_check(body: Any) -> list[dict]:
    if not isinstance(body, list):
        raise _bad('The body must be an array of {"id": …, "update": {…}}.')
    if not body:
        raise ApiError("MISSING_PARAMETER", "The body must hold at least one user.")
    if len(body) > MAX_CUSTOM_DATA_USERS:
        raise ApiError("API_MISUSE", f"At most {MAX_CUSTOM_DATA_USERS} users per call; got {len(body)}.")
    operations = []
    for index, item in enumerate(body):
        if not isinstance(item, dict) or "update" not in item:
            raise ApiError("MISSING_PARAMETER", f"[{index}] must be an object with 'id' and 'update'.")
        operations.append(custom_data_check(item.get("id"), item["update"], where=f"[{index}]."))
    return operations


def custom_ids_check(body: Any) -> list[str]:
    if not isinstance(body, list):
        raise _bad("The body must be an array of custom user ids.")
    if not body:
        raise ApiError("MISSING_PARAMETER", "The body must hold at least one custom user id.")
    if len(body) > MAX_CUSTOM_DATA_USERS:
        raise ApiError("API_MISUSE", f"At most {MAX_CUSTOM_DATA_USERS} ids per call; got {len(body)}.")
    return list(dict.fromkeys(custom_id_check(value, f"[{index}]") for index, value in enumerate(body)))


# ---- Trigger Events API 1.0 ----------------------------------------------------------------------


def event_time_check(value: Any, where: str, now: dt.datetime) -> str:
    if not isinstance(value, str) or not _EVENT_TIME.match(value):
        raise _bad(f"{where} must be YYYY-MM-DDTHH:MM:SS (UTC).")
    try:
        moment = dt.datetime.fromisoformat(value).replace(tzinfo=dt.UTC)
    except ValueError:
        raise _bad(f"{where} is not a valid date ({value}).") from None
    if moment > now + CLOCK_SKEW:
        raise _bad(f"{where} is in the future ({value}).")
    if moment < now - EVENT_MAX_AGE:
        raise _bad(f"{where} is older than 24 hours ({value}).")
    return moment.isoformat()


def _event_attributes(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object.")
    if len(value) > MAX_EVENT_ATTRIBUTES:
        raise _bad(f"{where} has {len(value)} attributes; at most {MAX_EVENT_ATTRIBUTES} are allowed.")
    attributes = {}
    for key, item in value.items():
        label = f"{where}['{key}']"
        match = _ATTRIBUTE_KEY.match(key)
        if not match:
            raise _bad(f"{label}: attribute keys are <name> or date(<name>).")
        kind, typed, plain = match.groups()
        if (kind or "").lower() == "url":
            raise _bad(f"{label}: event attributes are <name> or date(<name>).")
        name = _name(typed if kind else plain, label)
        attributes[name] = _date(item, label) if kind else _scalar(item, label)
    return attributes


def event_check(event: Any, where: str, now: dt.datetime) -> dict:
    if not isinstance(event, dict):
        raise _bad(f"{where} must be an object.")
    name = event.get("name")
    if name is None:
        raise ApiError("MISSING_PARAMETER", f"{where}.name is required (e.g. ue.added_to_cart).")
    if not isinstance(name, str) or not name.casefold().startswith("ue.") or not _EVENT_NAME.match(name[3:].casefold()):
        raise _bad(f"{where}.name must be 'ue.' followed by 1 to 30 characters of a-z, 0-9, _ and '.'.")
    label = event.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL):
        raise _bad(f"{where}.label must be a string of at most {MAX_LABEL} characters.")
    time_value = event.get("time")
    return {
        "name": name.casefold(),
        "label": _text(label, f"{where}.label") if label else "",
        "time": event_time_check(time_value, f"{where}.time", now) if time_value is not None else None,
        "attributes": _event_attributes(event.get("attributes", {}), f"{where}.attributes"),
        "tags": _tags(event.get("tags", []), f"{where}.tags", limit=MAX_EVENT_TAGS),
    }


def events_check(custom_id: Any, events: Any, *, where: str, now: dt.datetime) -> list[dict]:
    custom_id = custom_id_check(custom_id, f"{where}id" if where else "custom user id")
    if events is None:
        raise ApiError("MISSING_PARAMETER", f"{where}events is required (an array of events).")
    if not isinstance(events, list):
        raise _bad(f"{where}events must be an array.")
    checked = []
    for index, event in enumerate(events):
        item = event_check(event, f"{where}events[{index}]", now)
        item["custom_id"] = custom_id
        checked.append(item)
    return checked


def events_total_check(count: int) -> None:
    if count == 0:
        raise ApiError("MISSING_PARAMETER", "The call holds no event.")
    if count > MAX_EVENTS_PER_CALL:
        raise ApiError("API_MISUSE", f"At most {MAX_EVENTS_PER_CALL} events per call; got {count}.")


def events_bulk_check(body: Any, now: dt.datetime) -> list[dict]:
    if not isinstance(body, list):
        raise _bad('The body must be an array of {"id": …, "events": […]}.')
    events: list[dict] = []
    for index, item in enumerate(body):
        if not isinstance(item, dict):
            raise _bad(f"[{index}] must be an object with 'id' and 'events'.")
        events += events_check(item.get("id"), item.get("events"), where=f"[{index}].", now=now)
        if len(events) > MAX_EVENTS_PER_CALL:
            break
    events_total_check(len(events))
    return events


# ---- Profile API 2.x -----------------------------------------------------------------------------


@dataclass
class PartialErrors:
    errors: list[dict] = field(default_factory=list)

    def add(self, *, index: int, reason: str, attribute: str | None = None, category: str = "attribute") -> None:
        self.errors.append({"category": category, "bulk_index": index, "reason": reason, "attribute": attribute})


def _native(name: str, value: Any) -> Any:
    where = f"attributes['{name}']"
    if value is None:
        return None
    if name == "$email_address":
        if not isinstance(value, str) or not _EMAIL.match(value) or len(value) > 254:
            raise _bad(f"{where} must be an email address.")
        return value.lower()
    if name in ("$email_marketing", "$sms_marketing"):
        if value not in ("subscribed", "unsubscribed"):
            raise _bad(f"{where} must be 'subscribed', 'unsubscribed' or null.")
        return value
    if name == "$phone_number":
        if not isinstance(value, str) or not _PHONE.match(value):
            raise _bad(f"{where} must be an E.164 phone number such as +33612345678.")
        return value
    if name == "$language":
        if not isinstance(value, str) or not _LANGUAGE.match(value):
            raise _bad(f"{where} must be a 2-letter lowercase language code such as 'fr'.")
        return value
    if name == "$region":
        if not isinstance(value, str) or not _REGION.match(value):
            raise _bad(f"{where} must be a 2-letter uppercase region code such as 'FR'.")
        return value
    if name == "$timezone":
        try:
            zoneinfo.ZoneInfo(value)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            raise _bad(f"{where} must be an IANA time zone such as 'Europe/Paris'.") from None
        return value
    raise _bad(f"{where} is not a native attribute ($email_address, $email_marketing, $sms_marketing, "
               "$phone_number, $language, $region, $timezone).")  # fmt: skip


def _profile_attribute(key: str, value: Any, operation: dict) -> None:
    where = f"attributes['{key}']"
    match = _ATTRIBUTE_KEY.match(key)
    if not match:
        raise _bad(f"{where}: keys are <name>, date(<name>) or url(<name>).")
    kind, typed, plain = match.groups()
    name = _name(typed if kind else plain, where)
    if value is None:
        operation["remove"].append(name)
    elif (kind or "").lower() == "date":
        operation["set"][name] = _date(value, where)
    elif (kind or "").lower() == "url":
        operation["set"][name] = _url(value, where)
    elif isinstance(value, list):
        operation["set"][name] = _tags(value, where, limit=25)
    elif isinstance(value, dict):
        unknown = set(value) - {"$add", "$remove"}
        if unknown or not value:
            raise _bad(f"{where}: an object value takes '$add' and/or '$remove' arrays only.")
        if "$add" in value:
            operation["add"][name] = _tags(value["$add"], f"{where}.$add", limit=25)
        if "$remove" in value:
            operation["remove_items"][name] = _tags(value["$remove"], f"{where}.$remove", limit=25)
    else:
        operation["set"][name] = _scalar(value, where)


def _profile_event(event: Any, where: str) -> dict:
    if not isinstance(event, dict) or not isinstance(event.get("name"), str):
        raise _bad(f"{where} must be an object with a 'name'.")
    name = event["name"].casefold()
    if not _NAME.match(name):
        raise _bad(f"{where}.name must be 1 to 30 characters of a-z, 0-9 and _.")
    time_value = event.get("time")
    return {
        "name": name,
        "label": "",
        "time": _date(time_value, f"{where}.time") if time_value is not None else None,
        "attributes": _event_attributes(event.get("attributes", {}), f"{where}.attributes"),
        "tags": [],
    }


def profile_updates_check(body: Any, *, limit: int) -> tuple[list[dict], PartialErrors]:
    """Valid parts of each update become operations; the rest is reported, not applied."""
    if not isinstance(body, list):
        raise _bad("The body must be an array of profile updates.")
    if not body:
        raise ApiError("MISSING_PARAMETER", "The body must hold at least one profile update.")
    if len(body) > limit:
        raise ApiError("API_MISUSE", f"At most {limit} profile updates per call; got {len(body)}.")
    problems = PartialErrors()
    operations: list[dict] = []
    for index, item in enumerate(body):
        try:
            if not isinstance(item, dict):
                raise _bad("each update must be an object with 'identifiers'.")
            identifiers = item.get("identifiers")
            if not isinstance(identifiers, dict) or "custom_id" not in identifiers:
                raise ApiError("MISSING_PARAMETER", "identifiers.custom_id is required.")
            custom_id = custom_id_check(identifiers["custom_id"], "identifiers.custom_id")
        except ApiError as error:
            problems.add(index=index, reason=error.message, category="identifiers")
            continue
        operation = {"custom_id": custom_id, "native": {}, "set": {}, "remove": [], "add": {}, "remove_items": {}}
        attributes = item.get("attributes", {})
        if not isinstance(attributes, dict):
            problems.add(index=index, reason="attributes must be an object.", attribute="attributes")
            attributes = {}
        for key, value in attributes.items():
            try:
                if key.startswith("$"):
                    operation["native"][key[1:]] = _native(key, value)
                else:
                    _profile_attribute(key, value, operation)
            except ApiError as error:
                problems.add(index=index, reason=error.message, attribute=key)
        events = item.get("events", [])
        operation["events"] = []
        if not isinstance(events, list):
            problems.add(index=index, reason="events must be an array.", category="events")
            events = []
        for position, event in enumerate(events):
            try:
                operation["events"].append(_profile_event(event, f"events[{position}]"))
            except ApiError as error:
                problems.add(index=index, reason=error.message, category="events")
        operations.append(operation)
    return operations, problems
