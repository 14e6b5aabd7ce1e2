"""What real Batch clients send to the profile routes, with only the base URL changed: each case broke once and
must keep working. (What they need of the framework, keys and paths, is in tests/api/test_real_clients.py.)

Bodies are the clients' or Batch's documentation's own (see ../shared/batch-api-digest.md).
"""

from __future__ import annotations

import pytest
from django.core.cache import cache

from batchhub.api.models import ApiCall
from batchhub.profiles.models import AppCustomData, Profile, ProfileEvent
from tests.factories import InstallationFactory, ProfileFactory

pytestmark = pytest.mark.portable


# ---- Custom Data 1.0 ------------------------------------------------------------------------------------


def test_a_tag_collection_takes_add_and_remove_set_wise_as_the_node_client_sends(api, applied):
    ProfileFactory(project=api.app.project, custom_id="nina", tags={"interests": ["movies", "ski"]})
    with applied:
        api.app_call("POST", "/data/users/nina", {"values": {"ut.interests": ["movies", "ski"]}})
        body = {"overwrite": False, "values": {"ut.interests": {"$add": ["sports", "ski"], "$remove": ["movies"]}}}
        response = api.app_call("POST", "/data/users/nina", body)
        only_add = api.app_call("POST", "/data/users/nina", {"values": {"ut.interests": {"$add": ["jazz"]}}})
        only_remove = api.app_call("POST", "/data/users/nina", {"values": {"ut.other": {"$remove": ["x"]}}})
    assert response.status_code == only_add.status_code == only_remove.status_code == 202
    assert Profile.objects.get(custom_id="nina").tags == {"interests": ["ski", "sports", "jazz"]}
    assert AppCustomData.objects.get(custom_id="nina").tags == {"interests": ["ski", "sports", "jazz"]}
    assert set(ApiCall.objects.values_list("apply_status", flat=True)) == {"applied"}


@pytest.mark.parametrize(
    ("value", "field"),
    [
        ({"$add": "sports"}, "$add"),
        ({"$add": [""]}, "$add"),
        ({"$put": ["x"]}, "'$add' and/or '$remove'"),
        ({}, "'$add' and/or '$remove'"),
        ({"$remove": ["t" * 65]}, "$remove"),
    ],
)
def test_a_bad_partial_tag_update_is_400_naming_it(api, value, field):
    response = api.app_call("POST", "/data/users/nina", {"values": {"ut.interests": value}})
    assert response.status_code == 400
    assert response.json()["code"] == 31
    assert field in response.json()["message"]


def test_delete_answers_200_with_the_token_as_batch_documents(api, applied):
    with applied:
        single = api.app_call("DELETE", "/data/users/carol")
        bulk = api.app_call("DELETE", "/data/users", ["carol", "dave"])
    for response in (single, bulk):
        assert response.status_code == 200
        call = ApiCall.objects.get(token=response.json()["token"])
        assert (call.status_code, call.apply_status) == (200, "applied")


# ---- Trigger Events 1.0 ---------------------------------------------------------------------------------


def test_events_are_accepted_with_or_without_ue_and_stored_under_one_name(api, applied):
    with applied:
        assert api.app_call("POST", "/events/users/olga", {"events": [{"name": "added_to_cart"}]}).status_code == 202
        assert api.app_call("POST", "/events/users/olga", {"events": [{"name": "ue.added_to_cart"}]}).status_code == 202
        bulk = [{"id": "olga", "events": [{"name": "added_to_cart"}, {"name": "ue.added_to_cart"}]}]
        assert api.app_call("POST", "/events/users", bulk).status_code == 202  # the fast path, stored as it came
    names = list(ProfileEvent.objects.filter(profile__custom_id="olga").values_list("name", flat=True))
    assert names == ["added_to_cart"] * 4


# ---- Profile API 2.x: what Batch's own example sends ----------------------------------------------------


