"""Background work: the Celery task base (late acks, redelivery cap), enqueueing, beat's scheduler and the
migration operation that schedules a task, runs (claim, progress, finish) and the retention job."""
