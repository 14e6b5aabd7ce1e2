"""Connectors (a partner's integration with one project), their own REST keys, their storage destinations and
sources; the raw events exported to partners (push and in-app)."""

from __future__ import annotations

import datetime as dt
import json
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from batchhub.accounts.models import Partner
from batchhub.api.features import FEATURE_NAMES
from batchhub.core.models import ApiKey, Run, RunStatus
from batchhub.core.secrets.fields import EncryptedTextField
from batchhub.core.storage.base import ERROR_CLASS_LABELS


class ConnectorStatus(models.TextChoices):
    HEALTHY = "healthy", "Healthy"
    DEGRADED = "degraded", "Degraded"
    FAILING = "failing", "Failing"
    PAUSED = "paused", "Paused"


class Connector(models.Model):
    """A partner's integration with one customer project: the unit a partner configures, the parent of its export
    configs, audience import configs and template bindings. Its keys open the REST API for its project and the
    inbound features it uses only; a paused connector's keys are refused and its jobs wait."""

    Kind = Partner.Kind  # the seeds' four integration schemas, as partners are kinds of
    Status = ConnectorStatus

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    partner = models.ForeignKey("accounts.Partner", on_delete=models.CASCADE, related_name="connectors")
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="connectors")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    name = models.CharField(max_length=120)
    features = models.JSONField(default=list, blank=True, help_text="the inbound features it uses")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.HEALTHY)
    paused_reason = models.CharField(max_length=300, blank=True)
    last_error = models.TextField(blank=True)
    last_error_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "partner", "name"], name="connector_name_unique"),
            models.CheckConstraint(condition=Q(kind__in=Partner.Kind.values), name="connector_kind_valid"),
            models.CheckConstraint(condition=Q(status__in=ConnectorStatus.values), name="connector_status_valid"),
        ]
        indexes = [models.Index(fields=["partner", "name"], name="connector_partner_name")]

    def __str__(self) -> str:
        return self.name

    @property
    def is_paused(self) -> bool:
        return self.status == ConnectorStatus.PAUSED

    @property
    def feature_labels(self) -> list[str]:
        return [FEATURE_NAMES[feature] for feature in self.features if feature in FEATURE_NAMES]


