"""The purge's tasks: the daily start (beat) and the run itself (on the lifecycle queue)."""

from __future__ import annotations

from celery import shared_task

from batchhub.core.jobs.runs import run_task_execute
from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.profiles.models import PurgeRun
from batchhub.profiles.purge import purge_execute, purge_run_for_day, purge_runs_superseded, utc_day
from batchhub.projects.models import Project


@shared_task(queue="lifecycle", soft_time_limit=120, time_limit=180)
def purge_daily() -> list[int]:
    """Beat, daily (editable in the admin): today's run of every project, queued; a run of today that was not
    finished is queued again (beat firing twice is harmless: `run_claim` lets one delivery hold it). Returns the
    ids of the runs queued."""
    today = utc_day()
    purge_runs_superseded(before=today)
    queued = []
    for project in Project.objects.filter(deleting_since__isnull=True).order_by("pk").iterator():
        run, _ = purge_run_for_day(project, day=today)
        if not run.is_finished:
            enqueue_on_commit(purge_run, run.pk)
            queued.append(run.pk)
    return queued


@shared_task(bind=True, queue="lifecycle", soft_time_limit=3300, time_limit=3600, max_retries=12)
def purge_run(self, run_id: int) -> int | None:
    """Purge as run `run_id` (claimed, resumed after a kill, failed on an error as every run is): the profiles
    deleted, None if the run was finished or is held by another worker."""
    return run_task_execute(self, PurgeRun, run_id, lambda run: purge_execute(run).rows_done)
