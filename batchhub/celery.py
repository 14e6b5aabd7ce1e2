"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery
from celery.signals import worker_ready

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchhub.settings")

app = Celery("batchhub", task_cls="batchhub.core.jobs.taskbase:BatchHubTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_ready.connect
def sweep_at_start(sender=None, **_) -> None:
    """A worker that starts (after a crash too) queues the appliers of every project with pending calls at once,
    instead of leaving them to beat's next sweep (or forever, without beat)."""
    from batchhub.api.tasks import api_calls_sweep

    api_calls_sweep.delay(at_worker_start=True)
