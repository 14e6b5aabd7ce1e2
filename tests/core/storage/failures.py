"""Ways to make a transport fail, and the checks on what its failure shows (shared by the local, S3, GCS tests)."""

from __future__ import annotations

import io
import logging
import socket
from contextlib import contextmanager

from batchhub.core.storage.base import TransportError
from tests.core.storage.contract import GeneratedStream

CANARY = "CANARY-SECRET-5f2e"


class FailingStream(io.RawIOBase):
    """Gives `good` bytes, then raises `error`: a source that breaks halfway."""

    def __init__(self, good: int, error: BaseException) -> None:
        self.source, self.error = GeneratedStream(good), error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        count = self.source.readinto(buffer)
        if count == 0:
            raise self.error
        return count


def shown(error: TransportError) -> str:
    """Everything a failure shows: its text, repr, message, dict, and its cause's text when it keeps one."""
    parts = [str(error), repr(error), error.message, str(error.as_dict())]
    cause = error.__cause__
    while cause is not None:
        parts += [str(cause), repr(cause)]
        cause = cause.__cause__
    return "\n".join(parts)


def assert_hidden(secret: str, errors: list[TransportError], caplog) -> None:
    """`secret` appears in no failure nor in any log record (message, arguments, exception text)."""
    assert errors
    for error in errors:
        assert secret not in shown(error), error.code
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + str(record.exc_info and record.exc_info[1])
        assert secret not in text, record.name


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


def debug_logs(caplog, monkeypatch) -> None:
    """Every logger at DEBUG into caplog, the libraries' own included."""
    caplog.set_level(logging.DEBUG)
    for name in ("google", "botocore", "urllib3", "boto3", "s3transfer", "batchhub"):
        caplog.set_level(logging.DEBUG, logger=name)
    # google-auth turns its loggers' propagation off unless they are configured: on, so caplog sees them
    monkeypatch.setattr(logging.getLogger("google"), "propagate", True)
