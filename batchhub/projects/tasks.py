"""Background work on projects: deleting a project, or a customer with its projects, batch after batch."""

from __future__ import annotations

from celery import shared_task
from django.db import IntegrityError, InterfaceError, OperationalError

from batchhub.core.jobs.tasking import enqueue_on_commit
from batchhub.projects.services import customer_delete_continue, project_delete_continue

RUN_SECONDS = 60  # one task deletes for this long at most, then hands over to a fresh one (time limits below)


def project_delete_soon(project_id: int) -> None:
    """Have a project marked for deletion deleted in the background, once the current transaction commits (if
    the broker is away, the mark stays and the project's delete page queues the deletion again)."""
    enqueue_on_commit(project_delete_run, project_id)


def customer_delete_soon(customer_id: int) -> None:
    enqueue_on_commit(customer_delete_run, customer_id)


_DELETE_TASK = {
    "queue": "lifecycle",
    "soft_time_limit": 4 * RUN_SECONDS,
    "time_limit": 5 * RUN_SECONDS,
    # deadlock with an API call being applied, lost connection: the batch rolled back, the next try redoes it
    # or a row an API call wrote into a batch being deleted (the foreign key check at commit): redone
    "autoretry_for": (OperationalError, InterfaceError, IntegrityError),
    "retry_backoff": True,
    "retry_backoff_max": 60,
    "max_retries": 10,
}


@shared_task(**_DELETE_TASK)
def project_delete_run(project_id: int) -> bool:
    """Delete a project marked for deletion for up to RUN_SECONDS, then re-queue while rows remain; a redelivery
    or a second task only finds fewer rows (every batch is committed alone)."""
    done = project_delete_continue(project_id=project_id, seconds=RUN_SECONDS)
    if not done:
        project_delete_run.delay(project_id)
    return done


@shared_task(**_DELETE_TASK)
def customer_delete_run(customer_id: int) -> bool:
    """Delete a customer marked for deletion, its projects first, as `project_delete_run` does."""
    done = customer_delete_continue(customer_id=customer_id, seconds=RUN_SECONDS)
    if not done:
        customer_delete_run.delay(customer_id)
    return done
