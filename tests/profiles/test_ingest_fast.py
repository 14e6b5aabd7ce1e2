"""The fast path of bulk events agrees with the reference rules on every input it accepts."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchhub.api.errors import ApiError
from batchhub.profiles.ingest import rules
from batchhub.profiles.ingest.fast import events_bulk_accepts, events_bulk_fast

NOW = timezone.now().replace(microsecond=0)
RECENT = (NOW - timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")

text = st.text(max_size=70)
names = st.sampled_from(
    ["ue.opened", "UE.Opened", "ue.a.b_c", "opened", "ue.", "ue." + "x" * 31, "ue.bad-name", "ue.opened\n"]
)
keys = st.sampled_from(["sku", "SKU", "price", "date(when)", "bad-key", "x" * 31, "in_stock", "sku\n"])
values = st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text, st.none())
events = st.fixed_dictionaries(
    {"name": names},
    optional={
        "label": st.one_of(st.none(), st.text(max_size=210)),
        "time": st.sampled_from([RECENT, "2020-01-01T00:00:00", "2999-01-01T00:00:00", "bad"]),
        "attributes": st.dictionaries(keys, values, max_size=17),
        "tags": st.lists(st.sampled_from(["a", "b", "", " ", "\x1c", "t" * 65]), max_size=12),
    },
)
bodies = st.lists(
    st.fixed_dictionaries({"id": st.one_of(st.just("alice"), text), "events": st.lists(events, max_size=3)}),
    max_size=3,
)

# Bodies the fast path should mostly take: the rules' own alphabet, any text and number
valid_events = st.fixed_dictionaries(
    {"name": st.from_regex(r"ue\.[a-z0-9_.]{1,30}", fullmatch=True)},
    optional={
        "label": st.one_of(st.none(), st.text(max_size=200)),
        "time": st.one_of(st.none(), st.just(RECENT)),
        "attributes": st.dictionaries(
            st.from_regex(r"[a-z0-9_]{1,30}", fullmatch=True),
            st.one_of(
                st.booleans(),
                st.integers(-(2**70), 2**70),
                st.floats(allow_nan=False, allow_infinity=False),
                st.text(max_size=64),
            ),
            max_size=15,
        ),
        "tags": st.lists(st.text(min_size=1, max_size=64), unique=True, max_size=10),
    },
)
valid_bodies = st.lists(
    st.fixed_dictionaries({"id": st.text(min_size=1, max_size=40), "events": st.lists(valid_events, max_size=4)}),
    min_size=1,
    max_size=4,
)


def _reference(body):
    try:
        return rules.events_bulk_check(json.loads(json.dumps(body)), NOW)
    except ApiError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(bodies, valid_bodies))
def test_fast_path_accepts_only_what_the_rules_accept_with_the_same_result(body):
    fast = events_bulk_fast(json.dumps(body).encode(), NOW)
    if fast is not None:
        assert fast == _reference(body)


@pytest.mark.parametrize(
    "body",
    [
        [{"id": "alice", "events": [{"name": "ue.opened", "attributes": {"sku": "A", "n": 1, "ok": True}}]}],
        [{"id": "bob", "events": [{"name": "ue.cart", "time": RECENT, "tags": ["a", "b"], "label": "x"}]}],
    ],
)
def test_typical_bodies_take_the_fast_path(body):
    fast = events_bulk_fast(json.dumps(body).encode(), NOW)
    assert fast is not None
    assert fast == _reference(body)


def test_nul_characters_are_left_to_the_rules():
    body = json.dumps([{"id": "a\u0000", "events": [{"name": "ue.x"}]}]).encode()
    assert events_bulk_fast(body, NOW) is None


@pytest.mark.parametrize(
    ("raw", "where"),
    [
        (b'[{"id": "a", "events": [{"name": "ue.x", "attributes": {"price": 1e400}}]}]', "['price']"),
        (b'[{"id": "a", "events": [{"name": "ue.x", "tags": [" "]}]}]', "tags"),
        (b'[{"id": "a", "events": [{"name": "ue.x", "attributes": {"sku\\n": 1}}]}]', "sku"),
    ],
    ids=["beyond-float", "blank-tag", "newline-in-key"],
)
def test_what_the_rules_refuse_is_left_to_them(raw, where):
    assert events_bulk_accepts(raw, NOW) is None
    with pytest.raises(ApiError) as refused:
        rules.events_bulk_check(json.loads(raw), NOW)
    assert where in refused.value.message


@settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.one_of(bodies, valid_bodies))
def test_stored_as_it_came_only_when_the_fast_path_agrees(body):
    raw = json.dumps(body).encode()
    count = events_bulk_accepts(raw, NOW)
    fast = events_bulk_fast(raw, NOW)
    assert (count is None) == (fast is None)
    if fast is not None:
        assert count == len(fast)


@pytest.mark.django_db
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(valid_bodies)
def test_a_body_stored_as_it_came_writes_the_rows_its_normal_form_writes(body):
    """PostgreSQL reads a stored body straight (profiles.events_raw); the result must be the normalised one's."""
    from django.db import connection

    from batchhub.api.models import ApiCall
    from batchhub.profiles import services
    from batchhub.profiles.models import ProfileEvent
    from tests.factories import ProjectFactory

    if connection.vendor != "postgresql":
        pytest.skip("the statement that reads a stored body is PostgreSQL's")
    raw = json.dumps(body).encode()
    normalised = events_bulk_fast(raw, NOW)
    if normalised is None:
        return
    as_it_came, as_normalised = ProjectFactory(), ProjectFactory()
    services.events_raw_apply(ApiCall(project_id=as_it_came.pk, operations=raw.decode(), created_at=NOW))
    services.events_apply(ApiCall(project_id=as_normalised.pk, operations=json.dumps(normalised), created_at=NOW))

    def rows(project):
        return sorted(
            ProfileEvent.objects.filter(profile__project=project).values_list(
                "profile__custom_id", "name", "label", "attributes", "tags", "occurred_at"
            ),
            key=repr,
        )

    assert rows(as_it_came) == rows(as_normalised)
    assert len(rows(as_it_came)) == len(normalised)


def test_the_gc_pause_of_parallel_threads_never_leaves_the_collector_off():
    """Threaded web workers validate bodies in parallel: the last thread out turns the collector back on."""
    import gc
    import sys
    import threading

    from batchhub.profiles.ingest.fast import gc_paused

    def churn():
        for _ in range(5_000):
            with gc_paused():
                sum(range(20))

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # interleave as much as possible
    try:
        for _ in range(3):
            threads = [threading.Thread(target=churn) for _ in range(8)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert gc.isenabled()
    finally:
        sys.setswitchinterval(interval)
