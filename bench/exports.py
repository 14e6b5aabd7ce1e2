#!/usr/bin/env python
"""Daily exports (issue 13 §6): one app's UTC day of 10,000,000 push events (1.12 GB of CSV here) exported by the
real service (`manage.py exports_run`: claim, `export_run_complete`, `export_run_execute`) in a process of its own,
to the local-folder destination, to an SFTP server (the tests' asyncssh server on loopback, child process) and to
moto S3 (server mode, child process).

Prints each path's rows/s and the exporting process's peak RSS, with ratios to references measured in the same run
on the same copy of the database: (a) psycopg `COPY (SELECT …same SQL…) TO STDOUT` into a local file (written and
fsynced, as the local destination does; the faster of two runs), (b) a Django ORM `.iterator()` + `csv.writer`
export of the same rows. Each export's file is checked to hold the bytes of (a). To tell the transports' own limits
from the export's, the file of (a) is also sent alone: through each transport, with paramiko's own `putfo` to the
same SFTP server, and with boto3 to the same moto (8 MiB parts one after the other, as the transport sends them,
and boto3's threaded `upload_file`).
Targets: local folder and SFTP >= 0.6 x (a), moto S3 >= 5 x (b), peak RSS < 200 MiB.

The world (built once into a template database, kept for later runs; BENCH_EXPORTS_REBUILD=1 builds it again):
20 apps of one project; the exported app has 2,000,000 installations (70% with a custom id: numeric, `user_…`,
e-mail; a few hostile ones that need quoting and formula neutralisation), the others 50,000 each. Events are
stored in the order they arrived (the API appends them), the apps interleaved: 30 days of 1,000,000 events (half
the exported app's), the exported day (10,000,000 of the app and 2,000,000 of the others: a big campaign day), the
next day's first two hours; one row in 200 arrived late (it happened up to 48 hours before the rows stored around
it), except the exported app's on the exported day and the next. Rows: 40% campaign push_sent, 20% campaign
push_opened, 20% transactional (with a group id), 4% push_error, 16% push_optin/push_optout/token_deleted.
BENCH_EXPORTS_ROWS scales it all (500000 for a quick try); BENCH_EXPORTS_OTHER_DAY_ROWS sets the other days' size.
BENCH_EXPORTS_PATHS=local,sftp,s3,orm (the default: all) chooses what runs.

Measured (2026-12-06; 2 cores shared with two other sessions' test suites, so (a) took 72.9 s and 105.8 s in the
same run): world 42,083,333 events and 2,950,000 installations, template 9.3 GB built in 567 s.
  (a) COPY to a file 137,123 rows/s; (b) ORM + csv.writer 17,329 rows/s (191 MiB).
  local folder 131,347 rows/s = 0.96 x (a), 132 MiB; SFTP 114,426 rows/s = 0.83 x (a), 133 MiB;
  moto S3 142,293 rows/s = 8.21 x (b) (1.04 x (a)), 160 MiB. Every target met, with the code as it was.
  The file of (a) alone: SFTP transport 58 MiB/s, paramiko putfo 42 MiB/s; S3 transport 54 MiB/s, boto3 parts one
  by one 63 MiB/s, boto3 threaded 93 MiB/s. Neither server is the limit: the export's SELECT is (below).
  A second run (local, SFTP, S3; a quieter machine): (a) 200,265 rows/s; local 183,374 = 0.92 x (a), 132 MiB;
  SFTP 162,217 = 0.81 x (a), 132 MiB; S3 1.06 x (a). The SFTP transport alone against paramiko's putfo, 3 times
  each on a 200 MiB file: 73, 72, 69 against 71, 69, 69 MiB/s (the gaps seen in full runs are the machine's load).

BENCH_EXPORTS_LAYOUT=1 also measures the raw event table's layout for the per-app per-day scan (warm cache, median of
three EXPLAIN ANALYZE; docs/architecture.md, "Daily exports", says what was decided and why):
  layout, index size            big day (10,000,000 rows): scan; export SELECT   small app-day (26,312 rows): scan
  B-tree (app, occurred_at), 1,266 MiB  seq scan 5.1 s (660,185 pages); 28.5 s    bitmap 21.6 ms (15,876 pages)
  BRIN (occurred_at), 1 MiB             bitmap 2.3 s (190,094 pages); 34.9 s      seq scan 2,835 ms (660,185 pages)
  covering B-tree, 4,857 MiB            index only 1.9 s (147,737 pages); 30.0 s  index only 4.2 ms (441 pages)
  monthly partitions, B-tree 1,266 MiB  seq scan 2.4 s (393,417 pages); 26.5 s    bitmap 19.5 ms (15,873 pages)
  (the count before an export: 1.2 s index only with the B-tree, 1.9 s with BRIN)
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from harness import (
    database_copy,
    database_drop,
    database_env,
    database_size,
    database_url,
    template_create,
    template_facts,
)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

ROWS = int(os.environ.get("BENCH_EXPORTS_ROWS", "10000000"))  # the exported app's rows of the exported day
OTHER_DAY_ROWS = int(os.environ.get("BENCH_EXPORTS_OTHER_DAY_ROWS", str(max(ROWS // 10, 1000))))
OTHER_DAYS = 30
OTHER_APPS = 19
INSTALLATIONS = max(ROWS // 5, 1000)  # of the exported app: 5 events each on the big day
OTHER_INSTALLATIONS = max(ROWS // 200, 500)  # of each other app
PATHS = set(os.environ.get("BENCH_EXPORTS_PATHS", "local,sftp,s3,orm").split(","))
WITH_LAYOUT = os.environ.get("BENCH_EXPORTS_LAYOUT") == "1"
REPEAT = int(os.environ.get("BENCH_EXPORTS_REPEAT", "1"))  # measures of each export path

DAY = dt.date(2026, 10, 14)
LAYOUT = 2  # of the built world: a new layout gets a new template
TEMPLATE = f"batchhub_bench_exports_tpl_v{LAYOUT}_{ROWS}_{OTHER_DAY_ROWS}"
COPY = "batchhub_bench_exports_run"
FILES = ROOT / "var" / "bench-exports"
SLUG = "bench-exports"
MiB = 1024 * 1024

if ROWS % 5:
    raise SystemExit("BENCH_EXPORTS_ROWS must be a multiple of 5")


def _env(database: str, **extra: str) -> dict[str, str]:
    return database_env(database, STORAGE_LOCAL_ROOT=str(FILES / "root"), STORAGE_ALLOW_LOOPBACK="true", **extra)


CREATE_OBJECTS = f"""
import json
from batchhub.accounts.models import Partner
from batchhub.connectors.models import Connector, Destination, ExportConfig
from batchhub.projects.models import App, Customer, Project, ProjectGrant
customer = Customer.objects.create(name="Bench exports")
project = Project.objects.create(name="Bench exports", slug="{SLUG}", customer=customer)
app = App.objects.create(project=project, name="BenchShop", platform="ios")
others = [App.objects.create(project=project, name=f"Other{{n:02}}", platform=("ios", "android", "web")[n % 3])
          for n in range({OTHER_APPS})]
