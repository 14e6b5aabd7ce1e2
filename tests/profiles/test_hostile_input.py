"""Hostile input to the profile routes, found by a test against a production-like deployment: each answer is a
4xx naming the field, or a partial error, never a 500, and nothing answered 2xx is lost later in the worker.
(What the edge refuses before any rule, for every route, is in tests/api/test_hostile_input.py.)"""

from __future__ import annotations

import pytest

from batchhub.api.models import ApiCall
from batchhub.profiles.models import Profile, ProfileEvent

pytestmark = pytest.mark.portable


@pytest.mark.parametrize("zone", ["America", "x" * 300, "../../etc/passwd", "Europe/", "", 12])
def test_a_bad_time_zone_is_a_partial_error_not_a_500(api, zone):
    response = api.project_call(
        "/profiles/update", [{"identifiers": {"custom_id": "tz"}, "attributes": {"$timezone": zone}}]
    )
    assert response.status_code == 202
    [error] = response.json()["errors"]
    assert (error["attribute"], error["category"]) == ("$timezone", "attribute")


def test_error_messages_escape_what_they_quote(api):
    response = api.app_call("POST", "/data/users/alice", {"values": {"u.bad\nline<script>": 1}})
    assert response.status_code == 400
    message = response.json()["message"]
    assert "\n" not in message and "bad\\nline<script>" in message
    response = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "a"}, "attributes": {"x\ty": 1}}])
    assert "\t" not in response.json()["errors"][0]["reason"]


# ---- found by review ---------------------------------------------------------------------------------------


def test_an_email_that_grows_when_lowered_is_a_partial_error_not_a_failed_call(api, django_capture_on_commit_callbacks):
    email = "İ" * 240 + "@example.com"  # 252 characters; lowered, "İ" is two
    with django_capture_on_commit_callbacks(execute=True):
        response = api.project_call(
            "/profiles/update", [{"identifiers": {"custom_id": "a"}, "attributes": {"$email_address": email}}]
        )
    assert response.json()["errors"][0]["attribute"] == "$email_address"
    assert ApiCall.objects.get().apply_status == "applied"


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", 1e20, -1e20])
def test_a_date_out_of_range_is_a_400_not_a_500(api, value):
    response = api.app_call("POST", "/data/users/alice", {"values": {"date(u.d)": value}})
    assert response.status_code == 400
    assert "date(u.d)" in response.json()["message"]


def test_a_tag_collection_is_bounded(api):
    response = api.app_call("POST", "/data/users/alice", {"values": {"ut.t": {"$add": [f"t{n}" for n in range(1001)]}}})
    assert response.status_code == 400
    assert "at most 1000" in response.json()["message"]
    assert (
        api.app_call("POST", "/data/users/alice", {"values": {"ut.t": [f"t{n}" for n in range(1000)]}}).status_code
        == 202
    )


# ---- found by a hostile run against gunicorn, PostgreSQL and a worker -----------------------------------------


@pytest.mark.parametrize(
    "tiny",
    [
        '{"name": "fast_ev", "attributes": {"a": 1e-20000}}',
        '{"name": "fast_ev", "attributes": {"a": 0.' + "0" * 20000 + "1}}",
        '{"name": "fast_ev", "zz": -1E-20000}',
    ],
    ids=["exponent", "decimals", "ignored-key"],
)
def test_a_number_jsonb_cannot_hold_in_a_fast_path_body_is_still_applied_whole(
    api, tiny, django_capture_on_commit_callbacks
):
    raw = '[{"id": "victim", "events": [{"name": "ok"}]}, {"id": "fp", "events": [' + tiny + "]}]"
    with django_capture_on_commit_callbacks(execute=True):
        response = api.app_call("POST", "/events/users", raw=raw.encode())
    assert response.status_code == 202
    call = ApiCall.objects.get()
    assert (call.kind, call.apply_status) == ("profiles.events_raw", "applied"), call.apply_error
    events = {event.profile.custom_id: event for event in ProfileEvent.objects.select_related("profile")}
    assert set(events) == {"victim", "fp"}
    assert events["fp"].attributes in ({"a": 0.0}, {})


@pytest.mark.parametrize("key", ["$foo", "$", "$EMAIL_ADDRESS"])
def test_an_unknown_native_attribute_set_to_null_is_a_partial_error_not_a_lost_call(
    api, key, django_capture_on_commit_callbacks
):
    body = [
        {"identifiers": {"custom_id": "victim-ok"}, "attributes": {"plan": "gold"}},
        {"identifiers": {"custom_id": "other"}, "attributes": {key: None}},
    ]
    with django_capture_on_commit_callbacks(execute=True):
        response = api.project_call("/profiles/update", body)
    [error] = response.json()["errors"]
    assert (error["bulk_index"], error["attribute"]) == (1, key)
    assert ApiCall.objects.get().apply_status == "applied"
    assert Profile.objects.get(custom_id="victim-ok").attributes == {"plan": "gold"}


def test_an_email_with_a_control_character_is_refused(api):
    body = [{"identifiers": {"custom_id": "a"}, "attributes": {"$email_address": "a\x01@example.com"}}]
    assert api.project_call("/profiles/update", body).json()["errors"][0]["attribute"] == "$email_address"


def test_partial_errors_are_listed_up_to_a_bound(api):
    events = [{"name": "bad name"}] * 1500
    response = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "a"}, "events": events}])
    errors = response.json()["errors"]
    assert len(errors) == 1001
    assert errors[-1]["category"] == "errors" and "500 more errors" in errors[-1]["reason"]
