"""The HTTP(S) source transport against real pytest-httpserver servers on loopback
(tests/core/storage/servers_net.py); private addresses are only ever refused, never connected to."""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
import tracemalloc

import httpx
import pytest

from batchhub.core.storage.base import ErrorClass, TransportError, transport_open
from tests.core.storage import contract
from tests.core.storage.failures import (
    CANARY,
    REFUSED_HOSTS,
    SOFT_TIME_LIMIT,
    canary_absent,
    dns_override,
    fix_on_your_side,
    raising,
    soft_time_limit_passes,
    transient,
)
from tests.core.storage.servers_net import (
    CSV,
    HEADER_NAME,
    HEADER_VALUE,
    LARGE_SIZE,
    PASSWORD,
    PRIVATE_LOOKING_HOST,
    USER,
    port_free,
)

BASIC = {"username": USER, "password": PASSWORD}
HEADER = {"header_name": HEADER_NAME, "header_value": HEADER_VALUE}


def source(url: str, secrets: dict | None = None, **settings):
    return transport_open("http", {"url": url, **settings}, secrets or {})


def read_error(url: str, secrets: dict | None = None, **settings) -> TransportError:
    """The error reading the URL's file raises (opening a source makes no request)."""
    with pytest.raises(TransportError) as raised, source(url, secrets, **settings) as transport:
        read_all(transport)
    return raised.value


def read_all(transport) -> bytes:
    with transport.open_read(transport.name) as stream:
        return stream.read()


# --- reading and listing -----------------------------------------------------------------------------------------


def test_it_lists_the_one_file_the_url_names_with_its_size_and_time(http_server):
    with source(http_server.url("/files/export.csv")) as transport:
        assert not transport.can_write
        [listed] = transport.list("*.csv")
        assert (listed.name, listed.size) == ("export.csv", len(CSV))
        assert listed.modified_at == dt.datetime(2026, 10, 21, 7, 28, tzinfo=dt.UTC)
        assert transport.list("*.txt") == []
        assert transport.list("files/*.csv") == []  # names are the file's, not the URL's path
        with transport.open_read("export.csv") as stream:
            assert stream.read() == CSV


def test_it_lists_from_a_get_where_the_server_refuses_head(http_server):
    with source(http_server.url("/no-head/export.csv")) as transport:
        assert [(item.name, item.size) for item in transport.list()] == [("export.csv", len(CSV))]


