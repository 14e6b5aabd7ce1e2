"""Hostile input thrown at the daily-export screens (issue 13): the export's form, Run now, Backfill, the run and
backfill pages and their progress, by an attacker and by a clumsy partner.

The product's rules: bad input gets a clear 4xx and loses nothing (no row created or changed on refusal); no input
reaches a 500; a partner sees and changes only its own connectors and what they carry (others get 404); a CSM sees
exports but changes nothing; secrets are never shown. The faults these tests found were fixed; they stay as
regression tests.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from batchhub.connectors import services
from batchhub.connectors.exporting import BackfillRefused, export_backfill_request, export_run_ensure
from batchhub.connectors.models import ExportBackfill, ExportConfig, ExportRun
from batchhub.connectors.tasks import export_backfill_run, export_run
from tests.connectors.conftest import export_config_make
from tests.connectors.test_hostile_input import BIG, SCRIPT, SCRIPT_ESCAPED, SURROGATE, _body, _post, _state
from tests.factories import (
    AppFactory,
    ConnectorFactory,
    DestinationFactory,
    GrantFactory,
    PartnerFactory,
    ProjectFactory,
    UserFactory,
)

pytestmark = pytest.mark.portable

CANARY = "CANARY-s3cr3t-e9b1"
CONFIG_FIELDS = ("pk", "connector_id", "app_id", "kind", "identifier", "destination_id", "enabled", "paused_reason",
                 "consecutive_failures")  # fmt: skip
BACKFILL_FIELDS = ("pk", "config_id", "first_day", "last_day", "status", "forced", "rows_done")


def _yesterday() -> dt.date:
    return timezone.now().astimezone(dt.UTC).date() - dt.timedelta(days=1)


def _export_state():
    """What a refused request must leave as it was: the connectors' rows, every export, run and backfill, and the
    audit log (which `_state` counts)."""
    return (
        _state(),
        list(ExportConfig.objects.order_by("pk").values(*CONFIG_FIELDS)),
        list(ExportRun.objects.order_by("pk").values("pk", "config_id", "day", "status", "forced", "attempts")),
        list(ExportBackfill.objects.order_by("pk").values(*BACKFILL_FIELDS)),
    )


@pytest.fixture
def partner_owner(world):
    """The world's connector's partner, granted its project, and one of its users."""
    _, connector, _, _ = world
    GrantFactory(project=connector.project, partner=connector.partner)
    return UserFactory.partner_user(partner=connector.partner, username="owner")


@pytest.fixture
def owner(client, partner_owner):
    client.force_login(partner_owner)
    return client


@pytest.fixture
def config(world):
    """A push-events export with yesterday's run finished and a finished backfill, so every URL has its object."""
    config = export_config_make(world, "push_events")
    run, _ = export_run_ensure(config, _yesterday())
    ExportRun.objects.filter(pk=run.pk).update(status="succeeded", rows=0, finished_at=timezone.now())
    backfill = export_backfill_request(config, _yesterday(), _yesterday())
    ExportBackfill.objects.filter(pk=backfill.pk).update(status="succeeded", rows_done=1, finished_at=timezone.now())
    return config


def _export_urls(connector, config, day: dt.date, backfill_code) -> dict[str, str]:
    c, e = connector.code, config.code
    return {
        "export_create": reverse("connectors:export_create", args=[c]),
        "export_edit": reverse("connectors:export_edit", args=[c, e]),
        "export_delete": reverse("connectors:export_delete", args=[c, e]),
        "export_run": reverse("connectors:export_run", args=[c, e]),
        "export_run_detail": reverse("connectors:export_run_detail", args=[c, e, day]),
        "export_run_progress": reverse("connectors:export_run_progress", args=[c, e, day]),
        "export_backfill": reverse("connectors:export_backfill", args=[c, e]),
        "export_backfill_progress": reverse("connectors:export_backfill_progress", args=[c, e, backfill_code]),
    }


def _urls_of(config) -> dict[str, str]:
    return _export_urls(config.connector, config, _yesterday(), config.backfills.get().code)


POST_ONLY = ["export_delete", "export_run", "export_backfill"]
GET_ONLY = ["export_run_detail", "export_run_progress", "export_backfill_progress"]
GET_OR_POST = ["export_create", "export_edit"]


def _valid_export(world, **changes) -> list[tuple[str, str]]:
    app, _, destination, _ = world
    fields = {"app": str(app.code), "kind": "inapp_events", "identifier": "installation_id",
              "destination": str(destination.code), "enabled": "on"}  # fmt: skip
    fields.update(changes)
    return [(name, value) for name, value in fields.items() if value is not None]


def _posts(world, config) -> dict[str, bytes]:
    """A valid body for each POST route (what the owner's own request would carry)."""
    day = _yesterday().isoformat()
    return {
        "export_create": _body(*_valid_export(world)),
        "export_edit": _body(*_valid_export(world, kind="push_events", identifier="advertising_id")),
        "export_delete": b"",
        "export_run": b"",
        "export_backfill": _body(("first_day", day), ("last_day", day), ("force", "on")),
    }


