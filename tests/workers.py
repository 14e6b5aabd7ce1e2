"""Real Celery workers for the tests that kill one: `celery -A batchhub worker` in a process group of its own, on the
test database and Redis, as production runs it; waits that poll instead of sleeping."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from django.db import connections

ROOT = Path(__file__).resolve().parents[1]


def worker_database_url(*, port: int | None = None, **options: str) -> str:
    """The test database's URL for a worker process (on another `port`, a proxy's, if given); skips the test on a
    database a second process cannot share (SQLite in memory)."""
    database = connections["default"].settings_dict
    if database["ENGINE"] != "django.db.backends.postgresql":
        pytest.skip("a worker process needs a database it can share: PostgreSQL")
    query = "&".join(f"{name}={value}" for name, value in options.items())
    return (
        f"postgres://{database['USER']}:{database['PASSWORD']}@{database['HOST']}:{port or database['PORT']}"
        f"/{database['NAME']}" + (f"?{query}" if query else "")
    )


def worker_start(log: Path, *, database_url: str | None = None, env: Mapping[str, str] | None = None):
    """A worker process on the test database (or `database_url`) and Redis, its output appended to `log`."""
    environment = {**os.environ, "DATABASE_URL": database_url or worker_database_url(), "BATCHHUB_ENV": "test",
                   "LOG_LEVEL": "INFO", **(env or {})}  # fmt: skip
    command = [sys.executable, "-m", "celery", "-A", "batchhub", "worker", "--loglevel", "INFO",
               "--concurrency", "2", "--without-heartbeat", "--without-gossip", "--without-mingle"]  # fmt: skip
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=log.open("ab"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def worker_up(log: Path) -> bool:
    return " ready." in log.read_text(errors="replace")


def worker_kill(worker: subprocess.Popen) -> None:
    """SIGKILL the whole worker (main process and pool children): no warm shutdown, nothing acknowledged."""
    if worker.poll() is None:
        os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def wait_for(predicate: Callable[[], object], *, timeout: float, what: str | Callable[[], str]) -> float:
    """Poll `predicate` until it holds; the seconds it took. Fails, saying `what` did not happen (text, or a function
    giving it then), after `timeout`."""
    started = time.monotonic()
    while not predicate():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"{what() if callable(what) else what}: not within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started
