"""Writes of connectors: the connector, its keys, its destinations and sources. Every change is audited (secrets
only as "(secret changed)"); saving a connector or a key makes the API forget the keys it holds (apps.ready)."""

from __future__ import annotations

import datetime as dt
import io
import json
import logging
import uuid

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from batchhub.api.features import INBOUND_FEATURES
from batchhub.connectors.models import (
    SENSITIVE_SETTINGS,
    Connector,
    ConnectorKey,
    Destination,
    ExportConfig,
    Source,
    StorageLocation,
)
from batchhub.core.audit.record import SECRET_CHANGED, audit_record, model_snapshot, snapshot_diff
from batchhub.core.secrets.crypto import Secret
from batchhub.core.services import api_key_revoke, api_key_rotate
from batchhub.core.storage.base import ErrorClass, TransportError, storage_timeout_within, transport_open
from batchhub.projects.models import Project, ProjectGrant

logger = logging.getLogger(__name__)
_AUDITED = ["name", "kind", "features", "status", "paused_reason"]


def _audit(actor, action: str, connector: Connector, changes: dict | None = None, *, obj=None, what: str = "") -> None:
    audit_record(
        actor=actor,
        action=action,
        obj=obj or connector,
        object_repr=(what or f"connector {connector.name} of {connector.partner.name}")[:200],
        project=connector.project,
        changes=changes or {},
    )


def _features_clean(features) -> list[str]:
    unknown = set(features) - set(INBOUND_FEATURES)
    if unknown:
        raise ValidationError({"features": f"Unknown features: {', '.join(sorted(unknown))}."})
    return [feature for feature in INBOUND_FEATURES if feature in set(features)]


