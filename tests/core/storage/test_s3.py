"""The S3 transport against moto's S3 server on loopback (signatures and IAM policies checked), and against servers
that fail on purpose: the contract, whole-or-nothing multipart writes, every error class, SSRF, no secret shown."""

from __future__ import annotations

import io

import botocore.exceptions
import pytest

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage import s3 as s3_module
from batchhub.core.storage.base import ErrorClass, TransportError, storage_timeout_within, transport_open
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
HOST = "s3.partner.example"  # a made-up name for the endpoint, answered by the tests' DNS override


@pytest.fixture(scope="session")
def s3_bucket(s3_server):
    s3_server.admin().create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture
def admin(s3_server, s3_bucket):
    return s3_server.admin()


def s3_settings(endpoint_url: str, **overrides) -> dict:
    return {"bucket": BUCKET, "prefix": PREFIX, "endpoint_url": endpoint_url, **overrides}


@pytest.fixture
def secrets(s3_server) -> dict:
    return {"access_key_id": s3_server.access_key_id, "secret_access_key": s3_server.secret_access_key}


@pytest.fixture
def s3(s3_server, s3_bucket, secrets):
    with transport_open("s3", s3_settings(s3_server.endpoint_url), secrets) as transport:
        yield transport


def failure(call) -> TransportError:
    with pytest.raises(TransportError) as caught:
        call()
    return caught.value


def keys(admin, prefix: str = "") -> list[str]:
    return [item["Key"] for item in admin.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", [])]


def test_it_passes_the_contract(s3):
    contract.check_write_list_read(s3)
    contract.check_move(s3)
    contract.check_list_by_segments(s3)


def test_an_empty_file_is_written_and_read_back(s3):
    assert s3.write("empty/none.csv", io.BytesIO(b"")) == 0
    assert [(item.name, item.size) for item in s3.list("empty/*")] == [("empty/none.csv", 0)]
    with s3.open_read("empty/none.csv") as stream:
        assert stream.read() == b""
    s3.delete("empty/none.csv")


def test_it_streams_50_mb_in_bounded_memory(s3):
    contract.check_large_streamed(s3)


def test_it_writes_under_the_prefix_and_lists_only_there(s3, admin):
    admin.put_object(Bucket=BUCKET, Key="exports/other/a.csv", Body=b"not ours")
    admin.put_object(Bucket=BUCKET, Key=f"{PREFIX}/folder/", Body=b"")  # a console's "folder" marker
    s3.write("prefix-check/a.csv", io.BytesIO(b"1"))
    assert f"{PREFIX}/prefix-check/a.csv" in keys(admin, PREFIX)
    assert [item.name for item in s3.list("prefix-check/*")] == ["prefix-check/a.csv"]
    assert all(not item.name.startswith(("exports/", "folder")) for item in s3.list())
    s3.delete("prefix-check/a.csv")


def test_secrets_may_come_as_secret_values(s3_server, s3_bucket):
    secrets = {
        "access_key_id": Secret(s3_server.access_key_id),
        "secret_access_key": Secret(s3_server.secret_access_key),
    }
    with transport_open("s3", s3_settings(s3_server.endpoint_url), secrets) as transport:
        transport.list()


@pytest.mark.parametrize("good", [3 * MB, 20 * MB], ids=["one part", "multipart"])
def test_a_write_that_fails_halfway_leaves_nothing(s3, admin, good):
    with pytest.raises(ValueError, match="source broke"):
        s3.write("halfway/big.bin", FailingStream(good, ValueError("source broke")))
    assert keys(admin, f"{PREFIX}/halfway/") == []
    assert admin.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []  # the parts are dropped too


def test_a_failed_replacement_keeps_the_old_object_whole(s3, admin):
    s3.write("replace/a.csv", io.BytesIO(b"old\n"))
    source_failure = TransportError(ErrorClass.TRANSIENT, "timeout", "the source timed out")
    with pytest.raises(TransportError) as caught:
        s3.write("replace/a.csv", FailingStream(12 * MB, source_failure))
    assert caught.value is source_failure  # the source's own classified error passes through unchanged
    with s3.open_read("replace/a.csv") as stream:
        assert stream.read() == b"old\n"
    assert admin.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    s3.delete("replace/a.csv")


def test_a_wrong_secret_key_is_refused_as_fix_on_your_side(s3_server, s3_bucket):
    secrets = {"access_key_id": s3_server.access_key_id, "secret_access_key": "wrong-secret"}
    with transport_open("s3", s3_settings(s3_server.endpoint_url), secrets) as transport:
        for call in (
            transport.list,
            lambda: transport.write("a.csv", io.BytesIO(b"x")),
            lambda: transport.write("big.bin", GeneratedStream(9 * MB)),
            lambda: transport.open_read("a.csv").__enter__(),
        ):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "auth_refused")
            assert error.retryable is False
            assert s3_server.access_key_id[-4:] in error.message  # which key, by its last characters only
            assert s3_server.access_key_id not in error.message


