"""Reads of profiles; callers pass a project they already obtained through a scoped query."""

from __future__ import annotations

import datetime as dt
import time
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import connection
from django.db.models import BooleanField, Count, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.functions import TruncMonth
from django.urls import reverse
from django.utils import timezone

from batchhub.core.data.db import prefix_match, utc_text_sql
from batchhub.core.data.pagination import Page, cursor_decode, cursor_encode, estimated_count
from batchhub.core.jobs.schedules import schedule_next_run
from batchhub.core.queries import get_by_code_or_404
from batchhub.profiles.models import Installation, Profile, ProfileEvent, PurgeRun
from batchhub.profiles.purge_rule import profiles_eligible, purge_cutoff
from batchhub.projects.models import App


def _search_sql(query: str) -> tuple[str, list[str]] | None:
    """The search condition as SQL: custom id or email starting with `query` (case-sensitive on every
    database), or only the email when the query holds an "@". Shared by the page and its count."""
    query = query.strip()
    if not query:
        return None
    email_sql, email_prefix = prefix_match(connection.vendor, "email", query.lower())
    if "@" in query:
        return email_sql, [email_prefix]
    custom_id_sql, custom_id_prefix = prefix_match(connection.vendor, "custom_id", query)
    return f"({custom_id_sql} OR {email_sql})", [custom_id_prefix, email_prefix]


def profiles_search(project, *, query: str = "") -> QuerySet[Profile]:
    """A project's profiles, optionally those whose custom id or email starts with `query`."""
    profiles = Profile.objects.filter(project=project)
    search = _search_sql(query)
    if search is not None:
        profiles = profiles.filter(RawSQL(*search, output_field=BooleanField()))  # noqa: S611 - text in params
    return profiles


def profiles_page(project, *, query: str = "", cursor: str | None, size: int) -> Page:
    """One page of the list as plain dicts ready to show.

    The list is the dashboard's hottest page, so this is one hand-written statement (the same filter as
    `profiles_search`, keyset on id): no ORM compilation, no model instances, dates formatted by the
    database, row links built from one reversed prefix.
    """
    after = cursor_decode(cursor)
    where, params = ["project_id = %s"], [project.pk]
    search = _search_sql(query)
    if search is not None:
        where.append(search[0])
        params += search[1]
    if isinstance(after, int):
        where.append("id < %s")
        params.append(after)
    table = Profile._meta.db_table
    # The ids first, from the (project, id) index alone, then their rows: a plain "WHERE project_id ORDER
    # BY id DESC" lets PostgreSQL walk the primary key backwards through other projects' newer profiles
    # (seen: 7 ms instead of 0.5 ms when another project grew after a large one).
    sql = (
        f"SELECT id, code, custom_id, email, email_marketing, {_utc_text('last_activity_at', 'minute')}, "
        f"{_utc_text('created_at', 'day')} FROM {table} WHERE id IN ("
        f"SELECT id FROM {table} WHERE {' AND '.join(where)} ORDER BY id DESC LIMIT %s) ORDER BY id DESC"
    )
    with connection.cursor() as db:
        db.execute(sql, [*params, size + 1])
        fetched = db.fetchall()
    marker = "00000000-0000-0000-0000-000000000000"
    link = reverse("profiles:detail", kwargs={"code": project.code, "profile_code": marker}).replace(marker, "{}")
    rows = [
        {
            "id": pk,
            "code": code,
            "url": link.format(_uuid_text(code)),
            "custom_id": custom_id,
            "email": email,
            "email_marketing": email_marketing,
            "last_activity": last_activity,
            "created": created,
        }
        for pk, code, custom_id, email, email_marketing, last_activity, created in fetched[:size]
    ]
    has_more = len(fetched) > size
    return Page(rows=rows, next_cursor=cursor_encode(rows[-1]["id"]) if has_more else None)


def _utc_text(column: str, precision: str) -> str:
    return utc_text_sql(connection.vendor, column, precision)


def _uuid_text(value) -> str:
    # PostgreSQL hands back UUID objects; SQLite stores the 32 hex digits without dashes.
    return str(value) if not isinstance(value, str) else str(uuid.UUID(value))


COUNT_CACHE_SECONDS = 60
# project id -> (expires at, estimate): per process, so the hot list pays no cache round trip either.
_count_estimates: dict[int, tuple[float, int]] = {}


def profiles_count_estimate(project, *, query: str = "") -> tuple[int, bool]:
    """(count, is_estimate) of a project's profiles: exact when small, else the planner's estimate.

    An unfiltered estimate is kept for a minute: "about 1,000,000" need not be recomputed per page.
    """
    if query:
        return estimated_count(profiles_search(project, query=query))
    now = time.monotonic()
    cached = _count_estimates.get(project.pk)
    if cached is not None and cached[0] > now:
        return cached[1], True
    count, is_estimate = estimated_count(profiles_search(project))
    if is_estimate:
        _count_estimates[project.pk] = (now + COUNT_CACHE_SECONDS, count)
    return count, is_estimate


