"""A worker killed with SIGKILL during an export's upload, on every destination kind that carries exports (issue 13):
nothing partial becomes visible, the run is redelivered to a new worker and completes with exactly one whole file
and its manifest, and nothing the killed upload left (temporary file, unfinished multipart upload) remains.

How the kill lands mid-upload, every time and without a hook in production code: the first worker reaches
PostgreSQL through `CopyGate`, a proxy that passes everything until the worker has received `gate_after` bytes of
COPY data, then stops passing what PostgreSQL sends on that connection. The worker has written part of the file into
the destination and waits for the rest of its rows: the test sees the partial upload (a temporary file with bytes in
it, a multipart upload with a part, bytes sent to the GCS emulator) and no final file, then kills the worker.

How it comes back: as in production, its broker message was never acknowledged and the run stays RUNNING with the
dead worker's heartbeat. Redis hands the message out again once its visibility timeout has passed, and the new
delivery claims the run once its heartbeat is STALE_AFTER old: the test moves both clocks (the message's delivery
time in the broker's unacked index, the run's heartbeat) back past those limits instead of waiting 2 hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
import threading
import uuid
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import F

from batchhub.connectors import formats
from batchhub.connectors.exporting import _chunks_copy, export_file_name, export_run_ensure
from batchhub.connectors.models import Destination, ExportConfig, ExportRun
from batchhub.connectors.tasks import export_run
from batchhub.core.jobs.runs import STALE_AFTER
from batchhub.core.storage.base import transport_open
from batchhub.core.storage.gcs import UPLOAD_CHUNK
from batchhub.core.storage.s3 import PART_SIZE
from tests.core.storage.servers_net import PASSWORD
from tests.factories import AppFactory, ConnectorFactory, InstallationFactory
from tests.workers import wait_for, worker_database_url, worker_kill, worker_start, worker_up

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]

DAY = dt.date(2026, 12, 5)
BUCKET = "batchhub-kill"
MiB = 1024 * 1024
ROW_BYTES = 100  # about, in the file (a uuid installation id, a timestamp, a token)


@dataclass(frozen=True)
class Case:
    kind: str
    gate_after: int  # bytes of COPY data the first worker receives before its rows stop coming
    file_size: int  # about, of the day's file


CASES = [
    Case("local", 1 * MiB, 3 * MiB),
    Case("sftp", 1 * MiB, 3 * MiB),
    Case("ftp", 1 * MiB, 3 * MiB),
    Case("ftps", 1 * MiB, 3 * MiB),
    # past the first 8 MiB part (S3) or upload chunk (GCS): something reached the server before the kill
    Case("s3", PART_SIZE + 1 * MiB, PART_SIZE + 4 * MiB),
    Case("gcs", UPLOAD_CHUNK + 1 * MiB, UPLOAD_CHUNK + 4 * MiB),
]


# --- TCP relays in the tests' process ------------------------------------------------------------------------------


class Relay:
    """A TCP proxy on loopback in front of `upstream_port`, counting the bytes sent upstream."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream_port, self.sent, self.closed = upstream_port, 0, threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = []
        self._accepting = threading.Thread(target=self._accept, daemon=True)
        self._accepting.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.closed.is_set():
                client.close()
                return
            server = socket.create_connection(("127.0.0.1", self.upstream_port))
            self._sockets += [client, server]
            threading.Thread(target=self._up, args=(client, server), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket) -> None:
        try:
            while data := client.recv(64 * 1024):
                server.sendall(data)
                self.sent += len(data)
        except OSError:
            pass
        finally:  # the client went away (killed): so does its upstream connection (PostgreSQL ends its backend)
            _shut(client, server)

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        try:
            while data := server.recv(64 * 1024):
                client.sendall(data)
        except OSError:
            pass
        finally:
            _shut(client, server)

    def close(self) -> None:
        """Stop accepting (its thread woken and ended: a thread left blocked in accept() on a closed listener could
        take a later listener's connections once the descriptor is reused) and cut every connection."""
        if self.closed.is_set():
            return
        self.closed.set()
        _shut(self._listener)
        self._accepting.join(10)
        _shut(*self._sockets)


