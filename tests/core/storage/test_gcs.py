"""The GCS transport against gcp-storage-emulator on loopback, with a service-account key traded at a token endpoint
the tests run, and against servers that fail on purpose: the contract, whole-or-nothing resumable writes, every
error class, SSRF (the endpoint and the key's token_uri), the key never shown."""

from __future__ import annotations

import io
import json

import pytest
import urllib3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage.base import ErrorClass, TransportError, storage_timeout_within, transport_open
from batchhub.core.storage.common import checked_pools
from tests.core.storage import contract
from tests.core.storage.contract import MB, GeneratedStream
from tests.core.storage.failures import (
    CANARY,
    PUBLIC_ADDRESS,
    SOFT_TIME_LIMIT,
    FailingStream,
    canary_absent,
    connections_recorded,
    debug_logs,
    dns_override,
    no_connection,
    raising,
    soft_time_limit_passes,
)
from tests.core.storage.servers_cloud import TLS_HOST

BUCKET = "batchhub-tests"
PREFIX = "exports/pushwave"
HOST = "gcs.partner.example"  # made-up names for the endpoint and the token endpoint, answered by a DNS override
TOKEN_HOST = "token.partner.example"
TOKEN = {"access_token": "ya29.test-token", "expires_in": 3600, "token_type": "Bearer"}


@pytest.fixture(scope="session")
def gcs_admin(gcs_server):
    client = storage.Client(
        project="batchhub-tests", credentials=AnonymousCredentials(), client_options={"api_endpoint": gcs_server}
    )
    client.create_bucket(BUCKET)
    return client


@pytest.fixture(scope="session")
def private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def key_json(token_uri: str, private_key: str, **overrides) -> str:
    info = {
        "type": "service_account",
        "project_id": "acme-exports",
        "private_key_id": "0123456789abcdef",
        "private_key": private_key,
        "client_email": "batchhub@acme-exports.iam.gserviceaccount.com",
        "client_id": "1234567890",
        "token_uri": token_uri,
    }
    return json.dumps({**info, **overrides})


def gcs_settings(endpoint_url: str, **overrides) -> dict:
    return {"bucket": BUCKET, "prefix": PREFIX, "endpoint_url": endpoint_url, **overrides}


@pytest.fixture
def gcs(gcs_server, gcs_admin):
    with transport_open("gcs", gcs_settings(gcs_server), {}) as transport:
        yield transport


def failure(call) -> TransportError:
    with pytest.raises(TransportError) as caught:
        call()
    return caught.value


def names(gcs_admin, prefix: str) -> list[str]:
    return [blob.name for blob in gcs_admin.list_blobs(BUCKET, prefix=prefix)]


def test_it_passes_the_contract(gcs):
    contract.check_write_list_read(gcs)
    contract.check_move(gcs)
    contract.check_list_by_segments(gcs)


def test_an_empty_file_is_written_and_read_back(gcs):
    assert gcs.write("empty/none.csv", io.BytesIO(b"")) == 0
    assert [(item.name, item.size) for item in gcs.list("empty/*")] == [("empty/none.csv", 0)]
    with gcs.open_read("empty/none.csv") as stream:
        assert stream.read() == b""
    gcs.delete("empty/none.csv")


def test_it_streams_50_mb_in_bounded_memory(gcs):
    contract.check_large_streamed(gcs)


def test_a_service_account_key_is_traded_for_a_token_and_used(
    gcs_server, gcs_admin, scripted_http_server, private_key_pem
):
    scripted_http_server.answer(200, json.dumps(TOKEN), content_type="application/json")
    secrets = {"service_account_json": Secret(key_json(f"{scripted_http_server.url}/token", private_key_pem))}
    with transport_open("gcs", gcs_settings(gcs_server), secrets) as transport:
        contract.check_write_list_read(transport)
    method, path, _headers, body = scripted_http_server.requests[0]
    assert (method, path) == ("POST", "/token")
    assert b"grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in body
    assert len(scripted_http_server.requests) == 1  # one token for the whole job


def test_it_writes_under_the_prefix_and_lists_only_there(gcs, gcs_admin):
    gcs_admin.bucket(BUCKET).blob("exports/other/a.csv").upload_from_string(b"not ours")
    gcs.write("prefix-check/a.csv", io.BytesIO(b"1"))
    assert f"{PREFIX}/prefix-check/a.csv" in names(gcs_admin, PREFIX)
    assert [item.name for item in gcs.list("prefix-check/*")] == ["prefix-check/a.csv"]
    assert all(not item.name.startswith("exports/") for item in gcs.list())
    gcs.delete("prefix-check/a.csv")


