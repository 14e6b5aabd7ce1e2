"""HTTP(S) sources, read only, with httpx.

Every TCP connection httpx opens goes through the SSRF guard (`_GuardedBackend`, httpcore's network backend): the
host is resolved once, each address checked, and httpcore's own connect is handed the checked address as a literal
IP, so no second lookup happens that a rebinding DNS server could answer differently; TLS still verifies the
certificate against the host name. Redirects are followed here, at most 5, each to a new origin opening a new
(checked) connection; credentials are dropped when a redirect leaves the origin (an upgrade from http to https on
the same host keeps them). No proxy from the environment is used.

settings: `url` (http or https; no credentials in it), optional `ca_pem` (a CA to trust besides the system's, for a
server whose certificate a private CA signed). secrets: optional `header_name` + `header_value`, or `username` +
`password` (basic).
"""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import fnmatch
import posixpath
import re
import ssl
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import IO

import httpcore
import httpx

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
    pattern_parts,
    quietly,
    reading,
    secret_text,
    setting_text,
    settings_invalid,
    shown,
    unexpected,
)
from batchhub.core.storage.network import connection_error, host_resolve

MAX_REDIRECTS = 5
_REDIRECTS = (301, 302, 303, 307, 308)
_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")
# Headers the transport sets itself or that would change how the request is framed or routed.
_HEADERS_RESERVED = {"host", "content-length", "transfer-encoding", "connection", "accept-encoding", "te", "upgrade"}


class _GuardedBackend(httpcore.SyncBackend):
    """httpcore's TCP connect, made to an address the SSRF guard checked (the host name stays on the request for the
    Host header and the TLS certificate's verification)."""

    def connect_tcp(self, host: str, port: int, timeout=None, local_address=None, socket_options=None):
        last: Exception | None = None
        for _family, _kind, _proto, _name, address in host_resolve(host, port):
            try:
                return super().connect_tcp(address[0], port, timeout, local_address, socket_options)
            except (httpcore.ConnectTimeout, httpcore.ConnectError) as exc:
                last = exc
        raise connection_error(host, TimeoutError() if isinstance(last, httpcore.ConnectTimeout) else last)


class _GuardedTransport(httpx.HTTPTransport):
    """httpx's transport over a connection pool whose network backend is `_GuardedBackend`.

    httpx takes no network backend, so its pool (`_pool`, what `handle_request` uses) is replaced by one built the
    same way with ours. Should httpx stop using it, the tests that refuse loopback and count DNS lookups fail."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        super().__init__(verify=ssl_context, trust_env=False, retries=0)
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl_context,
            max_connections=4,
            max_keepalive_connections=2,
            keepalive_expiry=5.0,
            http1=True,
            http2=False,
            retries=0,
            network_backend=_GuardedBackend(),
        )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__


def _error(exc: BaseException, host: str, action: str) -> TransportError:
    """A failed request, classified; never httpx's text (it holds the URL, and may hold a header)."""
    if isinstance(exc, TransportError):
        return exc
    causes = list(_chain(exc))
    if any(isinstance(cause, ssl.SSLCertVerificationError) for cause in causes):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "certificate_invalid",
            f"The server {host} presented a certificate BatchHub cannot trust (not signed by a known authority, "
            "expired, or issued for another host name). Install a valid certificate for this host name; retrying "
            "will not help.",
        )
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            f"The server {host} did not answer in time while BatchHub tried to {action}; it will be retried.",
        )
    if isinstance(exc, httpx.ConnectError) and any(
        isinstance(cause, ssl.SSLError) and not isinstance(cause, ssl.SSLEOFError | ssl.SSLZeroReturnError)
        for cause in causes
    ):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "tls_failed",
            f"BatchHub could not agree on an encrypted connection with {host} (an old TLS version or cipher). "
            "Enable TLS 1.2 or later on the server; retrying will not help.",
        )
    if isinstance(exc, httpx.DecodingError):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "bad_response",
            f"The server {host} sent a body BatchHub could not decode while it tried to {action}. Serve the file "
            "without a content encoding, or with gzip; retrying will not help.",
        )
    if isinstance(exc, httpx.ConnectError):
        return connection_error(host, None)
    if isinstance(exc, httpx.TransportError | OSError):
        return TransportError(
            ErrorClass.TRANSIENT,
            "connection_lost",
            f"The connection to {host} failed while BatchHub tried to {action}; it will be retried.",
        )
    return unexpected(f"reading from {host}")


