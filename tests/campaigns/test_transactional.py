"""The Transactional API as a partner's server calls it: a send answered at once with its token, applied by a worker
that records each delivery as a raw push event (and so in the daily exports); a draft's content by template_id."""

# The API fixtures are imported here, not from a conftest (tests/campaigns has none): test arguments shadow them.
# ruff: noqa: F811

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from batchhub.campaigns.models import TransactionalSend
from batchhub.connectors.models import PushEvent
from tests.api_client import api, api_app, applied, fresh_rate_limits, other_app  # noqa: F401 (fixtures)
from tests.factories import CampaignFactory, CampaignMessageFactory, InstallationFactory, ProfileFactory

pytestmark = pytest.mark.portable


def _send(api, body, *, version="1.1", path="/transactional/send"):
    return api.app_call("POST", path, body, version=version)


@pytest.fixture
def audience(api_app):
    """alice (opted in, a token), bob (opted out), carol (no token), and dave on another app of the project."""
    alice = InstallationFactory(app=api_app, installation_id="inst-alice", custom_id="alice", push_token="tok-a",
                                push_optin=True)  # fmt: skip
    bob = InstallationFactory(app=api_app, installation_id="inst-bob", custom_id="bob", push_token="tok-b",
                              push_optin=False)  # fmt: skip
    carol = InstallationFactory(app=api_app, installation_id="inst-carol", custom_id="carol", push_token=None,
                                push_optin=True)  # fmt: skip
    return alice, bob, carol


def test_a_send_is_answered_at_once_and_its_deliveries_recorded_as_raw_push_events(api, audience, applied):
    alice, bob, carol = audience
    body = {
        "group_id": "order-shipped",
        "recipients": {"custom_ids": ["alice", "bob", "nobody"], "install_ids": ["inst-carol", "inst-alice"],
                       "tokens": ["tok-a", "tok-unknown"]},
        "message": {"title": "Shipped", "body": "Your order is on its way"},
    }  # fmt: skip
    with applied:
        response = _send(api, body)
    assert response.status_code == 201, response.content
    token = response.json()["token"]
    events = PushEvent.objects.filter(token=token).order_by("installation_id")
    assert [(e.installation_id, e.type, e.source, e.group_id) for e in events] == [
        (alice.pk, "push_sent", "transactional", "order-shipped"),
        (bob.pk, "push_error", "transactional", "order-shipped"),  # opted out
        (carol.pk, "push_error", "transactional", "order-shipped"),  # no token
    ]  # each installation once, however many of its ids were given
    send = TransactionalSend.objects.get(token=token)
    assert (send.recipients, send.sent, send.errors, send.unknown) == (7, 1, 2, 2)


def test_the_worker_applying_a_send_twice_records_it_once(api, audience, applied):
    from batchhub.api.models import ApiCall
    from batchhub.campaigns.sending import transactional_send_apply

    with applied:
        token = _send(api, {"group_id": "g", "recipients": {"custom_ids": ["alice"]}, "message": {"body": "x"}}).json()
    call = ApiCall.objects.get(route="transactional.send")
    call.operations = '[{"group_id": "g", "recipients": {"custom_ids": ["alice"]}, "count": 1, "message": {}}]'
    assert transactional_send_apply(call) == {"recipients": 1, "sent": 1, "errors": 0, "unknown": 0}
    assert PushEvent.objects.filter(token=token["token"]).count() == 1