@pytest.fixture
def rival(world):
    """Another partner granted the same project, with its own connector, destination and export (with a run and a
    backfill)."""
    app, connector, _, _ = world
    partner = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=connector.project, partner=partner)
    rival_connector = ConnectorFactory(project=connector.project, partner=partner, name="Rival sync")
    destination = DestinationFactory(connector=rival_connector, name="Rival dest", location={"path": "rival"})
    rival_config = ExportConfig.objects.create(connector=rival_connector, app=app, kind="push_events",
                                               destination=destination)  # fmt: skip
    export_run_ensure(rival_config, _yesterday())
    backfill = export_backfill_request(rival_config, _yesterday(), _yesterday())
    return {"connector": rival_connector, "destination": destination, "config": rival_config, "backfill": backfill}


@pytest.fixture
def far(db, storage_root):
    """A partner on another project: its connector, app, destination and export."""
    app = AppFactory(project=ProjectFactory(name="Globex"), name="GlobexNews")
    partner = PartnerFactory(name="Attribly")
    GrantFactory(project=app.project, partner=partner)
    connector = ConnectorFactory(project=app.project, partner=partner, name="Far sync")
    destination = DestinationFactory(connector=connector, name="Far dest")
    far_config = ExportConfig.objects.create(connector=connector, app=app, kind="userbase", destination=destination)
    return {"app": app, "connector": connector, "destination": destination, "config": far_config,
            "user": UserFactory.partner_user(partner=partner, username="attribly")}  # fmt: skip


# ---- the export's form: create and edit --------------------------------------------------------------------------


def _hostile_exports(world, rival, far) -> dict[str, list]:
    """Bodies the form must refuse, on create and on edit."""
    valid = dict(_valid_export(world))
    app, destination = valid["app"], valid["destination"]
    other_app, rival_destination = str(far["app"].code), str(rival["destination"].code)
    return {
        "another project's app": _valid_export(world, app=other_app),
        "a rival connector's destination": _valid_export(world, destination=rival_destination),
        "another project's destination": _valid_export(world, destination=str(far["destination"].code)),
        "a connector's code as the destination": _valid_export(world, destination=str(world[1].code)),
        "an app's code as the destination": _valid_export(world, destination=app),
        "an unknown app": _valid_export(world, app=str(uuid.uuid4())),
        "an app that is not a uuid": _valid_export(world, app="MyShop"),
        "an app's primary key": _valid_export(world, app=str(world[0].pk)),
        "unknown kind": _valid_export(world, kind="everything"),
        "kind's label": _valid_export(world, kind="Raw push events"),
        "upper-case kind": _valid_export(world, kind="PUSH_EVENTS"),
        "unknown identifier": _valid_export(world, identifier="email"),
        "NUL in kind": _valid_export(world, kind="push_events\x00"),
        "NUL in app": _valid_export(world, app=app + "\x00"),
        "NUL as destination": _valid_export(world, destination="\x00"),
        "100 kB app": _valid_export(world, app=BIG),
        "100 kB kind": _valid_export(world, kind=BIG),
        "100 kB identifier": _valid_export(world, identifier=BIG),
        "100 kB destination": _valid_export(world, destination=BIG),
        "unicode lookalike kind": _valid_export(world, kind="push_\u0435vents"),  # a Cyrillic e
        "fullwidth kind": _valid_export(world, kind="\uff50\uff55\uff53\uff48_events"),
        "surrogate in kind": [*_valid_export(world, kind=None), ("kind", b"push_events" + SURROGATE)],
        "surrogate as app": [*_valid_export(world, app=None), ("app", SURROGATE)],
        "blank app": _valid_export(world, app=""),
        "no destination": _valid_export(world, destination=None),
        "no kind": _valid_export(world, kind=None),
        "a list of apps, the last another project's": [*_valid_export(world), ("app", other_app)],
        "a list of destinations, the last a rival's": [*_valid_export(world), ("destination", rival_destination)],
        "a list of kinds, the last unknown": [*_valid_export(world), ("kind", "all")],
        "app as a JSON list": _valid_export(world, app=f'["{app}"]'),
        "destination as a PHP array": [*_valid_export(world, destination=None), ("destination[]", destination)],
        "field names with NUL": [(f"{name}\x00", value) for name, value in _valid_export(world)],
        "empty body": [],
    }


HOSTILE_EXPORT_NAMES = [
    "another project's app", "a rival connector's destination", "another project's destination",
    "a connector's code as the destination", "an app's code as the destination", "an unknown app",
    "an app that is not a uuid", "an app's primary key", "unknown kind", "kind's label", "upper-case kind",
    "unknown identifier", "NUL in kind", "NUL in app", "NUL as destination", "100 kB app", "100 kB kind",
    "100 kB identifier", "100 kB destination", "unicode lookalike kind", "fullwidth kind", "surrogate in kind",
    "surrogate as app", "blank app", "no destination", "no kind", "a list of apps, the last another project's",
    "a list of destinations, the last a rival's", "a list of kinds, the last unknown", "app as a JSON list",
    "destination as a PHP array", "field names with NUL", "empty body",
]  # fmt: skip


