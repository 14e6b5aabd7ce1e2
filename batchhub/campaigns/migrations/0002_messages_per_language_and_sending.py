import django.db.models.deletion
from django.db import migrations, models


def messages_from_titles(apps, schema_editor):
    """Each campaign's title and body become its message for every language ("default")."""
    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignMessage = apps.get_model("campaigns", "CampaignMessage")
    CampaignMessage.objects.bulk_create(
        CampaignMessage(campaign_id=pk, language="default", title=title, body=body)
        for pk, title, body in Campaign.objects.values_list("pk", "title", "body").iterator()
        if title or body
    )


def titles_from_messages(apps, schema_editor):
    Campaign = apps.get_model("campaigns", "Campaign")
    CampaignMessage = apps.get_model("campaigns", "CampaignMessage")
    messages = CampaignMessage.objects.annotate(
        other=models.Case(models.When(language="default", then=0), default=1, output_field=models.IntegerField())
    )  # the "default" message first, then the others by language
    for message in messages.order_by("campaign_id", "other", "language").iterator():
        Campaign.objects.filter(pk=message.campaign_id, body="").update(title=message.title, body=message.body)


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0001_initial"), ("projects", "0008_inactivity_months_next")]

    operations = [
        migrations.CreateModel(
            name="CampaignMessage",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("language", models.CharField(default="default", max_length=16)),
                ("title", models.CharField(blank=True, max_length=200)),
                ("body", models.TextField()),
                (
                    "campaign",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="messages", to="campaigns.campaign"
                    ),
                ),
            ],
            options={"ordering": ["campaign", "language"]},
        ),
        migrations.AddConstraint(
            model_name="campaignmessage",
            constraint=models.UniqueConstraint(fields=("campaign", "language"), name="campaignmessage_one_per_language"),
        ),
        migrations.RunPython(messages_from_titles, titles_from_messages),
        migrations.RemoveField(model_name="campaign", name="body"),
        migrations.RemoveField(model_name="campaign", name="title"),
        migrations.RenameField(model_name="campaign", old_name="media_url", new_name="media_picture"),
        migrations.AddField(model_name="campaign", name="media_icon", field=models.URLField(blank=True, max_length=2048)),
        migrations.AddField(
            model_name="campaign",
            name="custom_payload",
            field=models.TextField(blank=True, help_text="a JSON object, as a string (what the app receives)"),
        ),
        migrations.AddField(model_name="campaign", name="deleted_at", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="campaign",
            name="dev_only",
            field=models.BooleanField(default=False, help_text="made with a dev API key: only dev builds receive it"),
        ),
        migrations.AddField(
            model_name="campaign",
            name="from_api",
            field=models.BooleanField(default=False, help_text="created through the Campaigns API"),
        ),
        migrations.AddField(model_name="campaign", name="labels", field=models.JSONField(blank=True, default=list)),
        migrations.AddField(
            model_name="campaign",
            name="local_push_time",
            field=models.CharField(blank=True, help_text="YYYY-MM-DDTHH:MM:SS, each user's time", max_length=19),
        ),
        migrations.AddField(
            model_name="campaign",
            name="priority",
            field=models.CharField(choices=[("normal", "Normal"), ("high", "High")], default="normal", max_length=8),
        ),
        migrations.AddField(model_name="campaign", name="push_time", field=models.DateTimeField(blank=True, null=True)),
        migrations.AddField(
            model_name="campaign",
            name="targeting",
            field=models.JSONField(blank=True, default=list, help_text="custom audience names"),
        ),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.CheckConstraint(
                condition=models.Q(("priority__in", ["normal", "high"])), name="campaign_priority_valid"
            ),
        ),
        migrations.AddConstraint(
            model_name="campaign",
            constraint=models.CheckConstraint(
                condition=models.Q(("push_time__isnull", True), ("local_push_time", ""), _connector="OR"),
                name="campaign_one_push_time",
            ),
        ),
    ]