class ConnectorKey(ApiKey):
    """A REST API key of one connector: accepted like the customer's keys (per-app routes and /2.x), but only for
    the connector's project and its enabled inbound features; calls made with it are attributed to it."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="keys")

    SCOPE_FIELDS = ("connector_id",)

    class Meta:
        ordering = ["revoked_at", "-created_at"]


class StorageKind(models.TextChoices):
    LOCAL = "local", "Local folder"
    S3 = "s3", "Amazon S3 (or S3-compatible)"
    GCS = "gcs", "Google Cloud Storage"
    SFTP = "sftp", "SFTP"
    FTP = "ftp", "FTP"
    FTPS = "ftps", "FTPS (explicit TLS)"
    HTTP = "http", "HTTP(S) download"


# Where credentials are sent, and who is trusted to be there (the pinned host key, the pinned CA): when one of these
# changes, the stored credentials are not sent to the new server unless typed again (a partner user, who cannot read
# them, must not be able to send them to a server of its own).
SENSITIVE_SETTINGS = ("host", "port", "url", "endpoint_url", "host_key", "ca_pem")


# A Test not answered after this long was not taken by a worker; it may be asked again (services.storage_test_request).
TEST_STALLED_AFTER = dt.timedelta(seconds=120)


class StorageLocation(models.Model):
    """Where a connector's files go (destination) or come from (source): a storage kind, its plain settings (bucket,
    host, folder…) and its credentials, encrypted at rest and never shown again in full. Opened for one job with
    `core.storage.base.transport_open(kind, location, credentials)`."""

    Kind = StorageKind

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=120)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    location = models.JSONField(default=dict, blank=True, help_text="bucket, host, folder…: the transport's settings")
    credentials = EncryptedTextField(blank=True, default="", help_text="JSON of the credentials, encrypted")
    # A Test runs in a worker (connectors.tasks): asked at this time, done once last_tested_at is at or after it.
    test_requested_at = models.DateTimeField(null=True, blank=True)
    last_tested_at = models.DateTimeField(null=True, blank=True)
    last_test_ok = models.BooleanField(null=True)
    last_test_error = models.JSONField(default=dict, blank=True, help_text="class, code and message")
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_files = models.JSONField(default=list, blank=True, help_text="a source's files matched at its last Test")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    # where a local folder lives, under STORAGE_LOCAL_ROOT and the partner's own folder
    LOCAL_AREA = ""

    def transport_location(self) -> dict:
        """The transport's settings: a local folder is always inside its partner's own folder of its area
        (exports/<partner-slug>/ or imports/<partner-slug>/), whatever path was typed; an HTTP URL gets back the
        query string kept with the credentials (a signed URL's signature is a secret)."""
        location = dict(self.location)
        if self.kind == StorageKind.LOCAL:
            inside = str(location.get("path") or "").strip("/")
            base = f"{self.LOCAL_AREA}/{self.connector.partner.slug}"
            location["path"] = f"{base}/{inside}" if inside else base
        elif self.kind == StorageKind.HTTP and (query := self.credentials_dict().get("url_query")):
            location["url"] = f"{location['url']}?{query}"
        return location

    def transport_credentials(self) -> dict[str, str]:
        credentials = self.credentials_dict()
        credentials.pop("url_query", None)
        return credentials

    @property
    def test_running(self) -> bool:
        return self.test_requested_at is not None and (
            self.last_tested_at is None or self.last_tested_at < self.test_requested_at
        )

    @property
    def test_stalled(self) -> bool:
        """Asked so long ago that no worker took it (workers or broker down): the page stops waiting and says so;
        the partner may ask again."""
        return self.test_running and timezone.now() - self.test_requested_at >= TEST_STALLED_AFTER

    @property
    def direction(self) -> str:
        return "source" if isinstance(self, Source) else "destination"

    def credentials_dict(self) -> dict[str, str]:
        """The decrypted credentials, for opening a transport only (never for display)."""
        if not self.credentials:
            return {}
        return json.loads(self.credentials.reveal())


class Destination(StorageLocation):
    """Where a connector's exports are written."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="destinations")

    LOCAL_AREA = "exports"

    class Meta(StorageLocation.Meta):
        constraints = [
            models.UniqueConstraint(fields=["connector", "name"], name="destination_name_unique"),
            models.CheckConstraint(
                condition=Q(kind__in=[kind for kind in StorageKind.values if kind != StorageKind.HTTP]),
                name="destination_kind_writable",
            ),
        ]


class Source(StorageLocation):
    """Where a connector's audience files are read from; `pattern` says which files (a glob under the location)."""

    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="sources")
    LOCAL_AREA = "imports"
    pattern = models.CharField(max_length=255, default="*.csv")

    class Meta(StorageLocation.Meta):
        constraints = [
            models.UniqueConstraint(fields=["connector", "name"], name="source_name_unique"),
            models.CheckConstraint(condition=Q(kind__in=StorageKind.values), name="source_kind_valid"),
        ]


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
        indexes = [
            models.Index(fields=["app", "occurred_at"], name="pushevent_app_time"),
            # a transactional group's stats (GET transactional/stats/{GROUP_ID}): 250-370 ms over 5,000,000 events
            # without it, 6 ms with it (10 MB); transactional events only, so campaign sends do not pay for it
            models.Index(
                fields=["app", "group_id"],
                condition=Q(source=PushEventSource.TRANSACTIONAL),
                name="pushevent_app_group",
            ),
        ]
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


class ExportKind(models.TextChoices):
    PUSH_EVENTS = "push_events", "Raw push events"
    INAPP_EVENTS = "inapp_events", "In-app events"
    USERBASE = "userbase", "Opt-in userbase"


class Identifier(models.TextChoices):
    """Which id of an installation the second column carries (the guide: "replacing Installation IDs by
    Advertising IDs")."""

    INSTALLATION_ID = "installation_id", "Installation ID"
    ADVERTISING_ID = "advertising_id", "Advertising ID"