partner = Partner.objects.create(name="Bench exports partner", kind=Partner.Kind.MARKETING_AUTOMATION)
ProjectGrant.objects.create(project=project, partner=partner)
configs = {{}}
for kind in ("local", "sftp", "s3"):
    connector = Connector.objects.create(partner=partner, project=project, kind=partner.kind, name=f"Bench {{kind}}")
    destination = Destination.objects.create(connector=connector, name=kind, kind=kind, location={{"path": "daily"}})
    config = ExportConfig.objects.create(connector=connector, app=app, kind="push_events", destination=destination)
    configs[kind] = str(config.code)
print(json.dumps({{"app": app.pk, "others": [other.pk for other in others], "configs": configs}}))
"""

# A custom id from an installation's number k in its app (the same expression for the installation and its events):
# 40% numeric, 20% `user_…`, 10% e-mail addresses, 30% anonymous; one in 100,003 needs quoting, one in 100,003 a
# neutralised formula.
CUSTOM_ID = """CASE WHEN k %% 100003 = 17 THEN '=HYPERLINK("https://x.example";"y")'
                    WHEN k %% 100003 = 42 THEN '-1;DROP'
                    WHEN k %% 10 < 4 THEN ((k * 2654435761) %% 10000000000)::text
                    WHEN k %% 10 < 6 THEN 'user_' || substr(md5('u' || k), 1, 12)
                    WHEN k %% 10 = 6 THEN 'customer' || k || '@example.com' END"""

INSTALLATIONS_SQL = f"""
INSERT INTO profiles_installation (app_id, installation_id, custom_id, advertising_id, push_optin, last_seen_at,
                                   created_at)
SELECT %(app)s, md5('inst-' || %(app)s || '-' || k)::uuid::text, {CUSTOM_ID},
       upper(md5('ad-' || %(app)s || '-' || k)::uuid::text), k %% 4 <> 0, %(seen)s, %(created)s