@transaction.atomic
def connector_create(*, actor, partner, project: Project, kind: str, name: str, features) -> Connector:
    """A partner's new connector on a project granted to it."""
    if not ProjectGrant.objects.filter(project=project, partner=partner).exists():
        raise PermissionDenied("This project is not granted to your organisation.")
    connector = Connector(
        partner=partner,
        project=project,
        kind=kind,
        name=name.strip(),
        features=_features_clean(features),
        created_by=actor if actor and actor.is_authenticated else None,
    )
    connector.full_clean(exclude=["features"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            connector.save()
    except IntegrityError:
        raise ValidationError({"name": "You already have a connector of this name on this project."}) from None
    _audit(actor, "connector.create", connector, snapshot_diff({}, model_snapshot(connector, _AUDITED)))
    return connector


@transaction.atomic
def connector_update(*, actor, connector: Connector, kind: str, name: str, features) -> Connector:
    connector = Connector.objects.select_for_update().select_related("partner", "project").get(pk=connector.pk)
    before = model_snapshot(connector, _AUDITED)
    connector.kind, connector.name, connector.features = kind, name.strip(), _features_clean(features)
    connector.full_clean(exclude=["features"], validate_unique=False, validate_constraints=False)
    try:
        with transaction.atomic():
            connector.save()
    except IntegrityError:
        raise ValidationError({"name": "You already have a connector of this name on this project."}) from None
    changes = snapshot_diff(before, model_snapshot(connector, _AUDITED))
    if changes:
        _audit(actor, "connector.update", connector, changes)
    return connector


@transaction.atomic
def connector_pause(*, actor, connector: Connector, reason: str = "") -> bool:
    """Pause: its keys are refused and its jobs wait. False if it was paused already."""
    connector = Connector.objects.select_for_update().select_related("partner", "project").get(pk=connector.pk)
    if connector.is_paused:
        return False
    before = model_snapshot(connector, _AUDITED)
    connector.status, connector.paused_reason = Connector.Status.PAUSED, reason.strip()[:300]
    connector.save(update_fields=["status", "paused_reason", "updated_at"])
    _audit(actor, "connector.pause", connector, snapshot_diff(before, model_snapshot(connector, _AUDITED)))
    return True


@transaction.atomic
def connector_resume(*, actor, connector: Connector) -> bool:
    connector = Connector.objects.select_for_update().select_related("partner", "project").get(pk=connector.pk)
    if not connector.is_paused:
        return False
    before = model_snapshot(connector, _AUDITED)
    # its health is read again from its next runs
    connector.status, connector.paused_reason = Connector.Status.HEALTHY, ""
    connector.save(update_fields=["status", "paused_reason", "updated_at"])
    _audit(actor, "connector.resume", connector, snapshot_diff(before, model_snapshot(connector, _AUDITED)))
    return True


@transaction.atomic
def connector_delete(*, actor, connector: Connector) -> None:
    """Delete the connector with its keys, destinations and sources; its past API calls stay, unattributed."""
    connector = Connector.objects.select_for_update().select_related("partner", "project").get(pk=connector.pk)
    _audit(actor, "connector.delete", connector, snapshot_diff(model_snapshot(connector, _AUDITED), {}))
    connector.delete()


# ---- keys ---------------------------------------------------------------------------------------------------


@transaction.atomic
def connector_key_create(*, actor, connector: Connector, name: str) -> tuple[ConnectorKey, Secret]:
    """A new key of the connector; returns it with its secret (shown once)."""
    key = ConnectorKey(
        connector=connector,
        name=name.strip()[:80] or "API key",
        created_by=actor if actor and actor.is_authenticated else None,
    )
    key.save()
    _audit(
        actor,
        "connectorkey.create",
        connector,
        {"name": [None, key.name], "secret": [None, SECRET_CHANGED]},
        obj=key,
        what=f"key {key.name} of connector {connector.name}",
    )
    return key, key.secret


def connector_key_rotate(*, actor, key: ConnectorKey, overlap: dt.timedelta) -> Secret:
    with transaction.atomic():
        key, new_key = api_key_rotate(actor=actor, key=key, overlap=overlap)
        _audit(
            actor,
            "connectorkey.rotate",
            key.connector,
            {
                "secret": [SECRET_CHANGED, SECRET_CHANGED],
                "old key works until": [None, (key.expires_at or key.revoked_at).isoformat(timespec="minutes")],
            },
            obj=key,
            what=f"key {key.name} of connector {key.connector.name}",
        )
    return new_key.secret


def connector_key_revoke(*, actor, key: ConnectorKey) -> bool:
    with transaction.atomic():
        revoked = api_key_revoke(key)
        if revoked is not None:
            _audit(
                actor,
                "connectorkey.revoke",
                revoked.connector,
                {"revoked": [False, True]},
                obj=revoked,
                what=f"key {revoked.name} of connector {revoked.connector.name}",
            )
    return revoked is not None


# ---- destinations and sources ----------------------------------------------------------------------------------


def _location_model(direction: str) -> type[StorageLocation]:
    return {"destination": Destination, "source": Source}[direction]


@transaction.atomic
def storage_save(
    *,
    actor,
    connector: Connector,
    direction: str,
    location: StorageLocation | None,
    name: str,
    kind: str,
    location_settings: dict,
    secrets: dict,
    pattern: str | None = None,
    cleared: tuple[str, ...] | list[str] = (),
) -> StorageLocation:
    """Create or change a destination or source. `secrets` holds only the credentials typed in this time: a blank
    one keeps what was stored (write-only fields), `cleared` names stored ones to remove. Changing the kind, or
    where credentials are sent (host, port, URL, endpoint), drops the stored ones: they are never sent elsewhere."""
    model = _location_model(direction)
    if location is None:
        location = model(connector=connector)
        before: dict = {}
        kept: dict = {}
        location_before_credentials: dict = {}
    else:
        location = model.objects.select_for_update().get(pk=location.pk, connector=connector)
        location_before_credentials = location.credentials_dict()
        before = {"name": location.name, "kind": location.kind, **location.location}
        if direction == "source":
            before["pattern"] = location.pattern
        moved = any(
            (location_settings.get(name) or None) != (location.location.get(name) or None)
            for name in SENSITIVE_SETTINGS
        )
        kept = location.credentials_dict() if location.kind == kind and not moved else {}
        kept = {name: value for name, value in kept.items() if name not in cleared}
    before_settings = {k: v for k, v in before.items() if k not in ("name", "kind", "pattern")}
    merged = {**kept, **{key: value for key, value in secrets.items() if value}}
    location.name, location.kind, location.location = name.strip(), kind, location_settings
    location.credentials = json.dumps(merged) if merged else ""
    if direction == "source" and pattern is not None:
        location.pattern = pattern
    changed_where = location.pk is None or before.get("kind") != kind or location_settings != before_settings
    if changed_where or secrets or cleared:  # a test of what was there says nothing of what is now
        location.last_test_ok, location.last_tested_at, location.last_test_error = None, None, {}
        location.test_requested_at = None
    try:
        with transaction.atomic():
            location.save()
    except IntegrityError:
        raise ValidationError({"name": f"This connector already has a {direction} of this name."}) from None
    after = {"name": location.name, "kind": location.kind, **location.location}
    if direction == "source":
        after["pattern"] = location.pattern
    changes = snapshot_diff(before, after)
    stored_before = location_before_credentials
    for secret_name in sorted(set(merged) | set(stored_before)):
        if merged.get(secret_name) != stored_before.get(secret_name):
            changes[secret_name] = [
                SECRET_CHANGED if secret_name in stored_before else None,
                SECRET_CHANGED if secret_name in merged else None,
            ]
    _audit(
        actor,
        f"{direction}.{'create' if not before else 'update'}",
        connector,
        changes,
        obj=location,
        what=f"{direction} {location.name} of connector {connector.name}",
    )
    return location


@transaction.atomic
def storage_delete(*, actor, connector: Connector, location: StorageLocation) -> None:
    """Delete a destination or source; a destination that export configs write to is refused (ValidationError)."""
    direction = "source" if isinstance(location, Source) else "destination"
    if direction == "destination" and location.export_configs.exists():
        raise ValidationError("Export configs write to this destination: move them to another one first.")
    _audit(
        actor,
        f"{direction}.delete",
        connector,
        {"name": [location.name, None], "kind": [location.kind, None]},
        obj=location,
        what=f"{direction} {location.name} of connector {connector.name}",
    )
    location.delete()


PROBE_CONTENT = b"BatchHub connection test: this file is deleted right after it is written.\n"


def storage_test_request(*, actor, location: StorageLocation) -> dt.datetime | None:
    """Ask for a Test of the location: the time asked, for the worker's task (`tasks.storage_test_soon`; a slow
    server never holds a web process), or None when one asked less than TEST_STALLED_AFTER ago is still running (one
    at a time per location)."""
    now = timezone.now()
    model = type(location)
    with transaction.atomic():
        location = model.objects.select_for_update().select_related("connector__project").get(pk=location.pk)
        if location.test_running and not location.test_stalled:
            return None
        location.test_requested_at = now
        model.objects.filter(pk=location.pk).update(test_requested_at=now)
        audit_record(
            actor=actor,
            action=f"{location.direction}.test",
            obj=location,
            project=location.connector.project,
            changes={"test": [None, "asked"]},
        )
    return now


def storage_test(*, location: StorageLocation, requested_at: dt.datetime | None = None) -> dict:
    """Try the location now. A destination: write a small probe file, read it back, delete it. A source: list what
    its pattern matches. Records the result unless the location was saved or tested again meanwhile (its settings
    changed: this result says nothing of them), and returns {"ok", "files" (source), "error" {class, code,
    message}}."""
    result: dict = {"ok": False, "files": [], "error": {}}
    try:
        # every network call gets at most STORAGE_TEST_TIMEOUT_SECONDS; the task's own time limit bounds the whole
        with (
            storage_timeout_within(settings.STORAGE_TEST_TIMEOUT_SECONDS),
            transport_open(location.kind, location.transport_location(), location.transport_credentials()) as transport,
        ):
            if isinstance(location, Source):
                result["files"] = [
                    {"name": item.name, "size": item.size, "modified_at": item.modified_at}
                    for item in transport.list(location.pattern or "*")[:50]
                ]
            else:
                name = f".batchhub-probe-{uuid.uuid4().hex}.txt"
                transport.write(name, io.BytesIO(PROBE_CONTENT))
                with transport.open_read(name) as stream:
                    read_back = stream.read(len(PROBE_CONTENT) + 1)
                transport.delete(name)
                if read_back != PROBE_CONTENT:
                    raise TransportError(
                        ErrorClass.FIX_ON_YOUR_SIDE,
                        "probe_mismatch",
                        "The test file read back differs from what was written: check that nothing rewrites "
                        "files in this folder.",
                    )
        result["ok"] = True
    except TransportError as error:
        result["error"] = error.as_dict()
    except SoftTimeLimitExceeded:
        result["error"] = TransportError(
            ErrorClass.TRANSIENT,
            "timeout",
            "The test took too long: the server answers too slowly. Try again; if this persists, check the server.",
        ).as_dict()
    except Exception:  # a bug of ours: classified as such, never a 500 for the partner
        result["error"] = TransportError(
            ErrorClass.PLATFORM,
            "platform",
            "Something went wrong on our side while testing. Retrying will not help; we have been notified.",
        ).as_dict()
        logger.exception("storage test of %s %s failed", location.kind, location.code)
    # never before the request, whatever this host's clock says (the request's time came from the web host's)
    now = max(timezone.now(), requested_at) if requested_at is not None else timezone.now()
    fields = {
        "last_tested_at": now,
        "last_test_ok": result["ok"],
        "last_test_error": result["error"],
        "last_files": [
            {**item, "modified_at": f"{item['modified_at']:%Y-%m-%d %H:%M} UTC" if item["modified_at"] else None}
            for item in result["files"]
        ],
    }
    if result["ok"]:
        fields["last_success_at"] = now
    rows = type(location).objects.filter(pk=location.pk)
    if requested_at is not None:
        rows = rows.filter(test_requested_at=requested_at)  # saved (reset) or asked again since: not ours to record
    rows.update(**fields)
    return result


# ---- export configs --------------------------------------------------------------------------------------------

_EXPORT_AUDITED = ["app_id", "kind", "identifier", "destination_id", "enabled", "paused_reason"]


@transaction.atomic
def export_config_save(
    *, actor, connector: Connector, config: ExportConfig | None, app, kind: str, identifier: str, destination,
    enabled: bool,
) -> ExportConfig:  # fmt: skip
    """Create or change an export config (the app of the connector's project, a destination of the connector).
    Enabling a paused config resumes it: its failed days count again from zero (refused while the connector is
    paused: the Resume's backfill could not run)."""
    if app.project_id != connector.project_id or destination.connector_id != connector.pk:
        raise PermissionDenied("That app or destination is not this connector's.")
    if config is not None and config.paused_reason and enabled and connector.is_paused:
        raise ValidationError({"enabled": "This connector is paused: resume it first, then this export (its missed "
                                          "days are exported then)."})  # fmt: skip
    before = model_snapshot(config, _EXPORT_AUDITED) if config else {}
    config = config or ExportConfig(connector=connector)
    config.app, config.kind, config.identifier, config.destination = app, kind, identifier, destination
    if (enabled and not config.enabled) or (enabled and config.paused_reason):
        config.paused_reason, config.consecutive_failures = "", 0
    config.enabled = enabled
    try:
        with transaction.atomic():
            config.save()
    except IntegrityError:
        raise ValidationError({"kind": "This connector already exports this for this app."}) from None
    _audit(actor, f"exportconfig.{'update' if before else 'create'}", connector,
           snapshot_diff(before, model_snapshot(config, _EXPORT_AUDITED)), obj=config,
           what=f"export {config.kind} of {app} by connector {connector.name}")  # fmt: skip
    return config


@transaction.atomic
def export_config_delete(*, actor, connector: Connector, config: ExportConfig) -> None:
    _audit(actor, "exportconfig.delete", connector, snapshot_diff(model_snapshot(config, _EXPORT_AUDITED), {}),
           obj=config, what=f"export {config.kind} by connector {connector.name}")  # fmt: skip
    config.delete()