def test_a_template_gives_its_content_and_the_call_overrides_it(api, audience, applied, monkeypatch):
    from batchhub.campaigns import sending

    draft = CampaignFactory(project=api.app.project, app=api.app, message=None, deeplink="acme://orders",
                            custom_payload='{"kind": "order"}')  # fmt: skip
    CampaignMessageFactory(campaign=draft, language="default", title="Your order", body="It is on its way")
    delivered = []

    class Recording(sending.LocalGateway):
        def deliver(self, message, recipients, *, key):
            delivered.append(message)
            return super().deliver(message, recipients, key=key)

    monkeypatch.setattr(sending, "push_gateway", lambda: Recording())
    with applied:
        response = _send(api, {"group_id": "g", "recipients": {"custom_ids": ["alice"]}, "template_id": draft.token,
                               "message": {"title": "Shipped!"}, "priority": "high"})  # fmt: skip
    assert response.status_code == 201, response.content
    (message,) = delivered
    assert (message["title"], message["body"], message["deeplink"], message["custom_payload"], message["priority"]) == (
        "Shipped!", "It is on its way", "acme://orders", '{"kind": "order"}', "high")  # fmt: skip
    assert TransactionalSend.objects.get().template == draft


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("unknown", "is not a campaign of this project"),
        ("live", "names a live campaign"),
        ("deleted", "names a deleted campaign"),
        ("other project", "is not a campaign of this project"),
    ],
)
def test_a_template_id_that_cannot_be_used_is_a_400_that_says_why(api, other_app, template, message):
    campaigns = {
        "unknown": None,
        "live": CampaignFactory(project=api.app.project, is_live=True),
        "deleted": CampaignFactory(project=api.app.project, deleted_at=timezone.now()),
        "other project": CampaignFactory(project=other_app.project),
    }
    token = campaigns[template].token if campaigns[template] else "0" * 32
    response = _send(api, {"group_id": "g", "recipients": {"custom_ids": ["alice"]}, "template_id": token})
    assert response.status_code == 400 and message in response.json()["message"]
    assert not TransactionalSend.objects.exists()


@pytest.mark.parametrize(
    ("body", "fault"),
    [
        ({"recipients": {"custom_ids": ["a"]}, "message": {"body": "x"}}, "'group_id' is required"),
        ({"group_id": "bad id!", "recipients": {"custom_ids": ["a"]}, "message": {"body": "x"}}, "'group_id'"),
        ({"group_id": "g" * 101, "recipients": {"custom_ids": ["a"]}, "message": {"body": "x"}}, "'group_id'"),
        ({"group_id": "g", "recipients": {}, "message": {"body": "x"}}, "names nobody"),
        ({"group_id": "g", "recipients": {"custom_ids": []}, "message": {"body": "x"}}, "names nobody"),
        ({"group_id": "g", "message": {"body": "x"}}, "'recipients' is required"),
        (
            {
                "group_id": "g",
                "recipients": {
                    "custom_ids": [f"u{n}" for n in range(5001)],
                    "install_ids": [f"i{n}" for n in range(5000)],
                },
                "message": {"body": "x"},
            },
            "10,001",
        ),
        ({"group_id": "g", "recipients": {"emails": ["a"]}, "message": {"body": "x"}}, "'recipients'"),
        ({"group_id": "g", "recipients": {"custom_ids": [1]}, "message": {"body": "x"}}, "recipients.custom_ids[0]"),
        ({"group_id": "g", "recipients": {"custom_ids": ["a"]}}, "'message' is required"),
        ({"group_id": "g", "recipients": {"custom_ids": ["a"]}, "message": {"title": "t"}}, "'message.body'"),
        (
            {"group_id": "g", "recipients": {"custom_ids": ["a"]}, "message": {"body": "x"}, "custom_payload": "[1]"},
            "'custom_payload'",
        ),
        (
            {"group_id": "g", "recipients": {"custom_ids": ["a"]}, "message": {"body": "x"}, "time_to_live": -1},
            "'time_to_live'",
        ),
        (
            {"group_id": "g", "recipients": {"custom_ids": ["a"]}, "message": {"body": "x"}, "surprise": 1},
            "Unknown key 'surprise'",
        ),
    ],
)
def test_every_bad_send_is_a_400_naming_its_fault_and_records_nothing(api, body, fault):
    response = _send(api, body)
    assert response.status_code == 400, response.content
    assert fault in response.json()["message"]
    assert not TransactionalSend.objects.exists() and not PushEvent.objects.exists()


