"""Hostile input thrown at every connector form and view, and at the REST API with connectors' keys.

The product's rules: bad input gets a clear 4xx and loses nothing; no input reaches a 500; a partner sees and
changes only its own connectors and what they carry; secrets are never shown in full after creation, never logged.
Each test asserts the status code and, when the input is refused, that no row was created or changed.
The faults these tests found were fixed; they stay as regression tests.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import quote

import pytest
from django.test import Client
from django.urls import reverse

from batchhub.api.models import ApiCall
from batchhub.connectors import services
from batchhub.connectors.models import Connector, ConnectorKey, Destination, Source
from batchhub.core.models import AuditEvent
from tests.factories import (
    AppFactory,
    ConnectorFactory,
    ConnectorKeyFactory,
    DestinationFactory,
    GrantFactory,
    PartnerFactory,
    ProjectFactory,
    SourceFactory,
    UserFactory,
)

pytestmark = pytest.mark.portable

FORM = "application/x-www-form-urlencoded"
SURROGATE = b"\xed\xa0\x80"  # a lone UTF-16 surrogate (U+D800) as a browser could send its UTF-8-ish bytes
BIG = "x" * 100_000
SCRIPT = '<script>alert("pwn")</script>'
SCRIPT_ESCAPED = "&lt;script&gt;alert(&quot;pwn&quot;)&lt;/script&gt;"


def _body(*pairs: tuple[str | bytes, str | bytes]) -> bytes:
    """A urlencoded body; bytes are sent raw (not percent-encoded), str values percent-encoded."""
    out = []
    for key, value in pairs:
        key = key if isinstance(key, bytes) else quote(key, safe="").encode()
        value = value if isinstance(value, bytes) else quote(value, safe="").encode()
        out.append(key + b"=" + value)
    return b"&".join(out)


def _post(client, url: str, body: bytes):
    return client.post(url, body, content_type=FORM)


def _state():
    """What a refused request must leave as it was: every row of the connector app, and the audit log."""
    return (
        list(Connector.objects.order_by("pk").values("pk", "name", "kind", "features", "status", "paused_reason")),
        list(ConnectorKey.objects.order_by("pk").values("pk", "name", "revoked_at", "expires_at", "rotated_to")),
        list(Destination.objects.order_by("pk").values("pk", "name", "kind", "location", "credentials")),
        list(Source.objects.order_by("pk").values("pk", "name", "kind", "location", "credentials", "pattern")),
        AuditEvent.objects.count(),
    )


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@pytest.fixture
def storage_root(settings, tmp_path):
    settings.STORAGE_LOCAL_ROOT = tmp_path
    return tmp_path


@pytest.fixture
def connector(project, partner):
    return ConnectorFactory(project=project, partner=partner, name="CRM sync", features=["custom_data"])


@pytest.fixture
def rival(project):
    """Another partner granted the same project, with its own connector, key, destination and source."""
    rival = PartnerFactory(name="Competitor Inc")
    GrantFactory(project=project, partner=rival)
    connector = ConnectorFactory(project=project, partner=rival, name="Rival sync")
    return {
        "partner": rival,
        "connector": connector,
        "key": ConnectorKeyFactory(connector=connector, name="rival key"),
        "destination": DestinationFactory(connector=connector, name="Rival dest"),
        "source": SourceFactory(connector=connector, name="Rival source"),
    }


@pytest.fixture
def owner(client, partner_user):
    client.force_login(partner_user)
    return client


# ---- the connector's own form: create and edit ----------------------------------------------------------------

VALID = [("name", "CRM sync 2"), ("kind", "cdp_dmp"), ("features", "custom_data")]

HOSTILE_CONNECTOR_BODIES = {
    "nul in name": [("name", "CRM\x00sync"), ("kind", "cdp_dmp")],
    "control char in name": [("name", "CRM\x1bsync"), ("kind", "cdp_dmp")],
    "100 kB name": [("name", BIG), ("kind", "cdp_dmp")],
    "121-char name": [("name", "n" * 121), ("kind", "cdp_dmp")],
    "blank name": [("name", "   "), ("kind", "cdp_dmp")],
    "unknown kind": [("name", "X"), ("kind", "spyware")],
    "nul in kind": [("name", "X"), ("kind", "cdp_dmp\x00")],
    "100 kB kind": [("name", "X"), ("kind", BIG)],
    "no kind": [("name", "X")],
    "unknown feature": [("name", "X"), ("kind", "cdp_dmp"), ("features", "mind_control")],
    "feature list as a string": [("name", "X"), ("kind", "cdp_dmp"), ("features", "custom_data,gdpr")],
    "feature list as JSON": [("name", "X"), ("kind", "cdp_dmp"), ("features", '["custom_data"]')],
    "nul in feature": [("name", "X"), ("kind", "cdp_dmp"), ("features", "gdpr\x00")],
    "100 kB feature": [("name", "X"), ("kind", "cdp_dmp"), ("features", BIG)],
    "field names with NUL": [("na\x00me", "X"), ("ki\x00nd", "cdp_dmp")],
    "surrogate in kind": [("name", "X"), ("kind", b"cdp_dmp" + SURROGATE)],
    "surrogate in feature": [("name", "X"), ("kind", "cdp_dmp"), ("features", b"gdpr" + SURROGATE)],
    "empty body": [],
}


@pytest.mark.parametrize("pairs", HOSTILE_CONNECTOR_BODIES.values(), ids=HOSTILE_CONNECTOR_BODIES.keys())
def test_hostile_connector_create_is_a_400_and_creates_nothing(owner, project, connector, pairs):
    project_pair = [] if not pairs else [("project", str(project.code))]
    before = _state()
    response = _post(owner, reverse("connectors:create"), _body(*project_pair, *pairs))
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize("pairs", HOSTILE_CONNECTOR_BODIES.values(), ids=HOSTILE_CONNECTOR_BODIES.keys())
def test_hostile_connector_edit_is_a_400_and_changes_nothing(owner, connector, pairs):
    before = _state()
    response = _post(owner, reverse("connectors:edit", args=[connector.code]), _body(*pairs))
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize(
    "project_value",
    ["not-a-uuid", "", "\x00", BIG, "00000000-0000-0000-0000-000000000000", "other"],
    ids=["not a uuid", "blank", "nul", "100 kB", "zero uuid", "another partner's project"],
)
def test_a_connector_on_a_project_not_granted_is_a_400(owner, other_project, project_value):
    value = str(other_project.code) if project_value == "other" else project_value
    before = _state()
    response = _post(owner, reverse("connectors:create"), _body(("project", value), *VALID))
    assert response.status_code == 400
    assert _state() == before


def test_a_lone_surrogate_in_a_name_never_reaches_the_database_as_one(owner, project, connector):
    """Invalid UTF-8 is decoded with replacement characters: saved as such (302) or refused (400), never a 500."""
    response = _post(
        owner,
        reverse("connectors:create"),
        _body(("project", str(project.code)), ("name", b"CRM" + SURROGATE), ("kind", "cdp_dmp")),
    )
    assert response.status_code in (302, 400)
    assert all(_encodable(name) for name in Connector.objects.values_list("name", flat=True))
    response = _post(
        owner,
        reverse("connectors:edit", args=[connector.code]),
        _body(("name", b"\xff\xfe" + SURROGATE), ("kind", "cdp_dmp")),
    )
    assert response.status_code in (302, 400)
    connector.refresh_from_db()
    assert _encodable(connector.name)


def test_a_120_character_name_is_the_longest_accepted(owner, project):
    response = _post(
        owner,
        reverse("connectors:create"),
        _body(("project", str(project.code)), ("name", "n" * 120), ("kind", "cdp_dmp")),
    )
    assert response.status_code == 302
    assert Connector.objects.get().name == "n" * 120


def test_duplicate_features_are_stored_once(owner, project):
    response = _post(
        owner,
        reverse("connectors:create"),
        _body(
            ("project", str(project.code)),
            ("name", "Dup"),
            ("kind", "cdp_dmp"),
            ("features", "gdpr"),
            ("features", "gdpr"),
            ("features", "custom_data"),
            ("features", "gdpr"),
        ),
    )
    assert response.status_code == 302
    assert Connector.objects.get().features == ["custom_data", "gdpr"]


def test_a_kind_switched_between_posts_is_an_audited_change(owner, connector):
    url = reverse("connectors:edit", args=[connector.code])
    assert _post(owner, url, _body(("name", "CRM sync"), ("kind", "location"))).status_code == 302
    assert _post(owner, url, _body(("name", "CRM sync"), ("kind", "analytics_attribution"))).status_code == 302
    connector.refresh_from_db()
    assert connector.kind == "analytics_attribution" and connector.features == []
    assert AuditEvent.objects.filter(action="connector.update", object_code=str(connector.code)).count() == 2


def test_a_duplicate_name_differing_only_by_spaces_is_a_400(owner, project, connector):
    before = _state()
    response = _post(
        owner,
        reverse("connectors:create"),
        _body(("project", str(project.code)), ("name", "  CRM sync  "), ("kind", "cdp_dmp")),
    )
    assert response.status_code == 400
    assert _state() == before


# ---- methods, addresses, CSRF --------------------------------------------------------------------------------


def _all_urls(connector, key, destination, source) -> dict[str, str]:
    c = connector.code
    return {
        "list": reverse("connectors:list"),
        "create": reverse("connectors:create"),
        "detail": reverse("connectors:detail", args=[c]),
        "edit": reverse("connectors:edit", args=[c]),
        "pause": reverse("connectors:pause", args=[c]),
        "resume": reverse("connectors:resume", args=[c]),
        "delete": reverse("connectors:delete", args=[c]),
        "key_create": reverse("connectors:key_create", args=[c]),
        "key_rotate": reverse("connectors:key_rotate", args=[c, key.code]),
        "key_revoke": reverse("connectors:key_revoke", args=[c, key.code]),
        "panel": reverse("connectors:panel", args=[connector.project.code]),
        "destination_create": reverse("connectors:destination_create", args=[c]),
        "destination_edit": reverse("connectors:destination_edit", args=[c, destination.code]),
        "destination_test": reverse("connectors:destination_test", args=[c, destination.code]),
        "destination_delete": reverse("connectors:destination_delete", args=[c, destination.code]),
        "source_create": reverse("connectors:source_create", args=[c]),
        "source_edit": reverse("connectors:source_edit", args=[c, source.code]),
        "source_test": reverse("connectors:source_test", args=[c, source.code]),
        "source_delete": reverse("connectors:source_delete", args=[c, source.code]),
    }


POST_ONLY = [
    "pause",
    "resume",
    "key_create",
    "key_rotate",
    "key_revoke",
    "destination_delete",
    "source_delete",
]
GET_ONLY = ["list", "detail", "panel"]
GET_OR_POST = [
    "create", "edit", "delete", "destination_create", "destination_edit", "source_create", "source_edit",
    "destination_test", "source_test",  # POST asks for a Test, GET polls for its result
]  # fmt: skip


@pytest.fixture
def world(connector, storage_root):
    key = ConnectorKeyFactory(connector=connector, name="production")
    destination = DestinationFactory(connector=connector, name="Dest", location={"path": "daily"})
    source = SourceFactory(connector=connector, name="Src", location={"path": "drop"})
    return {
        "connector": connector,
        "key": key,
        "destination": destination,
        "source": source,
        "urls": _all_urls(connector, key, destination, source),
    }


@pytest.mark.parametrize("name", POST_ONLY)
def test_get_on_a_post_only_route_is_a_405_and_changes_nothing(owner, world, name):
    before = _state()
    assert owner.get(world["urls"][name]).status_code == 405
    assert owner.head(world["urls"][name]).status_code == 405
    assert _state() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
@pytest.mark.parametrize("name", POST_ONLY + GET_ONLY + GET_OR_POST)
def test_other_methods_are_a_405_and_change_nothing(owner, world, name, method):
    before = _state()
    response = getattr(owner, method)(world["urls"][name], _body(("name", "x")), content_type=FORM)
    assert response.status_code == 405
    assert _state() == before


@pytest.mark.parametrize("name", GET_ONLY)
def test_post_on_a_get_only_route_is_a_405(owner, world, name):
    before = _state()
    assert _post(owner, world["urls"][name], _body(("name", "x"))).status_code == 405
    assert _state() == before


@pytest.mark.parametrize(
    "path",
    [
        "/connectors/not-a-uuid/",
        "/connectors/not-a-uuid/edit/",
        "/connectors/%00/pause/",
        "/connectors/12345/delete/",
        "/connectors/{c}/keys/not-a-uuid/rotate/",
        "/connectors/{c}/keys/%ED%A0%80/revoke/",
        "/connectors/{c}/destinations/not-a-uuid/",
        "/connectors/{c}/destinations/../../test/",
        "/connectors/{c}/sources/{x}/test/",
        "/connectors/{C}/",  # upper-case hex: not the code's form
        "/projects/not-a-uuid/connectors/",
        "/connectors/{c}" + "0" * 5000 + "/",
    ],
)
@pytest.mark.parametrize("method", ["get", "post"])
def test_a_mangled_code_in_the_url_is_a_404(owner, world, path, method):
    c = str(world["connector"].code)
    url = path.format(c=c, C=c.upper(), x="x" * 36)
    before = _state()
    response = getattr(owner, method)(url)
    assert response.status_code in ((400, 404, 405) if method == "get" else (400, 404))  # a NUL in a path: 400
    assert _state() == before


def test_a_code_that_exists_nowhere_is_a_404_on_every_route(owner, world):
    import uuid

    ghost = uuid.uuid4()
    before = _state()
    for name, url in world["urls"].items():
        if str(world["connector"].code) not in url:
            continue
        url = url.replace(str(world["connector"].code), str(ghost))
        response = owner.get(url) if name not in POST_ONLY else owner.post(url)
        assert response.status_code == 404, name
    for kind in ("key", "destination", "source"):
        code = str(world[kind].code)
        for name, url in world["urls"].items():
            if code in url:
                url = url.replace(code, str(ghost))
                response = owner.get(url) if name not in POST_ONLY else owner.post(url)
                assert response.status_code == 404, name
    assert _state() == before


POSTS = {
    "create": lambda w, p: _body(("project", str(p.code)), *VALID),
    "edit": lambda w, p: _body(("name", "Renamed"), ("kind", "cdp_dmp")),
    "pause": lambda w, p: _body(("reason", "x")),
    "delete": lambda w, p: b"",
    "key_create": lambda w, p: _body(("name", "sneaky")),
    "key_rotate": lambda w, p: _body(("overlap_hours", "0")),
    "key_revoke": lambda w, p: b"",
    "destination_create": lambda w, p: _body(("kind", "local"), ("name", "New")),
    "destination_edit": lambda w, p: _body(("kind", "local"), ("name", "Renamed")),
    "destination_delete": lambda w, p: b"",
    "destination_test": lambda w, p: b"",
    "source_create": lambda w, p: _body(("kind", "local"), ("name", "New"), ("pattern", "*")),
    "source_edit": lambda w, p: _body(("kind", "local"), ("name", "Renamed"), ("pattern", "*")),
    "source_delete": lambda w, p: b"",
    "source_test": lambda w, p: b"",
}


@pytest.mark.parametrize("name", [*POSTS, "resume"])
def test_a_post_without_csrf_token_is_a_403_when_checks_are_enforced(partner_user, world, project, name):
    if name == "resume":
        services.connector_pause(actor=partner_user, connector=world["connector"], reason="before")
    client = Client(enforce_csrf_checks=True)
    client.force_login(partner_user)
    before = _state()
    tested_before = Destination.objects.values_list("last_tested_at", flat=True).get()
    response = _post(client, world["urls"][name], POSTS.get(name, lambda w, p: b"")(world, project))
    assert response.status_code == 403
    assert _state() == before
    assert Destination.objects.values_list("last_tested_at", flat=True).get() == tested_before
    # a wrong token is no better than none
    client.cookies["csrftoken"] = "a" * 32
    response = client.post(world["urls"][name], {"csrfmiddlewaretoken": "b" * 32}, headers={"X-CSRFToken": "c" * 32})
    assert response.status_code == 403
    assert _state() == before


# ---- other partners' objects ---------------------------------------------------------------------------------


def test_another_partners_connector_is_a_404_on_every_route_and_nothing_changes(owner, world, rival, project):
    urls = _all_urls(rival["connector"], rival["key"], rival["destination"], rival["source"])
    before = _state()
    for name, url in urls.items():
        if name in ("list", "create", "panel"):
            continue
        body = POSTS.get(name, lambda w, p: b"")(world, project)
        if name not in POST_ONLY:
            assert owner.get(url).status_code == 404, name
        if name not in GET_ONLY:
            assert _post(owner, url, body).status_code == 404, name
    assert _state() == before
    rival["destination"].refresh_from_db()
    assert rival["destination"].last_tested_at is None


def test_another_partners_key_or_storage_is_a_404_through_ones_own_connector(owner, world, rival, project):
    """The own connector's code in the URL, the rival's key, destination or source code after it."""
    mine = world["connector"].code
    urls = {
        "key_rotate": reverse("connectors:key_rotate", args=[mine, rival["key"].code]),
        "key_revoke": reverse("connectors:key_revoke", args=[mine, rival["key"].code]),
        "destination_edit": reverse("connectors:destination_edit", args=[mine, rival["destination"].code]),
        "destination_test": reverse("connectors:destination_test", args=[mine, rival["destination"].code]),
        "destination_delete": reverse("connectors:destination_delete", args=[mine, rival["destination"].code]),
        "source_edit": reverse("connectors:source_edit", args=[mine, rival["source"].code]),
        "source_test": reverse("connectors:source_test", args=[mine, rival["source"].code]),
        "source_delete": reverse("connectors:source_delete", args=[mine, rival["source"].code]),
        # a destination's code given as a source, and the reverse
        "source_as_destination": reverse("connectors:destination_edit", args=[mine, world["source"].code]),
        "destination_as_source": reverse("connectors:source_test", args=[mine, world["destination"].code]),
    }
    before = _state()
    for name, url in urls.items():
        assert _post(owner, url, POSTS.get(name, lambda w, p: b"")(world, project)).status_code == 404, name
    assert _state() == before


def test_a_partner_cannot_create_a_connector_for_another_partner_by_naming_it(owner, project, rival):
    response = _post(
        owner,
        reverse("connectors:create"),
        _body(
            ("project", str(project.code)),
            ("partner", str(rival["partner"].code)),
            ("partner_id", str(rival["partner"].pk)),
            *VALID,
        ),
    )
    assert response.status_code == 302
    created = Connector.objects.get(name="CRM sync 2")
    assert created.partner_id != rival["partner"].pk
    assert created.partner.name == "Pushwave"


def test_staff_may_pause_but_not_configure(client, csm, privacy_admin, world, project):
    for user, may_pause in ((csm, True), (privacy_admin, False)):
        client.force_login(user)
        before = _state()
        for name in (
            "edit",
            "delete",
            "key_create",
            "key_rotate",
            "key_revoke",
            "destination_create",
            "destination_edit",
            "destination_test",
            "destination_delete",
            "source_edit",
            "source_delete",
        ):
            assert _post(client, world["urls"][name], POSTS[name](world, project)).status_code == 404, name
        assert _state() == before
        response = _post(client, world["urls"]["pause"], _body(("reason", "x")))
        assert response.status_code == (302 if may_pause else 404)


def test_the_list_filters_ignore_hostile_codes(owner, world, rival):
    for query in (
        {"partner": "\x00"},
        {"project": BIG},
        {"partner": str(rival["partner"].code)},
        {"partner": "' OR 1=1 --"},
        {"project": "%ED%A0%80"},
    ):
        response = owner.get(reverse("connectors:list"), query)
        assert response.status_code in (200, 400)
        assert "Rival sync" not in response.text
    raw = owner.get(reverse("connectors:list") + "?partner=%ED%A0%80&project=%00")
    assert raw.status_code in (200, 400)


# ---- keys ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        _body(("name", "a\x00b")),
        _body(("name", "k" * 81)),
        _body(("name", BIG)),
        _body(("name", "   ")),
        b"",
        _body(("na\x00me", "x")),
    ],
    ids=["nul", "81 chars", "100 kB", "blank", "empty body", "field name with nul"],
)
def test_a_hostile_key_name_creates_no_key(owner, world, body):
    before = _state()
    response = _post(owner, world["urls"]["key_create"], body)
    assert response.status_code in (302, 400)
    assert _state() == before
    if response.status_code == 302:
        assert "Give the key a name" in owner.get(response["Location"]).text


@pytest.mark.parametrize(
    "hours", ["9" * 400, "-1", "1e3", "2.5", "\x00", "", BIG, "99999"], ids=lambda value: repr(value[:8])
)
def test_a_hostile_rotation_overlap_rotates_nothing(owner, world, hours):
    before = _state()
    response = _post(owner, world["urls"]["key_rotate"], _body(("overlap_hours", hours)))
    assert response.status_code in (302, 400)
    assert _state() == before


def test_rotating_twice_or_revoking_a_revoked_key_changes_nothing_more(owner, world):
    assert _post(owner, world["urls"]["key_rotate"], _body(("overlap_hours", "2"))).status_code == 302
    before = _state()
    assert _post(owner, world["urls"]["key_rotate"], _body(("overlap_hours", "2"))).status_code == 302
    assert _state() == before
    assert _post(owner, world["urls"]["key_revoke"], b"").status_code == 302
    before = _state()
    assert _post(owner, world["urls"]["key_revoke"], b"").status_code == 302
    assert _state() == before


@pytest.mark.parametrize("reason", ["a\x00b", "r" * 301, BIG], ids=["nul", "301 chars", "100 kB"])
def test_a_hostile_pause_reason_pauses_nothing(owner, world, reason):
    before = _state()
    response = _post(owner, world["urls"]["pause"], _body(("reason", reason)))
    assert response.status_code == 400
    assert _state() == before


def test_a_hostile_pause_reason_never_reaches_a_500_nor_the_database(owner, world, partner_user):
    for reason in ("a\x00b", BIG, b"x" + SURROGATE):
        services.connector_resume(actor=partner_user, connector=world["connector"])
        response = _post(owner, world["urls"]["pause"], _body(("reason", reason)))
        assert response.status_code in (302, 400)
        world["connector"].refresh_from_db()
        assert "\x00" not in world["connector"].paused_reason and len(world["connector"].paused_reason) <= 300


# ---- destinations and sources --------------------------------------------------------------------------------

FTP = [("kind", "ftp"), ("name", "FTP"), ("host", "ftp.example.com"), ("username", "u"), ("password", "p")]
S3 = [("kind", "s3"), ("name", "S3"), ("bucket", "ok-bucket"), ("access_key_id", "AKIA"), ("secret_access_key", "s")]
HTTP = [("kind", "http"), ("name", "Feed"), ("url", "https://files.example.com/a.csv"), ("pattern", "*")]


def _with(base: list, **changes) -> list:
    """`base` with some fields replaced (None: removed)."""
    replaced = [(key, changes.pop(key)) if key in changes else (key, value) for key, value in base]
    return [(k, v) for k, v in replaced if v is not None] + [(k, v) for k, v in changes.items() if v is not None]


HOSTILE_STORAGE = {
    # ports
    "huge port": _with(FTP, port="9" * 30),
    "port above 65535": _with(FTP, port="65536"),
    "port 0": _with(FTP, port="0"),
    "negative port": _with(FTP, port="-21"),
    "port in exponent form": _with(FTP, port="2e1"),
    "port with a fraction": _with(FTP, port="21.5"),
    "port of 100 kB digits": _with(FTP, port="1" * 100_000),
    "port with nul": _with(FTP, port="21\x00"),
    "port with a surrogate": _with(FTP, port=b"21" + SURROGATE),
    # hosts
    "host with a space": _with(FTP, host="ftp.example .com"),
    "host with a newline": _with(FTP, host="ftp.example.com\nevil.example"),
    "host with a CR": _with(FTP, host="ftp\r.example.com"),
    "host with @": _with(FTP, host="user@ftp.example.com"),
    "host with scheme": _with(FTP, host="ftp://ftp.example.com"),
    "host with a path": _with(FTP, host="ftp.example.com/x"),
    "host with nul": _with(FTP, host="ftp.example.com\x00"),
    "100 kB host": _with(FTP, host=BIG),
    "loopback IPv6 [::1]": _with(FTP, host="[::1]"),
    "loopback IPv6 ::1": _with(FTP, host="::1"),
    "private IPv6 [fd00::1]": _with(FTP, host="[fd00::1]"),
    "link-local IPv6": _with(FTP, host="[fe80::1]"),
    "IPv4-mapped loopback": _with(FTP, host="[::ffff:127.0.0.1]"),
    "IPv4-mapped metadata": _with(FTP, host="::ffff:169.254.169.254"),
    "metadata address": _with(FTP, host="169.254.169.254"),
    "private 10/8": _with(FTP, host="10.1.2.3"),
    "shared 100.64/10": _with(FTP, host="100.64.0.1"),
    "unspecified": _with(FTP, host="0.0.0.0"),  # noqa: S104 - a host typed by a partner
    "localhost": _with(FTP, host="localhost"),
    "sub.localhost": _with(FTP, host="evil.LOCALHOST"),
    "multicast": _with(FTP, host="224.0.0.1"),
    "host missing": _with(FTP, host=None),
    "user name with nul": _with(FTP, username="u\x00"),
    "password with nul": _with(FTP, password="p\x00"),
    "100 kB password": _with(FTP, password=BIG),
    "remote folder with ..": _with(FTP, path="exports/../../etc"),
    "remote folder ..": _with(FTP, path=".."),
    "remote folder with nul": _with(FTP, path="a\x00"),
    "remote folder with a backslash": _with(FTP, path="..\\..\\etc"),
    # S3
    "bucket with ..": _with(S3, bucket="../other"),
    "bucket upper case": _with(S3, bucket="Other-Bucket"),
    "bucket of 64 chars": _with(S3, bucket="b" * 64),
    "bucket with a newline": _with(S3, bucket="ok-bucket\nx"),
    "prefix with ..": _with(S3, prefix="a/../../b"),
    "prefix with nul": _with(S3, prefix="a\x00"),
    "endpoint javascript:": _with(S3, endpoint_url="javascript:alert(1)"),
    "endpoint file:": _with(S3, endpoint_url="file:///etc/passwd"),
    "endpoint ftp:": _with(S3, endpoint_url="ftp://files.example.com/"),
    "endpoint without host": _with(S3, endpoint_url="http:///bucket"),
    "endpoint [::1]": _with(S3, endpoint_url="http://[::1]:9000"),
    "endpoint [fd00::1]": _with(S3, endpoint_url="https://[fd00::1]/"),
    "endpoint metadata": _with(S3, endpoint_url="http://169.254.169.254/latest/meta-data/"),
    "endpoint with userinfo to metadata": _with(S3, endpoint_url="http://s3.example.com@169.254.169.254/"),
    "endpoint 100 kB": _with(S3, endpoint_url="https://s3.example.com/" + BIG),
    "access key missing": _with(S3, access_key_id=None),
    # GCS
    "gcs json nested deep": [
        ("kind", "gcs"),
        ("name", "G"),
        ("bucket", "ok-bucket"),
        ("service_account_json", "[" * 5000 + "]" * 5000),
    ],
    "gcs json a list": [
        ("kind", "gcs"),
        ("name", "G"),
        ("bucket", "ok-bucket"),
        ("service_account_json", '[{"client_email": "a", "private_key": "b"}]'),
    ],
    "gcs json with nul": [
        ("kind", "gcs"),
        ("name", "G"),
        ("bucket", "ok-bucket"),
        ("service_account_json", '{"client_email": "a\x00", "private_key": "b"}'),
    ],
    "gcs json over 20000": [
        ("kind", "gcs"),
        ("name", "G"),
        ("bucket", "ok-bucket"),
        ("service_account_json", json.dumps({"client_email": "a", "private_key": BIG})),
    ],
    # SFTP
    "sftp host key of two lines": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", "ssh-ed25519 AAAA\nssh-rsa AAAA"),
        ("password", "p"),
    ],
    "sftp host key not base64": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", "ssh-ed25519 ééé"),
        ("password", "p"),
    ],
    "sftp fingerprint not ascii": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", "SHA256:" + "é" * 43),
        ("password", "p"),
    ],
    "sftp short blob": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", "ssh-ed25519 AAA="),
        ("password", "p"),
    ],
    "sftp blob lies about its length": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", "ssh-ed25519 /////w=="),
        ("password", "p"),
    ],
    "sftp md5 fingerprint": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", "MD5:" + ":".join(["ab"] * 16)),
        ("password", "p"),
    ],
    "sftp 100 kB host key": [
        ("kind", "sftp"),
        ("name", "S"),
        ("host", "sftp.example.com"),
        ("username", "u"),
        ("host_key", BIG),
        ("password", "p"),
    ],
    # names, local folders
    "nul in name": _with(FTP, name="F\x00"),
    "121-char name": _with(FTP, name="n" * 121),
    "100 kB name": _with(FTP, name=BIG),
    "blank name": _with(FTP, name="  "),
    "local path ..": [("kind", "local"), ("name", "L"), ("path", "..")],
    "local path absolute": [("kind", "local"), ("name", "L"), ("path", "/etc")],
    "local path escaping": [("kind", "local"), ("name", "L"), ("path", "a/../../../broker")],
    "local path with a backslash": [("kind", "local"), ("name", "L"), ("path", "..\\competitor-inc")],
    "local path with nul": [("kind", "local"), ("name", "L"), ("path", "a\x00b")],
    "local path 100 kB": [("kind", "local"), ("name", "L"), ("path", BIG)],
    "field names with NUL": [("ki\x00nd", "local"), ("na\x00me", "L")],
    "empty body": [],
}


@pytest.mark.parametrize("direction", ["destination", "source"])
@pytest.mark.parametrize("pairs", HOSTILE_STORAGE.values(), ids=HOSTILE_STORAGE.keys())
def test_hostile_storage_settings_are_a_400_and_save_nothing(owner, world, settings, direction, pairs):
    settings.STORAGE_ALLOW_LOOPBACK = False
    before = _state()
    extra = [("pattern", "*.csv")] if direction == "source" and pairs else []
    response = _post(owner, world["urls"][f"{direction}_create"], _body(*pairs, *extra))
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize("direction", ["destination", "source"])
@pytest.mark.parametrize("pairs", HOSTILE_STORAGE.values(), ids=HOSTILE_STORAGE.keys())
def test_hostile_storage_settings_on_an_existing_one_change_nothing(owner, world, settings, direction, pairs):
    settings.STORAGE_ALLOW_LOOPBACK = False
    location = world[direction]
    before = _state()
    extra = [("pattern", "*.csv")] if direction == "source" and pairs else []
    response = _post(owner, world["urls"][f"{direction}_edit"], _body(*pairs, *extra))
    assert response.status_code == 400
    assert _state() == before
    location.refresh_from_db()
    assert location.last_tested_at is None


HOSTILE_URLS = {
    "javascript:": "javascript:alert(document.cookie)",
    "file:": "file:///etc/passwd",
    "ftp:": "ftp://files.example.com/a.csv",
    "data:": "data:text/csv,a,b",
    "gopher:": "gopher://files.example.com:70/_x",
    "no host": "https:///a.csv",
    "relative": "/a.csv",
    "loopback [::1]": "http://[::1]/a.csv",
    "private [fd00::1]": "https://[fd00::1]/a.csv",
    "IPv4-mapped [::ffff:10.0.0.1]": "https://[::ffff:10.0.0.1]/a.csv",
    "metadata": "http://169.254.169.254/latest/meta-data/iam/",
    "localhost": "http://localhost:8000/admin/",
    "userinfo then private": "https://files.example.com@10.0.0.1/a.csv",
    "backslash userinfo then private": "https://files.example.com\\@10.0.0.1/a.csv",
    "nul": "https://files.example.com/a\x00.csv",
    "100 kB": "https://files.example.com/" + BIG,
}


@pytest.mark.parametrize("url", HOSTILE_URLS.values(), ids=HOSTILE_URLS.keys())
def test_a_hostile_http_source_url_is_a_400_and_saves_nothing(owner, world, settings, url):
    settings.STORAGE_ALLOW_LOOPBACK = False
    before = _state()
    response = _post(owner, world["urls"]["source_create"], _body(*_with(HTTP, url=url)))
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize(
    "url",
    [
        "https://files example.com/a.csv",
        "https://files.exa\nmple.com/a.csv",
        "https://files.example.com/a\r\n.csv",
        "https://files.example.com\t/a.csv",
    ],
    ids=["space in host", "newline in host", "CRLF in path", "tab after host"],
)
def test_a_url_with_spaces_or_line_breaks_is_a_400(owner, world, url):
    before = _state()
    response = _post(owner, world["urls"]["source_create"], _body(*_with(HTTP, url=url)))
    assert response.status_code == 400
    assert _state() == before


def test_a_line_break_in_a_url_never_leaves_the_form_hidden_to_the_ssrf_check(owner, world, settings):
    """urlsplit drops tabs and line breaks: `http://127.0.0.\\n1/` must still be judged as 127.0.0.1."""
    settings.STORAGE_ALLOW_LOOPBACK = False
    before = _state()
    for url in ("http://127.0.0.\n1/a.csv", "http://169.254.\t169.254/", "http://[::\r1]/a.csv", "http://10.0.0.1\n/"):
        response = _post(owner, world["urls"]["source_create"], _body(*_with(HTTP, url=url)))
        assert response.status_code == 400, url
    assert _state() == before


HOSTILE_PATTERNS = {
    "..": "../*.csv",
    "absolute": "/etc/*",
    "escape in the middle": "a/../../*",
    "only ..": "..",
    "nul": "*.csv\x00",
    "256 chars": "p" * 256,
    "100 kB": BIG,
    "blank": "   ",
    "surrogate bytes": b"*" + SURROGATE,
}


@pytest.mark.parametrize("pattern", HOSTILE_PATTERNS.values(), ids=HOSTILE_PATTERNS.keys())
def test_a_hostile_source_pattern_is_a_400_and_saves_nothing(owner, world, pattern):
    before = _state()
    response = _post(
        owner, world["urls"]["source_create"], _body(("kind", "local"), ("name", "S"), ("pattern", pattern))
    )
    if pattern == HOSTILE_PATTERNS["surrogate bytes"]:  # decoded to replacement characters: a harmless glob
        assert response.status_code in (302, 400)
        assert all(_encodable(p) for p in Source.objects.values_list("pattern", flat=True))
        return
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize("pattern", ["..\\..\\*.csv", "./*.csv", "a//*.csv"], ids=["backslash", "dot", "empty"])
def test_a_pattern_the_transports_refuse_is_refused_by_the_form(owner, world, pattern):
    before = _state()
    response = _post(owner, world["urls"]["source_create"], _body(*_with(FTP, name="S", pattern=pattern)))
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize("kind", ["evil", "http", "LOCAL", "local\x00"], ids=["unknown", "http", "upper", "nul"])
def test_an_unknown_storage_kind_in_a_post_is_a_400(owner, world, kind):
    before = _state()
    response = _post(owner, world["urls"]["destination_create"], _body(("kind", kind), ("name", "K")))
    assert response.status_code == 400
    assert _state() == before


@pytest.mark.parametrize(
    "kind", ["evil", "http", "\x00", BIG, "s3\x00"], ids=["unknown", "http", "nul", "big", "s3nul"]
)
def test_an_unknown_kind_in_the_kind_chooser_shows_the_local_form(owner, world, kind):
    """The kind chooser is a GET: an unknown kind shows the local folder's fields (a NUL in a query is a 400)."""
    response = owner.get(world["urls"]["destination_create"], {"kind": kind})
    assert response.status_code == (400 if "\x00" in kind else 200)
    if response.status_code == 200:
        assert 'name="kind" value="local"' in response.text
    fragment = owner.get(world["urls"]["destination_create"], {"kind": kind}, headers={"HX-Request": "true"})
    assert fragment.status_code == response.status_code


