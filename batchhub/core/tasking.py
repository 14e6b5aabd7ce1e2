"""Delivery accounting for Celery tasks (see BatchHubTask)."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.db.models import F

from batchhub.core.logging import redact
from batchhub.core.models import TaskDelivery


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
