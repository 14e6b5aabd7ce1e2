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

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.text import Truncator

from batchhub.campaigns.models import Campaign, CampaignChannel, CampaignMessage, TemplateBinding
from batchhub.connectors.models import Connector
from batchhub.connectors.queries import connectors_for_user
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import CSM, PARTNER, has_role
from batchhub.projects.models import App, Project, app_label
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


def _campaign_counts() -> dict:
    """A project's campaigns as annotations: `live_count` and `draft_count`, deleted ones left out."""
    alive = Q(campaigns__deleted_at__isnull=True)
    return {
        "live_count": Count("campaigns", filter=alive & Q(campaigns__is_live=True)),
        "draft_count": Count("campaigns", filter=alive & Q(campaigns__is_live=False)),
    }


def campaign_project_rows(user) -> QuerySet[Project]:
    """The projects of the campaigns index, with how many campaigns (live, drafts) each has that the user sees."""
    return campaign_projects_for_user(user).select_related("customer").annotate(**_campaign_counts()).order_by("name")


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
    """The connector whose picker the user may use: its own partner's users only (`connector_can_change`: a partner
    user's `connectors_for_user` are its partner's), else 404; one query joining the project only, as the picker's
    searches ask it on every keystroke."""
    if not has_role(user, PARTNER) or user.partner_id is None:
        raise Http404("No such connector")
    return get_by_code_or_404(connectors_for_user(user).select_related("project"), code, what="connector")


def picker_project_get_for_user(user, code) -> Project:
    """The project whose drafts and bindings a CSM browses in the picker, read-only (partners use their
    connector's); else 404."""
    if not has_role(user, CSM):
        raise Http404("No such project")
    return get_by_code_or_404(projects_for_user(user).select_related("customer"), code, what="project")


def picker_drafts(project_id: int) -> QuerySet[Campaign]:
    """The drafts a picker shows: the undeleted drafts of the project. The caller found the project through
    `picker_connector_get_for_user` (the connector's partner: these are the drafts `campaigns_for_user` gives it
    there) or `picker_project_get_for_user` (a CSM)."""
    return Campaign.objects.filter(project_id=project_id, is_live=False, deleted_at__isnull=True)


def picker_draft_get(project_id: int, code) -> Campaign:
    rows = picker_drafts(project_id).select_related("project", "app").prefetch_related("messages")
    return get_by_code_or_404(rows, code, what="draft")


@dataclass(frozen=True)
class PickerFilters:
    q: str = ""
    channel: str = ""
    app: str = ""  # an app's public code
    language: str = ""


@dataclass(frozen=True)
class PickerRow:
    """A result row of the picker: what the row shows, read without building models (bench/picker.py)."""

    id: int
    code: uuid.UUID
    name: str
    channel: str
    app: str  # "Name (Platform)", "" for a draft of the whole project
    updated_at: dt.datetime
    languages: tuple[str, ...] = ()
    summary: str = ""  # the first message's title, else its body ("default" first), cut at 70 characters

    @property
    def updated(self) -> str:
        return timezone.localtime(self.updated_at).strftime("%Y-%m-%d %H:%M")

    @property
    def channel_label(self) -> str:
        return CampaignChannel(self.channel).label

    @property
    def cursor(self) -> str:
        return f"{round(self.updated_at.timestamp() * 1_000_000)}.{self.id}"


def picker_filter_choices(project_id: int) -> dict:
    languages = (
        CampaignMessage.objects.filter(campaign__project_id=project_id, campaign__deleted_at__isnull=True)
        .order_by("language")
        .values_list("language", flat=True)
        .distinct()
    )
    return {
        "channels": Campaign.Channel.choices,
        "apps": list(App.objects.filter(project_id=project_id).order_by("platform", "name")),
        "languages": list(languages),
    }


