from django.db import migrations

from batchhub.core.jobs.schedules import beat_schedule


class Migration(migrations.Migration):
    dependencies = [("connectors", "0010_export_manifest_and_backfills"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        # Every 10 minutes, queue again the export runs and backfills whose task was lost.
        beat_schedule("Resume exports", "batchhub.connectors.tasks.exports_resume", every_seconds=600, expire_seconds=550),
    ]
