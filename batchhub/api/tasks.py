"""Tasks of the REST API: apply a project's accepted calls, and restart the appliers of stranded ones."""

from __future__ import annotations

import datetime as dt
import time

from celery import shared_task
from django.db import InterfaceError, OperationalError

from batchhub.api.services import (
    CLAIM_BATCH,
    STRANDED_AFTER,
    ApplierBusy,
    api_calls_apply_pending,
    api_calls_stranded_projects,
)
from batchhub.core.jobs.tasking import enqueue_unless_queued, queued_flag_clear

DRAIN_SECONDS = 20  # one task applies batches for this long at most, then hands over to a new one


def _queued_flag(project_id: int) -> str:
    return f"api_calls_apply:{project_id}"


def api_calls_apply_soon(project_id: int, *, after_commit: bool = True, countdown: float | None = None) -> None:
    """Have the project's pending calls applied (once the current transaction commits): one queued task."""
    flag = _queued_flag(project_id)
    enqueue_unless_queued(api_calls_apply, project_id, flag=flag, after_commit=after_commit, countdown=countdown)


@shared_task(
    queue="api",
    soft_time_limit=240,
    time_limit=300,
    autoretry_for=(OperationalError, InterfaceError),  # deadlock or lost connection: nothing was applied
    retry_backoff=True,
    retry_backoff_max=30,
    max_retries=10,  # then the sweeper queues the project again
)
def api_calls_apply(project_id: int) -> int:
    """Apply a project's pending API calls, batch after batch, for up to DRAIN_SECONDS."""
    queued_flag_clear(_queued_flag(project_id))  # from here on, a new call queues a new task
    started = time.monotonic()
    applied = 0
    while True:
        try:
            batch = api_calls_apply_pending(project_id=project_id)
        except ApplierBusy:
            # Another task holds the project and may have read its backlog before our calls committed: come
            # back in a second, unless a task is queued already (busy tasks must not multiply).
            api_calls_apply_soon(project_id, after_commit=False, countdown=1)
            return applied
        applied += batch
        if batch < CLAIM_BATCH:
            return applied
        if time.monotonic() - started > DRAIN_SECONDS:
            # more may wait: a fresh task, so that other projects' tasks get their turn
            api_calls_apply_soon(project_id, after_commit=False)
            return applied


@shared_task(queue="api", soft_time_limit=50, time_limit=60)
def api_calls_sweep(*, at_worker_start: bool = False) -> int:
    """Every minute (beat): restart the applier of any project whose calls wait for more than 30 s. When a
    worker starts: of every project with pending calls, whatever their age, and whatever queued flag a dead
    worker left behind (its task died with it)."""
    older_than = dt.timedelta(0) if at_worker_start else STRANDED_AFTER
    projects = api_calls_stranded_projects(older_than=older_than)
    for project_id in projects:
        if at_worker_start:
            queued_flag_clear(_queued_flag(project_id))
        api_calls_apply_soon(project_id, after_commit=False)  # nothing written here to wait for
    return len(projects)