def _status_error(status: int, host: str, action: str) -> TransportError:
    if status == 401:
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "auth_refused",
            f"The server {host} refused the credentials (401) when BatchHub tried to {action}. Check the user and "
            "password, or the header; retrying will not help.",
        )
    if status == 403:
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "permission_denied",
            f"The server {host} did not let BatchHub {action} (403 forbidden). Give the credentials access to the "
            "file; retrying will not help.",
        )
    if status in (404, 410):
        return TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "not_found",
            f"The server {host} has no file at this URL ({status}) when BatchHub tried to {action}. Check the URL; "
            "retrying will not help.",
        )
    if status == 429:
        return TransportError(
            ErrorClass.TRANSIENT,
            "rate_limited",
            f"The server {host} asked BatchHub to slow down (429); it will be retried later.",
        )
    if status == 408 or status >= 500:
        return TransportError(
            ErrorClass.TRANSIENT,
            "server_error",
            f"The server {host} failed to answer ({status}) when BatchHub tried to {action}; it will be retried.",
        )
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "http_refused",
        f"The server {host} answered {status} when BatchHub tried to {action}. Check the URL and the server; "
        "retrying will not help.",
    )


def _read_only() -> TransportError:
    return TransportError(
        ErrorClass.FIX_ON_YOUR_SIDE,
        "read_only",
        "This source is read only: BatchHub can read a file from an HTTP address but not write, move or delete it.",
    )


def _credentials_headers(secrets: Mapping) -> dict[str, str]:
    header_name, header_value = secret_text(secrets, "header_name"), secret_text(secrets, "header_value")
    username, password = secret_text(secrets, "username"), secret_text(secrets, "password")
    if header_name or header_value:
        if not header_name or not _HEADER_NAME.match(header_name) or header_name.lower() in _HEADERS_RESERVED:
            raise settings_invalid("The header name is not valid: use letters, digits and dashes (e.g. X-Api-Key).")
        if not header_value or not header_value.isascii() or not header_value.isprintable():
            raise settings_invalid("The header value must be printable ASCII, without a line break.")
        return {header_name: header_value}
    if username or password:
        if username is None or ":" in username:
            raise settings_invalid("Give the user name (without a colon) with the password.")
        token = base64.b64encode(f"{username}:{password or ''}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


def _file_name(url: httpx.URL) -> str:
    """The name the source's one file is listed under: the URL's last path segment."""
    base = posixpath.basename(url.path.rstrip("/"))
    if base in ("", ".", "..") or any(char in base for char in "\\\x00") or not base.isprintable():
        return url.host or "download"
    return base


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80)


def _keeps_credentials(origin: httpx.URL, target: httpx.URL) -> bool:
    if _origin(origin) == _origin(target):
        return True
    # http -> https on the same host (default ports): an upgrade, not another server
    return (
        origin.scheme == "http"
        and target.scheme == "https"
        and origin.host == target.host
        and (origin.port in (None, 80))
        and (target.port in (None, 443))
    )


@transport_kind("http")
def http_open(settings: Mapping, secrets: Mapping) -> HttpTransport:
    return HttpTransport.connect(settings, secrets)


