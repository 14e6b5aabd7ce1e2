"""The bodies of the profile-data routes as the OpenAPI document shows them, and the Profile API's answer.

The routes parse and check their JSON with `ingest.rules` (messages name the key at fault); these schemas only
describe the bodies (`ApiRouter.write(body=…)`) and validate the Profile API's answer.
"""

from __future__ import annotations

from typing import Any, Literal

from ninja import Field, Schema


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
