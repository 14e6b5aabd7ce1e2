from django.db import migrations

from batchhub.core.jobs.schedules import beat_schedule


class Migration(migrations.Migration):
    dependencies = [("core", "0001_initial"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [
        beat_schedule("Worker heartbeat", "batchhub.core.tasks.worker_heartbeat", every_seconds=60, expire_seconds=55)
    ]
