"""A project or a customer can be marked as being deleted: its rows then go in the background, in batches.

Nullable and defaulted columns: on PostgreSQL adding them rewrites nothing.
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('projects', '0005_customer_rest_keys'),
    ]

    operations = [
        migrations.AddField(
            model_name='customer',
            name='deleting_since',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='customer',
            name='deletion_counts',
            field=models.JSONField(blank=True, default=dict, editable=False, help_text='rows deleted so far'),
        ),
        migrations.AddField(
            model_name='project',
            name='deleting_since',
            field=models.DateTimeField(blank=True, editable=False, null=True),
        ),
        migrations.AddField(
            model_name='project',
            name='deletion_counts',
            field=models.JSONField(blank=True, default=dict, editable=False, help_text='rows deleted so far'),
        ),
    ]