@pytest.mark.parametrize("good", [3 * MB, 20 * MB], ids=["one chunk", "several chunks"])
def test_a_write_that_fails_halfway_leaves_nothing(gcs, gcs_admin, good):
    with pytest.raises(ValueError, match="source broke"):
        gcs.write("halfway/big.bin", FailingStream(good, ValueError("source broke")))
    assert names(gcs_admin, f"{PREFIX}/halfway/") == []


def test_a_failed_replacement_keeps_the_old_object_whole(gcs):
    gcs.write("replace/a.csv", io.BytesIO(b"old\n"))
    source_failure = TransportError(ErrorClass.TRANSIENT, "timeout", "the source timed out")
    with pytest.raises(TransportError) as caught:
        gcs.write("replace/a.csv", FailingStream(12 * MB, source_failure))
    assert caught.value is source_failure
    with gcs.open_read("replace/a.csv") as stream:
        assert stream.read() == b"old\n"
    gcs.delete("replace/a.csv")


def test_a_refused_key_is_fix_on_your_side(settings, gcs_server, gcs_admin, scripted_http_server, private_key_pem):
    settings.STORAGE_TIMEOUT_SECONDS = 1
    refused = {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
    scripted_http_server.answer(400, json.dumps(refused), content_type="application/json")
    secrets = {"service_account_json": key_json(f"{scripted_http_server.url}/token", private_key_pem)}
    with transport_open("gcs", gcs_settings(gcs_server), secrets) as transport:
        for call in (
            transport.list,
            lambda: transport.write("a.csv", io.BytesIO(b"x")),
            lambda: transport.open_read("a.csv").__enter__(),
        ):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "auth_refused")
            assert error.retryable is False


@pytest.mark.parametrize(
    ("status", "error_class", "code"),
    [
        (401, ErrorClass.FIX_ON_YOUR_SIDE, "auth_refused"),
        (403, ErrorClass.FIX_ON_YOUR_SIDE, "permission_denied"),
        (404, ErrorClass.FIX_ON_YOUR_SIDE, "bucket_missing"),
        (429, ErrorClass.TRANSIENT, "server_busy"),
        (500, ErrorClass.TRANSIENT, "server_busy"),
        (503, ErrorClass.TRANSIENT, "server_busy"),
        (504, ErrorClass.TRANSIENT, "server_busy"),
        (409, ErrorClass.PLATFORM, "unexpected"),
    ],
)
def test_server_answers_are_classified(settings, scripted_http_server, status, error_class, code):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5  # also the time the client's own retries may take
    body = {"error": {"code": status, "message": "server text"}}
    scripted_http_server.answer(status, json.dumps(body), content_type="application/json")
    with transport_open("gcs", gcs_settings(scripted_http_server.url), {}) as transport:
        for call in (transport.list, lambda: transport.write("a.csv", io.BytesIO(b"x"))):
            error = failure(call)
            assert (error.error_class, error.code) == (error_class, code)
            assert "server text" not in error.message


def test_a_redirect_is_not_followed(settings, scripted_http_server, refusing_port):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    elsewhere = f"http://127.0.0.1:{refusing_port}/storage/v1/b/{BUCKET}/o"  # followed, it would be refused
    scripted_http_server.answer(302, "", location=elsewhere)
    with transport_open("gcs", gcs_settings(scripted_http_server.url), {}) as transport:
        for call in (transport.list, lambda: transport.write("a.csv", io.BytesIO(b"x"))):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "redirected")


def test_a_missing_bucket_is_fix_on_your_side(gcs_server, gcs_admin):
    with transport_open("gcs", gcs_settings(gcs_server, bucket="no-such-bucket"), {}) as transport:
        for call in (
            transport.list,
            lambda: transport.write("a.csv", io.BytesIO(b"x")),
            lambda: transport.write("big.bin", GeneratedStream(9 * MB)),
            lambda: transport.open_read("a.csv").__enter__(),
            lambda: transport.delete("a.csv"),
            lambda: transport.move("a.csv", "b.csv"),
        ):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bucket_missing")
            assert "no-such-bucket" in error.message


def test_a_missing_file_is_fix_on_your_side(gcs):
    error = failure(lambda: gcs.open_read("missing/a.csv").__enter__())
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "file_not_found")
    assert "missing/a.csv" in error.message
    assert failure(lambda: gcs.move("missing/a.csv", "done/a.csv")).code == "file_not_found"


