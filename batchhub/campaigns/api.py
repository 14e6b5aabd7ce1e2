"""REST routes of the Campaigns API 1.1 (per app): create, update, delete, get, list and stats; and the
Transactional API (send, with a template_id or not, and a group's stats).

Bodies and queries are checked by `campaigns.rules` (messages name the key at fault). Writes go through the one
write pipeline (`accept_write`: recorded as an ApiCall, applied by the appliers of `campaigns.applying`) with
`apply_now`: read-your-writes. A client creates a campaign and gets or updates its token in the next call (Batch's
clients do); a write left to the worker would answer 404 to that next call. Applied inside the request's
transaction, with its ApiCall record, by the same applier a worker would use: one way of writing, no second path.

A connector's key needs the Transactional feature: partners use these routes for the drafts they send as
templates (`template_id`).
"""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path

from batchhub.api.auth import ApiCaller
from batchhub.api.errors import APP_FAMILY, ApiError
from batchhub.api.features import TRANSACTIONAL
from batchhub.api.pipeline import APP_VERSION, ERROR_SCHEMAS, ApiRouter, accept_write, answer_read
from batchhub.campaigns import rules
from batchhub.campaigns.models import Campaign
from batchhub.campaigns.queries import (
    campaign_of_app,
    campaign_shown,
    campaign_stats,
    campaigns_listed,
    campaigns_of_project,
    transactional_group_stats,
)
from batchhub.campaigns.schemas import (
    CampaignCreateBody,
    CampaignOut,
    CampaignStatsOut,
    CampaignTokenOut,
    CampaignUpdateBody,
    TransactionalSendBody,
    TransactionalStatsOut,
)
from batchhub.campaigns.sending import SEND_KIND
from batchhub.core.web.text import shown

app_router = ApiRouter(APP_FAMILY, tags=["Campaigns (per app)"])
_ERRORS = ERROR_SCHEMAS[APP_FAMILY]


def _campaign(request: HttpRequest, token: str, *, lock: bool = False) -> Campaign:
    """The caller's app's campaign with this token, else 404 (unknown, deleted, or another app's: the same)."""
    caller: ApiCaller = request.auth
    campaign = campaign_of_app(caller.app_id, token, lock=lock) if rules.TOKEN_PATTERN.fullmatch(token) else None
    if campaign is None:
        raise ApiError("ROUTE_NOT_FOUND", f"No campaign with the token {shown(token, 64)} in this app.")
    return campaign


@app_router.write(
    "POST",
    "/{version}/{api_key}/campaigns/create",
    body=CampaignCreateBody,
    summary="Create a push campaign (live, or a draft usable as a template)",
    name="campaigns_create",
    answer=CampaignTokenOut,
    status=201,
)
def campaigns_create(request, version: str = APP_VERSION, api_key: str = Path(...)):
    caller: ApiCaller = request.auth

    def check(body, now):
        # Batch: a campaign created with the app's dev API key reaches dev builds only (dev_only)
        operation = rules.campaign_create_check(
            body, now, project_id=caller.project_id, app_id=caller.app_id, dev_only=caller.is_dev_key
        )
        return "campaigns.create", [operation], {"campaign_token": operation["token"]}

    return accept_write(
        request, route="campaigns.create", feature=TRANSACTIONAL, check=check, accepted_status=201, apply_now=True
    )


@app_router.write(
    "POST",
    "/{version}/{api_key}/campaigns/update/{token}",
    body=CampaignUpdateBody,
    summary='Change some of a campaign\'s keys (e.g. {"live": true})',
    name="campaigns_update",
    answer=CampaignTokenOut,
    status=200,
)
def campaigns_update(request, token: str, version: str = APP_VERSION, api_key: str = Path(...)):
    def check(body, now):
        campaign = _campaign(request, token, lock=True)  # held until the update is applied, in this transaction
        operation = rules.campaign_update_check(body, now, campaign=campaign)
        return "campaigns.update", [operation], {"campaign_token": campaign.token}

    return accept_write(
        request, route="campaigns.update", feature=TRANSACTIONAL, check=check, accepted_status=200, apply_now=True
    )


