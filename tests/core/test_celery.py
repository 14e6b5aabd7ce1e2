"""Celery is configured for safety, and a real worker on Redis runs tasks end to end."""

from __future__ import annotations

import os
import time
import uuid

import pytest
from django.conf import settings

from batchhub.celery import app
from batchhub.core.jobs.tasking import QUEUES
from batchhub.core.models import TaskDelivery, WorkerHeartbeat


def _our_tasks():
    app.loader.import_default_modules()
    return {name: task for name, task in app.tasks.items() if name.startswith("batchhub.")}


def test_celery_is_configured_for_safe_retries():
    conf = app.conf
    assert conf.task_serializer == "json"
    assert conf.result_serializer == "json"
    assert list(conf.accept_content) == ["json"]
    assert conf.task_acks_late is True
    assert conf.task_reject_on_worker_lost is True
    assert conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit and conf.task_time_limit > conf.task_soft_time_limit
    assert conf.beat_scheduler == "batchhub.core.jobs.beat:DatabaseScheduler"
    longest = max(
        [conf.task_time_limit, settings.CELERY_LONGEST_TASK_TIME_LIMIT]
        + [t.time_limit for t in _our_tasks().values() if t.time_limit]
    )
    assert conf.broker_transport_options["visibility_timeout"] > 2 * longest
    assert conf.result_backend_transport_options["visibility_timeout"] > 2 * longest
    assert settings.CELERY_TASK_MAX_DELIVERIES >= 2


def test_every_task_acks_late_has_time_limits_and_enqueues_on_commit():
    tasks = _our_tasks()
    assert tasks, "no BatchHub task registered"
    for name, task in tasks.items():
        assert task.acks_late, name
        assert task.reject_on_worker_lost, name
        soft = task.soft_time_limit or app.conf.task_soft_time_limit
        hard = task.time_limit or app.conf.task_time_limit
        assert soft and hard and soft < hard <= settings.CELERY_LONGEST_TASK_TIME_LIMIT, name
        assert hasattr(task, "delay_on_commit"), name
        assert task.queue in QUEUES, f"{name} names no workload queue"


@pytest.mark.worker
def test_api_calls_go_to_their_own_queue_and_a_plain_worker_consumes_every_queue():
    from batchhub.api.tasks import api_calls_apply
    from batchhub.core.tasks import worker_heartbeat

    assert QUEUES == ("api", "imports", "exports", "lifecycle", "default")
    assert {queue.name for queue in app.conf.task_queues} == set(QUEUES)  # a worker without --queues
    with app.connection_for_write() as connection:
        redis = connection.default_channel.client
        redis.delete("api", "default")
        api_calls_apply.apply_async((0,))
        worker_heartbeat.apply_async()
        assert (redis.llen("api"), redis.llen("default")) == (1, 1)
        redis.delete("api", "default")


@pytest.mark.portable
@pytest.mark.django_db
def test_heartbeat_task_records_the_worker():
    from batchhub.core.tasks import worker_heartbeat

    worker_heartbeat.delay()
    assert WorkerHeartbeat.objects.count() == 1


@pytest.fixture
def redis_worker():
    from celery.contrib.testing.worker import start_worker

    assert os.environ.get("REDIS_URL"), "the worker round trip needs REDIS_URL (make test sets it)"
    assert app.conf.broker_url.startswith("redis://")
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=20) as worker:
        yield worker


def _wait_for(predicate, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_a_task_through_redis(redis_worker):
    from batchhub.core.tasks import worker_heartbeat

    result = worker_heartbeat.apply_async()
    delivery = _wait_for(
        lambda: TaskDelivery.objects.filter(task_id=result.id, status=TaskDelivery.Status.SUCCEEDED).first()
    )
    assert delivery.deliveries == 1
    assert WorkerHeartbeat.objects.count() == 1


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_message_past_its_delivery_cap_is_dropped_not_run(redis_worker):
    from batchhub.core.tasks import worker_heartbeat

    task_id = str(uuid.uuid4())
    TaskDelivery.objects.create(
        task_id=task_id, task_name=worker_heartbeat.name, deliveries=settings.CELERY_TASK_MAX_DELIVERIES
    )
    worker_heartbeat.apply_async(task_id=task_id)
    _wait_for(lambda: TaskDelivery.objects.filter(task_id=task_id, status=TaskDelivery.Status.DEAD).exists())
    assert not WorkerHeartbeat.objects.exists()


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_delivery_of_a_succeeded_task_does_not_run_again(redis_worker):
    from batchhub.core.tasks import worker_heartbeat

    task_id = str(uuid.uuid4())
    TaskDelivery.objects.create(
        task_id=task_id, task_name=worker_heartbeat.name, deliveries=1, status=TaskDelivery.Status.SUCCEEDED
    )
    worker_heartbeat.apply_async(task_id=task_id)
    follower = worker_heartbeat.apply_async()  # the solo worker takes messages in order
    _wait_for(lambda: TaskDelivery.objects.filter(task_id=follower.id, status="succeeded").exists())
    duplicate = TaskDelivery.objects.get(task_id=task_id)
    assert (duplicate.deliveries, duplicate.status) == (1, TaskDelivery.Status.SUCCEEDED)


@pytest.mark.django_db(transaction=True)
def test_beat_keeps_its_schedule_through_a_database_outage(database_down):
    """django-celery-beat's forced re-read raises when the database is away, and beat exits: ours keeps going."""
    import datetime as dt

    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from batchhub.core.jobs.beat import DatabaseScheduler

    every_minute = IntervalSchedule.objects.create(every=60, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(
        name="Worker heartbeat", task="batchhub.core.tasks.worker_heartbeat", interval=every_minute
    )
    scheduler = DatabaseScheduler(app=app)
    known = set(scheduler.schedule)
    assert "Worker heartbeat" in known

    down, back = database_down
    down()
    scheduler._last_full_sync -= dt.timedelta(minutes=10)  # the forced full re-read is due
    for _ in range(3):
        assert scheduler.tick() >= 0  # did not raise
    assert set(scheduler.schedule) == known

    back()
    scheduler.tick()
    assert set(scheduler.schedule) == known