@pytest.mark.parametrize("name", HOSTILE_EXPORT_NAMES)
def test_a_hostile_new_export_is_a_400_and_creates_nothing(owner, world, rival, far, name):
    pairs = _hostile_exports(world, rival, far)[name]
    before = _export_state()
    response = _post(owner, reverse("connectors:export_create", args=[world[1].code]), _body(*pairs))
    assert response.status_code == 400
    assert _export_state() == before


@pytest.mark.parametrize("name", HOSTILE_EXPORT_NAMES)
def test_a_hostile_export_change_is_a_400_and_changes_nothing(owner, world, config, rival, far, name):
    pairs = _hostile_exports(world, rival, far)[name]
    before = _export_state()
    response = _post(owner, reverse("connectors:export_edit", args=[world[1].code, config.code]), _body(*pairs))
    assert response.status_code == 400
    assert _export_state() == before


def test_the_hostile_names_list_is_the_bodies_list(world, rival, far):
    assert list(_hostile_exports(world, rival, far)) == HOSTILE_EXPORT_NAMES


def test_a_second_export_of_the_same_app_and_kind_is_a_400_naming_the_field(owner, world, config):
    before = _export_state()
    response = _post(owner, reverse("connectors:export_create", args=[world[1].code]),
                     _body(*_valid_export(world, kind="push_events")))  # fmt: skip
    assert response.status_code == 400 and "already exports this for this app" in response.text
    assert _export_state() == before


def test_a_hostile_save_of_a_paused_export_resumes_nothing(owner, world, config, rival):
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="Paused after 3 failed days", enabled=True)
    before = _export_state()
    body = _body(*_valid_export(world, kind="push_events", destination=str(rival["destination"].code)))
    response = _post(owner, reverse("connectors:export_edit", args=[world[1].code, config.code]), body)
    assert response.status_code == 400
    assert _export_state() == before


def test_a_repeated_key_takes_its_last_value_and_saves_one_of_the_offered(owner, world):
    """A list sent where one value is expected: the last one is judged, as any Django form does."""
    pairs = [*_valid_export(world, kind="userbase"), ("kind", "push_events"), ("enabled", "off"), ("enabled", "")]
    response = _post(owner, reverse("connectors:export_create", args=[world[1].code]), _body(*pairs))
    assert response.status_code == 302
    saved = ExportConfig.objects.get()
    assert (saved.kind, saved.enabled) == ("push_events", False)


# ---- the backfill's form -----------------------------------------------------------------------------------------


def _days(first, last=None) -> list[tuple[str, str | bytes]]:
    return [("first_day", first), ("last_day", _yesterday().isoformat() if last is None else last)]


HOSTILE_BACKFILLS = {
    "first day 0000-00-00": _days("0000-00-00"),
    "first day 0001-01-01": _days("0001-01-01"),
    "first day 9999-12-31": _days("9999-12-31"),
    "last day 9999-12-31": _days("{y}", "9999-12-31"),
    "both 9999-12-31": _days("9999-12-31", "9999-12-31"),
    "both 0001-01-01": _days("0001-01-01", "0001-01-01"),
    "year 10000": _days("10000-01-01", "10000-01-02"),
    "negative year": _days("-0001-01-01"),
    "leading +": _days("+{y}"),
    "2026-02-30": _days("2026-02-30"),
    "month 13": _days("2026-13-01"),
    "day 00": _days("2026-01-00"),
    "ISO with a time": _days("{y}T00:00:00"),
    "ISO with a zone": _days("{y}T00:00:00+00:00"),
    "with a space and a time": _days("{y} 12:00"),
    "compact ISO": _days("{y_compact}"),
    "week date": _days("2026-W01-1"),
    "US order": _days("12/31/2025"),
    "a timestamp": _days("1767225600"),
    "words": _days("yesterday", "today"),
    "far-past Arabic-Indic digits": _days("\u0662\u0660\u0662\u0660-\u0660\u0661-\u0660\u0661"),
    "NUL in the first day": _days("{y}\x00"),
    "NUL alone": _days("\x00", "\x00"),
    "100 kB first day": _days(BIG),
    "100 kB of digits": _days("2" * 100_000),
    "surrogate": [("first_day", b"2026" + SURROGATE), ("last_day", "{y}")],
    "runs backwards": _days("{y}", "{day_before}"),
    "no last day": [("first_day", "{y}")],
    "blank days": _days("", ""),
    "a list, the last first day too early": [*_days("{y}"), ("first_day", "2020-01-01")],
    "a list, the last last day in the future": [*_days("{y}"), ("last_day", "{tomorrow}")],
    "days as a PHP array": [("first_day[]", "{y}"), ("last_day[]", "{y}")],
    "empty body": [],
}