def test_exactly_10000_recipients_and_version_1_0_and_a_trailing_slash_are_accepted(api):
    ids = [f"u{n}" for n in range(10_000)]
    for version, path in (("1.1", "/transactional/send"), ("1.0", "/transactional/send/")):
        response = _send(api, {"group_id": "g", "recipients": {"custom_ids": ids}, "message": {"body": "x"}},
                         version=version, path=path)  # fmt: skip
        assert response.status_code == 201, response.content


def test_a_groups_stats_count_sent_opened_and_errors_per_day(api, audience, applied):
    alice, _, _ = audience
    with applied:
        _send(api, {"group_id": "digest", "recipients": {"custom_ids": ["alice", "bob"]}, "message": {"body": "x"}})
    PushEvent.objects.create(app=api.app, installation=alice, custom_id="alice", type="push_opened",
                             source="transactional", group_id="digest", token="t",
                             occurred_at=timezone.now())  # fmt: skip
    response = api.app_call("GET", "/transactional/stats/digest", version="1.1")
    today = timezone.now().astimezone(dt.UTC).date().isoformat()
    assert response.status_code == 200
    assert response.json() == {"group_id": "digest", "detail": [{"date": today, "sent": 1, "open": 1, "errors": 1}]}
    assert api.app_call("GET", "/transactional/stats/bad%20id", version="1.1").status_code == 400


def test_sends_appear_in_the_daily_push_export(api, audience, applied, settings, tmp_path):
    from batchhub.connectors.exporting import export_run_ensure, export_run_execute
    from batchhub.connectors.models import ExportConfig, ExportRun
    from batchhub.core.jobs.runs import run_claim
    from tests.factories import ConnectorFactory, DestinationFactory

    settings.STORAGE_LOCAL_ROOT = tmp_path
    with applied:
        token = _send(api, {"group_id": "order-shipped", "recipients": {"custom_ids": ["alice"]},
                            "message": {"body": "x"}}).json()["token"]  # fmt: skip
    connector = ConnectorFactory(project=api.app.project)
    config = ExportConfig.objects.create(connector=connector, app=api.app, kind="push_events",
                                         destination=DestinationFactory(connector=connector))  # fmt: skip
    today = timezone.now().astimezone(dt.UTC).date()
    run = export_run_execute(run_claim(ExportRun, export_run_ensure(config, today)[0].pk, claimer="test"))
    written = next((tmp_path / "exports").rglob(run.file_name)).read_text()
    assert f";push_sent;transactional;{token};order-shipped\n" in written and written.startswith("alice;inst-alice;")


@pytest.mark.parametrize(
    ("template", "fault"),
    [("email", "a transactional send is a push"), ("empty", "names a draft with no message")],
)
def test_a_template_that_is_not_a_push_or_has_no_message_is_refused(api, template, fault):
    kwargs = {"channel": "email"} if template == "email" else {"message": None}
    draft = CampaignFactory(project=api.app.project, **kwargs)
    response = _send(api, {"group_id": "g", "recipients": {"custom_ids": ["a"]}, "template_id": draft.token})
    assert response.status_code == 400 and fault in response.json()["message"]


@pytest.mark.parametrize("payload", ['{"a": NaN}', '{"a": Infinity}', '{"a": "\\ud800"}'])
def test_a_custom_payload_a_gateway_could_not_send_is_refused_at_the_edge(api, payload):
    response = _send(api, {"group_id": "g", "recipients": {"custom_ids": ["a"]}, "message": {"body": "x"},
                           "custom_payload": payload})  # fmt: skip
    assert response.status_code == 400 and "'custom_payload'" in response.json()["message"]


