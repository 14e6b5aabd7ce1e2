from django.db import migrations, models
from django.utils.text import slugify


def slugs_fill(apps, schema_editor):
    Partner = apps.get_model("accounts", "Partner")
    taken: set[str] = set()
    for partner in Partner.objects.order_by("pk"):
        base = slugify(partner.name)[:50] or "partner"
        slug, n = base, 1
        while slug in taken:
            n += 1
            slug = f"{base}-{n}"
        taken.add(slug)
        partner.slug = slug
        partner.save(update_fields=["slug"])


class Migration(migrations.Migration):
    dependencies = [("accounts", "0002_role_groups")]

    operations = [
        migrations.AddField(
            model_name="partner", name="slug", field=models.SlugField(max_length=60, null=True, db_index=False, editable=False)
        ),
        migrations.RunPython(slugs_fill, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="partner",
            name="slug",
            field=models.SlugField(max_length=60, unique=True, editable=False),
        ),
    ]
