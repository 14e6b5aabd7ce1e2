"""Delivery accounting for Celery tasks (see BatchHubTask)."""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.db import transaction
from django.db.models import F
from kombu.exceptions import OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from batchhub.core.data.redis import shared_redis
from batchhub.core.models import TaskDelivery
from batchhub.core.web.logging import redact


def task_delivery_start(*, task_id: str, task_name: str) -> str:
    """Count one more delivery: "run", "done" (it already succeeded: a duplicate) or "dead" (past the cap)."""
    with transaction.atomic():
        delivery, created = TaskDelivery.objects.select_for_update().get_or_create(
            task_id=task_id, defaults={"task_name": task_name, "deliveries": 1}
        )
        if not created and delivery.status == TaskDelivery.Status.SUCCEEDED:
            return "done"
        if not created:
            TaskDelivery.objects.filter(pk=delivery.pk).update(
                deliveries=F("deliveries") + 1, status=TaskDelivery.Status.RUNNING
            )
            delivery.refresh_from_db(fields=["deliveries"])
        if delivery.deliveries > settings.CELERY_TASK_MAX_DELIVERIES:
            TaskDelivery.objects.filter(pk=delivery.pk).update(status=TaskDelivery.Status.DEAD)
            return "dead"
    return "run"


def task_delivery_finish(*, task_id: str, succeeded: bool, error: str = "") -> None:
    status = TaskDelivery.Status.SUCCEEDED if succeeded else TaskDelivery.Status.FAILED
    TaskDelivery.objects.filter(task_id=task_id).update(status=status, last_error=redact(error)[:2000])


logger = logging.getLogger(__name__)
QUEUES = tuple(queue.name for queue in settings.CELERY_TASK_QUEUES)  # by workload (settings)
QUEUED_FLAG_TTL = 30  # seconds: a lost queued task only delays the next enqueue this long


def enqueue_on_commit(task, *args) -> None:
    """Enqueue `task(*args)` once the current transaction commits; a broker that is away is logged, not raised:
    what was committed stays, and whatever re-queues that work (a sweeper, a page's retry) does it later."""

    def enqueue() -> None:
        try:
            task.apply_async(args)
        except (RedisError, KombuOperationalError):
            logger.warning("could not enqueue %s%r; it is left for a later run", task.name, args, exc_info=True)

    transaction.on_commit(enqueue)


def enqueue_unless_queued(task, *args, flag: str, after_commit: bool = True, countdown: float | None = None) -> None:
    """Enqueue `task(*args)` (once the current transaction commits), unless the same is queued already.

    For a task that drains a backlog (it sees everything committed before it starts): a flag in Redis marks
    it queued, and the task clears it with `queued_flag_clear` as it starts, before reading the backlog. A
    write committed before the flag is found set is therefore seen by the queued task. Without Redis (a
    process-local cache the worker could not clear) every enqueue goes through.
    """

    def enqueue() -> None:
        try:
            redis = shared_redis()
            if redis is None or redis[0].set(redis[1](f"queued:{flag}"), 1, nx=True, ex=QUEUED_FLAG_TTL):
                task.apply_async(args, countdown=countdown)
        except (RedisError, KombuOperationalError):
            # The broker is away: what was committed stays, and the sweeper queues it once the broker is back.
            # Failing here would turn a stored write into a 500, and the client's retry into a duplicate.
            logger.warning("could not enqueue %s for %s; the sweeper will", task.name, flag, exc_info=True)

    if after_commit:
        transaction.on_commit(enqueue)
    else:
        enqueue()


def queued_flag_clear(flag: str) -> None:
    redis = shared_redis()
    if redis is not None:
        client, make_key = redis
        try:
            client.delete(make_key(f"queued:{flag}"))
        except RedisError:
            # Redis is away: the flag expires on its own (QUEUED_FLAG_TTL); the task's work goes on meanwhile.
            logger.warning("could not clear the queued flag %s", flag, exc_info=True)


def task_deliveries_finished_before(now: dt.datetime):
    """Finished deliveries older than TASK_DELIVERY_DAYS (a redelivery comes within minutes, not days): the
    retention rule `core.task_deliveries`."""
    cutoff = now - dt.timedelta(days=settings.TASK_DELIVERY_DAYS)
    return TaskDelivery.objects.exclude(status=TaskDelivery.Status.RUNNING).filter(last_started_at__lt=cutoff)
