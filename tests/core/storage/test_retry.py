"""Only transient failures are retried, with a growing wait; timeouts can be shortened for one block."""

from __future__ import annotations

import socket
import time

import pytest

from batchhub.core.storage.base import (
    ErrorClass,
    TransportError,
    storage_timeout,
    storage_timeout_within,
    transient_retry,
    transport_open,
)

pytestmark = pytest.mark.portable


def _failing(*errors):
    calls = []

    def operation():
        calls.append(1)
        if len(calls) <= len(errors):
            raise errors[len(calls) - 1]
        return "done"

    return operation, calls


def test_transient_failures_are_retried_with_a_doubling_wait():
    waits = []
    transient = TransportError(ErrorClass.TRANSIENT, "timeout", "slow")
    operation, calls = _failing(transient, transient)
    assert transient_retry(operation, attempts=3, first_delay=1.5, sleep=waits.append) == "done"
    assert len(calls) == 3 and waits == [1.5, 3.0]


def test_the_last_transient_failure_is_raised_after_the_attempts():
    transient = TransportError(ErrorClass.TRANSIENT, "timeout", "slow")
    operation, calls = _failing(transient, transient, transient)
    with pytest.raises(TransportError) as raised:
        transient_retry(operation, attempts=3, sleep=lambda _: None)
    assert raised.value is transient and len(calls) == 3


@pytest.mark.parametrize("error_class", [ErrorClass.FIX_ON_YOUR_SIDE, ErrorClass.PLATFORM])
def test_other_failures_are_never_retried(error_class):
    waits = []
    operation, calls = _failing(TransportError(error_class, "auth_refused", "no"))
    with pytest.raises(TransportError):
        transient_retry(operation, sleep=waits.append)
    assert len(calls) == 1 and waits == []


def test_a_block_can_shorten_the_timeout_but_never_lengthen_it(settings):
    settings.STORAGE_TIMEOUT_SECONDS = 30
    with storage_timeout_within(2):
        assert storage_timeout() == 2
        with storage_timeout_within(60):
            assert storage_timeout() == 30
    assert storage_timeout() == 30


def test_a_server_that_never_answers_is_a_transient_timeout_within_the_shortened_limit(settings):
    settings.STORAGE_ALLOW_LOOPBACK = True
    with socket.socket() as silent:  # accepts connections (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        port = silent.getsockname()[1]
        started = time.monotonic()
        with storage_timeout_within(1), pytest.raises(TransportError) as raised:
            location = {"host": "127.0.0.1", "port": port, "username": "u", "path": ""}
            with transport_open("ftp", location, {"password": "p"}) as transport:
                transport.list("*")
    assert raised.value.error_class is ErrorClass.TRANSIENT
    assert time.monotonic() - started < 5