def test_an_unknown_access_key_is_refused(s3_server, s3_bucket):
    secrets = {"access_key_id": "AKIAUNKNOWNKEY000000", "secret_access_key": "whatever"}
    with transport_open("s3", s3_settings(s3_server.endpoint_url), secrets) as transport:
        assert failure(transport.list).code == "auth_refused"


def test_a_key_without_the_right_is_permission_denied(s3_server, s3_bucket):
    secrets = {"access_key_id": s3_server.reader_key_id, "secret_access_key": s3_server.reader_secret}
    with transport_open("s3", s3_settings(s3_server.endpoint_url), secrets) as transport:
        transport.list()  # reading is allowed
        for call in (lambda: transport.write("a.csv", io.BytesIO(b"x")), lambda: transport.delete("a.csv")):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "permission_denied")
            assert BUCKET in error.message


def test_a_missing_bucket_is_fix_on_your_side(s3_server, s3_bucket, secrets):
    settings = s3_settings(s3_server.endpoint_url, bucket="no-such-bucket")
    with transport_open("s3", settings, secrets) as transport:
        for call in (
            transport.list,
            lambda: transport.write("a.csv", io.BytesIO(b"x")),
            lambda: transport.open_read("a.csv").__enter__(),
        ):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bucket_missing")
            assert "no-such-bucket" in error.message


def test_a_missing_file_is_fix_on_your_side(s3):
    error = failure(lambda: s3.open_read("missing/a.csv").__enter__())
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "file_not_found")
    assert "missing/a.csv" in error.message
    assert failure(lambda: s3.move("missing/a.csv", "done/a.csv")).code == "file_not_found"


def test_a_move_onto_itself_keeps_the_file(s3):
    s3.write("same/a.csv", io.BytesIO(b"kept"))
    s3.move("same/a.csv", "same/./a.csv")
    with s3.open_read("same/a.csv") as stream:
        assert stream.read() == b"kept"
    s3.delete("same/a.csv")


def test_deleting_a_file_already_gone_is_not_an_error(s3):
    s3.delete("never-there.csv")


def test_a_stopped_server_is_transient(settings, refusing_port, secrets):
    settings.STORAGE_TIMEOUT_SECONDS = 2
    with transport_open("s3", s3_settings(f"http://127.0.0.1:{refusing_port}"), secrets) as transport:
        for call in (transport.list, lambda: transport.write("a.csv", io.BytesIO(b"x"))):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "connection_failed")
            assert error.retryable


def test_a_server_that_hangs_times_out_as_transient(settings, hanging_port, secrets):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    with transport_open("s3", s3_settings(f"http://127.0.0.1:{hanging_port}"), secrets) as transport:
        error = failure(transport.list)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "timeout")


def s3_error_body(code: str) -> str:
    return f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code><Message>m</Message></Error>'


@pytest.mark.parametrize(
    ("status", "code", "error_class", "ours"),
    [
        (503, "SlowDown", ErrorClass.TRANSIENT, "server_busy"),
        (503, "ServiceUnavailable", ErrorClass.TRANSIENT, "server_busy"),
        (500, "InternalError", ErrorClass.TRANSIENT, "server_busy"),
        (400, "RequestTimeout", ErrorClass.TRANSIENT, "server_busy"),
        (403, "AccessDenied", ErrorClass.FIX_ON_YOUR_SIDE, "permission_denied"),
        (404, "NoSuchBucket", ErrorClass.FIX_ON_YOUR_SIDE, "bucket_missing"),
        (301, "PermanentRedirect", ErrorClass.FIX_ON_YOUR_SIDE, "redirected"),
        (400, "SomethingNobodyExpected", ErrorClass.PLATFORM, "unexpected"),
    ],
)
def test_server_answers_are_classified(settings, scripted_http_server, secrets, status, code, error_class, ours):
    settings.STORAGE_TIMEOUT_SECONDS = 2
    scripted_http_server.answer(status, s3_error_body(code), content_type="application/xml")
    with transport_open("s3", s3_settings(scripted_http_server.url), secrets) as transport:
        error = failure(transport.list)
    assert (error.error_class, error.code) == (error_class, ours)
    assert error.message != "m" and "SomethingNobodyExpected" not in error.message  # never the server's own text


