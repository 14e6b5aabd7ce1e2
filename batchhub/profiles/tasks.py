from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from batchhub.profiles.services import CLAIM_BATCH, api_calls_apply_pending, api_calls_stranded_projects


@shared_task(
    soft_time_limit=240,
    time_limit=300,
    autoretry_for=(OperationalError,),  # deadlock or lost connection: nothing was applied, try again
    retry_backoff=True,
    max_retries=3,
)
def api_calls_apply(project_id: int) -> int:
    """Apply a project's pending API calls; re-enqueued while a full batch was found (more may wait)."""
    applied = api_calls_apply_pending(project_id=project_id)
    if applied >= CLAIM_BATCH:
        api_calls_apply.delay(project_id)
    return applied


@shared_task(soft_time_limit=50, time_limit=60)
def api_calls_sweep() -> int:
    """Every minute (beat): restart the applier of any project whose calls wait for more than 30 s."""
    projects = api_calls_stranded_projects()
    for project_id in projects:
        api_calls_apply.delay(project_id)
    return len(projects)
