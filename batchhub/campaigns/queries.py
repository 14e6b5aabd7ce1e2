"""Reads of campaigns: always within one app (the API caller's) or one project."""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Prefetch, Q, QuerySet
from django.db.models.functions import TruncDate

from batchhub.campaigns.models import Campaign, CampaignMessage
from batchhub.connectors.models import PushEvent


def _moment(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")


def campaigns_of_app(app_id: int) -> QuerySet[Campaign]:
    """The app's campaigns that are not deleted."""
    return Campaign.objects.filter(app_id=app_id, deleted_at__isnull=True)


def campaign_of_app(app_id: int, token: str, *, lock: bool = False) -> Campaign | None:
    """The app's campaign with this token, unless deleted; `lock` holds its row until the transaction ends."""
    campaigns = campaigns_of_app(app_id)
    if lock:
        campaigns = campaigns.select_for_update(of=("self",))
    return campaigns.filter(token=token).first()


def campaigns_listed(app_id: int, *, offset: int, limit: int, live: bool | None, from_api: bool | None) -> list[dict]:
    """A page of the app's campaigns as the API shows them, newest first; two queries whatever the page size."""
    campaigns = campaigns_of_app(app_id)
    if live is not None:
        campaigns = campaigns.filter(is_live=live)
    if from_api is not None:
        campaigns = campaigns.filter(from_api=from_api)
    page = campaigns.order_by("-created_at", "-id").prefetch_related(
        Prefetch("messages", queryset=CampaignMessage.objects.order_by("language"))
    )[offset : offset + limit]
    return [campaign_shown(campaign) for campaign in page]


def campaign_shown(campaign: Campaign) -> dict:
    """A campaign as the Campaigns API answers it; optional keys only when set."""
    shown: dict = {
        "campaign_token": campaign.token,
        "name": campaign.name,
        "live": campaign.is_live,
        "dev_only": campaign.dev_only,
        "from_api": campaign.from_api,
        "created_date": _moment(campaign.created_at),
    }
    if campaign.push_time is not None:
        shown["push_time"] = _moment(campaign.push_time)
    elif campaign.local_push_time:
        shown["local_push_time"] = campaign.local_push_time
    shown["messages"] = [
        {"language": message.language, **({"title": message.title} if message.title else {}), "body": message.body}
        for message in campaign.messages.all()
    ]
    shown["priority"] = campaign.priority
    if campaign.deeplink:
        shown["deeplink"] = campaign.deeplink
    media = {key: url for key, url in (("icon", campaign.media_icon), ("picture", campaign.media_picture)) if url}
    if media:
        shown["media"] = media
    if campaign.custom_payload:
        shown["custom_payload"] = campaign.custom_payload
    if campaign.targeting:
        shown["targeting"] = {"custom_audiences": list(campaign.targeting)}
    if campaign.labels:
        shown["labels"] = list(campaign.labels)
    return shown


def _push_events_by_day(events: QuerySet[PushEvent]) -> list[dict]:
    """Per UTC day of `events`, oldest first: {"date", "sent", "opened", "errors"} (push_sent, push_opened,
    push_error)."""
    days = (
        events.annotate(day=TruncDate("occurred_at", tzinfo=dt.UTC))
        .values("day")
        .annotate(
            sent=Count("id", filter=Q(type=PushEvent.Type.PUSH_SENT)),
            opened=Count("id", filter=Q(type=PushEvent.Type.PUSH_OPENED)),
            errors=Count("id", filter=Q(type=PushEvent.Type.PUSH_ERROR)),
        )
        .order_by("day")
    )
    return [{"date": row["day"].isoformat(), "sent": row["sent"], "opened": row["opened"], "errors": row["errors"]}
            for row in days]  # fmt: skip


def campaign_stats(campaign: Campaign) -> list[dict]:
    """Per UTC day, from the raw push events of this campaign (source campaign, its token, its app).

    The raw events tell a direct open (push_opened) but not an influenced open or a re-engagement (those need
    Batch's attribution of app opens to a push): both are 0."""
    events = PushEvent.objects.filter(app_id=campaign.app_id, token=campaign.token, source=PushEvent.Source.CAMPAIGN)
    return [
        {"date": day["date"], "sent": day["sent"], "direct_open": day["opened"], "influenced_open": 0, "reengaged": 0,
         "errors": day["errors"]}
        for day in _push_events_by_day(events)
    ]  # fmt: skip


def campaigns_of_project(project_id: int) -> QuerySet[Campaign]:
    """Every campaign of the project, deleted ones too (a template_id of a deleted draft is refused saying so)."""
    return Campaign.objects.filter(project_id=project_id)


def transactional_group_stats(app_id: int, group_id: str) -> list[dict]:
    """Per UTC day, the transactional push events of the app's sends of this group: sent, opened, errors."""
    events = PushEvent.objects.filter(app_id=app_id, group_id=group_id, source=PushEvent.Source.TRANSACTIONAL)
    return [{"date": day["date"], "sent": day["sent"], "open": day["opened"], "errors": day["errors"]}
            for day in _push_events_by_day(events)]  # fmt: skip