def _dated(pairs) -> list[tuple[str, str | bytes]]:
    yesterday = _yesterday()
    values = {"y": yesterday.isoformat(), "y_compact": f"{yesterday:%Y%m%d}",
              "day_before": (yesterday - dt.timedelta(days=1)).isoformat(),
              "tomorrow": (yesterday + dt.timedelta(days=2)).isoformat()}  # fmt: skip
    return [(key, value if isinstance(value, bytes) else value.format(**values)) for key, value in pairs]


@pytest.mark.parametrize("pairs", HOSTILE_BACKFILLS.values(), ids=HOSTILE_BACKFILLS.keys())
def test_a_hostile_backfill_is_a_400_and_queues_nothing(owner, world, config, pairs):
    before = _export_state()
    url = reverse("connectors:export_backfill", args=[world[1].code, config.code])
    response = _post(owner, url, _body(*_dated(pairs)))
    assert response.status_code == 400
    assert 'class="form-error"' in response.text or 'class="field-error"' in response.text  # it says what is wrong
    assert _export_state() == before


@pytest.mark.parametrize("force", ["on", "off", "", "0", "false", BIG, "\x00"])
def test_any_force_value_is_a_yes_or_no_never_an_error(owner, world, config, force):
    day = _yesterday().isoformat()
    url = reverse("connectors:export_backfill", args=[world[1].code, config.code])
    response = _post(owner, url, _body(*_days(day, day), ("force", force)))
    assert response.status_code == 302
    assert config.backfills.count() == 2


# ---- days in URLs --------------------------------------------------------------------------------------------------


# the last two: 2026 in fullwidth and in Arabic-Indic digits
EDGE_DAYS = [
    "0001-01-01", "9999-12-31", "0000-01-01", "2026-13-01", "2026-02-30", "2026-00-10", "+2026-01-01", "2026-1-01",
    "20260101", "2026-01-01T00:00", "-2026-01-01", "2026-01-01.", "99999-01-01", "{y}x", "2026-01-01%00",
    "2026-01-01%20", "%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-01-01", "%D9%A2%D9%A0%D9%A2%D9%A6-01-01",
]  # fmt: skip


@pytest.mark.parametrize("day", EDGE_DAYS)
@pytest.mark.parametrize("route", ["runs/{day}/", "runs/{day}/progress/"])
def test_a_day_at_the_edges_in_the_url_is_a_404(owner, world, config, day, route):
    before = _export_state()
    url = f"/connectors/{world[1].code}/exports/{config.code}/" + route.format(day=day.format(y=_yesterday()))
    for headers in ({}, {"HX-Request": "true"}):
        assert owner.get(url, headers=headers).status_code in (400, 404)  # a NUL in a path: 400
    assert _export_state() == before


def test_runs_at_the_ends_of_the_calendar_show_without_error(owner, world, config):
    """Rows a worker could never make, but which the pages must still show (a restored dump, a manual fix)."""
    for day in (dt.date(1, 1, 1), dt.date(9999, 12, 31)):
        export_run_ensure(config, day)
        for name in ("connectors:export_run_detail", "connectors:export_run_progress"):
            response = owner.get(reverse(name, args=[world[1].code, config.code, day]))
            assert response.status_code == 200, (name, day)
            assert f"{day:%Y-%m-%d}" in response.text
    page = owner.get(reverse("connectors:export_edit", args=[world[1].code, config.code]))
    assert page.status_code == 200 and "9999-12-31" in page.text


def test_a_day_with_no_run_is_a_404(owner, world, config):
    url = reverse("connectors:export_run_detail", args=[world[1].code, config.code, _yesterday()
                                                        - dt.timedelta(days=1)])  # fmt: skip
    assert owner.get(url).status_code == 404


# ---- methods, HTMX headers and CSRF --------------------------------------------------------------------------------


@pytest.mark.parametrize("name", POST_ONLY)
def test_get_or_head_on_a_post_only_route_is_a_405_and_changes_nothing(owner, world, config, name):
    url = _urls_of(config)[name]
    before = _export_state()
    for method in ("get", "head", "options"):
        assert getattr(owner, method)(url).status_code == 405, method
        assert getattr(owner, method)(url, headers={"HX-Request": "true"}).status_code == 405, method
    assert _export_state() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete", "options"])
