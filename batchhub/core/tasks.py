from __future__ import annotations

from celery import shared_task

from batchhub.core.jobs.retention import retention_apply
from batchhub.core.jobs.runs import run_task_execute
from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.core.models import RetentionRun
from batchhub.core.queries import retention_run_stuck
from batchhub.core.services import retention_run_create, worker_heartbeat_record


@shared_task(queue="default", soft_time_limit=20, time_limit=30)
def worker_heartbeat() -> str:
    """Record that a worker is alive and consuming (scheduled every minute by beat)."""
    hostname = worker_heartbeat.request.hostname or "unknown"
    worker_heartbeat_record(hostname=hostname)
    return hostname


def retention_start(*, started_by=None) -> tuple[RetentionRun | None, str]:
    """Start a retention run ("started"), unless one is queued or running ("going"); a run whose task was lost
    (queued for 10 minutes, or running without a heartbeat) is queued again instead ("requeued"), and
    run_claim hands it to the new task. The one way beat and the CSM's button start runs."""
    run = retention_run_create(started_by=started_by)
    state = "started"
    if run is None:
        run = retention_run_stuck()
        state = "going" if run is None else "requeued"
    if run is not None:
        enqueue_on_commit(retention_run, run.pk)
    return run, state


@shared_task(queue="lifecycle", soft_time_limit=60, time_limit=90)
def retention_daily() -> int | None:
    """Beat, every day: `retention_start`; the run's id, None if one was going."""
    run, _ = retention_start()
    return run.pk if run is not None else None


@shared_task(bind=True, queue="lifecycle", soft_time_limit=3300, time_limit=3600, max_retries=12)
def retention_run(self, run_id: int) -> dict | None:
    """Apply the retention rules in batches, as run `run_id` (claimed, resumed and failed as every run is)."""

    def work(run: RetentionRun) -> dict:
        handled = retention_apply(run)
        RetentionRun.objects.filter(pk=run.pk).update(handled=handled)
        return handled

    return run_task_execute(self, RetentionRun, run_id, work)
