"""Real SFTP, FTP, FTPS and HTTP servers on loopback for the network transports' tests, each started once per test
session in a thread of its own (asyncssh on its own event loop, pyftpdlib on its own IOLoop, pytest-httpserver's
werkzeug server) on a free port, and stopped at the session's end."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = [
    "ftp_server",
    "ftps_server",
    "ftps_wrong_name_server",
    "http_server",
    "https_server",
    "sftp_server",
    "tls_authority",
]

USER = "partner"
PASSWORD = "pass-4e1b"  # the right password of every server's user
# A user whose SFTP server lacks OpenSSH's posix-rename extension (plain rename, which never replaces a file).
SFTP_LEGACY_USER = "legacy"
HEADER_NAME, HEADER_VALUE = "X-Api-Key", "key-9c1d"  # the HTTP server's header credential
CSV = b"a;b;c\n1;2;3\n"  # what the HTTP server's files hold
LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"
LARGE_SIZE = 50 * 1024 * 1024
# A public-looking name the tests resolve (monkeypatched getaddrinfo) to a private address.
PRIVATE_LOOKING_HOST = "files.partner-cdn.example"
# A user whose FTP server knows neither MLSD nor a rename onto an existing file.
FTP_LEGACY_USER = "legacy"
HEADER_NAME, HEADER_VALUE = "X-Api-Key", "key-9c1d"  # the HTTP server's header credential
CSV = b"a;b;c\n1;2;3\n"  # what the HTTP server's files hold
LAST_MODIFIED = "Wed, 21 Oct 2026 07:28:00 GMT"
LARGE_SIZE = 50 * 1024 * 1024
# A public-looking name the tests resolve (monkeypatched getaddrinfo) to a private address.
PRIVATE_LOOKING_HOST = "files.partner-cdn.example"


def port_free() -> int:
    """A port nobody listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def port_wait(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


# --- SFTP: asyncssh on its own event loop -------------------------------------------------------------------------


@dataclass
class SftpServer:
    port: int
    root: Path
    host_key: str  # the server's public key line
    other_host_key: str  # a key line the server does not hold (a pin that must be refused)
    client_key: object  # asyncssh's SSHKey, authorised for USER
    stranger_key: object  # a key the server does not authorise
    host: str = "127.0.0.1"

    def settings(self, **overrides) -> dict:
        values = {"host": self.host, "port": self.port, "username": USER, "path": "/upload", "host_key": self.host_key}
        return {**values, **overrides}

    def private_key(self, passphrase: str | None = None, *, key=None) -> str:
        key = key or self.client_key
        if passphrase is None:
            return key.export_private_key("openssh").decode()
        # Few KDF rounds: the tests load keys often, the rounds' strength is not what they check.
        return key.export_private_key("openssh", passphrase=passphrase, rounds=4, ignore_few_rounds=True).decode()


async def _sftp_listen(root: Path, host_key, client_key):
    import asyncssh

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return username in (USER, SFTP_LEGACY_USER) and password == PASSWORD

        def public_key_auth_supported(self) -> bool:
            return True

        def validate_public_key(self, username: str, key) -> bool:
            return username == USER and key.public_data == client_key.public_data

    class LegacySftpServer(asyncssh.SFTPServer):
        def posix_rename(self, oldpath: bytes, newpath: bytes):
            raise asyncssh.SFTPOpUnsupported("posix-rename is not supported here")

    def sftp_factory(chan):
        server = LegacySftpServer if chan.get_extra_info("username") == SFTP_LEGACY_USER else asyncssh.SFTPServer
        return server(chan, chroot=str(root).encode())

    return await asyncssh.listen(
        "127.0.0.1", 0, server_host_keys=[host_key], server_factory=Server, sftp_factory=sftp_factory, allow_scp=False
    )


@pytest.fixture(scope="session")
def sftp_server(tmp_path_factory) -> Iterator[SftpServer]:
    import asyncssh

    root = tmp_path_factory.mktemp("sftp")
    (root / "upload").mkdir()
    host_key, other_key = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    client_key, stranger_key = (
        asyncssh.generate_private_key("ssh-ed25519"),
        asyncssh.generate_private_key("ssh-ed25519"),
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()
    listener = asyncio.run_coroutine_threadsafe(_sftp_listen(root, host_key, client_key), loop).result(10)
    port = listener.sockets[0].getsockname()[1]
    port_wait(port)
    try:
        yield SftpServer(
            port=port,
            root=root,
            host_key=host_key.export_public_key("openssh").decode().strip(),
            other_host_key=other_key.export_public_key("openssh").decode().strip(),
            client_key=client_key,
            stranger_key=stranger_key,
        )
    finally:

        async def stop():
            listener.close()
            await listener.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# --- FTP and FTPS: pyftpdlib, each server on its own IOLoop -------------------------------------------------------


@dataclass
class FtpServer:
    port: int
    root: Path
    ca_pem: str = ""  # FTPS: the CA that signed the server's certificate
    host: str = "127.0.0.1"

    def settings(self, **overrides) -> dict:
        values = {"host": self.host, "port": self.port, "username": USER, "path": "/upload"}
        if self.ca_pem:
            values["ca_pem"] = self.ca_pem
        return {**values, **overrides}


def _pyftpdlib_handlers():
    """pyftpdlib's handlers, imported without the warning that asyncore and asynchat (which it uses) are deprecated."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from pyftpdlib import handlers

    return handlers


def _ftp_handler(base, root: Path, **attributes):
    import os

    from pyftpdlib.authorizers import DummyAuthorizer

    authorizer = DummyAuthorizer()
    for user in (USER, FTP_LEGACY_USER):
        authorizer.add_user(user, PASSWORD, str(root), perm="elradfmwMT")

    class Handler(base):
        def ftp_MLSD(self, path):
            if self.username == FTP_LEGACY_USER:
                self.respond("502 Command not implemented.")
                return None
            return super().ftp_MLSD(path)

        def ftp_RNTO(self, path):
            if self.username == FTP_LEGACY_USER and self._rnfr and os.path.exists(path):
                self._rnfr = None
                self.respond("550 File exists.")
                return None
            return super().ftp_RNTO(path)

    # No 3-second pause after a refused login (pyftpdlib's default): the tests refuse many.
    for name, value in {"authorizer": authorizer, "timeout": 30, "auth_failed_timeout": 0.01, **attributes}.items():
        setattr(Handler, name, value)
    return Handler


@contextmanager
def _ftp_serving(handler) -> Iterator[int]:
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

    server = FTPServer(("127.0.0.1", 0), handler, ioloop=IOLoop())
    port = server.socket.getsockname()[1]
    stop = threading.Event()

    def serve():
        while not stop.is_set():
            server.ioloop.loop(0.02, blocking=False)
        server.close_all()

    thread = threading.Thread(target=serve, name=f"ftp-server-{port}", daemon=True)
    thread.start()
    port_wait(port)
    try:
        yield port
    finally:
        stop.set()
        thread.join(10)


@pytest.fixture(scope="session")
def ftp_server(tmp_path_factory) -> Iterator[FtpServer]:
    """Plain FTP. Its passive replies announce 127.0.0.2, where nothing listens: a client that followed the
    announced address instead of the control connection's peer would fail every transfer."""
    FTPHandler = _pyftpdlib_handlers().FTPHandler

    root = tmp_path_factory.mktemp("ftp")
    (root / "upload").mkdir()
    with _ftp_serving(_ftp_handler(FTPHandler, root, masquerade_address="127.0.0.2")) as port:
        yield FtpServer(port=port, root=root)


@pytest.fixture(scope="session")
def tls_authority():
    """(the CA our FTPS and HTTPS servers' certificates come from, another CA nobody used)."""
    import trustme

    return trustme.CA(), trustme.CA()


def _tls_handler(root: Path, certificate, folder: Path):
    TLS_FTPHandler = _pyftpdlib_handlers().TLS_FTPHandler

    path = folder / "server.pem"
    certificate.private_key_and_cert_chain_pem.write_to_path(str(path))
    return _ftp_handler(
        TLS_FTPHandler,
        root,
        certfile=str(path),
        keyfile=None,
        ssl_context=None,  # each handler class builds (and caches) its own context from its certificate
        tls_control_required=True,
        tls_data_required=True,
    )


@pytest.fixture(scope="session")
def ftps_server(tmp_path_factory, tls_authority) -> Iterator[FtpServer]:
    """FTPS requiring TLS on the control and the data connections, its certificate for localhost and 127.0.0.1."""
    authority, _other = tls_authority
    root = tmp_path_factory.mktemp("ftps")
    (root / "upload").mkdir()
    certificate = authority.issue_cert("localhost", "127.0.0.1")
    with _ftp_serving(_tls_handler(root, certificate, tmp_path_factory.mktemp("ftps-cert"))) as port:
        yield FtpServer(port=port, root=root, ca_pem=authority.cert_pem.bytes().decode())


@pytest.fixture(scope="session")
def ftps_wrong_name_server(tmp_path_factory, tls_authority) -> Iterator[FtpServer]:
    """FTPS whose certificate, signed by the trusted CA, names another host (ftp.example.test)."""
    authority, _other = tls_authority
    root = tmp_path_factory.mktemp("ftps-wrong-name")
    (root / "upload").mkdir()
    certificate = authority.issue_cert("ftp.example.test")
    with _ftp_serving(_tls_handler(root, certificate, tmp_path_factory.mktemp("ftps-wrong-cert"))) as port:
        yield FtpServer(port=port, root=root, ca_pem=authority.cert_pem.bytes().decode())


# --- HTTP and HTTPS: pytest-httpserver (werkzeug) -----------------------------------------------------------------


@dataclass
class HttpServer:
    server: object  # pytest_httpserver.HTTPServer
    scheme: str
    port: int
    host: str = "127.0.0.1"

    def url(self, path: str, host: str | None = None) -> str:
        return f"{self.scheme}://{host or self.host}:{self.port}{path}"


def _http_routes(server, port: int) -> None:
    """The paths every HTTP test reads: a file, the same behind basic and header credentials, busy and failing
    servers, redirects (same origin, another origin, a private address, a loop), a server without HEAD, a slow and a
    truncated body, and 50 MB streamed from a generator."""
    import base64

    from werkzeug.wrappers import Response

    from tests.core.storage.contract import GeneratedStream

    basic = "Basic " + base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    plain = {"Content-Type": "text/csv", "Last-Modified": LAST_MODIFIED}

    def route(path: str, handler) -> None:
        server.expect_request(path).respond_with_handler(handler)

    def csv(_request):
        return Response(CSV, headers=plain)

    def basic_only(request):
        return csv(request) if request.headers.get("Authorization") == basic else Response(b"", status=401)

    def header_only(request):
        return csv(request) if request.headers.get(HEADER_NAME) == HEADER_VALUE else Response(b"", status=403)

    def redirect(location: str):
        return lambda _request: Response(b"", status=302, headers={"Location": location})

    def without_credentials(request):
        leaked = "Authorization" in request.headers or HEADER_NAME in request.headers
        return Response(b"credentials leaked", status=400) if leaked else csv(request)

    def no_head(request):
        return Response(b"", status=405) if request.method == "HEAD" else csv(request)

    def slow(request):
        time.sleep(1.5)
        return csv(request)

    def truncated(_request):
        return Response(iter([b"x" * 10]), headers={"Content-Length": "1000"}, direct_passthrough=True)

    def large(_request):
        def body():
            stream = GeneratedStream(LARGE_SIZE)
            while chunk := stream.read(64 * 1024):
                yield chunk

        headers = {"Content-Length": str(LARGE_SIZE), "Content-Type": "application/octet-stream"}
        return Response(body(), headers=headers, direct_passthrough=True)

    route("/files/export.csv", csv)
    route("/basic/export.csv", basic_only)
    route("/header/export.csv", header_only)
    route("/busy/export.csv", lambda _request: Response(b"", status=429, headers={"Retry-After": "30"}))
    route("/down/export.csv", lambda _request: Response(b"", status=503))
    route("/missing/export.csv", lambda _request: Response(b"", status=404))
    route("/redirect/same/export.csv", redirect("/basic/export.csv"))
    route("/redirect/other-origin/export.csv", redirect(f"http://localhost:{port}/credentials-free/export.csv"))
    route("/credentials-free/export.csv", without_credentials)
    route("/redirect/private/export.csv", redirect(f"http://{PRIVATE_LOOKING_HOST}:{port}/files/export.csv"))
    route("/redirect/ten/export.csv", redirect("http://10.0.0.1/export.csv"))
    route("/redirect/metadata/export.csv", redirect("http://169.254.169.254/latest/meta-data/"))
    route("/redirect/loop/export.csv", redirect("/redirect/loop/export.csv"))
    route("/redirect/ftp/export.csv", redirect("ftp://127.0.0.1/export.csv"))
    route("/redirect/plain/export.csv", redirect(f"http://127.0.0.1:{port}/files/export.csv"))  # from https: down
    route("/no-head/export.csv", no_head)
    route("/slow/export.csv", slow)
    route("/truncated/data.bin", truncated)
    route("/large/data.bin", large)


@contextmanager
def _http_serving(scheme: str, ssl_context=None) -> Iterator[HttpServer]:
    from pytest_httpserver import HTTPServer

    server = HTTPServer(host="127.0.0.1", port=0, ssl_context=ssl_context, threaded=True)
    server.start()
    port = server.port
    _http_routes(server, port)
    port_wait(port)
    try:
        yield HttpServer(server=server, scheme=scheme, port=port)
    finally:
        server.clear()
        server.stop()


@pytest.fixture(scope="session")
def http_server() -> Iterator[HttpServer]:
    with _http_serving("http") as server:
        yield server


@pytest.fixture(scope="session")
def https_server(tls_authority) -> Iterator[HttpServer]:
    """HTTPS with a certificate for localhost and 127.0.0.1 from `tls_authority`'s first CA."""
    import ssl

    authority, _other = tls_authority
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
    with _http_serving("https", context) as server:
        yield server
