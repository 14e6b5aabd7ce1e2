"""S3 (moto's ThreadedMotoServer) and GCS (gcp-storage-emulator) on loopback, each started once per test session,
plus small servers a test scripts itself (a fixed answer, over HTTP or HTTPS, a port that never answers, a port
that refuses).

The two storage servers run in a process of their own, not in a thread of the tests' process: the contract's 50 MB
check measures the transport's memory with tracemalloc, which counts every allocation of the process, and both
servers hold whole objects in memory (moto joins a multipart upload's parts into one bytes object, the emulator
keeps objects in memory). Each child exits when the pipe to its standard input closes, so none outlives the tests.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

# the fixtures conftest.py takes (names chosen not to meet the SFTP/FTP/HTTP servers' own)
__all__ = ["gcs_server", "hanging_port", "refusing_port", "s3_server", "scripted_http_server", "scripted_https_server"]

TLS_HOST = "storage.partner.example"  # the name scripted_https_server's certificate is for (besides 127.0.0.1)

# Buckets are named in the path (the transport's addressing for an S3-compatible endpoint) whatever the Host header:
# moto would otherwise read the first label of a host name (the tests' made-up names) as a bucket.
_MOTO = """
import os, sys
os.environ["S3_IGNORE_SUBDOMAIN_BUCKETNAME"] = "true"
from moto.moto_server.threaded_moto_server import ThreadedMotoServer

server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
sys.stdin.read()
server.stop()
"""

_GCS_EMULATOR = """
import logging, sys
from gcp_storage_emulator.server import create_server

logging.disable(logging.CRITICAL)
server = create_server("127.0.0.1", 0, in_memory=True)
server.start()
print(server._api._httpd.server_address[1], flush=True)
sys.stdin.read()
server.stop()
"""


def _serve(code: str):
    """Starts `code` in a child Python process; returns it and the port it printed once listening."""
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
    )
    line = process.stdout.readline()
    if not line.strip().isdigit():
        process.kill()
        raise RuntimeError("the storage server did not start")
    port = int(line)
    with socket.create_connection(("127.0.0.1", port), timeout=10):  # listening: the port is ready
        pass
    return process, port


def _stop(process) -> None:
    process.stdin.close()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    access_key_id: str  # allowed everything on S3
    secret_access_key: str
    reader_key_id: str  # allowed to list and read only
    reader_secret: str

    def admin(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id=self.access_key_id,
            aws_secret_access_key=self.secret_access_key,
        )


def _iam_user(iam, name: str, actions: list[str]) -> tuple[str, str]:
    iam.create_user(UserName=name)
    key = iam.create_access_key(UserName=name)["AccessKey"]
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="storage", PolicyDocument=json.dumps(policy))
    return key["AccessKeyId"], key["SecretAccessKey"]


@pytest.fixture(scope="session")
def s3_server():
    """moto's S3 with signatures and IAM policies checked (as AWS does): a wrong secret key is refused."""
    import boto3

    process, port = _serve(_MOTO)
    try:
        endpoint_url = f"http://127.0.0.1:{port}"
        iam = boto3.client(
            "iam",
            endpoint_url=endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="setup",
            aws_secret_access_key="setup",
        )
        admin = _iam_user(iam, "batchhub", ["s3:*"])
        reader = _iam_user(iam, "reader", ["s3:List*", "s3:Get*"])  # moto names a listing its own way
        # from now on every request must be signed by a known key and allowed by its policy
        reset = urllib.request.Request(
            f"{endpoint_url}/moto-api/reset-auth", data=b"0", method="POST", headers={"Content-Type": "text/plain"}
        )
        urllib.request.urlopen(reset, timeout=10).close()
        yield S3Server(endpoint_url, *admin, *reader)
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def gcs_server():
    """gcp-storage-emulator (in memory): yields its endpoint URL. It checks no credentials."""
    process, port = _serve(_GCS_EMULATOR)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        _stop(process)


@dataclass
class ScriptedServer:
    """An HTTP server on loopback answering every request with the status, headers and body a test sets."""

    status: int = 200
    body: bytes = b""
    headers: dict = field(default_factory=dict)
    requests: list = field(default_factory=list)  # (method, path, headers, body)
    url: str = ""
    cut_after: int | None = None  # send only this many bytes of the body, then drop the connection

    queued: list = field(default_factory=list)  # answers given once each, in order, before the standing one

    def answer(self, status: int, body: bytes | str = b"", **headers: str) -> None:
        """The standing answer to every request."""
        self.status, self.body = status, body.encode() if isinstance(body, str) else body
        self.headers = {name.replace("_", "-"): value for name, value in headers.items()}

    def queue(self, status: int, body: bytes | str = b"", cut_after: int | None = None, **headers: str) -> None:
        """An answer to the next request not yet answered from the queue."""
        body = body.encode() if isinstance(body, str) else body
        self.queued.append(
            (status, body, {name.replace("_", "-"): value for name, value in headers.items()}, cut_after)
        )


@contextmanager
def _scripted_serving(ssl_context: ssl.SSLContext | None = None) -> Iterator[ScriptedServer]:
    scripted = ScriptedServer()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            scripted.requests.append((self.command, self.path, dict(self.headers), body))
            if scripted.queued:
                status, answer, headers, cut_after = scripted.queued.pop(0)
            else:
                status, answer, headers, cut_after = (
                    scripted.status,
                    scripted.body,
                    scripted.headers,
                    scripted.cut_after,
                )
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            if self.command == "HEAD":
                return
            if cut_after is None:
                self.wfile.write(answer)
                return
            self.wfile.write(answer[:cut_after])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

        do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _answer

        def log_message(self, format, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    if ssl_context is not None:
        server.socket = ssl_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    scripted.url = f"{'https' if ssl_context else 'http'}://127.0.0.1:{server.server_address[1]}"
    try:
        yield scripted
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def scripted_http_server():
    with _scripted_serving() as scripted:
        yield scripted


@pytest.fixture
def scripted_https_server(tls_authority):
    """The same over TLS, its certificate for TLS_HOST and 127.0.0.1 from `tls_authority`'s first CA."""
    authority, _other = tls_authority
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert(TLS_HOST, "127.0.0.1").configure_cert(context)
    with _scripted_serving(context) as scripted:
        yield scripted


@pytest.fixture
def hanging_port():
    """A port that accepts connections (the kernel completes them) but never answers: a server that hangs."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


@pytest.fixture
def refusing_port():
    """A port nothing listens on: a server that is stopped."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port
