"""Campaigns API 1.1 through the public API, as a partner's server calls it: create, update, delete, get, list and
stats; read-your-writes without a worker; every validation error names its key; other apps' tokens are 404s."""

# The API fixtures are imported here, not from a conftest (tests/campaigns has none): test arguments shadow them.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batchhub.api.models import ApiCall
from batchhub.campaigns.models import Campaign
from tests.api_client import api, api_app, applier_replaced, fresh_rate_limits, other_app  # noqa: F401 (fixtures)
from tests.factories import AppFactory, CampaignFactory, InstallationFactory, PushEventFactory

MINIMAL = {"name": "Winter sale", "live": False, "push_time": "now", "messages": [{"language": "en", "body": "Hi"}]}
FULL = {
    "name": "Black Friday",
    "live": True,
    "local_push_time": "2030-11-29T09:00:00",
    "messages": [
        {"language": "en", "title": "Deals", "body": "Up to 50% off"},
        {"language": "fr", "title": "Promos", "body": "Jusqu'à 50 %"},
    ],
    "priority": "high",
    "deeplink": "acme://deals",
    "media": {"icon": "https://cdn.example.com/i.png", "picture": "https://cdn.example.com/p.jpg"},
    "custom_payload": '{"sale": "bf"}',
    "targeting": {"custom_audiences": ["vip", "newsletter_2026"]},
    "labels": ["black_friday", "promo"],
}


def _create(api, body=None, **kwargs):
    return api.app_call("POST", "/campaigns/create", body if body is not None else MINIMAL, version="1.1", **kwargs)


def _get(api, token, **kwargs):
    return api.app_call("GET", f"/campaigns/{token}", version="1.1", **kwargs)


def test_create_answers_201_with_a_token_readable_at_once(api):
    response = _create(api, FULL)
    assert response.status_code == 201, response.content
    token = response.json()["campaign_token"]
    assert set(response.json()) == {"campaign_token"} and len(token) == 32
    # no worker ran: the write was applied in its request, and recorded
    call = ApiCall.objects.get(route="campaigns.create")
    assert call.apply_status == ApiCall.ApplyStatus.APPLIED and call.status_code == 201 and call.operations == ""
    shown = _get(api, token).json()
    created = shown.pop("created_date")
    assert dt.datetime.fromisoformat(created)
    assert shown == {
        "campaign_token": token,
        "name": "Black Friday",
        "live": True,
        "dev_only": False,
        "from_api": True,
        "local_push_time": "2030-11-29T09:00:00",
        "messages": [
            {"language": "en", "title": "Deals", "body": "Up to 50% off"},
            {"language": "fr", "title": "Promos", "body": "Jusqu'à 50 %"},
        ],
        "priority": "high",
        "deeplink": "acme://deals",
        "media": {"icon": "https://cdn.example.com/i.png", "picture": "https://cdn.example.com/p.jpg"},
        "custom_payload": '{"sale": "bf"}',
        "targeting": {"custom_audiences": ["vip", "newsletter_2026"]},
        "labels": ["black_friday", "promo"],
    }
    campaign = Campaign.objects.get(token=token)
    assert campaign.app == api.app and campaign.project == api.app.project and campaign.channel == "push"


def test_minimal_create_sends_now_and_shows_no_optional_keys(api):
    before = timezone.now().replace(microsecond=0)
    token = _create(api).json()["campaign_token"]
    shown = _get(api, token).json()
    assert dt.datetime.fromisoformat(shown["push_time"]).replace(tzinfo=dt.UTC) >= before
    assert "local_push_time" not in shown and shown["priority"] == "normal"
    assert not {"deeplink", "media", "custom_payload", "targeting", "labels"} & set(shown)
    assert shown["messages"] == [{"language": "en", "body": "Hi"}]


