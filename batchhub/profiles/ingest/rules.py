"""Validation of profile data sent to the REST API, into normalised operations a worker applies.

Every rule names the offending key and what was expected. The per-app APIs (Custom Data, Trigger
Events) refuse a call on its first error (400); the Profile API drops what is invalid and reports it
(SUCCESS_WITH_PARTIAL_ERRORS).
"""

from __future__ import annotations

import datetime as dt
import functools
import math
import re
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from batchhub.api.errors import ApiError
from batchhub.core.web.text import shown, text_fault
from batchhub.profiles import identifiers
from batchhub.profiles.identifiers import IdentifierError

MAX_CUSTOM_DATA_USERS = 10_000
MAX_EVENTS_PER_CALL = 1_000
MAX_PROFILE_UPDATES = 200
MAX_PROFILE_MASS_UPDATES = 10_000
MAX_STRING = 64
MAX_URL = 2048
MAX_LABEL = 200
MAX_EVENT_ATTRIBUTES = 15
MAX_EVENT_TAGS = 10
MAX_TAG = 64
# Tags in one collection of one Custom Data update: Batch does not document a count; this bounds a call's work
# (a 20 MiB body could otherwise carry millions).
MAX_TAGS = 1_000
# Profile API 2.x (CEP). Batch's REST page does not show these; they follow Batch's own SDKs (the Web SDK's
# constants/user.ts and event-data.ts, the Android profile-data docs): strings of 1 to 300 characters, 25 items
# per array, 50 attributes per profile update, 20 attributes per event, objects nested 3 deep, `$label` up to
# 200 characters, `$tags` up to 10 tags of 64.
MAX_CEP_STRING = 300
MAX_CEP_ARRAY_ITEMS = 25
MAX_PROFILE_ATTRIBUTES = 50
MAX_PROFILE_EVENT_ATTRIBUTES = 20
MAX_EVENT_OBJECT_DEPTH = 3
MAX_APP_API_KEY = 64  # the `apikey` of an installation identifier: an app's live, dev or SDK key
MAX_EMAIL = 254
EVENT_MAX_AGE = dt.timedelta(hours=24)
CLOCK_SKEW = dt.timedelta(minutes=2)

EVENT_PREFIX = "ue."  # Trigger Events' namespace in Batch's examples; stored events carry the bare name
LABEL_KEY, TAGS_KEY = "$label", "$tags"  # the reserved attributes of a Profile API event
SUBSCRIPTION_STATES = ("subscribed", "unsubscribed")  # of $email_marketing and $sms_marketing

# Formats, each written once as a JSON Schema pattern (ECMA-262: no flags, `^…$`): the OpenAPI document shows them
# (`ingest.schemas`) and the checks below match them whole (`fullmatch`: `$` then admits no final newline).
# Names are checked lower-cased (casefold), so their classes hold both cases: a name may be sent in either.
NAME_PATTERN = r"^[a-zA-Z0-9_]{1,30}$"  # attribute, tag collection and Profile API event names
EVENT_NAME_PATTERN = r"^[a-zA-Z0-9_.]{1,30}$"  # Trigger Events names, after an optional `ue.`
EVENT_TIME_PATTERN = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}$"
URL_PATTERN = r"^[a-zA-Z][a-zA-Z0-9+.-]*://\S+$"
EMAIL_PATTERN = r"^[^@\s\x00-\x1f\x7f]+@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"  # E.164
LANGUAGE_PATTERN = r"^[a-z]{2}$"
REGION_PATTERN = r"^[A-Z]{2}$"

_NAME = re.compile(NAME_PATTERN)
_EVENT_NAME = re.compile(EVENT_NAME_PATTERN)
_EVENT_TIME = re.compile(EVENT_TIME_PATTERN)
# the flag as before: with it, [a-zA-Z] also takes the Kelvin sign and the long s, as [a-z] did
_URL = re.compile(URL_PATTERN, re.IGNORECASE)
_EMAIL = re.compile(EMAIL_PATTERN)
_PHONE = re.compile(PHONE_PATTERN)
_LANGUAGE = re.compile(LANGUAGE_PATTERN)
_REGION = re.compile(REGION_PATTERN)
# The parsers of keys take any name in their groups, so that a bad name is reported as one (`_name`).
_CUSTOM_KEY = re.compile(r"^(?:(date|url)\((u\.[^)]*)\)|(u\.[^()]*)|(ut\.[^()]*))\Z", re.IGNORECASE)
_ATTRIBUTE_KEY = re.compile(r"^(?:(date|url)\(([^)]*)\)|([^()]*))\Z", re.IGNORECASE)


