#!/usr/bin/env python
"""Transactional sends (issue 14 §2) of 10,000 custom ids each, posted through gunicorn and applied by a Celery worker.

The world: one app with 1,000,000 installations (95% with a custom id, 97% with a push token, 90% opted in), built
once into a template database (kept for later runs: BENCH_TX_REBUILD=1 builds it again); each run measures on a
fresh copy of it (CREATE DATABASE … TEMPLATE). BENCH_TX_SENDS sends (20) of 10,000 custom ids each, 95% of them
known, every send to other users.

1. the edge: the sends posted 5 times to `POST /1.1/{KEY}/transactional/send` by 4 clients, no worker running
   (201s/s; the calls of the last 4 rounds are deleted unapplied);
2. the real applier path: a Celery worker starts and drains the backlog through `api_calls_apply_pending`; the
   rate is taken between the first and the last call's `applied_at` (the worker's boot is not counted): ids
   resolved/s and PushEvents recorded/s;
3. the reference, on the same database copy after phase 2: psycopg `COPY connectors_pushevent (…) FROM STDIN` of
   the very event rows the worker wrote (one COPY per send), committed: the commit runs the deferred foreign-key
   checks (installation, app) that the applier's rows get too; also shown, the same COPY rolled back before them;
4. where the time goes: one send's parts timed in this process (resolve query, rows, COPY, the send's row).

Target (issue 14): events recorded/s >= 0.30 x COPY of the same rows.

Measured 2026-12-06 (2 cores shared with a CI run, load average 3 to 6; template 0.35 GB, built in 32 s):
edge 32.6 sends/s (326,252 ids/s); worker 11,943 ids resolved/s and 11,346 events recorded/s; COPY committed
31,564 events/s: ratio 0.359 (two other runs: 12,761 against 28,541, 0.447; 11,667 against 27,698, 0.421).
The same COPY rolled back before its foreign-key checks: 91,927 events/s, 0.123 of it. Peak RSS: web worker
134 MiB, Celery worker tree 138 MiB.
Where a send's time goes (one send of 9,500 installations, in-process, ms): the resolve 350 to 610 (a parallel
sequential scan of the 155 MB table, 140 to 170 ms: 10,000 random users touch nearly every page; the rest is
building the array and reading 10,000 rows), the COPY with its foreign-key checks 480 to 670 (without them, about
100), the rest under 15. Before `campaigns.sending` passed the ids as one array (`= ANY(%s)`) rather than
`IN (%s, …)`, the worker recorded 9,777 events/s (a resolve: median 343 ms against 269 ms now).
"""

from __future__ import annotations

import http.client
import json
import os
import random
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
from harness import (
    celery_worker,
    celery_worker_stop,
    database_copy,
    database_drop,
    database_env,
    database_size,
    database_url,
    template_create,
    template_facts,
    tree_peak_rss_mib,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

INSTALLATIONS = int(os.environ.get("BENCH_TX_INSTALLATIONS", "1000000"))
SENDS = int(os.environ.get("BENCH_TX_SENDS", "20"))
RECIPIENTS = 10_000
UNKNOWN_EVERY = 20  # one id in 20 names nobody
CLIENTS = 4
EDGE_ROUNDS = 5  # the edge is measured over 5 x SENDS posts
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))
CELERY_CONCURRENCY = int(os.environ.get("BENCH_CELERY_CONCURRENCY", "2"))
LAYOUT = 1  # of the built world: a new layout gets a new template
TEMPLATE = f"batchhub_bench_tx_tpl_v{LAYOUT}_{INSTALLATIONS}"
COPY = "batchhub_bench_tx_run"
SLUG = "bench-tx"
EVENT_COLUMNS = ("app_id", "installation_id", "custom_id", "occurred_at", "type", "source", "token", "group_id")


CREATE_OBJECTS = f"""
import json
from batchhub.projects.models import App, Customer, Project, RestApiKey
customer = Customer.objects.create(name="Bench transactional")
project = Project.objects.create(name="Bench transactional", slug="{SLUG}", customer=customer,
                                 api_rate_limit_per_minute=10**8)
app = App.objects.create(project=project, name="BenchApp", platform="ios")
RestApiKey.objects.create(customer=customer, name="Bench company key")
print(json.dumps([project.pk, app.pk]))
"""


