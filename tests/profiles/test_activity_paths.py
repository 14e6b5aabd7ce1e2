"""Every write path that exists today moves a profile's `last_activity_at` to the call's accepted time, never back
(issue 11 §1): through the REST API, applied by the worker's own code.

For each path: an old activity moves to the call's time; a call applied late (its accepted time older than the
stored activity) keeps the later one; a profile that does not exist yet is created with the call's time.
Paths the seed lists that the code does not have yet (SDK ingestion, attribute and subscriber imports, email
opens and clicks) get their tests with the path.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.api.tasks import api_calls_apply
from batchhub.profiles.models import AppCustomData, Installation, Profile
from tests.factories import InstallationFactory, ProfileFactory

pytestmark = pytest.mark.portable  # the worker's Python path on SQLite, its set-based SQL on PostgreSQL

OLD = dt.timedelta(days=300)
LATER = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Write:
    """A call naming one user by custom id, and the kind of call it must be accepted as (the applier it reaches)."""

    send: Callable  # (api, custom_id) -> response
    kind: str


def _profile_update(attributes: dict | None = None, events: list | None = None, *, route: str = "update"):
    def send(api, custom_id):
        update = {"identifiers": {"custom_id": custom_id}, "attributes": attributes or {}, "events": events or []}
        return api.project_call(f"/profiles/{route}", [update])

    return send


WRITES = {
    "custom data, one user": Write(
        lambda api, cid: api.app_call("POST", f"/data/users/{cid}", {"values": {"u.plan": "gold"}}),
        "profiles.custom_data",
    ),
    "custom data, bulk": Write(
        lambda api, cid: api.app_call("POST", "/data/users", [{"id": cid, "update": {"values": {"ut.a": ["x"]}}}]),
        "profiles.custom_data",
    ),
    "trigger events, one user": Write(
        lambda api, cid: api.app_call("POST", f"/events/users/{cid}", {"events": [{"name": "ue.opened"}]}),
        "profiles.events",
    ),
    "trigger events, bulk (normalised)": Write(
        lambda api, cid: api.app_call("POST", "/events/users", [{"id": cid, "events": [{"name": "UE.Opened"}]}]),
        "profiles.events",
    ),
    "trigger events, bulk (stored as it came)": Write(
        lambda api, cid: api.app_call("POST", "/events/users", [{"id": cid, "events": [{"name": "ue.opened"}]}]),
        "profiles.events_raw",
    ),
    "profile api, attributes": Write(_profile_update({"plan": "gold"}), "profiles.profile_update"),
    "profile api, email address": Write(
        _profile_update({"$email_address": "ann@example.com"}), "profiles.profile_update"
    ),
    "profile api, email marketing": Write(
        _profile_update({"$email_marketing": "unsubscribed"}), "profiles.profile_update"
    ),
    "profile api, events": Write(_profile_update(events=[{"name": "signed_up"}]), "profiles.profile_update"),
    "profile api, mass update": Write(
        _profile_update({"plan": "gold"}, route="mass-update"), "profiles.profile_update"
    ),
}
# Erasing a user's custom data is activity on a profile that exists, and creates none.
DELETIONS = {
    "custom data deletion, one user": Write(
        lambda api, cid: api.app_call("DELETE", f"/data/users/{cid}"), "profiles.custom_data_delete"
    ),
    "custom data deletion, bulk": Write(
        lambda api, cid: api.app_call("DELETE", "/data/users", [cid]), "profiles.custom_data_delete"
    ),
}
EVERY_WRITE = {**WRITES, **DELETIONS}


def _accepted(response, kind: str) -> ApiCall:
    assert response.status_code in (200, 202), response.content
    call = ApiCall.objects.get()
    assert call.kind == kind
    return call


def _apply_late(api, send: Callable, *, then_active: Callable[[dt.datetime], None]) -> ApiCall:
    """Accept a call, record a later activity (`then_active(at)`) before the worker applies it, then apply it."""
    response = send()  # its task runs on commit, which the test never reaches: the call waits
    call = ApiCall.objects.get()
    assert call.apply_status == ApiCall.ApplyStatus.PENDING
    then_active(call.created_at + LATER)
    api_calls_apply.delay(api.app.project_id)
    call.refresh_from_db()
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED, (response.content, call.apply_error)
    return call


# ---- calls naming a profile by custom id -------------------------------------------------------------------


@pytest.mark.parametrize("write", EVERY_WRITE.values(), ids=list(EVERY_WRITE))
def test_a_write_moves_an_old_activity_to_the_calls_time(api, applied, write):
    ProfileFactory(project=api.app.project, custom_id="ann", last_activity_at=timezone.now() - OLD)
    with applied:
        call = _accepted(write.send(api, "ann"), write.kind)
    call.refresh_from_db()
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED
    assert Profile.objects.get(custom_id="ann").last_activity_at == call.created_at


@pytest.mark.parametrize("write", EVERY_WRITE.values(), ids=list(EVERY_WRITE))
def test_a_write_applied_late_keeps_the_later_activity(api, write):
    ProfileFactory(project=api.app.project, custom_id="ann", last_activity_at=timezone.now() - OLD)

    def then_active(at):
        Profile.objects.filter(custom_id="ann").update(last_activity_at=at)

    call = _apply_late(api, lambda: write.send(api, "ann"), then_active=then_active)
    assert call.kind == write.kind
    assert Profile.objects.get(custom_id="ann").last_activity_at == call.created_at + LATER


@pytest.mark.parametrize("write", WRITES.values(), ids=list(WRITES))
def test_a_write_creates_a_missing_profile_with_the_calls_time(api, applied, write):
    with applied:
        call = _accepted(write.send(api, "bea"), write.kind)
    profile = Profile.objects.get(project=api.app.project, custom_id="bea")
    assert profile.last_activity_at == profile.created_at == call.created_at


@pytest.mark.parametrize("write", DELETIONS.values(), ids=list(DELETIONS))
def test_a_custom_data_deletion_creates_no_profile(api, applied, write):
    with applied:
        _accepted(write.send(api, "bea"), write.kind)
    assert not Profile.objects.filter(custom_id="bea").exists()


def test_an_overwrite_stays_app_level_and_leaves_the_profile_and_its_activity(api, applied):
    # Batch applies `overwrite: true` to the app's data only: the call does not concern the profile.
    old = timezone.now() - OLD
    ProfileFactory(project=api.app.project, custom_id="ann", last_activity_at=old)
    with applied:
        body = {"overwrite": True, "values": {"u.plan": "gold"}}
        response = api.app_call("POST", "/data/users", [{"id": cid, "update": body} for cid in ("ann", "bea")])
        _accepted(response, "profiles.custom_data")
    assert Profile.objects.get(custom_id="ann").last_activity_at == old
    assert not Profile.objects.filter(custom_id="bea").exists()
    assert set(AppCustomData.objects.values_list("custom_id", flat=True)) == {"ann", "bea"}


# ---- Profile API calls naming a profile by installation (the SDK side's link) ---------------------------------


def _by_installation(installation: Installation, attributes: dict | None = None):
    def send(api):
        ref = {"apikey": installation.app.live_api_key, "installation_id": installation.installation_id}
        update = {"identifiers": {"installation": ref}, "attributes": attributes or {"plan": "gold"}}
        return api.project_call("/profiles/update", [update])

    return send


INSTALLATION_ATTRIBUTES = {
    "attributes": {"plan": "gold"},
    "email marketing": {"$email_address": "ann@example.com", "$email_marketing": "subscribed"},
}


def _installation_of(api, link: str) -> Installation:
    """An installation feeding the old profile `ann`: linked to it already, or by its custom id only."""
    profile = ProfileFactory(project=api.app.project, custom_id="ann", last_activity_at=timezone.now() - OLD)
    if link == "linked":
        return InstallationFactory(app=api.app, custom_id=None, profile=profile)
    return InstallationFactory(app=api.app, custom_id="ann", profile=None)


@pytest.mark.parametrize("attributes", list(INSTALLATION_ATTRIBUTES))
@pytest.mark.parametrize("link", ["linked", "by custom id"])
def test_an_installation_moves_its_profiles_old_activity_to_the_calls_time(api, applied, link, attributes):
    installation = _installation_of(api, link)
    with applied:
        response = _by_installation(installation, INSTALLATION_ATTRIBUTES[attributes])(api)
        call = _accepted(response, "profiles.profile_update")
    profile = Profile.objects.get(custom_id="ann")
    assert profile.last_activity_at == call.created_at
    installation.refresh_from_db()
    assert installation.profile == profile


@pytest.mark.parametrize("link", ["linked", "by custom id"])
def test_an_installation_applied_late_keeps_its_profiles_later_activity(api, link):
    installation = _installation_of(api, link)

    def then_active(at):
        Profile.objects.filter(custom_id="ann").update(last_activity_at=at)

    call = _apply_late(api, lambda: _by_installation(installation)(api), then_active=then_active)
    assert Profile.objects.get(custom_id="ann").last_activity_at == call.created_at + LATER
    installation.refresh_from_db()
    assert installation.profile.custom_id == "ann"


@pytest.mark.parametrize("custom_id", ["cid", None], ids=["with a custom id", "anonymous"])
def test_an_installation_without_a_profile_creates_one_with_the_calls_time(api, applied, custom_id):
    installation = InstallationFactory(app=api.app, custom_id=custom_id, profile=None)
    with applied:
        call = _accepted(_by_installation(installation)(api), "profiles.profile_update")
    installation.refresh_from_db()
    profile = installation.profile
    assert profile.custom_id == custom_id and profile.project == api.app.project
    assert profile.last_activity_at == profile.created_at == call.created_at
