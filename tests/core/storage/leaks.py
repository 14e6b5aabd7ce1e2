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


def dns_override(monkeypatch: pytest.MonkeyPatch, names: dict[str, str]) -> list[str]:
    """`getaddrinfo` answers `names` (host -> IPv4 address) itself, other hosts as before; returns the overridden
    names looked up, one entry per lookup."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in names:
            lookups.append(host)
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (names[host], int(port or 0)))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return lookups
