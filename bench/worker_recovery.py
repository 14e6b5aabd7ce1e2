#!/usr/bin/env python
"""Recovery after a whole-worker crash: a Celery worker applying a backlog of API calls is killed with SIGKILL
(its reserved message stays unacknowledged for the broker's visibility timeout, its queued flag stays set);
a new worker starts; how long until the backlog is drained?

Prints the backlog left by the kill, the seconds from the new worker's start to an empty backlog, the part of
that which was pure applying (backlog / the apply rate measured before the kill), and peak memory. Target:
drained less than 5 s after the new worker is up.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import time

from api_ingest import _start_worker, make_bodies
from harness import bench_env, django_setup, own_peak_rss_mib

CALLS = int(os.environ.get("BENCH_RECOVERY_CALLS", "300"))


def main() -> None:
    django_setup()
    from django.core.cache import cache
    from django.test import Client

    from batchhub.api.models import ApiCall
    from batchhub.projects.models import App, Customer, Project, RestApiKey

    customer, _ = Customer.objects.get_or_create(name="Bench")
    project, _ = Project.objects.get_or_create(
        slug="bench-recovery", defaults={"name": "Bench recovery", "customer": customer}
    )
    project.api_rate_limit_per_minute = 10_000_000
    project.save()
    app, _ = App.objects.get_or_create(project=project, name="RecoveryApp", platform="ios")
    key = RestApiKey.objects.filter(customer=customer, project=None, revoked_at=None).first()
    key = key or RestApiKey.objects.create(customer=customer, name="Bench company key")
    ApiCall.objects.filter(project=project).delete()
    cache.clear()
    env = bench_env()

    def pending() -> int:
        return ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.PENDING).count()

    worker = _start_worker(env)
    time.sleep(4)  # the worker boots and connects
    bodies = make_bodies(random.Random(11))
    client = Client(HTTP_HOST="127.0.0.1")
    url = f"/1.0/{app.live_api_key}/events/users"
    for n in range(CALLS):
        response = client.post(url, bodies[n % len(bodies)], content_type="application/json",
                               headers={"X-Authorization": key.secret.reveal()})  # fmt: skip
        assert response.status_code == 202, response.content
    # let it apply for a while, measuring its rate, then kill the whole worker (no warm shutdown)
    before, started = pending(), time.monotonic()
    while pending() > before * 0.6 and time.monotonic() - started < 60:
        time.sleep(0.2)
    rate = (before - pending()) / (time.monotonic() - started)
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait()
    time.sleep(1)
    left = pending()
    print(f"backlog when the worker was killed: {left} calls of 1,000 events (applying at {rate:.1f} calls/s)")

    restarted = time.monotonic()
    worker = _start_worker(env)
    try:
        while pending() and time.monotonic() - restarted < 300:
            time.sleep(0.1)
        drained = time.monotonic() - restarted
    finally:
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)
    applying = left / rate if rate else float("nan")
    print(f"drained {drained:.1f} s after the new worker started; applying the backlog alone takes {applying:.1f} s")
    print(f"so the wait beyond applying (boot included) is {drained - applying:.1f} s   (target: < 5 s once up)")
    failed = ApiCall.objects.filter(project=project, apply_status=ApiCall.ApplyStatus.FAILED).count()
    print(f"failed calls: {failed}; peak RSS of this process: {own_peak_rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
