"""Seeding of the demo world: two customers' projects, three partners, demo logins, campaigns, and a
realistic, reproducible population of profiles, events, installations and last week's raw push/in-app events.

Idempotency rule: the world is recognised by stable names (project slugs, app name + platform, partner
names, usernames, campaign names per project) and each missing piece is created, nothing is duplicated.
Profiles are counted per demo project; the command only tops a project up to its share of `profiles`
(60 % Acme Retail, 40 % Globex Media), and never deletes any when asked for fewer.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max
from django.utils import timezone

from batchhub.accounts.models import Partner, User
from batchhub.accounts.services import partner_create, user_create
from batchhub.campaigns.models import Campaign, CampaignMessage
from batchhub.campaigns.services import template_binding_save
from batchhub.connectors.models import Connector, ExportConfig, InAppEvent, PushEvent
from batchhub.connectors.services import connector_create, connector_key_create, storage_save
from batchhub.core.data.bulk import sink_for_connection
from batchhub.core.roles import CSM
from batchhub.demo import world
from batchhub.demo.generation import (
    INAPP_EVENT_COLUMNS,
    INSTALLATION_COLUMNS,
    PROFILE_COLUMNS,
    PROFILE_EVENT_COLUMNS,
    PUSH_EVENT_COLUMNS,
    AppRef,
    ChunkContext,
    ProjectGenerator,
)
from batchhub.profiles.models import Installation, Profile, ProfileEvent
from batchhub.projects.models import App, Project
from batchhub.projects.queries import company_rest_keys_active
from batchhub.projects.services import app_create, project_create, project_grant_partner, rest_key_create

DEFAULT_PROFILES = 50_000
DEFAULT_SEED = 2026
DEFAULT_CHUNK_SIZE = 20_000
HISTORY_MONTHS = 20
PURGE_MONTHS = 13
BULK_MODELS = (Profile, ProfileEvent, Installation, PushEvent, InAppEvent)
_ADVISORY_LOCK_KEY = 0x0BA7C4_DE30  # any constant bigint; names this command's lock

ProgressCallback = Callable[[int, int], None]  # (profiles done, profiles to add)


class DemoSeedError(Exception):
    """The demo world cannot be seeded here; the message says why."""


@dataclass
class SeedReport:
    created: dict[str, int] = field(default_factory=dict)  # world objects created by this run
    added: dict[str, int] = field(default_factory=dict)  # bulk rows added by this run
    profiles: dict[str, int] = field(default_factory=dict)  # project name -> profiles now
    totals: dict[str, int] = field(default_factory=dict)  # rows of the demo projects now
    seconds: float = 0.0


def demo_profile_targets(total: int) -> dict[str, int]:
    """Each demo project's share of `total` profiles; the shares add up to `total` exactly."""
    targets: dict[str, int] = {}
    remaining = total
    for spec in world.PROJECTS[:-1]:
        targets[spec.slug] = round(total * spec.flavour.share)
        remaining -= targets[spec.slug]
    targets[world.PROJECTS[-1].slug] = remaining
    return targets


def demo_world_seed(
    *,
    profiles: int = DEFAULT_PROFILES,
    seed: int = DEFAULT_SEED,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: ProgressCallback | None = None,
    allow_production: bool = False,
) -> SeedReport:
    """Create whatever the demo world misses and top its projects up to `profiles` profiles in all."""
    if profiles < 0:
        raise DemoSeedError("The number of profiles cannot be negative.")
    if settings.IS_PRODUCTION and not allow_production:
        raise DemoSeedError(
            "Refusing to seed demo logins with published passwords in production (BATCHHUB_ENV=production)."
        )
    started = time.monotonic()
    report = SeedReport()
    with _seed_lock():
        projects = _world_ensure(report)
        _population_top_up(
            projects, profiles=profiles, seed=seed, chunk_size=chunk_size, progress=progress, report=report
        )
        _totals_count(projects, report)
    report.seconds = time.monotonic() - started
    return report


@contextmanager
def _seed_lock():
    """One seed at a time (a second one would pick the same custom ids); SQLite serialises writers anyway."""
    if connection.vendor != "postgresql":
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s)", [_ADVISORY_LOCK_KEY])
        (locked,) = cursor.fetchone()
    if not locked:
        raise DemoSeedError("Another seed_demo is running on this database; try again when it has finished.")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s)", [_ADVISORY_LOCK_KEY])


# -- the world: projects, apps, partners, grants, logins, campaigns ----------------------------------------


