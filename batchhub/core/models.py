from __future__ import annotations

import datetime as dt
import hashlib
import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from batchhub.core.secrets.fields import EncryptedTextField


class AuditEvent(models.Model):
    """Who did what to which object, when and from where; `changes` never holds a secret."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_label = models.CharField(max_length=200, help_text="user name, or 'system' / 'api' for non-users")
    action = models.CharField(max_length=80, db_index=True)
    object_type = models.CharField(max_length=80)
    object_code = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    # Projects live in a domain app; the audit log keeps its own copy of their code and name so that
    # it outlives them and `core` stays free of domain imports.
    project_code = models.UUIDField(null=True, blank=True)
    project_name = models.CharField(max_length=200, blank=True)
    changes = models.JSONField(default=dict, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project_code", "-created_at"], name="audit_project_recent")]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_repr}"


class TaskDelivery(models.Model):
    """Deliveries of one Celery task message, counted in the database to cap redelivery.

    With late acknowledgement a message that kills its worker comes back; past the cap it is dropped
    and shown here as `dead` instead of looping forever.
    """

    class Status(models.TextChoices):
        RUNNING = "running"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        DEAD = "dead"

    task_id = models.CharField(max_length=64, unique=True)
    task_name = models.CharField(max_length=200)
    deliveries = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    first_started_at = models.DateTimeField(auto_now_add=True)
    last_started_at = models.DateTimeField(auto_now=True)
    last_error = models.TextField(blank=True)

    class Meta:
        verbose_name_plural = "task deliveries"
        indexes = [models.Index(fields=["status", "-last_started_at"], name="taskdelivery_status_recent")]

    def __str__(self) -> str:
        return f"{self.task_name} {self.task_id} x{self.deliveries} {self.status}"


class WorkerHeartbeat(models.Model):
    """Last time a worker ran the heartbeat task: the dashboard tells CSMs whether workers are alive."""

    hostname = models.CharField(max_length=200, unique=True)
    beat_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"{self.hostname} @ {self.beat_at:%Y-%m-%d %H:%M:%S}"


class RunStatus(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Run(models.Model):
    Status = RunStatus

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    created_at = models.DateTimeField(auto_now_add=True)
    claimed_by = models.CharField(max_length=200, blank=True, help_text="the worker task that runs it")
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_done = models.BigIntegerField(default=0)
    rows_total = models.BigIntegerField(null=True, blank=True, help_text="empty while unknown")
    error = models.TextField(blank=True)

    class Meta:
        abstract = True
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RunStatus.values),
                name="%(app_label)s_%(class)s_status_valid",
            )
        ]

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)

    @property
    def elapsed(self) -> dt.timedelta | None:
        if self.started_at is None:
            return None
        return (self.finished_at or timezone.now()) - self.started_at

    @property
    def rate(self) -> float | None:
        """Rows per second so far."""
        elapsed = self.elapsed
        seconds = elapsed.total_seconds() if elapsed else 0
        return self.rows_done / seconds if seconds > 0 and self.rows_done else None

    @property
    def percent(self) -> int | None:
        if not self.rows_total:
            return 100 if self.is_finished else None
        return min(100, int(self.rows_done * 100 / self.rows_total))

    @property
    def eta(self) -> dt.timedelta | None:
        """Time left at the rate so far, while running with a known total."""
        rate = self.rate
        if self.is_finished or not rate or self.rows_total is None:
            return None
        return dt.timedelta(seconds=max(0, self.rows_total - self.rows_done) / rate)


class RetentionRun(Run):
    """One pass of the retention rules (core.jobs.retention): daily by beat, or started by a CSM."""

    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    handled = models.JSONField(default=dict, blank=True, help_text="rows handled per rule")

    class Meta(Run.Meta):
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"retention run {self.pk} {self.status}"


def new_api_key() -> str:
    return secrets.token_hex(16)


def api_key_digest(key: str) -> str:
    """How an API key is looked up: SHA-256 of the presented key (keys are 128-bit random, so no salt is needed)."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class ApiKey(models.Model):
    """What every REST API key has (a customer's, a connector's): a secret stored encrypted and shown once, looked
    up by its digest and compared in constant time; a rotation gives the old key an end (`expires_at`) so clients
    can switch over; a revoked key stops at once. `core.services.api_key_rotate` / `api_key_revoke` change them."""

    code = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=80)
    secret = EncryptedTextField(default=new_api_key)
    digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="End of a rotation's overlap.")
    revoked_at = models.DateTimeField(null=True, blank=True)
    rotated_to = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    # the fields a rotation copies to the new key (its scope)
    SCOPE_FIELDS: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} ({self.secret.masked if self.secret else '—'})"

    def save(self, *args, **kwargs):
        self.digest = api_key_digest(self.secret.reveal())
        super().save(*args, **kwargs)

    def is_active_at(self, moment) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > moment)