def test_the_kind_switched_between_posts_never_carries_the_stored_credentials(owner, world):
    """An S3 destination's keys are never kept for another kind, nor brought back when switching back."""
    create = world["urls"]["destination_create"]
    assert _post(owner, create, _body(*_with(S3, secret_access_key="stored-s3-secret"))).status_code == 302
    destination = Destination.objects.get(name="S3")
    edit = reverse("connectors:destination_edit", args=[world["connector"].code, destination.code])
    # to FTP without a password: the S3 secret is no FTP password
    before = _state()
    assert _post(owner, edit, _body(*_with(FTP, name="S3", password=None))).status_code == 400
    assert _state() == before
    # to a local folder: saved, the credentials dropped
    assert _post(owner, edit, _body(("kind", "local"), ("name", "S3"))).status_code == 302
    destination.refresh_from_db()
    assert destination.kind == "local" and destination.credentials_dict() == {}
    # back to S3 without typing the keys: required again
    before = _state()
    assert _post(owner, edit, _body(*_with(S3, access_key_id="", secret_access_key=""))).status_code == 400
    assert _state() == before


def test_a_kind_in_the_query_and_another_in_the_body_is_the_bodys(owner, world):
    url = world["urls"]["destination_create"] + "?kind=s3"
    assert _post(owner, url, _body(("kind", "local"), ("name", "Q"))).status_code == 302
    assert Destination.objects.get(name="Q").kind == "local"


