"""The base class of every BatchHub Celery task: late acks, time limits, a redelivery cap in the database."""

from __future__ import annotations

import logging

from celery.contrib.django.task import DjangoTask
from celery.exceptions import Reject

logger = logging.getLogger(__name__)


class BatchHubTask(DjangoTask):
    """Acknowledged late and re-queued if its worker dies; dropped as `dead` after too many deliveries.

    `delay_on_commit()` (from DjangoTask) is how services enqueue: never before the data is visible.
    """

    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args, **kwargs):
        if self.request.is_eager or self.request.called_directly or not self.request.id:
            return super().__call__(*args, **kwargs)
        from batchhub.core.tasking import task_delivery_start

        verdict = task_delivery_start(task_id=self._delivery_id(), task_name=self.name)
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
        from batchhub.core.tasking import task_delivery_finish

        if not self.request.is_eager:
            task_delivery_finish(task_id=self._delivery_id(), succeeded=True)

    def on_failure(self, exc, task_id, args, kwargs, einfo):
        from batchhub.core.tasking import task_delivery_finish

        if not self.request.is_eager:
            task_delivery_finish(task_id=self._delivery_id(), succeeded=False, error=f"{type(exc).__name__}: {exc}")
