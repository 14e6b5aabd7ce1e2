"""The Celery application: configuration comes from Django settings (CELERY_* names)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "batchhub.settings")

app = Celery("batchhub", task_cls="batchhub.core.taskbase:BatchHubTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
