from __future__ import annotations

from celery import shared_task

from batchhub.core.services import worker_heartbeat_record


@shared_task(queue="default", soft_time_limit=20, time_limit=30)
def worker_heartbeat() -> str:
    """Record that a worker is alive and consuming (scheduled every minute by beat)."""
    hostname = worker_heartbeat.request.hostname or "unknown"
    worker_heartbeat_record(hostname=hostname)
    return hostname