def test_a_stored_secret_cannot_be_sent_to_an_ipv6_or_numeric_host(owner, world, settings):
    settings.STORAGE_ALLOW_LOOPBACK = False
    assert (
        _post(owner, world["urls"]["destination_create"], _body(*_with(FTP, password="stored-ftp-pw"))).status_code
        == 302
    )
    destination = Destination.objects.get(name="FTP")
    edit = reverse("connectors:destination_edit", args=[world["connector"].code, destination.code])
    before = _state()
    for host in ("[fd00::1]", "2130706433", "ftp.example.com.", "FTP.EXAMPLE.COM", "ftp2.example.com"):
        response = _post(owner, edit, _body(*_with(FTP, host=host, password="")))
        assert response.status_code == 400, host
        assert "stored-ftp-pw" not in response.text
    for port in ("2121", "21"):  # a port typed where none was: where the credentials go changed
        response = _post(owner, edit, _body(*_with(FTP, port=port, password="")))
        assert response.status_code == 400, port
    assert _state() == before


@pytest.mark.parametrize(
    ("kind_fields", "field"),
    [
        (_with(FTP, host="2130706433"), "host"),  # 127.0.0.1 written as a number: a name to the form
        (_with(FTP, host="0x7f.1"), "host"),
        (_with(FTP, host="0177.0.0.1"), "host"),
        (_with(FTP, host="0"), "host"),
        (_with(HTTP, url="http://2130706433/a.csv"), "url"),
        (_with(HTTP, url="http://0x7f.0.0.1:8000/a.csv"), "url"),
    ],
    ids=["decimal", "hex short", "octal", "zero", "decimal url", "hex url"],
)
def test_a_numeric_alias_of_loopback_is_refused_at_the_latest_by_the_test(
    owner, world, settings, kind_fields, field, django_capture_on_commit_callbacks
):
    """What the form takes for a name is resolved when a connection is made, and refused there."""
    settings.STORAGE_ALLOW_LOOPBACK = False
    direction = "source" if ("kind", "http") in kind_fields else "destination"
    response = _post(owner, world["urls"][f"{direction}_create"], _body(*kind_fields))
    if response.status_code == 400:
        return  # refused on the form already: better
    assert response.status_code == 302
    model = Source if direction == "source" else Destination
    location = model.objects.get(name=dict(kind_fields)["name"])
    test_url = reverse(f"connectors:{direction}_test", args=[world["connector"].code, location.code])
    with django_capture_on_commit_callbacks(execute=True):  # the worker's task, in-process
        owner.post(test_url, headers={"HX-Request": "true"})
    result = owner.get(test_url, headers={"HX-Request": "true"})
    assert result.status_code == 200
    assert 'data-outcome="fix_on_your_side"' in result.text
    assert "address_refused" in result.text
    location.refresh_from_db()
    assert location.last_test_ok is False and location.last_test_error["code"] == "address_refused"


