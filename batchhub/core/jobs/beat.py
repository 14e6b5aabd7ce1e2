"""Beat's scheduler: django-celery-beat's, kept alive through a database outage.

django-celery-beat survives an unreachable database in its change check and its sync, but not in the full
re-read it forces every 5 minutes: the error leaves `tick()` and beat exits, and with it the sweeper that
re-queues stranded work. Here a failed re-read keeps the schedule beat already has and is tried again on the
next tick.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.db import InterfaceError, OperationalError, connections
from django_celery_beat import schedulers

logger = logging.getLogger(__name__)


class DatabaseScheduler(schedulers.DatabaseScheduler):
    def all_as_schedule(self):
        try:
            return super().all_as_schedule()
        except (OperationalError, InterfaceError) as exc:
            connections.close_all()
            logger.warning("beat: the database is unreachable (%s); keeping the current schedule", exc)
            # Try the full re-read again on the next tick rather than in 5 minutes.
            self._last_full_sync = dt.datetime.now() - dt.timedelta(seconds=schedulers.SCHEDULE_SYNC_MAX_INTERVAL)
            return dict(self._schedule or {})