def test_a_redirect_is_not_followed(settings, scripted_http_server, refusing_port, secrets):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    scripted_http_server.answer(302, "", location=f"http://127.0.0.1:{refusing_port}/{BUCKET}")
    with transport_open("s3", s3_settings(scripted_http_server.url), secrets) as transport:
        for call in (transport.list, lambda: transport.write("a.csv", io.BytesIO(b"x"))):
            error = failure(call)
            assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "redirected")
    assert len(scripted_http_server.requests) == 2  # one each: no storm of HEAD requests asking for the region


def test_a_read_cut_halfway_is_transient(settings, scripted_http_server, secrets):
    settings.STORAGE_TIMEOUT_SECONDS = 2
    scripted_http_server.answer(200, b"x" * 1000, content_type="text/csv")
    scripted_http_server.cut_after = 100
    transport = transport_open("s3", s3_settings(scripted_http_server.url), secrets)
    with transport, transport.open_read("a.csv") as stream:
        error = failure(stream.read)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "connection_failed")


def test_an_unexpected_exception_is_ours_to_fix(s3, monkeypatch):
    monkeypatch.setattr(s3._client, "list_objects_v2", _raise(KeyError("surprise")), raising=False)
    monkeypatch.setattr(s3._client, "get_object", _raise(KeyError("surprise")))
    monkeypatch.setattr(s3._client, "put_object", _raise(botocore.exceptions.ParamValidationError(report="bad")))
    for call in (
        lambda: s3.open_read("a.csv").__enter__(),
        lambda: s3.write("a.csv", io.BytesIO(b"x")),
    ):
        error = failure(call)
        assert (error.error_class, error.code) == (ErrorClass.PLATFORM, "unexpected")
        assert error.__cause__ is not None  # kept for our own report


def _raise(exc: Exception):
    def call(*args, **kwargs):
        raise exc

    return call


@pytest.mark.parametrize("name", ["../x", "/etc/passwd", "a\x00b", "in/../../x", "a\\b"])
def test_names_that_could_leave_the_prefix_are_refused_before_any_request(s3, name):
    with no_connection():
        for call in (
            lambda: s3.write(name, io.BytesIO(b"x")),
            lambda: s3.open_read(name).__enter__(),
            lambda: s3.delete(name),
            lambda: s3.move(name, "a.csv"),
            lambda: s3.move("a.csv", name),
        ):
            assert failure(call).code == "bad_path"


@pytest.mark.parametrize(
    "endpoint_url",
    [
        "http://10.0.0.1:9000",
        "http://169.254.169.254",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::ffff:169.254.169.254]:80",
        "http://metadata.google.internal",
        "http://192.168.1.20:9000",
        "http://0.0.0.0:9000",
    ],
)
def test_an_endpoint_on_an_internal_address_is_refused_before_any_connection(endpoint_url, secrets):
    with no_connection():
        error = failure(lambda: transport_open("s3", s3_settings(endpoint_url), secrets))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "address_refused")


def test_a_loopback_endpoint_is_refused_unless_allowed(settings, scripted_http_server, secrets):
    settings.STORAGE_ALLOW_LOOPBACK = False
    port = scripted_http_server.url.rsplit(":", 1)[1]
    for endpoint_url in (f"http://localhost:{port}", f"http://127.0.0.1:{port}", f"http://[::1]:{port}"):
        with no_connection():
            error = failure(lambda url=endpoint_url: transport_open("s3", s3_settings(url), secrets))
        assert error.code == "address_refused"
    assert scripted_http_server.requests == []


@pytest.mark.parametrize(
    "endpoint_url", ["ftp://example.com", "http://user:pass@example.com", "example.com", "http://", "http://a b"]
)
def test_an_endpoint_that_is_not_a_plain_url_is_refused(endpoint_url, secrets):
    with no_connection():
        error = failure(lambda: transport_open("s3", s3_settings(endpoint_url), secrets))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "bad_endpoint")
    assert "user:pass" not in error.message


@pytest.mark.parametrize(
    ("settings_change", "code"),
    [({"bucket": "Bad_Bucket"}, "bad_settings"), ({"bucket": ""}, "bad_settings"), ({"prefix": "../up"}, "bad_path")],
)
def test_bad_settings_are_fix_on_your_side(s3_server, secrets, settings_change, code):
    error = failure(lambda: transport_open("s3", s3_settings(s3_server.endpoint_url, **settings_change), secrets))
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, code)