def test_it_streams_50_mb_in_bounded_memory(http_server):
    expected = contract.GeneratedStream(LARGE_SIZE)
    while expected.read(1024 * 1024):
        pass
    with source(http_server.url("/large/data.bin")) as transport:
        assert [item.size for item in transport.list("data.bin")] == [LARGE_SIZE]
        digest, total = hashlib.sha256(), 0
        tracemalloc.start()
        try:
            with transport.open_read("data.bin") as stream:
                while chunk := stream.read(256 * 1024):
                    digest.update(chunk)
                    total += len(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert (total, digest.hexdigest()) == (LARGE_SIZE, expected.sha256.hexdigest())
    assert peak < 24 * contract.MB, f"read peaked at {peak / contract.MB:.1f} MB"


def test_it_reads_over_https_with_a_pinned_ca(https_server, tls_authority):
    authority, _other = tls_authority
    for host in ("127.0.0.1", "localhost"):
        url = https_server.url("/files/export.csv", host=host)
        with source(url, ca_pem=authority.cert_pem.bytes().decode()) as transport:
            assert read_all(transport) == CSV


@pytest.mark.parametrize("secrets", [BASIC, HEADER], ids=["basic", "header"])
def test_it_sends_the_credentials(http_server, secrets):
    path = "/basic/export.csv" if "username" in secrets else "/header/export.csv"
    with source(http_server.url(path), secrets) as transport, transport.open_read("export.csv") as stream:
        assert stream.read() == CSV


def test_it_is_read_only(http_server):
    with source(http_server.url("/files/export.csv")) as transport:
        for attempt in (
            lambda: transport.write("export.csv", io.BytesIO(b"x")),
            lambda: transport.delete("export.csv"),
            lambda: transport.move("export.csv", "done.csv"),
        ):
            with pytest.raises(TransportError) as raised:
                attempt()
            fix_on_your_side(raised.value, "read_only")
            assert "read only" in raised.value.message


def test_it_serves_only_the_file_the_url_names(http_server):
    with source(http_server.url("/files/export.csv")) as transport:
        with pytest.raises(TransportError) as raised, transport.open_read("other.csv"):
            pass
        fix_on_your_side(raised.value, "not_found")
        for name in ("../x", "/etc/passwd", "nul\x00.csv"):
            with pytest.raises(TransportError) as raised, transport.open_read(name):
                pass
            fix_on_your_side(raised.value, "bad_path")
        with pytest.raises(TransportError) as raised:
            transport.list("../*")
        fix_on_your_side(raised.value, "bad_path")


# --- redirects ---------------------------------------------------------------------------------------------------


def test_a_redirect_on_the_same_origin_keeps_the_credentials(http_server):
    with source(http_server.url("/redirect/same/export.csv"), BASIC) as transport:
        assert [item.size for item in transport.list()] == [len(CSV)]
        with transport.open_read("export.csv") as stream:
            assert stream.read() == CSV


@pytest.mark.parametrize("secrets", [BASIC, HEADER], ids=["basic", "header"])
def test_a_redirect_to_another_origin_drops_the_credentials(http_server, secrets):
    # The target answers 400 when it receives any credential (localhost is another origin than 127.0.0.1).
    with source(http_server.url("/redirect/other-origin/export.csv"), secrets) as transport:
        assert read_all(transport) == CSV


@pytest.mark.parametrize("path", ["/redirect/ten/export.csv", "/redirect/metadata/export.csv"])
def test_a_redirect_to_a_private_address_is_refused_even_with_loopback_allowed(http_server, settings, path):
    assert settings.STORAGE_ALLOW_LOOPBACK
    error = read_error(http_server.url(path))
    fix_on_your_side(error, "address_refused")
    assert "redirected" in error.message


def test_a_redirect_to_a_public_looking_name_of_a_private_address_is_refused(http_server, monkeypatch):
    lookups = dns_override(monkeypatch, {PRIVATE_LOOKING_HOST: "10.1.2.3"})
    fix_on_your_side(read_error(http_server.url("/redirect/private/export.csv")), "address_refused")
    assert lookups == [PRIVATE_LOOKING_HOST]


def test_redirects_stop_after_five(http_server):
    fix_on_your_side(read_error(http_server.url("/redirect/loop/export.csv")), "too_many_redirects")


def test_a_redirect_to_another_scheme_is_refused(http_server):
    fix_on_your_side(read_error(http_server.url("/redirect/ftp/export.csv")), "bad_redirect")


def test_a_redirect_from_https_down_to_http_is_refused(https_server, tls_authority):
    authority, _other = tls_authority
    url = https_server.url("/redirect/plain/export.csv")
    fix_on_your_side(read_error(url, ca_pem=authority.cert_pem.bytes().decode()), "bad_redirect")


# --- the SSRF guard ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [*REFUSED_HOSTS, "[::ffff:127.0.0.1]", "2130706433", "0x7f.1", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
     "[::127.0.0.1]", "[::ffff:0:127.0.0.1]"],
)  # fmt: skip
def test_private_and_internal_hosts_are_refused(http_server, settings, host):
    settings.STORAGE_ALLOW_LOOPBACK = False
    error = read_error(f"http://{host}:{http_server.port}/files/export.csv")
    fix_on_your_side(error, "address_refused")
    with pytest.raises(TransportError) as raised, source(f"http://{host}:{http_server.port}/files/export.csv") as t:
        t.list()
    fix_on_your_side(raised.value, "address_refused")


def test_the_connection_goes_to_the_address_checked_without_a_second_lookup(http_server, monkeypatch):
    """A rebinding DNS server would answer a second lookup differently: there is none, httpcore connects to the
    address the guard checked."""
    lookups = dns_override(monkeypatch, {"files.partner.example": "127.0.0.1"})
    url = f"http://files.partner.example:{http_server.port}/files/export.csv"
    with source(url) as transport, transport.open_read("export.csv") as stream:
        assert stream.read() == CSV
    assert lookups == ["files.partner.example"]


def test_no_proxy_from_the_environment_is_used(http_server, monkeypatch):
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{port_free()}")
    monkeypatch.setenv("ALL_PROXY", f"http://127.0.0.1:{port_free()}")
    with source(http_server.url("/files/export.csv")) as transport, transport.open_read("export.csv") as stream:
        assert stream.read() == CSV