def build_template() -> None:
    """The world, once: migrate, then the installations written by one set-based INSERT."""
    started = time.monotonic()
    project, app = template_create(TEMPLATE, CREATE_OBJECTS)
    with psycopg.connect(database_url(TEMPLATE), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute(
            """
            INSERT INTO profiles_installation (app_id, installation_id, custom_id, advertising_id, push_token,
                                               push_optin, last_seen_at, created_at)
            SELECT %(app)s, 'inst-' || g, CASE WHEN g %% 20 <> 0 THEN 'user-' || g END, NULL,
                   CASE WHEN g %% 33 <> 0 THEN md5(g::text) || md5((g * 7)::text) END, g %% 10 <> 0,
                   now() - random() * interval '30 days', now() - interval '400 days'
            FROM generate_series(1, %(n)s) g
            """,
            {"app": app, "n": INSTALLATIONS},
        )
        conn.execute("VACUUM ANALYZE profiles_installation")
        facts = {"project": project, "app": app, "installations": INSTALLATIONS,
                 "build_s": round(time.monotonic() - started)}  # fmt: skip
        conn.execute("CREATE TABLE bench_built (facts text)")
        conn.execute("INSERT INTO bench_built VALUES (%s)", [json.dumps(facts)])
    print(f"built the template {TEMPLATE} in {facts['build_s']} s", flush=True)


def fresh_copy() -> float:
    started = time.monotonic()
    database_copy(TEMPLATE, COPY)
    return time.monotonic() - started


def make_bodies(rng: random.Random) -> list[bytes]:
    """SENDS sends to disjoint users: 95% known custom ids, 5% unknown."""
    known = [g for g in range(1, INSTALLATIONS + 1) if g % 20 != 0]
    chosen = rng.sample(known, SENDS * RECIPIENTS)
    bodies = []
    for n in range(SENDS):
        users = chosen[n * RECIPIENTS : (n + 1) * RECIPIENTS]
        ids = [f"nobody-{n}-{i}" if i % UNKNOWN_EVERY == 0 else f"user-{g}" for i, g in enumerate(users)]
        body = {
            "group_id": f"order-shipped-{n % 4}",
            "recipients": {"custom_ids": ids},
            "message": {"title": "Your order has shipped", "body": "It is on its way: follow it in the app."},
            "deeplink": "acme://orders/42",
            "custom_payload": '{"order": 42}',
        }
        bodies.append(json.dumps(body).encode())
    return bodies


def post_all(url: str, path: str, headers: dict[str, str], bodies: list[bytes]) -> tuple[float, list[int]]:
    """Posts every body once, CLIENTS at a time on keep-alive connections; returns (seconds, statuses)."""
    host, port = url.removeprefix("http://").split(":")
    queue = list(enumerate(bodies))
    statuses = [0] * len(bodies)

    def client() -> None:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        while queue:
            try:
                index, body = queue.pop()
            except IndexError:
                return
            conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            response.read()
            statuses[index] = response.status
        conn.close()

    started = time.perf_counter()
    with ThreadPoolExecutor(CLIENTS) as pool:
        for future in [pool.submit(client) for _ in range(CLIENTS)]:
            future.result()
    return time.perf_counter() - started, statuses


def copy_reference(rows_by_send: list[list[tuple]], *, commit: bool) -> float:
    """Events/s of psycopg COPY of the given rows into connectors_pushevent, one COPY per send. `commit`: committed
    (the deferred foreign-key checks run, as for the applier's rows; the rows are deleted after, untimed); else
    rolled back before those checks (the table's raw write rate)."""
    with psycopg.connect(database_url(COPY)) as conn:
        conn.execute("SET synchronous_commit = off")  # as the applier's transaction
        mark = conn.execute("SELECT coalesce(max(id), 0) FROM connectors_pushevent").fetchone()[0]
        total, started = 0, time.perf_counter()
        with conn.cursor() as cursor:
            for rows in rows_by_send:
                with cursor.copy(f"COPY connectors_pushevent ({', '.join(EVENT_COLUMNS)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                total += len(rows)
        if commit:
            conn.commit()
            elapsed = time.perf_counter() - started
            conn.execute("DELETE FROM connectors_pushevent WHERE id > %s", [mark])
            conn.commit()
        else:
            elapsed = time.perf_counter() - started
            conn.rollback()
    return total / elapsed


def events_written() -> list[list[tuple]]:
    with psycopg.connect(database_url(COPY)) as conn:
        rows = conn.execute(
            f"SELECT {', '.join(EVENT_COLUMNS)} FROM connectors_pushevent WHERE source = 'transactional' "
            "ORDER BY token, id"
        ).fetchall()
    by_token: dict[str, list[tuple]] = {}
    for row in rows:
        by_token.setdefault(row[6], []).append(row)
    return list(by_token.values())


def parts_of_one_send(project_id: int, app_id: int, body: bytes) -> dict[str, float]:
    """One send's parts, then the whole applier, timed in this process in transactions that are rolled back (the
    foreign keys checked at once, as the commit would)."""
    import uuid
    from types import SimpleNamespace

    from django.db import connection, transaction
    from django.utils import timezone

    from batchhub.campaigns.sending import recipients_resolve, transactional_send_apply
    from batchhub.connectors.models import PushEvent
    from batchhub.core.data.bulk import sink_for_connection

    send = json.loads(body)
    ids = send["recipients"]
    parts = {}
    with transaction.atomic():
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
        started = time.perf_counter()
        recipients, _ = recipients_resolve(app_id, ids)
        parts["resolve (one query)"] = time.perf_counter() - started
        started = time.perf_counter()
        now = timezone.now()
        rows = [(app_id, r.pk, r.custom_id, now, "push_sent" if r.deliverable else "push_error", "transactional",
                 "0" * 32, "g") for r in recipients]  # fmt: skip
        parts["rows built"] = time.perf_counter() - started
        started = time.perf_counter()
        sink_for_connection().write(PushEvent, EVENT_COLUMNS, rows)
        parts["COPY (sink)"] = time.perf_counter() - started
        transaction.set_rollback(True)
    operation = {"group_id": "g", "recipients": ids, "count": RECIPIENTS, "message": send["message"]}
    call = SimpleNamespace(token=uuid.uuid4(), operations=json.dumps([operation]), app_id=app_id,
                           project_id=project_id, created_at=timezone.now())  # fmt: skip
    with transaction.atomic():
        connection.cursor().execute("SET CONSTRAINTS ALL IMMEDIATE")
        started = time.perf_counter()
        transactional_send_apply(call)
        parts["whole applier"] = time.perf_counter() - started
        transaction.set_rollback(True)
    return parts


def main() -> None:
    facts = None if os.environ.get("BENCH_TX_REBUILD") == "1" else template_facts(TEMPLATE)
    if facts is None:
        build_template()
        facts = template_facts(TEMPLATE)
    template_size = database_size(TEMPLATE)
    copy_s = fresh_copy()
    os.environ["BENCH_DATABASE_URL"] = database_url(COPY)
    import harness

    harness.BENCH_DATABASE_URL = database_url(COPY)
    harness.django_setup()
    from django.core.cache import cache

    from batchhub.api.models import ApiCall
    from batchhub.campaigns.models import TransactionalSend
    from batchhub.connectors.models import PushEvent
    from batchhub.projects.models import App, RestApiKey

    cache.clear()
    app = App.objects.get(pk=facts["app"])
    rest_key = RestApiKey.objects.get(customer=app.project.customer).secret.reveal()
    bodies = make_bodies(random.Random(14))
    path = f"/1.1/{app.live_api_key}/transactional/send"
    headers = {"X-Authorization": rest_key}
    env = database_env(COPY)

    with harness.gunicorn(workers=WEB_WORKERS, env=env) as server:
        warm = json.dumps({"group_id": "warm", "recipients": {"custom_ids": ["user-1"]}, "message": {"body": "x"}})
        post_all(server.url, path, headers, [warm.encode()] * (CLIENTS * WEB_WORKERS))
        edge_s, statuses = post_all(server.url, path, headers, bodies)
        kept = ApiCall.objects.order_by("-pk").values_list("pk", flat=True).first()
        for _ in range(EDGE_ROUNDS - 1):  # more posts for the edge's figure; their calls are deleted unapplied
            seconds, more = post_all(server.url, path, headers, bodies)
            edge_s, statuses = edge_s + seconds, statuses + more
        web_rss = server.peak_rss_mib()
    assert statuses == [201] * SENDS * EDGE_ROUNDS, statuses
    ApiCall.objects.filter(pk__gt=kept).delete()
    warm_rows = [(facts["app"], 1, "user-1", "2026-01-01T00:00:00Z", "push_sent", "transactional", "0" * 32, "g")]
    copy_reference([warm_rows * 9000] * 4, commit=False)  # warm-up, not reported

    worker = celery_worker(env, concurrency=CELERY_CONCURRENCY)
    try:
        started = time.monotonic()
        while ApiCall.objects.filter(project_id=facts["project"], apply_status=ApiCall.ApplyStatus.PENDING).exists():
            if time.monotonic() - started > 900:
                raise RuntimeError("the worker did not drain the sends in 15 minutes")
            time.sleep(0.25)
        worker_rss = tree_peak_rss_mib(worker.pid)
    finally:
        celery_worker_stop(worker)

    calls = list(
        ApiCall.objects.filter(route="transactional.send", status_code=201)
        .exclude(counts__recipients=1)
        .order_by("applied_at")
        .values_list("applied_at", "counts", "apply_status")
    )
    assert len(calls) == SENDS and all(status == ApiCall.ApplyStatus.APPLIED for *_, status in calls), calls
    span = (calls[-1][0] - calls[0][0]).total_seconds()
    later = [counts for _, counts, _ in calls[1:]]  # the first call's work happened before the span
    ids_rate = sum(c["recipients"] for c in later) / span
    events_rate = sum(c["sent"] + c["errors"] for c in later) / span
    events = PushEvent.objects.filter(source="transactional").exclude(group_id="warm").count()
    sends = TransactionalSend.objects.exclude(group_id="warm")
    totals = {k: sum(getattr(s, k) for s in sends) for k in ("recipients", "sent", "errors", "unknown")}

    written = [rows for rows in events_written() if rows[0][7] != "warm"]
    copy_rates, raw_rates = [], []
    for _ in range(3):  # alternating, so that a change in the shared machine's speed weighs on both alike
        copy_rates.append(copy_reference(written, commit=True))
        raw_rates.append(copy_reference(written, commit=False))
    copy_rate, raw_rate = statistics.median(copy_rates), statistics.median(raw_rates)
    parts = [parts_of_one_send(facts["project"], facts["app"], body) for body in bodies[:3]]

    print(f"Transactional sends: {SENDS} sends of {RECIPIENTS:,} custom ids ({100 // UNKNOWN_EVERY}% unknown) to an "
          f"app of {facts['installations']:,} installations (template {TEMPLATE}, {template_size / 1e9:.2f} GB, "
          f"built in {facts['build_s']} s; copied in {copy_s:.0f} s); gunicorn {WEB_WORKERS} workers, "
          f"Celery worker concurrency {CELERY_CONCURRENCY}")  # fmt: skip
    posts = SENDS * EDGE_ROUNDS
    print(f"1. edge, {CLIENTS} clients, no worker running: {posts / edge_s:.1f} sends/s accepted (201), "
          f"{posts * RECIPIENTS / edge_s:,.0f} ids/s ({edge_s:.2f} s for {posts})")  # fmt: skip
    print(f"2. worker (Celery, api_calls_apply_pending): {events:,} PushEvents, totals {totals}")
    print(f"  ids resolved:                 {ids_rate:10,.0f} ids/s  (calls 2..{SENDS} in {span:.2f} s)")
    print(f"  events recorded:              {events_rate:10,.0f} events/s")
    print(f"3. (ref) psycopg COPY of the same rows, committed: {copy_rate:10,.0f} events/s  (median of "
          + ", ".join(f"{r:,.0f}" for r in copy_rates) + ")")  # fmt: skip
    print(f"  ratio events recorded / COPY: {events_rate / copy_rate:.3f}   (target >= 0.30); "
          f"ids resolved / COPY: {ids_rate / copy_rate:.3f}")  # fmt: skip
    print(f"  (info) the same COPY rolled back before its deferred foreign-key checks: {raw_rate:,.0f} events/s "
          f"(median of " + ", ".join(f"{r:,.0f}" for r in raw_rates) + f"); events recorded / it: "
          f"{events_rate / raw_rate:.3f}")  # fmt: skip
    print(
        "4. one send's parts in this process (ms, 3 sends): "
        + "; ".join(f"{name} " + ", ".join(f"{p[name] * 1000:.0f}" for p in parts) for name in parts[0])
    )
    print(f"  peak RSS: web worker {web_rss:.0f} MiB, Celery worker tree {worker_rss:.0f} MiB, "
          f"bench process {harness.own_peak_rss_mib():.0f} MiB")  # fmt: skip
    from django.db import connections

    connections.close_all()
    if os.environ.get("BENCH_TX_KEEP_COPY") != "1":
        database_drop(COPY)


if __name__ == "__main__":
    main()