FROM generate_series(1, %(count)s) k
"""

# One day's events in the order they arrived: row g at start + (g - 1 + random) x step, of the exported app (j = 0)
# unless g is a multiple of `every` (then one of the other apps, in turn). One row in 200 arrived late (an SDK
# offline for a while): it happened up to 48 hours before the rows stored around it. The exported app's rows of the
# exported day and of the next one are never late, so that the exported day holds exactly ROWS of them.
EVENTS_SQL = f"""
INSERT INTO connectors_pushevent (app_id, installation_id, custom_id, occurred_at, type, source, token, group_id)
SELECT app_id, first_id + k - 1, {CUSTOM_ID}, at,
       CASE WHEN u < 0.40 THEN 'push_sent' WHEN u < 0.60 THEN 'push_opened' WHEN u < 0.70 THEN 'push_sent'
            WHEN u < 0.80 THEN 'push_opened' WHEN u < 0.84 THEN 'push_error' WHEN u < 0.92 THEN 'push_optin'
            WHEN u < 0.97 THEN 'push_optout' ELSE 'token_deleted' END,
       CASE WHEN u >= 0.84 THEN NULL WHEN u >= 0.60 AND u < 0.80 THEN 'transactional' ELSE 'campaign' END,
       CASE WHEN u >= 0.84 THEN NULL WHEN u >= 0.60 AND u < 0.80 THEN (%(transactional)s::text[])[1 + g %% 40]
            ELSE (%(campaigns)s::text[])[1 + (g / 1000) %% 300] END,
       CASE WHEN u >= 0.60 AND u < 0.80 THEN (%(groups)s::text[])[1 + g %% 8] END
FROM (SELECT g, u, (%(apps)s::int[])[j + 1] AS app_id, (%(firsts)s::bigint[])[j + 1] AS first_id,
             1 + floor(r * (%(counts)s::int[])[j + 1])::int AS k,
             arrived - CASE WHEN (j > 0 OR %(late_too)s) AND late < 0.005 THEN late * 200 * interval '48 hours'
                            ELSE interval '0' END AS at
      FROM (SELECT g, %(start)s::timestamptz + (g - 1 + random()) * %(step)s * interval '1 second' AS arrived,
                   random() AS u, random() AS r, random() AS late,
                   CASE WHEN g %% %(every)s = 0 THEN 1 + (g / %(every)s) %% %(others)s ELSE 0 END AS j
            FROM generate_series(1, %(count)s) g) s) t
