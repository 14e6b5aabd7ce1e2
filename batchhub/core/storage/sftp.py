"""SFTP with paramiko (not django-storages, whose client accepts any host key).

The socket is connected by the SSRF guard, the server's host key is compared with the pinned one before any
credential is sent, one connection serves the job and is always closed. Reads are streamed with a bounded prefetch;
writes go to a temporary name in the same folder and are renamed over the final name once whole.

settings: `host`, `port` (22), `username`, `path` (the remote folder; relative to the login folder unless it starts
with `/`), `host_key` (the pin: an OpenSSH public key line or its `SHA256:` fingerprint, stored as the fingerprint).
secrets: `password` and/or `private_key` (OpenSSH or PEM text) with `private_key_passphrase`.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import hmac
import io
import posixpath
import socket
import stat
import struct
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import IO

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from paramiko.sftp import CMD_DATA, CMD_READ, CMD_STATUS, int64

from batchhub.core.storage.base import (
    ErrorClass,
    RemoteFile,
    Transport,
    TransportError,
    remote_name,
    storage_timeout,
    transport_kind,
)
from batchhub.core.storage.common import (
    PASS_THROUGH,
    ChunkReader,
    SourceFailed,
    folder_path,
    is_temporary_of,
    part_matches,
    pattern_parts,
    quietly,
    reading,
    secret_text,
    setting_port,
    setting_text,
    settings_invalid,
    shown,
    source_chunks,
    temporary_path,
    unexpected,
)
from batchhub.core.storage.network import connect_checked

# Read requests in flight during a streamed read: 64 x 32 KiB = 2 MiB ahead of the reader (OpenSSH's sftp keeps 64
# too), never the whole file.
PIPELINE_REQUESTS = 64
_BLOCK = 32 * 1024  # bytes per read request (paramiko's and most servers' largest)

_FINGERPRINT_PREFIX = "SHA256:"


# --- the host key pin ---------------------------------------------------------------------------------------------


def _pin_invalid(detail: str) -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "host_key_invalid",
        f"The server's host key is not in a form BatchHub reads ({detail}). Give the public key line (for example "
        "the output of `ssh-keyscan -t ed25519 your.host`, `ssh-ed25519 AAAA…`) or its SHA256 fingerprint "
        "(`SHA256:…`, as `ssh-keygen -l` shows it).",
    )


def _fingerprint_of_blob(blob: bytes) -> str:
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")
    return _FINGERPRINT_PREFIX + digest


def host_key_fingerprint(key_line: str) -> str:
    """The SHA256 fingerprint of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`, or a `known_hosts` /
    `ssh-keyscan` line with the host in front), as `ssh-keygen -l` shows it: `SHA256:` and unpadded base64."""
    tokens = (key_line or "").split()
    for index, token in enumerate(tokens[:-1]):
        if token.startswith(("ssh-", "ecdsa-sha2-", "sk-")):
            try:
                blob = base64.b64decode(tokens[index + 1], validate=True)
            except (binascii.Error, ValueError):
                raise _pin_invalid("the key after its type is not base64") from None
            # The blob names its own type first (a 4-byte length then the name): it must be the line's.
            if len(blob) < 4 or blob[4 : 4 + struct.unpack(">I", blob[:4])[0]] != token.encode():
                raise _pin_invalid("the key does not match its type")
            return _fingerprint_of_blob(blob)
    raise _pin_invalid("no key type such as ssh-ed25519 was found")


def host_key_pin(value: str) -> str:
    """The pin as it is stored and compared: the `SHA256:` fingerprint, from a public key line or a fingerprint.

    The fingerprint is the one form both inputs give, and the one `ssh-keygen -l` and our error messages show, so a
    partner can compare it by eye."""
    value = (value or "").strip()
    if not value:
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "host_key_missing",
            "The server's host key is not set: BatchHub connects only to an SFTP server whose key is pinned. Give its "
            "public key line (`ssh-keyscan -t ed25519 your.host`) or its SHA256 fingerprint.",
        )
    if "\n" in value.strip():
        raise _pin_invalid("give one key line only")
    if value.upper().startswith(_FINGERPRINT_PREFIX):
        encoded = value[len(_FINGERPRINT_PREFIX) :].rstrip("=")
        try:
            digest = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise _pin_invalid("the fingerprint is not base64") from None
        if len(digest) != 32:
            raise _pin_invalid("a SHA256 fingerprint has 43 characters after `SHA256:`")
        return _FINGERPRINT_PREFIX + base64.b64encode(digest).decode().rstrip("=")
    if value.upper().startswith("MD5:") or value.count(":") == 15:
        raise _pin_invalid("MD5 fingerprints are too weak; give the SHA256 one")
    return host_key_fingerprint(value)


def _presented(key: paramiko.PKey) -> str:
    return f"{key.get_name()} {_fingerprint_of_blob(key.asbytes())}"


# --- the client key -----------------------------------------------------------------------------------------------


def _private_key(text: str, passphrase: str | None) -> paramiko.PKey:
    """The client key from its text (OpenSSH, PKCS#1 or PKCS#8 PEM), decrypted with `passphrase`."""
    data = text.strip().encode() + b"\n"
    password = passphrase.encode() if passphrase else None
    loaded = None
    for load in (serialization.load_ssh_private_key, serialization.load_pem_private_key):
        try:
            loaded = load(data, password=password)
        except TypeError:
            # No passphrase for an encrypted key, or one for a key that is not encrypted (then it is not needed).
            if password is None:
                raise TransportError(
                    ErrorClass.FIX_ON_YOUR_SIDE,
                    "private_key_passphrase",
                    "The private key is encrypted: give its passphrase.",
                ) from None
            with quietly():
                loaded = load(data, password=None)
        except Exception:  # noqa: S112 - not this format (or a wrong passphrase): the next loader, then the error
            continue
        if loaded is not None:
            break
    if loaded is None:
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "private_key_invalid",
            "The private key could not be read: it is not an OpenSSH or PEM private key, or its passphrase is "
            "wrong. Paste the whole key (with its BEGIN and END lines) and check the passphrase.",
        )
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class = paramiko.Ed25519Key
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class = paramiko.ECDSAKey
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class = paramiko.RSAKey
    else:
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "private_key_invalid",
            "This kind of private key is not supported: use an Ed25519, ECDSA or RSA key.",
        )
    openssh = loaded.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    return key_class.from_private_key(io.StringIO(openssh.decode()))


# --- errors -------------------------------------------------------------------------------------------------------


def _error(exc: BaseException, host: str, action: str) -> TransportError:
    """A failure of an SFTP operation, classified; never the library's text (it may hold the server's words)."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            f"The SFTP server {host} stopped answering while BatchHub tried to {action}; it will be retried.",
        )
    if isinstance(exc, FileNotFoundError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "not_found",
            f"Could not {action}: it does not exist on the SFTP server. Check the name and the folder; retrying will "
            "not help.",
        )
    if isinstance(exc, PermissionError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "permission_denied",
            f"The SFTP server did not let BatchHub {action} (permission denied). Give the user the rights it needs; "
            "retrying will not help until then.",
        )
    if isinstance(exc, paramiko.SFTPError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "protocol_error",
            f"The SFTP server {host} answered in a way the SFTP protocol does not allow when BatchHub tried to "
            f"{action}. Check the server's software; retrying will not help.",
        )
    if isinstance(exc, EOFError | paramiko.SSHException | ConnectionError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "connection_lost",
            f"The connection to the SFTP server {host} was lost while BatchHub tried to {action}; it will be retried.",
        )
    if isinstance(exc, OSError) and exc.errno is None:
        # An SFTP status other than "no such file" and "permission denied": a full disk, a quota, a refused name.
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "server_refused",
            f"The SFTP server refused to {action} (it reported a failure: a full disk, a quota, or a name it does not "
            "accept). Check the server; retrying will not help until it is fixed.",
        )
    if isinstance(exc, OSError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "connection_lost",
            f"The connection to the SFTP server {host} failed while BatchHub tried to {action}; it will be retried.",
        )
    return unexpected(f"working on the SFTP server {host}")


# --- the transport ------------------------------------------------------------------------------------------------


@transport_kind("sftp")
def sftp_open(settings: Mapping, secrets: Mapping) -> SftpTransport:
    return SftpTransport.connect(settings, secrets)


class SftpTransport(Transport):
    kind = "sftp"

    def __init__(self, ssh: paramiko.Transport, sftp: paramiko.SFTPClient, host: str, folder: str) -> None:
        self._ssh, self._sftp, self._host, self._folder = ssh, sftp, host, folder
        self._has_posix_rename = True

    @classmethod
    def connect(cls, settings: Mapping, secrets: Mapping) -> SftpTransport:
        host = setting_text(settings, "host", "host")
        port = setting_port(settings, 22)
        username = setting_text(settings, "username", "user name")
        folder = setting_text(settings, "path", "remote folder", required=False)
        folder = folder.rstrip("/") or ("/" if folder.startswith("/") else ".")
        # No pin: the connection goes as far as the server's key, shown in the error for the partner to check and
        # pin (never trusted on first use, no credential sent).
        pin = host_key_pin(settings["host_key"]) if str(settings.get("host_key") or "").strip() else None
        password = secret_text(secrets, "password")
        key_text = secret_text(secrets, "private_key")
        if password is None and key_text is None:
            raise settings_invalid("Give the SFTP user's password or private key.")
        pkey = _private_key(key_text, secret_text(secrets, "private_key_passphrase")) if key_text else None
        shown_host = host[:100]
        timeout = storage_timeout()

        sock = connect_checked(host, port, timeout)
        ssh = None
        try:
            ssh = paramiko.Transport(sock)
            ssh.banner_timeout = ssh.handshake_timeout = ssh.auth_timeout = ssh.channel_timeout = timeout
            try:
                ssh.start_client(timeout=timeout)
            except paramiko.IncompatiblePeer:
                raise TransportError(
                    ErrorClass.FIX_ON_YOUR_SIDE,
                    "ssh_incompatible",
                    f"The SSH server {shown_host} offers no encryption BatchHub accepts. Enable a current key "
                    "exchange and cipher on it (for example curve25519 and AES-GCM).",
                ) from None
            except (paramiko.SSHException, EOFError, OSError) as exc:
                if isinstance(exc, socket.timeout | TimeoutError):
                    raise _error(exc, shown_host, "start the SSH session") from None
                raise TransportError(
                    ErrorClass.TRANSIENT,
                    "handshake_failed",
                    f"The server {shown_host}:{port} did not complete an SSH handshake; it will be retried. If this "
                    "persists, check that the host and port are those of your SFTP server.",
                ) from None
            cls._host_key_check(ssh, pin, shown_host)
            cls._authenticate(ssh, username, password, pkey, shown_host)
            sftp = paramiko.SFTPClient.from_transport(ssh)
            if sftp is None:
                raise TransportError(
                    ErrorClass.TRANSIENT, "connection_lost", f"The SFTP server {shown_host} closed the session."
                )
            sftp.get_channel().settimeout(timeout)
            transport = cls(ssh, sftp, shown_host, folder)
            transport._folder_check()
            return transport
        except BaseException as exc:
            if ssh is not None:
                ssh.close()
            sock.close()
            if isinstance(exc, (TransportError, *PASS_THROUGH)) or not isinstance(exc, Exception):
                raise
            raise _error(exc, shown_host, "open the SFTP session") from None

    @staticmethod
    def _host_key_check(ssh: paramiko.Transport, pin: str | None, host: str) -> None:
        key = ssh.get_remote_server_key()
        fingerprint = _fingerprint_of_blob(key.asbytes())
        if pin is None:
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "host_key_missing",
                f"The SFTP server's host key is not pinned: BatchHub connects only to a server whose key it knows. "
                f"The server {host} presented {_presented(key)}; check that fingerprint with the server's "
                "administrator (`ssh-keygen -l -f` on its host key), then pin it. BatchHub sent no credential.",
            )
        if not hmac.compare_digest(fingerprint.encode(), pin.encode()):
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "host_key_mismatch",
                f"The SFTP server {host} presented the host key {_presented(key)}, not the pinned {pin}. BatchHub "
                "sent no credential. If the server's key was changed, check that fingerprint with the server's "
                "administrator and pin the new key; otherwise someone may be intercepting the connection.",
            )

    @staticmethod
    def _authenticate(
        ssh: paramiko.Transport, username: str, password: str | None, pkey: paramiko.PKey | None, host: str
    ) -> None:
        try:
            remaining = None
            if pkey is not None:
                try:
                    remaining = ssh.auth_publickey(username, pkey)
                except paramiko.AuthenticationException:
                    if password is None:
                        raise
            if not ssh.is_authenticated() and password is not None:
                ssh.auth_password(username, password)
        except paramiko.BadAuthenticationType as exc:
            allowed = ", ".join(str(kind)[:40] for kind in (exc.allowed_types or [])[:5]) or "none"
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "auth_refused",
                f"The SFTP server {host} does not accept this way of signing in (it accepts: {allowed}). Give the "
                "credential it expects; retrying will not help.",
            ) from None
        except paramiko.AuthenticationException as exc:
            if "timeout" in str(exc).lower():  # the server did not answer the sign-in in time (only classified)
                raise TransportError(
                    ErrorClass.TRANSIENT,
                    "timeout",
                    f"The SFTP server {host} did not answer the sign-in in time; it will be retried.",
                ) from None
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "auth_refused",
                f"The SFTP server {host} refused the user name and credentials. Check the user, the password or "
                "the key (and that its public half is authorised on the server); retrying will not help.",
            ) from None
        if not ssh.is_authenticated():
            detail = f" (it also asks for: {', '.join(map(str, remaining))[:80]})" if remaining else ""
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "auth_refused",
                f"The SFTP server {host} did not accept the credentials given{detail}. Check the user and credentials.",
            )

    def _folder_check(self) -> None:
        try:
            attributes = self._sftp.stat(self._folder)
        except FileNotFoundError:
            attributes = None
        if attributes is None or not stat.S_ISDIR(attributes.st_mode or 0):
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "folder_missing",
                f"The folder {shown(self._folder)} does not exist on the SFTP server {self._host} (or is not a "
                "folder). Create it or correct the path; retrying will not help.",
            )

    # --- operations

    def list(self, pattern: str = "*") -> list[RemoteFile]:
        parts = pattern_parts(pattern)
        found: list[RemoteFile] = []
        try:
            self._walk(self._folder, "", parts, found)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, "list the folder") from None
        return sorted(found, key=lambda item: item.name)

    def _walk(self, folder: str, prefix: str, parts: list[str], found: list[RemoteFile]) -> None:
        for entry in self._sftp.listdir_attr(folder):
            base = entry.filename
            if base in (".", "..") or not part_matches(base, parts[0]):
                continue
            if stat.S_ISLNK(entry.st_mode or 0):  # judged by what it points at; a dangling link is no file
                try:
                    entry = self._sftp.stat(posixpath.join(folder, base))
                except FileNotFoundError:
                    continue
            is_folder = stat.S_ISDIR(entry.st_mode or 0)
            if len(parts) > 1:
                if is_folder:
                    self._walk(posixpath.join(folder, base), f"{prefix}{base}/", parts[1:], found)
            elif not is_folder:
                modified = None if entry.st_mtime is None else dt.datetime.fromtimestamp(entry.st_mtime, dt.UTC)
                found.append(RemoteFile(name=prefix + base, size=entry.st_size, modified_at=modified))

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        path = folder_path(self._folder, name)
        action = f"read {shown(name)}"
        try:
            remote = self._sftp.open(path, "rb")
            download = _PipelinedRead(self._sftp, remote, remote.stat().st_size, self._host)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, action) from None

        raw = ChunkReader(download.read, lambda exc: _error(exc, self._host, action), download.close)
        with reading(raw) as reader:
            yield reader

    def write(self, name: str, stream: IO[bytes]) -> int:
        path = folder_path(self._folder, name)
        temporary = temporary_path(path)
        total = 0
        try:
            self._parents_ensure(name)
            with self._sftp.open(temporary, "wb") as remote:
                remote.set_pipelined(True)
                for chunk in source_chunks(stream):
                    remote.write(chunk)
                    total += len(chunk)
            self._rename_over(temporary, path)
        except SourceFailed as failed:
            self._discard(temporary)
            raise failed.original from None
        except BaseException as exc:
            self._discard(temporary)
            if isinstance(exc, (TransportError, *PASS_THROUGH)) or not isinstance(exc, Exception):
                raise
            raise _error(exc, self._host, f"write {shown(name)}") from None
        return total

    def discard_unfinished(self, name: str) -> int:
        folder, base = posixpath.split(folder_path(self._folder, name))
        try:
            leftovers = [entry for entry in self._sftp.listdir(folder or ".") if is_temporary_of(base, entry)]
            for leftover in leftovers:
                with suppress(FileNotFoundError):
                    self._sftp.remove(posixpath.join(folder, leftover))
        except FileNotFoundError:  # no folder yet: nothing was written there
            return 0
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, f"clean up after an interrupted write of {shown(name)}") from None
        return len(leftovers)

    def delete(self, name: str) -> None:
        """Deletes `name`; a file already gone is not an error (a retried delete whose answer was lost)."""
        path = folder_path(self._folder, name)
        try:
            self._sftp.remove(path)
        except FileNotFoundError:
            return
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, f"delete {shown(name)}") from None

    def move(self, name: str, to: str) -> None:
        source, target = folder_path(self._folder, name), folder_path(self._folder, to)
        try:
            self._sftp.stat(source)  # a missing source is reported as such, not as a failed rename
            self._parents_ensure(to)
            self._rename_over(source, target)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, f"move {shown(name)} to {shown(to)}") from None

    def close(self) -> None:
        sftp, ssh, self._sftp, self._ssh = self._sftp, self._ssh, None, None
        if sftp is not None:
            with quietly():
                sftp.close()
        if ssh is not None:
            with quietly():
                ssh.close()

    # --- helpers

    def _parents_ensure(self, name: str) -> None:
        """Creates the folders of the relative `name` that do not exist yet inside the configured folder."""
        current = self._folder
        for part in remote_name(name).split("/")[:-1]:
            current = posixpath.join(current, part)
            try:
                if stat.S_ISDIR(self._sftp.stat(current).st_mode or 0):
                    continue
            except FileNotFoundError:
                pass
            try:
                self._sftp.mkdir(current)
            except OSError:
                if not stat.S_ISDIR(self._sftp.stat(current).st_mode or 0):  # made meanwhile, or a file in the way
                    raise

    def _rename_over(self, source: str, target: str) -> None:
        """Renames `source` to `target`, replacing it: atomically with the OpenSSH posix-rename extension, else
        (a server without it answers a plain failure) by removing the target first."""
        if self._has_posix_rename:
            try:
                self._sftp.posix_rename(source, target)
                return
            except OSError as exc:
                if exc.errno is not None:
                    raise
                self._has_posix_rename = False
        with suppress(FileNotFoundError):
            self._sftp.remove(target)
        self._sftp.rename(source, target)

    def _discard(self, temporary: str) -> None:
        if self._sftp is not None:
            with quietly():
                self._sftp.remove(temporary)


class _PipelinedRead:
    """A remote file read in order with up to PIPELINE_REQUESTS read requests in flight, over paramiko's request
    primitives (those its own SFTPFile uses).

    Not `SFTPFile.prefetch()`: its thread never ends when a read stops before the end of the file (paramiko#2454; it
    spins in the worker for good, one more at each such read), and with a cap on the requests in flight it can stop
    using what it fetched while fetching the rest of the file into memory (paramiko#2519). Here nothing runs in the
    background: requests are sent as the reader consumes, answers that come early are kept until their turn."""

    def __init__(self, sftp: paramiko.SFTPClient, remote: paramiko.SFTPFile, size: int | None, host: str) -> None:
        self._sftp, self._remote, self._size, self._host = sftp, remote, size, host
        self._pending: deque[tuple[int, int, int]] = deque()  # (request number, offset, length), oldest first
        self._arrived: dict[int, tuple[int, paramiko.Message]] = {}
        self._requested = 0

    def _async_response(self, kind: int, message: paramiko.Message, number: int) -> None:
        """Called by paramiko with an answer to one of our requests read while waiting for another."""
        self._arrived[number] = (kind, message)

    def _send(self, offset: int, length: int, *, is_next: bool = False) -> None:
        number = self._sftp._async_request(self, CMD_READ, self._remote.handle, int64(offset), int(length))
        (self._pending.appendleft if is_next else self._pending.append)((number, offset, length))

    def read(self, _size: int) -> bytes:
        if self._size is None:  # a server that gives no size: one request at a time
            return self._remote.read(_BLOCK)
        while len(self._pending) < PIPELINE_REQUESTS and self._requested < self._size:
            length = min(_BLOCK, self._size - self._requested)
            self._send(self._requested, length)
            self._requested += length
        if not self._pending:
            return b""
        number, offset, length = self._pending.popleft()
        try:
            if number in self._arrived:
                kind, message = self._arrived.pop(number)
                if kind == CMD_STATUS:
                    self._sftp._convert_status(message)
            else:
                kind, message = self._sftp._read_response(number)
        except EOFError:  # SFTP's end of file before the size the file had when opened
            raise TransportError(
                ErrorClass.TRANSIENT,
                "file_changed",
                f"The file became shorter on the SFTP server {self._host} while BatchHub read it (it is being "
                "rewritten); it will be read again.",
            ) from None
        if kind != CMD_DATA:
            raise paramiko.SFTPError("Expected data")
        data = message.get_string()
        if not data:
            raise paramiko.SFTPError("Empty data")
        if len(data) < length:  # a server may answer less than asked: the rest is asked for next
            self._send(offset + len(data), length - len(data), is_next=True)
        return data

    def close(self, _whole: bool) -> None:
        try:
            self._remote.close()  # answers still due come first, handed to _async_response
        finally:
            self._pending.clear()
            self._arrived.clear()
