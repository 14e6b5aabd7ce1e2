"""Events are stored under one canonical name, without Batch's `ue.` namespace (which Trigger Events clients may
send or not): names stored before with it lose it, so a profile's timeline and any filter see one name.

In batches of primary keys, each its own transaction: a large events table is never locked or rewritten whole.
"""

from django.db import migrations

BATCH = 50_000


def strip_prefix(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute("SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM profiles_profileevent")
        first, last = cursor.fetchone()
        for start in range(first, last + 1, BATCH):
            cursor.execute(
                "UPDATE profiles_profileevent SET name = substr(name, 4) "
                "WHERE id >= %s AND id < %s AND name LIKE 'ue.%%' AND length(name) > 3",
                [start, start + BATCH],
            )


class Migration(migrations.Migration):
    atomic = False  # each batch commits on its own (autocommit)
    dependencies = [("profiles", "0004_api_calls_sweep_schedule")]

    operations = [migrations.RunPython(strip_prefix, migrations.RunPython.noop)]