def test_a_move_onto_itself_keeps_the_file(gcs):
    gcs.write("same/a.csv", io.BytesIO(b"kept"))
    gcs.move("same/a.csv", "same/./a.csv")
    with gcs.open_read("same/a.csv") as stream:
        assert stream.read() == b"kept"
    gcs.delete("same/a.csv")


def test_deleting_a_file_already_gone_is_not_an_error(gcs):
    gcs.delete("never-there.csv")


def test_a_stopped_server_is_transient(settings, refusing_port):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    with transport_open("gcs", gcs_settings(f"http://127.0.0.1:{refusing_port}"), {}) as transport:
        for call in (transport.list, lambda: transport.write("a.csv", io.BytesIO(b"x"))):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "connection_failed")
            assert error.retryable


def test_a_server_that_hangs_times_out_as_transient(settings, hanging_port):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    with transport_open("gcs", gcs_settings(f"http://127.0.0.1:{hanging_port}"), {}) as transport:
        error = failure(transport.list)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "timeout")


@pytest.mark.parametrize(
    ("answer", "code"), [((503, '{"error": "unavailable"}'), "server_busy"), (None, "connection_failed")]
)
def test_a_token_endpoint_away_or_busy_is_transient(
    settings, gcs_server, scripted_http_server, refusing_port, private_key_pem, answer, code
):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    if answer:
        scripted_http_server.answer(*answer, content_type="application/json")
        token_uri = f"{scripted_http_server.url}/token"
    else:
        token_uri = f"http://127.0.0.1:{refusing_port}/token"
    secrets = {"service_account_json": key_json(token_uri, private_key_pem)}
    with transport_open("gcs", gcs_settings(gcs_server), secrets) as transport:
        error = failure(transport.list)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, code)


def test_a_read_cut_halfway_is_transient(settings, scripted_http_server):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    metadata = {"bucket": BUCKET, "name": f"{PREFIX}/a.csv", "generation": "7", "size": "1000"}
    scripted_http_server.queue(200, json.dumps(metadata), content_type="application/json")
    scripted_http_server.answer(206, b"x" * 1000, content_range="bytes 0-999/1000")
    scripted_http_server.cut_after = 100
    transport = transport_open("gcs", gcs_settings(scripted_http_server.url), {})
    with transport, transport.open_read("a.csv") as stream:
        error = failure(lambda: stream.read(256 * 1024))
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "connection_failed")
    assert "generation=7" in scripted_http_server.requests[1][1]  # the generation first seen is the one read


def test_an_unexpected_exception_is_ours_to_fix(gcs, monkeypatch):
    def surprise(*args, **kwargs):
        raise KeyError("surprise")

    monkeypatch.setattr(storage.Blob, "reload", surprise)
    monkeypatch.setattr(storage.Client, "list_blobs", surprise)
    for call in (gcs.list, lambda: gcs.open_read("a.csv").__enter__()):
        error = failure(call)
        assert (error.error_class, error.code) == (ErrorClass.PLATFORM, "unexpected")
        assert isinstance(error.__cause__, KeyError)  # kept for our own report


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a\x00b", "in/../../x", "a\\b"])
def test_names_that_could_leave_the_prefix_are_refused_before_any_request(gcs, name):
    with no_connection():
        for call in (
            lambda: gcs.write(name, io.BytesIO(b"x")),
            lambda: gcs.open_read(name).__enter__(),
            lambda: gcs.delete(name),
            lambda: gcs.move(name, "a.csv"),
            lambda: gcs.move("a.csv", name),
        ):
            assert failure(call).code == "bad_path"


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "http://10.0.0.1:9000",
        "http://169.254.169.254",
        "http://metadata.google.internal",
        "http://metadata",
        "http://[fd00::1]:443",
        "http://172.16.0.1",
    ],
)
def test_an_endpoint_on_an_internal_address_is_refused_before_any_connection(endpoint_url):
    with no_connection():
        error = failure(lambda: transport_open("gcs", gcs_settings(endpoint_url), {}))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "address_refused")


def test_a_loopback_endpoint_is_refused_unless_allowed(settings, scripted_http_server):
    settings.STORAGE_ALLOW_LOOPBACK = False
    port = scripted_http_server.url.rsplit(":", 1)[1]
    for endpoint_url in (f"http://localhost:{port}", f"http://127.0.0.1:{port}", f"http://127.1.2.3:{port}"):
        with no_connection():
            error = failure(lambda url=endpoint_url: transport_open("gcs", gcs_settings(url), {}))
        assert error.code == "address_refused"
    assert scripted_http_server.requests == []


