"""FTP and FTPS (explicit TLS) with ftplib (not django-storages, whose FTPS verifies no certificate and whose
failed login puts the password in the exception's text).

The control connection is made by the SSRF guard; passive mode always, the data connection going to the control
connection's peer whatever address the server announces (ftplib's `trust_server_pasv_ipv4_address = False`). FTPS
sends `AUTH TLS` first, verifies the certificate and the host name (the system's CAs or a pinned `ca_pem`), protects
the data with `PROT P` and resumes the control channel's TLS session on each data connection (servers that require
it refuse a fresh handshake). Reads are streamed from the data connection; writes go to a temporary name in the
same folder, renamed (`RNFR`/`RNTO`) once whole.

settings: `host`, `port` (21), `username`, `path` (the remote folder; relative to the login folder unless it starts
with `/`), for `ftps` an optional `ca_pem`. secrets: `password`.
"""

from __future__ import annotations

import datetime as dt
import ftplib
import posixpath
import socket
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import IO

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
    CHUNK_SIZE,
    PASS_THROUGH,
    ChunkReader,
    SourceFailed,
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

# Replies meaning "this command is not implemented here" (as opposed to "refused for this file").
_NOT_IMPLEMENTED = ("500", "502", "504")


class _GuardedConnect:
    """ftplib's `connect`, the socket made by the SSRF guard to a checked address; `self.host` keeps the name
    (the TLS certificate is verified against it)."""

    def connect(self, host: str, port: int, timeout: float) -> str:
        self.host, self.port, self.timeout = host, port, timeout
        self.sock = connect_checked(host, port, timeout)
        self.af = self.sock.family
        self.file = self.sock.makefile("r", encoding=self.encoding)
        self.welcome = self.getresp()
        return self.welcome


class _FTP(_GuardedConnect, ftplib.FTP):
    pass


class _FTPS(_GuardedConnect, ftplib.FTP_TLS):
    def ntransfercmd(self, cmd: str, rest=None):
        """Each data connection resumes the control connection's TLS session and verifies the host name."""
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)  # noqa: S321 - the partner chose FTP(S)
        if self._prot_p:
            try:
                conn = self.context.wrap_socket(conn, server_hostname=self.host, session=self.sock.session)
            except BaseException:
                conn.close()
                raise
        return conn, size


def _code(exc: BaseException) -> str:
    """The reply code of an ftplib error (its text is the server's reply: never shown, it may echo input)."""
    text = str(exc.args[0]) if exc.args else ""
    return text[:3] if text[:3].isdigit() else ""


def _error(exc: BaseException, host: str, action: str, *, missing_is_not_found: bool = False) -> TransportError:
    """A failure of an FTP operation, classified; the message gives the reply code, never the server's text."""
    if isinstance(exc, TransportError):
        return exc
    if isinstance(exc, socket.timeout | TimeoutError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            f"The FTP server {host} stopped answering while BatchHub tried to {action}; it will be retried.",
        )
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _certificate_invalid(host)
    if isinstance(exc, ftplib.error_temp):
        return TransportError(
            ErrorClass.TRANSIENT,
            "server_busy",
            f"The FTP server {host} answered with a temporary failure ({_code(exc)}) when BatchHub tried to "
            f"{action}; it will be retried.",
        )
    if isinstance(exc, ftplib.error_perm):
        code = _code(exc)
        if code == "530":
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "auth_refused",
                f"The FTP server {host} refused the session (530, not logged in). Check the user and password; "
                "retrying will not help.",
            )
        if code == "550" and missing_is_not_found:
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "not_found",
                f"Could not {action}: the FTP server answered 550 (no such file, or not readable by this user). "
                "Check the name, the folder and the user's rights; retrying will not help.",
            )
        if code in ("550", "553"):
            return TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "permission_denied",
                f"The FTP server {host} did not let BatchHub {action} ({code}: permission denied, or a folder or "
                "name it does not accept). Give the user the rights it needs; retrying will not help until then.",
            )
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "server_refused",
            f"The FTP server {host} refused to {action} ({code or 'an error reply'}): a full disk, a quota or a "
            "command it does not support. Check the server; retrying will not help until it is fixed.",
        )
    if isinstance(exc, UnicodeError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "bad_encoding",
            f"The FTP server {host} sent text that is not UTF-8 (file names in another encoding) when BatchHub "
            f"tried to {action}. Rename the files or set the server to UTF-8; retrying will not help.",
        )
    if isinstance(exc, ssl.SSLError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "tls_failed",
            f"The encrypted connection to the FTP server {host} failed while BatchHub tried to {action}; it will be "
            "retried.",
        )
    if isinstance(exc, EOFError | OSError | ftplib.Error):
        return TransportError(
            ErrorClass.TRANSIENT,
            "connection_lost",
            f"The connection to the FTP server {host} was lost while BatchHub tried to {action}; it will be retried.",
        )
    return unexpected(f"working on the FTP server {host}")


