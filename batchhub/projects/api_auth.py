"""Authentication of the REST API's two families, in constant time, audited on failure, rate limited.

- per app: the app's live or dev key in the path, its REST key in `X-Authorization`;
- per project: `Authorization: Bearer <project REST key>` and `X-Batch-Project: <project key>`.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from django.db import connection
from ninja.security import APIKeyHeader, HttpBearer

from batchhub.core.apikit import rate_limit_check
from batchhub.core.crypto import Secret, mask
from batchhub.core.services import audit_record
from batchhub.projects.models import App, Project

logger = logging.getLogger(__name__)
_DUMMY_KEY = "0" * 32


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling: always a project, and the app for per-app routes (ids: routes load what they need)."""

    project_id: int
    app_id: int | None

    @property
    def scope(self) -> str:
        return f"app:{self.app_id}" if self.app_id else f"project:{self.project_id}"


# Every API call runs one of these: only the columns the check needs, no model instances.
_APP_CREDENTIALS = f"""
SELECT app.id, app.project_id, app.rest_api_key, project.api_rate_limit_per_minute
FROM {App._meta.db_table} app JOIN {Project._meta.db_table} project ON project.id = app.project_id
WHERE app.live_api_key = %s OR app.dev_api_key = %s
LIMIT 1
"""
_PROJECT_CREDENTIALS = f"""
SELECT id, rest_api_key, api_rate_limit_per_minute FROM {Project._meta.db_table} WHERE key = %s
"""


def _fetch(sql: str, params: list) -> tuple | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _stored_secret(token: str | None) -> Secret | None:
    return Secret.from_token(token) if token else None  # decrypted only if a key was presented


def _compare(secret, presented: str | None) -> bool:
    if secret is None:
        hmac.compare_digest(_DUMMY_KEY.encode(), (presented or "").encode())  # same work for unknown keys
        return False
    return secret.matches(presented)


def _auth_failed(request, *, family: str, project_id: int | None, identifier: str) -> None:
    audit_record(
        actor="api",
        action="api.auth_failed",
        object_type=family,
        object_repr=f"{family} key {mask(identifier) if identifier else '(none)'} on {request.path[:120]}",
        project=Project.objects.filter(pk=project_id).first() if project_id else None,
    )
    logger.warning("API authentication failed (%s family) for %s", family, request.path[:120])


class AppKeyAuth(APIKeyHeader):
    """Per-app routes: the app key comes from the URL, the REST key from `X-Authorization`."""

    param_name = "X-Authorization"

    def authenticate(self, request, key: str | None):
        app_key = (request.resolver_match.kwargs.get("api_key") if request.resolver_match else "") or ""
        row = _fetch(_APP_CREDENTIALS, [app_key, app_key]) if app_key else None
        app_id, project_id, token, per_minute = row or (None, None, None, 0)
        if not _compare(_stored_secret(token), key):
            _auth_failed(request, family="app", project_id=project_id, identifier=app_key)
            return None
        caller = ApiCaller(project_id=project_id, app_id=app_id)
        rate_limit_check(caller.scope, per_minute=per_minute)
        return caller


class ProjectKeyAuth(HttpBearer):
    """Per-project routes: `Authorization: Bearer <REST key>` plus `X-Batch-Project: <project key>`."""

    def authenticate(self, request, token: str | None):
        project_key = request.headers.get("X-Batch-Project", "")
        row = _fetch(_PROJECT_CREDENTIALS, [project_key]) if project_key else None
        project_id, stored, per_minute = row or (None, None, 0)
        if not _compare(_stored_secret(stored), token):
            _auth_failed(request, family="project", project_id=project_id, identifier=project_key)
            return None
        caller = ApiCaller(project_id=project_id, app_id=None)
        rate_limit_check(caller.scope, per_minute=per_minute)
        return caller
