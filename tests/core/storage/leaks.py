"""Checks shared by the network transports' tests: a secret never shows in an error nor in our logs, and the
private or internal hosts the SSRF guard must refuse."""

from __future__ import annotations

import logging
import socket
import traceback

import pytest

from batchhub.core.storage.base import ErrorClass, TransportError

CANARY = "CANARY-SECRET-5f2e"

# The test servers' own loggers stand for the partner's side: what they log is not BatchHub's.
_SERVER_LOGGERS = ("asyncssh", "pyftpdlib", "werkzeug", "pytest_httpserver")

# Loopback by address and by name, a private address, the cloud metadata address.
REFUSED_HOSTS = ["127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254"]

# What a rebinding DNS server answers first, so that a host passes the check at open time: a public address
# (example.com's), never connected to by the tests that use it (they block every connection).
PUBLIC_ADDRESS = "93.184.215.14"


def canary_absent(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    """The canary is in none of the error's forms (its text, repr, message, the traceback as printed with its
    chained causes) nor in any record our code and the libraries it drives logged."""
    texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
    if isinstance(error, TransportError):
        texts += [error.message, repr(error.as_dict())]
    for text in texts:
        assert CANARY not in text
    records = [record for record in caplog.records if not record.name.startswith(_SERVER_LOGGERS)]
    for record in records:
        assert CANARY not in record.getMessage(), record.name
        assert CANARY not in str(record.args), record.name
    assert caplog.handler.level <= logging.DEBUG


def fix_on_your_side(error: TransportError, code: str) -> None:
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, code), error.as_dict()
    assert not error.retryable


def transient(error: TransportError, code: str | None = None) -> None:
    assert error.error_class is ErrorClass.TRANSIENT, error.as_dict()
    assert error.retryable
    if code:
        assert error.code == code, error.as_dict()


def dns_override(monkeypatch: pytest.MonkeyPatch, names: dict[str, str | tuple[str, ...]]) -> list[str]:
    """`getaddrinfo` answers `names` (host -> IPv4 address) itself, other hosts as before; returns the overridden
    names looked up, one entry per lookup. A tuple of addresses is a rebinding DNS server: the first lookup of the
    host gets the first address, the next the next, the last one from then on."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in names:
            answers = names[host] if isinstance(names[host], tuple) else (names[host],)
            address = answers[min(lookups.count(host), len(answers) - 1)]
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups


def connections_recorded(
    monkeypatch: pytest.MonkeyPatch, fail: dict[int, OSError] | None = None
) -> list[tuple[tuple, float | None]]:
    """Every TCP connection attempted from now on, as (address, the socket's timeout then); one to a port in `fail`
    raises that error instead of connecting."""
    real = socket.socket.connect
    attempts: list[tuple[tuple, float | None]] = []

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            attempts.append((tuple(address[:2]), sock.gettimeout()))
            if fail and address[1] in fail:
                raise fail[address[1]]
        return real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts
