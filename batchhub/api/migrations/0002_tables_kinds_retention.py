from django.db import migrations, models

from batchhub.core.jobs.schedules import beat_task_renamed

# Kinds of calls stored before appliers were registered by app: "events" is now "profiles.events".
_OLD_KINDS = ("custom_data", "custom_data_delete", "events", "events_raw", "profile_update")


def kinds_namespaced(apps, schema_editor):
    ApiCall = apps.get_model("api", "ApiCall")
    for kind in _OLD_KINDS:
        ApiCall.objects.filter(kind=kind).update(kind=f"profiles.{kind}")


def kinds_bare(apps, schema_editor):
    ApiCall = apps.get_model("api", "ApiCall")
    for kind in _OLD_KINDS:
        ApiCall.objects.filter(kind=f"profiles.{kind}").update(kind=kind)


class Migration(migrations.Migration):
    dependencies = [
        ("api", "0001_initial"),
        ("projects", "0007_apicall_moved_to_api"),
        ("core", "0005_idempotencyrecord_moved_to_api"),
        ("profiles", "0005_event_names_without_ue_prefix"),
        ("django_celery_beat", "0019_alter_periodictasks_options"),
    ]

    operations = [
        migrations.AlterModelTable(name="apicall", table=None),
        migrations.AlterModelTable(name="idempotencyrecord", table=None),
        migrations.AddIndex(
            model_name="apicall",
            index=models.Index(condition=models.Q(("apply_status", "failed")), fields=["created_at"], name="apicall_failed"),
        ),
        migrations.RunPython(kinds_namespaced, kinds_bare),
        beat_task_renamed("batchhub.profiles.tasks.api_calls_sweep", "batchhub.api.tasks.api_calls_sweep"),
    ]
