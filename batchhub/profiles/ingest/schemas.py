"""The bodies of the profile-data routes as the OpenAPI document shows them, and the Profile API's answer.

The routes parse and check their JSON with `ingest.rules` (messages name the key at fault); these schemas only
describe the bodies (`ApiRouter.write(body=…)`) and validate the Profile API's answer. Every limit and pattern
below is one of the rules' constants: the document shows what the rules enforce.

Keys whose form decides their value (`u.<name>`, `date(<name>)`, `$label`, …) are described by hand-built
fragments (`patternProperties`), which pydantic's types cannot say; JSON Schema cannot count only some keys of an
object, so the limits of that kind are in descriptions.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from ninja import Field, Schema
from pydantic import ConfigDict, StringConstraints, WithJsonSchema

from batchhub.profiles.identifiers import MAX_CUSTOM_ID, MAX_INSTALLATION_ID
from batchhub.profiles.ingest.rules import (
    ATTRIBUTE_KEY_PATTERN,
    CUSTOM_DATA_DATE_KEY_PATTERN,
    CUSTOM_DATA_KEY_PATTERN,
    CUSTOM_DATA_URL_KEY_PATTERN,
    DATE_ATTRIBUTE_KEY_PATTERN,
    EMAIL_PATTERN,
    EVENT_TIME_PATTERN,
    LABEL_KEY,
    LANGUAGE_PATTERN,
    MAX_APP_API_KEY,
    MAX_CEP_ARRAY_ITEMS,
    MAX_CEP_STRING,
    MAX_CUSTOM_DATA_USERS,
    MAX_EMAIL,
    MAX_EVENT_ATTRIBUTES,
    MAX_EVENT_OBJECT_DEPTH,
    MAX_EVENT_TAGS,
    MAX_EVENTS_PER_CALL,
    MAX_LABEL,
    MAX_PROFILE_ATTRIBUTES,
    MAX_PROFILE_EVENT_ATTRIBUTES,
    MAX_PROFILE_MASS_UPDATES,
    MAX_PROFILE_UPDATES,
    MAX_STRING,
    MAX_TAG,
    MAX_TAGS,
    MAX_URL,
    PHONE_PATTERN,
    PROFILE_EVENT_NAME_PATTERN,
    REGION_PATTERN,
    SUBSCRIPTION_STATES,
    TAG_COLLECTION_KEY_PATTERN,
    TAGS_KEY,
    TRIGGER_EVENT_NAME_PATTERN,
    URL_ATTRIBUTE_KEY_PATTERN,
    URL_PATTERN,
)

# ---- fragments of JSON Schema ----------------------------------------------------------------------------

NULL = {"type": "null"}
NUMBER = {"type": "number"}
BOOLEAN = {"type": "boolean"}


def _string(*, min_length: int = 0, max_length: int | None = None, pattern: str | None = None, **extra) -> dict:
    schema: dict[str, Any] = {"type": "string", **extra}
    if min_length:
        schema["minLength"] = min_length
    if max_length is not None:
        schema["maxLength"] = max_length
    if pattern is not None:
        schema["pattern"] = pattern
    return schema


def _any(*schemas: dict) -> dict:
    """Any of `schemas`, one level deep (an `anyOf` among them is spread)."""
    options: list[dict] = []
    for schema in schemas:
        options += schema["anyOf"] if set(schema) == {"anyOf"} else [schema]
    return {"anyOf": options}


def _array(items: dict, *, max_items: int) -> dict:
    return {"type": "array", "items": items, "maxItems": max_items}


def _object(*, patterns: dict, properties: dict | None = None, max_properties: int | None = None, **extra) -> dict:
    """An object whose keys are `properties` or match one of `patterns`, and nothing else."""
    schema: dict[str, Any] = {"type": "object", **extra}
    if properties:
        schema["properties"] = properties
    schema["patternProperties"] = patterns
    schema["additionalProperties"] = False
    if max_properties is not None:
        schema["maxProperties"] = max_properties
    return schema


def _set_change(items: dict) -> dict:
    """`{"$add": […], "$remove": […]}`: items added to and removed from a collection, set-wise."""
    return {
        "type": "object",
        "properties": {"$add": items, "$remove": items},
        "minProperties": 1,
        "additionalProperties": False,
    }


DATE = _any(_string(description="ISO 8601"), {"type": "number", "description": "unix seconds"})
URL = _string(max_length=MAX_URL, pattern=URL_PATTERN)

# Custom Data and Trigger Events: short strings (empty ones too) and tags
SCALAR = _any(_string(max_length=MAX_STRING), NUMBER, BOOLEAN)
CUSTOM_DATA_TAGS = _array(_string(min_length=1, max_length=MAX_STRING), max_items=MAX_TAGS)
CUSTOM_DATA_VALUES = _object(
    patterns={
        CUSTOM_DATA_KEY_PATTERN: _any(SCALAR, NULL),
        CUSTOM_DATA_DATE_KEY_PATTERN: _any(DATE, NULL),
        CUSTOM_DATA_URL_KEY_PATTERN: _any(URL, NULL),
        TAG_COLLECTION_KEY_PATTERN: _any(CUSTOM_DATA_TAGS, _set_change(CUSTOM_DATA_TAGS), NULL),
    },
    description="u.<name>, date(u.<name>), url(u.<name>) or ut.<collection> → value; null removes",
)
TRIGGER_EVENT_ATTRIBUTES = _object(
    patterns={ATTRIBUTE_KEY_PATTERN: SCALAR, DATE_ATTRIBUTE_KEY_PATTERN: DATE},
    max_properties=MAX_EVENT_ATTRIBUTES,
)

# Profile API 2.x: longer strings (not empty), short arrays, objects nested in events
CEP_STRING = _string(min_length=1, max_length=MAX_CEP_STRING)
CEP_STRINGS = _array(CEP_STRING, max_items=MAX_CEP_ARRAY_ITEMS)
CEP_SCALAR = _any(CEP_STRING, NUMBER, BOOLEAN)
TYPED_VALUES = {DATE_ATTRIBUTE_KEY_PATTERN: _any(DATE, NULL), URL_ATTRIBUTE_KEY_PATTERN: _any(URL, NULL)}
NATIVE_VALUES = {
    "$email_address": _string(max_length=MAX_EMAIL, pattern=EMAIL_PATTERN),
    "$email_marketing": {"enum": list(SUBSCRIPTION_STATES)},
    "$sms_marketing": {"enum": list(SUBSCRIPTION_STATES)},
    "$phone_number": _string(pattern=PHONE_PATTERN, description="E.164"),
    "$language": _string(pattern=LANGUAGE_PATTERN),
    "$region": _string(pattern=REGION_PATTERN),
    "$timezone": _string(description="an IANA time zone such as Europe/Paris"),
}
PROFILE_ATTRIBUTES = _object(
    properties={name: _any(value, NULL) for name, value in NATIVE_VALUES.items()},
    patterns={
        ATTRIBUTE_KEY_PATTERN: _any(CEP_SCALAR, CEP_STRINGS, _set_change(CEP_STRINGS), NULL),
        **TYPED_VALUES,
    },
    max_properties=MAX_PROFILE_ATTRIBUTES,
    description="native ($…) and custom attributes; null removes",
)


def _event_value(depth: int) -> dict:
    """A value inside an event object `depth` deep (0: the event's attributes), null meaning no value."""
    kinds = [CEP_SCALAR, CEP_STRINGS]
    if depth < MAX_EVENT_OBJECT_DEPTH:
        inner = _event_object(depth + 1)
        kinds += [inner, _array(inner, max_items=MAX_CEP_ARRAY_ITEMS)]
    return _any(*kinds, NULL)


def _event_object(depth: int) -> dict:
    return _object(
        patterns={ATTRIBUTE_KEY_PATTERN: _event_value(depth), **TYPED_VALUES},
        max_properties=MAX_PROFILE_EVENT_ATTRIBUTES,
    )


EVENT_TAGS = _array(_string(min_length=1, max_length=MAX_TAG), max_items=MAX_EVENT_TAGS)
PROFILE_EVENT_ATTRIBUTES = _object(
    properties={
        LABEL_KEY: _any(_string(min_length=1, max_length=MAX_LABEL), NULL),
        TAGS_KEY: _any(EVENT_TAGS, NULL),
    },
    patterns={ATTRIBUTE_KEY_PATTERN: _event_value(0), **TYPED_VALUES},
    description=f"at most {MAX_PROFILE_EVENT_ATTRIBUTES} attributes with a value besides {LABEL_KEY} and "
    f"{TAGS_KEY}; objects nest {MAX_EVENT_OBJECT_DEPTH} deep",
)

CustomId = Annotated[str, StringConstraints(min_length=1, max_length=MAX_CUSTOM_ID)]
# Objects shown as the fragments above say
CustomDataValues = Annotated[dict[str, Any], WithJsonSchema(CUSTOM_DATA_VALUES)]
TriggerEventAttributes = Annotated[dict[str, Any], WithJsonSchema(TRIGGER_EVENT_ATTRIBUTES)]
ProfileAttributes = Annotated[dict[str, Any], WithJsonSchema(PROFILE_ATTRIBUTES)]
ProfileEventAttributes = Annotated[dict[str, Any], WithJsonSchema(PROFILE_EVENT_ATTRIBUTES)]


# ---- Custom Data API 1.0 ----------------------------------------------------------------------------------


class CustomDataUpdate(Schema):
    overwrite: bool = False
    values: CustomDataValues


class CustomDataBulkItem(Schema):
    id: CustomId
    update: CustomDataUpdate


CustomDataBulkBody = Annotated[list[CustomDataBulkItem], Field(min_length=1, max_length=MAX_CUSTOM_DATA_USERS)]
CustomIdsBody = Annotated[list[CustomId], Field(min_length=1, max_length=MAX_CUSTOM_DATA_USERS)]


# ---- Trigger Events API 1.0 -------------------------------------------------------------------------------


class TriggerEvent(Schema):
    name: str = Field(
        ...,
        pattern=TRIGGER_EVENT_NAME_PATTERN,
        examples=["added_to_cart", "ue.added_to_cart"],
        description="with or without 'ue.' (alone, it is no name), in either case; stored lower-cased without it",
    )
    time: Annotated[str, StringConstraints(pattern=EVENT_TIME_PATTERN)] | None = Field(
        None, description="YYYY-MM-DDTHH:MM:SS, UTC, within the last 24 h"
    )
    label: Annotated[str, StringConstraints(max_length=MAX_LABEL)] | None = None
    attributes: TriggerEventAttributes = Field(default_factory=dict)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_TAG)]] = Field(
        default_factory=list, max_length=MAX_EVENT_TAGS
    )


