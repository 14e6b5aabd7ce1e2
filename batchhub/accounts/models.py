from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models


class Partner(models.Model):
    """A partner organisation (marketing automation, attribution, CDP, location platform)."""

    class Kind(models.TextChoices):
        MARKETING_AUTOMATION = "marketing_automation", "Marketing automation"
        ANALYTICS_ATTRIBUTION = "analytics_attribution", "Analytics / attribution"
        CDP_DMP = "cdp_dmp", "CDP / DMP"
        LOCATION = "location", "Location platform"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class User(AbstractUser):
    """A person using the dashboard; a partner user belongs to exactly one Partner."""

    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="members")

    def __str__(self) -> str:
        return self.get_full_name() or self.username
