#!/usr/bin/env python
"""Restarts of PostgreSQL and Redis under load: is every accepted call applied exactly once, and how fast does
the service come back?

Needs nothing set up by hand: the script starts its own PostgreSQL (initdb into a temp dir, Debian binaries
under /usr/lib/postgresql/*/bin, a free port) and its own redis-server (a free port, no persistence), never the
system ones, migrates, and runs gunicorn (gunicorn.conf.py), one Celery worker and beat against them, each
under a small supervisor loop here that restarts a process that exits (and counts it).

Load: BENCH_RESTART_CALLS (400) bulk Trigger Events calls of 100 events, sent by 4 client threads paced at
BENCH_RESTART_RATE (10) calls/s in all; a client retries a call on any answer but 202 or a connection error,
every 0.5 s for up to 60 s, like a partner's client (no Idempotency-Key; BENCH_RESTART_IDEMPOTENCY=1 sends
one). Every event of call n carries the label `restarts-nnnn`, so its rows can be counted afterwards.
Faults, while the worker applies: PostgreSQL is stopped (`pg_ctl stop -m fast`) and started 3 s later, then
Redis gets SHUTDOWN NOSAVE and is started again 3 s later on the same port. Then the script waits until no
accepted call is pending (or 180 s) and checks every call: events applied exactly once, duplicated, lost.

Run: .venv/bin/python bench/restarts.py   (about 1 minute; exit code 0 whatever the verdict)
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import pwd
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from harness import ROOT, bench_env, free_port

CALLS = int(os.environ.get("BENCH_RESTART_CALLS", "400"))
RATE = float(os.environ.get("BENCH_RESTART_RATE", "10"))  # calls/s, all clients together
IDEMPOTENCY = os.environ.get("BENCH_RESTART_IDEMPOTENCY", "") == "1"
CLIENTS = 4
EVENTS_PER_CALL = 100
USERS_PER_CALL = 10
USER_POOL = 2_000
RETRY_PAUSE = 0.5
RETRY_FOR = 60.0
DOWN_SECONDS = 3.0
PG_FAULT_AT = 0.2 * CALLS / RATE  # seconds after the load starts (8 s of the 40 s planned)
REDIS_FAULT_AT = 0.6 * CALLS / RATE  # (24 s) and at least 5 s after PostgreSQL is back
DRAIN_LIMIT = 180.0
WEB_WORKERS = int(os.environ.get("BENCH_WEB_WORKERS", "3"))
MARKER = re.compile(rb"restarts-(\d{4})")
VENV_BIN = ROOT / ".venv" / "bin"

T0 = time.monotonic()


def now() -> float:
    return time.monotonic() - T0


def say(text: str) -> None:
    print(f"[{now():6.1f} s] {text}", flush=True)


# ---- private PostgreSQL and Redis ---------------------------------------------------------------------


def _pg_bin() -> Path:
    versions = [p for p in Path("/usr/lib/postgresql").glob("*/bin") if (p / "initdb").exists()]
    if not versions:
        raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")
    return max(versions, key=lambda p: [int(x) for x in re.findall(r"\d+", p.parent.name)] or [0])


class Postgres:
    def __init__(self, base: Path) -> None:
        self.bin = _pg_bin()
        self.data = base / "pgdata"
        self.log = base / "postgres.log"
        self.port = free_port()
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/batchhub"
        # initdb refuses root: run the server as `postgres`, owner of the temp dir
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def _run(self, program: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        command = [*self.as_user, str(self.bin / program), *args]
        result = subprocess.run(command, capture_output=True, text=True, start_new_session=True, timeout=120)
        if check and result.returncode:
            raise RuntimeError(f"{program} failed: {result.stdout}{result.stderr}")
        return result

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale",
                  "--no-sync")  # fmt: skip
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"\nport = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.data.parent}'\nmax_connections = 200\n"
                       "fsync = off\nshared_buffers = 128MB\n")  # fmt: skip
        self.start()
        self._run("psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres", "-qc",
                  "CREATE DATABASE batchhub")  # fmt: skip

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop", check=False)

    def cleanup(self) -> None:
        if not (self.data / "postmaster.pid").exists():
            return
        self.stop("immediate")
        try:
            pid = int((self.data / "postmaster.pid").read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (FileNotFoundError, ValueError, IndexError, ProcessLookupError):
            pass


class Redis:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def _cli(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["redis-cli", "-p", str(self.port), *args], capture_output=True, text=True, timeout=10)

    def start(self) -> None:
        command = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly",
                   "no", "--dir", str(self.base), "--logfile", str(self.base / "redis.log")]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + 20
        while self._cli("ping").stdout.strip() != "PONG":
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)

    def shutdown_nosave(self) -> None:
        self._cli("shutdown", "nosave")
        self.process.wait(timeout=20)

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            _kill_group(self.process)


def _kill_group(process: subprocess.Popen, timeout: float = 15) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever of the group is left (children of a dead parent too)
    process.wait()


# ---- the application's processes, supervised ------------------------------------------------------------


@dataclass
class Supervised:
    name: str
    command: list[str]
    env: dict[str, str]
    log: Path
    children_expected: int = 0
    process: subprocess.Popen | None = None
    exits: list[tuple[float, int]] = field(default_factory=list)
    children_seen: set[int] = field(default_factory=set)

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=out,
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    def children(self) -> list[int]:
        out = subprocess.run(["pgrep", "-P", str(self.process.pid)], capture_output=True, text=True).stdout
        return [int(pid) for pid in out.split()]

    @property
    def children_replaced(self) -> int:
        return max(0, len(self.children_seen) - self.children_expected * (len(self.exits) + 1))

    def stop(self) -> None:
        if self.process is not None:
            _kill_group(self.process)

    def log_errors(self) -> tuple[int, str]:
        """Tracebacks in the log, and its last error line."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return 0, ""
        tracebacks = sum(line.startswith("Traceback") for line in lines)
        errors = [line for line in lines if re.search(r"ERROR|CRITICAL|Error:|Exception", line)]
        return tracebacks, (errors[-1].strip()[:110] if errors else "")