def _either_case(literal: str) -> str:
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else re.escape(c) for c in literal)


def _key_pattern(name_pattern: str, *, prefix: str = "", kind: str = "") -> str:
    """The pattern of keys `<prefix><name>` (kind "") or `<kind>(<prefix><name>)`, as `_CUSTOM_KEY` and
    `_ATTRIBUTE_KEY` parse them and `_name` checks the name: prefix and kind in either case."""
    key = _either_case(prefix) + name_pattern.removeprefix("^").removesuffix("$")
    return f"^{_either_case(kind)}\\({key}\\)$" if kind else f"^{key}$"


# Keys and event names as sent, for the OpenAPI document (the parsers and `_name` above are the checks;
# tests hold the two to agree).
CUSTOM_DATA_KEY_PATTERN = _key_pattern(NAME_PATTERN, prefix="u.")
CUSTOM_DATA_DATE_KEY_PATTERN = _key_pattern(NAME_PATTERN, prefix="u.", kind="date")
CUSTOM_DATA_URL_KEY_PATTERN = _key_pattern(NAME_PATTERN, prefix="u.", kind="url")
TAG_COLLECTION_KEY_PATTERN = _key_pattern(NAME_PATTERN, prefix="ut.")
ATTRIBUTE_KEY_PATTERN = _key_pattern(NAME_PATTERN)
DATE_ATTRIBUTE_KEY_PATTERN = _key_pattern(NAME_PATTERN, kind="date")
URL_ATTRIBUTE_KEY_PATTERN = _key_pattern(NAME_PATTERN, kind="url")
# `ue.` alone is the one name this admits that the rules refuse (an empty name once `ue.` is dropped)
TRIGGER_EVENT_NAME_PATTERN = f"^(?:{_either_case(EVENT_PREFIX)})?{EVENT_NAME_PATTERN.removeprefix('^')}"
PROFILE_EVENT_NAME_PATTERN = f"^(?:{_either_case(EVENT_PREFIX)})?{NAME_PATTERN.removeprefix('^')}"


def _bad(message: str) -> ApiError:
    return ApiError("MALFORMED_PARAMETER", message)


def _text(value: str, where: str) -> str:
    """Text that can be stored: the edge (`api.edge.json_body`) already refused NUL and lone surrogates in bodies;
    this guards values that come another way (path parameters)."""
    fault = text_fault(value)
    if fault:
        raise _bad(f"{where} contains {fault}.")
    return value


def custom_id_check(value: Any, where: str) -> str:
    """The custom user id (`identifiers.custom_id_check`), or a 400 with its message."""
    try:
        return identifiers.custom_id_check(value, where)
    except IdentifierError as error:
        raise _bad(error.message) from None


def _name(raw: str, where: str, *, pattern: re.Pattern = _NAME) -> str:
    name = raw.casefold()
    if not pattern.fullmatch(name):
        raise _bad(f"{where}: attribute name '{shown(raw)}' must be 1 to 30 characters of a-z, 0-9 and _.")
    return name


def _at(where: str, key: str) -> str:
    """The place of `key` in `where`, as messages show it (the key escaped)."""
    return f"{where}['{shown(key)}']"


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
        moment = moment.astimezone(dt.UTC)  # year 1 at +01:00 overflows here
    except (TypeError, ValueError, OverflowError, OSError):
        raise _bad(f"{where} must be an ISO 8601 date or unix seconds, got '{shown(str(value), 40)}'.") from None
    return moment.isoformat().replace("+00:00", "Z")


