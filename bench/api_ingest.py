#!/usr/bin/env python
"""Sustained Trigger Events ingest: bulk calls of 1,000 events, 8 concurrent clients, through gunicorn on
PostgreSQL, with a Celery worker on Redis applying them.

Prints events/s accepted (202) and applied (ProfileEvents written, profiles' activity updated), and two
references measured in the same run: (a) the same payloads posted to a view that only parses the JSON
and answers 202 (the web stack's limit), (b) PostgreSQL COPY of the same event rows (the database's
limit); plus peak memory.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from harness import ROOT, bench_env, django_setup, gunicorn, own_peak_rss_mib, wrk

SECONDS = int(os.environ.get("BENCH_SECONDS", "20"))
CONNECTIONS = 8
EVENTS_PER_CALL = 1000
USERS_PER_CALL = 100
BODIES = 40
USER_POOL = 20_000
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))
CELERY_CONCURRENCY = int(os.environ.get("BENCH_CELERY_CONCURRENCY", "2"))


def make_bodies(rng: random.Random) -> list[str]:
    names = ["ue.added_to_cart", "ue.viewed_product", "ue.purchase", "ue.search", "ue.opened_app"]
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

    from batchhub.core.bulk import sink_for_connection
    from batchhub.profiles.models import ProfileEvent
    from batchhub.profiles.services import _EVENT_COLUMNS

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
        sink_for_connection().write(ProfileEvent, _EVENT_COLUMNS, rows)
        elapsed = time.perf_counter() - started
        transaction.set_rollback(True)
    return len(rows) / elapsed


def main() -> None:
    django_setup()
    from django.core.cache import cache
    from django.utils import timezone

    from batchhub.profiles.models import Profile, ProfileEvent
    from batchhub.projects.models import ApiCall, App, Project

    project, _ = Project.objects.get_or_create(slug="bench-api", defaults={"name": "Bench API", "customer": "Bench"})
    project.api_rate_limit_per_minute = 10_000_000
    project.save()
    app, _ = App.objects.get_or_create(project=project, name="BenchApp", platform="ios")
    cache.clear()
    rng = random.Random(7)
    bodies = make_bodies(rng)
    env = bench_env(BENCH_REFERENCE_VIEWS="true")

    worker = subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "batchhub", "worker", "--loglevel", "WARNING",
         "--concurrency", str(CELERY_CONCURRENCY), "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip
    try:
        time.sleep(4)
        events_before = ProfileEvent.objects.filter(profile__project=project).count()
        with gunicorn(workers=WORKERS, env=env) as server:
            parse_only = run_wrk_post(server.url + "/bench/parse-only", lua_script(bodies, {}), SECONDS)
            headers = {"X-Authorization": app.rest_api_key.reveal()}
            since = timezone.now()
            started = time.monotonic()
            accepted_load = run_wrk_post(
                f"{server.url}/1.0/{app.live_api_key}/events/users", lua_script(bodies, headers), SECONDS
            )
            load_end = time.monotonic()
            web_rss = server.peak_rss_mib()
        accepted_calls = ApiCall.objects.filter(project=project, created_at__gte=since, status_code=202).count()
        pending = ApiCall.ApplyStatus.PENDING
        applied_at_load_end = ProfileEvent.objects.filter(profile__project=project).count() - events_before
        deadline = time.monotonic() + 600
        while ApiCall.objects.filter(project=project, apply_status=pending).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
        drained = time.monotonic()
        applied = ProfileEvent.objects.filter(profile__project=project).count() - events_before
        failed = ApiCall.objects.filter(
            project=project, created_at__gte=since, apply_status=ApiCall.ApplyStatus.FAILED
        ).count()
        worker_rss = _tree_peak_rss_mib(worker.pid)
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=60)

    profile_ids = list(Profile.objects.filter(project=project).values_list("id", flat=True)[:5000])
    copy_rate = copy_reference(bodies[:10], profile_ids)
    accepted_rate = accepted_load.requests_per_s * EVENTS_PER_CALL
    parse_rate = parse_only.requests_per_s * EVENTS_PER_CALL
    applied_rate = applied / (drained - started)

    print(f"Trigger Events ingest: bulk calls of {EVENTS_PER_CALL} events ({USERS_PER_CALL} users), {CONNECTIONS} "
          f"clients, {SECONDS} s; gunicorn {WORKERS} sync workers, "
          f"Celery worker concurrency {CELERY_CONCURRENCY}")  # fmt: skip
    print(f"  (a) parse-only view:          {parse_rate:10,.0f} events/s  ({parse_only.requests_per_s:.1f} calls/s, "
          f"p50 {parse_only.p50_ms:.0f} ms, p99 {parse_only.p99_ms:.0f} ms)")  # fmt: skip
    print(f"  accepted (202):               {accepted_rate:10,.0f} events/s  ({accepted_load.requests_per_s:.1f} "
          f"calls/s, p50 {accepted_load.p50_ms:.0f} ms, p99 {accepted_load.p99_ms:.0f} ms, "
          f"errors {accepted_load.errors})")  # fmt: skip
    print(f"  applied (ProfileEvents):      {applied_rate:10,.0f} events/s  ({applied:,} events from "
          f"{accepted_calls:,} accepted calls; {applied_at_load_end:,} already applied when the load stopped; "
          f"backlog drained {drained - load_end:.1f} s after; failed calls {failed})")  # fmt: skip
    print(f"  (b) PostgreSQL COPY:          {copy_rate:10,.0f} events/s")
    print(f"  ratio accepted / (a):         {accepted_rate / parse_rate:.3f}   (target >= 0.5)")
    print(f"  ratio applied / (b):          {applied_rate / copy_rate:.3f}   (applied target >= 20,000 events/s)")
    print(f"  peak RSS: web worker {web_rss:.0f} MiB, Celery worker tree {worker_rss:.0f} MiB, "
          f"bench process {own_peak_rss_mib():.0f} MiB")  # fmt: skip


def _tree_peak_rss_mib(pid: int) -> float:
    import re

    pids = [pid]
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    pids += [int(p) for p in out.split()]
    peaks = []
    for one in pids:
        try:
            match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{one}/status").read_text())
        except FileNotFoundError:
            continue
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return max(peaks, default=0.0)


if __name__ == "__main__":
    main()