def test_missing_credentials_never_fall_back_on_the_environment(s3_server, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.secret_access_key)
    for secrets in ({}, {"access_key_id": s3_server.access_key_id}, {"access_key_id": "", "secret_access_key": ""}):
        error = failure(lambda secrets=secrets: transport_open("s3", s3_settings(s3_server.endpoint_url), secrets))
        assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "credentials_missing")


def test_the_secret_key_never_shows_in_errors_nor_logs(
    settings, s3_server, s3_bucket, scripted_http_server, refusing_port, hanging_port, caplog, monkeypatch
):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    debug_logs(caplog, monkeypatch)
    secrets = {"access_key_id": s3_server.access_key_id, "secret_access_key": CANARY}
    scripted_http_server.answer(400, s3_error_body("SomethingNobodyExpected"), content_type="application/xml")
    errors = []
    for endpoint_url in (
        s3_server.endpoint_url,
        f"http://127.0.0.1:{refusing_port}",
        f"http://127.0.0.1:{hanging_port}",
        scripted_http_server.url,
    ):
        with transport_open("s3", s3_settings(endpoint_url), secrets) as transport:
            errors.append(failure(transport.list))
            errors.append(failure(lambda transport=transport: transport.write("big.bin", GeneratedStream(9 * MB))))
    assert {error.error_class for error in errors} == set(ErrorClass)
    canary_absent(errors, caplog)
    for error in errors:
        assert s3_server.access_key_id not in error.message
    ours = [record for record in caplog.records if record.name.startswith("batchhub")]
    assert all(s3_server.access_key_id not in record.getMessage() for record in ours)


# --- the SSRF guard at connect time (DNS rebinding) --------------------------------------------------------------


def named(endpoint_url: str, host: str = HOST) -> str:
    """`endpoint_url` (on 127.0.0.1) with `host` for its address."""
    return endpoint_url.replace("//127.0.0.1:", f"//{host}:")


def port_of(endpoint_url: str) -> int:
    return int(endpoint_url.rsplit(":", 1)[1])


@pytest.mark.parametrize(
    ("rebound", "loopback"),
    [("127.0.0.1", False), ("10.0.0.1", True), ("169.254.169.254", True)],
    ids=["loopback", "private", "metadata"],
)
def test_an_endpoint_rebound_to_an_internal_address_is_refused_at_connect_time(
    settings, monkeypatch, secrets, rebound, loopback
):
    """A rebinding DNS server answers the check at open time with a public address, botocore's connection with an
    internal one: the connection is checked again and refused, before any connect and without a retry."""
    settings.STORAGE_ALLOW_LOOPBACK = loopback
    lookups = dns_override(monkeypatch, {HOST: (PUBLIC_ADDRESS, rebound)})
    with transport_open("s3", s3_settings(f"http://{HOST}:9000"), secrets) as transport:
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
    assert lookups == [HOST] * 5  # then once for each connection botocore tried to make: none retried


def test_a_named_endpoint_works_end_to_end_each_connection_made_to_the_address_checked(
    s3_server, s3_bucket, secrets, monkeypatch
):
    lookups = dns_override(monkeypatch, {HOST: "127.0.0.1"})
    connections = connections_recorded(monkeypatch)
    with transport_open("s3", s3_settings(named(s3_server.endpoint_url)), secrets) as transport:
        contract.check_write_list_read(transport)
        contract.check_move(transport)
    assert connections
    assert {address for address, _timeout in connections} == {("127.0.0.1", port_of(s3_server.endpoint_url))}
    assert len(lookups) == 1 + len(connections)  # the check at open time, then one (the guard's) per connection


def test_a_connection_that_times_out_is_transient_and_has_the_storage_timeout(
    settings, monkeypatch, secrets, refusing_port
):
    settings.STORAGE_TIMEOUT_SECONDS = 5
    dns_override(monkeypatch, {HOST: "127.0.0.1"})
    connections = connections_recorded(monkeypatch, fail={refusing_port: TimeoutError("timed out")})
    with storage_timeout_within(1.5), transport_open("s3", s3_settings(f"http://{HOST}:{refusing_port}"), secrets) as t:
        error = failure(t.list)
    assert (error.error_class, error.code) == (ErrorClass.TRANSIENT, "timeout")
    assert connections and {timeout for _address, timeout in connections} == {1.5}


def test_no_proxy_from_the_environment_is_used_for_an_endpoint(
    s3_server, s3_bucket, secrets, monkeypatch, refusing_port
):
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{refusing_port}")
    with transport_open("s3", s3_settings(s3_server.endpoint_url), secrets) as transport:
        transport.list()


