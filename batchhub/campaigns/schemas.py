"""The Campaigns API 1.1 bodies and answers as the OpenAPI document shows them.

The routes parse and check their JSON with `campaigns.rules` (messages name the key at fault); these schemas
describe the bodies (`ApiRouter.write(body=…)`) with the rules' own limits and patterns.
"""

from __future__ import annotations

from typing import Annotated, Literal

from ninja import Field, Schema
from pydantic import StringConstraints

from batchhub.campaigns.rules import (
    AUDIENCE_PATTERN,
    GROUP_ID_PATTERN,
    HTTPS_PATTERN,
    LANGUAGE_PATTERN,
    LOCAL_TIME_PATTERN,
    MAX_AUDIENCES,
    MAX_BODY,
    MAX_CUSTOM_PAYLOAD,
    MAX_ID,
    MAX_LABEL,
    MAX_LABELS,
    MAX_MESSAGES,
    MAX_NAME,
    MAX_RECIPIENTS,
    MAX_TIME_TO_LIVE,
    MAX_TITLE,
    MAX_URL,
    URL_PATTERN,
)

Https = Annotated[str, StringConstraints(pattern=HTTPS_PATTERN, max_length=MAX_URL)]


class MessageIn(Schema):
    language: Annotated[str, StringConstraints(pattern=LANGUAGE_PATTERN)] = Field(
        ..., description='ISO 639-1 code, or "default" for every other language; one message per language'
    )
    title: Annotated[str, StringConstraints(max_length=MAX_TITLE)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)]


class MediaIn(Schema):
    icon: Https | None = None
    picture: Https | None = None


class TargetingIn(Schema):
    custom_audiences: list[Annotated[str, StringConstraints(pattern=AUDIENCE_PATTERN)]] = Field(
        ..., min_length=1, max_length=MAX_AUDIENCES, description="custom audience names"
    )


PushTime = str | Literal["now"]


class CampaignUpdateBody(Schema):
    """Every key optional; `messages` replaces every message; null clears deeplink, media, custom_payload or
    targeting. Keys not listed are refused."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)] | None = None
    live: bool | None = None
    push_time: PushTime | None = Field(
        None, description='"now" or an ISO 8601 date-time (UTC without an offset), not past'
    )
    local_push_time: Annotated[str, StringConstraints(pattern=LOCAL_TIME_PATTERN)] | None = Field(
        None, description="each user's wall clock time; never with push_time"
    )
    messages: list[MessageIn] | None = Field(None, min_length=1, max_length=MAX_MESSAGES)
    priority: Literal["normal", "high"] | None = None
    deeplink: Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=MAX_URL)] | None = None
    media: MediaIn | None = None
    custom_payload: Annotated[str, StringConstraints(max_length=MAX_CUSTOM_PAYLOAD)] | None = Field(
        None, description="a JSON object, as a string"
    )
    targeting: TargetingIn | None = None
    labels: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL, pattern=r"^[^,]*$")]] | None = (
        Field(None, max_length=MAX_LABELS, description="label codes (marketing pressure, filtering); null clears them")
    )


class CampaignCreateBody(CampaignUpdateBody):
    """Exactly one of push_time and local_push_time."""

    name: Annotated[str, StringConstraints(min_length=1, max_length=MAX_NAME)]
    live: bool
    messages: list[MessageIn] = Field(..., min_length=1, max_length=MAX_MESSAGES)


class CampaignTokenOut(Schema):
    campaign_token: str


class MessageOut(Schema):
    language: str
    title: str | None = None
    body: str


class CampaignOut(Schema):
    campaign_token: str
    name: str
    live: bool
    dev_only: bool
    from_api: bool
    created_date: str = Field(..., description="UTC, YYYY-MM-DDTHH:MM:SS")
    push_time: str | None = Field(None, description="UTC, YYYY-MM-DDTHH:MM:SS")
    local_push_time: str | None = None
    messages: list[MessageOut]
    priority: str
    deeplink: str | None = None
    media: MediaIn | None = None
    custom_payload: str | None = None
    targeting: TargetingIn | None = None
    labels: list[str] | None = None


class StatsDay(Schema):
    date: str = Field(..., description="UTC day, YYYY-MM-DD")
    sent: int
    direct_open: int
    influenced_open: int = Field(..., description="always 0: raw push events cannot tell")
    reengaged: int = Field(..., description="always 0: raw push events cannot tell")
    errors: int


class CampaignStatsOut(Schema):
    campaign_token: str
    detail: list[StatsDay]


# ---- Transactional API ---------------------------------------------------------------------------------------

Id = Annotated[str, StringConstraints(min_length=1, max_length=MAX_ID)]


class RecipientsIn(Schema):
    tokens: list[Id] | None = None
    custom_ids: list[Id] | None = None
    install_ids: list[Id] | None = None


class SendMessageIn(Schema):
    title: Annotated[str, StringConstraints(max_length=MAX_TITLE)] | None = None
    body: Annotated[str, StringConstraints(min_length=1, max_length=MAX_BODY)] | None = None


class TransactionalSendBody(Schema):
    """`message` may be left out with a `template_id` (a draft of the project): the draft's content is used, and any
    content key given overrides it. At least one recipient, at most MAX_RECIPIENTS in all."""

    group_id: Annotated[str, StringConstraints(pattern=GROUP_ID_PATTERN)]
    recipients: RecipientsIn = Field(..., description=f"{MAX_RECIPIENTS:,} ids in all at most, at least one")
    message: SendMessageIn | None = None
    template_id: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{32}$")] | None = None
    deeplink: Annotated[str, StringConstraints(pattern=URL_PATTERN, max_length=MAX_URL)] | None = None
    sandbox: bool | None = None
    custom_payload: Annotated[str, StringConstraints(max_length=MAX_CUSTOM_PAYLOAD)] | None = None
    media: MediaIn | None = None
    priority: Literal["normal", "high"] | None = None
    time_to_live: Annotated[int, Field(ge=0, le=MAX_TIME_TO_LIVE)] | None = None
    labels: list[Annotated[str, StringConstraints(min_length=1, max_length=MAX_LABEL)]] | None = Field(
        None, max_length=MAX_LABELS
    )


class TransactionalStatsDay(Schema):
    date: str = Field(..., description="UTC day, YYYY-MM-DD")
    sent: int
    open: int
    errors: int


class TransactionalStatsOut(Schema):
    group_id: str
    detail: list[TransactionalStatsDay]
