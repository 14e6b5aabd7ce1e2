"""The SSRF guard (`core.storage.network`): which addresses are refused, that the address judged is the one
`getaddrinfo` answered (whatever form the host was written in), and that a lookup never waits longer than the
storage timeout. No connection is ever made."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from batchhub.core.storage.base import TransportError, storage_timeout_within
from batchhub.core.storage.network import address_allowed, host_resolve
from tests.core.storage.failures import dns_override, fix_on_your_side, no_connection, transient

# IPv6 addresses that carry an IPv4 address a translator or a tunnel would reach, each first with a loopback, a
# private or the metadata address inside, then with a public one (refused all the same: the range is).
EMBEDDING_IPV4 = {
    "NAT64 64:ff9b::/96": ["64:ff9b::7f00:1", "64:ff9b::a9fe:a9fe", "64:ff9b::808:808"],
    "NAT64 local 64:ff9b:1::/48": ["64:ff9b:1::7f00:1", "64:ff9b:1:ffff::a00:1", "64:ff9b:1::808:808"],
    "6to4 2002::/16": ["2002:7f00:1::", "2002:a9fe:a9fe::1", "2002:808:808::1"],
    "IPv4-compatible ::/96": ["::127.0.0.1", "::169.254.169.254", "::8.8.8.8"],
    "SIIT ::ffff:0:0:0/96": ["::ffff:0:127.0.0.1", "::ffff:0:10.0.0.1", "::ffff:0:8.8.8.8"],
    "Teredo 2001::/32": ["2001::7f00:1", "2001:0:4136:e378:8000:63bf:3fff:fdd2", "2001:0:808:808::1"],
}
EMBEDDING_CASES = [
    pytest.param(address, id=f"{form} {address}") for form, addresses in EMBEDDING_IPV4.items() for address in addresses
]

# An IPv4 address written as inet_aton reads it (the C library's getaddrinfo accepts these): decimal, octal, hex,
# and the short dotted forms; each stands for the dotted address after it.
IPV4_WRITTEN_OTHERWISE = [
    ("2130706433", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("167772161", "10.0.0.1"),
    ("012.0.0.1", "10.0.0.1"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("0251.0376.0251.0376", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
]


@pytest.mark.parametrize("address", EMBEDDING_CASES)
@pytest.mark.parametrize("loopback", [False, True], ids=["loopback refused", "loopback allowed"])
def test_ipv6_forms_embedding_an_ipv4_address_are_refused(settings, address, loopback):
    settings.STORAGE_ALLOW_LOOPBACK = loopback
    assert not address_allowed(address)
    with no_connection(), pytest.raises(TransportError) as raised:
        host_resolve(address, 443)
    fix_on_your_side(raised.value, "address_refused")


@pytest.mark.parametrize("address", EMBEDDING_CASES)
def test_a_name_resolving_to_an_ipv6_form_embedding_an_ipv4_address_is_refused(settings, monkeypatch, address):
    settings.STORAGE_ALLOW_LOOPBACK = True
    lookups = dns_override(monkeypatch, {"files.partner.example": address})
    with no_connection(), pytest.raises(TransportError) as raised:
        host_resolve("files.partner.example", 443)
    fix_on_your_side(raised.value, "address_refused")
    assert lookups == ["files.partner.example"]


@pytest.mark.parametrize(("host", "address"), IPV4_WRITTEN_OTHERWISE)
def test_an_ipv4_address_written_in_decimal_octal_or_hex_is_judged_as_the_address_it_resolves_to(
    settings, host, address
):
    settings.STORAGE_ALLOW_LOOPBACK = False
    with no_connection(), pytest.raises(TransportError) as raised:
        host_resolve(host, 80)
    fix_on_your_side(raised.value, "address_refused")
    # what was judged is what getaddrinfo answered for the host: the dotted address
    settings.STORAGE_ALLOW_LOOPBACK = True
    if address == "127.0.0.1":
        assert {info[4][0] for info in host_resolve(host, 80)} == {"127.0.0.1"}
    else:
        assert {info[4][0] for info in socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM)} == {address}
        with pytest.raises(TransportError) as raised:
            host_resolve(host, 80)
        fix_on_your_side(raised.value, "address_refused")


NOT_PUBLIC = [
    *("10.0.0.1", "172.16.0.1", "192.168.1.1", "100.64.0.1", "169.254.169.254", "224.0.0.1", "240.0.0.1"),
    *("0.0.0.0", "192.0.0.8", "::", "fe80::1", "fc00::1", "ff02::1", "2001:db8::1"),  # noqa: S104
    *("::ffff:10.0.0.1", "::ffff:169.254.169.254"),
]


@pytest.mark.parametrize("address", NOT_PUBLIC)
def test_private_internal_and_reserved_addresses_are_refused(settings, address):
    settings.STORAGE_ALLOW_LOOPBACK = True
    assert not address_allowed(address)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "::ffff:127.0.0.1"])
def test_loopback_is_refused_unless_allowed(settings, address):
    settings.STORAGE_ALLOW_LOOPBACK = False
    assert not address_allowed(address)
    settings.STORAGE_ALLOW_LOOPBACK = True
    assert address_allowed(address)


@pytest.mark.parametrize("address", ["8.8.8.8", "93.184.215.14", "::ffff:8.8.8.8", "2001:4860:4860::8888", "2a00::1"])
def test_public_addresses_are_allowed(settings, address):
    settings.STORAGE_ALLOW_LOOPBACK = False
    assert address_allowed(address)


# --- the lookup's own timeout ------------------------------------------------------------------------------------


def test_a_dns_lookup_that_never_answers_is_a_transient_dns_timeout_within_the_storage_timeout(monkeypatch):
    released = threading.Event()
    looked_up = []

    def getaddrinfo(host, port, *args, **kwargs):  # a DNS server that does not answer
        looked_up.append(host)
        released.wait(10)
        return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", ("93.184.215.14", port))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    started = time.monotonic()
    try:
        with storage_timeout_within(0.3), pytest.raises(TransportError) as raised:
            host_resolve("slow.partner.example", 443)
        elapsed = time.monotonic() - started
    finally:
        released.set()
    transient(raised.value, "dns_timeout")
    assert "slow.partner.example" in raised.value.message
    assert looked_up == ["slow.partner.example"]
    assert elapsed < 2


def test_a_lookup_answered_in_time_is_checked_and_its_failures_classified_as_before(settings, monkeypatch):
    settings.STORAGE_ALLOW_LOOPBACK = False
    dns_override(monkeypatch, {"files.partner.example": "93.184.215.14", "inside.partner.example": "10.0.0.1"})
    with storage_timeout_within(2):
        assert [info[4][0] for info in host_resolve("files.partner.example", 443)] == ["93.184.215.14"]
        with pytest.raises(TransportError) as raised:
            host_resolve("inside.partner.example", 443)
    fix_on_your_side(raised.value, "address_refused")

    def failing(host, port, *args, **kwargs):
        raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", failing)
    with pytest.raises(TransportError) as raised:
        host_resolve("files.partner.example", 443)
    transient(raised.value, "dns_temporary")


def test_no_lookup_thread_is_left_behind(settings):
    settings.STORAGE_ALLOW_LOOPBACK = True
    before = set(threading.enumerate())
    host_resolve("127.0.0.1", 80)
    assert set(threading.enumerate()) <= before
