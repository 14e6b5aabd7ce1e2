"""Dashboard figures on profiles (read-only, cheap enough for a home page)."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.db import connection
from django.db.models import Count, Q
from django.utils import timezone

from batchhub.profiles.models import Profile


def purge_cutoff(inactivity_months: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """Profiles whose last activity is before this instant are purge-eligible (calendar months)."""
    return (now or timezone.now()) - relativedelta(months=inactivity_months)


def profiles_total_estimate() -> int:
    """All profiles, from the planner's statistics on PostgreSQL (no table scan)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass", [Profile._meta.db_table])
            row = cursor.fetchone()
        if row and row[0] and row[0] > 0:
            return int(row[0])
    return Profile.objects.count()


def purge_preview(project, *, now: dt.datetime | None = None) -> dict[str, int]:
    """How many of the project's profiles fall out now and within the next 7/30/90 days."""
    now = now or timezone.now()
    cutoff = purge_cutoff(project.inactivity_months, now=now)
    horizons = {"now": 0, "7": 7, "30": 30, "90": 90}
    aggregates = {
        f"in_{name}": Count("id", filter=Q(last_activity_at__lt=cutoff + dt.timedelta(days=days)))
        for name, days in horizons.items()
    }
    horizon_end = cutoff + dt.timedelta(days=90)
    result = Profile.objects.filter(project=project, last_activity_at__lt=horizon_end).aggregate(**aggregates)
    return {name: result[f"in_{name}"] for name in horizons}


def profile_is_purge_eligible(profile, project, *, now: dt.datetime | None = None) -> bool:
    """The purge's own rule: last activity before now minus the project's inactivity period."""
    return profile.last_activity_at < purge_cutoff(project.inactivity_months, now=now)


def profile_purge_after(profile, project) -> dt.datetime:
    """About when the profile becomes purge-eligible if nothing happens to it meanwhile (for display)."""
    return profile.last_activity_at + relativedelta(months=project.inactivity_months)
