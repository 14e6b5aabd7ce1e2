"""The local folder transport: a folder under `STORAGE_LOCAL_ROOT` (the embedded default, `var/`, for the demo and a
single-machine install).

Neither the folder nor any file name can leave the root: names go through `remote_name`, every path is resolved
(following symlinks) and must stay inside the folder, and files are opened without following a final symlink.
A write goes to a hidden temporary file beside its target (`.<name>.<random>.part`, never listed), is fsynced, and
is renamed over the target: a reader sees the old file or the new one whole, never half of it.
"""

from __future__ import annotations

import datetime as dt
import errno
import logging
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO

from django.conf import settings as django_settings

from batchhub.core.storage.base import (
    ErrorClass,
    RemoteFile,
    Transport,
    TransportError,
    remote_name,
    transport_kind,
)
from batchhub.core.storage.common import (
    SourceFailed,
    file_reader,
    part_matches,
    pattern_folders,
    pattern_parts,
    reading,
    source_chunks,
)

logger = logging.getLogger(__name__)

_PART_SUFFIX = ".part"
_READ_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


def _is_temporary(file_name: str) -> bool:
    return file_name.startswith(".") and file_name.endswith(_PART_SUFFIX)


def _outside() -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "bad_path",
        "File names must stay inside the configured folder (a link leading out of it is not followed).",
    )


def local_error(exc: OSError, name: str) -> TransportError:
    """An OSError met on `name`, classified; the message names the file as the partner knows it (relative)."""
    shown = name[:200]
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "disk_full",
            f"The disk holding the folder is full (or its quota is used up) while writing {shown}. Free some space; "
            "retrying will not help until then.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "permission_denied",
            f"BatchHub is not allowed to access {shown} in the folder. Give it read and write access to the folder; "
            "retrying will not help until then.",
        )
    if exc.errno == errno.ENOENT:
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "file_not_found",
            f"There is no file {shown} in the folder. Check the name; retrying will not help.",
        )
    if exc.errno in (errno.EISDIR, errno.ENOTDIR, errno.ENOTEMPTY, errno.EEXIST):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "not_a_file",
            f"A folder stands where the file {shown} should be (or a file where a folder should be). Rename or "
            "remove it; retrying will not help.",
        )
    if exc.errno == errno.ELOOP:  # a final symlink met by O_NOFOLLOW: put there after the path was checked
        return _outside()
    if exc.errno == errno.ENAMETOOLONG:
        return TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", f"The file name {shown} is too long.")
    logger.warning("local storage: unexpected %s (errno %s) on a file", type(exc).__name__, exc.errno)
    return TransportError(
        ErrorClass.PLATFORM,
        "io_failed",
        f"An unexpected error occurred on {shown} in the local folder. This is ours to fix; retrying will not help.",
    )


