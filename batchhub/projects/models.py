from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower

from batchhub.core.models import ApiKey, api_key_digest, new_api_key

MAX_INACTIVITY_MONTHS = 13


def months_text(months: int) -> str:
    """'1 month', '13 months': the inactivity period as messages say it."""
    return f"{months} month{'' if months == 1 else 's'}"


def new_project_key() -> str:
    return "project_" + secrets.token_hex(12)


def new_live_api_key() -> str:
    return secrets.token_hex(15).upper()


def new_dev_api_key() -> str:
    return "DEV" + secrets.token_hex(15).upper()[3:]


def new_sdk_api_key() -> str:
    return "SDK" + secrets.token_hex(15).upper()[3:]


# kept under their old names: migrations and the API's authentication refer to them
new_rest_api_key = new_api_key
rest_key_digest = api_key_digest


class Customer(models.Model):
    """The customer company: owns projects and the REST API keys that work for them (Batch's "company key")."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # Set when its deletion is asked for: its projects go in the background (services.customer_delete_request).
    deleting_since = models.DateTimeField(null=True, blank=True, editable=False)
    deletion_counts = models.JSONField(default=dict, blank=True, editable=False, help_text="rows deleted so far")

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(Lower("name"), name="customer_name_unique_ignoring_case")]

    def __str__(self) -> str:
        return self.name


class Project(models.Model):
    """A customer's group of apps with a unified base of Profiles."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    slug = models.SlugField(max_length=120, unique=True)
    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="projects")
    inactivity_months = models.PositiveSmallIntegerField(
        default=MAX_INACTIVITY_MONTHS,
        validators=[MinValueValidator(1), MaxValueValidator(MAX_INACTIVITY_MONTHS)],
        help_text="Profiles without activity for this many months are purged (13 at most).",
    )
    # A shorter period chosen by a CSM, waiting for the next purge run: it is applied when that run starts (never
    # at once), and it can be cancelled until then.
    inactivity_months_next = models.PositiveSmallIntegerField(
        null=True,
        blank=True,
        editable=False,
        help_text="The shorter period the next purge run applies; empty: no change waiting.",
    )
    api_rate_limit_per_minute = models.PositiveIntegerField(
        default=6000, help_text="API calls per minute allowed for each key of this project."
    )
    # Public identifier, sent in X-Batch-Project by project-level API calls.
    key = models.CharField(max_length=64, unique=True, default=new_project_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # Set when its deletion is asked for: its rows go in batches in the background, the project row last
    # (services.project_delete_request); the counts of rows deleted so far survive a worker's restart.
    deleting_since = models.DateTimeField(null=True, blank=True, editable=False)
    deletion_counts = models.JSONField(default=dict, blank=True, editable=False, help_text="rows deleted so far")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(inactivity_months__gte=1) & Q(inactivity_months__lte=MAX_INACTIVITY_MONTHS),
                name="project_inactivity_months_1_to_13",
            ),
            models.CheckConstraint(
                condition=Q(inactivity_months_next__isnull=True)
                | (Q(inactivity_months_next__gte=1) & Q(inactivity_months_next__lt=F("inactivity_months"))),
                name="project_inactivity_months_next_shorter",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def inactivity_months_in_force(self) -> int:
        """The period the next purge run applies: a shorter one waiting for it, else the current one."""
        return self.inactivity_months_next or self.inactivity_months

    def inactivity_shorten_refusal(self, months: int) -> str | None:
        """Why `months` cannot be the new period (it must be shorter than the one in force), or None."""
        in_force = self.inactivity_months_in_force
        if months < 1:
            return "The inactivity period is at least 1 month."
        if months >= in_force:
            return (
                f"The inactivity period can only be shortened: it is {months_text(in_force)}, "
                f"so choose fewer than {in_force}."
            )
        return None


# At module level so that App's Meta (which cannot see the class body) builds its check constraint from it;
# the model offers it under its usual inner name (App.Platform).
class AppPlatform(models.TextChoices):
    IOS = "ios", "iOS"
    ANDROID = "android", "Android"
    WEB = "web", "Web"


class App(models.Model):
    """An iOS, Android or Web app of a project, with its public API keys (any of them names it in API paths)."""

    Platform = AppPlatform

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="apps")
    name = models.CharField(max_length=80, help_text="Used in export file names.")
    platform = models.CharField(max_length=16, choices=Platform.choices)
    # Public keys embedded in the SDK: they identify the app in API paths.
    live_api_key = models.CharField(max_length=64, unique=True, default=new_live_api_key, editable=False)
    dev_api_key = models.CharField(max_length=64, unique=True, default=new_dev_api_key, editable=False)
    sdk_api_key = models.CharField(max_length=64, unique=True, default=new_sdk_api_key, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "platform", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name", "platform"], name="app_unique_name_per_platform"),
            models.CheckConstraint(condition=Q(platform__in=AppPlatform.values), name="app_platform_valid"),
        ]

    def __str__(self) -> str:
        return app_label(self.name, self.platform)


def app_label(name: str, platform: str) -> str:
    """How an app is named on screens, "AcmeShop (iOS)": `str(app)`, and from raw rows (the template picker's)."""
    return f"{name} ({dict(AppPlatform.choices).get(platform, platform)})"


class RestApiKey(ApiKey):
    """A REST API key of a customer: good for every app and project of the company, or narrowed to one project.

    Sent in `X-Authorization` on per-app routes and as `Authorization: Bearer` on `/2.x` (core.models.ApiKey: how
    it is stored, looked up, rotated and revoked).
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="rest_keys")
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="rest_keys",
        help_text="Only this project (and its apps); empty: every project of the customer.",
    )
    # Only keys from before company keys are narrowed to one app: an app's own REST key kept working as it did.
    app = models.ForeignKey(
        App, null=True, blank=True, on_delete=models.CASCADE, related_name="+", help_text="Only this app (legacy)."
    )

    SCOPE_FIELDS = ("customer_id", "project_id", "app_id")

    class Meta:
        ordering = ["customer", "project", "created_at"]

    @property
    def scope_label(self) -> str:
        if self.app_id:
            return f"app {self.app} of project {self.project.name}"
        return f"project {self.project.name}" if self.project_id else "every project of the customer"


class ProjectGrant(models.Model):
    """A partner's access to a project."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="grants")
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="grants")
    granted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "partner"], name="grant_unique_project_partner")]

    def __str__(self) -> str:
        return f"{self.partner} → {self.project}"
