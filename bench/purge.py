#!/usr/bin/env python
"""The inactive-profile purge: 3,000,000 profiles with 10 events each, 1,000,000 of them inactive.

Prints the purge's deleted profiles/s (with their events and installation links), the worker's peak RSS and the
longest single transaction, against the limit measured in the same run on an identical copy of the database: one
DELETE of the inactive profiles' events, one UPDATE unlinking their installations, one DELETE of the profiles, in one
transaction. Then, on a third copy, the Trigger Events ingest of bench/api_ingest.py (gunicorn and a Celery worker)
runs alone, then while the purge runs: its throughput during the purge against its solo throughput.

The world is laid out as the API writes it: a profile's 10 events spread over the 30 days before its last activity,
the events table filled in the order they happened (the API appends them as they come). An earlier layout wrote them
in 10 stripes (every profile's first event, then every profile's second, …), which put each event of a batch on a
page of its own: the purge ran at 0.27 x the limit there (2,783 against 10,365 profiles/s).

The world is built once into a template database (about 8 GB, kept for later runs: BENCH_PURGE_REBUILD=1 builds it
again); each measure runs on a fresh copy of it (CREATE DATABASE … TEMPLATE).
Targets (issue 11): purge >= 0.5 x the limit, longest transaction < 1 s, RSS < 200 MiB, ingest keeps >= 70%.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
from harness import (
    celery_worker,
    celery_worker_stop,
    database_copy,
    database_drop,
    database_env,
    database_url,
    template_built,
    template_create,
)

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

PROFILES = int(os.environ.get("BENCH_PURGE_PROFILES", "3000000"))
EVENTS_EACH = 10
INACTIVE_EVERY = 3  # one profile in three is inactive: 1,000,000 of 3,000,000
INSTALLATION_EVERY = 5  # one profile in five has an installation linked to it
INGEST_SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
WITH_INGEST = os.environ.get("BENCH_PURGE_INGEST", "1") != "0"  # 0: the purge against its limit only
CONCURRENT_SECONDS = int(os.environ.get("BENCH_PURGE_CONCURRENT_SECONDS", "60"))  # the load beside the purge
LAYOUT = 2  # of the built world: a new layout gets a new template
TEMPLATE = f"batchhub_bench_purge_tpl_v{LAYOUT}_{PROFILES}"
SLUG = "bench-purge"


CREATE_PROJECT = f"""
import json
from batchhub.projects.models import App, Customer, Project
customer = Customer.objects.create(name="Bench purge")
project = Project.objects.create(name="Bench purge", slug="{SLUG}", customer=customer, api_rate_limit_per_minute=10**8)
app = App.objects.create(project=project, name="BenchApp", platform="ios")
print(json.dumps([project.pk, app.pk]))
"""


def build_template() -> None:
    """The world, once: migrate, then profiles, events and installations written by set-based SQL."""
    started = time.monotonic()
    project, app = template_create(TEMPLATE, CREATE_PROJECT)
    with psycopg.connect(database_url(TEMPLATE), autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET maintenance_work_mem = '512MB'")
        # Inactive profiles: last active 13 months and 2 days to 23 months ago; the others within the last 300 days.
        conn.execute(
            """
            INSERT INTO profiles_profile (code, project_id, custom_id, email, language, region, timezone, attributes,
                                          tags, last_activity_at, created_at)
            SELECT gen_random_uuid(), %(project)s, 'bench-' || g, 'bench-' || g || '@example.com', 'en', 'FR', '',
                   '{"plan": "free", "visits": 3}', '{}', at, at - interval '30 days'
            FROM (SELECT g, CASE WHEN g %% %(every)s = 0
                                 THEN now() - interval '13 months 2 days' - random() * interval '300 days'
                                 ELSE now() - random() * interval '300 days' END AS at
                  FROM generate_series(1, %(profiles)s) g) s
            """,
            {"project": project, "profiles": PROFILES, "every": INACTIVE_EVERY},
        )
        # the events' index is built after them (30 million inserts in random key order would take long)
        conn.execute("DROP INDEX profileevent_profile_time")
        conn.execute(
            """
            INSERT INTO profiles_profileevent (profile_id, name, label, attributes, tags, occurred_at, source)
            SELECT p.id, 'opened_app', '', '{"screen": "home"}', '[]', at, 'api'
            FROM (SELECT p.id, p.last_activity_at - (k - 1) * interval '3 days' - random() * interval '3 days' AS at
                  FROM profiles_profile p, generate_series(1, %(events)s) k WHERE p.project_id = %(project)s) p
            ORDER BY at
            """,
            {"project": project, "events": EVENTS_EACH},
        )
        conn.execute("CREATE INDEX profileevent_profile_time ON profiles_profileevent (profile_id, occurred_at DESC)")
        conn.execute(
            """
            INSERT INTO profiles_installation (app_id, installation_id, custom_id, profile_id, push_optin,
                                               last_seen_at, created_at)
            SELECT %(app)s, md5(p.id::text), p.custom_id, p.id, true, p.last_activity_at, p.created_at
            FROM profiles_profile p WHERE p.project_id = %(project)s AND p.id %% %(every)s = 0
            """,
            {"app": app, "project": project, "every": INSTALLATION_EVERY},
        )
        conn.execute("VACUUM ANALYZE")
        conn.execute("CREATE TABLE bench_built (at timestamptz)")  # the mark of a whole build
        conn.execute("CHECKPOINT")
    print(f"built the template {TEMPLATE} in {time.monotonic() - started:.0f} s", flush=True)


def fresh_copy(name: str) -> str:
    database = f"batchhub_bench_purge_{name}"
    database_copy(TEMPLATE, database)
    return database


def counts(database: str) -> dict[str, int]:
    with psycopg.connect(database_url(database)) as conn:
        project = conn.execute("SELECT id FROM projects_project WHERE slug = %s", [SLUG]).fetchone()[0]

        def one(sql: str) -> int:
            return conn.execute(sql, {"p": project}).fetchone()[0]

        return {
            "profiles": one("SELECT count(*) FROM profiles_profile WHERE project_id = %(p)s"),
            "inactive": one(
                "SELECT count(*) FROM profiles_profile "
                "WHERE project_id = %(p)s AND last_activity_at < now() - interval '13 months'"
            ),
            "events": one("SELECT count(*) FROM profiles_profileevent"),
        }


def limit(database: str) -> tuple[float, float]:
    """(seconds, profiles) of the set-based deletion, committed."""
    with psycopg.connect(database_url(database)) as conn:
        project = conn.execute("SELECT id FROM projects_project WHERE slug = %s", [SLUG]).fetchone()[0]
        inactive = "SELECT id FROM profiles_profile WHERE project_id = %(p)s AND last_activity_at < %(cutoff)s"
        cutoff = conn.execute("SELECT now() - interval '13 months'").fetchone()[0]
        params = {"p": project, "cutoff": cutoff}
        started = time.monotonic()
        conn.execute(f"DELETE FROM profiles_profileevent WHERE profile_id IN ({inactive})", params)
        conn.execute(f"UPDATE profiles_installation SET profile_id = NULL WHERE profile_id IN ({inactive})", params)
        deleted = conn.execute(
            "DELETE FROM profiles_profile WHERE project_id = %(p)s AND last_activity_at < %(cutoff)s", params
        ).rowcount
        conn.commit()
        return time.monotonic() - started, deleted


def purge(database: str) -> dict:
    """The purge as the worker runs it (the profiles_purge command: the same service), in its own process."""
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "profiles_purge", "--project", SLUG, "--json"],
        cwd=HERE.parent, env=database_env(database), stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.monotonic() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"profiles_purge failed with status {status}")
    [line] = process.stdout.read().splitlines()
    result = json.loads(line)
    with psycopg.connect(database_url(database)) as conn:
        run_seconds = conn.execute(
            "SELECT extract(epoch FROM finished_at - started_at) FROM profiles_purgerun WHERE id = %s",
            [result["run_id"]],
        ).fetchone()[0]
    return {**result, "wall_s": wall, "run_s": float(run_seconds), "rss_mib": usage.ru_maxrss / 1024}


def ingest_beside_purge(database: str) -> dict:
    """bench/api_ingest.py's load on this copy: alone for INGEST_SECONDS, then for as long as the purge runs."""
    env = database_env(database)
    import api_ingest
    import harness

    harness.BENCH_DATABASE_URL = database_url(database)  # this process's Django works on this copy
    harness.django_setup()
    import random

    from django.core.cache import cache

    from batchhub.api.models import ApiCall
    from batchhub.profiles.models import PurgeRun
    from batchhub.projects.models import App, Project, RestApiKey

    project = Project.objects.get(slug=SLUG)
    app = App.objects.get(project=project)
    rest_key = RestApiKey.objects.create(customer=project.customer, name="Bench purge key")
    cache.clear()
    bodies = api_ingest.make_bodies(random.Random(7))
    script = api_ingest.lua_script(bodies, {"X-Authorization": rest_key.secret.reveal()})
    url_path = f"/1.0/{app.live_api_key}/events/users"

    def applied() -> int:
        """Events applied so far: every applied call of the bench's bodies carries EVENTS_PER_CALL (a count of the
        30-million-row events table would take seconds)."""
        calls = ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.APPLIED).count()
        return calls * api_ingest.EVENTS_PER_CALL

    def deleted() -> int:
        return PurgeRun.objects.values_list("rows_done", flat=True).first() or 0

    def pending() -> bool:
        return ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.PENDING).exists()

    with harness.gunicorn(workers=api_ingest.WORKERS, env=env) as server:
        worker = celery_worker(env, concurrency=api_ingest.CELERY_CONCURRENCY)
        try:
            api_ingest.run_wrk_post(server.url + url_path, script, 3)  # warm-up
            while pending():
                time.sleep(0.25)
            before, started = applied(), time.monotonic()
            solo = api_ingest.run_wrk_post(server.url + url_path, script, INGEST_SECONDS)
            solo_applied = (applied() - before) / (time.monotonic() - started)

            while pending():  # the solo load's backlog first: the purge would wait for it
                time.sleep(0.5)
            purging = subprocess.Popen(
                [sys.executable, "manage.py", "profiles_purge", "--project", SLUG, "--json"],
                cwd=HERE.parent, env=env, stdout=subprocess.DEVNULL,
            )  # fmt: skip
            loads = []
            events_before, deleted_before = applied(), deleted()
            started = time.monotonic()
            while purging.poll() is None and time.monotonic() - started < CONCURRENT_SECONDS:
                loads.append(api_ingest.run_wrk_post(server.url + url_path, script, 10))
            during = time.monotonic() - started
            during_applied = (applied() - events_before) / during
            purge_rate = (deleted() - deleted_before) / during
            purging.kill()  # the copy is dropped: the rest of the run does not matter
            purging.wait()
            report = PurgeRun.objects.values("longest_transaction_ms", "batches").get()
            failed = ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.FAILED).count()
        finally:
            celery_worker_stop(worker)
    calls = sum(load.requests_per_s for load in loads) / len(loads)
    return {
        "solo_accepted": solo.requests_per_s * api_ingest.EVENTS_PER_CALL,
        "solo_applied": solo_applied,
        "during_accepted": calls * api_ingest.EVENTS_PER_CALL,
        "during_applied": during_applied,
        "during_s": during,
        "purge_rate": purge_rate,
        "purge": report,
        "failed_calls": failed,
        "p99_ms": max(load.p99_ms for load in loads),
        "errors": sum(load.errors for load in loads),
    }


