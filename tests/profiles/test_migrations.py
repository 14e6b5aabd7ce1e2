"""Event names lost Batch's `ue.` namespace in a migration: stored names agree with what the API stores now."""

from __future__ import annotations

import pytest
from django.utils import timezone

from tests.migrating import latest, migrate_to

pytestmark = pytest.mark.portable

BEFORE = [("profiles", "0004_api_calls_sweep_schedule")]
AFTER = [("profiles", "0005_event_names_without_ue_prefix")]


def test_stored_event_names_lose_the_ue_prefix_and_nothing_else(transactional_db):
    from tests.factories import ProfileFactory

    profile = ProfileFactory()
    old = migrate_to(BEFORE)
    ProfileEvent = old.get_model("profiles", "ProfileEvent")
    now = timezone.now()
    for name in ("ue.added_to_cart", "opened", "ue.", "ue.a.b", "blue.sky"):
        ProfileEvent.objects.create(profile_id=profile.pk, name=name, occurred_at=now)
    migrate_to(AFTER)

    from batchhub.profiles.models import ProfileEvent as Current

    names = sorted(Current.objects.values_list("name", flat=True))
    assert names == sorted(["added_to_cart", "opened", "ue.", "a.b", "blue.sky"])
    migrate_to(latest())