@pytest.mark.parametrize(("key_kind", "dev_only"), [("dev", True), ("live", False), ("sdk", False)])
def test_a_campaign_created_with_the_apps_dev_key_is_dev_only(api, key_kind, dev_only):
    key = getattr(api.app, f"{key_kind}_api_key")
    # twice: the second call finds the app key in the credentials cache, which must remember which key it was
    tokens = [_create(api, key=key).json()["campaign_token"] for _ in range(2)]
    for token in tokens:
        assert _get(api, token).json()["dev_only"] is dev_only  # read with the live key, as Batch's GET wants
        assert Campaign.objects.get(token=token).dev_only is dev_only
    listed = api.app_call("GET", "/campaigns/list", key=key, version="1.1").json()
    assert [(item["campaign_token"], item["dev_only"]) for item in listed] == [(t, dev_only) for t in reversed(tokens)]


def test_an_update_with_another_key_keeps_dev_only_as_created(api):
    token = _create(api, key=api.app.dev_api_key).json()["campaign_token"]
    assert api.app_call("POST", f"/campaigns/update/{token}", {"live": True}, version="1.1").status_code == 200
    assert _get(api, token).json()["dev_only"] is True


def test_create_then_update_then_delete_in_a_row_without_a_worker(api):
    token = _create(api).json()["campaign_token"]
    updated = api.app_call("POST", f"/campaigns/update/{token}", {"live": True, "name": "Renamed"}, version="1.1")
    assert updated.status_code == 200 and updated.json() == {"campaign_token": token}
    shown = _get(api, token).json()
    assert shown["live"] is True and shown["name"] == "Renamed" and shown["messages"][0]["body"] == "Hi"
    deleted = api.app_call("POST", f"/campaigns/delete/{token}", version="1.1")
    assert deleted.status_code == 200 and deleted.json() == {"campaign_token": token}
    assert Campaign.objects.get(token=token).deleted_at is not None  # soft delete
    for response in (
        _get(api, token),
        api.app_call("POST", f"/campaigns/update/{token}", {"live": False}, version="1.1"),
        api.app_call("POST", f"/campaigns/delete/{token}", version="1.1"),
        api.app_call("GET", f"/campaigns/stats/{token}", version="1.1"),
    ):
        assert response.status_code == 404 and response.json()["code"] == 20, response.content
    assert not ApiCall.objects.filter(apply_status=ApiCall.ApplyStatus.PENDING).exists()


def test_labels_are_kept_once_each_replaced_on_update_and_cleared_with_null(api):
    token = _create(api, {**MINIMAL, "labels": ["promo", " winter ", "promo"]}).json()["campaign_token"]

    def update(change):
        return api.app_call("POST", f"/campaigns/update/{token}", change, version="1.1")

    assert _get(api, token).json()["labels"] == ["promo", "winter"]
    assert update({"labels": ["onboarding"]}).status_code == 200
    assert _get(api, token).json()["labels"] == ["onboarding"]
    assert update({"name": "Renamed"}).status_code == 200
    assert _get(api, token).json()["labels"] == ["onboarding"]  # not given: unchanged
    bad = update({"labels": [None]})
    assert bad.status_code == 400 and "'labels[0]'" in bad.json()["message"]
    assert update({"labels": None}).status_code == 200
    assert "labels" not in _get(api, token).json() and Campaign.objects.get(token=token).labels == []


def test_update_switches_push_time_kind_replaces_messages_and_clears_with_null(api):
    token = _create(api, FULL).json()["campaign_token"]
    changes = {
        "push_time": "2031-01-02T03:04:05Z",
        "messages": [{"language": "default", "body": "Everyone"}],
        "deeplink": None,
        "media": {"icon": "https://cdn.example.com/new.png"},
        "targeting": None,
    }
    assert api.app_call("POST", f"/campaigns/update/{token}", changes, version="1.1").status_code == 200
    shown = _get(api, token).json()
    assert shown["push_time"] == "2031-01-02T03:04:05" and "local_push_time" not in shown
    assert shown["messages"] == [{"language": "default", "body": "Everyone"}]
    assert shown["media"] == {"icon": "https://cdn.example.com/new.png"}
    assert "deeplink" not in shown and "targeting" not in shown and shown["custom_payload"] == '{"sale": "bf"}'
    back = {"local_push_time": "2031-02-03T10:00:00"}
    assert api.app_call("POST", f"/campaigns/update/{token}", back, version="1.1").status_code == 200
    shown = _get(api, token).json()
    assert shown["local_push_time"] == "2031-02-03T10:00:00" and "push_time" not in shown