@pytest.mark.parametrize("host", ["[64:ff9b::a9fe:a9fe]", "[64:ff9b::a00:1]", "[::a9fe:a9fe]", "[::7f00:1]"])
def test_ipv6_addresses_embedding_a_private_ipv4_are_refused(owner, world, settings, host):
    settings.STORAGE_ALLOW_LOOPBACK = False
    before = _state()
    response = _post(owner, world["urls"]["destination_create"], _body(*_with(FTP, host=host)))
    assert response.status_code == 400
    assert _state() == before


# ---- HTML and script in everything a partner names -----------------------------------------------------------


def test_script_in_every_name_is_escaped_on_every_page(client, owner, partner_user, csm, project, storage_root):
    response = _post(
        owner,
        reverse("connectors:create"),
        _body(("project", str(project.code)), ("name", SCRIPT), ("kind", "cdp_dmp")),
    )
    assert response.status_code == 302
    connector = Connector.objects.get(name=SCRIPT)
    c = connector.code
    pages = [response["Location"]]
    assert _post(owner, reverse("connectors:key_create", args=[c]), _body(("name", SCRIPT))).status_code == 302
    response = _post(
        owner,
        reverse("connectors:destination_create", args=[c]),
        _body(*_with(FTP, name=SCRIPT, path="<b>x</b>", username=SCRIPT)),
    )
    assert response.status_code == 302
    pages.append(response["Location"])
    response = _post(
        owner,
        reverse("connectors:source_create", args=[c]),
        _body(
            ("kind", "http"),
            ("name", SCRIPT + "s"),
            ("pattern", SCRIPT),
            ("url", "https://files.example.com/<script>alert(1)</script>?x=<script>"),
        ),
    )
    assert response.status_code == 302
    pages.append(response["Location"])
    services.connector_pause(actor=csm, connector=connector, reason=SCRIPT)
    pages += [
        reverse("connectors:list"),
        reverse("connectors:detail", args=[c]),
        reverse("connectors:edit", args=[c]),
        reverse("connectors:delete", args=[c]),
        reverse("connectors:panel", args=[project.code]),
        reverse("dashboard:home"),
        reverse("projects:detail", args=[project.code]),
        reverse("connectors:destination_create", args=[c]),
    ]
    for url in pages:
        page = owner.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text, url
        assert "<b>x</b>" not in page.text, url
    panel = owner.get(reverse("connectors:panel", args=[project.code]), headers={"HX-Request": "true"})
    assert SCRIPT_ESCAPED in panel.text and "<script>alert" not in panel.text
    home = owner.get(reverse("dashboard:home"))
    assert SCRIPT_ESCAPED in home.text
    # the test result and the no-JavaScript message quote the name and the host
    destination = Destination.objects.get(connector=connector)
    test_url = reverse("connectors:destination_test", args=[c, destination.code])
    assert "<script>alert" not in owner.post(test_url, headers={"HX-Request": "true"}).text
    plain = owner.post(test_url)
    assert plain.status_code == 302
    assert "<script>alert" not in owner.get(plain["Location"]).text
    # staff pages
    staff = Client()
    staff.force_login(csm)
    for url in (
        reverse("core:audit_log"),
        reverse("connectors:list"),
        reverse("connectors:detail", args=[c]),
        reverse("dashboard:home"),
        reverse("projects:detail", args=[project.code]),
        reverse("connectors:panel", args=[project.code]),
    ):
        page = staff.get(url)
        assert page.status_code == 200, url
        assert "<script>alert" not in page.text, url
    assert SCRIPT_ESCAPED in staff.get(reverse("core:audit_log")).text


