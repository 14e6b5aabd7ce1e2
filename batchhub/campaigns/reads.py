"""Reads of campaigns for the dashboard's screens, scoped to the user (the API's reads are in queries.py).

- a CSM sees every campaign of every project (and is the only one who changes them);
- a partner user sees the drafts (not live, not deleted) of the projects granted to its partner on which it has a
  connector: the drafts its platform may send by `template_id`;
- a privacy admin sees none: campaign content holds no personal data to answer for, so the screens are not theirs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from batchhub.campaigns.models import Campaign, CampaignMessage
from batchhub.connectors.queries import connectors_for_user
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