@pytest.mark.parametrize(
    ("change", "kind", "key"),
    [
        ({"name": None}, 31, "'name'"),
        ({"name": ""}, 31, "'name'"),
        ({"name": "x" * 201}, 31, "'name'"),
        ({"live": "true"}, 31, "'live'"),
        ({"push_time": "tomorrow"}, 31, "'push_time'"),
        ({"push_time": "2001-01-01T00:00:00"}, 31, "in the past"),
        ({"push_time": 12}, 31, "'push_time'"),
        ({"push_time": "now", "local_push_time": "2030-01-01T09:00:00"}, 31, "not both"),
        ({"push_time": None}, 30, "'push_time'"),
        ({"push_time": None, "local_push_time": "2030-01-01 09:00"}, 31, "'local_push_time'"),
        ({"push_time": None, "local_push_time": "2030-02-30T09:00:00"}, 31, "'local_push_time'"),
        ({"messages": []}, 31, "'messages'"),
        ({"messages": "Hi"}, 31, "'messages'"),
        ({"messages": ["Hi"]}, 31, "'messages[0]'"),
        ({"messages": [{"body": "Hi"}]}, 30, "'messages[0].language'"),
        ({"messages": [{"language": "EN", "body": "Hi"}]}, 31, "'messages[0].language'"),
        ({"messages": [{"language": "en"}]}, 30, "'messages[0].body'"),
        ({"messages": [{"language": "en", "body": ""}]}, 31, "'messages[0].body'"),
        ({"messages": [{"language": "en", "body": "Hi", "title": 3}]}, 31, "'messages[0].title'"),
        ({"messages": [{"language": "en", "body": "Hi", "subtitle": "x"}]}, 31, "'messages[0].subtitle'"),
        ({"messages": [{"language": "en", "body": "a"}, {"language": "en", "body": "b"}]}, 31, "given twice"),
        ({"priority": "urgent"}, 31, "'priority'"),
        ({"deeplink": "not a url"}, 31, "'deeplink'"),
        ({"media": {"icon": "http://cdn.example.com/i.png"}}, 31, "'media.icon'"),
        ({"media": {"picture": 5}}, 31, "'media.picture'"),
        ({"media": {"video": "https://x.example.com"}}, 31, "'media'"),
        ({"media": "https://x.example.com"}, 31, "'media'"),
        ({"custom_payload": {"a": 1}}, 31, "'custom_payload'"),
        ({"custom_payload": "{not json"}, 31, "not JSON"),
        ({"custom_payload": "[1, 2]"}, 31, "not an object"),
        ({"targeting": ["vip"]}, 31, "'targeting'"),
        ({"targeting": {"custom_audiences": []}}, 31, "'targeting.custom_audiences'"),
        ({"targeting": {"custom_audiences": ["v i p"]}}, 31, "'targeting.custom_audiences[0]'"),
        ({"labels": "promo"}, 31, "'labels'"),
        ({"labels": ["a", "b", "c", "d", "e", "f"]}, 31, "'labels'"),
        ({"labels": [""]}, 31, "'labels[0]'"),
        ({"labels": ["ok", 5]}, 31, "'labels[1]'"),
        ({"labels": ["x" * 101]}, 31, "'labels[0]'"),
        ({"labels": ["a,b"]}, 31, "'labels[0]'"),
        ({"labelz": ["x"]}, 31, "Unknown key 'labelz'"),
    ],
)
def test_create_refuses_each_bad_key_naming_it(api, change, kind, key):
    body = {**MINIMAL, **change}
    response = _create(api, body)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == kind and key in response.json()["message"], response.json()
    assert not Campaign.objects.exists()
    assert ApiCall.objects.get().status_code == 400  # refusals are recorded like any call


@pytest.mark.parametrize("missing", ["name", "live", "messages"])
def test_create_names_a_missing_key(api, missing):
    body = {key: value for key, value in MINIMAL.items() if key != missing}
    response = _create(api, body)
    assert response.status_code == 400 and response.json()["code"] == 30
    assert f"'{missing}'" in response.json()["message"]


