#!/usr/bin/env python
"""The template picker's search as one types, over a project with 10,000 drafts, served by gunicorn on PostgreSQL,
8 concurrent connections, as the connector's partner.

Two loads, both with 8 connections:
- saturation (closed loop: each connection asks again as soon as it is answered): requests/s, p50 and p99 of the
  search (htmx: the results partial) for a word many drafts hold (the first page fills at once) and for one a single
  draft holds (every draft's name and messages are searched), beside two reference views in the same run: a logged-in
  view that only loads the session and the user (bench/views.py), and /healthz, which touches no database. On a
  closed loop latency is connections / throughput (Little's law), so its p99 measures the machine as much as the view.
- typing: 8 people typing at once, each connection asking one search every 250 ms on average (the picker's debounce;
  125 to 375 ms apart) through the prefixes of several words ("p", "pa", "par", …) and the rare word: the latency
  a person sees.
Target: p99 < 50 ms.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from harness import bench_env, django_setup, gunicorn, own_peak_rss_mib, wrk

DRAFTS = int(os.environ.get("BENCH_DRAFTS", "10000"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "15"))
CONNECTIONS = 8
WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))
RARE = "needle-4242"
TYPING_PAUSE_MS = 250  # the search box's debounce (templates/campaigns/picker.html)
WORDS = ("parcel", "order", "track", "moved", RARE)


def typing_script(picker: str, headers: dict) -> str:
    """wrk Lua: each connection asks the prefixes of WORDS in turn, one every TYPING_PAUSE_MS on average (spread
    over half to one and a half of it: people do not type in step, and 8 connections started at once would
    otherwise ask together every time)."""
    queries = [word[:n] for word in WORDS for n in range(1, len(word) + 1)]
    paths = ",\n".join(f'  "{picker}?q={query}"' for query in queries)
    header_lines = "\n".join(f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items())
    return f"""{header_lines}
