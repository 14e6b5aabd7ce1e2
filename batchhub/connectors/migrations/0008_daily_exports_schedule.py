from django.db import migrations

from batchhub.core.jobs.schedules import beat_schedule


class Migration(migrations.Migration):
    dependencies = [("connectors", "0007_export_configs_and_runs"), ("django_celery_beat", "0019_alter_periodictasks_options")]

    operations = [
        # Each UTC day at 02:00, yesterday's run of every enabled export config (editable in the admin).
        beat_schedule("Daily exports", "batchhub.connectors.tasks.exports_daily", crontab={"minute": "0", "hour": "2"}),
    ]