@pytest.mark.parametrize(("raw", "code"), [(b"", 30), (b"{", 32), (b"[]", 31), (b'"x"', 31)])
def test_create_refuses_a_body_that_is_not_an_object(api, raw, code):
    response = api.app_call("POST", "/campaigns/create", raw=raw, version="1.1")
    assert response.status_code == 400 and response.json()["code"] == code


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({}, "changes nothing"),
        ({"live": None}, "'live'"),
        ({"messages": None}, "'messages'"),
        ({"push_time": None}, "'push_time'"),
        ({"x": 1}, "'x'"),
        ({"push_time": "now", "local_push_time": "2030-01-01T09:00:00"}, "not both"),
    ],
)
def test_update_refuses_bad_bodies_and_changes_nothing(api, change, key):
    token = _create(api).json()["campaign_token"]
    response = api.app_call("POST", f"/campaigns/update/{token}", change, version="1.1")
    assert response.status_code == 400 and key in response.json()["message"]
    assert _get(api, token).json()["name"] == "Winter sale"


def test_another_app_or_project_cannot_reach_a_token(api, other_app):
    token = _create(api).json()["campaign_token"]
    sibling = AppFactory(project=api.app.project, name="AcmeShop Android", platform="android")
    for key in (other_app.live_api_key, sibling.live_api_key):
        rest_key = None if key == sibling.live_api_key else api._key_of(other_app.project)
        for method, path, body in (
            ("GET", f"/campaigns/{token}", None),
            ("GET", f"/campaigns/stats/{token}", None),
            ("POST", f"/campaigns/update/{token}", {"live": True}),
            ("POST", f"/campaigns/delete/{token}", None),
        ):
            response = api.app_call(method, path, body, key=key, rest_key=rest_key, version="1.1")
            assert response.status_code == 404 and response.json()["code"] == 20, (key, path, response.content)
        listed = api.app_call("GET", "/campaigns/list", key=key, rest_key=rest_key, version="1.1")
        assert listed.status_code == 200 and listed.json() == []
    campaign = Campaign.objects.get(token=token)
    assert not campaign.is_live and campaign.deleted_at is None


def test_another_projects_rest_key_is_refused_on_our_app(api, other_app):
    token = _create(api).json()["campaign_token"]
    response = _get(api, token, rest_key=api._key_of(other_app.project))
    assert response.status_code == 401 and response.json()["code"] == 10


@pytest.mark.parametrize("token", ["0" * 32, "nothex", "A" * 32])
def test_an_unknown_token_is_a_404(api, token):
    assert _get(api, token).status_code == 404
    assert api.app_call("POST", f"/campaigns/delete/{token}", version="1.1").status_code == 404


def test_trailing_slashes_and_version_1_0_are_accepted(api):
    created = api.app_call("POST", "/campaigns/create/", MINIMAL, version="1.0")
    assert created.status_code == 201
    token = created.json()["campaign_token"]
    assert api.app_call("GET", f"/campaigns/{token}/", version="1.1").status_code == 200
    assert api.app_call("POST", f"/campaigns/update/{token}/", {"live": True}, version="1.1").status_code == 200
    assert api.app_call("GET", "/campaigns/list/", version="1.1").status_code == 200
    assert api.app_call("GET", f"/campaigns/stats/{token}/", version="1.1").status_code == 200
    assert api.app_call("POST", f"/campaigns/delete/{token}/", version="1.1").status_code == 200
    assert api.app_call("GET", "/campaigns/list", version="2.1").status_code == 404


def test_list_is_an_array_newest_first_with_offset_limit_and_filters(api):
    tokens = []
    for index in range(12):
        body = {**MINIMAL, "name": f"c{index}", "live": index % 2 == 0}
        tokens.append(_create(api, body).json()["campaign_token"])
    CampaignFactory(project=api.app.project, app=api.app, name="from the dashboard")
    listed = api.app_call("GET", "/campaigns/list", version="1.1").json()
    assert isinstance(listed, list) and len(listed) == 10  # the default limit
    assert listed[0]["name"] == "from the dashboard" and listed[1]["campaign_token"] == tokens[-1]
    page = api.app_call("GET", "/campaigns/list?from=2&limit=3&from_api=true", version="1.1").json()
    assert [item["name"] for item in page] == ["c9", "c8", "c7"]
    live = api.app_call("GET", "/campaigns/list?live=true&limit=100", version="1.1").json()
    assert {item["name"] for item in live} == {f"c{index}" for index in range(0, 12, 2)}
    dashboard = api.app_call("GET", "/campaigns/list?from_api=false", version="1.1").json()
    assert [item["name"] for item in dashboard] == ["from the dashboard"]
    api.app_call("POST", f"/campaigns/delete/{tokens[-1]}", version="1.1")
    assert tokens[-1] not in {item["campaign_token"] for item in api.app_call("GET", "/campaigns/list?limit=100",
                                                                              version="1.1").json()}  # fmt: skip