def test_a_script_in_a_name_is_escaped_in_the_javascript_confirm(owner, world):
    quote_breaker = "');alert(1);//"
    _post(owner, world["urls"]["key_create"], _body(("name", quote_breaker)))
    page = owner.get(world["urls"]["detail"])
    assert quote_breaker not in page.text
    Destination.objects.filter(pk=world["destination"].pk).update(name=quote_breaker)
    page = owner.get(world["urls"]["destination_edit"])
    assert page.status_code == 200 and quote_breaker not in page.text


# ---- secrets: never shown again, never echoed on a form error, never logged ----------------------------------

CANARY = "CANARY-s3cr3t-7f3a9"


@pytest.mark.parametrize(
    "pairs",
    [
        _with(S3, bucket="Bad Bucket", secret_access_key=CANARY),
        _with(S3, endpoint_url="file:///x", access_key_id=CANARY),
        _with(FTP, host="10.0.0.1", password=CANARY),
        [
            ("kind", "gcs"),
            ("name", "G"),
            ("bucket", "Bad!"),
            ("service_account_json", f'{{"private_key": "{CANARY}"}}'),
        ],
        [
            ("kind", "sftp"),
            ("name", "S"),
            ("host", "sftp.example.com"),
            ("username", "u"),
            ("host_key", "bad"),
            ("private_key", CANARY),
            ("private_key_passphrase", CANARY),
        ],
        _with(HTTP, url="javascript:x", header_name="Authorization", header_value=CANARY),
    ],
    ids=["s3", "s3 key id", "ftp", "gcs", "sftp", "http header"],
)
def test_a_refused_form_never_echoes_the_typed_secret(owner, world, settings, pairs):
    settings.STORAGE_ALLOW_LOOPBACK = False
    before = _state()
    direction = "source" if ("kind", "http") in pairs else "destination"
    response = _post(owner, world["urls"][f"{direction}_create"], _body(*pairs))
    assert response.status_code == 400
    assert CANARY not in response.text
    assert _state() == before