BATCH_EXAMPLE = [
    {
        "identifiers": {"custom_id": "1234"},
        "attributes": {
            "$email_address": "john.doe@batch.com",
            "$email_marketing": "subscribed",
            "$phone_number": "+33639981337",
            "$sms_marketing": "subscribed",
            "$language": "en",
            "$region": "FR",
            "$timezone": "Europe/Paris",
            "nickname": "John",
            "date(birthdate)": "1989-07-20T00:00:00Z",
            "hobbies": ["bikes", "cinema"],
            "url(profile_page)": "https://example.com/john",
        },
        "events": [
            {
                "name": "validated_purchase",
                "attributes": {
                    "$label": "summer_sales",
                    "$tags": ["first_purchase", "apple_pay"],
                    "delivery_address": {
                        "number": 43,
                        "street": "Rue Beaubourg",
                        "zip_code": 75003,
                        "city": "Paris",
                        "country": "France",
                    },
                    "items_list": [
                        {
                            "name": "Basic Tee",
                            "size": "M",
                            "price": 23.99,
                            "url(item_url)": "https://batch.com/basic-tee",
                            "url(item_image)": "https://batch.com/basic-tee/image.png",
                            "in_sales": True,
                        },
                        {"name": "Short socks", "size": "M", "price": 10.99, "in_sales": False},
                    ],
                    "metadata": ["first_purchase", "apple_pay"],
                    "coupon": None,
                },
            }
        ],
    }
]


def test_batchs_own_profile_example_applies_whole(api, applied):
    with applied:
        response = api.project_call("/profiles/update", BATCH_EXAMPLE)
    assert response.status_code == 202
    assert response.json() == {"code": "SUCCESS"}
    event = ProfileEvent.objects.get(profile__custom_id="1234")
    assert (event.name, event.label, event.tags) == (
        "validated_purchase",
        "summer_sales",
        ["first_purchase", "apple_pay"],
    )
    assert event.attributes["delivery_address"] == {
        "number": 43,
        "street": "Rue Beaubourg",
        "zip_code": 75003,
        "city": "Paris",
        "country": "France",
    }
    assert event.attributes["items_list"][0]["item_url"] == "https://batch.com/basic-tee"
    assert event.attributes["items_list"][1] == {"name": "Short socks", "size": "M", "price": 10.99, "in_sales": False}
    assert event.attributes["metadata"] == ["first_purchase", "apple_pay"]
    assert "coupon" not in event.attributes  # null: no value
    profile = Profile.objects.get(custom_id="1234")
    assert profile.attributes["hobbies"] == ["bikes", "cinema"]
    assert profile.email == "john.doe@batch.com"


def test_one_bad_event_attribute_is_reported_and_the_rest_of_the_event_kept(api, applied):
    event = {
        "name": "validated_purchase",
        "attributes": {
            "ok": "yes",
            "too_long": "x" * 301,
            "empty": "",
            "$other": 1,
            "deep": {"a": {"b": {"c": {"d": 1}}}},
            "mixed": ["a", {"b": 1}],
            "nested_arrays": [["a"]],
            "many": ["x"] * 26,
            "$label": "l" * 201,
        },
    }
    with applied:
        response = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "kim"}, "events": [event]}])
    assert response.status_code == 202
    answer = response.json()
    assert answer["code"] == "SUCCESS_WITH_PARTIAL_ERRORS"
    reported = {error["attribute"] for error in answer["errors"]}
    assert reported == {
        f"events[0].attributes['{key}']"
        for key in ("too_long", "empty", "$other", "deep", "mixed", "nested_arrays", "many", "$label")
    }
    assert {error["category"] for error in answer["errors"]} == {"events"}
    assert all(error["bulk_index"] == 0 and error["reason"] for error in answer["errors"])
    stored = ProfileEvent.objects.get(profile__custom_id="kim")
    assert (stored.name, stored.attributes, stored.label) == ("validated_purchase", {"ok": "yes"}, "")


def test_the_limits_chosen_for_the_profile_api(api, applied):
    strings = {f"a{n}": "v" * 300 for n in range(50)}
    event_attributes = {f"e{n}": n for n in range(21)}
    body = [
        {
            "identifiers": {"custom_id": "lim"},
            "attributes": {**strings, "one_too_many": 1},
            "events": [{"name": "e", "attributes": event_attributes}],
        },
    ]
    with applied:
        response = api.project_call("/profiles/update", body)
    errors = response.json()["errors"]
    assert [error["attribute"] for error in errors] == ["one_too_many", "events[0].attributes['e20']"]
    assert len(Profile.objects.get(custom_id="lim").attributes) == 50
    assert len(ProfileEvent.objects.get(profile__custom_id="lim").attributes) == 20


