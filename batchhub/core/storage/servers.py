"""What the transports to a partner's own server (SFTP, FTP, FTPS, HTTP) share: reading their settings and secrets,
the glob of `list`, temporary names, streams read in chunks with their failures classified, and the copy of a
caller's stream whose own failures stay the caller's."""

from __future__ import annotations

import fnmatch
import io
import posixpath
import uuid
from collections.abc import Callable, Mapping
from typing import IO

from celery.exceptions import SoftTimeLimitExceeded

from batchhub.core.secrets.crypto import Secret
from batchhub.core.storage.base import ErrorClass, TransportError, remote_name, storage_timeout

# Bytes per read and write: big enough for throughput, small enough that a 50 MB file never sits in memory.
CHUNK_SIZE = 256 * 1024

# A file being written is named `.<name>.<random>.batchhub-part` in the same folder until it is whole.
_TEMPORARY_SUFFIX = ".batchhub-part"

# Exceptions that must reach the task as they are: the soft time limit releases a run, it is not a failure.
PASS_THROUGH = (SoftTimeLimitExceeded,)


def timeout_seconds() -> float:
    return storage_timeout()


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


def secret_text(secrets: Mapping, key: str) -> str | None:
    """A decrypted secret as text (a `Secret` or a plain string), None when absent or empty."""
    value = secrets.get(key)
    if isinstance(value, Secret):
        value = value.reveal()
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise TransportError(ErrorClass.PLATFORM, "secret_invalid", f"The stored credential {key} is not text.")
    return value


def folder_path(folder: str, name: str) -> str:
    """The server path of the relative `name` inside the configured `folder` (`name` checked by `remote_name`)."""
    name = remote_name(name)
    return name if folder in ("", ".") else posixpath.join(folder, name)


def temporary_path(path: str) -> str:
    folder, base = posixpath.split(path)
    return posixpath.join(folder, f".{base[:150]}.{uuid.uuid4().hex[:12]}{_TEMPORARY_SUFFIX}")


def is_temporary(base: str) -> bool:
    return base.startswith(".") and base.endswith(_TEMPORARY_SUFFIX)


def pattern_parts(pattern: str) -> list[str]:
    """The `/`-separated segments of a `list` glob, each matched against one level of folders (a pattern without
    `/` matches the files of the folder itself, `a/*.csv` those of its subfolder `a`)."""
    pattern = pattern or "*"
    if "\x00" in pattern or "\\" in pattern or pattern.startswith("/"):
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "That file name pattern is not allowed.")
    parts = pattern.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "File name patterns must stay inside the configured folder."
        )
    return parts


def part_matches(base: str, part: str) -> bool:
    return fnmatch.fnmatchcase(base, part) and not is_temporary(base)


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


class SourceFailed(Exception):
    """The stream given to `write` failed: the caller's own error, re-raised as it was once the partial upload is
    removed (a failed export query, or another transport's read that is already classified)."""

    def __init__(self, original: BaseException) -> None:
        super().__init__("the source stream failed")
        self.original = original


def source_chunks(stream: IO[bytes], size: int = CHUNK_SIZE):
    """The caller's stream in chunks of at most `size` bytes; its failures raised as `SourceFailed`."""
    while True:
        try:
            chunk = stream.read(size)
        except Exception as exc:
            raise SourceFailed(exc) from exc
        if not chunk:
            return
        if not isinstance(chunk, bytes | bytearray | memoryview):
            raise SourceFailed(TypeError("write() needs a binary stream"))
        yield chunk


class ChunkReader(io.RawIOBase):
    """A binary stream over `read(size) -> bytes` (b"" at the end; a chunk may be longer than asked, the rest is
    kept for the next call) whose failures become TransportErrors through `classify`; `on_close` ends the
    transfer (and is told whether the whole file was read)."""

    def __init__(
        self,
        read: Callable[[int], bytes],
        classify: Callable[[BaseException], TransportError],
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
            super().close()


def buffered(raw: ChunkReader) -> io.BufferedReader:
    return io.BufferedReader(raw, buffer_size=CHUNK_SIZE)