"""


def build_template() -> None:
    """The world, once: migrate, the objects through the ORM, installations and events by set-based SQL."""
    started = time.monotonic()
    objects = template_create(TEMPLATE, CREATE_OBJECTS, _env(TEMPLATE))
    app, others = objects["app"], objects["others"]
    day_start = dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC)
    campaigns = [hashlib.md5(f"campaign{n}".encode()).hexdigest()[:24] for n in range(300)]  # noqa: S324
    transactional = [hashlib.md5(f"tx{n}".encode()).hexdigest()[:24] for n in range(40)]  # noqa: S324
    groups = ["order_shipped", "welcome", "password_reset", "cart_reminder", "invoice", "otp", "delivery", "review"]
    with psycopg.connect(database_url(TEMPLATE), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '1GB'")
        conn.execute("SET session_replication_role = replica")  # no FK trigger per row: the ids are made consistent
        conn.execute("SELECT setseed(0.13)")
        firsts, counts = [], []
        for app_id in [app, *others]:
            count = INSTALLATIONS if app_id == app else OTHER_INSTALLATIONS
            conn.execute(INSTALLATIONS_SQL, {"app": app_id, "count": count, "seen": day_start,
                                             "created": day_start - dt.timedelta(days=400)})  # fmt: skip
            first = conn.execute("SELECT min(id) FROM profiles_installation WHERE app_id = %s", [app_id])
            firsts.append(first.fetchone()[0])
            counts.append(count)
        print(f"  installations: {sum(counts):,} in {time.monotonic() - started:.0f} s", flush=True)
        # the events' secondary indexes are built after them (tens of millions of inserts in random key order)
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'connectors_pushevent' "
            "AND indexname NOT LIKE '%pkey'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f'DROP INDEX "{name}"')
        common = {"apps": [app, *others], "firsts": firsts, "counts": counts, "others": OTHER_APPS,
                  "campaigns": campaigns, "transactional": transactional, "groups": groups}  # fmt: skip
        # (first moment, rows, seconds they span, 1 in `every` of another app, whether the exported app's are late too)
        days = [(day_start - dt.timedelta(days=n), OTHER_DAY_ROWS, 86400, 2, True) for n in range(OTHER_DAYS, 0, -1)]
        days.append((day_start, ROWS + ROWS // 5, 86400, 6, False))  # 1 in 6 of another app: ROWS of the exported one
        days.append((day_start + dt.timedelta(days=1), OTHER_DAY_ROWS // 12, 7200, 2, False))  # up to the 02:00 export
        for start, count, seconds, every, late_too in days:
            conn.execute(EVENTS_SQL, {**common, "start": start, "count": count, "step": seconds / count,
                                      "every": every, "late_too": late_too})  # fmt: skip
        print(f"  events: {sum(day[1] for day in days):,} in {time.monotonic() - started:.0f} s", flush=True)
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("SET session_replication_role = origin")
        conn.execute("VACUUM ANALYZE")
        facts = {
            "rows": ROWS, "other_day_rows": OTHER_DAY_ROWS, "app": app, "others": others,
            "configs": objects["configs"], "events": sum(day[1] for day in days),
            "installations": sum(counts), "build_s": round(time.monotonic() - started),
        }  # fmt: skip
        conn.execute("CREATE TABLE bench_built (facts jsonb)")  # the mark of a whole build
        conn.execute("INSERT INTO bench_built VALUES (%s)", [json.dumps(facts)])
        conn.execute("CHECKPOINT")
    print(f"built the template {TEMPLATE} in {time.monotonic() - started:.0f} s", flush=True)


# ---- the measures ---------------------------------------------------------------------------------------------


def _day_params(facts: dict, app: int | None = None, day: dt.date = DAY) -> list:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return [app or facts["app"], start, start + dt.timedelta(days=1)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(4 * MiB):
            digest.update(chunk)
    return digest.hexdigest()


def reference_copy(facts: dict, path: Path) -> dict:
    """(a): psycopg's COPY of the export's own SQL into a local file, written and fsynced."""
    from batchhub.connectors import formats

    sql, _ = formats.copy_sql("push_events", "installation_id")
    with psycopg.connect(database_url(COPY)) as conn, conn.cursor() as cursor:
        started = time.monotonic()
        with path.open("wb") as out:
            with cursor.copy(sql, _day_params(facts)) as copy:
                for data in copy:
                    out.write(data)
            out.flush()
            os.fsync(out.fileno())
        seconds = time.monotonic() - started
        rows = cursor.rowcount
    return {"rows": rows, "seconds": seconds, "bytes": path.stat().st_size}


ORM_REFERENCE = """
import csv, json, sys, time, datetime as dt
from batchhub.connectors.models import PushEvent
app, day, path = int(sys.argv[1]), dt.date.fromisoformat(sys.argv[2]), sys.argv[3]
start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
started, rows = time.monotonic(), 0
events = (PushEvent.objects.filter(app_id=app, occurred_at__gte=start, occurred_at__lt=start + dt.timedelta(days=1))
          .select_related("installation").order_by("occurred_at", "id").iterator(chunk_size=2000))
with open(path, "w", newline="", encoding="utf-8") as out:
    writer = csv.writer(out, delimiter=";", lineterminator="\\n")
    for event in events:
        campaign = event.type not in ("push_optin", "push_optout", "token_deleted")
        writer.writerow([event.custom_id, event.installation.installation_id,
                         event.occurred_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S"), event.type,
                         event.source if campaign else None, event.token if campaign else None,
                         event.group_id if campaign and event.source == "transactional" else None])
        rows += 1
print(json.dumps({"rows": rows, "seconds": time.monotonic() - started}))
"""


def _process(command: list[str], env: dict[str, str]) -> tuple[str, float, float]:
    """Runs `command` in its own process; (its standard output, its wall seconds, its peak RSS in MiB)."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"{command[2:4]} failed with status {status}: {out[-2000:]}")
    return out, time.monotonic() - started, usage.ru_maxrss / 1024


def reference_orm(facts: dict, path: Path) -> dict:
    """(b): the ORM's `.iterator()` and `csv.writer`, in a process of its own."""
    command = [sys.executable, "-c", _ORM_MAIN, str(facts["app"]), DAY.isoformat(), str(path)]
    out, wall, rss = _process(command, _env(COPY))
    return {**json.loads(out.strip().splitlines()[-1]), "wall_s": wall, "rss_mib": rss}


_ORM_MAIN = f"""
import django, sys
sys.path.insert(0, {str(ROOT)!r})
django.setup()
exec(compile({ORM_REFERENCE!r}, "orm_reference", "exec"))
"""


def export(facts: dict, kind: str) -> dict:
    """A full export run of the `kind` destination's config by the real service, as the worker runs it (the
    exports_run command: claim, export_run_complete), in its own process; rows/s from the run's own times."""
    code = facts["configs"][kind]
    command = [sys.executable, "manage.py", "exports_run", "--day", DAY.isoformat(), "--config", code, "--force",
               "--json"]  # fmt: skip
    out, wall, rss = _process(command, _env(COPY))
    line = json.loads(out.strip().splitlines()[-1])
    from batchhub.connectors.models import ExportRun

    run = ExportRun.objects.get(config__code=code, day=DAY)
    seconds = (run.finished_at - run.started_at).total_seconds()
    return {**line, "seconds": seconds, "wall_s": wall, "rss_mib": rss}


