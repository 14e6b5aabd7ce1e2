"""Raw events exported to partners (push and in-app). Connector models arrive with their own issue."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


# Choices live at module level so that each model's Meta (which cannot see the class body) builds its check
# constraints from them; the models offer them under their usual inner names (PushEvent.Type, …).
class PushEventType(models.TextChoices):
    PUSH_SENT = "push_sent"
    PUSH_OPENED = "push_opened"
    PUSH_ERROR = "push_error"
    PUSH_OPTIN = "push_optin"
    PUSH_OPTOUT = "push_optout"
    TOKEN_DELETED = "token_deleted"  # noqa: S105 - an event type


class PushEventSource(models.TextChoices):
    CAMPAIGN = "campaign"
    TRANSACTIONAL = "transactional"


class InAppEventType(models.TextChoices):
    SUPPLIED = "inapp_supplied"
    SHOWN = "inapp_shown"
    CLICKED = "inapp_clicked"
    CLOSED = "inapp_closed"


class PushEvent(models.Model):
    Type = PushEventType
    Source = PushEventSource

    app = models.ForeignKey("projects.App", on_delete=models.CASCADE, related_name="+", db_index=False)
    installation = models.ForeignKey("profiles.Installation", on_delete=models.CASCADE, related_name="+")
    custom_id = models.CharField(max_length=512, null=True, blank=True)
    occurred_at = models.DateTimeField()
    type = models.CharField(max_length=16, choices=Type.choices)
    source = models.CharField(max_length=16, choices=Source.choices, null=True, blank=True)
    token = models.CharField(max_length=64, null=True, blank=True, help_text="campaign or transactional token")
    group_id = models.CharField(max_length=128, null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["app", "occurred_at"], name="pushevent_app_time")]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=PushEventType.values), name="pushevent_type_valid"),
            models.CheckConstraint(
                condition=Q(source__isnull=True) | Q(source__in=PushEventSource.values),
                name="pushevent_source_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.occurred_at:%Y-%m-%dT%H:%M:%S}"


class InAppEvent(models.Model):
    Type = InAppEventType

    app = models.ForeignKey("projects.App", on_delete=models.CASCADE, related_name="+", db_index=False)
    installation = models.ForeignKey("profiles.Installation", on_delete=models.CASCADE, related_name="+")
    custom_id = models.CharField(max_length=512, null=True, blank=True)
    occurred_at = models.DateTimeField()
    type = models.CharField(max_length=16, choices=Type.choices)
    campaign_token = models.CharField(max_length=64)
    cta_position = models.PositiveSmallIntegerField(null=True, blank=True)
    cta_action = models.CharField(max_length=200, blank=True)

    class Meta:
        indexes = [models.Index(fields=["app", "occurred_at"], name="inappevent_app_time")]
        constraints = [
            models.CheckConstraint(condition=Q(type__in=InAppEventType.values), name="inappevent_type_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.occurred_at:%Y-%m-%dT%H:%M:%S}"