def test_a_failed_test_never_shows_nor_logs_the_stored_secrets(owner, world, caplog):
    import socket

    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    caplog.set_level(logging.DEBUG)
    response = _post(
        owner,
        world["urls"]["destination_create"],
        _body(*_with(FTP, host="127.0.0.1", port=str(port), username="u", password=CANARY)),
    )
    assert response.status_code == 302
    destination = Destination.objects.get(name="FTP")
    response = _post(
        owner,
        world["urls"]["source_create"],
        _body(
            *_with(HTTP, url=f"http://127.0.0.1:{port}/a.csv?sig={CANARY}", header_name="X-Key", header_value=CANARY)
        ),
    )
    assert response.status_code == 302
    source = Source.objects.get(name="Feed")
    c = world["connector"].code
    pages = []
    for url in (
        reverse("connectors:destination_test", args=[c, destination.code]),
        reverse("connectors:source_test", args=[c, source.code]),
    ):
        pages.append(owner.post(url, headers={"HX-Request": "true"}).text)
        pages.append(owner.get(owner.post(url)["Location"]).text)
    pages += [
        owner.get(world["urls"]["detail"]).text,
        owner.get(reverse("connectors:destination_edit", args=[c, destination.code])).text,
        owner.get(reverse("connectors:source_edit", args=[c, source.code])).text,
    ]
    for page in pages:
        assert "CANARY" not in page
    assert "CANARY" not in caplog.text
    audit = json.dumps(list(AuditEvent.objects.values("object_repr", "changes")))
    assert "s3cr3t" not in audit


