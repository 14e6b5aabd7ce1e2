"""Deleting a profile reaches every app that registered its rows, by profile id or by custom id."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.core.data.deletions import deleters, profile_data_delete
from batchhub.profiles.models import AppCustomData, Installation, Profile, ProfileEvent
from tests.factories import (
    ApiCallFactory,
    AppFactory,
    InstallationFactory,
    ProfileEventFactory,
    ProfileFactory,
)

pytestmark = pytest.mark.portable


@pytest.fixture
def world(project):
    app = AppFactory(project=project)
    ann, bob = ProfileFactory(project=project, custom_id="ann"), ProfileFactory(project=project, custom_id="bob")
    for profile in (ann, bob):
        ProfileEventFactory(profile=profile)
        AppCustomData.objects.create(app=app, custom_id=profile.custom_id, updated_at=timezone.now())
        InstallationFactory(app=app, profile=profile, custom_id=profile.custom_id)
    failed_ann = ApiCallFactory(project=project, apply_status="failed", operations=json.dumps([{"custom_id": "ann"}]))
    failed_bob = ApiCallFactory(project=project, apply_status="failed", operations=json.dumps([{"custom_id": "bob"}]))
    return {"ann": ann, "bob": bob, "failed_ann": failed_ann, "failed_bob": failed_bob}


def _left(world) -> dict:
    failed_ann, failed_bob = (ApiCall.objects.get(pk=world[k].pk) for k in ("failed_ann", "failed_bob"))
    return {
        "profiles": sorted(Profile.objects.values_list("custom_id", flat=True)),
        "events": sorted(ProfileEvent.objects.values_list("profile__custom_id", flat=True)),
        "custom data": sorted(AppCustomData.objects.values_list("custom_id", flat=True)),
        "linked installations": sorted(Installation.objects.exclude(profile=None).values_list("custom_id", flat=True)),
        "installations": Installation.objects.count(),
        "bodies": [bool(failed_ann.operations), bool(failed_bob.operations)],
    }


@pytest.mark.parametrize("by", ["profile id", "custom id"])
def test_every_registered_app_loses_the_profile_and_only_it(world, project, by):
    named = {"profile_ids": [world["ann"].pk]} if by == "profile id" else {"custom_ids": ["ann"]}
    counts = profile_data_delete(project.pk, **named)
    assert counts == {
        "profiles.events": 1,
        "profiles.app_custom_data": 1,
        "profiles.installations": 1,
        "api.stored_bodies": 1,
        "profiles.profiles": 1,
    }
    assert _left(world) == {
        "profiles": ["bob"],
        "events": ["bob"],
        "custom data": ["bob"],
        "linked installations": ["bob"],
        "installations": 2,  # app-centric: they stay, unlinked
        "bodies": [False, True],
    }


def test_the_profiles_go_last():
    assert deleters()[-1] == "profiles.profiles"


def test_another_project_is_never_reached(world, other_project):
    assert profile_data_delete(other_project.pk, custom_ids=["ann"])["profiles.profiles"] == 0
    assert _left(world)["profiles"] == ["ann", "bob"]


def test_deleting_a_profile_in_the_admin_goes_through_the_registry(world, client, django_user_model):
    admin = django_user_model.objects.create_superuser("root", password="x" * 16)
    client.force_login(admin)
    url = reverse("admin:profiles_profile_delete", args=[world["ann"].pk])
    assert client.post(url, {"post": "yes"}).status_code == 302
    left = _left(world)
    assert left["profiles"] == ["bob"] and left["custom data"] == ["bob"] and left["bodies"] == [False, True]


def test_stored_bodies_are_found_however_the_custom_id_was_escaped(project):
    from batchhub.core.data.deletions import Subjects
    from batchhub.profiles.services import deletion_subjects  # noqa: F401 - the resolver is registered by profiles

    normalised = ApiCallFactory(project=project, apply_status="failed", operations='[{"custom_id": "josé"}]')
    escaped = ApiCallFactory(project=project, apply_status="failed", operations=r'[{"id": "a\/b", "events": []}]')
    ids_only = ApiCallFactory(project=project, apply_status="failed", operations=r'["\u0061nn"]')
    other = ApiCallFactory(project=project, apply_status="failed", operations='[{"custom_id": "zed"}]')
    from batchhub.api.services import stored_bodies_erase

    assert stored_bodies_erase(Subjects(project.pk, frozenset(), frozenset({"josé", "a/b", "ann"}))) == 3
    bodies = {call.pk: ApiCall.objects.get(pk=call.pk).operations for call in (normalised, escaped, ids_only, other)}
    assert [bool(body) for body in bodies.values()] == [False, False, False, True]


def test_a_caller_naming_both_sides_skips_the_resolver(project):
    """`resolved=True`: what the caller names is all that is deleted (the purge names both sides of each profile)."""
    app = project.apps.first()
    ann = ProfileFactory(project=project, custom_id="ann")
    AppCustomData.objects.create(app=app, custom_id="ann", updated_at=ann.created_at)
    counts = profile_data_delete(project.pk, profile_ids=[ann.pk], resolved=True)
    assert counts["profiles.profiles"] == 1 and counts["profiles.app_custom_data"] == 0
    assert AppCustomData.objects.filter(custom_id="ann").exists()