class ExportConfig(models.Model):
    """A daily export of one app's raw events (or opt-in userbase) to one of the connector's destinations."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    connector = models.ForeignKey(Connector, on_delete=models.CASCADE, related_name="export_configs")
    app = models.ForeignKey("projects.App", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=16, choices=ExportKind.choices)
    identifier = models.CharField(max_length=16, choices=Identifier.choices, default=Identifier.INSTALLATION_ID)
    # RESTRICT: a destination alone is not deleted while exports write to it; with its connector, it goes with them
    destination = models.ForeignKey(Destination, on_delete=models.RESTRICT, related_name="export_configs")
    enabled = models.BooleanField(default=True)
    paused_reason = models.CharField(max_length=300, blank=True)
    consecutive_failures = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connector", "app", "kind"], name="exportconfig_one_per_app_and_kind"),
            models.CheckConstraint(condition=Q(kind__in=ExportKind.values), name="exportconfig_kind_valid"),
            models.CheckConstraint(condition=Q(identifier__in=Identifier.values), name="exportconfig_identifier_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} of {self.app_id}"

    @property
    def state(self) -> tuple[str, str]:
        """(badge tone, words) of the export at a glance: paused, disabled, or its last run's outcome (the
        `last_status` annotation of `queries.export_configs_of`, else its latest run)."""
        if self.paused_reason:
            return "paused", "Paused"
        if not self.enabled:
            return "", "Disabled"
        if hasattr(self, "last_status"):
            last = self.last_status
        else:
            last = self.runs.order_by("-day").values_list("status", flat=True).first()
        return {
            None: ("", "No run yet"),
            RunStatus.SUCCEEDED: ("healthy", "Healthy"),
            RunStatus.FAILED: ("failing", "Last day failed"),
            RunStatus.RUNNING: ("degraded", "Running"),
            RunStatus.QUEUED: ("degraded", "Queued"),
        }[last]


class ExportRun(Run):
    """The export of one config for one UTC day: one row per (config, day), whatever retries, redeliveries, a second
    dispatcher or a backfill do; a re-run (forced) works on the same row."""

    config = models.ForeignKey(ExportConfig, on_delete=models.CASCADE, related_name="runs")
    day = models.DateField()
    forced = models.BooleanField(default=False)
    attempts = models.PositiveSmallIntegerField(default=0)
    file_name = models.CharField(max_length=300, blank=True)
    rows = models.BigIntegerField(null=True, blank=True)
    bytes = models.BigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    manifest = models.JSONField(default=dict, blank=True, help_text="the manifest written beside the file")
    error_class = models.CharField(max_length=20, blank=True)
    error_code = models.CharField(max_length=40, blank=True, help_text="the transport's code: auth_refused, timeout…")

    class Meta(Run.Meta):
        constraints = [
            *Run.Meta.constraints,
            models.UniqueConstraint(fields=["config", "day"], name="exportrun_one_per_config_and_day"),
        ]

    def __str__(self) -> str:
        return f"export {self.config_id} of {self.day}"

    @property
    def error_class_label(self) -> str:
        return ERROR_CLASS_LABELS.get(self.error_class, "") if self.error_class else ""


class ExportBackfill(Run):
    """The export of a range of days of one config, one day after the other in order (`rows_done` counts the days
    handled, `rows_total` the days): a backfill asked on the export's page, or the Resume of a paused export. A day
    already exported whose rows and checksum are unchanged and whose file is still at the destination is skipped
    unless `forced`. It stops at the first day that fails, so the files a partner holds never have a hole before
    the last one. One at a time per config."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    config = models.ForeignKey(ExportConfig, on_delete=models.CASCADE, related_name="backfills")
    first_day = models.DateField()
    last_day = models.DateField()
    forced = models.BooleanField(default=False)
    resume = models.BooleanField(default=False, help_text="the Resume of a paused export")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    exported = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)

    class Meta(Run.Meta):
        constraints = [
            *Run.Meta.constraints,
            models.UniqueConstraint(
                fields=["config"],
                condition=Q(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]),
                name="exportbackfill_one_active",
            ),
            models.CheckConstraint(condition=Q(first_day__lte=F("last_day")), name="exportbackfill_days_in_order"),
        ]

    def __str__(self) -> str:
        return f"backfill {self.config_id} {self.first_day}..{self.last_day}"
