"""The fast path of bulk events agrees with the reference rules on every input it accepts."""

from __future__ import annotations

import json

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from batchhub.core.apikit import ApiError
from batchhub.profiles import ingest
from batchhub.profiles.ingest_fast import events_bulk_fast

NOW = timezone.now().replace(microsecond=0)
RECENT = (NOW - timezone.timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S")

text = st.text(max_size=70)
names = st.sampled_from(["ue.opened", "UE.Opened", "ue.a.b_c", "opened", "ue.", "ue." + "x" * 31, "ue.bad-name"])
keys = st.sampled_from(["sku", "SKU", "price", "date(when)", "bad-key", "x" * 31, "in_stock"])
values = st.one_of(st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False), text, st.none())
events = st.fixed_dictionaries(
    {"name": names},
    optional={
        "label": st.one_of(st.none(), st.text(max_size=210)),
        "time": st.sampled_from([RECENT, "2020-01-01T00:00:00", "2999-01-01T00:00:00", "bad"]),
        "attributes": st.dictionaries(keys, values, max_size=17),
        "tags": st.lists(st.sampled_from(["a", "b", "", "t" * 65]), max_size=12),
    },
)
bodies = st.lists(
    st.fixed_dictionaries({"id": st.one_of(st.just("alice"), text), "events": st.lists(events, max_size=3)}),
    max_size=3,
)


def _reference(body):
    try:
        return ingest.events_bulk_check(json.loads(json.dumps(body)), NOW)
    except ApiError:
        return None


@settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies)
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
