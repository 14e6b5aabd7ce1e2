"""Background work of connectors (ids only: no setting, no secret): the Test of a destination or source, the daily
exports and backfills."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from batchhub.connectors.exporting import (
    export_backfill_execute,
    export_run_complete,
    export_run_failed,
    exports_dispatch,
)
from batchhub.connectors.models import Connector, Destination, ExportBackfill, ExportConfig, ExportRun, Source
from batchhub.connectors.services import storage_test
from batchhub.core.jobs.runs import run_release, run_task_execute, runs_stuck
from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.core.storage.base import TransportError

_MODELS = {"destination": Destination, "source": Source}


def storage_test_soon(direction: str, location_id: int, requested_at: dt.datetime) -> None:
    enqueue_on_commit(storage_test_run, direction, location_id, requested_at.isoformat())


# One Test: each network call is bounded by STORAGE_TEST_TIMEOUT_SECONDS, the whole by these limits (an SFTP test
# makes a dozen round trips). Not retried: the partner asks again, and sees the classified error meanwhile.
@shared_task(queue="default", soft_time_limit=60, time_limit=75, acks_late=True)
def storage_test_run(direction: str, location_id: int, requested_at: str) -> bool | None:
    """Run the Test asked at `requested_at`; nothing if the location is gone, or was saved or tested again since."""
    location = _MODELS[direction].objects.select_related("connector__partner").filter(pk=location_id).first()
    if location is None or location.test_requested_at != dt.datetime.fromisoformat(requested_at):
        return None
    if location.test_stalled:  # the page already said no worker took it, and the partner may ask again: not twice
        return None
    return storage_test(location=location, requested_at=location.test_requested_at)["ok"]


@shared_task(queue="exports", soft_time_limit=120, time_limit=180)
def exports_daily() -> list[int]:
    """Beat, daily at 02:00 UTC (editable in the admin): yesterday's run of every due config, queued once."""
    runs = exports_dispatch()
    for run_id in runs:
        enqueue_on_commit(export_run, run_id)
    return runs


def _connector_paused(config_id: int) -> bool:
    """A paused connector's jobs wait: its run or backfill is left queued, and `exports_resume` queues it again
    every 10 minutes until the connector is resumed."""
    return ExportConfig.objects.filter(pk=config_id, connector__status=Connector.Status.PAUSED).exists()


# An export streams its file once; the limits bound a very large day (bench/exports.py measures the rate).
@shared_task(bind=True, queue="exports", soft_time_limit=45 * 60, time_limit=50 * 60)
def export_run(self, run_id: int) -> int | None:
    """Export run `run_id` (claimed; resumed after a kill: the file is written again from the start, published only
    when whole). A transient failure is tried again later, up to EXPORT_ATTEMPTS; any other fails the run at once.
    Returns the rows exported."""

    def work(run: ExportRun) -> int | None:
        if _connector_paused(run.config_id):
            run_release(run)
            return None
        try:
            return export_run_complete(run).rows
        except TransportError as error:
            run.refresh_from_db()
            if error.retryable and run.attempts < settings.EXPORT_ATTEMPTS:
                run_release(run)
                countdown = settings.EXPORT_RETRY_SECONDS * 2 ** (run.attempts - 1)
                export_run.apply_async((run_id,), countdown=countdown)
                return None
            export_run_failed(run, error)
            return None

    return run_task_execute(self, ExportRun, run_id, work)


@shared_task(bind=True, queue="exports", soft_time_limit=45 * 60, time_limit=50 * 60)
def export_backfill_run(self, backfill_id: int) -> int | None:
    """Export backfill `backfill_id`'s days in order (claimed; after a kill or its time limit it goes on from the
    first day not done). A temporary failure of a day waits (EXPORT_RETRY_SECONDS, doubled each attempt) and goes
    on there. Returns the days handled once finished."""

    def work(backfill: ExportBackfill) -> int | None:
        if _connector_paused(backfill.config_id):
            run_release(backfill)
            return None
        wait = export_backfill_execute(backfill)
        if wait is not None:
            run_release(backfill)
            export_backfill_run.apply_async((backfill_id,), countdown=wait)
            return None
        backfill.refresh_from_db()
        return backfill.rows_done

    return run_task_execute(self, ExportBackfill, backfill_id, work)


@shared_task(queue="exports", soft_time_limit=60, time_limit=90)
def exports_resume() -> dict[str, list[int]]:
    """Beat, every 10 minutes: queue again the export runs and backfills whose task was lost (`run_claim` lets one
    delivery hold a run, so one queued twice runs once)."""
    lost = {
        "runs": list(runs_stuck(ExportRun).values_list("pk", flat=True)),
        "backfills": list(runs_stuck(ExportBackfill).values_list("pk", flat=True)),
    }
    for run_id in lost["runs"]:
        enqueue_on_commit(export_run, run_id)
    for backfill_id in lost["backfills"]:
        enqueue_on_commit(export_backfill_run, backfill_id)
    return lost
