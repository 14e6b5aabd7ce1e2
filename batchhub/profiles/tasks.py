"""The purge's tasks: the daily start (beat), the resumption of runs whose task was lost (beat), and the run itself
(on the lifecycle queue)."""

from __future__ import annotations

from celery import shared_task

from batchhub.core.jobs.runs import run_task_execute
from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.profiles.models import PurgeRun
from batchhub.profiles.purge import purge_day_start, purge_execute, purge_runs_stuck


@shared_task(queue="lifecycle", soft_time_limit=120, time_limit=180)
def purge_daily() -> list[int]:
    """Beat, daily (editable in the admin): today's run of every project, queued. Returns the runs queued."""
    runs = purge_day_start()
    for run_id in runs:
        enqueue_on_commit(purge_run, run_id)
    return runs


@shared_task(queue="lifecycle", soft_time_limit=60, time_limit=90)
def purge_resume() -> list[int]:
    """Beat, every 10 minutes: queue again the runs whose task was lost (`run_claim` lets one delivery hold a run,
    so a run queued twice runs once)."""
    runs = purge_runs_stuck()
    for run_id in runs:
        enqueue_on_commit(purge_run, run_id)
    return runs


@shared_task(bind=True, queue="lifecycle", soft_time_limit=3300, time_limit=3600, max_retries=12)
def purge_run(self, run_id: int) -> int | None:
    """Purge as run `run_id` (claimed, resumed after a kill, released and queued again at its time limit, failed on
    an error, as every run is): the profiles deleted, None if the run was finished or is held by another worker."""
    return run_task_execute(self, PurgeRun, run_id, lambda run: purge_execute(run).rows_done)
