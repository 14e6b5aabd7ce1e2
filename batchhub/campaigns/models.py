from __future__ import annotations

import secrets
import uuid

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


class Campaign(models.Model):
    """A push, in-app or email campaign; a draft (`is_live` false) can serve as a transactional template."""

    Channel = CampaignChannel

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="campaigns")
    app = models.ForeignKey("projects.App", null=True, blank=True, on_delete=models.CASCADE, related_name="campaigns")
    token = models.CharField(max_length=64, unique=True, default=new_campaign_token, editable=False)
    name = models.CharField(max_length=200)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    is_live = models.BooleanField(default=False, db_column="live")
    title = models.CharField(max_length=200, blank=True)
    body = models.TextField(blank=True)
    deeplink = models.CharField(max_length=2048, blank=True)
    media_url = models.URLField(max_length=2048, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        indexes = [models.Index(fields=["project", "is_live", "-updated_at"], name="campaign_project_live")]
        constraints = [
            models.CheckConstraint(condition=Q(channel__in=CampaignChannel.values), name="campaign_channel_valid")
        ]

    def __str__(self) -> str:
        return self.name
