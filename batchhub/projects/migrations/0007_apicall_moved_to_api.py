from django.db import migrations


class Migration(migrations.Migration):
    """ApiCall moved to the api app (api/0001 took over its table): only the state goes here."""

    dependencies = [('projects', '0006_deleting_in_background'), ("api", "0001_initial")]

    operations = [migrations.SeparateDatabaseAndState(state_operations=[migrations.DeleteModel(name="ApiCall")])]
