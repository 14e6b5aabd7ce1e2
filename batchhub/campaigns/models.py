from __future__ import annotations

import secrets
import uuid

from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q


def new_campaign_token() -> str:
    return secrets.token_hex(16)


# Choices live at module level so that the model's Meta (which cannot see the class body) builds its check
# constraint from them; the model offers each under its usual inner name (Campaign.Channel).
class CampaignChannel(models.TextChoices):
    PUSH = "push", "Push"
    INAPP = "inapp", "In-app"
    EMAIL = "email", "Email"


class CampaignPriority(models.TextChoices):
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"


class Campaign(models.Model):
    """A push, in-app or email campaign of an app (or of a project, for one not bound to an app). A draft (`is_live`
    false) can serve as a transactional template: its token is the `template_id` the Transactional API takes.

    When it is sent: `push_time` (an instant; "now" is stored as the time of the call) or `local_push_time` (a wall
    clock time in each user's own time zone, stored as `YYYY-MM-DDTHH:MM:SS`), never both. Its content is one
    `CampaignMessage` per language; the deeplink, media, custom payload and labels are the campaign's. A deleted
    campaign keeps its row (`deleted_at`), so a template_id of a deleted draft is refused saying so."""

    Channel = CampaignChannel
    Priority = CampaignPriority

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="campaigns")
    app = models.ForeignKey("projects.App", null=True, blank=True, on_delete=models.CASCADE, related_name="campaigns")
    token = models.CharField(max_length=64, unique=True, default=new_campaign_token, editable=False)
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    is_live = models.BooleanField(default=False, db_column="live")
    dev_only = models.BooleanField(default=False, help_text="made with a dev API key: only dev builds receive it")
    from_api = models.BooleanField(default=False, help_text="created through the Campaigns API")
    push_time = models.DateTimeField(null=True, blank=True)
    local_push_time = models.CharField(max_length=19, blank=True, help_text="YYYY-MM-DDTHH:MM:SS, each user's time")
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.NORMAL)
    deeplink = models.CharField(max_length=2048, blank=True)
    media_icon = models.URLField(max_length=2048, blank=True)
    media_picture = models.URLField(max_length=2048, blank=True)
    custom_payload = models.TextField(blank=True, help_text="a JSON object, as a string (what the app receives)")
    labels = models.JSONField(default=list, blank=True)
    targeting = models.JSONField(default=list, blank=True, help_text="custom audience names")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["project", "is_live", "-updated_at"], name="campaign_project_live")]
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=CampaignChannel.values), name="campaign_channel_valid"),
            models.CheckConstraint(condition=Q(priority__in=CampaignPriority.values), name="campaign_priority_valid"),
            models.CheckConstraint(
                condition=Q(push_time__isnull=True) | Q(local_push_time=""), name="campaign_one_push_time"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class CampaignMessage(models.Model):
    """A campaign's content in one language (`language` an ISO 639-1 code, or "default" for everyone else)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="messages")
    language = models.CharField(max_length=16, default="default")
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField()

    class Meta:
        ordering = ["campaign", "language"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "language"], name="campaignmessage_one_per_language"),
        ]

    def __str__(self) -> str:
        return f"{self.language}: {self.title or self.body[:40]}"


class TransactionalSend(models.Model):
    """One Transactional API send, applied (`campaigns.sending`): its recipients resolved to the app's
    installations, each delivery recorded as a raw push event (source transactional, this token, the group id).
    `token` is the API call's, which the caller got back; one row per send, whatever retries the worker made."""

    token = models.UUIDField(unique=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    app = models.ForeignKey("projects.App", on_delete=models.CASCADE, related_name="+")
    group_id = models.CharField(max_length=100)
    template = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.SET_NULL, related_name="sends")
    recipients = models.PositiveIntegerField(help_text="ids given")
    unknown = models.PositiveIntegerField(default=0, help_text="ids that name no installation of the app")
    sent = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0, help_text="installations opted out or without a push token")
    created_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["app", "group_id", "created_at"], name="txsend_app_group_time")]

    def __str__(self) -> str:
        return f"send {self.token} ({self.group_id})"


SCENARIO_PATTERN = r"^[A-Za-z0-9_.-]{1,100}$"


class TemplateBinding(models.Model):
    """A draft picked in the template picker for one partner-side scenario of a connector (unique per connector).
    `content_fingerprint` is the draft's content when it was bound, so the picker can warn that it changed since."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connector = models.ForeignKey("connectors.Connector", on_delete=models.CASCADE, related_name="template_bindings")
    scenario = models.CharField(
        max_length=100,
        validators=[RegexValidator(SCENARIO_PATTERN, "Letters, digits, dot, dash and underscore only (up to 100).")],
    )
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="bindings")
    content_fingerprint = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scenario"]
        constraints = [
            models.UniqueConstraint(fields=["connector", "scenario"], name="templatebinding_one_per_scenario"),
        ]

    def __str__(self) -> str:
        return f"{self.scenario} → {self.campaign_id}"
