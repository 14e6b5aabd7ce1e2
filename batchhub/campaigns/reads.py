"""Reads of campaigns for the dashboard's screens, scoped to the user (the API's reads are in queries.py).

- a CSM sees every campaign of every project (and is the only one who changes them);
- a partner user sees the drafts (not live, not deleted) of the projects granted to its partner on which it has a
  connector: the drafts its platform may send by `template_id`;
- a privacy admin sees none: campaign content holds no personal data to answer for, so the screens are not theirs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import uuid
from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404

from batchhub.campaigns.models import Campaign, CampaignMessage, TemplateBinding
from batchhub.connectors.models import Connector
from batchhub.connectors.queries import connector_can_change, connector_get_for_user, connectors_for_user
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import CSM, PARTNER, has_role
from batchhub.projects.models import Project
from batchhub.projects.queries import projects_for_user


def campaign_can_change(user) -> bool:
    return has_role(user, CSM)


def campaign_projects_for_user(user) -> QuerySet[Project]:
    """The projects whose campaigns the user may read: every project for a CSM; for a partner user, the projects
    granted to its partner on which it has a connector."""
    if has_role(user, CSM):
        return projects_for_user(user)
    if has_role(user, PARTNER) and user.partner_id is not None:
        has_connector = connectors_for_user(user).filter(project_id=OuterRef("pk"))
        return projects_for_user(user).filter(Exists(has_connector))
    return Project.objects.none()


def campaign_project_get_for_user(user, code) -> Project:
    return get_by_code_or_404(campaign_projects_for_user(user), code, what="project")


def campaign_project_rows(user) -> QuerySet[Project]:
    """The projects of the campaigns index, with how many campaigns (live, drafts) each has that the user sees."""
    alive = Q(campaigns__deleted_at__isnull=True)
    return (
        campaign_projects_for_user(user)
        .select_related("customer")
        .annotate(
            live_count=Count("campaigns", filter=alive & Q(campaigns__is_live=True)),
            draft_count=Count("campaigns", filter=alive & Q(campaigns__is_live=False)),
        )
        .order_by("name")
    )


def campaigns_for_user(user) -> QuerySet[Campaign]:
    rows = Campaign.objects.filter(deleted_at__isnull=True, project__in=campaign_projects_for_user(user))
    if not has_role(user, CSM):
        rows = rows.filter(is_live=False)
    return rows


def campaign_list_rows(user, *, project: Project, is_live: bool | None = None, channel: str = "") -> QuerySet[Campaign]:
    rows = campaigns_for_user(user).filter(project=project)
    if is_live is not None:
        rows = rows.filter(is_live=is_live)
    if channel:
        rows = rows.filter(channel=channel)
    languages = Prefetch("messages", queryset=CampaignMessage.objects.only("campaign_id", "language"))
    return rows.select_related("app").prefetch_related(languages).order_by("-updated_at", "-id")


def campaign_get_for_user(user, code) -> Campaign:
    """The campaign with this public code if the user may read it, else 404 (a partner: drafts only)."""
    rows = campaigns_for_user(user).select_related("project", "project__customer", "app")
    return get_by_code_or_404(rows, code, what="campaign")


@dataclass(frozen=True)
class PreviewMessage:
    language: str
    title: str
    body: str


@dataclass(frozen=True)
class Preview:
    """What the phone-style preview shows: one phone per language."""

    messages: list[PreviewMessage] = field(default_factory=list)
    channel: str = Campaign.Channel.PUSH
    app_name: str = ""
    deeplink: str = ""
    icon: str = ""
    picture: str = ""


def messages_in_order(messages):
    """ "default" first, then by language code."""
    return sorted(messages, key=lambda message: (message.language != "default", message.language))


def campaign_preview(campaign: Campaign) -> Preview:
    return Preview(
        messages=[PreviewMessage(m.language, m.title, m.body) for m in messages_in_order(campaign.messages.all())],
        channel=campaign.channel,
        app_name=campaign.app.name if campaign.app else campaign.project.name,
        deeplink=campaign.deeplink,
        icon=campaign.media_icon,
        picture=campaign.media_picture,
    )


# ---- the template picker: a connector's partner picks drafts of the connector's project -------------------------

PICKER_PAGE = 20


def picker_connector_get_for_user(user, code) -> Connector:
    """The connector whose picker the user may use: its own partner's users only, else 404."""
    connector = connector_get_for_user(user, code)
    if not connector_can_change(user, connector):
        raise Http404("No such connector")
    return connector


def picker_drafts(user, connector: Connector) -> QuerySet[Campaign]:
    """The drafts the connector may bind: undeleted drafts of its project. `connector` comes from
    `picker_connector_get_for_user`, so the user is its partner's, granted the project with a connector on it: these
    are the drafts `campaigns_for_user` gives it there, without the role and grant subqueries on every search (they
    cost more to build than the search itself, bench/picker.py)."""
    if not connector_can_change(user, connector):
        return Campaign.objects.none()
    return Campaign.objects.filter(project_id=connector.project_id, is_live=False, deleted_at__isnull=True)


def picker_draft_get(user, connector: Connector, code) -> Campaign:
    rows = picker_drafts(user, connector).select_related("project", "app").prefetch_related("messages")
    return get_by_code_or_404(rows, code, what="draft")


