"""Ways to make a transport fail, and the checks on what its failure shows, shared by every kind's tests: a secret
never shows in an error nor in a log, the error classes, the private or internal hosts the SSRF guard must
refuse, a DNS server the tests answer for, connections blocked or recorded."""

from __future__ import annotations

import io
import logging
import socket
import traceback
from collections.abc import Callable
from contextlib import contextmanager

import pytest
from celery.exceptions import SoftTimeLimitExceeded

from batchhub.core.storage.base import ErrorClass, TransportError
from tests.core.storage.contract import GeneratedStream

CANARY = "CANARY-SECRET-5f2e"

# The test servers' own loggers stand for the partner's side: what they log is not BatchHub's.
_SERVER_LOGGERS = ("asyncssh", "pyftpdlib", "werkzeug", "pytest_httpserver")

# Loopback by address and by name, a private address, the cloud metadata address.
REFUSED_HOSTS = ["127.0.0.1", "localhost", "10.0.0.1", "169.254.169.254"]

# What a rebinding DNS server answers first, so that a host passes the check at open time: a public address
# (example.com's), never connected to by the tests that use it (they block every connection).
PUBLIC_ADDRESS = "93.184.215.14"


class FailingStream(io.RawIOBase):
    """Gives `good` bytes, then raises `error` (`check` called just before): a source that breaks halfway (an
    export query that broke, say)."""

    def __init__(self, good: int, error: BaseException, check: Callable[[], None] | None = None) -> None:
        self.source, self.error, self.check = GeneratedStream(good), error, check

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.source.readinto(buffer)
        if count == 0:
            if self.check is not None:
                self.check()
            raise self.error
        return count


def raising(error: BaseException) -> Callable:
    """A stand-in for a library call (or a read) that raises `error`."""

    def call(*args, **kwargs):
        raise error

    return call


def soft_time_limit_passes(call: Callable[[], object]) -> None:
    """`call` raises Celery's soft time limit, raised meanwhile by the library (or the source), as itself: neither
    classified nor wrapped."""
    with pytest.raises(SoftTimeLimitExceeded) as raised:
        call()
    assert type(raised.value) is SoftTimeLimitExceeded
    assert raised.value is SOFT_TIME_LIMIT


# One instance, so that a test can tell it came through unchanged.
SOFT_TIME_LIMIT = SoftTimeLimitExceeded()


# --- what a failure shows ------------------------------------------------------------------------------------------


def canary_absent(
    errors: BaseException | list[BaseException], caplog: pytest.LogCaptureFixture, secret: str = CANARY
) -> None:
    """`secret` is in none of the errors' forms (text, repr, message, dict, the traceback as printed with its
    chained causes) nor in any record our code and the libraries it drives logged (message, arguments, exception)."""
    errors = errors if isinstance(errors, list) else [errors]
    assert errors
    for error in errors:
        texts = [str(error), repr(error), "".join(traceback.format_exception(error))]
        cause = error.__cause__
        while cause is not None:
            texts += [str(cause), repr(cause)]
            cause = cause.__cause__
        if isinstance(error, TransportError):
            texts += [error.message, repr(error.as_dict())]
        for text in texts:
            assert secret not in text, getattr(error, "code", type(error).__name__)
    for record in caplog.records:
        if record.name.startswith(_SERVER_LOGGERS):
            continue
        text = record.getMessage() + repr(record.args) + str(record.exc_info and record.exc_info[1])
        assert secret not in text, record.name
    assert caplog.handler.level <= logging.DEBUG


def debug_logs(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every logger at DEBUG into caplog, the libraries' own included."""
    caplog.set_level(logging.DEBUG)
    for name in ("google", "botocore", "urllib3", "boto3", "s3transfer", "batchhub"):
        caplog.set_level(logging.DEBUG, logger=name)
    # google-auth turns its loggers' propagation off unless they are configured: on, so caplog sees them
    monkeypatch.setattr(logging.getLogger("google"), "propagate", True)


def fix_on_your_side(error: TransportError, code: str) -> None:
    assert (error.error_class, error.code) == (ErrorClass.FIX_ON_YOUR_SIDE, code), error.as_dict()
    assert not error.retryable


def transient(error: TransportError, code: str | None = None) -> None:
    assert error.error_class is ErrorClass.TRANSIENT, error.as_dict()
    assert error.retryable
    if code:
        assert error.code == code, error.as_dict()


# --- the network ---------------------------------------------------------------------------------------------------


@contextmanager
def no_connection():
    """Fails the test (and blocks the attempt) if anything opens a TCP connection meanwhile."""
    attempts = []
    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex

    def refuse(self, address, *args):
        attempts.append(address)
        raise AssertionError(f"a connection to {address} was attempted")

    socket.socket.connect, socket.socket.connect_ex = refuse, refuse
    try:
        yield attempts
    finally:
        socket.socket.connect, socket.socket.connect_ex = real_connect, real_connect_ex
    assert attempts == []


def dns_override(monkeypatch: pytest.MonkeyPatch, names: dict[str, str | tuple[str, ...]]) -> list[str]:
    """`getaddrinfo` answers `names` (host -> IPv4 or IPv6 address) itself, other hosts as before; returns the
    overridden names looked up, one entry per lookup. A tuple of addresses is a rebinding DNS server: the first
    lookup of the host gets the first address, the next the next, the last one from then on."""
    real = socket.getaddrinfo
    lookups: list[str] = []

    def getaddrinfo(host, port, *args, **kwargs):
        if isinstance(host, str) and host in names:
            answers = names[host] if isinstance(names[host], tuple) else (names[host],)
            address = answers[min(lookups.count(host), len(answers) - 1)]
            lookups.append(host)
            if ":" in address:
                return [(socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port or 0), 0, 0))]
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