@pytest.mark.parametrize("name", POST_ONLY + GET_ONLY + GET_OR_POST)
def test_other_methods_are_a_405_and_change_nothing(owner, world, config, name, method):
    before = _export_state()
    body = _posts(world, config).get(name, b"")
    response = getattr(owner, method)(_urls_of(config)[name], body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 405
    assert _export_state() == before


@pytest.mark.parametrize("name", GET_ONLY)
def test_post_on_a_get_only_route_is_a_405_and_changes_nothing(owner, world, config, name):
    before = _export_state()
    assert _post(owner, _urls_of(config)[name], _posts(world, config)["export_backfill"]).status_code == 405
    assert _export_state() == before


@pytest.mark.parametrize("name", GET_ONLY + GET_OR_POST)
def test_head_on_a_page_answers_without_a_body_or_a_change(owner, world, config, name):
    """require_GET refuses HEAD (405), as everywhere in BatchHub; what matters here: no 500, nothing changes."""
    before = _export_state()
    response = owner.head(_urls_of(config)[name])
    assert response.status_code in (200, 405)
    assert _export_state() == before


@pytest.mark.parametrize("name", [*GET_OR_POST, "export_run_detail"])
def test_an_htmx_request_on_a_page_gets_the_whole_page(owner, world, config, name):
    response = owner.get(_urls_of(config)[name], headers={"HX-Request": "true", "HX-Target": "main",
                                                          "HX-Current-URL": "javascript:alert(1)"})  # fmt: skip
    assert response.status_code == 200 and "<html" in response.text


@pytest.mark.parametrize("name", POST_ONLY)
def test_an_htmx_post_behaves_as_a_plain_one(owner, world, config, name, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        response = owner.post(_urls_of(config)[name], _posts(world, config)[name],
                              content_type="application/x-www-form-urlencoded",
                              headers={"HX-Request": "true", "HX-Boosted": "true"})  # fmt: skip
    assert response.status_code == 302


@pytest.mark.parametrize("name", ["export_run_progress", "export_backfill_progress"])
def test_progress_stops_htmx_polling_only_for_htmx_and_only_once_finished(owner, world, config, name):
    url = _urls_of(config)[name]
    assert owner.get(url).status_code == 200  # finished, but a plain GET (no JavaScript) gets a plain page
    assert owner.get(url, headers={"HX-Request": "true"}).status_code == 286
    assert owner.get(url, headers={"HX-Request": "false"}).status_code == 200
    ExportRun.objects.update(status="running", finished_at=None)
    ExportBackfill.objects.update(status="running", finished_at=None)
    polled = owner.get(url, headers={"HX-Request": "true"})
    assert polled.status_code == 200 and 'hx-trigger="every 2s"' in polled.text


@pytest.mark.parametrize("name", ["export_create", "export_edit", "export_delete", "export_run", "export_backfill"])
def test_a_post_without_csrf_token_is_a_403_when_checks_are_enforced(partner_owner, world, config, name):
    client = Client(enforce_csrf_checks=True)
    client.force_login(partner_owner)
    before = _export_state()
    body = _posts(world, config)[name]
    assert _post(client, _urls_of(config)[name], body).status_code == 403
    assert client.post(_urls_of(config)[name], body, content_type="application/x-www-form-urlencoded",
                       headers={"HX-Request": "true"}).status_code == 403  # fmt: skip
    client.cookies["csrftoken"] = "a" * 32
    wrong = client.post(_urls_of(config)[name], {"csrfmiddlewaretoken": "b" * 32}, headers={"X-CSRFToken": "c" * 32})
    assert wrong.status_code == 403
    assert _export_state() == before


# ---- whose exports -------------------------------------------------------------------------------------------------


def _request(client, urls: dict[str, str], name: str, body: bytes):
    if name in GET_ONLY:
        return [client.get(urls[name])]
    responses = [_post(client, urls[name], body)]
    if name in GET_OR_POST:
        responses.append(client.get(urls[name]))
    return responses


@pytest.mark.parametrize("name", POST_ONLY + GET_ONLY + GET_OR_POST)
def test_another_partners_export_is_a_404_on_every_route_and_nothing_changes(owner, world, config, rival, name):
    urls = _export_urls(rival["connector"], rival["config"], _yesterday(), rival["backfill"].code)
    before = _export_state()
    for response in _request(owner, urls, name, _posts(world, config).get(name, b"")):
        assert response.status_code == 404
    assert _export_state() == before


@pytest.mark.parametrize("name", POST_ONLY + GET_ONLY + ["export_edit"])
def test_another_partners_export_through_ones_own_connector_is_a_404(owner, world, config, rival, name):
    """The own connector's code in the URL, the rival's export code (and backfill code) after it."""
    urls = _export_urls(world[1], rival["config"], _yesterday(), rival["backfill"].code)
    before = _export_state()
    for response in _request(owner, urls, name, _posts(world, config).get(name, b"")):
        assert response.status_code == 404
    assert _export_state() == before


def test_a_backfill_code_of_another_export_is_a_404(owner, world, config, rival, far):
    """Progress of a backfill that belongs to another export of the same connector, of a rival's connector on the
    same project, or of another project: each under the own export's address."""
    second = export_config_make(world, "userbase")
    own_other = export_backfill_request(second, _yesterday(), _yesterday())
    far_backfill = export_backfill_request(far["config"], _yesterday(), _yesterday())
    c, e = world[1].code, config.code
    for code in (own_other.code, rival["backfill"].code, far_backfill.code, uuid.uuid4(), config.code, c):
        url = reverse("connectors:export_backfill_progress", args=[c, e, code])
        assert owner.get(url).status_code == 404
        assert owner.get(url, headers={"HX-Request": "true"}).status_code == 404
    # its own export's address shows it
    own = reverse("connectors:export_backfill_progress", args=[c, second.code, own_other.code])
    assert owner.get(own).status_code == 200


def test_a_backfill_of_another_partners_export_by_its_code_queues_nothing(owner, world, config, rival, far):
    before = _export_state()
    day = _yesterday().isoformat()
    for connector, export in ((rival["connector"], rival["config"]), (world[1], rival["config"]),
                              (far["connector"], far["config"]), (world[1], far["config"])):  # fmt: skip
        url = reverse("connectors:export_backfill", args=[connector.code, export.code])
        assert _post(owner, url, _body(*_days(day, day))).status_code == 404
    assert _export_state() == before


@pytest.mark.parametrize("who", ["privacy_admin", "no_role", "outsider", "partner_without_grant"])
@pytest.mark.parametrize("name", POST_ONLY + GET_ONLY + GET_OR_POST)
def test_a_user_who_may_not_see_exports_gets_a_404_everywhere(client, world, config, far, privacy_admin, who, name):
    users = {
        "privacy_admin": lambda: privacy_admin,
        "no_role": lambda: UserFactory(username="nobody"),
        "outsider": lambda: far["user"],
        "partner_without_grant": lambda: UserFactory.partner_user(partner=world[1].partner, username="ungranted"),
    }
    client.force_login(users[who]())
    before = _export_state()
    for response in _request(client, _urls_of(config), name, _posts(world, config).get(name, b"")):
        assert response.status_code == 404
    assert _export_state() == before


@pytest.mark.parametrize("name", POST_ONLY + GET_ONLY + GET_OR_POST)
def test_a_csm_sees_exports_and_changes_nothing(client, world, config, csm, name):
    client.force_login(csm)
    urls = _urls_of(config)
    before = _export_state()
    if name in GET_ONLY or name == "export_edit":
        assert client.get(urls[name]).status_code == 200
    if name == "export_create":
        assert client.get(urls[name]).status_code == 404
    if name not in GET_ONLY:
        assert _post(client, urls[name], _posts(world, config)[name]).status_code == 404
    assert _export_state() == before


def test_an_anonymous_visitor_is_sent_to_log_in_and_changes_nothing(client, world, config):
    before = _export_state()
    urls = _urls_of(config)
    for name in POST_ONLY + GET_ONLY + GET_OR_POST:
        response = client.get(urls[name]) if name in GET_ONLY else _post(client, urls[name], b"")
        assert response.status_code == 302 and "/login" in response["Location"], name
    assert _export_state() == before


# ---- Run now and backfills racing, paused, deleted -----------------------------------------------------------------


def test_two_backfills_at_once_the_second_is_refused_clearly(owner, world, config, django_capture_on_commit_callbacks):
    url = reverse("connectors:export_backfill", args=[world[1].code, config.code])
    first = _yesterday() - dt.timedelta(days=3)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert _post(owner, url, _body(*_days(first.isoformat()))).status_code == 302
        before = _export_state()
        second = _post(owner, url, _body(*_days(_yesterday().isoformat()), ("force", "on")))
    assert second.status_code == 400 and "A backfill of this export is under way" in second.text
    assert _export_state() == before and len(queued) == 1
    for callback in queued:  # the first one runs; afterwards another may be asked
        callback()
    assert config.backfills.order_by("-pk").first().status == "succeeded"
    assert _post(owner, url, _body(*_days(_yesterday().isoformat()))).status_code == 302


@pytest.mark.django_db(transaction=True)
def test_two_backfills_asked_at_the_same_instant_one_is_refused(world):
    """Two requests in two connections at once (the second insert waits for the first to commit, then meets the
    one-active-backfill index): one backfill, and a BackfillRefused for the other."""
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("two connections writing at once need PostgreSQL")
    config = export_config_make(world, "userbase")
    start = threading.Barrier(2)
    outcomes: list[str] = []

    def ask() -> None:
        try:
            start.wait()
            export_backfill_request(config, _yesterday(), _yesterday())
            outcomes.append("queued")
        except BackfillRefused as refused:
            outcomes.append(str(refused))
        finally:
            connection.close()

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["A backfill of this export is under way: wait for it to finish.", "queued"]
    assert config.backfills.count() == 1


def test_a_resume_while_a_backfill_is_under_way_queues_no_second_one(
    owner, world, config, django_capture_on_commit_callbacks
):
    export_backfill_request(config, _yesterday() - dt.timedelta(days=2), _yesterday())
    failed, _ = export_run_ensure(config, _yesterday() - dt.timedelta(days=5))
    ExportRun.objects.filter(pk=failed.pk).update(status="failed")
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="Paused after 3 failed days", enabled=False)
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = _post(owner, reverse("connectors:export_edit", args=[world[1].code, config.code]),
                         _body(*_valid_export(world, kind="push_events")))  # fmt: skip
    assert response.status_code == 302 and not queued
    assert config.backfills.filter(status__in=["queued", "running"]).count() == 1


def test_run_now_twice_exports_the_day_once(owner, world, config, django_capture_on_commit_callbacks):
    """A double click queues the task twice (a lost first one is queued again so): the claim lets one export it."""
    url = reverse("connectors:export_run", args=[world[1].code, config.code])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert owner.post(url).status_code == 302
        assert owner.post(url).status_code == 302
    assert config.runs.get(day=_yesterday()).status == "queued"
    for callback in queued:
        callback()
    run = config.runs.get(day=_yesterday())
    assert (run.status, run.attempts, run.forced) == ("succeeded", 1, True)
    ExportRun.objects.filter(pk=run.pk).update(status="running", finished_at=None, heartbeat_at=timezone.now())
    assert owner.post(url).status_code == 302
    assert "already running" in owner.get(reverse("connectors:export_edit", args=[world[1].code, config.code])).text


def test_a_backfill_or_run_now_while_the_connector_is_paused_is_refused_clearly(
    owner, world, config, csm, django_capture_on_commit_callbacks
):
    services.connector_pause(actor=csm, connector=world[1], reason="flooding")
    before = _export_state()
    day = _yesterday().isoformat()
    with django_capture_on_commit_callbacks(execute=False) as queued:
        refused = _post(owner, reverse("connectors:export_backfill", args=[world[1].code, config.code]),
                        _body(*_days(day, day)))  # fmt: skip
        assert refused.status_code == 400 and "connector is paused" in refused.text
        run_now = owner.post(reverse("connectors:export_run", args=[world[1].code, config.code]))
        assert run_now.status_code == 400 and "connector is paused" in run_now.text
    assert not queued and _export_state() == before


def test_a_resume_of_a_paused_export_while_the_connector_is_paused_is_refused(
    owner, world, config, csm, django_capture_on_commit_callbacks
):
    """Resume would clear the export's pause and queue a backfill that may not run: refused, nothing lost."""
    failed, _ = export_run_ensure(config, _yesterday() - dt.timedelta(days=3))
    ExportRun.objects.filter(config=config).update(status="failed")
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason="Paused after 3 failed days", consecutive_failures=3)
    services.connector_pause(actor=csm, connector=world[1], reason="flooding")
    before = _export_state()
    url = reverse("connectors:export_edit", args=[world[1].code, config.code])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        refused = _post(owner, url, _body(*_valid_export(world, kind="push_events")))
    assert refused.status_code == 400 and "connector is paused" in refused.text and not queued
    assert _export_state() == before
    services.connector_resume(actor=csm, connector=world[1])
    with django_capture_on_commit_callbacks(execute=False) as queued:
        assert _post(owner, url, _body(*_valid_export(world, kind="push_events"))).status_code == 302
    assert len(queued) == 1 and config.backfills.get(resume=True).first_day == failed.day