class Supervisor(threading.Thread):
    """Restarts a process that exits (1 s later), counts it; notes the child processes seen."""

    def __init__(self, processes: list[Supervised]) -> None:
        super().__init__(daemon=True)
        self.processes = processes
        self.stopping = threading.Event()

    def halt(self) -> None:
        self.stopping.set()
        self.join(timeout=10)

    def run(self) -> None:
        polls = 0
        while not self.stopping.wait(0.2):
            polls += 1
            for proc in self.processes:
                code = proc.process.poll()
                if code is not None and not self.stopping.is_set():
                    proc.exits.append((now(), code))
                    last_error = proc.log_errors()[1]
                    say(f"supervisor: {proc.name} exited with code {code}; restarting it. Last error: {last_error}")
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.process.pid, signal.SIGKILL)  # leftovers of its group
                    if self.stopping.wait(1.0):
                        return
                    proc.start()
                elif polls % 5 == 0 and proc.children_expected:
                    proc.children_seen.update(proc.children())


# ---- load: the partner's clients ---------------------------------------------------------------------------


@dataclass
class Attempt:
    call: int
    started: float
    ended: float
    status: str  # "202", "500", … or the connection error's class name


@dataclass
class Load:
    port: int
    path: str
    headers: dict[str, str]
    attempts: list[Attempt] = field(default_factory=list)
    accepted: dict[int, float] = field(default_factory=dict)  # call -> when its 202 came
    gave_up: set[int] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)
    aborting: threading.Event = field(default_factory=threading.Event)
    started_at: float = 0.0