@pytest.mark.parametrize(
    "token_uri", ["http://169.254.169.254/computeMetadata/v1/token", "https://10.1.2.3/token", "http://metadata/t"]
)
def test_a_key_whose_token_uri_is_internal_is_refused_before_any_connection(gcs_server, private_key_pem, token_uri):
    secrets = {"service_account_json": key_json(token_uri, private_key_pem)}
    with no_connection():
        error = failure(lambda: transport_open("gcs", gcs_settings(gcs_server), secrets))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "address_refused")


def test_a_token_uri_in_clear_is_refused_in_production(settings, private_key_pem):
    settings.STORAGE_ALLOW_LOOPBACK = False
    secrets = {"service_account_json": key_json("http://oauth2.example.com/token", private_key_pem)}
    with no_connection():
        error = failure(lambda: transport_open("gcs", {"bucket": BUCKET}, secrets))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bad_credentials")


@pytest.mark.parametrize(
    "text",
    [
        "{not json " + CANARY,
        json.dumps([CANARY]),
        json.dumps({"type": "authorized_user", "refresh_token": CANARY}),
        json.dumps({"type": "service_account", "private_key": CANARY}),
        "PRIVATE_KEY",  # replaced by an unreadable key below
        "UNIVERSE",
    ],
    ids=["not json", "not an object", "not a service account", "fields missing", "bad private key", "universe"],
)
def test_a_malformed_key_is_fix_on_your_side_and_never_quoted(gcs_server, caplog, monkeypatch, text):
    debug_logs(caplog, monkeypatch)
    bad_pem = f"-----BEGIN PRIVATE KEY-----\n{CANARY}\n-----END PRIVATE KEY-----\n"
    text = {
        "PRIVATE_KEY": key_json("https://oauth2.googleapis.com/token", bad_pem),
        "UNIVERSE": key_json("https://oauth2.googleapis.com/token", bad_pem, universe_domain=CANARY + ".example"),
    }.get(text, text)
    with no_connection():
        error = failure(lambda: transport_open("gcs", gcs_settings(gcs_server), {"service_account_json": text}))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bad_credentials")
    canary_absent(error, caplog)


def test_a_key_is_required_outside_an_emulator():
    with no_connection():
        error = failure(lambda: transport_open("gcs", {"bucket": BUCKET}, {}))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bad_credentials")


@pytest.mark.parametrize(
    ("settings_change", "code"),
    [
        ({"bucket": "Bad Bucket"}, "bad_settings"),
        ({"bucket": None}, "bad_settings"),
        ({"prefix": "../up"}, "bad_path"),
        ({"endpoint_url": "ftp://example.com"}, "bad_endpoint"),
    ],
)
def test_bad_settings_are_fix_on_your_side(gcs_server, settings_change, code):
    error = failure(lambda: transport_open("gcs", {**gcs_settings(gcs_server), **settings_change}, {}))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, code)


def test_the_key_never_shows_in_errors_nor_logs(
    settings, gcs_server, gcs_admin, scripted_http_server, refusing_port, private_key_pem, caplog, monkeypatch
):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    debug_logs(caplog, monkeypatch)
    pem_body = private_key_pem.splitlines()[5]  # a line of the key itself
    token_uri = f"{scripted_http_server.url}/token"
    key = key_json(token_uri, private_key_pem, private_key_id=CANARY, client_id=CANARY)
    secrets = {"service_account_json": key}
    errors = []
    # refused by the token endpoint
    scripted_http_server.answer(400, '{"error": "invalid_grant"}', content_type="application/json")
    with transport_open("gcs", gcs_settings(gcs_server), secrets) as transport:
        errors += [failure(transport.list), failure(lambda: transport.write("big.bin", GeneratedStream(9 * MB)))]
    # granted a token (itself a secret), then the storage server is away or answers oddly
    canary_token = {**TOKEN, "access_token": f"ya29.{CANARY}"}
    for endpoint_url, answer in (
        (f"http://127.0.0.1:{refusing_port}", None),
        (scripted_http_server.url, (409, '{"error": {"code": 409, "message": "odd"}}')),
    ):
        scripted_http_server.queued.clear()
        scripted_http_server.queue(200, json.dumps(canary_token), content_type="application/json")
        if answer:
            scripted_http_server.answer(*answer, content_type="application/json")
        with transport_open("gcs", gcs_settings(endpoint_url), secrets) as transport:
            errors += [failure(transport.list), failure(lambda t=transport: t.write("a.csv", io.BytesIO(b"x")))]
    assert {error.error_class for error in errors} == set(ErrorClass)
    canary_absent(errors, caplog)
    canary_absent(errors, caplog, secret=pem_body)


