from __future__ import annotations

import uuid

from django.db import models
from django.db.models import Q

from batchhub.core.models import Run


# At module level so that Profile's Meta (which cannot see the class body) builds its check constraint from
# it; the model offers it under its usual inner name (Profile.Subscription).
class ProfileSubscription(models.TextChoices):
    SUBSCRIBED = "subscribed"
    UNSUBSCRIBED = "unsubscribed"


class Profile(models.Model):
    """The omnichannel user of a project, keyed by custom_id (anonymous profiles have none)."""

    Subscription = ProfileSubscription

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="profiles", db_index=False
    )  # indexed by the composite indexes below
    custom_id = models.CharField(max_length=512, null=True, blank=True)
    email = models.EmailField(max_length=254, null=True, blank=True)
    email_marketing = models.CharField(max_length=16, choices=Subscription.choices, null=True, blank=True)
    phone_number = models.CharField(max_length=32, null=True, blank=True)
    language = models.CharField(max_length=16, blank=True)
    region = models.CharField(max_length=16, blank=True)
    timezone = models.CharField(max_length=64, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    # Tag collections: {"collection": ["tag", …]}
    tags = models.JSONField(default=dict, blank=True)
    last_activity_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            # NULLs never collide, so anonymous profiles need no condition; a plain constraint lets
            # the ingest upsert use ON CONFLICT (project_id, custom_id).
            models.UniqueConstraint(fields=["project", "custom_id"], name="profile_unique_custom_id_per_project"),
            models.CheckConstraint(
                condition=Q(email_marketing__isnull=True) | Q(email_marketing__in=ProfileSubscription.values),
                name="profile_email_marketing_valid",
            ),
        ]
        indexes = [
            # the purge scan (rule in purge_rule.py)
            models.Index(fields=["project", "last_activity_at"], name="profile_project_activity"),
            # keyset pagination of a project's list (newest first)
            models.Index(fields=["project", "-id"], name="profile_project_id"),
            # prefix search by custom id / email in the list
            models.Index(
                fields=["project", "custom_id"],
                name="profile_project_cid_prefix",
                opclasses=["", "varchar_pattern_ops"],
            ),
            models.Index(
                fields=["project", "email"],
                name="profile_project_email_prefix",
                opclasses=["", "varchar_pattern_ops"],
            ),
        ]

    def __str__(self) -> str:
        return self.custom_id or self.email or f"anonymous {str(self.code)[:8]}"


class ProfileEvent(models.Model):
    """An event of a profile (trigger events API, SDK, imports)."""

    class Source(models.TextChoices):
        API = "api", "API"
        SDK = "sdk", "SDK"
        IMPORT = "import", "Import"

    profile = models.ForeignKey(Profile, on_delete=models.CASCADE, related_name="events", db_index=False)
    name = models.CharField(max_length=64)
    label = models.CharField(max_length=200, blank=True)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=list, blank=True)
    occurred_at = models.DateTimeField()
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.API)

    class Meta:
        indexes = [models.Index(fields=["profile", "-occurred_at"], name="profileevent_profile_time")]

    def __str__(self) -> str:
        return f"{self.name} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class Installation(models.Model):
    """The app-centric user: one install of one app. Never deleted by a profile purge."""

    app = models.ForeignKey("projects.App", on_delete=models.CASCADE, related_name="installations", db_index=False)
    installation_id = models.CharField(max_length=64)
    custom_id = models.CharField(max_length=512, null=True, blank=True)
    # The profile it feeds, if any; a purged profile leaves the installation unlinked.
    profile = models.ForeignKey(Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="installations")
    advertising_id = models.CharField(max_length=64, null=True, blank=True)
    push_token = models.CharField(max_length=512, null=True, blank=True)
    push_optin = models.BooleanField(default=False)
    last_seen_at = models.DateTimeField()
    created_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["app", "installation_id"], name="installation_unique_per_app"),
        ]
        indexes = [
            models.Index(fields=["app", "custom_id"], name="installation_app_custom_id"),
            models.Index(fields=["app", "advertising_id"], name="installation_app_adid"),
            # a transactional send to push tokens: one token 116 ms over 1,000,000 installations without it, 0.7 ms
            # with it (98 MB)
            models.Index(fields=["app", "push_token"], name="installation_app_push_token"),
        ]

    def __str__(self) -> str:
        return self.installation_id


class AppCustomData(models.Model):
    """Custom data of a user at app level (Custom Data API); `overwrite` replaces it without touching the Profile."""

    app = models.ForeignKey("projects.App", on_delete=models.CASCADE, related_name="+", db_index=False)
    custom_id = models.CharField(max_length=512)
    attributes = models.JSONField(default=dict, blank=True)
    tags = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "custom_id"], name="appcustomdata_unique_user")]

    def __str__(self) -> str:
        return f"{self.custom_id} @ {self.app_id}"


class PurgeRun(Run):
    """A purge of a project's inactive profiles: beat's of one UTC day (one per project and day), or one started by
    the `profiles_purge` command. Its cutoff is fixed when it is created, so a run resumed after a kill deletes what
    it would have."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+", db_index=False)
    day = models.DateField(help_text="the UTC day it was started for")
    inactivity_months = models.PositiveSmallIntegerField(help_text="the period applied")
    cutoff = models.DateTimeField(help_text="profiles whose last activity is before this instant are deleted")

    class Via(models.TextChoices):
        SCHEDULE = "schedule", "the daily schedule"
        COMMAND = "command", "the profiles_purge command"

    started_via = models.CharField(max_length=16, choices=Via.choices, default=Via.SCHEDULE)
    deleted = models.JSONField(default=dict, blank=True, help_text="rows deleted (or unlinked) per table")
    batches = models.PositiveIntegerField(default=0)
    longest_transaction_ms = models.PositiveIntegerField(default=0)
    # Where the batches are: the last activity of the last profile deleted (the scan goes up from there).
    resume_from = models.DateTimeField(null=True, blank=True)

    class Meta(Run.Meta):
        ordering = ["-day", "-id"]
        constraints = [
            *Run.Meta.constraints,
            models.UniqueConstraint(
                fields=["project", "day"], condition=Q(started_via="schedule"), name="purgerun_one_scheduled_a_day"
            ),
        ]

    def __str__(self) -> str:
        return f"purge run {self.day} {self.status}"