def make_body(n: int) -> bytes:
    rng = random.Random(n)
    names = ["added_to_cart", "viewed_product", "ue.purchase", "search", "ue.opened_app"]
    users = []
    for user in rng.sample(range(USER_POOL), USERS_PER_CALL):
        events = [
            {
                "name": rng.choice(names),
                "label": f"restarts-{n:04d}",
                "attributes": {"sku": f"SKU-{rng.randint(1, 99999)}", "price": round(rng.uniform(1, 300), 2),
                               "in_stock": rng.random() < 0.8, "seq": i},
                "tags": rng.sample(["new", "sale", "summer", "gift"], 2),
            }
            for i in range(EVENTS_PER_CALL // USERS_PER_CALL)
        ]  # fmt: skip
        users.append({"id": f"restarts-user-{user}", "events": events})
    return json.dumps(users, separators=(",", ":")).encode()


def client(load: Load, first_call: int) -> None:
    conn: http.client.HTTPConnection | None = None
    for n in range(first_call, CALLS, CLIENTS):
        body = make_body(n)
        headers = {**load.headers, "Content-Type": "application/json"}
        if IDEMPOTENCY:
            headers["Idempotency-Key"] = f"restarts-{n:04d}"
        delay = load.started_at + n / RATE - now()
        if delay > 0 and load.aborting.wait(delay):
            return
        first = now()
        while not load.aborting.is_set():
            started = now()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", load.port, timeout=30)
                conn.request("POST", load.path, body, headers)
                response = conn.getresponse()
                response.read()
                status = str(response.status)
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as error:
                status = type(error).__name__
                if conn is not None:
                    conn.close()
                conn = None
            ended = now()
            with load.lock:
                load.attempts.append(Attempt(n, started, ended, status))
                if status == "202":
                    load.accepted[n] = ended
            if status == "202":
                break
            if ended + RETRY_PAUSE - first > RETRY_FOR:
                with load.lock:
                    load.gave_up.add(n)
                break
            load.aborting.wait(RETRY_PAUSE)


# ---- setup and checks -------------------------------------------------------------------------------------


def make_project(env: dict[str, str]) -> tuple[int, str, str]:
    """A project with an app and its company REST key, made in this process with the services."""
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.db import connection

    from batchhub.projects.models import Project
    from batchhub.projects.services import app_create, project_create, rest_key_create

    project, secret = project_create(actor=None, name="Bench restarts", customer="Bench restarts")
    if secret is None:
        _, secret = rest_key_create(actor=None, customer=project.customer, project=None, name="Bench key")
    Project.objects.filter(pk=project.pk).update(api_rate_limit_per_minute=10_000_000)
    app = app_create(actor=None, project=project, name="RestartsApp", platform="ios")
    connection.close()
    return project.pk, app.live_api_key, secret.reveal()


def db_query(url: str, sql: str, params: list) -> list[tuple]:
    import psycopg

    with psycopg.connect(url, connect_timeout=5) as conn:
        return conn.execute(sql, params).fetchall()


def pending_calls(url: str, project_id: int) -> int | None:
    try:
        sql = "SELECT count(*) FROM projects_apicall WHERE project_id = %s AND apply_status = 'pending'"
        return db_query(url, sql, [project_id])[0][0]
    except Exception:  # the database may be away: asked again later
        return None


@dataclass
class Fault:
    name: str
    stopped: float = 0.0
    up: float = 0.0


def first_accept_after(load: Load, moment: float) -> float | None:
    times = [a.ended for a in load.attempts if a.status == "202" and a.ended > moment]
    return min(times, default=None)


def statuses(load: Load, start: float, end: float) -> str:
    counts = Counter(a.status for a in load.attempts if start <= a.ended < end)
    return ", ".join(f"{status} x{count}" for status, count in sorted(counts.items())) or "none"


# ---- the run ----------------------------------------------------------------------------------------------


def run(base: Path, cleanup: list) -> None:
    pg = Postgres(base)
    cleanup.append(pg.cleanup)
    pg.init()
    redis = Redis(base)
    cleanup.append(redis.cleanup)
    redis.start()
    say(f"private PostgreSQL {pg.bin.parent.name} on port {pg.port}, Redis on port {redis.port}")

    env = bench_env(DATABASE_URL=pg.url, REDIS_URL=redis.url)
    subprocess.run([str(VENV_BIN / "python"), "manage.py", "migrate", "-v", "0"], cwd=ROOT, env=env, check=True)
    project_id, app_key, rest_key = make_project(env)
    say("migrated; project, app and company REST key created")

    web_port = free_port()
    processes = [
        Supervised("gunicorn", [str(VENV_BIN / "gunicorn"), "--bind", f"127.0.0.1:{web_port}", "--workers",
                                str(WEB_WORKERS), "--log-level", "warning", "--backlog", "256"],
                   env, base / "gunicorn.log", children_expected=WEB_WORKERS),
        Supervised("celery worker", [str(VENV_BIN / "celery"), "-A", "batchhub", "worker", "-l", "WARNING",
                                     "--concurrency", "2"],
                   env, base / "worker.log", children_expected=2),
        Supervised("celery beat", [str(VENV_BIN / "celery"), "-A", "batchhub", "beat", "-l", "WARNING",
                                   "--pidfile="],
                   env, base / "beat.log"),
    ]  # fmt: skip
    for proc in processes:
        proc.start()
        cleanup.append(proc.stop)
    supervisor = Supervisor(processes)
    cleanup.append(supervisor.halt)  # before the processes stop: no restart while cleaning up
    supervisor.start()

    load = Load(port=web_port, path=f"/1.0/{app_key}/events/users", headers={"X-Authorization": rest_key})
    cleanup.append(load.aborting.set)
    # until the web answers /healthz, then a few seconds for the worker and beat to boot
    deadline = time.monotonic() + 60
    while True:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", web_port, timeout=10)
            conn.request("GET", "/healthz")
            ready = conn.getresponse().status < 500
            conn.close()
        except OSError:
            ready = False
        if ready:
            break
        if time.monotonic() > deadline:
            raise RuntimeError("gunicorn did not answer in 60 s")
        time.sleep(0.3)
    time.sleep(4)  # the worker and beat boot
    say(f"gunicorn ({WEB_WORKERS} workers), Celery worker and beat up; load: {CALLS} calls of {EVENTS_PER_CALL} "
        f"events, {CLIENTS} clients, {RATE:g} calls/s")  # fmt: skip

    load.started_at = now()
    threads = [threading.Thread(target=client, args=(load, k), daemon=True) for k in range(CLIENTS)]
    for thread in threads:
        thread.start()

    pg_fault, redis_fault = Fault("PostgreSQL"), Fault("Redis")
    time.sleep(max(0.0, load.started_at + PG_FAULT_AT - now()))
    say(
        f"stopping PostgreSQL (pg_ctl stop -m fast); {len(load.accepted)} calls accepted so far, "
        f"{pending_calls(pg.url, project_id)} pending"
    )
    pg_fault.stopped = now()
    pg.stop("fast")
    time.sleep(DOWN_SECONDS)
    pg.start()
    pg_fault.up = now()
    say(f"PostgreSQL up again ({pg_fault.up - pg_fault.stopped:.1f} s after the stop began)")

    time.sleep(max(0.0, load.started_at + REDIS_FAULT_AT - now(), pg_fault.up + 5 - now()))
    say(
        f"Redis SHUTDOWN NOSAVE; {len(load.accepted)} calls accepted so far, "
        f"{pending_calls(pg.url, project_id)} pending"
    )
    redis_fault.stopped = now()
    redis.shutdown_nosave()
    time.sleep(DOWN_SECONDS)
    redis.start()
    redis_fault.up = now()
    say(f"Redis up again on port {redis.port} ({redis_fault.up - redis_fault.stopped:.1f} s after the shutdown)")

    for thread in threads:
        thread.join()
    load_end = now()
    say(f"load done: {len(load.accepted)} calls accepted, {len(load.gave_up)} given up; waiting for the backlog")

    drained = None
    deadline = max(load_end, redis_fault.up) + DRAIN_LIMIT
    while now() < deadline:
        if pending_calls(pg.url, project_id) == 0:
            drained = now()
            break
        time.sleep(0.25)
    supervisor.stopping.set()
    report(pg.url, project_id, load, [pg_fault, redis_fault], processes, load_end, drained)


def report(url, project_id, load, faults, processes, load_end, drained) -> None:
    calls = db_query(url, "SELECT status_code, apply_status, operations FROM projects_apicall WHERE project_id = %s",
                     [project_id])  # fmt: skip
    rows_per_call: Counter[int] = Counter()  # 202 rows stored per call
    apply_states: Counter[str] = Counter()
    refused: Counter[int] = Counter()
    for status_code, apply_status, operations in calls:
        if status_code != 202:
            refused[status_code] += 1
            continue
        apply_states[apply_status] += 1
        match = MARKER.search(operations.encode())
        if match:
            rows_per_call[int(match.group(1))] += 1
    events = dict(db_query(url, """
        SELECT e.label, count(*) FROM profiles_profileevent e JOIN profiles_profile p ON p.id = e.profile_id
        WHERE p.project_id = %s GROUP BY e.label""", [project_id]))  # fmt: skip
    per_call = {n: events.get(f"restarts-{n:04d}", 0) for n in range(CALLS)}

    accepted = set(load.accepted)
    exactly_once = [n for n in accepted if per_call[n] == EVENTS_PER_CALL]
    duplicates = [n for n in accepted if per_call[n] > EVENTS_PER_CALL]
    lost = [n for n in accepted if per_call[n] == 0]
    partial = [n for n in accepted if 0 < per_call[n] < EVENTS_PER_CALL]
    stored_twice = [n for n in range(CALLS) if rows_per_call[n] > 1]
    phantom = [n for n in range(CALLS) if n not in accepted and per_call[n]]
    retries = len(load.attempts) - len({a.call for a in load.attempts})
    not_202 = Counter(a.status for a in load.attempts if a.status != "202")

    print()
    print(
        f"=== restarts: {CALLS} calls of {EVENTS_PER_CALL} events, {CLIENTS} clients at {RATE:g} calls/s, "
        f"retry every {RETRY_PAUSE} s up to {RETRY_FOR:.0f} s, Idempotency-Key: {'yes' if IDEMPOTENCY else 'no'}"
    )
    print(
        f"calls accepted (202):       {len(accepted)} of {CALLS}; given up after {RETRY_FOR:.0f} s: {len(load.gave_up)}"
    )
    print(
        f"client attempts:            {len(load.attempts)} ({retries} retries); answers other than 202: "
        + (", ".join(f"{s} x{c}" for s, c in sorted(not_202.items())) or "none")
    )
    for fault in faults:
        back = first_accept_after(load, fault.up)
        end = back if back is not None else fault.up + 60
        print(
            f"{fault.name} restart (stop at {fault.stopped - load.started_at:.1f} s of load, "
            f"down {fault.up - fault.stopped:.1f} s):"
        )
        print(f"  answers, stop to restart: {statuses(load, fault.stopped, fault.up)}")
        print(f"  answers until first 202:  {statuses(load, fault.up, end)}")
        if back is not None:
            recovery = f"{back - fault.up:.1f} s after it was up again ({back - fault.stopped:.1f} s after the stop)"
        else:
            recovery = "none (the load had ended)" if load_end < fault.up else "NONE"
        print(f"  first 202 after restart:  {recovery}")
    last_up = faults[-1].up
    if drained is not None:
        print(
            f"backlog drained:            {drained - last_up:.1f} s after the last restart "
            f"({drained - load_end:.1f} s after the load ended)"
        )
    else:
        print(f"backlog drained:            NO, still pending {DRAIN_LIMIT:.0f} s after the load and the last fault")
    print(
        f"server rows of the project: 202 rows by apply status: {dict(apply_states)}; other answers recorded: "
        f"{dict(refused) or 'none'}"
    )
    print(f"applied exactly once:       {len(exactly_once)} of {len(accepted)} accepted calls")
    print(
        f"duplicates:                 {len(duplicates)} accepted calls with events more than once "
        f"{sorted(duplicates)[:10]}"
    )
    print(f"losses:                     {len(lost)} accepted calls with no events {sorted(lost)[:10]}")
    print(f"partial:                    {len(partial)} accepted calls with some events missing {sorted(partial)[:10]}")
    print(
        f"stored twice (server):      {len(stored_twice)} calls with two 202 rows (a stored call answered "
        f"otherwise, then retried) {sorted(stored_twice)[:10]}"
    )
    print(f"applied but never accepted: {len(phantom)} calls the client gave up on {sorted(phantom)[:10]}")
    print("supervised processes (restarts needed; goal 0):")
    for proc in processes:
        tracebacks, last_error = proc.log_errors()
        exits = ", ".join(
            f"code {code} " + (f"at {at - load.started_at:.1f} s of load" if at >= load.started_at > 0 else "at boot")
            for at, code in proc.exits
        )
        children = f", children replaced {proc.children_replaced}" if proc.children_expected else ""
        print(
            f"  {proc.name:14} restarts {len(proc.exits)} ({exits or 'no exit'}){children}, "
            f"tracebacks in log {tracebacks}"
        )
        if last_error:
            print(f"    last error line: {last_error}")
    ok = bool(accepted) and not (duplicates or lost or partial) and drained is not None
    ok = ok and len(exactly_once) == len(accepted)
    print(f"accepted = applied exactly once: {'yes' if ok else 'no'}")


def main() -> int:
    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    base = Path(tempfile.mkdtemp(prefix="batchhub-restarts-"))
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        os.chown(base, postgres.pw_uid, postgres.pw_gid)
    cleanup: list = []
    started = time.monotonic()
    try:
        run(base, cleanup)
    except KeyboardInterrupt:
        print("interrupted: cleaning up", flush=True)
    except Exception:  # a benchmark: report, clean up, exit 0
        traceback.print_exc()
        print("accepted = applied exactly once: unknown (the benchmark failed)")
    finally:
        for step in cleanup[::-1]:  # newest first: clients and supervisor, the app, Redis, PostgreSQL
            try:
                step()
            except Exception:
                traceback.print_exc()
        if os.environ.get("BENCH_RESTART_KEEP"):
            print(f"logs kept in {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
        print(f"runtime: {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