# --- the SSRF guard at connect time (DNS rebinding) --------------------------------------------------------------


def named(url: str, host: str = HOST) -> str:
    """`url` (on 127.0.0.1) with `host` for its address."""
    return url.replace("//127.0.0.1:", f"//{host}:")


def port_of(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


REBOUND = pytest.mark.parametrize(
    ("rebound", "loopback"),
    [("127.0.0.1", False), ("10.0.0.1", True), ("169.254.169.254", True)],
    ids=["loopback", "private", "metadata"],
)


@REBOUND
def test_an_endpoint_rebound_to_an_internal_address_is_refused_at_connect_time(
    settings, monkeypatch, rebound, loopback
):
    """A rebinding DNS server answers the check at open time with a public address, the client's connection with
    an internal one: the connection is checked again and refused, before any connect and without a retry."""
    settings.STORAGE_ALLOW_LOOPBACK = loopback
    lookups = dns_override(monkeypatch, {HOST: (PUBLIC_ADDRESS, rebound)})
    with transport_open("gcs", gcs_settings(f"http://{HOST}:9000"), {}) as transport:
        assert lookups == [HOST]  # checked at open time: public
        with no_connection():
            for call in (
                transport.list,
                lambda: transport.write("a.csv", io.BytesIO(b"x")),
                lambda: transport.open_read("a.csv").__enter__(),
                lambda: transport.delete("a.csv"),
            ):
                error = failure(call)
                assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "address_refused")
    assert lookups == [HOST] * 5  # then once for each connection the client tried to make: none retried


@REBOUND
def test_a_token_endpoint_rebound_to_an_internal_address_is_refused_at_connect_time(
    settings, monkeypatch, private_key_pem, rebound, loopback
):
    settings.STORAGE_ALLOW_LOOPBACK = loopback
    lookups = dns_override(monkeypatch, {HOST: PUBLIC_ADDRESS, TOKEN_HOST: (PUBLIC_ADDRESS, rebound)})
    secrets = {"service_account_json": key_json(f"https://{TOKEN_HOST}/token", private_key_pem)}
    with transport_open("gcs", gcs_settings(f"https://{HOST}"), secrets) as transport, no_connection():
        error = failure(transport.list)  # the token first: refused before the storage endpoint is reached
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "address_refused")
    assert lookups == [HOST, TOKEN_HOST, TOKEN_HOST]  # both checked at open time, then the token's connection


def test_a_named_endpoint_and_token_endpoint_work_end_to_end_each_connection_made_to_the_address_checked(
    gcs_server, gcs_admin, scripted_http_server, private_key_pem, monkeypatch
):
    scripted_http_server.answer(200, json.dumps(TOKEN), content_type="application/json")
    lookups = dns_override(monkeypatch, {HOST: "127.0.0.1", TOKEN_HOST: "127.0.0.1"})
    connections = connections_recorded(monkeypatch)
    secrets = {
        "service_account_json": key_json(f"{named(scripted_http_server.url, TOKEN_HOST)}/token", private_key_pem)
    }
    with transport_open("gcs", gcs_settings(named(gcs_server)), secrets) as transport:
        contract.check_write_list_read(transport)
        contract.check_move(transport)
    assert [request[:2] for request in scripted_http_server.requests] == [("POST", "/token")]
    ports = {port_of(gcs_server), port_of(scripted_http_server.url)}
    assert connections and {address for address, _timeout in connections} == {("127.0.0.1", port) for port in ports}
    assert len(lookups) == 2 + len(connections)  # each host checked at open time, then once per connection


def test_an_upload_session_on_an_internal_address_is_refused(settings, scripted_http_server, monkeypatch):
    """The server names the resumable upload's session URL: its host is checked like the endpoint's."""
    settings.STORAGE_TIMEOUT_SECONDS = 2
    scripted_http_server.queue(200, "{}", location="http://169.254.169.254/upload/session-1")
    connections = connections_recorded(monkeypatch)
    with transport_open("gcs", gcs_settings(scripted_http_server.url), {}) as transport:
        error = failure(lambda: transport.write("a.csv", io.BytesIO(b"x")))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "address_refused")
    # the upload started (then cancelled on the endpoint, where the client sends its DELETE), never continued
    assert [request[0] for request in scripted_http_server.requests] == ["POST", "DELETE"]
    assert {address for address, _timeout in connections} == {("127.0.0.1", port_of(scripted_http_server.url))}