class LocalTransport(Transport):
    kind = "local"

    def __init__(self, folder: Path) -> None:
        self.folder = folder  # resolved, inside the root

    def _path(self, name: str) -> Path:
        path = (self.folder / remote_name(name)).resolve()
        if not path.is_relative_to(self.folder) or path == self.folder:
            raise _outside()
        return path

    def _relative(self, path: Path) -> str:
        return path.relative_to(self.folder).as_posix()

    def list(self, pattern: str = "*") -> list[RemoteFile]:
        parts = pattern_parts(pattern)
        folders = pattern_folders(parts)
        top = self._path("/".join(folders)) if folders else self.folder  # a link leading out is refused here
        found: list[RemoteFile] = []
        try:
            self._walk(top, parts[len(folders) :], found)
        except OSError as exc:
            raise local_error(exc, pattern) from None
        return sorted(found, key=lambda item: item.name)

    def _walk(self, directory: Path, parts: list[str], found: list[RemoteFile]) -> None:
        """The files of `directory` matching `parts`, one level of folders per segment; links are not followed
        (a link is not a file of the folder, nor a folder to go into)."""
        try:
            entries = sorted(os.scandir(directory), key=lambda entry: entry.name)
        except FileNotFoundError:  # a folder not there (yet) holds nothing to list
            return
        for entry in entries:
            if _is_temporary(entry.name) or not part_matches(entry.name, parts[0]):
                continue
            try:
                info = entry.stat(follow_symlinks=False)
            except FileNotFoundError:  # deleted while listing
                continue
            if len(parts) > 1:
                if stat.S_ISDIR(info.st_mode):
                    self._walk(Path(entry.path), parts[1:], found)
            elif stat.S_ISREG(info.st_mode):  # symlinks and devices are not files of the folder
                modified_at = dt.datetime.fromtimestamp(info.st_mtime, tz=dt.UTC)
                found.append(
                    RemoteFile(name=self._relative(Path(entry.path)), size=info.st_size, modified_at=modified_at)
                )

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        path = self._path(name)
        try:
            fd = os.open(path, _READ_FLAGS)
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                os.close(fd)
                raise OSError(errno.EISDIR, "not a regular file")
        except OSError as exc:
            raise local_error(exc, name) from None
        with reading(file_reader(os.fdopen(fd, "rb", buffering=0), lambda exc: _read_error(exc, name))) as stream:
            yield stream

    def write(self, name: str, stream: IO[bytes]) -> int:
        path = self._path(name)
        temporary = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.parent.resolve().is_relative_to(self.folder):  # a link put there meanwhile
                raise _outside()
            fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_PART_SUFFIX, dir=path.parent)
            written = 0
            with os.fdopen(fd, "wb") as out:
                for chunk in source_chunks(stream):
                    out.write(chunk)
                    written += len(chunk)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
            temporary = None
            _directory_sync(path.parent)
            return written
        except SourceFailed as failed:
            raise failed.original from None
        except OSError as exc:
            raise local_error(exc, name) from None
        finally:
            if temporary is not None:
                with suppress(OSError):
                    os.unlink(temporary)

    def discard_unfinished(self, name: str) -> int:
        path = self._path(name)
        # mkstemp's names: the prefix and suffix given to it around 8 characters of its own
        temporary = re.compile(rf"\.{re.escape(path.name)}\.[a-z0-9_]{{8}}{re.escape(_PART_SUFFIX)}")
        removed = 0
        try:
            entries = list(os.scandir(path.parent))
        except FileNotFoundError:
            return 0
        except OSError as exc:
            raise local_error(exc, name) from None
        for entry in entries:
            if temporary.fullmatch(entry.name) and entry.is_file(follow_symlinks=False):
                try:
                    os.unlink(entry.path)
                except FileNotFoundError:
                    continue
                except OSError as exc:
                    raise local_error(exc, name) from None
                removed += 1
        return removed

    def delete(self, name: str) -> None:
        """Deletes `name`; a file already gone is not an error (a retried job may delete twice)."""
        path = self._path(name)
        try:
            if stat.S_ISDIR(path.lstat().st_mode):
                raise OSError(errno.EISDIR, "a folder")
            path.unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise local_error(exc, name) from None

    def move(self, name: str, to: str) -> None:
        source, target = self._path(name), self._path(to)
        if source == target:
            return
        try:
            if not stat.S_ISREG(source.lstat().st_mode):
                raise OSError(errno.EISDIR, "not a regular file")
        except OSError as exc:
            raise local_error(exc, name) from None
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            if not target.parent.resolve().is_relative_to(self.folder):
                raise _outside()
            os.replace(source, target)
            _directory_sync(target.parent)
        except OSError as exc:
            raise local_error(exc, to) from None

    def close(self) -> None:
        pass


def _read_error(exc: Exception, name: str) -> TransportError:
    if isinstance(exc, OSError):
        return local_error(exc, name)
    logger.warning("local storage: unexpected %s while reading", type(exc).__name__)
    return TransportError(
        ErrorClass.PLATFORM, "io_failed", "An unexpected error occurred while reading a file. This is ours to fix."
    )


def _directory_sync(directory: Path) -> None:
    """Makes a rename durable (the directory entry itself is flushed); best effort where not supported."""
    with suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def local_folder(path: object) -> Path:
    """The configured folder, resolved: under `STORAGE_LOCAL_ROOT`, never the root itself nor outside it."""
    root = Path(django_settings.STORAGE_LOCAL_ROOT).resolve()
    if not isinstance(path, str) or not path.strip("/"):
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "The folder must be given (a path such as exports/pushwave)."
        )
    folder = (root / remote_name(path)).resolve()
    if not folder.is_relative_to(root) or folder == root:
        raise _outside()
    return folder


@transport_kind("local")
def local_open(settings: Mapping, secrets: Mapping) -> LocalTransport:
    return LocalTransport(local_folder(settings.get("path")))
