"""Reads of connectors, scoped to the user: the only way views reach a connector, its keys, destinations, sources
and API activity.

- a partner user sees its own partner's connectors, on projects still granted to it;
- a CSM sees every connector (and may pause and resume them);
- a privacy admin sees the list and each connector's summary (for Art. 19 notifications), not its keys, storage or
  calls on its page (the project's API activity panel shows every call to staff, privacy admins included).
"""

from __future__ import annotations

import datetime as dt
import json

from django.db import connection
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone

from batchhub.api.auth import KeyRow, aware
from batchhub.api.models import ApiCall
from batchhub.api.queries import api_activity
from batchhub.connectors.models import Connector, ConnectorKey, Destination, ExportConfig, ExportRun, Source
from batchhub.core.queries import get_by_code_or_404
from batchhub.core.roles import CSM, PARTNER, PRIVACY_ADMIN, has_role
from batchhub.core.secrets.crypto import Secret
from batchhub.projects.models import Project, ProjectGrant


def connectors_for_user(user) -> QuerySet[Connector]:
    live = Connector.objects.filter(project__deleting_since__isnull=True)
    if has_role(user, CSM, PRIVACY_ADMIN):
        return live
    if has_role(user, PARTNER) and user.partner_id is not None:
        # a join, not EXISTS: one grant per (project, partner) (grant_unique_project_partner), and the ORM builds
        # it in half the time (bench/picker.py asks this on every keystroke)
        return live.filter(partner_id=user.partner_id, project__grants__partner_id=user.partner_id)
    return Connector.objects.none()


def connector_list_rows(user, *, project: Project | None = None) -> QuerySet[Connector]:
    rows = connectors_for_user(user).select_related("partner", "project", "project__customer")
    if project is not None:
        rows = rows.filter(project=project)
    return rows.order_by("project__name", "partner__name", "name")


def connector_get_for_user(user, code) -> Connector:
    """The connector with this public code if the user may see it, else 404 (also for malformed codes)."""
    return get_by_code_or_404(connector_list_rows(user), code, what="connector")


def connector_can_change(user, connector: Connector) -> bool:
    """Only the partner's own users configure a connector (create, edit, keys, destinations, delete)."""
    return has_role(user, PARTNER) and user.partner_id == connector.partner_id


def connector_can_see_details(user, connector: Connector) -> bool:
    """Keys, storage and API activity, and pausing: the partner's users and CSMs (a privacy admin sees the summary
    only)."""
    return connector_can_change(user, connector) or has_role(user, CSM)


def projects_for_new_connector(user) -> QuerySet[Project]:
    """The projects a partner user may add connectors to: those granted to its partner."""
    if not has_role(user, PARTNER) or user.partner_id is None:
        return Project.objects.none()
    return Project.objects.filter(deleting_since__isnull=True, grants__partner_id=user.partner_id).order_by("name")


def connector_keys(connector: Connector) -> list[ConnectorKey]:
    """The connector's keys, working ones first, with whether each works now."""
    now = timezone.now()
    keys = list(connector.keys.select_related("created_by").order_by("revoked_at", "-created_at"))
    for key in keys:
        key.is_active = key.is_active_at(now)
    return sorted(keys, key=lambda key: not key.is_active)


def connector_key_get(connector: Connector, code) -> ConnectorKey:
    return get_by_code_or_404(connector.keys.all(), code, what="key")


def destination_get(connector: Connector, code) -> Destination:
    return get_by_code_or_404(connector.destinations.all(), code, what="destination")


def source_get(connector: Connector, code) -> Source:
    return get_by_code_or_404(connector.sources.all(), code, what="source")


def connector_activity(connector: Connector, *, hours: int = 24) -> dict:
    """The connector's own API calls: per route, error rate, latest errors."""
    return api_activity(ApiCall.objects.filter(project_id=connector.project_id, connector=connector), hours=hours)


# ---- the API's view of connector keys (registered with api.auth in apps.ready) --------------------------------

_KEY_SQL = f"""
SELECT ck.id, project.customer_id, connector.project_id, ck.secret, ck.expires_at, ck.revoked_at,
       connector.id, connector.features, connector.status,
       EXISTS (SELECT 1 FROM {ProjectGrant._meta.db_table} grant_row
               WHERE grant_row.project_id = connector.project_id AND grant_row.partner_id = connector.partner_id)
FROM {ConnectorKey._meta.db_table} ck
JOIN {Connector._meta.db_table} connector ON connector.id = ck.connector_id
JOIN {Project._meta.db_table} project ON project.id = connector.project_id
WHERE ck.digest = %s
"""


def connector_key_row(digest: str) -> KeyRow | None:
    """A connector's key as the API's check needs it: the connector's project only, its features only; a key whose
    partner lost the project's grant no longer opens it."""
    with connection.cursor() as cursor:
        cursor.execute(_KEY_SQL, [digest])
        row = cursor.fetchone()
    if row is None:
        return None
    key_id, customer_id, project_id, token, expires_at, revoked_at, connector_id, features, status, granted = row
    if isinstance(features, str):  # SQLite returns JSON as text
        features = json.loads(features)
    return KeyRow(
        id=key_id,
        customer_id=customer_id,
        project_id=project_id,
        app_id=None,
        secret=Secret.from_token(token),
        expires_at=aware(expires_at),
        revoked=revoked_at is not None or not granted,
        source="connector",
        connector_id=connector_id,
        features=frozenset(features or ()),
        paused=status == Connector.Status.PAUSED,
    )


def connector_key_used(key_id: int, now: dt.datetime) -> None:
    ConnectorKey.objects.filter(pk=key_id).update(last_used_at=now)


def export_configs_of(connector: Connector) -> list[ExportConfig]:
    """The connector's daily exports with their latest run's day, status and error (for their state and health)."""
    latest = ExportRun.objects.filter(config=OuterRef("pk")).order_by("-day")
    return list(
        connector.export_configs.select_related("app", "destination")
        .annotate(
            last_status=Subquery(latest.values("status")[:1]),
            last_success_at=Subquery(
                latest.filter(status=ExportRun.Status.SUCCEEDED).order_by("-finished_at").values("finished_at")[:1]
            ),
            last_failure_at=Subquery(
                latest.filter(status=ExportRun.Status.FAILED).order_by("-finished_at").values("finished_at")[:1]
            ),
            last_failure=Subquery(
                latest.filter(status=ExportRun.Status.FAILED).order_by("-finished_at").values("error")[:1]
            ),
        )
        .order_by("pk")
    )