def test_work_queued_before_the_connector_was_paused_waits_until_it_is_resumed(world, config, csm):
    """Its jobs wait: the worker leaves the backfill and the run queued (the beat that finds lost tasks asks again
    later), then does them once the connector runs again."""
    backfill = export_backfill_request(config, _yesterday() - dt.timedelta(days=1), _yesterday(), force=True)
    run, _ = export_run_ensure(config, _yesterday() - dt.timedelta(days=5))
    services.connector_pause(actor=csm, connector=world[1], reason="flooding")
    assert export_backfill_run.delay(backfill.pk).get() is None
    assert export_run.delay(run.pk).get() is None
    backfill.refresh_from_db()
    run.refresh_from_db()
    assert (backfill.status, backfill.rows_done, backfill.claimed_by) == ("queued", 0, "")
    assert (run.status, run.attempts) == ("queued", 0)
    services.connector_resume(actor=csm, connector=world[1])
    assert export_backfill_run.delay(backfill.pk).get() == 2
    assert export_run.delay(run.pk).get() == 0
    backfill.refresh_from_db()
    run.refresh_from_db()
    assert (backfill.status, backfill.exported, run.status) == ("succeeded", 2, "succeeded")


def test_an_export_deleted_while_its_backfill_is_queued_ends_the_task_quietly(
    owner, world, config, django_capture_on_commit_callbacks, caplog
):
    c = world[1].code
    with django_capture_on_commit_callbacks(execute=False) as queued:
        backfill_url = reverse("connectors:export_backfill", args=[c, config.code])
        assert _post(owner, backfill_url, _body(*_days((_yesterday() - dt.timedelta(days=2)).isoformat()))
                     ).status_code == 302  # fmt: skip
        ExportRun.objects.update(status="succeeded")
        assert owner.post(reverse("connectors:export_run", args=[c, config.code])).status_code == 302
    backfill_id = config.backfills.get(status="queued").pk
    run_id = config.runs.get(day=_yesterday()).pk
    assert len(queued) == 2
    assert owner.post(reverse("connectors:export_delete", args=[c, config.code])).status_code == 302
    assert not ExportConfig.objects.filter(pk=config.pk).exists()
    for callback in queued:  # the worker picks up the tasks queued before the delete
        callback()
    assert export_backfill_run.delay(backfill_id).get() is None
    assert export_run.delay(run_id).get() is None
    assert not [record for record in caplog.records if record.levelname in ("ERROR", "CRITICAL")]
    assert owner.get(reverse("connectors:export_edit", args=[c, config.code])).status_code == 404


