"""The OpenAPI document shows the constraints the rules enforce, taken from the rules' own constants, and its
patterns accept what the rules accept."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from batchhub.api.errors import ApiError
from batchhub.profiles.identifiers import MAX_CUSTOM_ID, MAX_INSTALLATION_ID
from batchhub.profiles.ingest import rules

pytestmark = pytest.mark.portable

APP = "/{version}/{api_key}"


@pytest.fixture(scope="module")
def spec():
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()


def body(spec, method: str, path: str) -> dict:
    return spec["paths"][path][method]["requestBody"]["content"]["application/json"]["schema"]


def branch(schema: dict, kind: str) -> dict:
    """The option of a nullable or union schema whose type is `kind`."""
    options = schema.get("anyOf", [schema])
    [option] = [option for option in options if option.get("type") == kind]
    return option


def test_custom_data_bodies_carry_the_rules_limits(spec):
    bulk = body(spec, "post", f"{APP}/data/users")
    assert (bulk["minItems"], bulk["maxItems"]) == (1, rules.MAX_CUSTOM_DATA_USERS)
    assert bulk["items"]["properties"]["id"]["maxLength"] == MAX_CUSTOM_ID
    ids = body(spec, "delete", f"{APP}/data/users")
    assert (ids["maxItems"], ids["items"]["maxLength"]) == (rules.MAX_CUSTOM_DATA_USERS, MAX_CUSTOM_ID)

    values = body(spec, "post", f"{APP}/data/users/{{custom_id}}")["properties"]["values"]
    assert values["additionalProperties"] is False
    keys = values["patternProperties"]
    assert set(keys) == {
        rules.CUSTOM_DATA_KEY_PATTERN,
        rules.CUSTOM_DATA_DATE_KEY_PATTERN,
        rules.CUSTOM_DATA_URL_KEY_PATTERN,
        rules.TAG_COLLECTION_KEY_PATTERN,
    }
    assert branch(keys[rules.CUSTOM_DATA_KEY_PATTERN], "string")["maxLength"] == rules.MAX_STRING
    url = branch(keys[rules.CUSTOM_DATA_URL_KEY_PATTERN], "string")
    assert (url["maxLength"], url["pattern"]) == (rules.MAX_URL, rules.URL_PATTERN)
    tags = branch(keys[rules.TAG_COLLECTION_KEY_PATTERN], "array")
    assert (tags["maxItems"], tags["items"]["maxLength"]) == (rules.MAX_TAGS, rules.MAX_STRING)
    change = branch(keys[rules.TAG_COLLECTION_KEY_PATTERN], "object")
    assert change["properties"]["$add"]["maxItems"] == rules.MAX_TAGS


def test_trigger_events_bodies_carry_the_rules_limits_and_formats(spec):
    single = body(spec, "post", f"{APP}/events/users/{{custom_id}}")["properties"]["events"]
    assert (single["minItems"], single["maxItems"]) == (1, rules.MAX_EVENTS_PER_CALL)
    bulk = body(spec, "post", f"{APP}/events/users")
    user = bulk["items"]["properties"]
    assert user["id"]["maxLength"] == MAX_CUSTOM_ID
    assert user["events"]["maxItems"] == rules.MAX_EVENTS_PER_CALL

    event = single["items"]["properties"]
    assert event["name"]["pattern"] == rules.TRIGGER_EVENT_NAME_PATTERN
    assert branch(event["time"], "string")["pattern"] == rules.EVENT_TIME_PATTERN
    assert branch(event["label"], "string")["maxLength"] == rules.MAX_LABEL
    assert (event["tags"]["maxItems"], event["tags"]["items"]["maxLength"]) == (rules.MAX_EVENT_TAGS, rules.MAX_TAG)
    attributes = event["attributes"]
    assert attributes["maxProperties"] == rules.MAX_EVENT_ATTRIBUTES
    assert set(attributes["patternProperties"]) == {rules.ATTRIBUTE_KEY_PATTERN, rules.DATE_ATTRIBUTE_KEY_PATTERN}
    plain = attributes["patternProperties"][rules.ATTRIBUTE_KEY_PATTERN]
    assert branch(plain, "string")["maxLength"] == rules.MAX_STRING


def test_profile_api_bodies_carry_the_rules_limits_and_formats(spec):
    update = body(spec, "post", "/{version}/profiles/update")
    mass = body(spec, "post", "/{version}/profiles/mass-update")
    assert (update["minItems"], update["maxItems"]) == (1, rules.MAX_PROFILE_UPDATES)
    assert (mass["minItems"], mass["maxItems"]) == (1, rules.MAX_PROFILE_MASS_UPDATES)

    profile = update["items"]["properties"]
    identifiers = profile["identifiers"]
    assert len(identifiers["oneOf"]) == 2  # exactly one of custom_id or installation
    assert branch(identifiers["properties"]["custom_id"], "string")["maxLength"] == MAX_CUSTOM_ID
    installation = branch(identifiers["properties"]["installation"], "object")["properties"]
    assert installation["installation_id"]["maxLength"] == MAX_INSTALLATION_ID
    assert installation["apikey"]["maxLength"] == rules.MAX_APP_API_KEY

    attributes = branch(profile["attributes"], "object")
    assert attributes["maxProperties"] == rules.MAX_PROFILE_ATTRIBUTES
    natives = attributes["properties"]
    assert set(natives) == set(rules.NATIVE_ATTRIBUTES)
    assert branch(natives["$phone_number"], "string")["pattern"] == rules.PHONE_PATTERN
    assert branch(natives["$language"], "string")["pattern"] == rules.LANGUAGE_PATTERN
    assert branch(natives["$region"], "string")["pattern"] == rules.REGION_PATTERN
    email = branch(natives["$email_address"], "string")
    assert (email["maxLength"], email["pattern"]) == (rules.MAX_EMAIL, rules.EMAIL_PATTERN)
    assert natives["$email_marketing"]["anyOf"][0]["enum"] == list(rules.SUBSCRIPTION_STATES)
    custom = attributes["patternProperties"][rules.ATTRIBUTE_KEY_PATTERN]
    assert branch(custom, "string")["maxLength"] == rules.MAX_CEP_STRING
    assert branch(custom, "array")["maxItems"] == rules.MAX_CEP_ARRAY_ITEMS

    event = branch(profile["events"], "array")["items"]["properties"]
    assert event["name"]["pattern"] == rules.PROFILE_EVENT_NAME_PATTERN
    event_attributes = branch(event["attributes"], "object")
    reserved = event_attributes["properties"]
    assert set(reserved) == {rules.LABEL_KEY, rules.TAGS_KEY}
    assert branch(reserved[rules.LABEL_KEY], "string")["maxLength"] == rules.MAX_LABEL
    assert branch(reserved[rules.TAGS_KEY], "array")["maxItems"] == rules.MAX_EVENT_TAGS


def test_event_objects_nest_as_deep_as_the_rules_allow_with_their_key_limit(spec):
    event = body(spec, "post", "/{version}/profiles/update")["items"]["properties"]["events"]
    value = branch(branch(event, "array")["items"]["properties"]["attributes"], "object")
    depth = 0
    while True:
        value = value["patternProperties"][rules.ATTRIBUTE_KEY_PATTERN]
        objects = [option for option in value["anyOf"] if option.get("type") == "object"]
        if not objects:
            break
        [value] = objects
        depth += 1
        assert value["maxProperties"] == rules.MAX_PROFILE_EVENT_ATTRIBUTES
    assert depth == rules.MAX_EVENT_OBJECT_DEPTH


# ---- the documented patterns accept what the rules accept -------------------------------------------------
# The alphabet leaves out the few letters whose case folding is ASCII (sharp s, long s, the Kelvin sign, ligatures): the
# rules take them (they check names lower-cased), the document does not mention them.

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
ALPHABET = "abzAZ09_.-é É()$ \n"
prefixes = st.sampled_from(["", "u.", "U.", "ut.", "uT.", "date(", "DATE(u.", "url(u.", "Url(", "ue.", "UE.", "$"])
keys = st.builds(
    lambda prefix, name, suffix: prefix + name + suffix,
    prefixes,
    st.one_of(st.from_regex(r"[a-zA-Z0-9_]{1,31}", fullmatch=True), st.text(alphabet=ALPHABET, max_size=33)),
    st.sampled_from(["", ")"]),
)


def ecma_match(pattern: str, value: str) -> bool:
    """What a JSON Schema validator decides: ECMA-262 search, where `$` is the very end (Python's `$` also takes
    the place before a final newline, its `\\Z` does not)."""
    assert pattern.endswith("$")
    return re.search(pattern.removesuffix("$") + r"\Z", value) is not None


def _documented(patterns, key: str) -> bool:
    return any(ecma_match(pattern, key) for pattern in patterns)


def _accepted(check) -> bool:
    try:
        check()
    except ApiError:
        return False
    return True


@given(keys)
def test_custom_data_keys_as_documented_are_the_ones_accepted(key):
    documented = (
        rules.CUSTOM_DATA_KEY_PATTERN,
        rules.CUSTOM_DATA_DATE_KEY_PATTERN,
        rules.CUSTOM_DATA_URL_KEY_PATTERN,
        rules.TAG_COLLECTION_KEY_PATTERN,
    )
    accepted = _accepted(lambda: rules.custom_data_check("alice", {"values": {key: None}}))
    assert _documented(documented, key) == accepted


@given(keys)
def test_trigger_event_attribute_keys_as_documented_are_the_ones_accepted(key):
    event = {"name": "opened", "attributes": {key: 1}}
    accepted = _accepted(lambda: rules.event_check(event, "events[0]", NOW))
    assert _documented((rules.ATTRIBUTE_KEY_PATTERN, rules.DATE_ATTRIBUTE_KEY_PATTERN), key) == accepted


@given(keys.filter(lambda key: not key.startswith("$")))
def test_profile_attribute_keys_as_documented_are_the_ones_accepted(key):
    update = {"identifiers": {"custom_id": "alice"}, "attributes": {key: None}}
    _, problems = rules.profile_updates_check([update], limit=1)
    documented = (rules.ATTRIBUTE_KEY_PATTERN, rules.DATE_ATTRIBUTE_KEY_PATTERN, rules.URL_ATTRIBUTE_KEY_PATTERN)
    assert _documented(documented, key) == (not problems.errors)


@given(keys)
def test_event_names_as_documented_are_the_ones_accepted(name):
    trigger = _accepted(lambda: rules.event_name(name, "name"))
    expected = _documented([rules.TRIGGER_EVENT_NAME_PATTERN], name) and name.casefold() != rules.EVENT_PREFIX
    assert trigger == expected  # `ue.` alone: the one name the pattern admits that the rules refuse
    update = {"identifiers": {"custom_id": "alice"}, "events": [{"name": name}]}
    _, problems = rules.profile_updates_check([update], limit=1)
    assert _documented([rules.PROFILE_EVENT_NAME_PATTERN], name) == (not problems.errors)


def _native_accepted(name: str, value: str) -> bool:
    update = {"identifiers": {"custom_id": "alice"}, "attributes": {name: value}}
    return not rules.profile_updates_check([update], limit=1)[1].errors


FORMATS = {
    rules.EVENT_TIME_PATTERN: lambda value: _accepted(lambda: rules.event_time_check(value, "time", NOW)),
    rules.PHONE_PATTERN: lambda value: _native_accepted("$phone_number", value),
    rules.LANGUAGE_PATTERN: lambda value: _native_accepted("$language", value),
    rules.REGION_PATTERN: lambda value: _native_accepted("$region", value),
    rules.EMAIL_PATTERN: lambda value: _native_accepted("$email_address", value),
    rules.URL_PATTERN: lambda value: _accepted(lambda: rules.custom_data_check("a", {"values": {"url(u.a)": value}})),
}


@pytest.mark.parametrize(
    ("pattern", "accepted", "refused"),
    [
        (rules.EVENT_TIME_PATTERN, ["2026-05-31T10:00:00"], ["2026-05-31 10:00:00", "2026-05-31T10:00:00\n"]),
        (rules.PHONE_PATTERN, ["+33612345678"], ["0612345678", "+0612345678", "+33612345678\n"]),
        (rules.LANGUAGE_PATTERN, ["fr"], ["FR", "fra", "fr\n"]),
        (rules.REGION_PATTERN, ["FR"], ["fr", "FRA", "FR\n"]),
        (rules.EMAIL_PATTERN, ["a@b.co", "A@B.CO"], ["a@b", "a b@c.d", "a@b.co\n"]),
        (rules.URL_PATTERN, ["https://example.com/a", "HTTPS://x"], ["example.com", "https://", "1a://x"]),
    ],
)
def test_a_format_reads_the_same_to_the_rules_and_to_a_client(pattern, accepted, refused):
    for value in accepted + refused:
        assert ecma_match(pattern, value) == FORMATS[pattern](value) == (value in accepted), value