class CopyGate(Relay):
    """A relay to PostgreSQL that reads the protocol's messages coming back (type byte, length) and, once one
    connection has received `after` bytes of COPY data ('d' messages), stops passing that connection's messages:
    its COPY stalls there until the relay is closed. Needs a connection without TLS (sslmode=disable)."""

    def __init__(self, upstream_port: int, after: int) -> None:
        self.after, self.tripped, self._lock = after, threading.Event(), threading.Lock()
        self.seen: list[dict[str, int]] = []  # per connection: bytes of each message type (said if it never trips)
        super().__init__(upstream_port)

    def _down(self, server: socket.socket, client: socket.socket) -> None:
        pending, copied, seen = bytearray(), 0, {}
        self.seen.append(seen)
        try:
            while data := server.recv(64 * 1024):
                pending += data
                at = 0
                while len(pending) - at >= 5:
                    end = at + 1 + int.from_bytes(pending[at + 1 : at + 5], "big")
                    if end > len(pending):
                        break
                    kind = chr(pending[at])
                    seen[kind] = seen.get(kind, 0) + end - at
                    copied += end - at - 5 if kind == "d" else 0
                    at = end
                    if copied >= self.after and self._trip():
                        client.sendall(pending[:at])
                        self.closed.wait()  # the rest never comes
                        return
                client.sendall(pending[:at])
                del pending[:at]
        except OSError:
            pass
        finally:
            _shut(client, server)

    def _trip(self) -> bool:
        with self._lock:
            if self.tripped.is_set():
                return False
            self.tripped.set()
            return True


def _shut(*sockets: socket.socket) -> None:
    for each in sockets:
        with suppress(OSError):
            each.shutdown(socket.SHUT_RDWR)
        each.close()


# --- the destinations ----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def s3_bucket(s3_server) -> str:
    admin = s3_server.admin()
    if BUCKET not in [bucket["Name"] for bucket in admin.list_buckets()["Buckets"]]:
        admin.create_bucket(Bucket=BUCKET)
    return BUCKET


@pytest.fixture(scope="module")
def gcs_bucket(gcs_server) -> str:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    client = storage.Client(project="batchhub-tests", credentials=AnonymousCredentials(),
                            client_options={"api_endpoint": gcs_server})  # fmt: skip
    if client.lookup_bucket(BUCKET) is None:
        client.create_bucket(BUCKET)
    return BUCKET


@dataclass
class Where:
    """A destination of one kind, and how the test looks at it from outside BatchHub."""

    location: dict
    credentials: dict
    folder: Path | None = None  # on this machine's disk (local folder, SFTP and FTP servers' roots)
    s3_admin: object = None
    s3_prefix: str = ""
    relay: Relay | None = None  # in front of the GCS emulator: the bytes sent to it

    def leftovers(self) -> list[str]:
        """What unfinished writes left, where the storage lets it be listed: hidden temporary files, unfinished
        multipart uploads (GCS's resumable uploads cannot be listed: empty)."""
        if self.folder is not None:
            return sorted(path.name for path in self.folder.iterdir() if path.name.startswith("."))
        if self.s3_admin is not None:
            listed = self.s3_admin.list_multipart_uploads(Bucket=BUCKET, Prefix=self.s3_prefix)
            return [upload["Key"] for upload in listed.get("Uploads", [])]
        return []

    def partial(self, name: str) -> str | None:
        """What of `name` reached the destination while it is written, said for the report; None while nothing."""
        if self.folder is not None:
            temporary = [path for path in self.folder.iterdir() if path.name.startswith(f".{name}.")]
            sizes = [path.stat().st_size for path in temporary]
            return f"temporary file {temporary[0].name} of {sizes[0]} bytes" if sizes and sizes[0] > 0 else None
        if self.s3_admin is not None:
            key = f"{self.s3_prefix}/{name}"
            for upload in self.s3_admin.list_multipart_uploads(Bucket=BUCKET, Prefix=key).get("Uploads", []):
                parts = self.s3_admin.list_parts(Bucket=BUCKET, Key=key, UploadId=upload["UploadId"]).get("Parts")
                if parts:
                    return f"unfinished multipart upload with {len(parts)} part(s), {parts[0]['Size']} bytes"
            return None
        sent = self.relay.sent
        return f"{sent} bytes sent to the emulator (one upload chunk: {UPLOAD_CHUNK})" if sent > UPLOAD_CHUNK else None


