from django.db import migrations


class Migration(migrations.Migration):
    """IdempotencyRecord moved to the api app (api/0001 took over its table): only the state goes here."""

    dependencies = [('core', '0004_task_deliveries_plural'), ("api", "0001_initial")]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="IdempotencyRecord")])]
