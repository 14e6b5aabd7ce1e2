"""The base class of every BatchHub Celery task: late acks, time limits, a redelivery cap in the database."""

from __future__ import annotations

import logging

from celery.contrib.django.task import DjangoTask
from celery.exceptions import Reject
from django.db import InterfaceError, OperationalError, connections

logger = logging.getLogger(__name__)


UNREACHABLE_RETRIES = 30  # with the backoff below, about 14 minutes of database outage before giving up


def unreachable_backoff(retries: int) -> int:
    """Seconds before the next try while the database is unreachable: 1, 2, 4, 8, 16, then 30."""
    return min(2**retries, 30)


class BatchHubTask(DjangoTask):
    """Acknowledged late and re-queued if its worker dies; dropped as `dead` after too many deliveries.

    `delay_on_commit()` (from DjangoTask) is how services enqueue: never before the data is visible.
    A delivery that finds the database unreachable is retried with a backoff instead of dropped: nothing ran.
    """

    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args, **kwargs):
        if self.request.is_eager or self.request.called_directly or not self.request.id:
            return super().__call__(*args, **kwargs)
        from batchhub.core.jobs.tasking import task_delivery_start

        try:
            verdict = task_delivery_start(task_id=self._delivery_id(), task_name=self.name)
        except (OperationalError, InterfaceError) as exc:
            connections.close_all()  # the next try opens fresh connections
            logger.warning("task %s[%s]: database unreachable, retrying (%s)", self.name, self.request.id, exc)
            raise self.retry(
                exc=exc, countdown=unreachable_backoff(self.request.retries), max_retries=UNREACHABLE_RETRIES
            ) from exc
        if verdict == "done":
            logger.info("task %s[%s] already succeeded; duplicate delivery skipped", self.name, self.request.id)
            return None
        if verdict == "dead":
            logger.error("task %s[%s] exceeded its delivery cap; dropped", self.name, self.request.id)
            raise Reject("delivery cap exceeded", requeue=False)
        return super().__call__(*args, **kwargs)

    def _delivery_id(self) -> str:
        # A retry reuses the task id: count the deliveries of each attempt, not retries as redeliveries.
        retries = self.request.retries or 0
        return self.request.id if not retries else f"{self.request.id}:{retries}"

    def on_success(self, retval, task_id, args, kwargs):
        if not self.request.is_eager:
            self._record_finish(succeeded=True)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        if not self.request.is_eager:
            self._record_finish(succeeded=False, error=f"{type(exc).__name__}: {exc}")

    def _record_finish(self, **outcome) -> None:
        from batchhub.core.jobs.tasking import task_delivery_finish

        try:
            task_delivery_finish(task_id=self._delivery_id(), **outcome)
        except (OperationalError, InterfaceError):
            # The row stays "running": a redelivery counts once more and runs again, which tasks are built for.
            logger.warning("task %s[%s]: could not record its outcome", self.name, self.request.id, exc_info=True)
