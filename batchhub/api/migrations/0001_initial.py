
import batchhub.api.appliers
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('projects', '0006_deleting_in_background'),
        ('core', '0004_task_deliveries_plural'),
    ]

    # The two models move here from projects and core: their tables stay (renamed in 0002), only the state moves.
    operations = [migrations.SeparateDatabaseAndState(state_operations=[
        migrations.CreateModel(
            name='IdempotencyRecord',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('scope', models.CharField(help_text="who sent it (the API key's owner)", max_length=120)),
                ('key', models.CharField(max_length=255)),
                ('request_hash', models.CharField(max_length=64)),
                ('status_code', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('body', models.TextField(blank=True)),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True)),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('scope', 'key'), name='idempotency_unique_scope_key')],
                'db_table': 'core_idempotencyrecord',
            },
        ),
        migrations.CreateModel(
            name='ApiCall',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('token', models.UUIDField(blank=True, null=True, unique=True)),
                ('route', models.CharField(max_length=80)),
                ('status_code', models.PositiveSmallIntegerField()),
                ('error_code', models.CharField(blank=True, max_length=40)),
                ('error_message', models.CharField(blank=True, max_length=500)),
                ('kind', models.CharField(blank=True, choices=batchhub.api.appliers.kind_choices, help_text='which applier applies it', max_length=40)),
                ('operations', models.TextField(blank=True, help_text='normalised operations, or a request body already in normal form, JSON')),
                ('apply_status', models.CharField(choices=[('none', 'Nothing to apply'), ('pending', 'Pending'), ('applied', 'Applied'), ('failed', 'Failed')], default='none', max_length=8)),
                ('counts', models.JSONField(blank=True, default=dict)),
                ('apply_error', models.TextField(blank=True)),
                ('created_at', models.DateTimeField()),
                ('applied_at', models.DateTimeField(blank=True, null=True)),
                ('app', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='projects.app')),
                ('project', models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='api_calls', to='projects.project')),
            ],
            options={
                'indexes': [models.Index(fields=['project', '-created_at'], name='apicall_project_recent'), models.Index(condition=models.Q(('apply_status', 'pending')), fields=['apply_status', 'id'], name='apicall_pending'), ],
                'db_table': 'projects_apicall',
            },
        ),
    ])]