class HttpTransport(Transport):
    kind = "http"
    can_write = False

    def __init__(self, client: httpx.Client, url: httpx.URL, headers: dict[str, str]) -> None:
        self._client: httpx.Client | None = client
        self._url, self._headers = url, headers
        self._host = url.host[:100]
        self.name = _file_name(url)

    @classmethod
    def connect(cls, settings: Mapping, secrets: Mapping) -> HttpTransport:
        text = setting_text(settings, "url", "URL")
        try:
            url = httpx.URL(text)
        except (httpx.InvalidURL, ValueError, TypeError):
            raise settings_invalid("The URL is not valid: give a full address such as https://host/file.csv.") from None
        if url.scheme not in ("http", "https") or not url.host:
            raise settings_invalid("The URL must start with https:// (or http://) and name a host.")
        if url.userinfo:
            raise settings_invalid(
                "The URL holds a user name or password: remove them from it and fill in the credentials instead."
            )
        ca_pem = setting_text(settings, "ca_pem", "CA certificate", required=False, is_multiline=True)
        try:
            context = ssl.create_default_context()
            if ca_pem:
                context.load_verify_locations(cadata=ca_pem)
        except (ssl.SSLError, ValueError):
            raise settings_invalid(
                "The CA certificate is not a PEM certificate: paste it whole, with its BEGIN and END lines."
            ) from None
        headers = _credentials_headers(secrets)
        client = httpx.Client(
            transport=_GuardedTransport(context),
            timeout=httpx.Timeout(storage_timeout()),
            follow_redirects=False,
            trust_env=False,
            headers={"Accept-Encoding": "identity", "User-Agent": "BatchHub"},
        )
        return cls(client, url, headers)

    # --- requests

    def _send(self, method: str, action: str, tolerated: tuple[int, ...] = ()) -> httpx.Response:
        """The response (headers read, body not) to `method` on the URL after redirects; a status that is neither a
        success nor `tolerated` raised as a TransportError."""
        url, headers = self._url, dict(self._headers)
        for hop in range(MAX_REDIRECTS + 1):
            host = url.host[:100]
            try:
                response = self._client.send(self._client.build_request(method, url, headers=headers), stream=True)
            except TransportError as exc:
                if hop and exc.code == "address_refused":
                    raise TransportError(
                        ErrorClass.FIX_ON_YOUR_SIDE,
                        "address_refused",
                        f"The server {self._host} redirected BatchHub to {host}, a private or internal network "
                        "address, which BatchHub does not connect to. Give a URL that serves the file directly.",
                    ) from None
                raise
            except PASS_THROUGH:
                raise
            except Exception as exc:
                raise _error(exc, host, action) from None
            if response.status_code in _REDIRECTS and "location" in response.headers:
                location = response.headers["location"]
                response.close()
                try:
                    target = url.join(location)
                except (httpx.InvalidURL, ValueError, TypeError):
                    target = None
                is_downgrade = url.scheme == "https" and target is not None and target.scheme == "http"
                if target is None or target.scheme not in ("http", "https") or not target.host or is_downgrade:
                    raise TransportError(
                        ErrorClass.FIX_ON_YOUR_SIDE,
                        "bad_redirect",
                        f"The server {host} redirected BatchHub to an address it does not follow (not http(s), or "
                        "from https down to plain http). Give the final https URL of the file; retrying will not help.",
                    )
                if not _keeps_credentials(url, target):
                    headers = {}
                url = target
                continue
            if not response.is_success and response.status_code not in tolerated:
                response.close()
                raise _status_error(response.status_code, host, action)
            return response
        raise TransportError(
            ErrorClass.FIX_ON_YOUR_SIDE,
            "too_many_redirects",
            f"The server {self._host} redirected BatchHub more than {MAX_REDIRECTS} times. Give the final URL of "
            "the file; retrying will not help.",
        )

    # --- operations

    def list(self, pattern: str = "*") -> list[RemoteFile]:
        """The URL's one file when its name (the URL's last path segment) matches `pattern`, with its size and
        modified time from the response's headers (HEAD, or a GET whose body is not read)."""
        parts = pattern_parts(pattern)
        if len(parts) != 1 or not fnmatch.fnmatchcase(self.name, parts[0]):
            return []
        action = "look at the file"
        response = self._send("HEAD", action, tolerated=(405, 501))
        if response.status_code in (405, 501):  # no HEAD here: the headers of a GET, its body left unread
            response.close()
            response = self._send("GET", action)
        response.close()
        length = response.headers.get("content-length", "")
        size = int(length) if length.isdigit() else None
        modified = None
        with suppress(TypeError, ValueError, IndexError, OverflowError):
            parsed = email.utils.parsedate_to_datetime(response.headers.get("last-modified", ""))
            modified = parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
        return [RemoteFile(name=self.name, size=size, modified_at=modified)]

    @contextmanager
    def open_read(self, name: str) -> Iterator[IO[bytes]]:
        if remote_name(name) != self.name:
            raise TransportError(
                ErrorClass.FIX_ON_YOUR_SIDE,
                "not_found",
                f"This source serves one file, {shown(self.name)}, not {shown(name)}.",
            )
        action = f"read {shown(name)}"
        response = self._send("GET", action)
        chunks = response.iter_bytes(CHUNK_SIZE)

        def read(_size: int) -> bytes:
            return next(chunks, b"")

        raw = ChunkReader(read, lambda exc: _error(exc, self._host, action), lambda _whole: response.close())
        with reading(raw) as reader:
            yield reader

    def write(self, name: str, stream: IO[bytes]) -> int:
        raise _read_only()

    def delete(self, name: str) -> None:
        raise _read_only()

    def move(self, name: str, to: str) -> None:
        raise _read_only()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with quietly():
                client.close()
