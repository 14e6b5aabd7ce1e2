from __future__ import annotations

import datetime as dt

import pytest

from batchhub.profiles.purge_rule import profile_is_purge_eligible, profile_purge_after, purge_cutoff
from tests.factories import ProfileFactory

pytestmark = pytest.mark.portable


def test_the_cutoff_counts_calendar_months():
    now = dt.datetime(2025, 3, 31, 12, tzinfo=dt.UTC)
    assert purge_cutoff(1, now=now) == dt.datetime(2025, 2, 28, 12, tzinfo=dt.UTC)
    assert purge_cutoff(13, now=now) == dt.datetime(2024, 2, 29, 12, tzinfo=dt.UTC)


def test_a_profile_is_eligible_once_its_last_activity_is_before_the_cutoff(project):
    now = dt.datetime(2025, 6, 15, tzinfo=dt.UTC)
    cutoff = purge_cutoff(project.inactivity_months, now=now)
    before = ProfileFactory(project=project, last_activity_at=cutoff - dt.timedelta(seconds=1))
    at = ProfileFactory(project=project, last_activity_at=cutoff)
    assert profile_is_purge_eligible(before, project.inactivity_months, now=now)
    assert not profile_is_purge_eligible(at, project.inactivity_months, now=now)
    assert profile_purge_after(at, project.inactivity_months) == now
