"""What the local, S3 and GCS transports share: reading the caller's stream in bounded chunks, a read stream whose
failures come out classified, a secret's text whether it arrives as a `Secret` or as text, the literal start of a
list pattern, and the checks of an endpoint URL (the SSRF guard)."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import IO
from urllib.parse import urlsplit

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage.base import ErrorClass, TransportError
from batchhub.core.storage.network import host_resolve

MiB = 1024 * 1024
COPY_CHUNK = MiB  # what one read of the caller's stream asks for: small next to any part or chunk size


class SourceFailed(Exception):
    """The caller's stream raised while being copied. A transport cleans up its unfinished write, then raises the
    original again unchanged: the caller knows what its own stream's failures mean (a TransportError from another
    transport stays as classified; a database error is the caller's to judge)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(type(original).__name__)
        self.original = original


def source_read(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes of the caller's stream (fewer only at its end); its failures come out as SourceFailed."""
    chunks, wanted = [], size
    try:
        while wanted > 0:
            chunk = stream.read(min(wanted, COPY_CHUNK))
            if not chunk:
                break
            chunks.append(chunk)
            wanted -= len(chunk)
    except Exception as exc:
        raise SourceFailed(exc) from exc
    if len(chunks) == 1:
        return chunks[0]
    data = b"".join(chunks)
    chunks.clear()
    return data


def source_chunks(stream: IO[bytes], size: int = COPY_CHUNK):
    """The caller's stream in chunks of about `size` bytes, its failures as SourceFailed."""
    while chunk := source_read(stream, size):
        yield chunk


class ClassifiedReader(io.RawIOBase):
    """A read stream over `raw` whose failures are raised as the TransportError that `classify` makes of them, so
    that no library exception escapes while the caller consumes it."""

    def __init__(self, raw, classify: Callable[[Exception], TransportError]) -> None:
        super().__init__()
        self._raw, self._classify = raw, classify

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return self._raw.read(size if size is not None and size >= 0 else -1)
        except TransportError:
            raise
        except Exception as exc:
            error = self._classify(exc)
            raise error from (exc if error.error_class is ErrorClass.PLATFORM else None)  # ours: kept to fix it

    def readinto(self, buffer) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def readall(self) -> bytes:
        return self.read(-1)

    def close(self) -> None:
        if not self.closed:
            with suppress(Exception):  # closing after a failure: the failure is what matters
                self._raw.close()
        super().close()


def secret_text(secrets: Mapping, key: str) -> str:
    """The plain text of `secrets[key]` (a `Secret` or a string), or "" when absent."""
    value = secrets.get(key) if secrets else None
    if isinstance(value, Secret):
        try:
            return value.reveal()
        except ValueError:  # its message never holds the value
            raise TransportError(
                ErrorClass.PLATFORM,
                "secret_unreadable",
                "A stored credential could not be decrypted with BatchHub's keys. This is ours to fix; retrying "
                "will not help.",
            ) from None
    return value if isinstance(value, str) else ""


_GLOB = re.compile(r"[*?[]")


def pattern_prefix(pattern: str) -> str:
    """The literal start of a glob pattern (before its first `*`, `?` or `[`): every match begins with it, so a
    listing can start there."""
    match = _GLOB.search(pattern)
    return pattern[: match.start()] if match else pattern


def endpoint_checked(url: str) -> str:
    """An endpoint URL from a destination's settings, its host resolved and every address checked by the SSRF guard
    before any connection is made; refused (fix on your side) when it is not a plain http(s) URL."""
    bad = TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "bad_endpoint",
        "The endpoint URL must be a plain http:// or https:// address (a host, an optional port and path, no user "
        "name or password in it). Fix it in the settings; retrying will not help.",
    )
    if not isinstance(url, str) or "\x00" in url or any(c.isspace() for c in url.strip()):
        raise bad
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        raise bad
    if parts.query or parts.fragment:
        raise bad
    host_resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"