class TriggerEventsBody(Schema):
    events: list[TriggerEvent] = Field(..., min_length=1, max_length=MAX_EVENTS_PER_CALL)


class TriggerEventsBulkItem(Schema):
    id: CustomId
    events: list[TriggerEvent] = Field(..., max_length=MAX_EVENTS_PER_CALL)


TriggerEventsBulkBody = Annotated[
    list[TriggerEventsBulkItem],
    Field(min_length=1, description=f"at most {MAX_EVENTS_PER_CALL:,} events in all, at least one"),
]


# ---- Profile API 2.x --------------------------------------------------------------------------------------


class InstallationRef(Schema):
    apikey: str = Field(
        ..., min_length=1, max_length=MAX_APP_API_KEY, description="live, dev or SDK API key of the app"
    )
    installation_id: str = Field(..., min_length=1, max_length=MAX_INSTALLATION_ID)


class ProfileIdentifiers(Schema):
    """Exactly one of `custom_id` or `installation` (null: absent)."""

    model_config = ConfigDict(
        json_schema_extra={
            "oneOf": [
                {"required": ["custom_id"], "properties": {"custom_id": {"type": "string"}}},
                {"required": ["installation"], "properties": {"installation": {"type": "object"}}},
            ]
        }
    )

    custom_id: CustomId | None = None
    installation: InstallationRef | None = None


class ProfileEventIn(Schema):
    name: str = Field(
        ..., pattern=PROFILE_EVENT_NAME_PATTERN, examples=["validated_purchase"], description="in either case"
    )
    time: str | float | None = Field(None, description="ISO 8601 or unix seconds")
    attributes: ProfileEventAttributes | None = Field(default_factory=dict)


class ProfileUpdate(Schema):
    identifiers: ProfileIdentifiers
    attributes: ProfileAttributes | None = Field(default_factory=dict)
    events: list[ProfileEventIn] | None = Field(default_factory=list)


ProfileUpdatesBody = Annotated[list[ProfileUpdate], Field(min_length=1, max_length=MAX_PROFILE_UPDATES)]
ProfileMassUpdatesBody = Annotated[list[ProfileUpdate], Field(min_length=1, max_length=MAX_PROFILE_MASS_UPDATES)]


class PartialError(Schema):
    category: str
    bulk_index: int
    reason: str
    attribute: str | None = None


class ProfileUpdateOut(Schema):
    code: Literal["SUCCESS", "SUCCESS_WITH_PARTIAL_ERRORS"]
    errors: list[PartialError] | None = None