def _certificate_invalid(host: str) -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "certificate_invalid",
        f"The FTPS server {host} presented a certificate BatchHub cannot trust (not signed by a known authority or "
        "the CA certificate given, expired, or issued for another host name). Install a valid certificate for this "
        "host name, or give the CA certificate that signed it; retrying will not help.",
    )


def _ftp_name(name: str) -> str:
    name = remote_name(name)
    if "\r" in name or "\n" in name:
        raise TransportError(ErrorClass.FIX_ON_YOUR_SIDE, "bad_path", "That file name is not allowed.")
    return name


def _modified(value: str | None) -> dt.datetime | None:
    """An MLSD `modify` fact or an MDTM reply's time (YYYYMMDDHHMMSS[.fff], UTC)."""
    try:
        return dt.datetime.strptime((value or "")[:14], "%Y%m%d%H%M%S").replace(tzinfo=dt.UTC)
    except ValueError:
        return None


@transport_kind("ftp")
def ftp_open(settings: Mapping, secrets: Mapping) -> FtpTransport:
    return FtpTransport.connect(settings, secrets)


@transport_kind("ftps")
def ftps_open(settings: Mapping, secrets: Mapping) -> FtpsTransport:
    return FtpsTransport.connect(settings, secrets)


class FtpTransport(Transport):
    kind = "ftp"

    def __init__(self, ftp: ftplib.FTP, host: str) -> None:
        self._ftp: ftplib.FTP | None = ftp
        self._host = host
        self._has_mlsd = True
        self._is_binary = False  # listings switch the session to ASCII (TYPE A); transfers and SIZE need TYPE I

    @classmethod
    def _client(cls, settings: Mapping, timeout: float) -> ftplib.FTP:
        return _FTP(timeout=timeout)

    @classmethod
    def connect(cls, settings: Mapping, secrets: Mapping) -> FtpTransport:
        host = setting_text(settings, "host", "host")
        port = setting_port(settings, 21)
        username = setting_text(settings, "username", "user name")
        folder = setting_text(settings, "path", "remote folder", required=False)
        if "\r" in folder or "\n" in folder:
            raise settings_invalid("The remote folder holds a line break: remove it.")
        password = secret_text(secrets, "password") or ""
        if "\r" in password or "\n" in password:  # ftplib would refuse to send it, with the line in its message
            raise settings_invalid("The password holds a line break, which FTP cannot send: remove it.")
        timeout = storage_timeout()
        shown_host = host[:100]
        ftp = cls._client(settings, timeout)
        ftp.set_pasv(True)  # always: the data connection goes from us to the control connection's peer
        try:
            ftp.connect(host, port, timeout)
            cls._secure(ftp, shown_host)
            cls._login(ftp, username, password, shown_host)
            if folder:
                try:
                    ftp.cwd(folder)
                except ftplib.error_perm:
                    raise TransportError(
                        ErrorClass.FIX_ON_YOUR_SIDE,
                        "folder_missing",
                        f"The folder {shown(folder)} does not exist on the FTP server {shown_host} (or this user "
                        "cannot open it). Create it or correct the path; retrying will not help.",
                    ) from None
            return cls(ftp, shown_host)
        except BaseException as exc:
            with quietly():
                ftp.close()
            if isinstance(exc, (TransportError, *PASS_THROUGH)) or not isinstance(exc, Exception):
                raise
            raise _error(exc, shown_host, "open the FTP session") from None

    @classmethod
    def _secure(cls, ftp: ftplib.FTP, host: str) -> None:
        """Plain FTP sends everything in clear: nothing to do."""

    @staticmethod
    def _login(ftp: ftplib.FTP, username: str, password: str, host: str) -> None:
        try:
            ftp.login(username, password)
        except ftplib.error_perm as exc:
            # ftplib's error text is the server's reply: some echo what they were sent. Never shown.
            if _code(exc) == "530":
                raise TransportError(
                    ErrorClass.FIX_ON_YOUR_SIDE,
                    "auth_refused",
                    f"The FTP server {host} refused the user name and password. Check them; retrying will not help.",
                ) from None
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "auth_refused",
                f"The FTP server {host} refused the login ({_code(exc) or 'an error reply'}). Check the user and "
                "password; if the server requires encryption, choose FTPS. Retrying will not help.",
            ) from None

    # --- operations

    def list(self, pattern: str = "*") -> list[RemoteFile]:
        parts = pattern_parts(pattern)
        found: list[RemoteFile] = []
        try:
            self._walk("", "", parts, found)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, "list the folder") from None
        return sorted(found, key=lambda item: item.name)

    def _walk(self, folder: str, prefix: str, parts: list[str], found: list[RemoteFile]) -> None:
        for base, kind, size, modified in self._entries(folder, is_last=len(parts) == 1):
            if not part_matches(base, parts[0]):
                continue
            if len(parts) > 1:
                if kind == "dir":
                    self._walk(posixpath.join(folder, base), f"{prefix}{base}/", parts[1:], found)
            elif kind == "file":
                found.append(RemoteFile(name=prefix + base, size=size, modified_at=modified))

    def _entries(self, folder: str, *, is_last: bool):
        """(name, "file" | "dir", size, modified) of a folder: MLSD, or NLST with SIZE and MDTM where MLSD is not
        implemented (a name whose SIZE is refused is taken for a folder)."""
        if self._has_mlsd:
            try:
                self._is_binary = False
                entries = list(self._ftp.mlsd(folder))
            except ftplib.error_perm as exc:
                if _code(exc) not in _NOT_IMPLEMENTED:
                    raise
                self._has_mlsd = False
            else:
                for base, facts in entries:
                    kind = facts.get("type", "").lower()
                    if kind in ("file", "dir") and base not in (".", ".."):
                        size = int(facts["size"]) if facts.get("size", "").isdigit() else None
                        yield base, kind, size, _modified(facts.get("modify"))
                return
        try:
            self._is_binary = False
            names = self._ftp.nlst(folder) if folder else self._ftp.nlst()
        except ftplib.error_perm as exc:
            if _code(exc) == "550":  # some servers answer an empty folder so
                return
            raise
        self._binary()
        for listed in names:
            base = posixpath.basename(listed.rstrip("/"))
            if base in ("", ".", ".."):
                continue
            path = posixpath.join(folder, base)
            try:
                size = self._ftp.size(path)
            except ftplib.error_perm as exc:
                if _code(exc) not in _NOT_IMPLEMENTED:
                    yield base, "dir", None, None
                    continue
                size = None
            modified = None
            if is_last:
                with suppress(ftplib.error_perm):
                    modified = _modified(self._ftp.voidcmd(f"MDTM {path}")[4:].strip())
            yield base, "file", size, modified

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        path = _ftp_name(name)
        action = f"read {shown(name)}"
        try:
            self._binary()
            conn, _size = self._ftp.ntransfercmd(f"RETR {path}")
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, action, missing_is_not_found=True) from None
        download = _Download(self._ftp, conn)
        raw = ChunkReader(download.read, lambda exc: _error(exc, self._host, action), download.close)
        with reading(raw) as reader:
            yield reader

    def write(self, name: str, stream: IO[bytes]) -> int:
        path = _ftp_name(name)
        temporary = temporary_path(path)
        total, conn = 0, None
        try:
            self._parents_ensure(path)
            self._binary()
            conn, _size = self._ftp.ntransfercmd(f"STOR {temporary}")
            for chunk in source_chunks(stream):
                conn.sendall(chunk)
                total += len(chunk)
            _transfer_end(conn)
            conn = None
            self._ftp.voidresp()
            self._rename_over(temporary, path)
        except BaseException as exc:
            if conn is not None:
                _transfer_abandon(self._ftp, conn)
            self._discard(temporary)
            if isinstance(exc, SourceFailed):
                raise exc.original from None
            if isinstance(exc, (TransportError, *PASS_THROUGH)) or not isinstance(exc, Exception):
                raise
            raise _error(exc, self._host, f"write {shown(name)}") from None
        return total

    def discard_unfinished(self, name: str) -> int:
        folder, base = posixpath.split(_ftp_name(name))
        try:
            try:
                entries = list(self._entries(folder, is_last=False))
            except ftplib.error_perm:  # no folder yet (550, or 501 from some servers): nothing was written there
                return 0
            leftovers = [entry for entry, kind, _, _ in entries if kind == "file" and is_temporary_of(base, entry)]
            for leftover in leftovers:
                with suppress(ftplib.error_perm):  # gone meanwhile
                    self._ftp.delete(posixpath.join(folder, leftover))
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, f"clean up after an interrupted write of {shown(name)}") from None
        return len(leftovers)

    def delete(self, name: str) -> None:
        """Deletes `name`; a file already gone is not an error (a retried delete whose answer was lost)."""
        path = _ftp_name(name)
        try:
            try:
                self._ftp.delete(path)
            except ftplib.error_perm as exc:
                if _code(exc) == "550" and not self._exists(path):
                    return
                raise
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, f"delete {shown(name)}") from None

    def move(self, name: str, to: str) -> None:
        source, target = _ftp_name(name), _ftp_name(to)
        action = f"move {shown(name)} to {shown(to)}"
        try:
            if not self._exists(source):
                raise TransportError(
                    ErrorClass.FIX_ON_YOUR_SIDE,
                    "not_found",
                    f"Could not {action}: {shown(name)} does not exist on the FTP server. Check the name; retrying "
                    "will not help.",
                )
            self._parents_ensure(target)
            self._rename_over(source, target)
        except (TransportError, *PASS_THROUGH):
            raise
        except Exception as exc:
            raise _error(exc, self._host, action) from None

    def close(self) -> None:
        ftp, self._ftp = self._ftp, None
        if ftp is not None:
            with quietly():
                ftp.quit()
            with quietly():
                ftp.close()

    # --- helpers

    def _binary(self) -> None:
        if not self._is_binary:
            self._ftp.voidcmd("TYPE I")
            self._is_binary = True

    def _exists(self, path: str) -> bool:
        try:
            self._binary()
            self._ftp.size(path)
        except ftplib.error_perm as exc:
            if _code(exc) in _NOT_IMPLEMENTED:  # no SIZE: ask for the folder's names instead
                folder, base = posixpath.split(path)
                with suppress(ftplib.error_perm):
                    self._is_binary = False
                    return base in {posixpath.basename(n) for n in self._ftp.nlst(*([folder] if folder else []))}
            return False
        return True

    def _parents_ensure(self, path: str) -> None:
        """Creates the folders of `path` below the configured folder (one that exists answers 550: ignored, the
        transfer itself reports a real refusal)."""
        current = ""
        for part in path.split("/")[:-1]:
            current = posixpath.join(current, part)
            with suppress(ftplib.error_perm):
                self._ftp.mkd(current)

    def _rename_over(self, source: str, target: str) -> None:
        """RNFR/RNTO; a server that will not rename onto an existing file gets the target deleted first."""
        try:
            self._ftp.rename(source, target)
        except ftplib.error_perm:
            with suppress(ftplib.error_perm):
                self._ftp.delete(target)
            self._ftp.rename(source, target)

    def _discard(self, temporary: str) -> None:
        if self._ftp is not None:
            with quietly():
                self._ftp.delete(temporary)


