"""Deterministic row generators for the demo world: pure Python, no database access.

Every generator draws from the `random.Random` it is given, so one seed gives the same rows. Rows are
plain tuples in the column order named by the `*_COLUMNS` constants; JSON columns are JSON text, times
are aware UTC datetimes. Loading them (COPY or bulk_create) is `batchhub.core.data.bulk`'s job.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

DAY = 86_400.0

PROFILE_COLUMNS = (
    "id",
    "code",
    "project_id",
    "custom_id",
    "email",
    "email_marketing",
    "phone_number",
    "language",
    "region",
    "timezone",
    "attributes",
    "tags",
    "last_activity_at",
    "created_at",
)
PROFILE_EVENT_COLUMNS = ("profile_id", "name", "label", "attributes", "tags", "occurred_at", "source")
INSTALLATION_COLUMNS = (
    "id",
    "app_id",
    "installation_id",
    "custom_id",
    "profile_id",
    "advertising_id",
    "push_token",
    "push_optin",
    "last_seen_at",
    "created_at",
)
PUSH_EVENT_COLUMNS = (
    "app_id",
    "installation_id",
    "custom_id",
    "occurred_at",
    "type",
    "source",
    "token",
    "group_id",
)
INAPP_EVENT_COLUMNS = (
    "app_id",
    "installation_id",
    "custom_id",
    "occurred_at",
    "type",
    "campaign_token",
    "cta_position",
    "cta_action",
)

FIRST_NAMES = (
    "emma",
    "louis",
    "jade",
    "gabriel",
    "alice",
    "leo",
    "chloe",
    "noah",
    "lina",
    "hugo",
    "olivia",
    "liam",
    "mia",
    "lucas",
    "sofia",
    "arthur",
    "ines",
    "adam",
    "lea",
    "jules",
    "anna",
    "ethan",
    "zoe",
    "nathan",
    "sarah",
    "paul",
    "julia",
    "tom",
    "nora",
    "max",
)
LAST_NAMES = (
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "richard",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "smith",
    "johnson",
    "brown",
    "garcia",
    "miller",
    "davis",
    "muller",
    "schmidt",
    "rossi",
    "ferrari",
    "silva",
    "santos",
    "novak",
    "kowalski",
    "jensen",
)
EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example.com")


@dataclass(frozen=True)
class Locale:
    language: str
    region: str
    timezone: str
    phone_prefix: str
    mobile_prefix: str  # the first national digits of a mobile number, before 8 random digits
    cities: tuple[str, ...]


@dataclass(frozen=True)
class EventKind:
    name: str
    weight: int
    labels: tuple[str, ...]
    has_item: bool = False
    has_amount: bool = False


@dataclass(frozen=True)
class ProjectFlavour:
    """What makes one demo customer's data look like its business."""

    custom_id_prefix: str
    share: float
    locales: tuple[tuple[Locale, int], ...]
    plans: tuple[tuple[str, int], ...]
    interests: tuple[str, ...]
    events: tuple[EventKind, ...]
    item_prefix: str
    currency: str
    deeplink_scheme: str
    transactional_groups: tuple[str, ...]


@dataclass(frozen=True)
class AppRef:
    id: int
    platform: str


@dataclass(frozen=True)
class ChunkContext:
    """What the generators need to know about a project: its apps and campaign tokens, and the clock."""

    project_id: int
    flavour: ProjectFlavour
    apps: tuple[AppRef, ...]
    push_campaign_tokens: tuple[str, ...]
    inapp_campaign_tokens: tuple[str, ...]
    now: float
    window_start: float  # oldest activity: 20 months ago
    purge_cutoff: float  # last activity older than this is purge-eligible: 13 months ago


def _expand(weighted) -> tuple:
    """A tuple where each value appears `weight` times, for O(1) weighted picks with one random()."""
    return tuple(value for value, weight in weighted for _ in range(weight))


def _uuid4(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:32]}"


def _utc(ts: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC)


@dataclass
class ProfileSeed:
    """A generated profile, kept for the chunk so events and installations can follow it."""

    id: int
    custom_id: str | None
    created: float
    last_activity: float


def last_activity_draw(rng: random.Random, ctx: ChunkContext) -> float:
    """A last-activity time: a quarter purge-eligible, some about to be (in 7/30/90 days), most recent."""
    u = rng.random()
    cutoff = ctx.purge_cutoff
    if u < 0.25:
        return ctx.window_start + (cutoff - ctx.window_start) * rng.random()
    if u < 0.28:
        return cutoff + 7 * DAY * rng.random()
    if u < 0.34:
        return cutoff + 7 * DAY + 23 * DAY * rng.random()
    if u < 0.44:
        return cutoff + 30 * DAY + 60 * DAY * rng.random()
    recent_start = cutoff + 90 * DAY
    # skewed towards now: about one profile in five of this group was active in the last week
    return ctx.now - (ctx.now - recent_start) * rng.random() ** 2.5