def _where(kind: str, request, tmp_path: Path, partner_slug: str) -> Where:
    unique = uuid.uuid4().hex[:8]
    if kind == "local":
        return Where({"path": "daily"}, {}, folder=tmp_path / "exports" / partner_slug / "daily")
    if kind in ("sftp", "ftp", "ftps"):
        server = request.getfixturevalue(f"{kind}_server")
        folder = server.root / "upload" / unique
        folder.mkdir()
        return Where(server.settings(path=f"/upload/{unique}"), {"password": PASSWORD}, folder=folder)
    if kind == "s3":
        server = request.getfixturevalue("s3_server")
        request.getfixturevalue("s3_bucket")
        prefix = f"kill/{unique}"
        location = {"bucket": BUCKET, "prefix": prefix, "endpoint_url": server.endpoint_url}
        credentials = {"access_key_id": server.access_key_id, "secret_access_key": server.secret_access_key}
        return Where(location, credentials, s3_admin=server.admin(), s3_prefix=prefix)
    endpoint = request.getfixturevalue("gcs_server")
    request.getfixturevalue("gcs_bucket")
    relay = Relay(int(endpoint.rsplit(":", 1)[1]))
    request.addfinalizer(relay.close)
    location = {"bucket": BUCKET, "prefix": f"kill/{unique}", "endpoint_url": f"http://127.0.0.1:{relay.port}"}
    return Where(location, {}, relay=relay)


# --- the day's rows, the broker, the run ---------------------------------------------------------------------------


def _day_of_push_events(app, rows: int) -> None:
    """`rows` push events of DAY for 50 installations of `app`, made in the database at once."""
    for n in range(50):
        InstallationFactory(app=app, custom_id=f"user-{n:05d}")
    with connection.cursor() as cursor:
        cursor.execute(
            "WITH inst AS (SELECT id, custom_id, row_number() OVER (ORDER BY id) - 1 AS k "
            "FROM profiles_installation WHERE app_id = %s) "
            "INSERT INTO connectors_pushevent (app_id, installation_id, custom_id, occurred_at, type, source, token) "
            "SELECT %s, inst.id, inst.custom_id, %s::timestamptz + (n %% 86400) * interval '1 second', "
            "'push_opened', 'campaign', 'token-' || n FROM generate_series(0, %s - 1) n JOIN inst ON inst.k = n %% 50",
            [app.pk, app.pk, dt.datetime(2026, 12, 5, tzinfo=dt.UTC), rows],
        )


def _broker() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


def _unacknowledged(run_id: int) -> list[bytes]:
    """The broker's delivery tags of export_run(run_id) messages delivered and never acknowledged."""
    tags = []
    for tag, message in _broker().hgetall("unacked").items():
        headers = json.loads(message)[0]["headers"]
        if headers["task"] == export_run.name and headers["argsrepr"] == f"({run_id},)":
            tags.append(tag)
    return tags


def _broker_clock_moved(tags: list[bytes]) -> None:
    """The messages `tags` delivered a visibility timeout (and a minute) earlier than they were: the next worker
    that starts hands them out again, as any worker does once that timeout has passed."""
    aged = settings.CELERY_BROKER_TRANSPORT_OPTIONS["visibility_timeout"] + 60
    broker = _broker()
    for tag in tags:
        broker.zincrby("unacked_index", -aged, tag)