def profiles_total_estimate() -> int:
    """All profiles of every project, from the planner's statistics on PostgreSQL (no table scan): cheap enough for
    the CSM's home page."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [Profile._meta.db_table])
            row = cursor.fetchone()
        if row and row[0] and row[0] > 0:
            return int(row[0])
    return Profile.objects.count()


def profile_get(project, code) -> Profile:
    """The profile with this public code inside `project`, else 404."""
    return get_by_code_or_404(Profile.objects.filter(project=project), code, what="profile")


def profile_events_recent(profile: Profile, *, limit: int = 50) -> list[ProfileEvent]:
    return list(profile.events.order_by("-occurred_at")[:limit])


def profile_installations(profile: Profile) -> list[Installation]:
    filters = Q(profile=profile)
    if profile.custom_id:
        filters |= Q(app__project_id=profile.project_id, custom_id=profile.custom_id)
    return list(Installation.objects.filter(filters).select_related("app").order_by("-last_seen_at")[:50])


def installations_known(project_id: int, operations: list[dict], problems) -> list[dict]:
    """The profile updates whose target exists: an `installation` must name an installation of one of the
    project's apps (by its live, dev or SDK key). The others are reported in `problems` (partial errors) rather
    than accepted and dropped later. Known installations get their `app_id`. One query for apps, one for
    installations, and none when no update names an installation."""
    refs = [op["installation"] for op in operations if op.get("installation")]
    if not refs:
        return operations
    keys = {ref["api_key"] for ref in refs}
    app_of_key: dict[str, int] = {}
    for app_id, *app_keys in App.objects.filter(
        Q(live_api_key__in=keys) | Q(dev_api_key__in=keys) | Q(sdk_api_key__in=keys), project_id=project_id
    ).values_list("id", "live_api_key", "dev_api_key", "sdk_api_key"):
        app_of_key.update({key: app_id for key in app_keys if key in keys})
    found = set(
        Installation.objects.filter(
            app_id__in=set(app_of_key.values()), installation_id__in={ref["installation_id"] for ref in refs}
        ).values_list("app_id", "installation_id")
    )
    kept = []
    for operation in operations:
        ref = operation.get("installation")
        if ref:
            app_id = app_of_key.get(ref["api_key"])
            if app_id is None:
                unknown = "apikey is not an API key of an app of this project"
            elif (app_id, ref["installation_id"]) not in found:
                unknown = "installation_id is not an installation of that app"
            else:
                unknown = None
            if unknown:
                where = "identifiers.installation"
                problems.add(index=operation["bulk_index"], category="identifiers", attribute=where,
                             reason=f"{where}.{unknown}.")  # fmt: skip
                continue
            ref["app_id"] = app_id
        kept.append(operation)
    return kept


# ---- the purge, seen before it runs ----------------------------------------------------------------------------

PURGE_TASK = "batchhub.profiles.tasks.purge_daily"
FALL_OUT_DAYS = (7, 30, 90)
SAMPLE_SIZE = 8


@dataclass(frozen=True)
class PurgeForecast:
    """What the next purge run of a project deletes, and what falls out after it, by a period (`months`)."""

    months: int
    next_run_at: dt.datetime | None  # None: the daily purge is not scheduled
    cutoff: dt.datetime  # the next run's
    deleted_next_run: int
    falling_out: list[tuple[int, int]]  # (days from now, profiles beyond the next run's that are eligible by then)
    sample: list[Profile]  # the first the next run deletes (oldest activity first)


def purge_next_run_at(*, now: dt.datetime | None = None) -> dt.datetime | None:
    """When beat next starts the daily purge (its schedule is editable in the admin); None if it is not scheduled."""
    return schedule_next_run(PURGE_TASK, now=now)


def purge_forecast(project, *, months: int, now: dt.datetime | None = None) -> PurgeForecast:
    """One counting statement over the project's profiles that are eligible within 90 days (the activity index's
    range), and one for the sample."""
    now = now or timezone.now()
    next_run_at = purge_next_run_at(now=now)
    cutoff = purge_cutoff(months, now=next_run_at or now)
    later = {days: purge_cutoff(months, now=now + dt.timedelta(days=days)) for days in FALL_OUT_DAYS}
    counts = profiles_eligible(project.pk, max(cutoff, *later.values())).aggregate(
        next_run=Count("id", filter=Q(last_activity_at__lt=cutoff)),
        **{f"d{days}": Count("id", filter=Q(last_activity_at__lt=at)) for days, at in later.items()},
    )
    sample = list(profiles_eligible(project.pk, cutoff).order_by("last_activity_at", "id")[:SAMPLE_SIZE])
    return PurgeForecast(
        months=months,
        next_run_at=next_run_at,
        cutoff=cutoff,
        deleted_next_run=counts["next_run"],
        falling_out=[(days, max(0, counts[f"d{days}"] - counts["next_run"])) for days in FALL_OUT_DAYS],
        sample=sample,
    )


CHART_CACHE_SECONDS = 600


def profiles_by_activity_month(project) -> list[tuple[dt.date, int]]:
    """(first day of the month, profiles whose last activity is in it), UTC, oldest first: the purge chart's data.
    One pass over the project's activity index, kept for 10 minutes (a finished purge run drops it)."""
    return cache.get_or_set(chart_cache_key(project), lambda: _by_activity_month(project), CHART_CACHE_SECONDS)


def chart_cache_key(project) -> str:
    return f"profiles:purge-chart:{project.code}"


def _by_activity_month(project) -> list[tuple[dt.date, int]]:
    rows = (
        Profile.objects.filter(project=project)
        .annotate(month=TruncMonth("last_activity_at", tzinfo=dt.UTC))
        .values("month")
        .annotate(profiles=Count("id"))
        .order_by("month")
    )
    return [(row["month"].date() if isinstance(row["month"], dt.datetime) else row["month"], row["profiles"])
            for row in rows]  # fmt: skip


def purge_runs_recent(project, *, limit: int = 5) -> list[PurgeRun]:
    return list(PurgeRun.objects.filter(project=project)[:limit])