class FtpsTransport(FtpTransport):
    kind = "ftps"

    @classmethod
    def _client(cls, settings: Mapping, timeout: float) -> ftplib.FTP:
        ca_pem = setting_text(settings, "ca_pem", "CA certificate", required=False, is_multiline=True)
        try:
            context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
        except (ssl.SSLError, ValueError):
            raise settings_invalid(
                "The CA certificate is not a PEM certificate: paste it whole, with its BEGIN and END lines."
            ) from None
        return _FTPS(context=context, timeout=timeout)

    @classmethod
    def _secure(cls, ftp: ftplib.FTP, host: str) -> None:
        """AUTH TLS before the credentials, the certificate and host name verified; then PROT P after login."""
        try:
            ftp.auth()
        except ssl.SSLCertVerificationError:
            raise _certificate_invalid(host) from None
        except ftplib.error_perm as exc:
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "tls_unsupported",
                f"The FTP server {host} does not offer TLS (it answered {_code(exc) or 'an error'} to AUTH TLS). "
                "Enable explicit FTPS on it, or choose plain FTP if the data may travel unencrypted.",
            ) from None
        except ssl.SSLError:
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "tls_failed",
                f"BatchHub could not agree on an encrypted connection with the FTPS server {host} (an old TLS "
                "version or cipher). Enable TLS 1.2 or later on it; retrying will not help.",
            ) from None

    @staticmethod
    def _login(ftp: ftplib.FTP, username: str, password: str, host: str) -> None:
        FtpTransport._login(ftp, username, password, host)
        ftp.prot_p()


class _Download:
    """A RETR's data connection read in chunks; the transfer's final reply checked at its end (a 226 says the file
    came whole: a connection closed early reads like an end of file)."""

    def __init__(self, ftp: ftplib.FTP, conn: socket.socket) -> None:
        self._ftp, self._conn = ftp, conn

    def read(self, size: int) -> bytes:
        if self._conn is None:
            return b""
        data = self._conn.recv(min(size, CHUNK_SIZE))
        if not data:
            conn, self._conn = self._conn, None
            _transfer_end(conn)
            self._ftp.voidresp()
        return data

    def close(self, whole: bool) -> None:
        if self._conn is not None:  # left before the end: the server answers 426 (or 226), read and dropped
            conn, self._conn = self._conn, None
            _transfer_abandon(self._ftp, conn)


def _transfer_end(conn: socket.socket) -> None:
    """Closes a data connection at the end of a transfer (TLS: with its close_notify, which servers wait for)."""
    try:
        if isinstance(conn, ssl.SSLSocket):
            with suppress(OSError, ValueError):
                conn.unwrap()
    finally:
        conn.close()


def _transfer_abandon(ftp: ftplib.FTP, conn: socket.socket) -> None:
    conn.close()
    with quietly():
        ftp.getresp()