# --- the test --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("case", CASES, ids=[case.kind for case in CASES])
def test_a_worker_killed_mid_upload_leaves_nothing_partial_and_the_run_completes_on_another(
    case, request, tmp_path, settings
):
    settings.STORAGE_LOCAL_ROOT = tmp_path
    env = {"STORAGE_LOCAL_ROOT": str(tmp_path)}
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    _broker().flushdb()  # the tests' own Redis database: nothing left by earlier tests to hand out
    gate = CopyGate(int(connection.settings_dict["PORT"] or 5432), after=case.gate_after)
    request.addfinalizer(gate.close)
    gated = worker_database_url(port=gate.port, sslmode="disable", gssencmode="disable")
    first = worker_start(first_log, env=env, database_url=gated)  # boots while the day is made
    try:
        app = AppFactory(name="KillShop", platform="ios")
        connector = ConnectorFactory(project=app.project)
        where = _where(case.kind, request, tmp_path, connector.partner.slug)
        credentials = json.dumps(where.credentials)
        destination = Destination.objects.create(
            connector=connector, name="Daily", kind=case.kind, location=where.location, credentials=credentials
        )
        config = ExportConfig.objects.create(connector=connector, app=app, kind="push_events", destination=destination)
        _day_of_push_events(app, case.file_size // ROW_BYTES)
        expected = b"".join(_chunks_copy(config, DAY))  # the day's file, as PostgreSQL's COPY writes it here
        assert len(expected) > case.gate_after + 1 * MiB, "the day is too small to be stopped mid-upload"
        name = export_file_name(config, DAY)
        manifest = formats.manifest_name(name)

        def visible() -> list[str]:
            location, secrets = destination.transport_location(), destination.transport_credentials()
            with transport_open(destination.kind, location, secrets) as transport:
                return [item.name for item in transport.list("*")]

        run, _ = export_run_ensure(config, DAY)
        export_run.delay(run.pk)
        streams = "the first worker streams the day's rows"
        wait_for(gate.tripped.is_set, timeout=120, what=lambda: f"{streams} (bytes by message type: {gate.seen})")
        wait_for(lambda: where.partial(name), timeout=60, what="the upload reaches the destination")
        partial = where.partial(name)
        run.refresh_from_db()
        assert (run.status, run.attempts) == (ExportRun.Status.RUNNING, 1)
        assert visible() == []  # mid-upload: neither the file nor its manifest
    finally:
        worker_kill(first)  # the whole worker, mid-upload: no clean-up, no acknowledgement
        gate.close()
    assert visible() == []  # the kill published nothing
    if case.kind != "gcs":
        assert where.leftovers(), "the killed upload left nothing behind: the test proves nothing"
    left = _unacknowledged(run.pk)
    assert len(left) == 1  # its message waits for the broker's visibility timeout

    _broker_clock_moved(left)
    ExportRun.objects.filter(pk=run.pk).update(heartbeat_at=F("heartbeat_at") - STALE_AFTER - dt.timedelta(seconds=1))
    second = worker_start(second_log, env=env)
    try:
        wait_for(lambda: worker_up(second_log), timeout=60, what="the second worker boots")
        done = wait_for(lambda: ExportRun.objects.get(pk=run.pk).is_finished, timeout=120, what="the run finishes")
    finally:
        worker_kill(second)

    run.refresh_from_db()
    print(f"{case.kind}: killed with {partial}; redelivered and finished {done:.2f} s after the new worker was up")
    assert (run.status, run.attempts, run.error) == (ExportRun.Status.SUCCEEDED, 2, "")
    assert (run.file_name, run.rows, run.bytes) == (name, case.file_size // ROW_BYTES, len(expected))
    assert run.sha256 == hashlib.sha256(expected).hexdigest()
    assert sorted(visible()) == sorted([name, manifest])  # one file, one manifest
    with transport_open(destination.kind, destination.transport_location(),
                        destination.transport_credentials()) as transport:  # fmt: skip
        with transport.open_read(name) as stream:
            assert hashlib.sha256(stream.read()).hexdigest() == run.sha256  # whole, the right bytes
        with transport.open_read(manifest) as stream:
            written = json.loads(stream.read())
    assert (written["file"], written["rows"], written["bytes"], written["sha256"]) == (name, run.rows, run.bytes,
                                                                                       run.sha256)  # fmt: skip
    assert where.leftovers() == []  # the killed upload's temporary file or unfinished upload is gone too
    assert "not removed" not in second_log.read_text(errors="replace")  # nor any of its manifest
