from django.db import migrations

from batchhub.core.jobs.schedules import beat_schedule


class Migration(migrations.Migration):
    dependencies = [("profiles", "0003_appcustomdata_and_more"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [
        beat_schedule(
            "Apply stranded API calls", "batchhub.profiles.tasks.api_calls_sweep", every_seconds=60, expire_seconds=55
        )
    ]