@transaction.atomic
def _world_ensure(report: SeedReport) -> dict[str, Project]:
    created = report.created
    projects: dict[str, Project] = {}
    for spec in world.PROJECTS:
        project = Project.objects.filter(slug=spec.slug).first()
        if project is None:
            project, _ = project_create(actor=None, name=spec.name, customer=spec.customer)
            created["projects"] = created.get("projects", 0) + 1
        projects[spec.slug] = project
        if not company_rest_keys_active(project.customer):
            rest_key_create(actor=None, customer=project.customer, project=None, name="Company REST key")
            created["rest keys"] = created.get("rest keys", 0) + 1
        for platform in world.PLATFORMS:
            if not App.objects.filter(project=project, name=spec.app_name, platform=platform).exists():
                app_create(actor=None, project=project, name=spec.app_name, platform=platform)
                created["apps"] = created.get("apps", 0) + 1
        for campaign in world.CAMPAIGNS[spec.slug]:
            # No campaign service yet: the demo writes its campaigns directly (no audit needed for seed data).
            row, is_new = Campaign.objects.get_or_create(
                project=project,
                name=campaign.name,
                defaults={
                    "channel": campaign.channel,
                    "is_live": campaign.is_live,
                    "deeplink": campaign.deeplink,
                    "media_picture": campaign.media_picture,
                },
            )
            if is_new:
                CampaignMessage.objects.create(campaign=row, title=campaign.title, body=campaign.body)
                for (name, language), (title, body) in world.EXTRA_MESSAGES.items():
                    if name == campaign.name:
                        CampaignMessage.objects.create(campaign=row, language=language, title=title, body=body)
            created["campaigns"] = created.get("campaigns", 0) + is_new

    partners: dict[str, Partner] = {}
    for spec in world.PARTNERS:
        partner = Partner.objects.filter(name=spec.name).first()
        if partner is None:
            partner = partner_create(actor=None, name=spec.name, kind=spec.kind, website=spec.website)
            created["partners"] = created.get("partners", 0) + 1
        partners[spec.name] = partner
        for slug in spec.project_slugs:
            project_grant_partner(actor=None, project=projects[slug], partner=partner)

    users: dict[str, User] = {}
    for login in world.LOGINS:
        if (user := User.objects.filter(username=login.username).first()) is not None:
            users[login.username] = user
            continue
        user = user_create(
            actor=None,
            username=login.username,
            password=login.password,
            role=CSM if login.role == "admin" else login.role,
            email=f"{login.username}@{world.LOGIN_EMAIL_DOMAIN}",
            first_name=login.first_name,
            last_name=login.last_name,
            partner=partners[login.partner] if login.partner else None,
        )
        if login.role == "admin":
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        created["users"] = created.get("users", 0) + 1
        users[login.username] = user

    def partner_user(partner_name: str) -> User | None:
        return next((users[login.username] for login in world.LOGINS if login.partner == partner_name), None)

    for spec in world.PARTNERS:
        actor = partner_user(spec.name)
        for slug in spec.project_slugs:
            _connector_ensure(partners[spec.name], projects[slug], spec, actor, created)
    for slug, bindings in world.TEMPLATE_BINDINGS.items():
        for partner_name, scenario, draft_name in bindings:
            actor = partner_user(partner_name)
            connector = Connector.objects.get(
                project=projects[slug], partner=partners[partner_name], name=world.connector_name(partner_name)
            )
            # the draft, if still one: a demo user may have made it live or deleted it (and unbound the scenario)
            draft = Campaign.objects.filter(
                project=projects[slug], name=draft_name, is_live=False, deleted_at__isnull=True
            ).first()
            if draft is not None and not connector.template_bindings.filter(scenario=scenario).exists():
                template_binding_save(
                    actor=actor, connector=connector, scenario=scenario, campaign=draft, replace=False
                )
                created["template bindings"] = created.get("template bindings", 0) + 1
    return projects


def _connector_ensure(partner: Partner, project: Project, spec: world.DemoPartner, actor, created: dict) -> None:
    """The partner's connector on a granted project, with one key, a local-folder destination under
    var/exports/<partner-slug>/ and a local-folder source under var/imports/<partner-slug>/."""
    name = world.connector_name(spec.name)
    connector = Connector.objects.filter(partner=partner, project=project, name=name).first()
    if connector is None:
        connector = connector_create(
            actor=actor, partner=partner, project=project, kind=spec.kind, name=name,
            features=world.CONNECTOR_FEATURES[spec.kind],
        )  # fmt: skip
        created["connectors"] = created.get("connectors", 0) + 1
    if not connector.keys.filter(revoked_at__isnull=True).exists():
        connector_key_create(actor=actor, connector=connector, name="Demo key")
    # a local folder is always inside the partner's own: var/exports/<partner-slug>/, var/imports/<partner-slug>/
    for direction in ("destination", "source"):
        existing = (connector.destinations if direction == "destination" else connector.sources).exists()
        if not existing:
            storage_save(
                actor=actor, connector=connector, direction=direction, location=None, name=f"Local {direction}",
                kind="local", location_settings={}, secrets={},
                pattern="*.csv" if direction == "source" else None,
            )  # fmt: skip
    # its daily exports: every kind of every app of the project, to its local folder (`exports_run` writes them)
    destination = connector.destinations.order_by("pk").first()
    for app in project.apps.order_by("pk"):
        for kind in world.EXPORT_KINDS[spec.kind]:
            ExportConfig.objects.get_or_create(
                connector=connector, app=app, kind=kind, defaults={"destination": destination}
            )


