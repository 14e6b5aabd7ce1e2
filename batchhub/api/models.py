from __future__ import annotations

from django.db import models
from django.db.models import Q

from batchhub.api.appliers import kind_choices


class ApiCall(models.Model):
    """One call to the inbound REST API: the activity log, and for accepted writes the work to apply.

    The operations are stored validated as JSON text (written once, read once by the worker, never queried):
    normalised operations, or for a bulk Trigger Events call already in normal form its request body as it came
    (`profiles.ingest.fast`). A worker applies them in one transaction with the call's status, and clears them in the
    same transaction: an applied call keeps its route, status, counts and timing, not what it carried. A failed
    call keeps its body for `API_FAILED_BODY_DAYS` (diagnosis), the row itself `API_CALL_DAYS` (core.jobs.retention).
    """

    class ApplyStatus(models.TextChoices):
        NONE = "none", "Nothing to apply"
        PENDING = "pending", "Pending"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Failed"

    token = models.UUIDField(null=True, blank=True, unique=True)
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="api_calls", db_index=False)
    app = models.ForeignKey("projects.App", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The connector whose key made the call (a string reference: connectors sits above api and registers its keys
    # with api.auth); its partner sees these calls and no others.
    connector = models.ForeignKey(
        "connectors.Connector", null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    route = models.CharField(max_length=80)
    status_code = models.PositiveSmallIntegerField()
    error_code = models.CharField(max_length=40, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=40, blank=True, choices=kind_choices, help_text="which applier applies it")
    operations = models.TextField(
        blank=True, help_text="normalised operations, or a request body already in normal form, JSON"
    )
    apply_status = models.CharField(max_length=8, choices=ApplyStatus.choices, default=ApplyStatus.NONE)
    counts = models.JSONField(default=dict, blank=True)
    apply_error = models.TextField(blank=True)
    created_at = models.DateTimeField()
    applied_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["project", "-created_at"], name="apicall_project_recent"),
            models.Index(
                fields=["connector", "-created_at"],
                name="apicall_connector_recent",
                condition=Q(connector__isnull=False),
            ),
            models.Index(
                fields=["apply_status", "id"],
                name="apicall_pending",
                condition=Q(apply_status="pending"),
            ),
            # Failed calls are rare: their bodies are found for retention and erasure without a scan.
            models.Index(fields=["created_at"], name="apicall_failed", condition=Q(apply_status="failed")),
        ]

    def __str__(self) -> str:
        return f"{self.route} {self.status_code}"


class IdempotencyRecord(models.Model):
    """The answer to a write sent with an Idempotency-Key, replayed for 24 h instead of acting twice."""

    scope = models.CharField(max_length=120, help_text="who sent it (the API key's owner)")
    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="idempotency_unique_scope_key")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key}"