# ---- the REST API with connectors' keys ----------------------------------------------------------------------

DATA = {"overwrite": False, "values": {"u.tier": "gold"}}
EVENTS = {"events": [{"name": "opened"}]}


@pytest.fixture
def pushwave(api_app):
    partner = PartnerFactory(name="Pushwave")
    GrantFactory(project=api_app.project, partner=partner)
    return partner


@pytest.fixture
def pushwave_user(pushwave):
    return UserFactory.partner_user(partner=pushwave, username="pushwave")


@pytest.fixture
def api_connector(pushwave_user, api_app):
    connector = services.connector_create(
        actor=pushwave_user,
        partner=pushwave_user.partner,
        project=api_app.project,
        kind="marketing_automation",
        name="CRM sync",
        features=["custom_data"],
    )
    key, secret = services.connector_key_create(actor=pushwave_user, connector=connector, name="production")
    return connector, key, secret.reveal()


def _nothing_accepted() -> bool:
    return not ApiCall.objects.filter(status_code__in=(200, 202)).exists()


@pytest.mark.parametrize(
    "headers",
    [
        lambda s: {"Authorization": f"Bearer {s}"},  # the /2.x header on a per-app route
        lambda s: {"X-Api-Key": s},
        lambda s: {"X-Authorization": f"Bearer {s}"},
        lambda s: {"X-Authorization": f"{s} "},
        lambda s: {"X-Authorization": f" {s}"},
        lambda s: {"X-Authorization": f"{s}\t"},
        lambda s: {"X-Authorization": f"{s}\x00"},
        lambda s: {"X-Authorization": s.upper() if s != s.upper() else s.lower()},
        lambda s: {"X-Authorization": s[:-1]},
        lambda s: {"X-Authorization": s + s},
        lambda s: {"X-Authorization": s + "x" * 100_000},
        lambda s: {"X-Authorization": s[:-1] + "\udc80"},
        lambda s: {"X-Authorization": ""},
    ],
    ids=[
        "bearer header",
        "other header",
        "bearer prefix",
        "trailing space",
        "leading space",
        "trailing tab",
        "nul",
        "case changed",
        "truncated",
        "doubled",
        "100 kB",
        "surrogate",
        "empty",
    ],
)
def test_a_connector_key_in_the_wrong_header_or_altered_is_a_401_on_per_app_routes(api, api_connector, headers):
    _, _, secret = api_connector
    url = f"/1.0/{api.app.live_api_key}/data/users/alice"
    response = api.client.post(url, json.dumps(DATA), content_type="application/json", headers=headers(secret))
    assert response.status_code in (400, 401), response.content  # 400: a NUL in a header is refused as such
    assert set(response.json()) == {"code", "message"}
    assert _nothing_accepted()


@pytest.mark.parametrize(
    "headers",
    [
        lambda s, p: {"X-Authorization": s, "X-Batch-Project": p},  # the per-app header on /2.x
        lambda s, p: {"Authorization": s, "X-Batch-Project": p},  # no Bearer
        lambda s, p: {"Authorization": f"Basic {s}", "X-Batch-Project": p},
        lambda s, p: {"Authorization": f"Bearer {s} ", "X-Batch-Project": p},
        lambda s, p: {"Authorization": f"Bearer  {s}", "X-Batch-Project": p},
        lambda s, p: {"Authorization": f"Bearer {s}\x00", "X-Batch-Project": p},
        lambda s, p: {"Authorization": f"Bearer {s}"},  # no project
        lambda s, p: {"Authorization": f"Bearer {s}", "X-Batch-Project": p + " "},
        lambda s, p: {"Authorization": f"Bearer {s}", "X-Batch-Project": p + "\x00"},
        lambda s, p: {"Authorization": f"Bearer {s}", "X-Batch-Project": "x" * 100_000},
    ],
    ids=[
        "x-authorization",
        "no bearer",
        "basic",
        "trailing space",
        "two spaces",
        "nul",
        "no project",
        "project trailing space",
        "project nul",
        "project 100 kB",
    ],
)
def test_a_connector_key_in_the_wrong_header_is_a_4xx_on_project_routes(api, api_connector, headers):
    _, _, secret = api_connector
    body = [{"identifiers": {"custom_id": "bob"}, "attributes": {"tier": "gold"}}]
    response = api.client.post(
        "/2.1/profiles/update",
        json.dumps(body),
        content_type="application/json",
        headers=headers(secret, api.app.project.key),
    )
    assert response.status_code in (400, 401), response.content
    assert "error_code" in response.json()
    assert _nothing_accepted()


def test_the_key_of_a_connector_deleted_through_its_page_is_a_401(client, api, api_connector, pushwave_user):
    connector, _, secret = api_connector
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 202  # known, cached
    client.force_login(pushwave_user)
    assert client.post(reverse("connectors:delete", args=[connector.code])).status_code == 302
    assert not Connector.objects.exists()
    accepted = ApiCall.objects.filter(status_code=202).count()
    response = api.app_call("POST", "/data/users/alice", DATA, rest_key=secret)
    assert response.status_code == 401
    response = api.project_call(
        "/profiles/update", [{"identifiers": {"custom_id": "x"}, "attributes": {"a": 1}}], rest_key=secret
    )
    assert response.status_code == 401
    assert ApiCall.objects.filter(status_code=202).count() == accepted


def test_a_key_revoked_or_rotated_to_zero_through_the_page_is_a_401_at_once(client, api, api_connector, pushwave_user):
    connector, key, secret = api_connector
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 202
    client.force_login(pushwave_user)
    response = client.post(reverse("connectors:key_rotate", args=[connector.code, key.code]), {"overlap_hours": 0})
    assert response.status_code == 302
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 401
    new_key = connector.keys.get(revoked_at__isnull=True)
    new_secret = new_key.secret.reveal()
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=new_secret).status_code == 202
    assert client.post(reverse("connectors:key_revoke", args=[connector.code, new_key.code])).status_code == 302
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=new_secret).status_code == 401


def test_a_features_change_through_the_page_applies_at_once_to_a_cached_key(client, api, api_connector, pushwave_user):
    connector, _, secret = api_connector
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 202
    client.force_login(pushwave_user)
    response = _post(
        client,
        reverse("connectors:edit", args=[connector.code]),
        _body(("name", "CRM sync"), ("kind", "marketing_automation"), ("features", "trigger_events")),
    )
    assert response.status_code == 302
    assert api.app_call("POST", "/data/users/alice", DATA, rest_key=secret).status_code == 403
    assert api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret).status_code == 202
    assert _post(client, reverse("connectors:pause", args=[connector.code]), b"").status_code == 302
    assert api.app_call("POST", "/events/users/alice", EVENTS, rest_key=secret).status_code == 403