def destination_set(facts: dict, kind: str, location: dict, credentials: dict) -> None:
    from batchhub.connectors.models import ExportConfig

    destination = ExportConfig.objects.select_related("destination").get(code=facts["configs"][kind]).destination
    destination.location, destination.credentials = location, json.dumps(credentials)
    destination.save()


def transport_alone(kind: str, location: dict, credentials: dict, path: Path) -> float:
    """Seconds to write the file of (a) through the transport alone (no database)."""
    from batchhub.core.storage.base import transport_open

    with transport_open(kind, location, credentials) as transport, path.open("rb") as source:
        started = time.monotonic()
        transport.write("alone.csv", source)
        seconds = time.monotonic() - started
        transport.delete("alone.csv")
    return seconds


# -- SFTP: the tests' asyncssh server (tests/core/storage/servers_net.py) in a child process

_SFTP_SERVER = f"""
import asyncio, json, sys
from pathlib import Path
sys.path.insert(0, {str(ROOT)!r})
import asyncssh
from tests.core.storage.servers_net import _sftp_listen

async def main():
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    listener = await _sftp_listen(Path(sys.argv[1]), host_key, asyncssh.generate_private_key("ssh-ed25519"))
    port = listener.sockets[0].getsockname()[1]
    print(json.dumps({{"port": port, "host_key": host_key.export_public_key("openssh").decode().strip()}}), flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    listener.close()

asyncio.run(main())
"""


def sftp_paths(facts: dict, reference: Path) -> dict:
    from tests.core.storage import servers_net

    root = FILES / "sftp"
    shutil.rmtree(root, ignore_errors=True)
    (root / "upload").mkdir(parents=True)
    server = subprocess.Popen([sys.executable, "-c", _SFTP_SERVER, str(root)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        started = json.loads(server.stdout.readline())
        location = {"host": "127.0.0.1", "port": started["port"], "username": servers_net.USER, "path": "/upload",
                    "host_key": started["host_key"]}  # fmt: skip
        credentials = {"password": servers_net.PASSWORD}
        destination_set(facts, "sftp", location, credentials)
        runs = [export(facts, "sftp") for _ in range(REPEAT)]
        written = root / "upload" / runs[-1]["file"]
        same = written.stat().st_size == runs[-1]["bytes"] and _sha256(written) == runs[-1]["sha256"]
        written.unlink()
        alone = transport_alone("sftp", location, credentials, reference)
        raw = sftp_raw_put(started["port"], reference)
        (root / "upload" / "raw.csv").unlink()
    finally:
        server.stdin.close()
        server.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)
    return {"runs": runs, "same_bytes": same, "alone_s": alone, "raw_s": raw}


def sftp_raw_put(port: int, path: Path) -> float:
    """paramiko's own `putfo` (pipelined) of the file of (a) to the same server: the client's and server's limit."""
    import paramiko

    from tests.core.storage import servers_net

    ssh = paramiko.Transport(("127.0.0.1", port))
    try:
        ssh.connect(username=servers_net.USER, password=servers_net.PASSWORD)
        sftp = paramiko.SFTPClient.from_transport(ssh)
        with path.open("rb") as source:
            started = time.monotonic()
            sftp.putfo(source, "/upload/raw.csv")
            return time.monotonic() - started
    finally:
        ssh.close()


# -- S3: the tests' moto server (tests/core/storage/servers_cloud.py) in a child process


def s3_paths(facts: dict, reference: Path) -> dict:
    import boto3
    from boto3.s3.transfer import TransferConfig

    from tests.core.storage import servers_cloud

    server, port = servers_cloud._serve(servers_cloud._MOTO)
    try:
        endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="bench",
                              aws_secret_access_key="bench")  # fmt: skip
        client.create_bucket(Bucket="bench-exports")
        location = {"bucket": "bench-exports", "endpoint_url": endpoint, "region": "us-east-1", "prefix": "daily"}
        credentials = {"access_key_id": "bench", "secret_access_key": "bench"}
        destination_set(facts, "s3", location, credentials)
        runs = []
        for _ in range(REPEAT):
            runs.append(export(facts, "s3"))
            client.delete_object(Bucket="bench-exports", Key=f"daily/{runs[-1]['file']}")
        alone = transport_alone("s3", location, credentials, reference)
        size = reference.stat().st_size
        with reference.open("rb") as source:  # the transport's shape: 8 MiB parts, one after the other
            started = time.monotonic()
            upload = client.create_multipart_upload(Bucket="bench-exports", Key="raw.csv")["UploadId"]
            parts = []
            while data := source.read(8 * MiB):
                part = client.upload_part(Bucket="bench-exports", Key="raw.csv", UploadId=upload,
                                          PartNumber=len(parts) + 1, Body=data)  # fmt: skip
                parts.append({"ETag": part["ETag"], "PartNumber": len(parts) + 1})
            client.complete_multipart_upload(Bucket="bench-exports", Key="raw.csv", UploadId=upload,
                                             MultipartUpload={"Parts": parts})  # fmt: skip
            raw = time.monotonic() - started
        client.delete_object(Bucket="bench-exports", Key="raw.csv")
        started = time.monotonic()
        client.upload_file(str(reference), "bench-exports", "threaded.csv",
                           Config=TransferConfig(multipart_chunksize=8 * MiB))  # fmt: skip
        threaded = time.monotonic() - started
        client.delete_object(Bucket="bench-exports", Key="threaded.csv")
    finally:
        servers_cloud._stop(server)
    return {"runs": runs, "alone_s": alone, "raw_s": raw, "threaded_s": threaded, "bytes": size}