def _cursor_parse(after: str) -> tuple[dt.datetime, int] | None:
    """`after` is "<updated_at in µs since the epoch>.<id>" of the last row shown; None when malformed."""
    stamp, _, pk = after.partition(".")
    try:
        moment, pk = dt.datetime.fromtimestamp(int(stamp) / 1_000_000, tz=dt.UTC), int(pk)
    except (ValueError, OverflowError, OSError):
        return None
    # an id no row has: past 64 bits SQLite refuses the parameter (OverflowError, a 500) where the ORM matched nothing
    return (moment, pk) if -(2**63) <= pk < 2**63 else None


_CAMPAIGN = Campaign._meta.db_table
_MESSAGE = CampaignMessage._meta.db_table
_APP = App._meta.db_table
_ORDER = "ORDER BY {t}.updated_at DESC, {t}.id DESC"
_LIKE = r"LIKE UPPER(%s) ESCAPE '\'"  # with Django's escaping (prep_for_like_query), on both databases


def _drafts_where(t: str, project_id: int, filters: PickerFilters, cursor) -> tuple[str, list]:
    """The conditions on table alias `t` of one page's candidates: the project's undeleted drafts, filtered, after
    the cursor."""
    where = [f"{t}.project_id = %s", f"NOT {t}.live", f"{t}.deleted_at IS NULL"]
    params: list = [project_id]
    if filters.channel:
        where.append(f"{t}.channel = %s")
        params.append(filters.channel)
    if filters.app:
        where.append(f"{t}.app_id IN (SELECT id FROM {_APP} WHERE code = %s)")
        params.append(App._meta.get_field("code").get_db_prep_value(uuid.UUID(filters.app), connection))
    if filters.language:
        where.append(f"EXISTS (SELECT 1 FROM {_MESSAGE} lm WHERE lm.campaign_id = {t}.id AND lm.language = %s)")
        params.append(filters.language)
    if cursor is not None:
        stamp = Campaign._meta.get_field("updated_at").get_db_prep_value(cursor[0], connection)
        where.append(f"({t}.updated_at < %s OR ({t}.updated_at = %s AND {t}.id < %s))")
        params += [stamp, stamp, cursor[1]]
    return " AND ".join(where), params


