#!/usr/bin/env python
"""Sustained Trigger Events ingest: bulk calls of 1,000 events, 8 concurrent clients, through gunicorn on
PostgreSQL, with a Celery worker on Redis applying them.

Prints events/s accepted (202) and applied (ProfileEvents written, profiles' activity updated), and two
references measured in the same run: (a) the same payloads posted to a view that only parses the JSON
and answers 202 (the web stack's limit), (b) PostgreSQL COPY of the same event rows (the database's
limit); plus peak memory. Three phases:

1. the web stack alone: accepted against (a) in alternating slices, no worker running (the two share
   one 2-core machine with the database, and a worker applying would take half of it from either);
2. the worker applies the backlog of phase 1 alone;
3. sustained: posting for BENCH_SECONDS while the worker applies, then until it has caught up.
"""

from __future__ import annotations

import json
import os
import random
import tempfile
import time
from pathlib import Path

from harness import (
    bench_env,
    celery_worker,
    celery_worker_stop,
    django_setup,
    gunicorn,
    own_peak_rss_mib,
    tree_peak_rss_mib,
    wrk,
)

SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
SLICE_SECONDS = int(os.environ.get("BENCH_SLICE_SECONDS", "6"))
ROUNDS = 3
CONNECTIONS = 8
EVENTS_PER_CALL = 1000
USERS_PER_CALL = 100
BODIES = 40
USER_POOL = 20_000
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "5"))  # gunicorn's advice: 2 x cores + 1
CELERY_CONCURRENCY = int(os.environ.get("BENCH_CELERY_CONCURRENCY", "2"))


