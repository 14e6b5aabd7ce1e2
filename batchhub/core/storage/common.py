"""What the transports share: reading their settings and secrets, the glob of `list`, temporary names, the copy of
a caller's stream whose own failures stay the caller's, a read stream whose failures come out classified, the
exceptions that pass through every transport unchanged, the checks of an endpoint URL (the SSRF guard), and the
urllib3 connections that S3's and GCS's clients make to a partner's endpoint, each to an address the SSRF guard
checked when it connects (`CheckedConnection`, `checked_pools`)."""

from __future__ import annotations

import fnmatch
import io
import posixpath
import re
import socket
import sys
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import IO
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage.base import ErrorClass, TransportError, remote_name, storage_timeout
from batchhub.core.storage.network import connect_first, host_resolve

MiB = 1024 * 1024

# Bytes per read of the caller's stream and per read of a remote file: big enough for throughput, small next to any
# part or upload chunk size, so that a 50 MB file never sits in memory.
CHUNK_SIZE = 256 * 1024

# Exceptions that must reach the task as they are, on every kind: Celery's soft time limit releases a run, it is
# not a failure of the storage (nor ours to report). Every `except Exception` in a transport lets them through.
PASS_THROUGH: tuple[type[BaseException], ...] = (SoftTimeLimitExceeded,)

# A file being written is named `.<name>.<random>.batchhub-part` in the same folder until it is whole.
_TEMPORARY_SUFFIX = ".batchhub-part"


# --- settings and secrets ------------------------------------------------------------------------------------------


def settings_invalid(message: str) -> TransportError:
    return TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "settings_invalid", message)


def setting_text(
    values: Mapping, key: str, label: str, *, required: bool = True, default: str = "", is_multiline: bool = False
) -> str:
    """A plain setting as text, stripped; refused when required and empty, or when it holds control characters
    (line breaks allowed in a multi-line value such as a PEM certificate)."""
    value = values.get(key)
    value = default if value is None else value
    if not isinstance(value, str):
        raise settings_invalid(f"The {label} must be text.")
    value = value.strip()
    if required and not value:
        raise settings_invalid(f"The {label} is missing: fill it in.")
    allowed = "\r\n\t" if is_multiline else ""
    if any((ord(char) < 32 or ord(char) == 127) and char not in allowed for char in value):
        raise settings_invalid(f"The {label} holds control characters: remove them.")
    return value


def setting_port(values: Mapping, default: int) -> int:
    value = values.get("port") or default
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise settings_invalid("The port must be a number between 1 and 65535.") from None
    if not 1 <= port <= 65535:
        raise settings_invalid("The port must be a number between 1 and 65535.")
    return port


def secret_text(secrets: Mapping | None, key: str) -> str | None:
    """The plain text of the decrypted secret `secrets[key]` (a `Secret` or a string); None when absent or empty.
    A value that cannot be decrypted or is not text is ours to fix (the message never holds the value)."""
    value = (secrets or {}).get(key)
    if isinstance(value, Secret):
        try:
            value = value.reveal()
        except ValueError:  # its message never holds the value
            raise TransportError(
                ErrorClass.PLATFORM,
                "secret_unreadable",
                "A stored credential could not be decrypted with BatchHub's keys. This is ours to fix; retrying "
                "will not help.",
            ) from None
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TransportError(ErrorClass.PLATFORM, "secret_invalid", f"The stored credential {key} is not text.")
    return value


# --- names, patterns and messages ----------------------------------------------------------------------------------


def folder_path(folder: str, name: str) -> str:
    """The server path of the relative `name` inside the configured `folder` (`name` checked by `remote_name`)."""
    name = remote_name(name)
    return name if folder in ("", ".") else posixpath.join(folder, name)


def temporary_path(path: str) -> str:
    folder, base = posixpath.split(path)
    return posixpath.join(folder, f".{base[:150]}.{uuid.uuid4().hex[:12]}{_TEMPORARY_SUFFIX}")


def is_temporary_of(base: str, candidate: str) -> bool:
    """Whether `candidate`, a name in the folder of the file named `base`, is a temporary name `temporary_path` gave
    to a write of that file (and of no other)."""
    expected = rf"\.{re.escape(base[:150])}\.[0-9a-f]{{12}}{re.escape(_TEMPORARY_SUFFIX)}"
    return re.fullmatch(expected, candidate) is not None


def is_temporary(base: str) -> bool:
    return base.startswith(".") and base.endswith(_TEMPORARY_SUFFIX)


_GLOB = re.compile(r"[*?[]")


def pattern_parts(pattern: str) -> list[str]:
    """The `/`-separated segments of a `list` glob, on every kind. Each segment is matched against one level of
    folders with `fnmatch` rules, and `*`, `?` and `[...]` never match a `/`: a pattern without `/` matches the
    files of the folder itself (`*.csv` never lists `processed/a.csv`), `a/*.csv` those of its subfolder `a`,
    `*/*.csv` those one level down in any subfolder."""
    pattern = pattern or "*"
    if not isinstance(pattern, str) or "\x00" in pattern or "\\" in pattern or pattern.startswith("/"):
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "That file name pattern is not allowed.")
    parts = pattern.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "File name patterns must stay inside the configured folder."
        )
    return parts


def part_matches(base: str, part: str) -> bool:
    """Whether one level's name matches one segment of a pattern (a temporary file never does)."""
    return fnmatch.fnmatchcase(base, part) and not is_temporary(base)