@pytest.fixture
def recording(monkeypatch):
    """The push gateway's deliveries, as (language, title, body, installation_ids) in the order made."""
    from batchhub.campaigns import sending

    deliveries = []

    class Recording(sending.LocalGateway):
        def deliver(self, message, recipients, *, key):
            deliveries.append((message["language"], message["title"], message["body"],
                               sorted(r.pk for r in recipients)))  # fmt: skip
            return super().deliver(message, recipients, key=key)

    monkeypatch.setattr(sending, "push_gateway", lambda: Recording())
    return deliveries


@pytest.fixture
def polyglots(api_app):
    """Opted-in installations whose profiles read fr, en, "fr-CA", de (no message in it), none, and one without a
    profile; every one has a custom id equal to its name."""
    languages = {"fr": "fr", "en": "en", "quebec": "fr-CA", "de": "de", "blank": ""}
    installations = {}
    for name, language in languages.items():
        profile = ProfileFactory(project=api_app.project, custom_id=name, language=language)
        installations[name] = InstallationFactory(app=api_app, custom_id=name, profile=profile,
                                                  push_token=f"tok-{name}", push_optin=True)  # fmt: skip
    installations["anonymous"] = InstallationFactory(app=api_app, custom_id="anonymous", push_token="tok-anon",
                                                     push_optin=True)  # fmt: skip
    return installations


def _draft(api, messages):
    draft = CampaignFactory(project=api.app.project, app=api.app, message=None)
    for language, title, body in messages:
        CampaignMessageFactory(campaign=draft, language=language, title=title, body=body)
    return draft


def test_each_recipient_gets_the_template_in_its_profiles_language_else_the_default(api, polyglots, recording, applied):
    draft = _draft(api, [("default", "Hello", "Your order"), ("en", "Hi", "Your order shipped"),
                         ("fr", "Bonjour", "Votre commande")])  # fmt: skip
    with applied:
        response = _send(api, {"group_id": "g", "recipients": {"custom_ids": list(polyglots)},
                               "template_id": draft.token})  # fmt: skip
    assert response.status_code == 201, response.content
    pk = {name: installation.pk for name, installation in polyglots.items()}
    assert recording == [
        ("default", "Hello", "Your order", sorted([pk["de"], pk["blank"], pk["anonymous"]])),
        ("en", "Hi", "Your order shipped", [pk["en"]]),
        ("fr", "Bonjour", "Votre commande", sorted([pk["fr"], pk["quebec"]])),
    ]
    events = PushEvent.objects.filter(token=response.json()["token"])
    assert events.count() == 6 and set(events.values_list("type", flat=True)) == {"push_sent"}
    assert TransactionalSend.objects.get().sent == 6


def test_a_send_applied_again_delivers_with_the_same_key_whatever_the_languages_now(
    api, polyglots, applied, monkeypatch
):
    """A worker that dies after the first language's delivery leaves the send to be applied again, and a recipient's
    language may have changed meanwhile: every delivery of the send carries its token, so a gateway that delivers
    once per key and recipient reaches nobody twice."""
    from batchhub.api.models import ApiCall
    from batchhub.campaigns import sending

    draft = _draft(api, [("default", "Hello", "Your order"), ("fr", "Bonjour", "Votre commande")])
    deliveries, reached = [], set()

    class OncePerKeyDiesAfterTheFirst(sending.LocalGateway):
        def deliver(self, message, recipients, *, key):
            deliveries.append((message["language"], key, sorted(r.pk for r in recipients)))
            if len(deliveries) == 2:
                raise SystemExit("the worker died")
            reached.update((key, r.pk) for r in recipients)
            return super().deliver(message, recipients, key=key)

    monkeypatch.setattr(sending, "push_gateway", lambda: OncePerKeyDiesAfterTheFirst())
    with pytest.raises(SystemExit), applied:
        _send(api, {"group_id": "g", "recipients": {"custom_ids": ["fr", "en"]}, "template_id": draft.token})
    assert not PushEvent.objects.exists()
    polyglots["en"].profile.language = "fr"  # between the two attempts
    polyglots["en"].profile.save(update_fields=["language"])
    call = ApiCall.objects.get(route="transactional.send")
    sending.transactional_send_apply(call)  # the redelivery
    pk = {name: polyglots[name].pk for name in ("en", "fr")}
    assert deliveries == [
        ("default", str(call.token), [pk["en"]]),
        ("fr", str(call.token), [pk["fr"]]),  # died here
        ("fr", str(call.token), sorted([pk["en"], pk["fr"]])),  # "en" reads French now: same key, known to the gateway
    ]
    assert (str(call.token), pk["en"]) in reached
    assert PushEvent.objects.filter(token=str(call.token), type="push_sent").count() == 2


