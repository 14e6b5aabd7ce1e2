"""The transport interface, its classified errors and the registry of kinds.

A transport is opened for one job from a destination's or a source's settings and decrypted secrets (never from
global settings), used, and closed (`with transport_open(...) as transport:`). Names are relative to the
configured location (bucket and prefix, remote folder, root folder); `remote_name` refuses what could escape it.
"""

from __future__ import annotations

import datetime as dt
import enum
import logging
import posixpath
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import IO, ClassVar, TypeVar

from django.conf import settings as django_settings

logger = logging.getLogger(__name__)


class ErrorClass(enum.StrEnum):
    """Who can fix a failure, which says whether retrying can help."""

    FIX_ON_YOUR_SIDE = "fix_on_your_side"  # auth refused, missing bucket/folder, permission, host key, certificate…
    TRANSIENT = "transient"  # timeout, connection reset, temporary DNS failure, 5xx, 429: retried with backoff
    PLATFORM = "platform"  # our bug: not retried, reported to us


ERROR_CLASS_LABELS = {
    ErrorClass.FIX_ON_YOUR_SIDE: "Fix on your side",
    ErrorClass.TRANSIENT: "Temporary",
    ErrorClass.PLATFORM: "Our side",
}


class TransportError(Exception):
    """A classified failure. `message` is plain language for the partner: what happened, what to do, whether
    retrying helps. It never holds a secret (password, key, token, signed URL) nor a raw library message that
    might. `code` is a short stable identifier (`auth_refused`, `host_key_mismatch`, `timeout`, …)."""

    def __init__(self, error_class: ErrorClass, code: str, message: str) -> None:
        super().__init__(message)
        self.error_class = ErrorClass(error_class)
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.error_class is ErrorClass.TRANSIENT

    def as_dict(self) -> dict[str, str]:
        return {"class": self.error_class.value, "code": self.code, "message": self.message}

    def __str__(self) -> str:
        return f"{ERROR_CLASS_LABELS[self.error_class]}: {self.message}"


@dataclass(frozen=True)
class RemoteFile:
    name: str  # relative to the transport's location, with `/` separators
    size: int | None
    modified_at: dt.datetime | None  # aware, UTC


class Transport(ABC):
    """One connection for one job. Every network call has a timeout; `close()` is always called (`with`)."""

    kind: ClassVar[str]
    can_write: ClassVar[bool] = True

    def __enter__(self) -> Transport:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @abstractmethod
    def list(self, pattern: str = "*") -> list[RemoteFile]:
        """Files whose relative name matches the glob `pattern`, by name, the same way on every kind: segment by
        segment (`fnmatch` rules within a segment; `*`, `?` and `[...]` never match a `/`), so a pattern with n
        segments lists files n levels down: `*.csv` never lists `processed/a.csv`, `processed/*.csv` and `*/*.csv`
        do (`common.pattern_parts`)."""

    @abstractmethod
    def open_read(self, name: str) -> AbstractContextManager[IO[bytes]]:
        """A binary stream of the file, read as it is consumed (never the whole file in memory)."""

    @abstractmethod
    def write(self, name: str, stream: IO[bytes]) -> int:
        """Copy `stream` to `name`, visible there only once whole (temporary name then rename, or a completed
        multipart upload); returns the bytes written. An existing file is replaced."""

    def discard_unfinished(self, name: str) -> int:
        """Remove what interrupted writes of `name` left behind, never visible but stored (a worker killed mid-write
        cannot clean up after itself): its temporary files, its unfinished multipart uploads. Never touches `name`
        nor any other file; returns how many were removed. Kinds whose unfinished writes cannot be listed (a GCS
        resumable upload expires by itself) remove nothing."""
        return 0

    @abstractmethod
    def delete(self, name: str) -> None: ...

    @abstractmethod
    def move(self, name: str, to: str) -> None: ...

    @abstractmethod
    def close(self) -> None: ...


def remote_name(name: str) -> str:
    """A name relative to a transport's location, normalised; refuses NUL, absolute names and `..` (even one that
    would resolve inside), backslashes and empty names."""
    if not isinstance(name, str) or not name or "\x00" in name or "\\" in name:
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "That file name is not allowed.")
    if name.startswith("/") or any(part == ".." for part in name.split("/")):
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "File names must stay inside the configured folder."
        )
    normalised = posixpath.normpath(name)
    if normalised in ("", "."):
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "That file name is not allowed.")
    return normalised


# kind -> factory(settings, secrets) -> Transport
_KINDS: dict[str, Callable[[Mapping, Mapping], Transport]] = {}


def transport_kind(kind: str):
    """Register a transport factory for `kind` (decorator)."""

    def register(factory):
        _KINDS[kind] = factory
        return factory

    return register


def transport_open(kind: str, settings: Mapping, secrets: Mapping) -> Transport:
    """Open a transport of `kind` for one job. `settings` are the plain fields of the destination or source
    (bucket, host, prefix…), `secrets` the decrypted credentials (passwords, keys): never logged."""
    from batchhub.core.storage import kinds  # noqa: F401 - registers the kinds

    try:
        factory = _KINDS[kind]
    except KeyError:
        raise TransportError(ErrorClass.PLATFORM, "unknown_kind", f"Unknown storage kind {kind!r}.") from None
    return factory(settings, secrets)


# ---- timeouts and retries ---------------------------------------------------------------------------------

_TIMEOUT: ContextVar[float | None] = ContextVar("storage_timeout", default=None)


def storage_timeout() -> float:
    """Seconds every network call may take (connect, each read or write): STORAGE_TIMEOUT_SECONDS, or less inside
    `storage_timeout_within` (a Test on the dashboard must answer within the web request's own limit)."""
    override = _TIMEOUT.get()
    return float(django_settings.STORAGE_TIMEOUT_SECONDS if override is None else override)


@contextmanager
def storage_timeout_within(seconds: float) -> Iterator[None]:
    token = _TIMEOUT.set(min(float(seconds), float(django_settings.STORAGE_TIMEOUT_SECONDS)))
    try:
        yield
    finally:
        _TIMEOUT.reset(token)


R = TypeVar("R")


def transient_retry(
    operation: Callable[[], R],
    *,
    attempts: int = 3,
    first_delay: float = 2.0,
    sleep: Callable[[float], None] = time.sleep,
) -> R:
    """Run `operation`, again after a transient `TransportError` (waiting `first_delay`, then twice as long each
    time), at most `attempts` times in all. A failure of another class is raised at once: retrying cannot help."""
    delay = first_delay
    for attempt in range(1, attempts + 1):
        try:
            return operation()
        except TransportError as error:
            if not error.retryable or attempt == attempts:
                raise
            logger.warning("storage: %s (%s), attempt %d of %d, retried in %.0f s", error.code, error.error_class,
                           attempt, attempts, delay)  # fmt: skip
            sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")
