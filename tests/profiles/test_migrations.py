"""Event names lost Batch's `ue.` namespace in a migration: stored names agree with what the API stores now."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone

pytestmark = pytest.mark.portable

BEFORE = [("profiles", "0004_api_calls_sweep_schedule")]
AFTER = [("profiles", "0005_event_names_without_ue_prefix")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


def test_stored_event_names_lose_the_ue_prefix_and_nothing_else(transactional_db):
    from tests.factories import ProfileFactory

    profile = ProfileFactory()
    old = _migrate(BEFORE)
    ProfileEvent = old.get_model("profiles", "ProfileEvent")
    now = timezone.now()
    for name in ("ue.added_to_cart", "opened", "ue.", "ue.a.b", "blue.sky"):
        ProfileEvent.objects.create(profile_id=profile.pk, name=name, occurred_at=now)
    _migrate(AFTER)

    from batchhub.profiles.models import ProfileEvent as Current

    names = sorted(Current.objects.values_list("name", flat=True))
    assert names == sorted(["added_to_cart", "opened", "ue.", "a.b", "blue.sky"])
