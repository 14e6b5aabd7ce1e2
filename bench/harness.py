"""Shared pieces of the benchmarks: a bench database, a gunicorn server, wrk load, peak memory.

Benchmarks run against PostgreSQL and Redis (BENCH_DATABASE_URL / BENCH_REDIS_URL), never the dev data.
"""

from __future__ import annotations

import os
import re
import resource
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH_DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres:postgres@127.0.0.1:5432/batchhub_bench")
BENCH_REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")


def bench_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        BATCHHUB_ENV="development",
        DEBUG="false",
        DATABASE_URL=BENCH_DATABASE_URL,
        REDIS_URL=BENCH_REDIS_URL,
        DJANGO_SETTINGS_MODULE="batchhub.settings",
        LOG_LEVEL="WARNING",
        GUNICORN_ACCESS_LOG="",
    )
    env.update(extra)
    return env


def django_setup() -> None:
    """Configure Django in this process against the bench database (created and migrated if needed)."""
    os.environ.update(bench_env())
    sys.path.insert(0, str(ROOT))
    import psycopg

    dbname = BENCH_DATABASE_URL.rsplit("/", 1)[1]
    admin_url = BENCH_DATABASE_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen

    def worker_pids(self) -> list[int]:
        return child_pids(self.process.pid)

    def peak_rss_mib(self) -> float:
        """Largest peak resident set (VmHWM) among the server's worker processes."""
        return tree_peak_rss_mib(self.process.pid)


def child_pids(pid: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return [int(child) for child in out.split()]


def tree_peak_rss_mib(pid: int) -> float:
    """Largest peak resident set (VmHWM) of a process and its children (a server's or a worker's processes)."""
    peaks = []
    for one in [pid, *child_pids(pid)]:
        try:
            match = re.search(r"VmHWM:\s+(\d+) kB", Path(f"/proc/{one}/status").read_text())
        except FileNotFoundError:
            continue
        if match:
            peaks.append(int(match.group(1)) / 1024)
    return max(peaks, default=0.0)


@contextmanager
def gunicorn(*, workers: int, env: dict[str, str] | None = None):
    """gunicorn as the production image runs it (`gunicorn.conf.py`), on a free port, `workers` processes."""
    port = free_port()
    command = [
        str(ROOT / ".venv" / "bin" / "gunicorn"),
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--log-level", "warning",
        "--backlog", "256",
    ]  # fmt: skip
    env = env or bench_env()
    process = subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    break
            except OSError:
                time.sleep(0.2)
        else:
            raise RuntimeError("gunicorn did not start")
        yield Server(url=url, process=process)
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


@dataclass
class Load:
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    url: str,
    *,
    connections: int = 8,
    seconds: int = 15,
    threads: int = 2,
    headers: dict | None = None,
    script: str | None = None,
) -> Load:
    """Closed-loop load with wrk: `connections` concurrent keep-alive connections for `seconds`."""
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "10s"]
    if script:
        command += ["-s", script]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+([\d.]+\w+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+([\d.]+\w+)", out).group(1))
    errors = 0
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        errors += int(non2xx.group(1))
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket_errors:
        errors += sum(int(n) for n in socket_errors.groups())
    return Load(requests_per_s=rps, p50_ms=p50, p99_ms=p99, errors=errors)


def own_peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def celery_worker(env: dict[str, str], *, concurrency: int) -> subprocess.Popen:
    """A Celery worker on the bench's broker and database (`env`), in a process group of its own."""
    return subprocess.Popen(
        [str(ROOT / ".venv" / "bin" / "celery"), "-A", "batchhub", "worker", "--loglevel", "WARNING",
         "--concurrency", str(concurrency), "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=ROOT, env=env, start_new_session=True,
    )  # fmt: skip


def celery_worker_stop(worker: subprocess.Popen) -> None:
    """Warm shutdown: the main process lets its children finish their task (a group kill would not)."""
    os.kill(worker.pid, signal.SIGTERM)
    try:
        worker.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()


# ---- kept worlds: a template database built once per layout and size, copied for each run ----------------------

_BASE_URL = BENCH_DATABASE_URL.rsplit("/", 1)[0]


def database_url(database: str) -> str:
    return f"{_BASE_URL}/{database}"


def admin_connection():
    import psycopg

    return psycopg.connect(database_url("postgres"), autocommit=True)


def database_env(database: str, **extra: str) -> dict[str, str]:
    """The environment of a process (manage.py, a worker, gunicorn) working on `database`."""
    env = bench_env(**extra)
    env["DATABASE_URL"] = database_url(database)
    return env


def template_built(database: str) -> bool:
    """Whether `database` holds a whole build: its build marks it last with a `bench_built` table."""
    import psycopg

    with admin_connection() as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [database]).fetchone() is None:
            return False
    with psycopg.connect(database_url(database)) as conn:
        return conn.execute("SELECT to_regclass('bench_built') IS NOT NULL").fetchone()[0]


def template_facts(database: str) -> dict | None:
    """What the build of `database` recorded in `bench_built (facts)` (text or jsonb); None if it is not built."""
    import json

    import psycopg

    if not template_built(database):
        return None
    with psycopg.connect(database_url(database)) as conn:
        facts = conn.execute("SELECT facts FROM bench_built").fetchone()[0]
    return facts if isinstance(facts, dict) else json.loads(facts)


def template_create(database: str, create_objects: str, env: dict[str, str] | None = None):
    """A new, migrated `database` (dropped first if it exists), then `create_objects` run by `manage.py shell`: what
    its last printed line holds, as JSON. The bulk rows are the caller's, by set-based SQL."""
    import json

    database_drop(database)
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{database}"')
    env = env or database_env(database)
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    made = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", create_objects], cwd=ROOT, env=env, check=True,
        capture_output=True, text=True,
    ).stdout  # fmt: skip
    return json.loads(made.strip().splitlines()[-1])


def database_copy(template: str, database: str) -> None:
    """`database` as a fresh copy of `template` (file copy: seconds, not a rebuild)."""
    database_drop(database)
    with admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{database}" TEMPLATE "{template}" STRATEGY FILE_COPY')


def database_drop(database: str) -> None:
    with admin_connection() as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def database_size(database: str) -> int:
    with admin_connection() as conn:
        return conn.execute("SELECT pg_database_size(%s)", [database]).fetchone()[0]
