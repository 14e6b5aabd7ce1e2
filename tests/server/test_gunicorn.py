"""The production web server as the image runs it (gunicorn with gunicorn.conf.py, batchhub.wsgi): slow clients
do not starve it, bodies are read before Django runs and stay bounded on API paths."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connections

from batchhub.api.models import ApiCall
from batchhub.core.models import AuditEvent
from tests.factories import AppFactory, ProjectFactory, company_rest_key

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def server(django_db_setup, django_db_blocker):
    """gunicorn on the test database, 2 processes, an API body limit of 1 MiB."""
    with django_db_blocker.unblock():
        database = connections["default"].settings_dict
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("the server process needs a database it can share: PostgreSQL")
    url = (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{database['PORT']}/{database['NAME']}"
    )
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": url, "BATCHHUB_ENV": "test", "API_MAX_BODY_MB": "1", "WEB_MAX_BODY_MB": "1",
           "WEB_CONCURRENCY": "2", "GUNICORN_ACCESS_LOG": ""}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}"], cwd=ROOT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            _get(port, "/healthz")
            break
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    yield port
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with django_db_blocker.unblock():
        # what the server committed outside any test's transaction (the refused keys' audit events, their calls):
        # left there, later tests that count them found more (tests/api/test_framework.py, run after this module)
        AuditEvent.objects.all().delete()
        ApiCall.objects.all().delete()


def _get(port: int, path: str) -> tuple[int, float]:
    started = time.perf_counter()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", path)
    status = conn.getresponse().status
    conn.close()
    return status, time.perf_counter() - started


def _raw(port: int, head: bytes, body: bytes = b"") -> tuple[int, dict, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


# No flush at its end: the slow requests, closed at the end, are handled by the server while the test tears down, and
# their key lookups (SELECTs over several tables) deadlocked once with a flush's TRUNCATE. This test writes nothing.
@pytest.mark.django_db(transaction=False)
def test_slow_clients_hold_threads_not_the_server(server):
    slow = []
    for n in range(12):  # headers that never end, and a body that never arrives
        sock = socket.create_connection(("127.0.0.1", server), timeout=5)
        sock.sendall(b"GET /healthz HTTP/1.1\r\nX-Slow: " if n % 2 else
                     b"POST /1.0/x/events/users HTTP/1.1\r\nContent-Length: 5000\r\n\r\n[")  # fmt: skip
        slow.append(sock)
    try:
        time.sleep(0.5)
        timings = [_get(server, "/healthz") for _ in range(40)]
    finally:
        for sock in slow:
            sock.close()
    assert all(status == 200 for status, _ in timings)
    # Frozen, a request would wait for its 10 s timeout (as with one thread a process); a busy 2-core machine
    # may still add a second.
    assert max(seconds for _, seconds in timings) < 3.0


def test_api_bodies_are_read_whole_and_bounded(server):
    project = ProjectFactory()
    app = AppFactory(project=project, platform="ios")
    key = company_rest_key(project)
    path = f"/1.0/{app.live_api_key}/events/users"
    body = json.dumps([{"id": "u1", "events": [{"name": "opened", "label": "x" * 100}] * 50}]).encode()
    head = f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Authorization: {key}\r\nContent-Type: application/json\r\n"

    status, _, answer = _raw(server, f"{head}Content-Length: {len(body)}\r\n\r\n".encode(), body)
    assert status == 202, answer
    chunks = b"".join(b"%x\r\n%s\r\n" % (len(part), part) for part in (body[:700], body[700:])) + b"0\r\n\r\n"
    status, _, answer = _raw(server, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode(), chunks)
    assert status == 202, answer

    big = b"[" + b" " * (1024 * 1024 + 10) + b"]"
    status, _, answer = _raw(server, f"{head}Content-Length: {len(big)}\r\n\r\n".encode())  # never sent
    assert (status, json.loads(answer)["code"]) == (413, 34)
    big_chunks = b"".join(
        b"%x\r\n%s\r\n" % (len(big[i : i + 65536]), big[i : i + 65536]) for i in range(0, len(big), 65536)
    )
    status, _, answer = _raw(server, f"{head}Transfer-Encoding: chunked\r\n\r\n".encode(), big_chunks + b"0\r\n\r\n")
    assert (status, json.loads(answer)["code"]) == (413, 34)


def test_dashboard_bodies_over_the_limit_are_refused_before_django(server):
    login = "POST /login/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
    status, _, _ = _raw(server, f"{login}Content-Length: {60 * 1024 * 1024}\r\n\r\n".encode())  # never sent
    assert status == 413
    chunk = b"a" * 65536
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(17)) + b"0\r\n\r\n"  # 1.06 MiB
    status, _, _ = _raw(server, f"{login}Transfer-Encoding: chunked\r\n\r\n".encode(), chunked)
    assert status == 413