LIST_EMPTY = (
    '<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
    f"<Name>{BUCKET}</Name><Prefix>{PREFIX}/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
    "<IsTruncated>false</IsTruncated></ListBucketResult>"
)


def test_tls_is_verified_against_the_endpoint_name(
    settings, scripted_https_server, tls_authority, secrets, monkeypatch, tmp_path
):
    """The connection is made to the address checked, the certificate verified against the endpoint's name: one
    for another name is refused even though it also names 127.0.0.1, the address connected to."""
    settings.STORAGE_TIMEOUT_SECONDS = 2
    authority, _other = tls_authority
    authority.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("AWS_CA_BUNDLE", str(tmp_path / "ca.pem"))
    dns_override(monkeypatch, {TLS_HOST: "127.0.0.1", HOST: "127.0.0.1"})
    scripted_https_server.answer(200, LIST_EMPTY, content_type="application/xml")
    port = port_of(scripted_https_server.url)
    with transport_open("s3", s3_settings(f"https://{TLS_HOST}:{port}"), secrets) as transport:
        assert transport.list() == []
    assert scripted_https_server.requests[0][2]["Host"] == f"{TLS_HOST}:{port}"
    with transport_open("s3", s3_settings(f"https://{HOST}:{port}"), secrets) as transport:
        error = failure(transport.list)
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, "tls_failed")
    assert len(scripted_https_server.requests) == 1


def test_an_endpoint_is_refused_when_botocore_no_longer_sends_as_expected(secrets, monkeypatch):
    """Should botocore build its HTTP session otherwise, its connections could not be checked: the transport does
    not open (ours to fix) rather than connect unchecked."""
    monkeypatch.setattr(s3_module, "_BOTOCORE_POOLS", {"http": object, "https": object})
    error = failure(lambda: transport_open("s3", s3_settings("http://127.0.0.1:9000"), secrets))
    assert (error.error_class, error.code) == (ErrorClass.PLATFORM, "unexpected")


def test_celerys_soft_time_limit_passes_through_unchanged(s3, admin, monkeypatch):
    """Raised by the source, by a botocore call or while a read is consumed, it reaches the task as itself (never
    an S3 failure ours to fix); an unfinished multipart upload is aborted all the same."""
    s3.write("limit/a.csv", io.BytesIO(b"abc"))

    def read_halfway():
        with s3.open_read("limit/a.csv") as stream:
            monkeypatch.setattr(stream.raw, "_read", raising(SOFT_TIME_LIMIT))
            stream.read()

    soft_time_limit_passes(read_halfway)
    soft_time_limit_passes(lambda: s3.write("limit/big.bin", FailingStream(12 * MB, SOFT_TIME_LIMIT)))
    with monkeypatch.context() as patched:
        patched.setattr(s3._client, "upload_part", raising(SOFT_TIME_LIMIT))
        soft_time_limit_passes(lambda: s3.write("limit/big.bin", GeneratedStream(9 * MB)))
    assert admin.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []
    for method, call in (
        ("list_objects_v2", s3.list),
        ("get_object", lambda: s3.open_read("limit/a.csv").__enter__()),
        ("put_object", lambda: s3.write("limit/b.csv", io.BytesIO(b"x"))),
        ("delete_object", lambda: s3.delete("limit/a.csv")),
    ):
        with monkeypatch.context() as patched:
            patched.setattr(s3._client, method, raising(SOFT_TIME_LIMIT))
            soft_time_limit_passes(call)
    assert keys(admin, f"{PREFIX}/limit/") == [f"{PREFIX}/limit/a.csv"]
    s3.delete("limit/a.csv")


def test_it_aborts_the_unfinished_uploads_a_killed_write_left_of_that_file_only(s3, admin):
    ours = admin.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}/discard/day.csv")["UploadId"]
    admin.upload_part(Bucket=BUCKET, Key=f"{PREFIX}/discard/day.csv", UploadId=ours, PartNumber=1, Body=b"half")
    other = admin.create_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}/discard/day.csv.manifest.json")["UploadId"]
    assert s3.discard_unfinished("discard/day.csv") == 1
    left = admin.list_multipart_uploads(Bucket=BUCKET, Prefix=f"{PREFIX}/discard/").get("Uploads", [])
    assert [upload["UploadId"] for upload in left] == [other]
    admin.abort_multipart_upload(Bucket=BUCKET, Key=f"{PREFIX}/discard/day.csv.manifest.json", UploadId=other)