def test_a_connector_key_opens_no_other_customers_app(api, api_connector):
    _, _, secret = api_connector
    foreign = AppFactory(project=ProjectFactory(name="Foreign"), platform="web")
    response = api.app_call("POST", "/data/users/alice", DATA, key=foreign.live_api_key, rest_key=secret)
    assert response.status_code == 401
    for app_key in ("", "%00", "x" * 5000, api.app.live_api_key + " ", api.app.live_api_key.lower() + "Z"):
        response = api.app_call("POST", "/data/users/alice", DATA, key=app_key or "none", rest_key=secret)
        assert response.status_code in (400, 401, 404), app_key
    assert not ApiCall.objects.filter(status_code=202).exists()


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/data/users/alice", DATA),
        ("DELETE", "/data/users/alice", None),
        ("POST", "/data/users", [{"id": "alice", "update": DATA}]),
        ("DELETE", "/data/users", ["alice"]),
        ("POST", "/events/users/alice", EVENTS),
        ("POST", "/events/users", [{"id": "alice", "events": [{"name": "opened"}]}]),
    ],
)
def test_a_connector_without_features_is_refused_on_every_route(api, pushwave_user, method, path, body):
    connector = services.connector_create(
        actor=pushwave_user,
        partner=pushwave_user.partner,
        project=api.app.project,
        kind="location",
        name="Nothing",
        features=[],
    )
    _, secret = services.connector_key_create(actor=pushwave_user, connector=connector, name="k")
    response = api.app_call(method, path, body, rest_key=secret.reveal())
    assert response.status_code == 403
    assert response.json()["code"] == 12
    assert _nothing_accepted()
    for raw in (b"", b"\x00", b"[" * 2000, b"{" + SURROGATE + b"}"):  # refused for the feature before the body
        response = api.app_call(method, path, raw=raw, rest_key=secret.reveal())
        assert response.status_code == 403
    assert _nothing_accepted()


@pytest.mark.parametrize(
    "raw",
    [
        b'"a string"',
        b'[1, null, "x"]',
        b"[]",
        b"{}",
        b'[{"identifiers": {"custom_id": "bob"}, "events": [{"name": "x\\u0000"}]}]',
        b'[{"identifiers": {"custom_id": "bob"}, "events": [{"name": "\\ud800"}]}]',
        b'[{"identifiers": {"custom_id": "bo\xed\xa0\x80b"}, "events": [{"name": "x"}]}]',
        b"[" * 1000 + b"]" * 1000,
        b"",
        b"\x00",
    ],
)
def test_profile_api_with_an_events_only_key_never_accepts_nor_fails_on_hostile_bodies(api, pushwave_user, raw):
    connector = services.connector_create(
        actor=pushwave_user,
        partner=pushwave_user.partner,
        project=api.app.project,
        kind="location",
        name="Events",
        features=["trigger_events"],
    )
    _, secret = services.connector_key_create(actor=pushwave_user, connector=connector, name="k")
    response = api.client.post(
        "/2.1/profiles/update",
        raw,
        content_type="application/json",
        headers={"Authorization": f"Bearer {secret.reveal()}", "X-Batch-Project": api.app.project.key},
    )
    assert response.status_code == 400, response.content
    assert response.json()["error_code"] in (
        "API_MISUSE",
        "MALFORMED_PARAMETER",
        "MALFORMED_JSON_BODY",
        "MISSING_PARAMETER",
    )
    assert _nothing_accepted()
    assert all(call.connector_id == connector.pk for call in ApiCall.objects.all())


@pytest.mark.parametrize(
    "idempotency_key",
    # what a WSGI server hands over for the bytes of a lone surrogate: latin-1 characters (never a str surrogate)
    ["a\x00b", "k" * 256, "x" * 100_000, SURROGATE.decode("latin-1"), ""],
    ids=["nul", "256", "100 kB", "surrogate bytes", "empty"],
)
def test_a_hostile_idempotency_key_with_a_connector_key_is_a_400(api, api_connector, idempotency_key):
    _, _, secret = api_connector
    response = api.app_call(
        "POST", "/data/users/alice", DATA, rest_key=secret, headers={"Idempotency-Key": idempotency_key}
    )
    assert response.status_code == 400, response.content  # a key is printable ASCII only
    assert "Idempotency-Key" in response.content.decode()
    assert _nothing_accepted()


def test_a_paused_connector_key_with_a_hostile_body_is_a_403_and_counts_nothing(api, api_connector, csm):
    from batchhub.api.limits import rate_window_count

    connector, _, secret = api_connector
    services.connector_pause(actor=csm, connector=connector, reason="flood")
    scope = f"app:{api.app.pk}"
    before = rate_window_count(scope)[0]
    for raw in (b"\x00", b"[" * 5000, b"x" * 100_000):
        response = api.app_call("POST", "/data/users/alice", raw=raw, rest_key=secret)
        assert response.status_code == 403
    assert rate_window_count(scope)[0] == before + 1
    assert _nothing_accepted()


def test_a_key_of_another_partners_connector_is_attributed_to_that_connector_only(
    api, api_connector, pushwave_user, client
):
    """Calls made with one partner's key never show on another partner's connector page, even with hostile routes."""
    connector, _, secret = api_connector
    rival = PartnerFactory(name="Rival")
    GrantFactory(project=api.app.project, partner=rival)
    rival_user = UserFactory.partner_user(partner=rival, username="rival")
    rival_connector = services.connector_create(
        actor=rival_user,
        partner=rival,
        project=api.app.project,
        kind="cdp_dmp",
        name="Rival sync",
        features=["custom_data"],
    )
    api.app_call("POST", "/data/users/al%3Cscript%3Eice", DATA, rest_key=secret)
    api.app_call("POST", "/data/users/bob", raw=b"\x00", rest_key=secret)
    assert set(ApiCall.objects.values_list("connector_id", flat=True)) == {connector.pk}
    client.force_login(rival_user)
    page = client.get(reverse("connectors:detail", args=[rival_connector.code]))
    assert page.status_code == 200
    assert "custom_data.user" not in page.text
    assert client.get(reverse("connectors:detail", args=[connector.code])).status_code == 404
    client.force_login(pushwave_user)
    own = client.get(reverse("connectors:detail", args=[connector.code]))
    assert own.status_code == 200 and "<script>" not in own.text


@pytest.mark.parametrize("events", ['"x"', '{"$ref": 1}', "1", '[{"name": ""}]'])
def test_an_events_only_key_creates_no_profile_without_a_valid_event(api, pushwave_user, applied, events):
    from batchhub.profiles.models import Profile

    connector = services.connector_create(
        actor=pushwave_user,
        partner=pushwave_user.partner,
        project=api.app.project,
        kind="location",
        name="Events",
        features=["trigger_events"],
    )
    _, secret = services.connector_key_create(actor=pushwave_user, connector=connector, name="k")
    raw = f'[{{"identifiers": {{"custom_id": "bob"}}, "events": {events}}}, {{"identifiers": {{"custom_id": "eve"}}}}]'
    with applied:
        response = api.client.post(
            "/2.1/profiles/update",
            raw.encode(),
            content_type="application/json",
            headers={"Authorization": f"Bearer {secret.reveal()}", "X-Batch-Project": api.app.project.key},
        )
    assert response.status_code in (202, 400)
    assert not Profile.objects.exists()


@pytest.mark.parametrize(
    "pairs",
    [_with(FTP, username="u\r\nSITE CHMOD 777 /"), _with(S3, region="eu-west-1\nx"), _with(FTP, username="u\tv")],
    ids=["ftp user CRLF", "s3 region LF", "ftp user tab"],
)
def test_a_line_break_in_a_single_line_setting_is_a_400(owner, world, pairs):
    before = _state()
    response = _post(owner, world["urls"]["destination_create"], _body(*pairs))
    assert response.status_code == 400
    assert _state() == before