def test_without_a_default_message_the_first_language_is_the_fallback(api, polyglots, recording, applied):
    draft = _draft(api, [("fr", "Bonjour", "Votre commande"), ("en", "Hi", "Your order")])
    with applied:
        _send(api, {"group_id": "g", "recipients": {"custom_ids": ["fr", "de", "anonymous"]},
                    "template_id": draft.token})  # fmt: skip
    assert [(language, title, recipients) for language, title, _, recipients in recording] == [
        ("en", "Hi", sorted([polyglots["de"].pk, polyglots["anonymous"].pk])),  # "en" < "fr"
        ("fr", "Bonjour", [polyglots["fr"].pk]),
    ]


def test_the_calls_message_overrides_the_template_in_every_language(api, polyglots, recording, applied):
    draft = _draft(api, [("default", "Hello", "Your order"), ("fr", "Bonjour", "Votre commande")])
    with applied:
        _send(api, {"group_id": "g", "recipients": {"custom_ids": ["fr", "en"]}, "template_id": draft.token,
                    "message": {"title": "Expédié / Shipped"}})  # fmt: skip
    assert [(language, title, body) for language, title, body, _ in recording] == [
        ("default", "Expédié / Shipped", "Your order"),
        ("fr", "Expédié / Shipped", "Votre commande"),
    ]
    recording.clear()
    with applied:  # title and body given: one message for everyone, whatever their language
        _send(api, {"group_id": "g", "recipients": {"custom_ids": ["fr", "en"]}, "template_id": draft.token,
                    "message": {"title": "T", "body": "B"}})  # fmt: skip
    assert recording == [("default", "T", "B", sorted([polyglots["fr"].pk, polyglots["en"].pk]))]


def test_the_worker_sends_every_language_as_it_was_when_the_call_was_made(api, polyglots, recording):
    from batchhub.api.tasks import api_calls_apply

    draft = _draft(api, [("default", "Hello", "Your order"), ("fr", "Bonjour", "Votre commande")])
    response = _send(api, {"group_id": "g", "recipients": {"custom_ids": ["fr", "en"]}, "template_id": draft.token})
    assert response.status_code == 201  # not applied yet: no commit hook ran
    draft.messages.filter(language="fr").update(body="Changé après l'appel")
    draft.messages.filter(language="default").delete()
    draft.deleted_at = timezone.now()
    draft.save()
    api_calls_apply(api.app.project_id)
    assert [(language, body) for language, _, body, _ in recording] == [
        ("default", "Your order"),
        ("fr", "Votre commande"),
    ]


def test_recipients_and_their_languages_are_resolved_in_one_query(api, polyglots, django_assert_num_queries):
    from batchhub.campaigns.sending import recipients_resolve

    ids = {"custom_ids": ["fr", "quebec", "blank", "nobody"], "tokens": ["tok-anon", "tok-en"]}
    with django_assert_num_queries(1):
        recipients, unknown = recipients_resolve(api.app.pk, ids, with_language=True)
    assert {r.custom_id: r.language for r in recipients} == {
        "fr": "fr", "quebec": "fr", "blank": "", "anonymous": "", "en": "en"
    }  # fmt: skip
    assert unknown == 1