class ProjectGenerator:
    """Generates one project's profiles and everything hanging off them, chunk by chunk."""

    def __init__(self, ctx: ChunkContext) -> None:
        self.ctx = ctx
        f = ctx.flavour
        self.locales = _expand(f.locales)
        self.plans = _expand(f.plans)
        self.events = _expand((kind, kind.weight) for kind in f.events)
        platform_weights = {"ios": 45, "android": 40, "web": 15}
        self.apps = _expand((app, platform_weights[app.platform]) for app in ctx.apps)

    # -- profiles -------------------------------------------------------------------------------

    def profiles(self, rng: random.Random, ids: list[int], start_index: int) -> tuple[list[tuple], list[ProfileSeed]]:
        """Profile rows numbered from `start_index` (custom ids `<prefix>0000123`), with their seeds."""
        ctx, f = self.ctx, self.ctx.flavour
        r = rng.random
        locales, plans, interests = self.locales, self.plans, f.interests
        rows: list[tuple] = []
        seeds: list[ProfileSeed] = []
        for offset, pk in enumerate(ids):
            index = start_index + offset
            is_anonymous = r() < 0.05
            custom_id = None if is_anonymous else f"{f.custom_id_prefix}{index:07d}"
            last = last_activity_draw(rng, ctx)
            created = ctx.window_start + (last - ctx.window_start) * r()
            locale = locales[int(r() * len(locales))]
            first, last_name = FIRST_NAMES[int(r() * 30)], LAST_NAMES[int(r() * 25)]
            email = email_marketing = None
            if not is_anonymous and r() < 0.84:
                email = f"{first}.{last_name}{int(r() * 1000)}@{EMAIL_DOMAINS[int(r() * 4)]}"
                u = r()
                email_marketing = "subscribed" if u < 0.6 else "unsubscribed" if u < 0.85 else None
            phone = None
            if not is_anonymous and r() < 0.3:
                phone = f"{locale.phone_prefix}{locale.mobile_prefix}{int(r() * 100_000_000):08d}"
            attributes: dict = {}
            if not is_anonymous:
                attributes = {
                    "plan": plans[int(r() * len(plans))],
                    "age": 18 + int(r() * 58),
                    "city": locale.cities[int(r() * len(locale.cities))],
                    "loyalty_points": int(r() * r() * 5000),
                }
                if r() < 0.3:
                    attributes["first_name"] = first.capitalize()
            picked = [tag for tag in interests if r() < 0.25]
            tags = {"interests": picked} if picked else {}
            rows.append(
                (
                    pk,
                    _uuid4(rng),
                    ctx.project_id,
                    custom_id,
                    email,
                    email_marketing,
                    phone,
                    locale.language,
                    locale.region,
                    locale.timezone,
                    json.dumps(attributes),
                    json.dumps(tags),
                    _utc(last),
                    _utc(created),
                )
            )
            seeds.append(ProfileSeed(pk, custom_id, created, last))
        return rows, seeds

    def profile_events(self, rng: random.Random, seeds: list[ProfileSeed]) -> Iterator[tuple]:
        """About three events per profile, between its creation and its last activity."""
        f = self.ctx.flavour
        r = rng.random
        kinds = self.events
        for seed in seeds:
            span = seed.last_activity - seed.created
            for _ in range(int(r() * 7)):
                kind = kinds[int(r() * len(kinds))]
                label = kind.labels[int(r() * len(kind.labels))] if kind.labels else ""
                if kind.has_item:
                    item = f"{f.item_prefix}{int(r() * 90_000) + 10_000}"
                    if kind.has_amount:
                        amount = round(5 + r() * r() * 300, 2)
                        attributes = (
                            f'{{"item_id": "{item}", "amount": {amount}, "currency": "{f.currency}", '
                            f'"quantity": {1 + int(r() * r() * 4)}}}'
                        )
                    else:
                        attributes = f'{{"item_id": "{item}", "category": "{label}"}}'
                else:
                    attributes = "{}"
                occurred = seed.created + span * r()
                source = "sdk" if r() < 0.7 else "api"
                yield (seed.id, kind.name, label, attributes, "[]", _utc(occurred), source)

    # -- installations and raw events -------------------------------------------------------------

    def installations(self, rng: random.Random, seeds: list[ProfileSeed]) -> list[tuple]:
        """About 1.2 installations per identified profile (one per anonymous one), `id` left as None."""
        r = rng.random
        apps = self.apps
        rows: list[tuple] = []
        for seed in seeds:
            count = 1 if seed.custom_id is None or r() < 0.8 else 2
            first_app = apps[int(r() * len(apps))]
            chosen = [first_app]
            if count == 2:
                others = [app for app in self.ctx.apps if app.id != first_app.id]
                chosen.append(others[int(r() * len(others))])
            for n, app in enumerate(chosen):
                platform = app.platform
                last_seen = max(seed.created, seed.last_activity - 2 * DAY * r())
                created = seed.created + (last_seen - seed.created) * (r() * 0.5 if n else r() * 0.05)
                advertising_id = None
                if (platform == "android" and r() < 0.92) or (platform == "ios" and r() < 0.7):
                    advertising_id = _uuid4(rng)
                optin_rate = 0.85 if platform == "android" else 0.55 if platform == "ios" else 0.35
                optin = r() < optin_rate
                token = self._push_token(rng, platform) if optin or r() < 0.3 else None
                rows.append(
                    [
                        None,
                        app.id,
                        _uuid4(rng),
                        seed.custom_id,
                        seed.id,
                        advertising_id,
                        token,
                        optin,
                        _utc(last_seen),
                        _utc(created),
                    ]
                )
        return rows

    @staticmethod
    def _push_token(rng: random.Random, platform: str) -> str:
        if platform == "ios":
            return f"{rng.getrandbits(256):064x}"
        body = f"{rng.getrandbits(512):0128x}"
        if platform == "android":
            return f"{body[:22]}:APA91b{body[22:128]}"
        return f"https://fcm.googleapis.com/fcm/send/{body[:22]}:APA91b{body[22:96]}"

    def push_events(self, rng: random.Random, installations: list[list]) -> Iterator[tuple]:
        """Last week's push events: sends to opted-in installations active in the last 13 months, opens, a few
        errors, opt-in/opt-out and token deletions."""
        ctx, f = self.ctx, self.ctx.flavour
        r = rng.random
        week_ago = ctx.now - 7 * DAY
        campaigns = ctx.push_campaign_tokens
        groups = f.transactional_groups
        for row in installations:
            pk, app_id, _iid, custom_id, _pid, _adid, token, optin, last_seen_dt, _created = row
            last_seen = last_seen_dt.timestamp()
            if optin and token and last_seen >= ctx.purge_cutoff:
                for _ in range(1 + int(r() * 2.5)):
                    sent = week_ago + 7 * DAY * r()
                    if r() < 0.85 and campaigns:
                        source, tok, group = "campaign", campaigns[int(r() * len(campaigns))], None
                    else:
                        group = groups[int(r() * len(groups))]
                        source, tok = "transactional", f"{rng.getrandbits(128):032x}"
                    if r() < 0.02:
                        yield (app_id, pk, custom_id, _utc(sent), "push_error", source, tok, group)
                        continue
                    yield (app_id, pk, custom_id, _utc(sent), "push_sent", source, tok, group)
                    if last_seen > sent and r() < 0.35:
                        opened = sent + min(last_seen - sent, 6 * 3600) * r()
                        yield (app_id, pk, custom_id, _utc(opened), "push_opened", source, tok, group)
            elif last_seen >= week_ago and r() < 0.25:
                kind = "push_optin" if token and optin else "push_optout" if r() < 0.8 else "token_deleted"
                at = week_ago + (last_seen - week_ago) * r()
                yield (app_id, pk, custom_id, _utc(at), kind, None, None, None)

    def inapp_events(self, rng: random.Random, installations: list[list], app_platforms: dict[int, str]):
        """Last week's in-app messages on mobile installations seen in the last week: supplied, shown, then
        clicked (CTA position and action) or closed."""
        ctx = self.ctx
        r = rng.random
        week_ago = ctx.now - 7 * DAY
        campaigns = ctx.inapp_campaign_tokens
        if not campaigns:
            return
        for row in installations:
            pk, app_id, _iid, custom_id, _pid, _adid, _token, _optin, last_seen_dt, _created = row
            last_seen = last_seen_dt.timestamp()
            if last_seen < week_ago or app_platforms[app_id] == "web" or r() < 0.2:
                continue
            for _ in range(1 + int(r() * 1.6)):
                tok = campaigns[int(r() * len(campaigns))]
                at = week_ago + (last_seen - week_ago) * r()
                yield (app_id, pk, custom_id, _utc(at), "inapp_supplied", tok, None, "")
                if r() < 0.15:
                    continue
                at += 1 + 30 * r()
                yield (app_id, pk, custom_id, _utc(at), "inapp_shown", tok, None, "")
                at += 2 + 60 * r()
                u = r()
                if u < 0.35:
                    position, action = (1, "batch.deeplink") if r() < 0.75 else (2, "batch.dismiss")
                    yield (app_id, pk, custom_id, _utc(at), "inapp_clicked", tok, position, action)
                elif u < 0.9:
                    yield (app_id, pk, custom_id, _utc(at), "inapp_closed", tok, None, "")