def test_an_export_deleted_while_its_backfill_runs_ends_the_task_quietly(world, config, monkeypatch):
    """The delete lands between two days of a running backfill: the worker stops there, without an error."""
    from batchhub.connectors import exporting

    real = exporting.export_run_complete

    def complete_then_delete(run, *, also=()):
        done = real(run, also=also)
        ExportConfig.objects.filter(pk=run.config_id).delete()
        return done

    monkeypatch.setattr(exporting, "export_run_complete", complete_then_delete)
    backfill = export_backfill_request(config, _yesterday() - dt.timedelta(days=2), _yesterday(), force=True)
    assert export_backfill_run.delay(backfill.pk).get() is None
    assert not ExportBackfill.objects.filter(pk=backfill.pk).exists()


def test_an_export_deleted_while_its_run_is_claimed_ends_the_task_quietly(world, config, monkeypatch):
    from batchhub.connectors import exporting

    real = exporting.export_run_execute

    def delete_then_execute(run, *, also=()):
        ExportConfig.objects.filter(pk=run.config_id).delete()
        return real(run, also=also)

    monkeypatch.setattr(exporting, "export_run_execute", delete_then_execute)
    run, _ = export_run_ensure(config, _yesterday(), forced=True)
    assert export_run.delay(run.pk).get() is None