@pytest.mark.parametrize(
    ("identifiers", "reason"),
    [
        ({"custom_id": "a", "installation": {"apikey": "K", "installation_id": "i"}}, "exactly one"),
        ({}, "custom_id or installation"),
        ({"installation": {"installation_id": "i"}}, "apikey"),
        ({"installation": "i"}, "identifiers.installation must be"),
        ({"installation": {"apikey": "NOSUCHKEY", "installation_id": "i"}}, "not an API key of an app"),
    ],
)
def test_identifiers_take_exactly_one_known_target(api, identifiers, reason):
    response = api.project_call(
        "/profiles/update", [{"identifiers": identifiers}, {"identifiers": {"custom_id": "ok"}}]
    )
    assert response.status_code == 202
    errors = response.json()["errors"]
    assert [(error["bulk_index"], error["category"]) for error in errors] == [(0, "identifiers")]
    assert reason in errors[0]["reason"]


def test_an_installation_identifier_updates_the_profile_it_feeds(api, api_app, applied):
    linked = ProfileFactory(project=api_app.project, custom_id="lea")
    InstallationFactory(app=api_app, installation_id="inst-linked", profile=linked)
    anonymous = InstallationFactory(app=api_app, installation_id="inst-anon", custom_id=None, profile=None)
    body = [
        {
            "identifiers": {"installation": {"apikey": api_app.live_api_key, "installation_id": "inst-linked"}},
            "attributes": {"plan": "gold"},
        },
        {
            "identifiers": {"installation": {"apikey": api_app.sdk_api_key, "installation_id": "inst-anon"}},
            "attributes": {"plan": "free"},
            "events": [{"name": "opened"}],
        },
        {"identifiers": {"installation": {"apikey": api_app.live_api_key, "installation_id": "nope"}}},
    ]
    with applied:
        response = api.project_call("/profiles/update", body)
    assert response.json()["errors"][0]["bulk_index"] == 2
    linked.refresh_from_db()
    anonymous.refresh_from_db()
    assert linked.attributes == {"plan": "gold"}
    assert anonymous.profile is not None and anonymous.profile.custom_id is None
    assert anonymous.profile.attributes == {"plan": "free"}
    assert ProfileEvent.objects.get(profile=anonymous.profile).name == "opened"
    assert ApiCall.objects.get().apply_status == "applied"


# ---- Profile API 2.x: limits and rates ----------------------------------------------------------------------


@pytest.mark.parametrize(("path", "limit"), [("/profiles/update", 200), ("/profiles/mass-update", 10_000)])
def test_over_limit_calls_answer_400_on_2x(api, path, limit):
    response = api.project_call(path, [{"identifiers": {"custom_id": "x"}}] * (limit + 1))
    assert response.status_code == 400
    assert set(response.json()) == {"error_code", "error_message"}


def test_rate_limits_count_profiles_per_second_as_batch_does(api, settings):
    from django.conf import settings as django_settings

    if not django_settings.REDIS_URL:
        pytest.skip("the profiles-per-second bucket lives in Redis (the embedded run has none)")
    settings.API_PROFILE_RATES = {"profiles.update": (10, 30), "profiles.mass_update": (100, 100)}
    cache.clear()
    twenty = [{"identifiers": {"custom_id": f"u{n}"}} for n in range(20)]
    assert api.project_call("/profiles/update", twenty).status_code == 202
    refused = api.project_call("/profiles/update", twenty)  # 10 left in the bucket, 20 asked
    assert refused.status_code == 429
    assert refused.json()["error_code"] == "TOO_MANY_REQUESTS"
    assert 1 <= int(refused["Retry-After"]) <= 2
    assert api.project_call("/profiles/update", twenty[:10]).status_code == 202
    mass = [{"identifiers": {"custom_id": f"u{n}"}} for n in range(100)]
    assert api.project_call("/profiles/mass-update", mass).status_code == 202  # no burst: one full second
    assert api.project_call("/profiles/mass-update", mass[:5]).status_code == 429
    assert not ApiCall.objects.filter(status_code=429, apply_status="pending").exists()


def test_one_call_naming_a_profile_by_custom_id_and_by_installation_keeps_both_updates(api, api_app, applied):
    alice = ProfileFactory(project=api_app.project, custom_id="alice")
    InstallationFactory(app=api_app, installation_id="inst-alice", profile=alice)
    body = [
        {"identifiers": {"custom_id": "alice"}, "attributes": {"plan": "gold"}},
        {"identifiers": {"installation": {"apikey": api_app.live_api_key, "installation_id": "inst-alice"}},
         "attributes": {"$language": "fr", "points": 3}},
    ]  # fmt: skip
    with applied:
        assert api.project_call("/profiles/update", body).json() == {"code": "SUCCESS"}
    alice.refresh_from_db()
    assert alice.attributes == {"plan": "gold", "points": 3}
    assert alice.language == "fr"