@dataclass(frozen=True)
class PickerFilters:
    q: str = ""
    channel: str = ""
    app: str = ""  # an app's public code
    language: str = ""


def picker_filter_choices(connector: Connector) -> dict:
    languages = (
        CampaignMessage.objects.filter(campaign__project_id=connector.project_id, campaign__deleted_at__isnull=True)
        .order_by("language")
        .values_list("language", flat=True)
        .distinct()
    )
    return {
        "channels": Campaign.Channel.choices,
        "apps": list(connector.project.apps.order_by("platform", "name")),
        "languages": list(languages),
    }


def _cursor_parse(after: str) -> tuple[dt.datetime, int] | None:
    """`after` is "<updated_at in µs since the epoch>.<id>" of the last row shown; None when malformed."""
    stamp, _, pk = after.partition(".")
    try:
        return dt.datetime.fromtimestamp(int(stamp) / 1_000_000, tz=dt.UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None


def _cursor(campaign: Campaign) -> str:
    return f"{round(campaign.updated_at.timestamp() * 1_000_000)}.{campaign.pk}"


def picker_search(user, connector: Connector, filters: PickerFilters, *, after: str = "") -> tuple[list, str]:
    """One page of drafts, newest change first, keyset-paginated by (updated_at, id); with the cursor of the next
    page ("" when this is the last). The search matches the name and every message's title and body, any case."""
    rows = picker_drafts(user, connector)
    if filters.channel:
        rows = rows.filter(channel=filters.channel)
    if filters.app:
        try:
            rows = rows.filter(app__code=uuid.UUID(filters.app))
        except ValueError:
            rows = rows.none()
    if filters.language:
        in_language = CampaignMessage.objects.filter(campaign_id=OuterRef("pk"), language=filters.language)
        rows = rows.filter(Exists(in_language))
    if after:
        cursor = _cursor_parse(after)
        if cursor is None:
            rows = rows.none()
        else:
            stamp, pk = cursor
            rows = rows.filter(Q(updated_at__lt=stamp) | Q(updated_at=stamp, id__lt=pk))
    if filters.q:
        rows = rows.filter(id__in=_matching_ids(rows, filters.q))
    # to a list: the template reads it twice a row, and a related manager builds a queryset at each read
    languages = Prefetch("messages", queryset=CampaignMessage.objects.order_by("language"), to_attr="message_list")
    page = list(
        rows.select_related("app").prefetch_related(languages).order_by("-updated_at", "-id")[: PICKER_PAGE + 1]
    )
    more = len(page) > PICKER_PAGE
    page = page[:PICKER_PAGE]
    return page, (_cursor(page[-1]) if more else "")


def _matching_ids(rows: QuerySet[Campaign], q: str) -> list[int]:
    """The ids of the next page's candidates: the first matches by name and the first by message, each in page order,
    asked apart. Together (`name LIKE … OR EXISTS (…)`) PostgreSQL hashes every message that matches before it reads
    a row: 24 ms over 10,000 drafts for a common word (bench/picker.py); apart, each stops at a page (well under 1 ms),
    and a rare word is found through the trigram indexes (migration 0005)."""
    order = ("-updated_at", "-id")
    by_name = rows.filter(name__icontains=q).order_by(*order).values_list("id", flat=True)[: PICKER_PAGE + 1]
    in_messages = CampaignMessage.objects.filter(campaign_id=OuterRef("pk")).filter(
        Q(title__icontains=q) | Q(body__icontains=q)
    )
    by_message = rows.filter(Exists(in_messages)).order_by(*order).values_list("id", flat=True)[: PICKER_PAGE + 1]
    return list({*by_name, *by_message})


def campaign_fingerprint(campaign: Campaign) -> str:
    """What a send by template_id takes from the draft, hashed: a binding keeps it to tell the draft changed."""
    content = [
        campaign.channel,
        campaign.app_id,
        campaign.deeplink,
        campaign.media_icon,
        campaign.media_picture,
        campaign.custom_payload,
        sorted([m.language, m.title, m.body] for m in campaign.messages.all()),
    ]
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def template_payload(campaign: Campaign) -> str:
    """The minimal Transactional API body that sends this template."""
    return json.dumps({"recipients": {"custom_ids": ["USER_CUSTOM_ID"]}, "template_id": campaign.token})


@dataclass(frozen=True)
class BindingRow:
    binding: TemplateBinding
    payload: str
    warnings: list[str]


def binding_rows(connector: Connector) -> list[BindingRow]:
    """The connector's bindings, each with its payload and what changed in its draft since it was bound."""
    rows = []
    bindings = connector.template_bindings.select_related("campaign").prefetch_related("campaign__messages")
    for binding in bindings.order_by("scenario"):
        campaign, warnings = binding.campaign, []
        if campaign.is_deleted:
            warnings.append("The draft was deleted: a send with this template_id is refused.")
        elif campaign.is_live:
            warnings.append("The draft went live: a send with this template_id is refused.")
        if not campaign.is_deleted and campaign_fingerprint(campaign) != binding.content_fingerprint:
            warnings.append("The draft's content changed since it was bound.")
        rows.append(BindingRow(binding, template_payload(campaign), warnings))
    return rows


def binding_get(connector: Connector, code) -> TemplateBinding:
    return get_by_code_or_404(connector.template_bindings.select_related("campaign"), code, what="binding")
