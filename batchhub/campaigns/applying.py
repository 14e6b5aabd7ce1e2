"""The appliers of Campaigns API writes (registered in apps.py): each carries out operations that
`campaigns.rules` produced, so none can fail on what the client sent.

The routes apply these at once, in the request's transaction (`accept_write(apply_now=True)`): a client reads
back what it wrote. Each applier is also idempotent, as the pipeline asks: a create whose token exists, or an
update or delete of a campaign gone since, changes nothing.
"""

from __future__ import annotations

import datetime as dt
import json

from django.db import transaction

from batchhub.campaigns.models import Campaign, CampaignMessage


def _fields(stored: dict) -> dict:
    fields = dict(stored)
    if fields.get("push_time"):
        fields["push_time"] = dt.datetime.fromisoformat(fields["push_time"])
    return fields


def _messages_write(campaign: Campaign, messages: list[dict]) -> None:
    CampaignMessage.objects.bulk_create(CampaignMessage(campaign=campaign, **message) for message in messages)


@transaction.atomic
def campaign_create_apply(call) -> dict:
    """Create the campaign the call carries (channel push, made through the API)."""
    (operation,) = json.loads(call.operations)
    if Campaign.objects.filter(token=operation["token"]).exists():
        return {"campaigns": 0}
    campaign = Campaign.objects.create(
        token=operation["token"],
        project_id=operation["project_id"],
        app_id=operation["app_id"],
        channel=Campaign.Channel.PUSH,
        from_api=True,
        **_fields(operation["fields"]),
    )
    _messages_write(campaign, operation["messages"])
    return {"campaigns": 1, "messages": len(operation["messages"])}


@transaction.atomic
def campaign_update_apply(call) -> dict:
    """Change what the call gives; `messages`, when given, replace every message."""
    (operation,) = json.loads(call.operations)
    campaign = (
        Campaign.objects.select_for_update()
        .filter(app_id=call.app_id, token=operation["token"], deleted_at__isnull=True)
        .first()
    )
    if campaign is None:
        return {"campaigns": 0}
    for name, value in _fields(operation["fields"]).items():
        setattr(campaign, name, value)
    campaign.save()
    if operation["messages"] is not None:
        campaign.messages.all().delete()
        _messages_write(campaign, operation["messages"])
    return {"campaigns": 1}


def campaign_delete_apply(call) -> dict:
    """Soft delete: the row stays (a template_id of a deleted draft is refused saying so)."""
    (operation,) = json.loads(call.operations)
    deleted = Campaign.objects.filter(app_id=call.app_id, token=operation["token"], deleted_at__isnull=True).update(
        deleted_at=call.created_at
    )
    return {"campaigns": deleted}


APPLIERS = {
    "campaigns.create": (campaign_create_apply, "Campaigns: create"),
    "campaigns.update": (campaign_update_apply, "Campaigns: update"),
    "campaigns.delete": (campaign_delete_apply, "Campaigns: delete"),
}