# --- failures, classified --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "code"), [("/busy/export.csv", "rate_limited"), ("/down/export.csv", "server_error")])
def test_a_busy_or_failing_server_is_transient(http_server, path, code):
    transient(read_error(http_server.url(path)), code)


def test_a_missing_file_is_fix_on_your_side(http_server):
    fix_on_your_side(read_error(http_server.url("/missing/export.csv")), "not_found")


def test_a_wrong_password_is_fix_on_your_side_and_never_shown(http_server, caplog):
    caplog.set_level(logging.DEBUG)
    error = read_error(http_server.url("/basic/export.csv"), {"username": USER, "password": CANARY})
    fix_on_your_side(error, "auth_refused")
    canary_absent(error, caplog)


def test_a_wrong_header_is_fix_on_your_side_and_never_shown(http_server, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {"header_name": HEADER_NAME, "header_value": CANARY}
    with pytest.raises(TransportError) as raised, source(http_server.url("/header/export.csv"), secrets) as t:
        t.list()
    fix_on_your_side(raised.value, "permission_denied")
    canary_absent(raised.value, caplog)
    error = read_error(http_server.url("/header/export.csv"), secrets)
    fix_on_your_side(error, "permission_denied")
    canary_absent(error, caplog)


def test_a_header_value_that_could_not_be_sent_is_refused_without_showing_it(http_server, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {"header_name": HEADER_NAME, "header_value": f"{CANARY}\r\nX-Injected: 1"}
    error = read_error(http_server.url("/header/export.csv"), secrets)
    fix_on_your_side(error, "settings_invalid")
    canary_absent(error, caplog)


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/export.csv", "http:///export.csv", "not a url", f"http://{USER}:{CANARY}@127.0.0.1/x"]
)
def test_a_url_that_is_not_http_or_holds_credentials_is_refused(url):
    with pytest.raises(TransportError) as raised:
        source(url)
    fix_on_your_side(raised.value, "settings_invalid")
    assert CANARY not in str(raised.value)


def test_an_untrusted_certificate_is_fix_on_your_side(https_server, tls_authority):
    _authority, other = tls_authority
    url = https_server.url("/files/export.csv")
    fix_on_your_side(read_error(url), "certificate_invalid")  # the system's CAs
    fix_on_your_side(read_error(url, ca_pem=other.cert_pem.bytes().decode()), "certificate_invalid")


def test_a_slow_server_is_transient(http_server, settings):
    settings.STORAGE_TIMEOUT_SECONDS = 0.5
    transient(read_error(http_server.url("/slow/export.csv")), "timeout")


def test_a_body_cut_short_is_transient(http_server):
    transient(read_error(http_server.url("/truncated/data.bin")), "connection_lost")


def test_a_closed_port_is_transient():
    transient(read_error(f"http://127.0.0.1:{port_free()}/export.csv"), "connection_failed")


def test_a_library_failure_no_rule_knows_is_ours(http_server, monkeypatch, caplog):
    def broken(*args, **kwargs):
        raise KeyError(CANARY)

    monkeypatch.setattr(httpx.Client, "send", broken)
    error = read_error(http_server.url("/files/export.csv"))
    assert (error.error_class, error.code) == (ErrorClass.PLATFORM, "unexpected")
    canary_absent(error, caplog)


def test_celerys_soft_time_limit_passes_through_unchanged(http_server, monkeypatch):
    with source(http_server.url("/files/export.csv")) as transport:

        def read_halfway():
            with transport.open_read("export.csv") as stream:
                monkeypatch.setattr(stream.raw, "_read", raising(SOFT_TIME_LIMIT))
                stream.read()

        soft_time_limit_passes(read_halfway)
        monkeypatch.setattr(httpx.Client, "send", raising(SOFT_TIME_LIMIT))
        soft_time_limit_passes(transport.list)
        soft_time_limit_passes(lambda: read_all(transport))


def test_it_lists_segment_by_segment_like_every_kind(http_server):
    """The one file's name has no folder: a pattern with a `/` never matches it (the contract's check of `list`
    writes files, which this read-only kind cannot)."""
    with source(http_server.url("/files/export.csv")) as transport:
        assert [item.name for item in transport.list("*.csv")] == ["export.csv"]
        assert [item.name for item in transport.list("export.[c]sv")] == ["export.csv"]
        assert transport.list("*/*.csv") == []
        assert transport.list("*/export.csv") == []
