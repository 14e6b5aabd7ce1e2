"""Hostile input found by a test against a production-like deployment: each answer is a 4xx in the family's
shape, never a 500, and nothing answered 2xx is lost later in the worker. Here what the edge and the framework
refuse for every route; what the profile rules refuse is in tests/profiles/test_hostile_input.py."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from batchhub.api.models import ApiCall
from batchhub.profiles.models import Profile

pytestmark = pytest.mark.portable

DEEP = b"[" * 1000 + b"]" * 1000


def _ordinary_profiles(count: int) -> list[dict]:
    return [
        {
            "identifiers": {"custom_id": f"customer-{n:06d}"},
            "attributes": {
                "$email_address": f"customer.{n}@example.com",
                "$language": "fr",
                "plan": "gold",
                "points": n,
                "date(last_order)": "2026-11-30T10:00:00Z",
            },
            "events": [{"name": "validated_purchase", "attributes": {"amount": 42.5, "$label": "web"}}],
        }
        for n in range(count)
    ]


def test_a_mass_update_of_10000_ordinary_profiles_is_accepted_above_djangos_form_limit(api, settings):
    body = _ordinary_profiles(10_000)
    size = len(json.dumps(body))
    assert size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # about 3 MB: Django alone would refuse it
    response = api.project_call("/profiles/mass-update", body)
    assert response.status_code == 202, response.content
    assert response.json() == {"code": "SUCCESS"}
    assert ApiCall.objects.get().counts == {"operations": 10_000}


@pytest.mark.parametrize("family", ["app", "project"])
def test_a_body_above_the_api_limit_is_413_in_the_family_shape(api, settings, family):
    settings.API_MAX_BODY_BYTES = 4 * 1024 * 1024
    body = _ordinary_profiles(15_000)  # about 4.6 MB
    if family == "project":
        response = api.project_call("/profiles/mass-update", body)
        assert response.json()["error_code"] == "PAYLOAD_TOO_LARGE"
    else:
        response = api.app_call("POST", "/data/users", body)
        assert response.json()["code"] == 34
    assert response.status_code == 413
    assert not ApiCall.objects.exists()


@pytest.mark.parametrize(
    ("family", "method", "path"),
    [
        ("app", "POST", "/events/users"),  # the fast path first
        ("app", "POST", "/events/users/alice"),
        ("app", "POST", "/data/users"),
        ("app", "DELETE", "/data/users"),
        ("project", "POST", "/profiles/update"),
        ("project", "POST", "/profiles/mass-update"),
    ],
)
@pytest.mark.parametrize("body", [DEEP, b'{"a":' * 1000 + b"1" + b"}" * 1000], ids=["arrays", "objects"])
def test_json_nested_1000_deep_is_a_400(api, family, method, path, body):
    if family == "app":
        response = api.app_call(method, path, raw=body)
        assert response.json()["code"] in (31, 32)
    else:
        project = api.app.project
        response = api.client.post(
            f"/2.1{path}",
            body,
            content_type="application/json",
            headers={"Authorization": f"Bearer {api.rest_key}", "X-Batch-Project": project.key},
        )
        assert response.json()["error_code"] in ("MALFORMED_PARAMETER", "MALFORMED_JSON_BODY")
    assert response.status_code == 400


BAD_TEXT = [("\\u0000", "NUL"), ("\\ud800", "surrogate"), ("\\udfff", "surrogate")]


@pytest.mark.parametrize(("escape", "fault"), BAD_TEXT)
def test_nul_or_a_lone_surrogate_in_email_is_a_400_not_a_202_the_worker_fails(api, escape, fault):
    raw = (
        '[{"identifiers": {"custom_id": "alice"}, "attributes": {"$email_address": "al' + escape + 'ice@example.com"}}]'
    )
    project = api.app.project
    response = api.client.post(
        "/2.1/profiles/update",
        raw.encode(),
        content_type="application/json",
        headers={"Authorization": f"Bearer {api.rest_key}", "X-Batch-Project": project.key},
    )
    assert response.status_code == 400
    message = response.json()["error_message"]
    assert "[0]['attributes']['$email_address']" in message and fault in message
    assert not ApiCall.objects.filter(apply_status="pending").exists()
    assert not Profile.objects.exists()


@pytest.mark.parametrize(("escape", "fault"), BAD_TEXT)
@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/data/users/alice", '{"values": {"u.pl%san": "gold"}}'),  # in a key
        ("/data/users/alice", '{"values": {"u.plan": "go%sld"}}'),
        ("/events/users", '[{"id": "al%sice", "events": [{"name": "opened"}]}]'),
        ("/events/users/alice", '{"events": [{"name": "opened", "tags": ["a%s"]}]}'),
        ("/data/users", '["al%sice"]'),
    ],
)
def test_nul_or_a_lone_surrogate_anywhere_in_a_body_is_a_400_naming_where(api, escape, fault, path, template):
    method = "DELETE" if template.startswith('["') else "POST"
    response = api.app_call(method, path, raw=(template % escape).encode())
    assert response.status_code == 400
    assert response.json()["code"] == 31
    assert fault in response.json()["message"]
    assert not ApiCall.objects.filter(apply_status="pending").exists()


def test_nul_in_the_app_key_of_the_url_is_a_400(api):
    response = api.app_call("POST", "/events/users/alice", {"events": [{"name": "opened"}]}, key="ABC%00DEF")
    assert response.status_code == 400
    assert response.json()["code"] == 31
    response = api.app_call("POST", "/events/users/al%00ice", {"events": [{"name": "opened"}]})
    assert response.status_code == 400


def test_nul_in_a_dashboard_query_is_a_400_not_a_500(client, csm, project):
    client.force_login(csm)
    for url in (reverse("projects:list"), reverse("profiles:list", kwargs={"code": project.code})):
        response = client.get(url, {"q": "ab\x00c"})
        assert response.status_code == 400
        assert "NUL" in response.text
    assert client.get(reverse("projects:list"), {"q": "acme"}).status_code == 200


def test_a_method_or_route_error_never_answers_html(api):
    response = Client().put(f"/1.0/{api.app.live_api_key}/events/users/alice", "{}", content_type="application/json")
    assert response.status_code == 405
    assert response.json()["code"] == 20


# ---- found by review: other ways around the edge --------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        '[{"id": "a\\u0000b", "events": [{"name": "opened"}]}]'.encode("utf-16-le"),  # NUL with no \\u in the bytes
        b'[{"id": "a\xed\xa0\x80b", "events": [{"name": "opened"}]}]',  # a surrogate encoded, not escaped
        b'[{"id": "a\xffb", "events": [{"name": "opened"}]}]',
    ],
    ids=["utf-16", "encoded-surrogate", "not-utf-8"],
)
def test_a_body_that_is_not_utf_8_is_a_400(api, raw):
    response = api.app_call("POST", "/events/users", raw=raw)
    assert response.status_code == 400
    assert response.json()["code"] == 32
    assert not ApiCall.objects.filter(status_code=202).exists()


# ---- found by a hostile run against gunicorn, PostgreSQL and a worker -----------------------------------------


@pytest.mark.parametrize("version", ["2.\u0663", "2." + "9" * 500])
def test_an_odd_version_is_not_a_route(api, version):
    response = api.project_call("/profiles/update", [{"identifiers": {"custom_id": "a"}}], version=version)
    assert response.status_code == 404


def test_a_chunked_body_is_read_not_taken_for_empty(api):
    import io

    from django.test.client import ClientHandler  # the test client's handler: WSGI in, without its Content-Length

    body = json.dumps({"events": [{"name": "opened"}]}).encode()
    chunked_stream = io.BytesIO(body)  # what gunicorn hands over: the body, de-chunked, and no Content-Length
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": f"/1.0/{api.app.live_api_key}/events/users/u1",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "HTTP_HOST": "127.0.0.1",
        "wsgi.url_scheme": "http",
        "wsgi.input": chunked_stream,
        "wsgi.errors": io.StringIO(),
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "HTTP_X_AUTHORIZATION": api.rest_key,
    }
    response = ClientHandler()(environ)
    assert response.status_code == 202, response.content
    assert ApiCall.objects.get().counts == {"operations": 1}
