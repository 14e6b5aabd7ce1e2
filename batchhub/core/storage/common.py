"""What the local, S3 and GCS transports share: reading the caller's stream in bounded chunks, a read stream whose
failures come out classified, a secret's text whether it arrives as a `Secret` or as text, the literal start of a
list pattern, the checks of an endpoint URL (the SSRF guard), and the urllib3 connections that S3's and GCS's
clients make to a partner's endpoint, each to an address the SSRF guard checked when it connects (`CheckedConnection`,
`checked_pools`)."""

from __future__ import annotations

import io
import re
import socket
import sys
from collections.abc import Callable, Mapping
from contextlib import suppress
from typing import IO
from urllib.parse import urlsplit

from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage.base import ErrorClass, TransportError, storage_timeout
from batchhub.core.storage.network import connect_first, host_resolve

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


class CheckedConnection:
    """Mixed in before a urllib3 `HTTPConnection` or `HTTPSConnection` class: its socket is connected to an address
    the SSRF guard checked at that moment (`host_resolve`, then `connect_first`), never to one a second lookup
    found, so a rebinding DNS server that answered a public address when the endpoint was checked at open time
    cannot send this connection to a private or metadata address.

    `_new_conn` is where urllib3 (1.x and 2.x alike) makes a connection's socket: it resolves the host and connects
    (`create_connection`), before any TLS. Only that step is replaced: urllib3 then wraps the socket in TLS as it
    would have, with the host name for SNI and for verifying the certificate, and sets each read's timeout. A
    connection that fails comes out as urllib3's own exceptions (timed out, or failed), so the client above
    classifies and retries it as before; a refused address or a name that no longer resolves comes out as the
    guard's TransportError, which urllib3 and requests let through untouched (botocore wraps it: s3.py unwraps)."""

    def _new_conn(self) -> socket.socket:
        if getattr(self, "proxy", None) is not None or getattr(self, "_tunnel_host", None) is not None:
            # a proxy would resolve the host itself: the transports configure none, so this is ours to fix
            raise TransportError(
                ErrorClass.PLATFORM,
                "proxy_refused",
                "BatchHub was about to reach a storage endpoint through a proxy, which would bypass its check of "
                "the endpoint's address. This is ours to fix and has been reported; retrying will not help.",
            )
        host = self._dns_host.strip("[]")
        # urllib3 gives the connect timeout (None when the caller gave none): never wait without end
        timeout = self.timeout if isinstance(self.timeout, int | float) else storage_timeout()
        infos = host_resolve(host, self.port)
        try:
            sock = connect_first(infos, timeout, socket_options=self.socket_options, source_address=self.source_address)
        except TimeoutError as exc:
            raise ConnectTimeoutError(
                self, f"Connection to {self.host} timed out. (connect timeout={timeout})"
            ) from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
        sys.audit("http.client.connect", self, self.host, self.port)
        return sock


def checked_pools(http_pool: type, https_pool: type) -> dict[str, type]:
    """A urllib3 `PoolManager`'s `pool_classes_by_scheme` whose pools make `CheckedConnection`s: subclasses of
    `http_pool` and `https_pool` (a library's own pool classes), their connection classes its own with
    `CheckedConnection` mixed in first."""

    def checked(pool: type) -> type:
        connection = type(f"Checked{pool.ConnectionCls.__name__}", (CheckedConnection, pool.ConnectionCls), {})
        return type(f"Checked{pool.__name__}", (pool,), {"ConnectionCls": connection})

    return {"http": checked(http_pool), "https": checked(https_pool)}