def main() -> None:
    if os.environ.get("BENCH_PURGE_REBUILD") or not template_built(TEMPLATE):
        build_template()
    world = counts(TEMPLATE)

    limit_db = fresh_copy("limit")
    limit_s, limit_deleted = limit(limit_db)
    database_drop(limit_db)

    purge_db = fresh_copy("purge")
    solo = purge(purge_db)
    left = counts(purge_db)
    database_drop(purge_db)

    limit_rate = limit_deleted / limit_s
    purge_rate = solo["deleted"] / solo["run_s"]
    print(f"Inactive-profile purge: {world['profiles']:,} profiles, {world['events']:,} events, "
          f"{world['inactive']:,} inactive (13 months)")  # fmt: skip
    print(f"  limit (one DELETE of events, one UPDATE of installations, one DELETE of profiles; one transaction): "
          f"{limit_rate:,.0f} profiles/s ({limit_deleted:,} in {limit_s:.1f} s)")  # fmt: skip
    print(f"  purge (profiles_purge, batches of {solo['deleted'] // max(solo['batches'], 1):,}): "
          f"{purge_rate:,.0f} profiles/s ({solo['deleted']:,} profiles, "
          f"{solo['deleted_per_table'].get('profiles.events', 0):,} events, "
          f"{solo['deleted_per_table'].get('profiles.installations', 0):,} installations unlinked in "
          f"{solo['run_s']:.1f} s; {solo['wall_s']:.1f} s with the process's start)")  # fmt: skip
    print(f"  ratio purge / limit:          {purge_rate / limit_rate:.3f}   (target >= 0.5)")
    print(f"  longest transaction:          {solo['longest_transaction_ms']:,} ms   (target < 1,000 ms), "
          f"{solo['batches']:,} batches")  # fmt: skip
    print(f"  worker peak RSS:              {solo['rss_mib']:.0f} MiB   (target < 200 MiB)")
    print(f"  left after the purge:         {left['inactive']:,} inactive, {left['profiles']:,} profiles, "
          f"{left['events']:,} events", flush=True)  # fmt: skip
    if not WITH_INGEST:
        return
    ingest_db = fresh_copy("ingest")
    ingest = ingest_beside_purge(ingest_db)
    database_drop(ingest_db)
    print(f"Trigger Events ingest beside the purge ({ingest['during_s']:.0f} s): the purge deleted "
          f"{ingest['purge_rate']:,.0f} profiles/s meanwhile ({ingest['purge_rate'] / purge_rate:.2f} of its rate "
          f"alone), longest transaction {ingest['purge']['longest_transaction_ms']:,} ms over "
          f"{ingest['purge']['batches']:,} batches")  # fmt: skip
    print(f"  accepted: {ingest['solo_accepted']:,.0f} events/s alone, {ingest['during_accepted']:,.0f} during the "
          f"purge: {ingest['during_accepted'] / ingest['solo_accepted']:.2f}   (target >= 0.70); "
          f"p99 {ingest['p99_ms']:.0f} ms, errors {ingest['errors']}")  # fmt: skip
    print(f"  applied:  {ingest['solo_applied']:,.0f} events/s alone, {ingest['during_applied']:,.0f} during the "
          f"purge: {ingest['during_applied'] / ingest['solo_applied']:.2f}   (target >= 0.70); "
          f"failed calls {ingest['failed_calls']}")  # fmt: skip
    from harness import own_peak_rss_mib

    print(f"  bench process peak RSS {own_peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