def name_matches(name: str, parts: list[str]) -> bool:
    """Whether a relative name (`/` separated) matches a pattern's segments, level by level."""
    levels = name.split("/")
    return len(levels) == len(parts) and all(map(part_matches, levels, parts))


def pattern_folders(parts: list[str]) -> list[str]:
    """The pattern's leading folders that hold no glob character: every match is inside them, so a listing can
    start there."""
    folders = []
    for part in parts[:-1]:
        if _GLOB.search(part):
            break
        folders.append(part)
    return folders


def pattern_prefix(parts: list[str]) -> str:
    """The literal start of a pattern (before its first `*`, `?` or `[`): every matching name begins with it, so
    a listing of keys can ask for that prefix only."""
    pattern = "/".join(parts)
    match = _GLOB.search(pattern)
    return pattern[: match.start()] if match else pattern


def unexpected(action: str) -> TransportError:
    """A failure no rule classifies: reported to us, never with the library's own text (it may hold a secret)."""
    return TransportError(
        ErrorClass.PLATFORM,
        "unexpected",
        f"An unexpected error happened while {action}. It has been reported to BatchHub; retrying will not help "
        "until it is fixed.",
    )


def shown(name: str) -> str:
    """A file name as messages show it (names are not secret, but bounded)."""
    return name if len(name) <= 200 else name[:200] + "…"


# --- the caller's stream -------------------------------------------------------------------------------------------


class SourceFailed(Exception):
    """The stream given to `write` failed while being copied. A transport cleans up its unfinished write, then
    raises `original` again unchanged: the caller knows what its own stream's failures mean (a TransportError from
    another transport stays as classified; a database error is the caller's to judge; Celery's soft time limit
    stays itself)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(type(original).__name__)
        self.original = original


def _source_chunk(stream: IO[bytes], size: int) -> bytes:
    try:
        chunk = stream.read(size)
    except Exception as exc:
        raise SourceFailed(exc) from exc
    if chunk is None:
        chunk = b""
    if not isinstance(chunk, bytes | bytearray | memoryview):
        raise SourceFailed(TypeError("write() needs a binary stream"))
    return chunk


def source_read(stream: IO[bytes], size: int) -> bytes:
    """Up to `size` bytes of the caller's stream, read CHUNK_SIZE at a time (fewer than `size` only at its end);
    its failures come out as SourceFailed."""
    chunks, wanted = [], size
    while wanted > 0:
        chunk = _source_chunk(stream, min(wanted, CHUNK_SIZE))
        if not chunk:
            break
        chunks.append(chunk)
        wanted -= len(chunk)
    if len(chunks) == 1 and isinstance(chunks[0], bytes):
        return chunks[0]
    data = b"".join(chunks)
    chunks.clear()
    return data


def source_chunks(stream: IO[bytes], size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """The caller's stream in chunks of `size` bytes (the last one shorter), its failures as SourceFailed."""
    while chunk := source_read(stream, size):
        yield chunk


# --- reading a remote file -----------------------------------------------------------------------------------------


class ChunkReader(io.RawIOBase):
    """A binary stream over `read(size) -> bytes` (b"" at the end; a chunk may be longer than asked, the rest is
    kept for the next call) whose failures are raised as the TransportError `classify` makes of them, without the
    library's exception chained (its text may hold a secret): no library exception escapes while the caller
    consumes it. PASS_THROUGH exceptions escape as they are. `on_close` ends the transfer (and is told whether the
    whole file was read); its failures are classified the same way."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        classify: Callable[[Exception], TransportError],
        on_close: Callable[[bool], None] | None = None,
    ) -> None:
        super().__init__()
        self._read, self._classify, self._on_close = read, classify, on_close
        self._pending = memoryview(b"")
        self._at_end = False

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if not self._pending:
            if self._at_end:
                return 0
            try:
                data = self._read(max(len(buffer), 1))
            except (TransportError, *PASS_THROUGH):
                raise
            except Exception as exc:
                raise self._classify(exc) from None
            if not data:
                self._at_end = True
                return 0
            self._pending = memoryview(data)
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count

    def close(self) -> None:
        if self.closed:
            return
        try:
            if self._on_close is not None:
                on_close, self._on_close = self._on_close, None
                try:
                    on_close(self._at_end)
                except (TransportError, *PASS_THROUGH):
                    raise
                except Exception as exc:
                    raise self._classify(exc) from None
        finally:
            self._pending = memoryview(b"")
            super().close()


def file_reader(raw, classify: Callable[[Exception], TransportError]) -> ChunkReader:
    """A ChunkReader over a library's file-like object (`read(size)`, `close()`)."""
    return ChunkReader(raw.read, classify, lambda _whole: raw.close())


@contextmanager
def quietly() -> Iterator[None]:
    """Ignores a failure of a clean-up step (closing, aborting an upload, removing a temporary file), except a
    PASS_THROUGH exception: the task must still hear of its soft time limit."""
    try:
        yield
    except PASS_THROUGH:
        raise
    except Exception:  # noqa: S110 - a clean-up's failure is not the one that matters
        pass


@contextmanager
def reading(raw: ChunkReader) -> Iterator[IO[bytes]]:
    """`raw` buffered (CHUNK_SIZE), for the `with` of `open_read`; closed at its end. A failure while closing is
    raised, unless the block already failed: then that failure is what matters."""
    reader = io.BufferedReader(raw, buffer_size=CHUNK_SIZE)
    try:
        yield reader
    except BaseException:
        with quietly():
            reader.close()
        raise
    reader.close()


# --- endpoints of S3 and GCS (the SSRF guard) -----------------------------------------------------------------


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