def test_a_connection_that_times_out_is_transient_and_has_the_storage_timeout(settings, monkeypatch, refusing_port):
    settings.STORAGE_TIMEOUT_SECONDS = 5
    dns_override(monkeypatch, {HOST: "127.0.0.1"})
    connections = connections_recorded(monkeypatch, fail={refusing_port: TimeoutError("timed out")})
    with storage_timeout_within(1.5), transport_open("gcs", gcs_settings(f"http://{HOST}:{refusing_port}"), {}) as t:
        error = failure(t.list)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "timeout")
    assert connections and {timeout for _address, timeout in connections} == {1.5}


def test_no_proxy_from_the_environment_is_used_for_an_endpoint(gcs_server, gcs_admin, monkeypatch, refusing_port):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{refusing_port}")
    with transport_open("gcs", gcs_settings(gcs_server), {}) as transport:
        transport.list()


def test_tls_is_verified_against_the_endpoint_name(
    settings, scripted_https_server, tls_authority, monkeypatch, tmp_path
):
    """The connection is made to the address checked, the certificate verified against the endpoint's name: one
    for another name is refused even though it also names 127.0.0.1, the address connected to."""
    settings.STORAGE_TIMEOUT_SECONDS = 2
    authority, _other = tls_authority
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    dns_override(monkeypatch, {TLS_HOST: "127.0.0.1", HOST: "127.0.0.1"})
    scripted_https_server.answer(200, '{"kind": "storage#objects"}', content_type="application/json")
    port = port_of(scripted_https_server.url)
    for host, works in ((TLS_HOST, True), (HOST, False)):
        with transport_open("gcs", gcs_settings(f"https://{host}:{port}"), {}) as transport:
            if works:
                assert transport.list() == []
            else:
                error = failure(transport.list)
                assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "tls_failed")
    assert [request[2]["Host"] for request in scripted_https_server.requests] == [f"{TLS_HOST}:{port}"]


def test_a_checked_connection_is_never_made_through_a_proxy(scripted_http_server):
    """Through a proxy, the proxy would resolve the host: a checked connection refuses to be made to one (no
    transport sets one up; this guards against one that would)."""
    manager = urllib3.ProxyManager(scripted_http_server.url)
    manager.pool_classes_by_scheme = checked_pools(urllib3.HTTPConnectionPool, urllib3.HTTPSConnectionPool)
    with pytest.raises(TransportError) as raised:
        manager.request("GET", f"http://{HOST}/storage/v1/b")
    assert (raised.value.error_class, raised.value.code) == (ErrorClass.PLATFORM, "proxy_refused")
    assert scripted_http_server.requests == []


def test_celerys_soft_time_limit_passes_through_unchanged(gcs, gcs_admin, monkeypatch):
    """Raised by the source, by a client call or while a read is consumed, it reaches the task as itself (never a
    GCS failure ours to fix); an unfinished upload is cancelled all the same."""
    gcs.write("limit/a.csv", io.BytesIO(b"abc"))

    def read_halfway():
        with gcs.open_read("limit/a.csv") as stream:
            monkeypatch.setattr(stream.raw, "_read", raising(SOFT_TIME_LIMIT))
            stream.read()

    soft_time_limit_passes(read_halfway)
    soft_time_limit_passes(lambda: gcs.write("limit/big.bin", FailingStream(12 * MB, SOFT_TIME_LIMIT)))
    for owner, method, call in (
        (storage.Client, "list_blobs", gcs.list),
        (storage.Blob, "reload", lambda: gcs.open_read("limit/a.csv").__enter__()),
        (storage.Blob, "delete", lambda: gcs.delete("limit/a.csv")),
        (storage.Blob, "rewrite", lambda: gcs.move("limit/a.csv", "limit/b.csv")),
    ):
        with monkeypatch.context() as patched:
            patched.setattr(owner, method, raising(SOFT_TIME_LIMIT))
            soft_time_limit_passes(call)
    assert names(gcs_admin, f"{PREFIX}/limit/") == [f"{PREFIX}/limit/a.csv"]
    gcs.delete("limit/a.csv")
