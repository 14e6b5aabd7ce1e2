"""Runs: the one way long work claims its row, records its progress and finishes, and how a page shows it.

A concrete run is a model inheriting `core.models.Run` (the retention job's `RetentionRun`; exports, imports, the
purge and privacy requests later). A task takes the run's id, `run_claim`s it (a second delivery of the same task, or a
worker taking over from a dead one, gets it only when the first stopped beating), does its work in batches, each
committed together with its `run_progress`, and `run_finish`es. The progress partial
(`templates/core/_run_progress.html`, served through `run_progress_render`) polls every 2 s and is answered with
status 286 once the run is finished, which tells htmx to stop polling.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from celery.exceptions import SoftTimeLimitExceeded
from django.db import DatabaseError, connections
from django.db.models import F, Q
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.core.models import Run

STALE_AFTER = dt.timedelta(minutes=5)  # a running run that has not beaten for this long was left by a dead worker
HTMX_STOP_POLLING = 286


R = TypeVar("R", bound=Run)
T = TypeVar("T")


def run_claim(model: type[R], run_id: int, *, claimer: str, stale_after: dt.timedelta = STALE_AFTER) -> R | None:
    """Claim a queued run, or a running one whose worker stopped beating; None if it is finished or held alive.

    One UPDATE: two workers can never both hold it. A run taken over keeps its progress (what committed stays)."""
    now = timezone.now()
    claimable = Q(status=Run.Status.QUEUED) | Q(status=Run.Status.RUNNING, heartbeat_at__lt=now - stale_after)
    claimed = (
        model.objects.filter(pk=run_id)
        .filter(claimable)
        .update(status=Run.Status.RUNNING, claimed_by=claimer[:200], started_at=Coalesce("started_at", now),
                heartbeat_at=now)
    )  # fmt: skip
    return model.objects.get(pk=run_id) if claimed else None


class RunLost(Exception):
    """This worker's hold on the run was taken over (it stopped beating for STALE_AFTER): it must stop at once,
    leaving the run to the worker that holds it now."""


def _held(run: Run):
    """The run's row while this worker still holds it (claimed by it and running)."""
    return type(run).objects.filter(pk=run.pk, claimed_by=run.claimed_by, status=Run.Status.RUNNING)


def _lost(run: Run):
    raise RunLost(f"run {run.pk} is no longer held by {run.claimed_by}")


def run_progress(run: Run, *, done: int = 0, total: int | None = None) -> None:
    """Add `done` rows (call it in the transaction that did them: progress and work commit together), set the total
    if known, and beat. Raises RunLost (rolling the batch back) if another worker took the run over."""
    changes: dict = {"rows_done": F("rows_done") + done, "heartbeat_at": timezone.now()}
    if total is not None:
        changes["rows_total"] = total
    _held(run).update(**changes) or _lost(run)
    run.refresh_from_db(fields=["rows_done", "rows_total", "heartbeat_at"])


def run_finish(run: Run, *, error: str = "") -> None:
    status = Run.Status.FAILED if error else Run.Status.SUCCEEDED
    _held(run).update(status=status, finished_at=timezone.now(), error=error[:2000]) or _lost(run)
    run.refresh_from_db(fields=["status", "finished_at", "error"])


class RunBeat:
    """What `run_beating` shares with its thread: the progress to publish (`done`, rows so far) and whether the run
    was taken over (`lost`)."""

    def __init__(self) -> None:
        self.done: int | None = None
        self.lost = False