@app_router.write(
    "POST",
    "/{version}/{api_key}/campaigns/delete/{token}",
    body=None,
    summary="Delete a campaign (no body)",
    name="campaigns_delete",
    answer=CampaignTokenOut,
    status=200,
)
def campaigns_delete(request, token: str, version: str = APP_VERSION, api_key: str = Path(...)):
    def check(body, now):
        campaign = _campaign(request, token, lock=True)
        return "campaigns.delete", [{"token": campaign.token}], {"campaign_token": campaign.token}

    return accept_write(
        request,
        route="campaigns.delete",
        feature=TRANSACTIONAL,
        check=check,
        needs_body=False,
        accepted_status=200,
        apply_now=True,
    )


@app_router.get(
    "/{version}/{api_key}/campaigns/list",
    response={200: list[CampaignOut], **_ERRORS},
    summary=f"The app's campaigns, newest first (from: offset; limit 1 to {rules.LIST_MAX}, default "
    f"{rules.LIST_DEFAULT}; live, from_api: true or false)",
    url_name="campaigns_list",
)
def campaigns_list(request, version: str = APP_VERSION, api_key: str = Path(...)):
    caller: ApiCaller = request.auth

    def read():
        return campaigns_listed(caller.app_id, **rules.campaigns_list_check(request.GET))

    return answer_read(request, route="campaigns.list", feature=TRANSACTIONAL, read=read)


@app_router.get(
    "/{version}/{api_key}/campaigns/stats/{token}",
    response={200: CampaignStatsOut, **_ERRORS},
    summary="A campaign's push statistics per UTC day, from the raw push events",
    url_name="campaigns_stats",
)
def campaigns_stats(request, token: str, version: str = APP_VERSION, api_key: str = Path(...)):
    def read():
        campaign = _campaign(request, token)
        return {"campaign_token": campaign.token, "detail": campaign_stats(campaign)}

    return answer_read(request, route="campaigns.stats", feature=TRANSACTIONAL, read=read)


@app_router.get(
    "/{version}/{api_key}/campaigns/{token}",
    response={200: CampaignOut, **_ERRORS},
    summary="A campaign",
    url_name="campaigns_get",
)
def campaigns_get(request, token: str, version: str = APP_VERSION, api_key: str = Path(...)):
    return answer_read(
        request, route="campaigns.get", feature=TRANSACTIONAL, read=lambda: campaign_shown(_campaign(request, token))
    )


# ---- Transactional API 1.0 / 1.1 -------------------------------------------------------------------------------


@app_router.write(
    "POST",
    "/{version}/{api_key}/transactional/send",
    body=TransactionalSendBody,
    summary=f"Send a push to up to {rules.MAX_RECIPIENTS:,} recipients, its content given or a draft's (template_id)",
    name="transactional_send",
    status=201,
)
def transactional_send(request, version: str = APP_VERSION, api_key: str = Path(...)):
    """Answers 201 with the send's token at once; a worker resolves the recipients, hands the message to the push
    gateway and records the deliveries (`campaigns.sending`)."""
    caller: ApiCaller = request.auth

    def check(body, now):
        operation = rules.transactional_send_check(body, templates=campaigns_of_project(caller.project_id))
        return SEND_KIND, [operation], None

    return accept_write(request, route="transactional.send", feature=TRANSACTIONAL, check=check, accepted_status=201)


@app_router.get(
    "/{version}/{api_key}/transactional/stats/{group_id}",
    response={200: TransactionalStatsOut, **_ERRORS},
    summary="A group's transactional sends per UTC day: sent, opened, errors (from the raw push events)",
    url_name="transactional_stats",
)
def transactional_stats(request, group_id: str, version: str = APP_VERSION, api_key: str = Path(...)):
    caller: ApiCaller = request.auth

    def read():
        checked = rules.group_id_check(group_id)
        return {"group_id": checked, "detail": transactional_group_stats(caller.app_id, checked)}

    return answer_read(request, route="transactional.stats", feature=TRANSACTIONAL, read=read)