def _url(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _URL.fullmatch(value) or len(value) > MAX_URL:
        raise _bad(f"{where} must be a URL (scheme://…) of at most {MAX_URL} characters.")
    return _text(value, where)


def _scalar(value: Any, where: str, *, max_string: int = MAX_STRING, allow_empty: bool = True):
    if isinstance(value, str):
        if len(value) > max_string:
            raise _bad(f"{where} is longer than {max_string} characters.")
        if not allow_empty and not value:
            raise _bad(f"{where} is an empty string; strings hold 1 to {max_string} characters (null removes).")
        return _text(value, where)
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{where} must be a finite number (JSON numbers beyond ±1.8e308 are not).")
    if isinstance(value, bool | int | float):
        return value
    raise _bad(f"{where} must be a string, a number or a boolean.")


def _tags(value: Any, where: str, *, limit: int = MAX_TAGS, max_length: int = MAX_STRING) -> list[str]:
    """Distinct non-empty strings, in their order (repeats dropped)."""
    if not isinstance(value, list):
        raise _bad(f"{where} must be an array of strings.")
    if len(value) > limit:
        raise _bad(f"{where} has {len(value)} items; at most {limit} are allowed.")
    for tag in value:
        if not isinstance(tag, str) or not tag.strip() or len(tag) > max_length:
            raise _bad(f"{where} items must be non-empty strings of at most {max_length} characters.")
        _text(tag, where)
    return list(dict.fromkeys(value))


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
    tags_added: dict[str, list[str]] = {}
    tags_taken: dict[str, list[str]] = {}
    for key, value in values.items():
        label = _at(f"{where}values", key)
        match = _CUSTOM_KEY.match(key)
        if not match:
            raise _bad(f"{label}: keys are u.<name>, date(u.<name>), url(u.<name>) or ut.<collection>.")
        kind, typed, plain, tag_key = match.groups()
        if tag_key:
            name = _name(tag_key[3:], label)
            if value is None:
                removed_tags.append(name)
            elif isinstance(value, dict):
                # a partial update of the collection, applied set-wise: {"$add": [...], "$remove": [...]}
                if not value or set(value) - {"$add", "$remove"}:
                    raise _bad(f"{label}: an object takes '$add' and/or '$remove' arrays of tags only.")
                if "$add" in value:
                    tags_added[name] = _tags(value["$add"], f"{label}.$add")
                if "$remove" in value:
                    tags_taken[name] = _tags(value["$remove"], f"{label}.$remove")
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
        "tags_add": tags_added,
        "tags_remove": tags_taken,
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
    if not isinstance(value, str) or not _EVENT_TIME.fullmatch(value):
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


def event_name_canonical(name: str) -> str:
    """An event's stored name: lower case, without Batch's `ue.` namespace (clients may send it or not: Batch's
    examples have it, its SDKs and a real client do not)."""
    canonical = name.casefold()
    return canonical[len(EVENT_PREFIX) :] if canonical.startswith(EVENT_PREFIX) else canonical


def event_name(name: Any, where: str, *, pattern: re.Pattern = _EVENT_NAME) -> str:
    """The canonical name of an event sent to the API, or a 400 naming `where`."""
    if not isinstance(name, str):
        raise _bad(f"{where} must be a string such as 'added_to_cart'.")
    canonical = event_name_canonical(name)
    if not pattern.fullmatch(canonical):
        allowed = "a-z, 0-9, _ and '.'" if pattern is _EVENT_NAME else "a-z, 0-9 and _"
        raise _bad(f"{where} must be 1 to 30 characters of {allowed}, optionally after 'ue.' (got '{shown(name)}').")
    return canonical


def _event_attributes(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise _bad(f"{where} must be an object.")
    if len(value) > MAX_EVENT_ATTRIBUTES:
        raise _bad(f"{where} has {len(value)} attributes; at most {MAX_EVENT_ATTRIBUTES} are allowed.")
    attributes = {}
    for key, item in value.items():
        label = _at(where, key)
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
        raise ApiError("MISSING_PARAMETER", f"{where}.name is required (e.g. added_to_cart).")
    name = event_name(name, f"{where}.name")
    label = event.get("label")
    if label is not None and (not isinstance(label, str) or len(label) > MAX_LABEL):
        raise _bad(f"{where}.label must be a string of at most {MAX_LABEL} characters.")
    time_value = event.get("time")
    return {
        "name": name,
        "label": _text(label, f"{where}.label") if label else "",
        "time": event_time_check(time_value, f"{where}.time", now) if time_value is not None else None,
        "attributes": _event_attributes(event.get("attributes", {}), f"{where}.attributes"),
        "tags": _tags(event.get("tags", []), f"{where}.tags", limit=MAX_EVENT_TAGS, max_length=MAX_TAG),
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


MAX_LISTED_ERRORS = 1_000  # an answer lists this many partial errors at most (a 20 MiB body could hold millions)


@dataclass
class PartialErrors:
    errors: list[dict] = field(default_factory=list)
    unlisted: int = 0

    def add(self, *, index: int, reason: str, attribute: str | None = None, category: str = "attribute") -> None:
        if len(self.errors) < MAX_LISTED_ERRORS:
            self.errors.append({"category": category, "bulk_index": index, "reason": reason, "attribute": attribute})
        else:
            self.unlisted += 1

    def listed(self) -> list[dict]:
        """The errors to answer; past the limit, a last one says how many more were found."""
        if not self.unlisted:
            return self.errors
        last = self.errors[-1]["bulk_index"]
        summary = f"{self.unlisted} more errors were found and not listed (the answer lists {MAX_LISTED_ERRORS})."
        return [*self.errors, {"category": "errors", "bulk_index": last, "reason": summary, "attribute": None}]


@functools.cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


NATIVE_ATTRIBUTES = ("$email_address", "$email_marketing", "$sms_marketing", "$phone_number", "$language", "$region",
                 "$timezone")  # fmt: skip


def _native(name: str, value: Any) -> Any:
    where = f"attributes['{shown(name)}']"
    if name not in NATIVE_ATTRIBUTES:
        raise _bad(f"{where} is not a native attribute ({', '.join(NATIVE_ATTRIBUTES)}).")
    if value is None:
        return None
    if name == "$email_address":
        email = value.lower() if isinstance(value, str) else None  # lowered first: "İ".lower() is 2 characters
        if email is None or len(email) > MAX_EMAIL or not _EMAIL.fullmatch(email):
            raise _bad(f"{where} must be an email address of at most {MAX_EMAIL} characters.")
        return _text(email, where)
    if name in ("$email_marketing", "$sms_marketing"):
        if value not in SUBSCRIPTION_STATES:
            raise _bad(f"{where} must be 'subscribed', 'unsubscribed' or null.")
        return value
    if name == "$phone_number":
        if not isinstance(value, str) or not _PHONE.fullmatch(value):
            raise _bad(f"{where} must be an E.164 phone number such as +33612345678.")
        return value
    if name == "$language":
        if not isinstance(value, str) or not _LANGUAGE.fullmatch(value):
            raise _bad(f"{where} must be a 2-letter lowercase language code such as 'fr'.")
        return value
    if name == "$region":
        if not isinstance(value, str) or not _REGION.fullmatch(value):
            raise _bad(f"{where} must be a 2-letter uppercase region code such as 'FR'.")
        return value
    if name == "$timezone":
        if not isinstance(value, str) or value not in _time_zones():
            raise _bad(f"{where} must be an IANA time zone such as 'Europe/Paris'.")
        return value
    raise AssertionError(name)  # every name of NATIVE_ATTRIBUTES is handled above


def _typed_key(key: str, where: str) -> tuple[str, str]:
    """(name, kind) of an attribute key `name`, `date(name)` or `url(name)`; kind is "", "date" or "url"."""
    match = _ATTRIBUTE_KEY.match(key)
    if not match:
        raise _bad(f"{where}: keys are <name>, date(<name>) or url(<name>).")
    kind, typed, plain = match.groups()
    return _name(typed if kind else plain, where), (kind or "").lower()


def _cep_strings(value: Any, where: str) -> list[str]:
    return _tags(value, where, limit=MAX_CEP_ARRAY_ITEMS, max_length=MAX_CEP_STRING)


def _profile_attribute(key: str, value: Any, operation: dict) -> None:
    where = f"attributes['{shown(key)}']"
    name, kind = _typed_key(key, where)
    if value is None:
        operation["remove"].append(name)
    elif kind == "date":
        operation["set"][name] = _date(value, where)
    elif kind == "url":
        operation["set"][name] = _url(value, where)
    elif isinstance(value, list):
        operation["set"][name] = _cep_strings(value, where)
    elif isinstance(value, dict):
        unknown = set(value) - {"$add", "$remove"}
        if unknown or not value:
            raise _bad(f"{where}: an object value takes '$add' and/or '$remove' arrays only.")
        if "$add" in value:
            operation["add"][name] = _cep_strings(value["$add"], f"{where}.$add")
        if "$remove" in value:
            operation["remove_items"][name] = _cep_strings(value["$remove"], f"{where}.$remove")
    else:
        operation["set"][name] = _scalar(value, where, max_string=MAX_CEP_STRING, allow_empty=False)


def _event_value(value: Any, where: str, depth: int) -> Any:
    """One event attribute value, normalised: a scalar, an object, an array of strings or of objects."""
    if isinstance(value, dict):
        return _event_object(value, where, depth + 1)
    if isinstance(value, list):
        if len(value) > MAX_CEP_ARRAY_ITEMS:
            raise _bad(f"{where} has {len(value)} items; at most {MAX_CEP_ARRAY_ITEMS} are allowed.")
        if all(isinstance(item, dict) for item in value):
            return [_event_object(item, f"{where}[{n}]", depth + 1) for n, item in enumerate(value)]
        if all(isinstance(item, str) for item in value):
            return [
                _scalar(item, f"{where}[{n}]", max_string=MAX_CEP_STRING, allow_empty=False)
                for n, item in enumerate(value)
            ]
        raise _bad(f"{where}: an array holds strings only or objects only.")
    return _scalar(value, where, max_string=MAX_CEP_STRING, allow_empty=False)


def _event_attribute(key: str, value: Any, where: str, depth: int) -> tuple[str, Any]:
    name, kind = _typed_key(key, where)
    if kind == "date":
        return name, _date(value, where)
    if kind == "url":
        return name, _url(value, where)
    return name, _event_value(value, where, depth)


def _event_object(value: dict, where: str, depth: int) -> dict:
    if depth > MAX_EVENT_OBJECT_DEPTH:
        raise _bad(f"{where}: objects nest at most {MAX_EVENT_OBJECT_DEPTH} deep in event attributes.")
    if len(value) > MAX_PROFILE_EVENT_ATTRIBUTES:
        raise _bad(f"{where} has {len(value)} keys; at most {MAX_PROFILE_EVENT_ATTRIBUTES} are allowed.")
    normalised = {}
    for key, item in value.items():
        if item is not None:  # null: no value, as Batch's SDKs drop it
            name, item = _event_attribute(key, item, _at(where, key), depth)
            normalised[name] = item
    return normalised


def _profile_event(event: Any, where: str, *, index: int, problems: PartialErrors) -> dict:
    """An event of a profile update; an invalid attribute is reported and left out, the rest of the event kept."""
    if not isinstance(event, dict):
        raise _bad(f"{where} must be an object with a 'name'.")
    if event.get("name") is None:
        raise ApiError("MISSING_PARAMETER", f"{where}.name is required (e.g. added_to_cart).")
    name = event_name(event["name"], f"{where}.name", pattern=_NAME)
    time_value = event.get("time")
    occurred = _date(time_value, f"{where}.time") if time_value is not None else None
    attributes = event.get("attributes") or {}
    where_attributes = f"{where}.attributes"
    if not isinstance(attributes, dict):
        problems.add(
            index=index, category="events", reason=f"{where_attributes} must be an object.", attribute=where_attributes
        )
        attributes = {}
    label, tags, normalised = "", [], {}
    for key, value in attributes.items():
        at = _at(where_attributes, key)
        try:
            if key == LABEL_KEY:
                if value is not None and (not isinstance(value, str) or not value or len(value) > MAX_LABEL):
                    raise _bad(f"{at} must be a string of 1 to {MAX_LABEL} characters.")
                label = _text(value, at) if value else ""
            elif key == TAGS_KEY:
                tags = [] if value is None else _tags(value, at, limit=MAX_EVENT_TAGS, max_length=MAX_TAG)
            elif key.startswith("$"):
                raise _bad(f"{at}: the only reserved event attributes are $label and $tags.")
            elif len(normalised) >= MAX_PROFILE_EVENT_ATTRIBUTES:
                raise _bad(f"{at}: an event holds at most {MAX_PROFILE_EVENT_ATTRIBUTES} attributes.")
            elif value is not None:  # null: no value
                attribute, item = _event_attribute(key, value, at, depth=0)
                normalised[attribute] = item
        except ApiError as error:
            problems.add(index=index, category="events", reason=error.message, attribute=at)
    return {"name": name, "label": label, "time": occurred, "attributes": normalised, "tags": tags}


def _identifiers(item: Any) -> dict:
    """{"custom_id": …} or {"installation": {"api_key", "installation_id"}}: exactly one, as Batch documents."""
    if not isinstance(item, dict):
        raise _bad("each update must be an object with 'identifiers'.")
    given = item.get("identifiers")
    if not isinstance(given, dict):
        raise ApiError("MISSING_PARAMETER", "identifiers is required: an object with custom_id or installation.")
    custom_id, installation = given.get("custom_id"), given.get("installation")
    if custom_id is None and installation is None:
        raise ApiError("MISSING_PARAMETER", "identifiers needs custom_id or installation.")
    if custom_id is not None and installation is not None:
        raise _bad("identifiers takes exactly one of custom_id or installation, not both.")
    if custom_id is not None:
        return {"custom_id": custom_id_check(custom_id, "identifiers.custom_id")}
    shape = 'identifiers.installation must be {"apikey": "<app API key>", "installation_id": "<installation id>"}'
    if not isinstance(installation, dict):
        raise _bad(f"{shape}.")
    api_key, installation_id = installation.get("apikey"), installation.get("installation_id")
    if not isinstance(api_key, str) or not 0 < len(api_key) <= MAX_APP_API_KEY:
        raise _bad(f"{shape}: apikey is the live, dev or SDK API key of one of the project's apps.")
    try:
        identifiers.installation_id_check(installation_id, "installation_id")
    except IdentifierError as error:
        raise _bad(f"{shape}: {error.message}") from None
    _text(api_key, "identifiers.installation.apikey")
    return {"installation": {"api_key": api_key, "installation_id": installation_id}}


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
            target = _identifiers(item)
        except ApiError as error:
            problems.add(index=index, reason=error.message, category="identifiers", attribute="identifiers")
            continue
        operation = {
            "bulk_index": index,
            "custom_id": target.get("custom_id"),
            "installation": target.get("installation"),
            "native": {},
            "set": {},
            "remove": [],
            "add": {},
            "remove_items": {},
            "events": [],
        }
        attributes = item.get("attributes") or {}
        if not isinstance(attributes, dict):
            problems.add(index=index, reason="attributes must be an object.", attribute="attributes")
            attributes = {}
        for position, (key, value) in enumerate(attributes.items()):
            try:
                if position >= MAX_PROFILE_ATTRIBUTES:
                    raise _bad(f"attributes: a profile update holds at most {MAX_PROFILE_ATTRIBUTES} attributes.")
                if key.startswith("$"):
                    operation["native"][key[1:]] = _native(key, value)
                else:
                    _profile_attribute(key, value, operation)
            except ApiError as error:
                problems.add(index=index, reason=error.message, attribute=key)
        events = item.get("events") or []
        if not isinstance(events, list):
            problems.add(index=index, reason="events must be an array.", category="events", attribute="events")
            events = []
        for position, event in enumerate(events):
            try:
                operation["events"].append(_profile_event(event, f"events[{position}]", index=index, problems=problems))
            except ApiError as error:
                problems.add(index=index, reason=error.message, category="events", attribute=f"events[{position}]")
        operations.append(operation)
    return operations, problems
