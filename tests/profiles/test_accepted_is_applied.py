"""Whatever the API accepts, the worker applies: no call answered 2xx may fail later (a silent loss).

Hypothesis builds bodies near the rules' edges (odd keys, NUL and surrogates, deep values, huge numbers,
dates, empty strings, nulls) for every write route; each accepted call is applied by the worker's own code
on the real database, and must end applied.
"""

from __future__ import annotations

import json

import pytest
from django.test import TestCase
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchhub.api.models import ApiCall

pytestmark = pytest.mark.portable

ODD = ["\x00", "\ud800", "\udfff", "\n", "<", "'", "é", " ", "$", "(", ")", "."]
text = st.text(alphabet=st.one_of(st.characters(codec="utf-8"), st.sampled_from(ODD)), max_size=12)
names = st.one_of(
    st.sampled_from(["plan", "points", "ok", "a_b", "x" * 30, "x" * 31, "Plan", "bad-name", ""]),
    text,
)
keys = st.one_of(
    names,
    names.map(lambda n: f"date({n})"),
    names.map(lambda n: f"url({n})"),
    st.sampled_from(
        [
            "$label",
            "$tags",
            "$email_address",
            "$timezone",
            "$language",
            "$region",
            "$phone_number",
            "$email_marketing",
            "$sms_marketing",
            "$other",
        ]
    ),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
    st.sampled_from(
        [
            "2026-11-30T10:00:00Z",
            "https://example.com/a",
            "Europe/Paris",
            "America",
            "a@b.co",
            "+33612345678",
            "subscribed",
            "x" * 300,
            "x" * 301,
            "",
            "1989-07-20",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4)),
    max_leaves=12,
)
custom_ids = st.one_of(st.sampled_from(["alice", "bob", "x" * 512, "x" * 513, " "]), text)
event_names = st.one_of(st.sampled_from(["opened", "ue.opened", "UE.Added_To_Cart", "ue.", "a.b", "x" * 31]), text)
events = st.fixed_dictionaries(
    {"name": event_names},
    optional={
        "attributes": st.one_of(st.dictionaries(keys, values, max_size=5), values),
        "label": st.one_of(st.none(), text),
        "tags": st.one_of(st.lists(text, max_size=3), values),
        "time": st.one_of(st.none(), st.sampled_from(["2026-01-01T00:00:00", "2026-12-01T00:00:00Z", "soon"])),
    },
)
# Trigger Events refuse a whole call for one bad event: mostly plausible events, with hostile ones mixed in.
good_events = st.fixed_dictionaries(
    {"name": st.sampled_from(["opened", "ue.opened", "UE.Added_To_Cart", "a.b", "ue.x_1"])},
    optional={
        "attributes": st.dictionaries(
            st.one_of(st.sampled_from(["sku", "price", "ok", "Name"]), st.sampled_from(["date(at)", "DATE(at)"])),
            st.one_of(scalars, st.sampled_from(["2026-11-30T10:00:00", 1_700_000_000])),
            max_size=3,
        ),
        "label": st.one_of(st.none(), text),
        "tags": st.lists(text, max_size=3),
    },
)
trigger_events = st.one_of(good_events, good_events, good_events, good_events, events)
profile_updates = st.lists(
    st.fixed_dictionaries(
        {"identifiers": st.one_of(st.fixed_dictionaries({"custom_id": custom_ids}), st.dictionaries(text, values))},
        optional={
            "attributes": st.one_of(st.dictionaries(keys, values, max_size=6), values),
            "events": st.one_of(st.lists(events, max_size=2), values),
        },
    ),
    min_size=1,
    max_size=3,
)
custom_data = st.fixed_dictionaries(
    {
        "values": st.dictionaries(
            st.one_of(keys.map(lambda k: f"u.{k}"), names.map(lambda n: f"ut.{n}"), keys), values, max_size=5
        )
    },
    optional={"overwrite": st.one_of(st.booleans(), scalars)},
)

# Custom Data refuses a whole call for one bad user: mostly plausible updates, with hostile ones mixed in.
good_custom_data = st.fixed_dictionaries(
    {
        "values": st.dictionaries(
            st.sampled_from(["u.plan", "u.points", "date(u.seen)", "ut.interests", "u.ok"]),
            st.one_of(
                st.sampled_from(["gold", 3, True, "2026-11-30T10:00:00Z"]),
                st.none(),
                st.lists(st.sampled_from(["ski", "jazz"]), max_size=2),
            ),
            max_size=3,
        )
    },
    optional={"overwrite": st.booleans()},
)
any_custom_data = st.one_of(good_custom_data, good_custom_data, custom_data)

ROUTES = {
    "profiles.update": profile_updates.map(lambda body: ("project", "POST", "/profiles/update", body)),
    "custom_data.user": st.tuples(custom_ids, custom_data).map(
        lambda pair: ("app", "POST", "/data/users/u" + str(abs(hash(pair[0])) % 1000), pair[1])
    ),
    "custom_data.bulk": st.lists(st.fixed_dictionaries({"id": custom_ids, "update": any_custom_data}), max_size=3).map(
        lambda body: ("app", "POST", "/data/users", body)
    ),
    "custom_data.bulk_delete": st.lists(custom_ids, max_size=3).map(
        lambda body: ("app", "DELETE", "/data/users", body)
    ),
    "events.user": st.lists(trigger_events, min_size=1, max_size=3).map(
        lambda e: ("app", "POST", "/events/users/erin", {"events": e})
    ),
    "events.bulk": st.lists(
        st.fixed_dictionaries({"id": custom_ids, "events": st.lists(trigger_events, min_size=1, max_size=3)}),
        max_size=3,
    ).map(lambda body: ("app", "POST", "/events/users", body)),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_whatever_the_api_accepts_the_worker_applies(api, route, settings_override):
    answers: list[int] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(call=ROUTES[route])
    def check(call):
        family, method, path, body = call
        raw = json.dumps(body).encode()  # lone surrogates travel as escapes, as a client's JSON encoder sends them
        with TestCase.captureOnCommitCallbacks(execute=True):
            if family == "project":
                response = api.client.post(
                    f"/2.1{path}",
                    raw,
                    content_type="application/json",
                    headers={"Authorization": f"Bearer {api.rest_key}", "X-Batch-Project": api.app.project.key},
                )
            else:
                response = api.app_call(method, path, raw=raw)
        assert response.status_code < 500, response.content
        answers.append(response.status_code)
        if response.status_code in (200, 202):
            call_row = ApiCall.objects.order_by("-id").first()
            assert call_row.apply_status == ApiCall.ApplyStatus.APPLIED, (body, call_row.apply_error)

    check()
    accepted = sum(status in (200, 202) for status in answers)
    print(f"{route}: {accepted} of {len(answers)} bodies accepted, all applied")
    assert accepted >= 10  # the strategies reach the accepting side, not only refusals (about 20% at the least)


@pytest.fixture
def settings_override(settings):
    # Many calls in a few seconds: the per-minute and per-second limits are not what is tested here.
    settings.API_PROFILE_RATES = {"profiles.update": (10**6, 10**6), "profiles.mass_update": (10**6, 10**6)}
    from batchhub.projects.models import Project

    Project.objects.update(api_rate_limit_per_minute=10**6)