# ---- the raw event table's layout -----------------------------------------------------------------------------

EVENT_COLUMNS = "event.id, event.installation_id, event.custom_id, event.occurred_at, event.type, event.source, " \
    "event.token, event.group_id"  # fmt: skip


def _explain(conn, sql: str, params: list, repeat: int = 3) -> dict:
    """The median execution time of `sql` over `repeat` runs (warm: the world fits in memory), with its plan's node
    types and the buffers it touched."""
    times, plan = [], None
    for _ in range(repeat):
        plan = conn.execute(f"EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) {sql}", params).fetchone()[0][0]
        times.append(plan["Execution Time"])
    nodes = []

    def walk(node: dict) -> None:
        label = node["Node Type"]
        if "Index Name" in node:
            label += f" {node['Index Name']}"
        elif "Relation Name" in node:
            label += f" {node['Relation Name']}"
        nodes.append(label)
        for child in node.get("Plans", ()):
            walk(child)

    walk(plan["Plan"])
    top = plan["Plan"]
    pages = top.get("Shared Hit Blocks", 0) + top.get("Shared Read Blocks", 0)
    return {"ms": statistics.median(times), "plan": " > ".join(nodes), "pages": pages}


def _layout_queries(conn, table: str, facts: dict) -> dict:
    from batchhub.connectors import formats

    big = _day_params(facts)
    small_day = DAY - dt.timedelta(days=5)
    small = _day_params(facts, app=facts["others"][3], day=small_day)
    where = "event.app_id = %s AND event.occurred_at >= %s AND event.occurred_at < %s"
    export_sql = formats.copy_sql("push_events", "installation_id")[0]
    export_select = (
        export_sql.removeprefix("COPY (")
        .split(") TO STDOUT")[0]
        .replace("connectors_pushevent event", f"{table} event")
    )
    results = {}
    for label, params in (("big", big), ("small", small)):
        results[label] = {
            "count": _explain(conn, f"SELECT count(*) FROM {table} event WHERE {where}", params),
            "scan": _explain(conn, f"SELECT {EVENT_COLUMNS} FROM {table} event WHERE {where}", params),
            "export": _explain(conn, export_select, params, repeat=1 if label == "big" else 3),
        }
        results[label]["rows"] = conn.execute(f"SELECT count(*) FROM {table} event WHERE {where}", params).fetchone()[0]
    return results


def _size(conn, relation: str) -> int:
    return conn.execute("SELECT pg_total_relation_size(%s)", [relation]).fetchone()[0]


