"""Events are stored under one canonical name, without Batch's `ue.` namespace (which Trigger Events clients may
send or not): names stored before with it lose it, so a profile's timeline and any filter see one name."""

from django.db import migrations

STRIP_PREFIX = """
UPDATE profiles_profileevent SET name = substr(name, 4)
WHERE name LIKE 'ue.%' AND length(name) > 3
"""


class Migration(migrations.Migration):
    dependencies = [("profiles", "0004_api_calls_sweep_schedule")]

    operations = [migrations.RunSQL(STRIP_PREFIX, migrations.RunSQL.noop)]