def picker_search(project_id: int, filters: PickerFilters, *, after: str = "") -> tuple[list[PickerRow], str]:
    """One page of the project's drafts, newest change first, keyset-paginated by (updated_at, id); with the cursor
    of the next page ("" when this is the last). The search matches the name and every message's title and body, any
    case. The caller decides whose drafts these are (`picker_connector_get_for_user`, `picker_project_get_for_user`).

    Two statements of plain SQL, the same on PostgreSQL and SQLite: the ORM built the same page in four queries and
    5.5 ms, this in 0.9 ms (bench/picker.py). With a word, the candidates are the first page of matches by name and
    the first by message, asked apart: together (`name LIKE … OR EXISTS (…)`) PostgreSQL hashes every message that
    matches before it reads a row (24 ms over 10,000 drafts for a common word); apart, each stops at a page, and a
    rare word is found through the trigram indexes (migration 0005), whose expressions `UPPER(col) LIKE UPPER(…)`
    matches."""
    cursor = None
    if after:
        cursor = _cursor_parse(after)
        if cursor is None:
            return [], ""
    if filters.app:
        try:
            uuid.UUID(filters.app)
        except ValueError:
            return [], ""
    limit = PICKER_PAGE + 1
    if filters.q:
        like = "%" + connection.ops.prep_for_like_query(filters.q) + "%"
        by_name, by_name_params = _drafts_where("n", project_id, filters, cursor)
        by_message, by_message_params = _drafts_where("b", project_id, filters, cursor)
        matches = (
            f"SELECT id FROM (SELECT n.id FROM {_CAMPAIGN} n WHERE {by_name} AND UPPER(n.name) {_LIKE}"
            f" {_ORDER.format(t='n')} LIMIT {limit}) AS by_name"
            f" UNION SELECT id FROM (SELECT b.id FROM {_CAMPAIGN} b WHERE {by_message} AND EXISTS (SELECT 1"
            f" FROM {_MESSAGE} m WHERE m.campaign_id = b.id AND (UPPER(m.title) {_LIKE} OR UPPER(m.body) {_LIKE}))"
            f" {_ORDER.format(t='b')} LIMIT {limit}) AS by_message"
        )
        where, params = f"c.id IN ({matches})", [*by_name_params, like, *by_message_params, like, like]
    else:
        where, params = _drafts_where("c", project_id, filters, cursor)
    sql = (
        f"SELECT c.id, c.code, c.name, c.channel, c.updated_at, a.name, a.platform FROM {_CAMPAIGN} c"
        f" LEFT JOIN {_APP} a ON a.id = c.app_id WHERE {where} {_ORDER.format(t='c')} LIMIT {limit}"
    )
    with connection.cursor() as db:
        db.execute(sql, params)
        found = db.fetchall()
        page = found[:PICKER_PAGE]
        messages: dict[int, list[tuple[str, str, str]]] = {}
        if page:
            ids = [row[0] for row in page]
            db.execute(
                f"SELECT campaign_id, language, title, body FROM {_MESSAGE} WHERE campaign_id IN"
                f" ({', '.join(['%s'] * len(ids))}) ORDER BY campaign_id, language",
                ids,
            )
            for campaign_id, language, title, body in db.fetchall():
                messages.setdefault(campaign_id, []).append((language, title, body))
    rows = []
    for pk, code, name, channel, updated_at, app_name, platform in page:
        in_order = sorted(messages.get(pk, ()), key=lambda m: (m[0] != "default", m[0]))
        rows.append(
            PickerRow(
                id=pk,
                code=code if isinstance(code, uuid.UUID) else uuid.UUID(code),
                name=name,
                channel=channel,
                app=app_label(app_name, platform) if app_name is not None else "",
                updated_at=updated_at if timezone.is_aware(updated_at) else timezone.make_aware(updated_at, dt.UTC),
                languages=tuple(language for language, _, _ in in_order),
                summary=Truncator(in_order[0][1] or in_order[0][2]).chars(70) if in_order else "",
            )
        )
    return rows, (rows[-1].cursor if len(found) > PICKER_PAGE else "")


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


def binding_rows(bindings: QuerySet[TemplateBinding]) -> list[BindingRow]:
    """Bindings (of a connector, or of every connector of a project), each with its payload and what changed in its
    draft since it was bound."""
    rows = []
    bindings = bindings.select_related("campaign", "connector").prefetch_related("campaign__messages")
    for binding in bindings.order_by("connector__name", "scenario"):
        campaign, warnings = binding.campaign, []
        if campaign.is_deleted:
            warnings.append("The draft was deleted: a send with this template_id is refused.")
        elif campaign.is_live:
            warnings.append("The draft went live: a send with this template_id is refused.")
        if not campaign.is_deleted and campaign_fingerprint(campaign) != binding.content_fingerprint:
            warnings.append("The draft's content changed since it was bound.")
        rows.append(BindingRow(binding, template_payload(campaign), warnings))
    return rows


def project_bindings(project: Project) -> QuerySet[TemplateBinding]:
    return TemplateBinding.objects.filter(connector__project=project)


def project_campaign_counts(project: Project) -> dict[str, int]:
    """What the project page's panel counts: live campaigns, drafts, scenarios bound, and bound drafts since deleted
    or gone live (their sends are refused)."""
    counts = Project.objects.filter(pk=project.pk).annotate(**_campaign_counts())
    counts = counts.values("live_count", "draft_count").get()
    bindings = project_bindings(project).aggregate(
        bound=Count("pk"),
        broken=Count("pk", filter=Q(campaign__deleted_at__isnull=False) | Q(campaign__is_live=True)),
    )
    return {**counts, **bindings}


def binding_get(connector: Connector, code) -> TemplateBinding:
    return get_by_code_or_404(connector.template_bindings.select_related("campaign"), code, what="binding")