# ---- what the pages show: names escaped, secrets never -------------------------------------------------------------

INJECTIONS = [SCRIPT, "{{ request.user.password }}{{ 7|add:1 }}", "{% debug %}{% csrf_token %}", "');alert(1);//"]


@pytest.mark.parametrize("injection", INJECTIONS, ids=["script", "variable", "tag", "quote breaker"])
def test_names_on_the_export_pages_are_escaped_and_never_evaluated(client, owner, world, config, csm, injection):
    app, connector, destination, _ = world
    type(app).objects.filter(pk=app.pk).update(name=injection)
    type(connector).objects.filter(pk=connector.pk).update(name=injection)
    type(destination).objects.filter(pk=destination.pk).update(name=injection)
    ExportConfig.objects.filter(pk=config.pk).update(paused_reason=f"Paused: {injection}")
    ExportRun.objects.filter(config=config).update(status="failed", error=f"The server said {injection}",
                                                   error_class="transient", error_code=injection[:40])  # fmt: skip
    ExportBackfill.objects.filter(config=config).update(error=f"Stopped: {injection}", status="failed")
    urls = _urls_of(config)
    pages = [urls[name] for name in ("export_create", "export_edit", *GET_ONLY)]
    pages.append(reverse("connectors:detail", args=[connector.code]))
    staff = Client()
    staff.force_login(csm)
    for who in (owner, staff):
        for url in pages:
            if who is staff and url == urls["export_create"]:
                continue
            for headers in ({}, {"HX-Request": "true"}):
                page = who.get(url, headers=headers)
                assert page.status_code in (200, 286), url
                assert "<script>alert" not in page.text and "');alert" not in page.text, url
                assert "{{ 7|add:1 }}" in page.text or "{{" not in injection, url  # shown as typed, not run
                assert "{% debug %}" in page.text or "{%" not in injection, url
                assert "<pre>{'" not in page.text  # `debug` would dump the context
    if injection == SCRIPT:
        assert SCRIPT_ESCAPED in owner.get(urls["export_edit"]).text


def test_a_destinations_secret_never_shows_on_the_export_pages(owner, client, world, config, csm, settings):
    _, connector, _, _ = world
    ftp = DestinationFactory(connector=connector, name="FTP", kind="ftp",
                             location={"host": "ftp.example.com", "username": "u"},
                             credentials=f'{{"password": "{CANARY}"}}')  # fmt: skip
    ExportConfig.objects.filter(pk=config.pk).update(destination=ftp)
    urls = _urls_of(config)
    staff = Client()
    staff.force_login(csm)
    for who in (owner, staff):
        for name in ("export_edit", *GET_ONLY):
            page = who.get(urls[name])
            assert page.status_code == 200 and CANARY not in page.text and CANARY[-4:] not in page.text, name
    refused = _post(owner, urls["export_backfill"], _body(*_days("0000-00-00")))
    assert refused.status_code == 400 and CANARY not in refused.text
    refused = _post(owner, urls["export_edit"], _body(*_valid_export(world, destination=str(ftp.code), kind="x")))
    assert refused.status_code == 400 and CANARY not in refused.text
