from django.db import migrations


def schedule_sweep(apps, schema_editor):
    IntervalSchedule = apps.get_model("django_celery_beat", "IntervalSchedule")
    PeriodicTask = apps.get_model("django_celery_beat", "PeriodicTask")
    every_minute, _ = IntervalSchedule.objects.get_or_create(every=60, period="seconds")
    PeriodicTask.objects.get_or_create(
        name="Apply stranded API calls",
        defaults={"task": "batchhub.profiles.tasks.api_calls_sweep", "interval": every_minute, "expire_seconds": 55},
    )


class Migration(migrations.Migration):
    dependencies = [("profiles", "0003_appcustomdata_and_more"), ("django_celery_beat", "0019_alter_periodictasks_options")]
    operations = [migrations.RunPython(schedule_sweep, migrations.RunPython.noop)]