@pytest.mark.parametrize(
    ("query", "key"),
    [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"), ("from=-1", "from"),
     ("live=yes", "live"), ("from_api=1", "from_api")],
)  # fmt: skip
def test_list_refuses_bad_query_parameters(api, query, key):
    response = api.app_call("GET", f"/campaigns/list?{query}", version="1.1")
    assert response.status_code == 400 and response.json()["code"] == 31
    assert f"'{key}'" in response.json()["message"]


def test_stats_count_the_campaigns_raw_push_events_per_day(api):
    token = _create(api).json()["campaign_token"]
    installation = InstallationFactory(app=api.app)
    day1 = dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
    day2 = dt.datetime(2026, 12, 1, 23, 59, tzinfo=dt.UTC)
    for moment, kind, count in ((day1, "push_sent", 3), (day1, "push_opened", 1), (day2, "push_sent", 2),
                                (day2, "push_error", 1), (day2, "push_opened", 2)):  # fmt: skip
        for _ in range(count):
            PushEventFactory(installation=installation, app=api.app, token=token, type=kind, occurred_at=moment)
    # not counted: another campaign's, a transactional send's with the same token, another app's
    PushEventFactory(installation=installation, app=api.app, token="f" * 32, type="push_sent", occurred_at=day1)
    PushEventFactory(installation=installation, app=api.app, token=token, source="transactional", occurred_at=day1)
    PushEventFactory(token=token, type="push_sent", occurred_at=day1)
    response = api.app_call("GET", f"/campaigns/stats/{token}", version="1.1")
    assert response.status_code == 200
    assert response.json() == {
        "campaign_token": token,
        "detail": [
            {"date": "2026-11-30", "sent": 3, "direct_open": 1, "influenced_open": 0, "reengaged": 0, "errors": 0},
            {"date": "2026-12-01", "sent": 2, "direct_open": 2, "influenced_open": 0, "reengaged": 0, "errors": 1},
        ],
    }


def test_reads_are_recorded_as_calls(api):
    token = _create(api).json()["campaign_token"]
    _get(api, token)
    _get(api, "0" * 32)
    reads = ApiCall.objects.filter(route="campaigns.get").order_by("id")
    assert [(call.status_code, call.error_code) for call in reads] == [(200, ""), (404, "ROUTE_NOT_FOUND")]
    assert all(call.apply_status == ApiCall.ApplyStatus.NONE for call in reads)


def test_a_create_retried_with_its_idempotency_key_creates_one_campaign(api):
    headers = {"Idempotency-Key": "create-1"}
    first = _create(api, headers=headers)
    again = _create(api, headers=headers)
    assert first.status_code == again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert first.json() == again.json() and Campaign.objects.get().token == first.json()["campaign_token"]
    assert _get(api, first.json()["campaign_token"]).status_code == 200


def test_an_applier_failing_in_the_request_leaves_no_record_and_no_campaign(api):
    def broken(call):
        raise RuntimeError("disk full")

    with applier_replaced("campaigns.create", broken):
        response = _create(api)
    assert response.status_code == 500 and response.json()["code"] == 0
    assert not Campaign.objects.exists() and not ApiCall.objects.exists()


def test_a_push_time_past_the_last_representable_instant_is_a_400(api):
    response = _create(api, {**MINIMAL, "push_time": "9999-12-31T23:59:59-01:00"})
    assert response.status_code == 400 and "'push_time'" in response.json()["message"]
    assert not Campaign.objects.exists()
