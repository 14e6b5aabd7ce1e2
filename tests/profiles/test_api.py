"""Custom Data, Trigger Events and Profile API routes: rules, limits, and what the worker writes."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.api.tasks import api_calls_apply
from batchhub.profiles.models import AppCustomData, Profile, ProfileEvent
from tests.factories import ProfileFactory

pytestmark = pytest.mark.portable  # the worker's SQLite path (bulk_create) as well as COPY on PostgreSQL


# ---- Custom Data -------------------------------------------------------------------------------------


def test_custom_data_merges_into_the_profile_and_the_app(api, applied):
    ProfileFactory(project=api.app.project, custom_id="alice", attributes={"plan": "free", "age": 30})
    body = {
        "overwrite": False,
        "values": {
            "u.plan": "gold",
            "u.AGE": None,
            "date(u.signup)": "2024-05-01T10:00:00Z",
            "url(u.avatar)": "https://cdn.example.com/a.png",
            "ut.interests": ["ski", "jazz", "ski"],
        },
    }
    with applied:
        response = api.app_call("POST", "/data/users/alice", body)
    assert response.status_code == 202
    profile = Profile.objects.get(custom_id="alice")
    assert profile.attributes == {
        "plan": "gold",
        "signup": "2024-05-01T10:00:00Z",
        "avatar": "https://cdn.example.com/a.png",
    }
    assert profile.tags == {"interests": ["ski", "jazz"]}
    app_data = AppCustomData.objects.get(app=api.app, custom_id="alice")
    assert app_data.attributes["plan"] == "gold"
    call = ApiCall.objects.get(token=response.json()["token"])
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED


def test_overwrite_replaces_app_data_and_leaves_the_profile(api, applied):
    ProfileFactory(project=api.app.project, custom_id="bob", attributes={"plan": "free"})
    with applied:
        api.app_call("POST", "/data/users/bob", {"values": {"u.plan": "gold", "u.city": "Lyon"}})
        api.app_call("POST", "/data/users/bob", {"overwrite": True, "values": {"u.city": "Paris"}})
    assert AppCustomData.objects.get(custom_id="bob").attributes == {"city": "Paris"}
    assert Profile.objects.get(custom_id="bob").attributes == {"plan": "gold", "city": "Lyon"}


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"plan": "gold"}, "values['plan']"),
        ({"u.bad-name": 1}, "bad-name"),
        ({"u." + "x" * 31: 1}, "x" * 31),
        ({"u.plan": "y" * 65}, "longer than 64"),
        ({"url(u.site)": "not a url"}, "url(u.site)"),
        ({"url(u.site)": "https://e.com/" + "p" * 2048}, "url(u.site)"),
        ({"date(u.d)": "yesterday"}, "date(u.d)"),
        ({"ut.tags": "ski"}, "ut.tags"),
        ({"ut.tags": [""]}, "non-empty"),
        ({"ut.tags": ["t" * 65]}, "non-empty strings of at most 64"),
        ({"u.obj": {"a": 1}}, "u.obj"),
    ],
)
def test_custom_data_rules_are_400_naming_the_key(api, values, field):
    response = api.app_call("POST", "/data/users/alice", {"values": values})
    assert response.status_code == 400
    assert response.json()["code"] == 31
    assert field in response.json()["message"]
    assert not Profile.objects.exists()


def test_custom_data_without_values_is_missing_parameter(api):
    response = api.app_call("POST", "/data/users/alice", {"overwrite": True})
    assert response.status_code == 400
    assert response.json()["code"] == 30
    assert "values" in response.json()["message"]


def test_bulk_custom_data_limit(api):
    update = {"values": {"u.plan": "gold"}}
    body = [{"id": f"user-{n}", "update": update} for n in range(10_000)]
    assert api.app_call("POST", "/data/users", body).status_code == 202
    body.append({"id": "one-too-many", "update": update})
    response = api.app_call("POST", "/data/users", body)
    assert response.status_code == 403
    assert response.json()["code"] == 12
    assert "10000" in response.json()["message"]


def test_bulk_custom_data_names_the_index_at_fault(api):
    body = [{"id": "ok", "update": {"values": {"u.a": 1}}}, {"id": "", "update": {"values": {}}}]
    response = api.app_call("POST", "/data/users", body)
    assert response.status_code == 400
    assert response.json()["message"].startswith("[1].id")


def test_delete_clears_custom_data_but_keeps_the_profile(api, applied):
    ProfileFactory(project=api.app.project, custom_id="carol", attributes={"plan": "gold"}, tags={"t": ["x"]})
    with applied:
        api.app_call("POST", "/data/users/carol", {"values": {"u.plan": "gold"}})
        single = api.app_call("DELETE", "/data/users/carol")
        bulk = api.app_call("DELETE", "/data/users", ["carol", "dave"])
    assert single.status_code == bulk.status_code == 200  # as Batch documents: 200 with the token
    assert set(single.json()) == set(bulk.json()) == {"token"}
    profile = Profile.objects.get(custom_id="carol")
    assert (profile.attributes, profile.tags) == ({}, {})
    assert not AppCustomData.objects.exists()


def test_bulk_delete_limit(api):
    assert api.app_call("DELETE", "/data/users", [f"u{n}" for n in range(10_001)]).status_code == 403


# ---- Trigger Events ----------------------------------------------------------------------------------


def test_events_create_profiles_and_events(api, applied):
    now = timezone.now().replace(microsecond=0)
    past = (now - dt.timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%S")
    body = {
        "events": [
            {"name": "ue.added_to_cart", "label": "basket", "attributes": {"sku": "A1", "price": 9.5,
             "date(seen)": "2024-01-01T00:00:00Z"}, "tags": ["promo"], "time": past},
            {"name": "UE.Purchase"},
        ]
    }  # fmt: skip
    with applied:
        assert api.app_call("POST", "/events/users/erin", body).status_code == 202
    profile = Profile.objects.get(custom_id="erin")
    events = {e.name: e for e in ProfileEvent.objects.filter(profile=profile)}
    assert set(events) == {"added_to_cart", "purchase"}  # one canonical name, without Batch's `ue.` namespace
    cart = events["added_to_cart"]
    assert cart.label == "basket" and cart.tags == ["promo"]
    assert cart.attributes == {"sku": "A1", "price": 9.5, "seen": "2024-01-01T00:00:00Z"}
    assert cart.occurred_at == now - dt.timedelta(hours=2)
    assert profile.last_activity_at >= now


def test_bulk_events_in_normal_form_are_stored_as_they_came_and_written_alike(api, applied):
    now = timezone.now().replace(microsecond=0)
    past = (now - dt.timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M:%S")
    event = {"label": None, "time": past, "attributes": {"sku": "A1", "price": 9.5, "n": 3, "ok": True},
             "tags": ["promo", "é"]}  # fmt: skip
    normal = [{"id": "gil", "events": [{"name": "ue.viewed", **event}, {"name": "ue.bare"}]}]
    other = [{"id": "hal", "events": [{"name": "UE.Viewed", **event}, {"name": "ue.bare", "tags": ["a", "a"]}]}]
    assert api.app_call("POST", "/events/users", normal).status_code == 202
    assert api.app_call("POST", "/events/users", other).status_code == 202
    assert json.loads(ApiCall.objects.get(kind="profiles.events_raw").operations) == normal  # the body, as it came
    api_calls_apply.delay(api.app.project_id)
    assert sorted(ApiCall.objects.values_list("kind", "apply_status", "operations")) == [
        ("profiles.events", "applied", ""),  # applied: what it carried is in the profile tables, not kept here
        ("profiles.events_raw", "applied", ""),
    ]

    def written(custom_id):
        return {
            row[0]: row[1:]
            for row in ProfileEvent.objects.filter(profile__custom_id=custom_id).values_list(
                "name", "label", "attributes", "tags", "occurred_at"
            )
        }

    raw_call = ApiCall.objects.get(kind="profiles.events_raw")
    assert written("gil") == {
        "viewed": ("", event["attributes"], ["promo", "é"], now - dt.timedelta(hours=3)),
        "bare": ("", {}, [], raw_call.created_at),  # no time: the call's
    }
    assert written("hal")["viewed"] == written("gil")["viewed"]  # the rules' path, from "UE.Viewed"
    assert written("hal")["bare"][2] == ["a"]


def _event(**fields):
    return {"events": [{"name": "ue.opened", **fields}]}


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"events": [{}]}, 30, "events[0].name"),
        (_event(name="ue."), 31, "events[0].name"),
        (_event(name="ue." + "a" * 31), 31, "events[0].name"),
        (_event(name="ue.bad-name"), 31, "events[0].name"),
        (_event(time="2024-01-01 10:00:00"), 31, "events[0].time"),
        (_event(time="2020-01-01T10:00:00"), 31, "older than 24 hours"),
        (_event(time="2999-01-01T10:00:00"), 31, "in the future"),
        (_event(label="l" * 201), 31, "events[0].label"),
        (_event(attributes={f"a{n}": n for n in range(16)}), 31, "at most 15"),
        (_event(attributes={"Bad-Name": 1}), 31, "Bad-Name"),
        (_event(attributes={"s": "v" * 65}), 31, "longer than 64"),
        (_event(attributes={"l": [1]}), 31, "['l']"),
        (_event(tags=[f"t{n}" for n in range(11)]), 31, "at most 10"),
        (_event(tags=["x" * 65]), 31, "events[0].tags"),
        ({"events": "nope"}, 31, "events must be an array"),
        ({}, 30, "events is required"),
    ],
)
def test_event_rules_are_400_naming_the_field(api, body, code, field):
    response = api.app_call("POST", "/events/users/erin", body)
    assert response.status_code == 400
    assert response.json()["code"] == code
    assert field in response.json()["message"]


def test_events_limit_is_1000_per_call_single_and_bulk(api):
    events = [{"name": "ue.opened"}] * 1000
    assert api.app_call("POST", "/events/users/erin", {"events": events}).status_code == 202
    assert api.app_call("POST", "/events/users/erin", {"events": [*events, {"name": "ue.x"}]}).status_code == 403
    bulk = [{"id": "a", "events": events[:600]}, {"id": "b", "events": events[:400]}]
    assert api.app_call("POST", "/events/users", bulk).status_code == 202
    bulk.append({"id": "c", "events": [{"name": "ue.x"}]})
    response = api.app_call("POST", "/events/users", bulk)
    assert response.status_code == 403
    assert response.json()["code"] == 12


# ---- Profile API 2.x -----------------------------------------------------------------------------------


def test_profile_update_sets_native_and_custom_attributes_and_events(api, applied):
    ProfileFactory(project=api.app.project, custom_id="fay", attributes={"interests": ["ski"], "plan": "free"})
    body = [
        {
            "identifiers": {"custom_id": "fay"},
            "attributes": {
                "$email_address": "Fay@Example.com",
                "$email_marketing": "subscribed",
                "$sms_marketing": "unsubscribed",
                "$phone_number": "+33612345678",
                "$language": "fr",
                "$region": "FR",
                "$timezone": "Europe/Paris",
                "interests": {"$add": ["jazz"], "$remove": ["ski"]},
                "plan": None,
                "date(birthday)": "1990-02-03T00:00:00Z",
                "url(site)": "https://fay.example.com",
            },
            "events": [{"name": "signed_up", "time": "2026-01-01T10:00:00Z", "attributes": {"via": "web"}}],
        }
    ]
    with applied:
        response = api.project_call("/profiles/update", body)
    assert response.status_code == 202
    assert response.json() == {"code": "SUCCESS"}
    fay = Profile.objects.get(custom_id="fay")
    assert (fay.email, fay.email_marketing, fay.phone_number) == ("fay@example.com", "subscribed", "+33612345678")
    assert (fay.language, fay.region, fay.timezone) == ("fr", "FR", "Europe/Paris")
    assert fay.attributes == {
        "interests": ["jazz"],
        "birthday": "1990-02-03T00:00:00Z",
        "site": "https://fay.example.com",
        "$sms_marketing": "unsubscribed",
    }
    assert ProfileEvent.objects.get(profile=fay).name == "signed_up"


def test_profile_update_applies_what_is_valid_and_reports_the_rest(api, applied):
    body = [
        {"identifiers": {"custom_id": "gus"}, "attributes": {"plan": "gold", "$email_address": "not-an-email",
                                                             "$timezone": "Mars/Olympus"}},
        {"identifiers": {}},
        {"identifiers": {"custom_id": "hal"}, "events": [{"name": "Bad Name"}]},
    ]  # fmt: skip
    with applied:
        response = api.project_call("/profiles/update", body)
    assert response.status_code == 202
    answer = response.json()
    assert answer["code"] == "SUCCESS_WITH_PARTIAL_ERRORS"
    found = {(e["bulk_index"], e["attribute"], e["category"]) for e in answer["errors"]}
    assert found == {
        (0, "$email_address", "attribute"),
        (0, "$timezone", "attribute"),
        (1, "identifiers", "identifiers"),
        (2, "events[0]", "events"),
    }
    assert Profile.objects.get(custom_id="gus").attributes == {"plan": "gold"}
    assert Profile.objects.get(custom_id="gus").email is None
    assert Profile.objects.filter(custom_id="hal").exists()
    assert not ProfileEvent.objects.exists()


def test_profile_update_limits(api):
    one = {"identifiers": {"custom_id": "x"}}
    assert api.project_call("/profiles/update", [one] * 200).status_code == 202
    response = api.project_call("/profiles/update", [one] * 201)
    assert response.status_code == 400  # Batch's 2.x documents only 400, 401, 429, 500 and 503
    assert response.json()["error_code"] == "API_MISUSE"
    assert api.project_call("/profiles/mass-update", [one] * 10_000).status_code == 202
    assert api.project_call("/profiles/mass-update", [one] * 10_001).status_code == 400


# ---- every route -----------------------------------------------------------------------------------------


def test_calls_update_last_activity(api, applied):
    old = timezone.now() - dt.timedelta(days=300)
    ProfileFactory(project=api.app.project, custom_id="alice", last_activity_at=old)
    with applied:
        api.app_call("POST", "/data/users/alice", {"values": {"u.plan": "gold"}})
    assert Profile.objects.get(custom_id="alice").last_activity_at > old + dt.timedelta(days=299)
