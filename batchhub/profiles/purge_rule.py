"""The purge rule in one place: a profile is purge-eligible once its last activity is older than the project's
inactivity period, counted in calendar months. The profile page shows it; the purge must apply the same rule."""

from __future__ import annotations

import datetime as dt

from dateutil.relativedelta import relativedelta
from django.utils import timezone

from batchhub.profiles.models import Profile


def purge_cutoff(inactivity_months: int, *, now: dt.datetime | None = None) -> dt.datetime:
    """Profiles whose last activity is before this instant are purge-eligible (calendar months)."""
    return (now or timezone.now()) - relativedelta(months=inactivity_months)


def profiles_eligible(project_id: int, cutoff: dt.datetime):
    """The rule as a query: the project's profiles last active before `cutoff` (the activity index's range)."""
    return Profile.objects.filter(project_id=project_id, last_activity_at__lt=cutoff)


def profile_is_purge_eligible(profile, inactivity_months: int, *, now: dt.datetime | None = None) -> bool:
    """The purge's own rule: last activity before now minus the inactivity period."""
    return profile.last_activity_at < purge_cutoff(inactivity_months, now=now)


def profile_purge_after(profile, inactivity_months: int) -> dt.datetime:
    """About when the profile becomes purge-eligible if nothing happens to it meanwhile (for display)."""
    return profile.last_activity_at + relativedelta(months=inactivity_months)
