"""The customer company owns projects and its REST API keys (Batch's "company REST API key").

Every key that worked before keeps working, and only where it worked: each project's REST key becomes a REST
key of the project's customer narrowed to that project, each app's REST key one narrowed to that app. Projects
whose free-text customer names differ only in case or surrounding spaces join one customer. Apps get an SDK key
beside their live and dev keys. Going back puts each project's and app's narrowed key back on its row and the
customer's name back in the project; company-wide keys have no place there and are lost.
"""

import hashlib
import secrets
import uuid

import django.db.models.deletion
import django.db.models.functions
from django.conf import settings
from django.db import migrations, models

import batchhub.core.secrets.fields
import batchhub.projects.models


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def customers_from_names(apps, schema_editor):
    Customer = apps.get_model("projects", "Customer")
    Project = apps.get_model("projects", "Project")
    customers: dict[str, object] = {}
    for project in Project.objects.order_by("id"):
        name = (project.customer_name or "").strip() or project.name
        if name.casefold() not in customers:
            customers[name.casefold()] = Customer.objects.create(name=name)
        project.customer = customers[name.casefold()]
        project.save(update_fields=["customer"])


def customer_names_back(apps, schema_editor):
    Project = apps.get_model("projects", "Project")
    for project in Project.objects.select_related("customer"):
        project.customer_name = project.customer.name
        project.save(update_fields=["customer_name"])


def sdk_keys(apps, schema_editor):
    App = apps.get_model("projects", "App")
    for app in App.objects.filter(sdk_api_key__isnull=True):
        app.sdk_api_key = "SDK" + secrets.token_hex(15).upper()[3:]
        app.save(update_fields=["sdk_api_key"])


def rest_keys_from_projects_and_apps(apps, schema_editor):
    RestApiKey = apps.get_model("projects", "RestApiKey")
    Project = apps.get_model("projects", "Project")
    App = apps.get_model("projects", "App")
    seen: dict[str, str] = {}

    def keep(*, project, app, name: str, secret, owner: str) -> None:
        key = secret.reveal()
        if key in seen:  # random 128-bit keys never repeat; if one did, one row could not keep it: say so
            raise RuntimeError(f"{owner} and {seen[key]} share one REST key: give one of them a new key first.")
        seen[key] = owner
        RestApiKey.objects.create(
            code=uuid.uuid4(), customer_id=project.customer_id, project=project, app=app, name=name, secret=key,
            digest=_digest(key),
        )  # fmt: skip

    for project in Project.objects.order_by("id"):
        if project.rest_api_key:
            keep(project=project, app=None, name="Project REST key (from before company keys)",
                 secret=project.rest_api_key, owner=f"project {project.slug}")  # fmt: skip
    for app in App.objects.select_related("project").order_by("id"):
        if app.rest_api_key:
            keep(project=app.project, app=app, name=f"{app.name} {app.platform} REST key (from before company keys)"[:80],
                 secret=app.rest_api_key, owner=f"app {app.live_api_key}")  # fmt: skip


def rest_keys_back(apps, schema_editor):
    RestApiKey = apps.get_model("projects", "RestApiKey")
    Project = apps.get_model("projects", "Project")
    App = apps.get_model("projects", "App")
    working = RestApiKey.objects.filter(revoked_at__isnull=True).order_by("created_at", "id")  # the newest wins
    for key in working.filter(app__isnull=False):
        App.objects.filter(pk=key.app_id).update(rest_api_key=key.secret)
    for key in working.filter(app__isnull=True, project__isnull=False):
        Project.objects.filter(pk=key.project_id).update(rest_api_key=key.secret)


class Migration(migrations.Migration):
    dependencies = [
        ("projects", "0004_apicall_operations_lz4"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Customer",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("name", models.CharField(max_length=120, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"ordering": ["name"]},
        ),
        migrations.AddConstraint(
            model_name="customer",
            constraint=models.UniqueConstraint(
                django.db.models.functions.Lower("name"), name="customer_name_unique_ignoring_case"
            ),
        ),
        migrations.RenameField(model_name="project", old_name="customer", new_name="customer_name"),
        migrations.AddField(
            model_name="project",
            name="customer",
            field=models.ForeignKey(
                null=True, on_delete=django.db.models.deletion.PROTECT, related_name="projects", to="projects.customer"
            ),
        ),
        migrations.RunPython(customers_from_names, customer_names_back),
        migrations.AlterField(
            model_name="project",
            name="customer",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT, related_name="projects", to="projects.customer"
            ),
        ),
        migrations.RemoveField(model_name="project", name="customer_name"),
        migrations.AddField(
            model_name="app",
            name="sdk_api_key",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.RunPython(sdk_keys, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="app",
            name="sdk_api_key",
            field=models.CharField(
                default=batchhub.projects.models.new_sdk_api_key, editable=False, max_length=64, unique=True
            ),
        ),
        migrations.CreateModel(
            name="RestApiKey",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("code", models.UUIDField(default=uuid.uuid4, editable=False, unique=True)),
                ("name", models.CharField(max_length=80)),
                (
                    "secret",
                    batchhub.core.secrets.fields.EncryptedTextField(default=batchhub.projects.models.new_rest_api_key),
                ),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("created_at", models.DateTimeField(auto_now_add=True)),
                ("last_used_at", models.DateTimeField(blank=True, null=True)),
                ("expires_at", models.DateTimeField(blank=True, help_text="End of a rotation's overlap.", null=True)),
                ("revoked_at", models.DateTimeField(blank=True, null=True)),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL,
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="rest_keys", to="projects.customer"
                    ),
                ),
                (
                    "project",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="rest_keys",
                        help_text="Only this project (and its apps); empty: every project of the customer.",
                        to="projects.project",
                    ),
                ),
                (
                    "app",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.CASCADE, related_name="+",
                        help_text="Only this app (legacy).", to="projects.app",
                    ),
                ),
                (
                    "rotated_to",
                    models.ForeignKey(
                        blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name="+",
                        to="projects.restapikey",
                    ),
                ),
            ],
            options={"ordering": ["customer", "project", "created_at"]},
        ),
        migrations.RunPython(rest_keys_from_projects_and_apps, rest_keys_back),
        migrations.RemoveField(model_name="project", name="rest_api_key"),
        migrations.RemoveField(model_name="app", name="rest_api_key"),
    ]
