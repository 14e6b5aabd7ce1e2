"""An outage of PostgreSQL or Redis as a request meets it: answered 503 with `Retry-After`, not 500.

Batch documents 503 for unavailability; a client retries after the wait it is given. The request's own
database connection is closed, so the next request opens a fresh one instead of failing on a stale one.
"""

from __future__ import annotations

import logging
import select

from django.db import InterfaceError, OperationalError, connections
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

OUTAGE_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
RETRY_AFTER_SECONDS = 10
UNAVAILABLE_MESSAGE = (
    f"The service is briefly unavailable (database or cache); nothing was stored. Retry in {RETRY_AFTER_SECONDS} s."
)


def outage_met(exc: BaseException | None, *, method: str, path: str) -> bool:
    """Whether `exc` is an outage (then logged once, without a traceback, and the connection dropped)."""
    if not isinstance(exc, OUTAGE_ERRORS):
        return False
    logger.warning("service unavailable on %s %s: %s: %s", method, path, type(exc).__name__, exc)
    for connection in connections.all(initialized_only=True):
        connection.close_if_unusable_or_obsolete()
    return True


def dead_connections_dropped(**_) -> None:
    """Receiver of `request_started`: drop a kept PostgreSQL connection the server has already closed.

    An idle connection has nothing to read unless the server hung up (a restart sends its goodbye, a crash an
    end of file): checking that costs no round trip, where Django's health check (`CONN_HEALTH_CHECKS`) sends
    a query before every request. A connection lost without a word (a network cut) still fails its request,
    which is then answered 503 and dropped.
    """
    for connection in connections.all(initialized_only=True):
        raw = connection.connection
        if connection.vendor != "postgresql" or raw is None or connection.in_atomic_block:
            continue
        poller = select.poll()  # not select.select: it refuses descriptors above 1023
        try:
            poller.register(raw.fileno(), select.POLLIN)
            hung_up = bool(poller.poll(0))
        except (OSError, ValueError):
            hung_up = True
        if hung_up:
            logger.info("database connection %s was closed by the server; dropped before use", connection.alias)
            connection.close()