local paths = {{
{paths}
}}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i % #paths) + 1])
end
math.randomseed(os.time())
delay = function()
  return math.random({TYPING_PAUSE_MS // 2}, {TYPING_PAUSE_MS * 3 // 2})
end
"""


def ensure_picker(count: int):
    """A project with `count` drafts (two languages each, one draft holding the rare word), a partner granted it with
    a connector; generated set-based, vacuumed."""
    from django.db import connection

    from batchhub.accounts.models import Partner
    from batchhub.connectors.models import Connector
    from batchhub.projects.models import Customer, Project, ProjectGrant

    customer, _ = Customer.objects.get_or_create(name="Bench")
    project, _ = Project.objects.get_or_create(
        slug="bench-picker", defaults={"name": "Bench picker", "customer": customer}
    )
    partner, _ = Partner.objects.get_or_create(name="Bench partner")
    ProjectGrant.objects.get_or_create(project=project, partner=partner)
    connector, _ = Connector.objects.get_or_create(
        project=project, partner=partner, defaults={"name": "Bench CRM", "kind": Connector.Kind.MARKETING_AUTOMATION}
    )
    have = project.campaigns.count()
    if have < count:
        print(f"loading {count - have:,} drafts…", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                """
                INSERT INTO campaigns_campaign (code, project_id, token, name, channel, live, dev_only, from_api,
                    local_push_time, priority, deeplink, media_icon, media_picture, custom_payload, labels, targeting,
                    created_at, updated_at)
                SELECT gen_random_uuid(), %s, md5(random()::text || g), 'Order update ' || g,
                    CASE g %% 3 WHEN 0 THEN 'push' WHEN 1 THEN 'inapp' ELSE 'email' END, false, false, false,
                    '', 'normal', 'acme://orders/' || g, '', '', '', '[]'::jsonb, '[]'::jsonb,
                    now() - make_interval(secs => g), now() - make_interval(secs => g)
                FROM generate_series(%s, %s) AS g
                """,
                [project.pk, have + 1, count],
            )
            cursor.execute(
                """
                INSERT INTO campaigns_campaignmessage (campaign_id, language, title, body)
                SELECT c.id, l.language, 'Your order ' || c.id || ' moved',
                    CASE WHEN c.id %% %s = 0 THEN 'Track it: ' || %s ELSE 'Track it in the app, parcel ' || c.id END
                FROM campaigns_campaign c CROSS JOIN (VALUES ('default'), ('fr')) AS l(language)
                WHERE c.project_id = %s
                    AND NOT EXISTS (SELECT 1 FROM campaigns_campaignmessage m WHERE m.campaign_id = c.id)
                """,
                [count, RARE, project.pk],
            )
        print(f"loaded in {time.perf_counter() - started:.1f} s", flush=True)
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE campaigns_campaign")
        cursor.execute("VACUUM ANALYZE campaigns_campaignmessage")
    return project, partner, connector


def session_cookie(partner) -> str:
    """A logged-in session of one of the partner's users, made the way the login view makes one."""
    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.auth.models import Group
    from django.contrib.sessions.backends.cached_db import SessionStore

    from batchhub.accounts.models import User

    user, _ = User.objects.get_or_create(username="bench-partner", defaults={"first_name": "Bench", "partner": partner})
    user.groups.add(Group.objects.get(name="partner"))
    session = SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = settings.AUTHENTICATION_BACKENDS[0]
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.save()
    return f"{settings.SESSION_COOKIE_NAME}={session.session_key}"


def _assert_serves_results(url: str, headers: dict, *, rows: int) -> None:
    """wrk counts redirects as successes: make sure the session really gets the results partial."""
    import urllib.request

    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as response:
        body = response.read().decode()
        assert response.status == 200 and response.url == url, f"not the picker: {response.url}"
    found = body.count('data-testid="pick"')
    assert body.lstrip().startswith('<div id="results"') and found == rows, f"{found} rows, expected {rows}"


def main() -> None:
    django_setup()
    from django.urls import reverse

    from batchhub.campaigns.reads import PICKER_PAGE

    project, partner, connector = ensure_picker(DRAFTS)
    headers = {"Cookie": session_cookie(partner), "HX-Request": "true"}
    picker = reverse("campaigns:picker", kwargs={"code": connector.code})
    searches = (("common word (a page at once)", "?q=parcel", PICKER_PAGE), (f"rare word ({RARE})", f"?q={RARE}", 1))
    loads = []
    with gunicorn(workers=WORKERS, env=bench_env(DJANGO_SETTINGS_MODULE="bench.settings")) as server:
        for _name, query, rows in searches:
            _assert_serves_results(server.url + picker + query, headers, rows=rows)
            wrk(server.url + picker + query, seconds=2, headers=headers)  # warm caches and connections
        for name, query, _ in searches:
            loads.append(
                (name, wrk(server.url + picker + query, connections=CONNECTIONS, seconds=SECONDS, headers=headers))
            )
        floor = wrk(server.url + "/bench/logged-in", connections=CONNECTIONS, seconds=SECONDS, headers=headers)
        nodb = wrk(server.url + "/healthz", connections=CONNECTIONS, seconds=SECONDS)
        with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as handle:
            handle.write(typing_script(picker, headers))
        try:
            typing = wrk(server.url + picker, connections=CONNECTIONS, seconds=SECONDS, script=handle.name)
        finally:
            Path(handle.name).unlink()
        web_rss = server.peak_rss_mib()

    drafts = project.campaigns.filter(is_live=False, deleted_at__isnull=True).count()
    print(f"template picker search, project with {drafts:,} drafts, gunicorn {WORKERS} workers, "
          f"{CONNECTIONS} connections, {SECONDS} s each")  # fmt: skip
    print(f"  {'saturation (closed loop)':42} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    rows = [*loads, ("logged-in reference view", floor), ("no-database view /healthz", nodb)]
    for name, load in rows:
        print(f"  {name:42} {load.requests_per_s:9.0f} {load.p50_ms:8.2f} {load.p99_ms:8.2f} {load.errors:7d}")
    for name, load in loads:
        print(f"  ratio {name} / logged-in view: {load.requests_per_s / floor.requests_per_s:.3f}, "
              f"/ no-database view: {load.requests_per_s / nodb.requests_per_s:.3f}")  # fmt: skip
    label = f"typing ({CONNECTIONS} people, a search every {TYPING_PAUSE_MS} ms)"
    print(f"  {label:42} {typing.requests_per_s:9.0f} {typing.p50_ms:8.2f} {typing.p99_ms:8.2f} {typing.errors:7d}")
    print(f"  peak RSS: web worker {web_rss:.0f} MiB, bench process {own_peak_rss_mib():.0f} MiB")
    saturated = all(load.p99_ms < 50 and load.errors == 0 for _, load in loads)
    typed = typing.p99_ms < 50 and typing.errors == 0
    verdict = {True: "met", False: "NOT met"}
    print(f"  target p99 < 50 ms: typing {verdict[typed]}; saturation {verdict[saturated]}")


if __name__ == "__main__":
    main()
