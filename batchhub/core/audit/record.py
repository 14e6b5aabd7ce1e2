"""The audit log's one writer: who did what to which object, when and from where; never a secret."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import models

from batchhub.core.models import AuditEvent
from batchhub.core.secrets.crypto import Secret
from batchhub.core.secrets.fields import EncryptedTextField
from batchhub.core.web.context import current_request

SECRET_CHANGED = "(secret changed)"  # noqa: S105 - a marker, not a secret


def _jsonable(value: Any) -> Any:
    if isinstance(value, Secret):
        return SECRET_CHANGED
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, str | int | float | bool | type(None) | list | dict):
        return value
    return str(value)


def model_snapshot(obj: models.Model, fields: list[str] | None = None) -> dict[str, Any]:
    """Field values of an object for a later diff; encrypted fields are recorded as a marker only."""
    snapshot: dict[str, Any] = {}
    for field in obj._meta.concrete_fields:
        if fields is not None and field.name not in fields:
            continue
        if field.primary_key or getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            continue  # bookkeeping timestamps are the audit event's own time
        if isinstance(field, EncryptedTextField):
            value = getattr(obj, field.attname)
            snapshot[field.name] = Secret(value.reveal() if isinstance(value, Secret) else str(value or ""))
        else:
            snapshot[field.name] = getattr(obj, field.attname)
    return snapshot


def snapshot_diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields that changed; secrets show only that they changed."""
    diff: dict[str, list[Any]] = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name), after.get(name)
        if old == new:
            continue
        if isinstance(old, Secret) or isinstance(new, Secret):
            diff[name] = [SECRET_CHANGED, SECRET_CHANGED]
        else:
            diff[name] = [_jsonable(old), _jsonable(new)]
    return diff


def audit_record(
    *,
    actor,
    action: str,
    obj: models.Model | None = None,
    object_type: str = "",
    object_code: str = "",
    object_repr: str = "",
    project=None,
    changes: dict[str, Any] | None = None,
) -> AuditEvent:
    """Record one audited action; `project` is any object with `code` and `name`."""
    request = current_request.get()
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_code = object_code or str(getattr(obj, "code", "") or getattr(obj, "pk", ""))
        object_repr = object_repr or str(obj)[:200]
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_label=(actor.get_username() if is_user else str(actor or "system"))[:200],
        action=action,
        object_type=object_type,
        object_code=object_code,
        object_repr=object_repr,
        project_code=getattr(project, "code", None),
        project_name=getattr(project, "name", "")[:200] if project is not None else "",
        changes={k: _jsonable(v) for k, v in (changes or {}).items()},
        ip_address=request.ip_address if request else None,
        user_agent=request.user_agent if request else "",
    )