def make_bodies(rng: random.Random) -> list[str]:
    # both spellings real clients send: Batch's examples' `ue.` names and the SDKs' bare names
    names = ["added_to_cart", "viewed_product", "ue.purchase", "search", "ue.opened_app"]
    bodies = []
    for _ in range(BODIES):
        users = rng.sample(range(USER_POOL), USERS_PER_CALL)
        calls = []
        for user in users:
            events = [
                {
                    "name": rng.choice(names),
                    "label": rng.choice(["home", "promo", "basket", ""]),
                    "attributes": {"sku": f"SKU-{rng.randint(1, 99999)}", "price": round(rng.uniform(1, 300), 2),
                                   "in_stock": rng.random() < 0.8},
                    "tags": rng.sample(["new", "sale", "summer", "gift"], 2),
                }
                for _ in range(EVENTS_PER_CALL // USERS_PER_CALL)
            ]  # fmt: skip
            calls.append({"id": f"bench-user-{user}", "events": events})
        bodies.append(json.dumps(calls))
    return bodies


def lua_script(bodies: list[str], headers: dict[str, str]) -> str:
    quoted = ",\n".join("[==[" + body + "]==]" for body in bodies)
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    return f"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
{header_lines}
local bodies = {{
{quoted}
}}
local i = 0
request = function()
  i = i + 1
  return wrk.format(nil, nil, nil, bodies[(i % #bodies) + 1])
end
"""


def run_wrk_post(url: str, script: str, seconds: int):
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
        handle.write(script)
    try:
        return wrk(url, connections=CONNECTIONS, seconds=seconds, script=handle.name)
    finally:
        Path(handle.name).unlink()


def copy_reference(bodies: list[str], profile_ids: list[int]) -> float:
    """Events/s of PostgreSQL COPY of the same event rows into profiles_profileevent (rolled back)."""
    import datetime as dt

    from django.db import connection, transaction

    from batchhub.core.data.bulk import sink_for_connection
    from batchhub.profiles.models import ProfileEvent
    from batchhub.profiles.services import EVENT_COLUMNS

    now = dt.datetime.now(dt.UTC)
    rows = []
    for body in bodies:
        for call in json.loads(body):
            for event in call["events"]:
                rows.append((random.choice(profile_ids), event["name"], event["label"],
                             json.dumps(event["attributes"]), json.dumps(event["tags"]), now, "api"))  # fmt: skip
    assert connection.vendor == "postgresql"
    started = time.perf_counter()
    with transaction.atomic():
        sink_for_connection().write(ProfileEvent, EVENT_COLUMNS, rows)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return len(rows) / elapsed


def _drain(project) -> float:
    """Wait until the project has no pending call; returns when that was (monotonic)."""
    from batchhub.api.models import ApiCall

    deadline = time.monotonic() + 900
    while ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.PENDING).exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the worker did not drain the backlog in 15 minutes")
        time.sleep(0.25)
    return time.monotonic()


def _clean_start(project) -> None:
    """Every run starts from an empty project: the events of earlier runs (6 million a run) would otherwise make
    each run slower than the last (11 million rows and 2.2 GB once cut the applied rate by a third)."""
    from django.db import connection

    from batchhub.api.models import ApiCall
    from batchhub.profiles.models import Profile, ProfileEvent

    events, profiles, calls = (model._meta.db_table for model in (ProfileEvent, Profile, ApiCall))
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {events} WHERE profile_id IN (SELECT id FROM {profiles} WHERE project_id = %s)", [project.pk]
        )
        cursor.execute(f"DELETE FROM {profiles} WHERE project_id = %s", [project.pk])
        cursor.execute(f"DELETE FROM {calls} WHERE project_id = %s", [project.pk])
        for table in (events, profiles, calls):
            cursor.execute(f"VACUUM ANALYZE {table}")


def main() -> None:
    django_setup()
    from django.core.cache import cache

    from batchhub.api.models import ApiCall
    from batchhub.profiles.models import Profile, ProfileEvent
    from batchhub.projects.models import App, Customer, Project, RestApiKey

    customer, _ = Customer.objects.get_or_create(name="Bench")
    project, _ = Project.objects.get_or_create(slug="bench-api", defaults={"name": "Bench API", "customer": customer})
    project.api_rate_limit_per_minute = 10_000_000
    project.save()
    app, _ = App.objects.get_or_create(project=project, name="BenchApp", platform="ios")
    rest_key = RestApiKey.objects.filter(customer=project.customer, project=None, revoked_at=None).first()
    rest_key = rest_key or RestApiKey.objects.create(customer=project.customer, name="Bench company key")
    cache.clear()
    rng = random.Random(7)
    bodies = make_bodies(rng)
    env = bench_env()
    web_env = bench_env(DJANGO_SETTINGS_MODULE="bench.settings")  # mounts the parse-only view (bench/urls.py)
    accepted_url = f"/1.0/{app.live_api_key}/events/users"
    accepted_script = lua_script(bodies, {"X-Authorization": rest_key.secret.reveal()})
    parse_script = lua_script(bodies, {})

    def events() -> int:
        return ProfileEvent.objects.filter(profile__project=project).count()

    def accepted_since(mark: int) -> int:
        return ApiCall.objects.filter(project=project, pk__gt=mark, status_code=202).count()

    def last_call_id() -> int:
        return ApiCall.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True).first() or 0

    # Leftovers of an earlier run are applied first (a run cut short leaves pending calls), then all is dropped.
    worker = celery_worker(env, concurrency=CELERY_CONCURRENCY)
    try:
        _drain(project)
    finally:
        celery_worker_stop(worker)
    _clean_start(project)

    with gunicorn(workers=WORKERS, env=web_env) as server:
        # 1. The web stack alone (no worker running): accepted against (a), in alternating slices so that
        #    a change in the machine's speed (it is shared) weighs on both alike.
        parse_loads, accept_loads = [], []
        mark, events_before = last_call_id(), events()
        run_wrk_post(server.url + "/bench/parse-only", parse_script, 3)  # warm-up: every worker imports and
        run_wrk_post(server.url + accepted_url, accepted_script, 3)  # connects before the measure
        for _ in range(ROUNDS):
            parse_loads.append(run_wrk_post(server.url + "/bench/parse-only", parse_script, SLICE_SECONDS))
            accept_loads.append(run_wrk_post(server.url + accepted_url, accepted_script, SLICE_SECONDS))
        web_rss = server.peak_rss_mib()

        # 2. The worker applies that backlog, with nothing else running.
        worker = celery_worker(env, concurrency=CELERY_CONCURRENCY)
        try:
            started = time.monotonic()
            drained = _drain(project)
            backlog_applied = events() - events_before
            backlog_calls = accepted_since(mark)  # now: calls in flight when wrk stopped are counted too
            backlog_rate = backlog_applied / (drained - started)

            # 3. Sustained: clients keep posting while the worker applies, then the worker catches up.
            mark, events_before = last_call_id(), events()
            started = time.monotonic()
            sustained = run_wrk_post(server.url + accepted_url, accepted_script, SECONDS)
            load_end = time.monotonic()
            applied_at_load_end = events() - events_before
            drained = _drain(project)
            sustained_calls = accepted_since(mark)
            sustained_applied = events() - events_before
            failed = ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.FAILED).count()
            worker_rss = tree_peak_rss_mib(worker.pid)
        finally:
            celery_worker_stop(worker)

    profile_ids = list(Profile.objects.filter(project=project).values_list("id", flat=True)[:5000])
    copy_rate = copy_reference(bodies[:10], profile_ids)
    parse_rate = EVENTS_PER_CALL * sum(load.requests_per_s for load in parse_loads) / ROUNDS
    accept_rate = EVENTS_PER_CALL * sum(load.requests_per_s for load in accept_loads) / ROUNDS
    sustained_rate = sustained.requests_per_s * EVENTS_PER_CALL
    sustained_applied_rate = sustained_applied / (drained - started)

    print(f"Trigger Events ingest: bulk calls of {EVENTS_PER_CALL} events ({USERS_PER_CALL} users), {CONNECTIONS} "
          f"clients; gunicorn {WORKERS} workers, Celery worker concurrency {CELERY_CONCURRENCY}")  # fmt: skip
    print(f"1. web stack, no worker running ({ROUNDS} alternating slices of {SLICE_SECONDS} s each):")
    print(f"  (a) parse-only view:          {parse_rate:10,.0f} events/s  (slices: "
          + ", ".join(f"{load.requests_per_s:.0f}" for load in parse_loads) + " calls/s)")  # fmt: skip
    print(f"  accepted (202):               {accept_rate:10,.0f} events/s  (slices: "
          + ", ".join(f"{load.requests_per_s:.0f}" for load in accept_loads) + " calls/s; "
          f"p50 {accept_loads[-1].p50_ms:.0f} ms, p99 {accept_loads[-1].p99_ms:.0f} ms, "
          f"errors {sum(load.errors for load in accept_loads)})")  # fmt: skip
    print(f"  ratio accepted / (a):         {accept_rate / parse_rate:.3f}   (target >= 0.5)")
    print(f"2. the worker applies that backlog ({backlog_calls:,} calls) alone:")
    print(f"  applied (ProfileEvents):      {backlog_rate:10,.0f} events/s  ({backlog_applied:,} events)")
    print(f"3. sustained, {SECONDS} s of posting while the worker applies, then until it catches up:")
    print(f"  accepted (202):               {sustained_rate:10,.0f} events/s  ({sustained.requests_per_s:.1f} "
          f"calls/s, p50 {sustained.p50_ms:.0f} ms, p99 {sustained.p99_ms:.0f} ms, "
          f"errors {sustained.errors})")  # fmt: skip
    print(f"  applied (ProfileEvents):      {sustained_applied_rate:10,.0f} events/s  ({sustained_applied:,} events "
          f"from {sustained_calls:,} calls; {applied_at_load_end:,} applied when the posting stopped, "
          f"caught up {drained - load_end:.1f} s later); failed calls in all: {failed}")  # fmt: skip
    print(f"  (b) PostgreSQL COPY:          {copy_rate:10,.0f} events/s")
    print(f"  ratio applied / (b):          {sustained_applied_rate / copy_rate:.3f} sustained, "
          f"{backlog_rate / copy_rate:.3f} backlog   (applied target >= 20,000 events/s)")  # fmt: skip
    print(f"  peak RSS: web worker {web_rss:.0f} MiB, Celery worker tree {worker_rss:.0f} MiB, "
          f"bench process {own_peak_rss_mib():.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
