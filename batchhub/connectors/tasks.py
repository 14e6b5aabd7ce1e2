"""Background work of connectors: the Test of a destination or source (ids only: no setting, no secret)."""

from __future__ import annotations

import datetime as dt

from celery import shared_task

from batchhub.connectors.models import Destination, Source
from batchhub.connectors.services import storage_test
from batchhub.core.jobs.tasking import enqueue_on_commit

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