@contextmanager
def run_beating(run: Run, *others: Run, every: float) -> Iterator[RunBeat]:
    """Beat `run` (and `others`, e.g. the backfill that runs it) every `every` seconds from a thread with its own
    database connection, for work that keeps this one busy (a COPY streaming for minutes). The thread writes
    `beat.done` as the run's rows done; it sets `beat.lost` if the run (or one of `others`) was taken over, or if it
    could not beat for half of STALE_AFTER (the work then stops and raises RunLost)."""
    beat, stop = RunBeat(), threading.Event()

    def beating() -> None:
        last_beat = time.monotonic()
        try:
            while not stop.wait(every):
                now = timezone.now()
                changes = {"heartbeat_at": now} if beat.done is None else {"heartbeat_at": now, "rows_done": beat.done}
                try:
                    held = _held(run).update(**changes)
                    for other in others:
                        held = held and _held(other).update(heartbeat_at=now)
                except DatabaseError:  # the database away for a moment: beat again next time, on a new connection
                    connections.close_all()
                    held = time.monotonic() - last_beat < STALE_AFTER.total_seconds() / 2
                else:
                    last_beat = time.monotonic()
                if not held:  # taken over, or unable to say we are alive for long: another worker may take it
                    beat.lost = True
                    return
        finally:
            connections.close_all()  # this thread's own connections only

    thread = threading.Thread(target=beating, name=f"beat-{type(run).__name__}-{run.pk}", daemon=True)
    thread.start()
    try:
        yield beat
    finally:
        stop.set()
        thread.join()


def run_progress_render(request: HttpRequest, run: Run, *, url: str, label: str = "", unit: str = "rows",
                        detail: str = "") -> HttpResponse:  # fmt: skip
    """The progress partial of `run`, polling `url` while the run goes on; status 286 (htmx stops polling) once
    it is finished. `unit` names what the run counts (rows, days, files); `detail` is one more line under it."""
    context = {"run": run, "poll_url": url, "label": label, "unit": unit, "detail": detail}
    response = render(request, "core/_run_progress.html", context)
    if run.is_finished and request.htmx:
        response.status_code = HTMX_STOP_POLLING
    return response


def run_release(run: Run) -> None:
    """Give the run back (queued, its progress kept) for another task to claim at once: the work is unfinished but
    this worker must stop (its time limit). `heartbeat_at` says since when it is queued again (`runs_stuck`)."""
    _held(run).update(status=Run.Status.QUEUED, claimed_by="", heartbeat_at=timezone.now())


def runs_stuck(model: type[R], *, queued_for: dt.timedelta = dt.timedelta(minutes=10)):
    """Active runs whose task was lost: queued for `queued_for` (the broker was away, the message lost), or running
    without a heartbeat for STALE_AFTER (its worker died and its redeliveries ran out)."""
    now = timezone.now()
    # a queued run's heartbeat_at, when set, is when it was queued again (released, or a re-run asked)
    queued_since = Coalesce("heartbeat_at", "created_at")
    stuck = Q(status=Run.Status.QUEUED, queued_since__lt=now - queued_for) | Q(
        status=Run.Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    return model.objects.alias(queued_since=queued_since).filter(stuck).order_by("created_at")


def run_task_execute(task, model: type[R], run_id: int, work: Callable[[R], T]) -> T | None:
    """The body of a bound task that executes run `run_id`: claim it, `work(run)` (which ends with `run_finish`),
    and return what `work` returns. A delivery that finds the run held by a live worker comes back once that worker
    would count as dead; a finished run is left as it is (None). A worker whose run was taken over stops (None). At
    its soft time limit the run is released and queued again for a fresh task (None); any other error fails the
    run and is raised (the task's own record keeps it too), unless the run was deleted meanwhile (None)."""
    claimer = f"{task.request.hostname}:{task.request.id}:{uuid.uuid4().hex[:8]}"  # a redelivered copy differs
    run = run_claim(model, run_id, claimer=claimer)
    if run is None:
        if model.objects.filter(pk=run_id, status=Run.Status.RUNNING).exists():
            raise task.retry(countdown=STALE_AFTER.total_seconds())
        return None
    try:
        return work(run)
    except RunLost:
        return None  # another worker holds the run now and finishes it
    except SoftTimeLimitExceeded:
        run_release(run)
        enqueue_on_commit(task, run_id)  # outside any transaction: at once
        return None
    except Exception as exc:
        if not model.objects.filter(pk=run_id).exists():
            return None  # deleted meanwhile (with its export or its project): no run is left to fail
        run_finish(run, error=f"{type(exc).__name__}: {exc}")
        raise