def layout(facts: dict) -> dict:
    """The per-app per-day scan on the bench world with each layout worth weighing (each index in a transaction
    rolled back; the partitioned table is built beside the real one in this copy)."""
    found = {}
    with psycopg.connect(database_url(COPY), autocommit=True) as conn:
        table = "connectors_pushevent"
        total = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        found["world"] = {
            "events": total,
            "table_bytes": conn.execute("SELECT pg_relation_size(%s)", [table]).fetchone()[0],
            "index_bytes": conn.execute("SELECT pg_relation_size('pushevent_app_time')").fetchone()[0],
        }
        found["btree"] = {"queries": _layout_queries(conn, table, facts), "index_bytes": found["world"]["index_bytes"]}
        print("  layout: B-tree measured", flush=True)
        variants = {
            "brin": "CREATE INDEX bench_brin ON connectors_pushevent USING brin (occurred_at) "
                    "WITH (pages_per_range = 32)",
            "covering": "CREATE INDEX bench_covering ON connectors_pushevent (app_id, occurred_at) "
                        "INCLUDE (id, installation_id, custom_id, type, source, token, group_id)",
        }  # fmt: skip
        for name, create in variants.items():
            conn.execute("BEGIN")
            started = time.monotonic()
            conn.execute(create)
            build = time.monotonic() - started
            conn.execute("DROP INDEX pushevent_app_time")
            index = f"bench_{name}"
            found[name] = {"build_s": build, "index_bytes": _size(conn, index),
                           "queries": _layout_queries(conn, table, facts)}  # fmt: skip
            conn.execute("ROLLBACK")
            print(f"  layout: {name} measured", flush=True)
        # monthly declarative partitions, each with the (app, occurred_at) index
        started = time.monotonic()
        conn.execute("CREATE TABLE bench_monthly (LIKE connectors_pushevent INCLUDING DEFAULTS) "
                     "PARTITION BY RANGE (occurred_at)")  # fmt: skip
        first, last = conn.execute(f"SELECT min(occurred_at), max(occurred_at) FROM {table}").fetchone()
        month = dt.date(first.year, first.month, 1)
        while month <= last.date():
            following = dt.date(month.year + month.month // 12, month.month % 12 + 1, 1)
            conn.execute(f"CREATE TABLE bench_monthly_{month:%Y%m} PARTITION OF bench_monthly "
                         f"FOR VALUES FROM ('{month}') TO ('{following}')")  # fmt: skip
            month = following
        conn.execute(f"INSERT INTO bench_monthly SELECT * FROM {table} ORDER BY id")
        conn.execute("ALTER TABLE bench_monthly ADD PRIMARY KEY (id, occurred_at)")
        conn.execute("CREATE INDEX bench_monthly_app_time ON bench_monthly (app_id, occurred_at)")
        conn.execute("VACUUM ANALYZE bench_monthly")
        build = time.monotonic() - started
        partitions = conn.execute(
            "SELECT count(*) FROM pg_inherits WHERE inhparent = 'bench_monthly'::regclass"
        ).fetchone()[0]
        index_bytes = conn.execute(
            "SELECT sum(pg_relation_size(inhrelid)) FROM pg_inherits "
            "WHERE inhparent = 'bench_monthly_app_time'::regclass"
        ).fetchone()[0]
        found["monthly"] = {"build_s": build, "partitions": partitions, "index_bytes": index_bytes,
                            "queries": _layout_queries(conn, "bench_monthly", facts)}  # fmt: skip
        conn.execute("DROP TABLE bench_monthly")
    return found


def layout_report(found: dict) -> None:
    world = found["world"]
    print(f"Raw push event table: {world['events']:,} rows, heap {world['table_bytes'] / MiB:,.0f} MiB "
          "(warm: the world fits in memory; pages = 8 kB buffers the query touched)")  # fmt: skip
    for name in ("btree", "brin", "covering", "monthly"):
        variant = found[name]
        extra = f", built in {variant['build_s']:.0f} s" if "build_s" in variant else ""
        print(f"  {name}: index {variant['index_bytes'] / MiB:,.0f} MiB{extra}")
        for label in ("big", "small"):
            queries = variant["queries"][label]
            print(f"    {label} ({queries['rows']:,} rows):")
            for what in ("count", "scan", "export"):
                measure = queries[what]
                print(f"      {what:7} {measure['ms']:>10,.1f} ms  {measure['pages']:>9,} pages  {measure['plan']}")


# ---- the run --------------------------------------------------------------------------------------------------


def _rate(rows: int, seconds: float) -> float:
    return rows / seconds if seconds else 0.0


def main() -> None:
    facts = template_facts(TEMPLATE)
    if os.environ.get("BENCH_EXPORTS_REBUILD") or facts is None:
        build_template()
        facts = template_facts(TEMPLATE)
    template_size = database_size(TEMPLATE)
    started = time.monotonic()
    database_copy(TEMPLATE, COPY)
    copy_s = time.monotonic() - started
    import harness

    harness.BENCH_DATABASE_URL = database_url(COPY)
    os.environ.update(_env(COPY))
    harness.django_setup()

    shutil.rmtree(FILES, ignore_errors=True)
    FILES.mkdir(parents=True)
    reference = FILES / "reference.csv"
    results: dict = {}
    try:
        copies = [reference_copy(facts, reference) for _ in range(2)]
        results["copy"] = min(copies, key=lambda measure: measure["seconds"])
        results["copy_all"] = copies
        reference_sha = _sha256(reference)
        if "local" in PATHS:
            runs = [export(facts, "local") for _ in range(REPEAT)]
            results["local"] = {"runs": runs, "same_bytes": runs[-1]["sha256"] == reference_sha}
            folder = FILES / "root" / "exports"
            written = next(folder.rglob(runs[-1]["file"]))
            results["local"]["same_bytes"] &= written.stat().st_size == results["copy"]["bytes"]
            shutil.rmtree(folder)
        if "sftp" in PATHS:
            results["sftp"] = sftp_paths(facts, reference)
            results["sftp"]["same_bytes"] &= results["sftp"]["runs"][-1]["sha256"] == reference_sha
        if "s3" in PATHS:
            results["s3"] = s3_paths(facts, reference)
            results["s3"]["same_bytes"] = results["s3"]["runs"][-1]["sha256"] == reference_sha
        if "orm" in PATHS:
            results["orm"] = reference_orm(facts, FILES / "orm.csv")
            (FILES / "orm.csv").unlink()
        if WITH_LAYOUT:
            results["layout"] = layout(facts)
    finally:
        shutil.rmtree(FILES, ignore_errors=True)
        from django.db import connection

        connection.close()
        database_drop(COPY)
    report(facts, results, template_size, copy_s)


def report(facts: dict, results: dict, template_size: int, copy_s: float) -> None:
    copy = results["copy"]
    rows, size = copy["rows"], copy["bytes"]
    copy_rate = _rate(rows, copy["seconds"])
    print(f"Daily export of one app's day: {rows:,} push events, {size / 1e9:.2f} GB of CSV "
          f"(world: {facts['events']:,} events, {facts['installations']:,} installations; template {TEMPLATE}, "
          f"{template_size / 1e9:.1f} GB, built in {facts['build_s']:,} s; copied in {copy_s:.0f} s)")  # fmt: skip
    each = ", ".join(f"{measure['seconds']:.1f} s" for measure in results["copy_all"])
    print(f"  (a) psycopg COPY to a local file:  {copy_rate:>10,.0f} rows/s  ({copy['seconds']:.1f} s; runs: {each})")
    orm_rate = None
    if "orm" in results:
        orm = results["orm"]
        orm_rate = _rate(orm["rows"], orm["seconds"])
        print(f"  (b) ORM .iterator() + csv.writer:  {orm_rate:>10,.0f} rows/s  ({orm['seconds']:.1f} s, "
              f"peak RSS {orm['rss_mib']:.0f} MiB)")  # fmt: skip

    def line(label: str, run: dict, versus: float | None, target: float, against: str) -> None:
        rate = _rate(run["rows"], run["seconds"])
        ratio = f"{rate / versus:.2f} x {against} (target >= {target})" if versus else f"{against} not measured"
        print(f"  {label:33} {rate:>10,.0f} rows/s  ({run['seconds']:.1f} s in the run, {run['wall_s']:.1f} s with "
              f"the process's start; peak RSS {run['rss_mib']:.0f} MiB)  {ratio}")  # fmt: skip

    if "local" in results:
        for run in results["local"]["runs"]:
            line("export to the local folder:", run, copy_rate, 0.6, "(a)")
        print(f"    same bytes as (a): {results['local']['same_bytes']}")
    if "sftp" in results:
        sftp = results["sftp"]
        for run in sftp["runs"]:
            line("export to SFTP (asyncssh):", run, copy_rate, 0.6, "(a)")
        print(f"    same bytes as (a): {sftp['same_bytes']}; the file of (a) alone: through the transport "
              f"{_rate(rows, sftp['alone_s']):,.0f} rows/s ({size / sftp['alone_s'] / MiB:.0f} MiB/s), paramiko's "
              f"putfo {_rate(rows, sftp['raw_s']):,.0f} rows/s ({size / sftp['raw_s'] / MiB:.0f} MiB/s)")  # fmt: skip
    if "s3" in results:
        s3 = results["s3"]
        for run in s3["runs"]:
            line("export to moto S3:", run, orm_rate, 5, "(b)")
            print(f"    {_rate(run['rows'], run['seconds']) / copy_rate:.2f} x (a)")
        print(f"    same bytes as (a): {s3['same_bytes']}; the file of (a) alone: through the transport "
              f"{_rate(rows, s3['alone_s']):,.0f} rows/s ({size / s3['alone_s'] / MiB:.0f} MiB/s), boto3 8 MiB "
              f"parts one by one {_rate(rows, s3['raw_s']):,.0f} rows/s ({size / s3['raw_s'] / MiB:.0f} MiB/s), "
              f"boto3 upload_file (10 threads) {_rate(rows, s3['threaded_s']):,.0f} rows/s "
              f"({size / s3['threaded_s'] / MiB:.0f} MiB/s)")  # fmt: skip
    if "layout" in results:
        layout_report(results["layout"])
    from harness import own_peak_rss_mib

    print(f"  bench process peak RSS {own_peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
