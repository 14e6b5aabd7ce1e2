from __future__ import annotations

import uuid
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import IntegrityError, models, transaction
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
    # Names the partner's own folders (var/exports/<slug>/, var/imports/<slug>/): set once, unique, never reused
    # (partner_slug_free).
    slug = models.SlugField(max_length=60, unique=True, editable=False)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    website = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs):
        if self.slug:
            return super().save(*args, **kwargs)
        for attempt in range(5):  # two partners named alike, created at once: the second takes the next slug
            self.slug = partner_slug_free(self.name, skip=attempt)
            try:
                with transaction.atomic():
                    return super().save(*args, **kwargs)
            except IntegrityError:
                if not Partner.objects.filter(slug=self.slug).exists() or attempt == 4:
                    raise  # another constraint (the name), or no luck: as any save would
        return None


def partner_slug_free(name: str, *, skip: int = 0) -> str:
    """A slug of the name never used: no partner has it and no partner folder of the storage is named so (a deleted
    partner's files stay on disk; a newcomer named alike must not inherit them). `pushwave`, else `pushwave-2`…;
    `skip` passes over that many free ones."""
    base = slugify(name)[:50] or "partner"
    root = Path(settings.STORAGE_LOCAL_ROOT)
    n = 0
    while True:
        n += 1
        slug = base if n == 1 else f"{base}-{n}"
        taken = Partner.objects.filter(slug=slug).exists() or any(
            (root / area / slug).exists() for area in ("exports", "imports")
        )
        if not taken:
            if skip == 0:
                return slug
            skip -= 1


class User(AbstractUser):
    """A person using the dashboard; a partner user belongs to exactly one Partner."""

    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="members")

    def __str__(self) -> str:
        return self.get_full_name() or self.username
