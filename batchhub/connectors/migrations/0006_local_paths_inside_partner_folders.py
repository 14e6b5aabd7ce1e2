"""Local folders are now always inside their partner's own folder: a path saved before, which named that folder
itself (exports/<slug>/… or imports/<slug>/…), loses that prefix, or it would be doubled."""

from django.db import migrations


def paths_trim(apps, schema_editor):
    for model_name, area in (("Destination", "exports"), ("Source", "imports")):
        model = apps.get_model("connectors", model_name)
        for location in model.objects.filter(kind="local").select_related("connector__partner"):
            path = str(location.location.get("path") or "").strip("/")
            own = f"{area}/{location.connector.partner.slug}"
            if path == own or path.startswith(own + "/"):
                location.location = {**location.location, "path": path[len(own) :].strip("/")}
                location.save(update_fields=["location"])


class Migration(migrations.Migration):
    dependencies = [("connectors", "0005_storage_tests_in_a_worker"), ("accounts", "0003_partner_slug")]

    operations = [migrations.RunPython(paths_trim, migrations.RunPython.noop)]
