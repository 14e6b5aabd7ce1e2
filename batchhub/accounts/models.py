from __future__ import annotations

import uuid

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.text import slugify


class Partner(models.Model):
    """A partner organisation (marketing automation, attribution, CDP, location platform)."""

    class Kind(models.TextChoices):
        MARKETING_AUTOMATION = "marketing_automation", "Marketing automation"
        ANALYTICS_ATTRIBUTION = "analytics_attribution", "Analytics / attribution"
        CDP_DMP = "cdp_dmp", "CDP / DMP"
        LOCATION = "location", "Location platform"

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120, unique=True)
    # Names the partner's own folders (var/exports/<slug>/, var/imports/<slug>/): set once, unique, never reused.
    slug = models.SlugField(max_length=60, unique=True, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if not self.slug:
            self.slug = partner_slug_free(self.name)
        super().save(*args, **kwargs)


def partner_slug_free(name: str) -> str:
    """A slug of the name that no partner has: `pushwave`, else `pushwave-2`, `pushwave-3`…"""
    base = slugify(name)[:50] or "partner"
    slug, n = base, 1
    while Partner.objects.filter(slug=slug).exists():
        n += 1
        slug = f"{base}-{n}"
    return slug


class User(AbstractUser):
    """A person using the dashboard; a partner user belongs to exactly one Partner."""

    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="members")

    def __str__(self) -> str:
        return self.get_full_name() or self.username