# -- the population: profiles, their events and installations, last week's raw events -----------------------


def _population_top_up(
    projects: dict[str, Project],
    *,
    profiles: int,
    seed: int,
    chunk_size: int,
    progress: ProgressCallback | None,
    report: SeedReport,
) -> None:
    now = timezone.now().replace(microsecond=0)
    plans = []
    for spec in world.PROJECTS:
        project = projects[spec.slug]
        existing = Profile.objects.filter(project=project).count()
        missing = max(0, demo_profile_targets(profiles)[spec.slug] - existing)
        if missing:
            plans.append((spec, project, missing, _next_profile_index(project, spec, existing)))
    total = sum(missing for _, _, missing, _ in plans)
    added = dict.fromkeys(("profiles", "profile events", "installations", "push events", "in-app events"), 0)
    report.added = added
    if not total:
        return

    sink = sink_for_connection()
    done = 0
    if progress:
        progress(0, total)
    for spec, project, missing, start_index in plans:
        ctx = _chunk_context(project, spec, now)
        generator = ProjectGenerator(ctx)
        platforms = {app.id: app.platform for app in ctx.apps}
        for offset in range(0, missing, chunk_size):
            count = min(chunk_size, missing - offset)
            index = start_index + offset
            rng = random.Random(f"{seed}:{spec.slug}:{index}")
            # One transaction per chunk: a chunk's profiles never exist without their events and installs.
            with transaction.atomic():
                rows, seeds = generator.profiles(rng, sink.reserve_ids(Profile, count), index)
                added["profiles"] += sink.write(Profile, PROFILE_COLUMNS, rows)
                added["profile events"] += sink.write(
                    ProfileEvent, PROFILE_EVENT_COLUMNS, generator.profile_events(rng, seeds)
                )
                installations = generator.installations(rng, seeds)
                for row, pk in zip(installations, sink.reserve_ids(Installation, len(installations)), strict=True):
                    row[0] = pk
                added["installations"] += sink.write(Installation, INSTALLATION_COLUMNS, installations)
                added["push events"] += sink.write(
                    PushEvent, PUSH_EVENT_COLUMNS, generator.push_events(rng, installations)
                )
                added["in-app events"] += sink.write(
                    InAppEvent, INAPP_EVENT_COLUMNS, generator.inapp_events(rng, installations, platforms)
                )
            done += count
            if progress:
                progress(done, total)
    sink.analyze(BULK_MODELS)


def _next_profile_index(project: Project, spec: world.DemoProject, existing: int) -> int:
    """The first profile number whose custom id is free: after the highest one, even if some were purged."""
    prefix = spec.flavour.custom_id_prefix
    highest = Profile.objects.filter(project=project, custom_id__startswith=prefix).aggregate(top=Max("custom_id"))[
        "top"
    ]
    after_highest = int(highest.removeprefix(prefix)) + 1 if highest and highest[len(prefix) :].isdigit() else 0
    return max(existing, after_highest)


def _chunk_context(project: Project, spec: world.DemoProject, now) -> ChunkContext:
    apps = tuple(
        AppRef(pk, platform)
        for pk, platform in App.objects.filter(project=project, name=spec.app_name)
        .order_by("platform")
        .values_list("pk", "platform")
    )
    live = Campaign.objects.filter(project=project, is_live=True).order_by("name")
    return ChunkContext(
        project_id=project.pk,
        flavour=spec.flavour,
        apps=apps,
        push_campaign_tokens=tuple(live.filter(channel="push").values_list("token", flat=True)),
        inapp_campaign_tokens=tuple(live.filter(channel="inapp").values_list("token", flat=True)),
        now=now.timestamp(),
        window_start=(now - relativedelta(months=HISTORY_MONTHS)).timestamp(),
        purge_cutoff=(now - relativedelta(months=PURGE_MONTHS)).timestamp(),
    )


def _totals_count(projects: dict[str, Project], report: SeedReport) -> None:
    ids = [project.pk for project in projects.values()]
    report.profiles = {project.name: Profile.objects.filter(project=project).count() for project in projects.values()}
    report.totals = {
        "profiles": sum(report.profiles.values()),
        "profile events": ProfileEvent.objects.filter(profile__project_id__in=ids).count(),
        "installations": Installation.objects.filter(app__project_id__in=ids).count(),
        "push events": PushEvent.objects.filter(app__project_id__in=ids).count(),
        "in-app events": InAppEvent.objects.filter(app__project_id__in=ids).count(),
        "campaigns": Campaign.objects.filter(project_id__in=ids).count(),
    }
