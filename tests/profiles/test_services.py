"""profiles.services called directly: activity only moves forward, whichever path applies a call."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.profiles.models import Profile
from batchhub.profiles.services import custom_data_apply, events_apply, profiles_touch
from tests.factories import AppFactory, ProfileFactory

pytestmark = pytest.mark.portable
NOW = timezone.now()


def test_touching_creates_the_missing_and_keeps_the_later_activity(project):
    ProfileFactory(project=project, custom_id="late", last_activity_at=NOW)
    ProfileFactory(project=project, custom_id="early", last_activity_at=NOW - dt.timedelta(days=3))
    touched = profiles_touch(project.pk, ["late", "early", "new"], NOW - dt.timedelta(hours=1))
    assert set(touched) == {"late", "early", "new"}
    activity = dict(Profile.objects.values_list("custom_id", "last_activity_at"))
    assert activity["late"] == NOW  # a call applied late never moves activity back
    assert activity["early"] == activity["new"] == NOW - dt.timedelta(hours=1)


@pytest.mark.parametrize("path", ["events", "custom data"])
def test_a_call_applied_late_keeps_the_later_activity(project, path):
    ProfileFactory(project=project, custom_id="ann", last_activity_at=NOW)
    at = NOW - dt.timedelta(hours=2)
    if path == "events":
        event = {"custom_id": "ann", "name": "opened", "label": "", "attributes": {}, "tags": [], "time": None}
        events_apply(ApiCall(project_id=project.pk, operations=json.dumps([event]), created_at=at))
    else:
        app = AppFactory(project=project)
        operation = {"custom_id": "ann", "overwrite": False, "set": {"tier": "gold"}, "remove": [], "tags": {},
                     "remove_tags": []}  # fmt: skip
        custom_data_apply(ApiCall(project_id=project.pk, app=app, operations=json.dumps([operation]), created_at=at))
    assert Profile.objects.get(custom_id="ann").last_activity_at == NOW


def test_a_custom_data_deletion_applied_late_keeps_the_later_activity(project):
    from batchhub.profiles.services import custom_data_delete_apply

    ProfileFactory(project=project, custom_id="ann", last_activity_at=NOW)
    app = AppFactory(project=project)
    at = NOW - dt.timedelta(hours=2)
    custom_data_delete_apply(ApiCall(project_id=project.pk, app=app, operations='["ann"]', created_at=at))
    assert Profile.objects.get(custom_id="ann").last_activity_at == NOW
