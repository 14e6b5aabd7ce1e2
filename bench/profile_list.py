#!/usr/bin/env python
"""Profile list of a project with 1M profiles, served by gunicorn on PostgreSQL, 8 concurrent connections.

Prints requests/s, p50 and p99 for the list page and, in the same run, for a view that touches no
database (the web stack's limit) and for the page's own SQL run straight on PostgreSQL (the database's
limit), with the ratios and peak memory.
"""

from __future__ import annotations

import os
import threading
import time

from harness import django_setup, gunicorn, own_peak_rss_mib, wrk

PROFILES = int(os.environ.get("BENCH_PROFILES", "1000000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = 8
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))  # 3 processes of 8 threads on 2 cores (gunicorn.conf.py)


def ensure_project(count: int):
    """A project holding exactly `count` profiles, generated server-side (set-based, no ORM rows), vacuumed."""
    from django.db import connection

    from batchhub.projects.models import Customer, Project

    customer, _ = Customer.objects.get_or_create(name="Bench")
    project, _ = Project.objects.get_or_create(
        slug="bench-profiles", defaults={"name": "Bench 1M", "customer": customer}
    )
    have = project.profiles.count()
    if have < count:
        print(f"loading {count - have:,} profiles…", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO profiles_profile (code, project_id, custom_id, email, email_marketing, phone_number,
                    language, region, timezone, attributes, tags, last_activity_at, created_at)
                SELECT gen_random_uuid(), %s, 'bench-' || lpad(g::text, 8, '0'),
                    CASE WHEN g %% 5 <> 0 THEN 'bench-' || g || '@example.com' END,
                    CASE g %% 3 WHEN 0 THEN 'subscribed' WHEN 1 THEN 'unsubscribed' END,
                    NULL, 'fr', 'FR', 'Europe/Paris',
                    jsonb_build_object(
                        'plan', CASE WHEN g %% 4 = 0 THEN 'premium' ELSE 'free' END, 'age', 18 + g %% 60
                    ),
                    '{}'::jsonb,
                    now() - make_interval(secs => (g %% 51840000)),
                    now() - make_interval(secs => (g %% 51840000) + 86400)
                FROM generate_series(%s, %s) AS g
                """,
                [project.pk, have + 1, count],
            )
            cursor.execute("ANALYZE profiles_profile")
        print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    elif have > count:
        print(f"note: the bench project already holds {have:,} profiles (more than {count:,})")
    with connection.cursor() as cursor:
        # A defined start: other benches (api_ingest) update profiles and leave dead rows that slow the page's
        # index scan, and the raw SQL rate with it, until autovacuum comes (seen: 795k dead rows, 5x slower).
        cursor.execute("VACUUM ANALYZE profiles_profile")
    return project


def session_cookie() -> str:
    """A logged-in CSM session, made the way the login view makes one."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.cached_db import SessionStore

    from batchhub.accounts.models import User

    user, created = User.objects.get_or_create(username="bench-csm", defaults={"first_name": "Bench"})
    if created:
        user.set_password("bench-csm-password")
        user.save()
    user.groups.add(Group.objects.get(name="csm"))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def raw_sql_rate(project_id: int, *, seconds: int, connections: int) -> float:
    """The list's SQL (50-row keyset page, as the view sends it) on `connections` persistent connections."""
    import psycopg
    from django.conf import settings

    db = settings.DATABASES["default"]
    dsn = f"host={db['HOST']} port={db['PORT'] or 5432} dbname={db['NAME']} user={db['USER']} password={db['PASSWORD']}"
    sql = (
        "SELECT id, code, custom_id, email, email_marketing, last_activity_at, created_at FROM profiles_profile "
        "WHERE id IN (SELECT id FROM profiles_profile WHERE project_id = %s ORDER BY id DESC LIMIT 51) "
        "ORDER BY id DESC"
    )
    counts = [0] * connections
    stop = time.monotonic() + seconds

    def run(slot: int) -> None:
        with psycopg.connect(dsn) as conn:
            while time.monotonic() < stop:
                conn.execute(sql, [project_id]).fetchall()
                counts[slot] += 1

    threads = [threading.Thread(target=run, args=(n,)) for n in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / seconds


def _assert_serves_the_page(url: str, cookie: str) -> None:
    """wrk counts redirects as successes: make sure the session really gets the 50-row page."""
    import urllib.request

    request = urllib.request.Request(url, headers={"Cookie": cookie})
    with urllib.request.urlopen(request, timeout=10) as response:
        body = response.read().decode()
        assert response.status == 200 and response.url == url, f"not the list page: {response.url}"
    assert body.count("<tr>") >= 50, "the page does not show 50 profile rows"


def main() -> None:
    django_setup()
    from django.urls import reverse

    project = ensure_project(PROFILES)
    cookie = session_cookie()
    list_path = reverse("profiles:list", kwargs={"code": project.code})
    sql_rate = raw_sql_rate(project.pk, seconds=5, connections=CONNECTIONS)

    with gunicorn(workers=WORKERS) as server:
        _assert_serves_the_page(server.url + list_path, cookie)
        wrk(server.url + list_path, seconds=2, headers={"Cookie": cookie})  # warm caches and connections
        page = wrk(server.url + list_path, connections=CONNECTIONS, seconds=SECONDS, headers={"Cookie": cookie})
        nodb = wrk(server.url + "/healthz", connections=CONNECTIONS, seconds=SECONDS)
        web_rss = server.peak_rss_mib()

    print(f"profile list, project with {project.profiles.count():,} profiles, gunicorn {WORKERS} workers, "
          f"{CONNECTIONS} connections, {SECONDS} s each")  # fmt: skip
    print(f"  {'':28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    for name, load in (("profile list (50 rows)", page), ("no-database view /healthz", nodb)):
        print(f"  {name:28} {load.requests_per_s:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {load.errors:7d}")
    print(f"  {'raw page SQL on PostgreSQL':28} {sql_rate:9.0f}   (8 persistent connections, no web stack)")
    print(f"  ratio list / no-database view: {page.requests_per_s / nodb.requests_per_s:.3f}")
    print(f"  ratio list / raw PostgreSQL query rate: {page.requests_per_s / sql_rate:.3f}")
    print(f"  peak RSS: web worker {web_rss:.0f} MiB, bench process {own_peak_rss_mib():.0f} MiB")
    target_ok = page.requests_per_s >= 300 and page.p99_ms <= 50 and page.errors == 0
    print(f"  target (>= 300 req/s, p99 <= 50 ms, no errors): {'met' if target_ok else 'NOT met'}")


if __name__ == "__main__":
    main()
