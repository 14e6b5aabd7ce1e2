"""Authentication of the REST API's two families, in constant time, audited on failure, rate limited.

- per app: the app's live or dev key in the path, its REST key in `X-Authorization`;
- per project: `Authorization: Bearer <project REST key>` and `X-Batch-Project: <project key>`.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

from django.db.models import Q
from ninja.security import APIKeyHeader, HttpBearer

from batchhub.core.apikit import rate_limit_check
from batchhub.core.crypto import mask
from batchhub.core.services import audit_record
from batchhub.projects.models import App, Project

logger = logging.getLogger(__name__)
_DUMMY_KEY = "0" * 32


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling: always a project, and the app for per-app routes."""

    project: Project
    app: App | None

    @property
    def scope(self) -> str:
        return f"app:{self.app.pk}" if self.app else f"project:{self.project.pk}"


def _compare(secret, presented: str | None) -> bool:
    if secret is None:
        hmac.compare_digest(_DUMMY_KEY.encode(), (presented or "").encode())  # same work for unknown keys
        return False
    return secret.matches(presented)


def _auth_failed(request, *, family: str, project: Project | None, identifier: str) -> None:
    audit_record(
        actor="api",
        action="api.auth_failed",
        object_type=family,
        object_repr=f"{family} key {mask(identifier) if identifier else '(none)'} on {request.path[:120]}",
        project=project,
    )
    logger.warning("API authentication failed (%s family) for %s", family, request.path[:120])


class AppKeyAuth(APIKeyHeader):
    """Per-app routes: the app key comes from the URL, the REST key from `X-Authorization`."""

    param_name = "X-Authorization"

    def authenticate(self, request, key: str | None):
        app_key = (request.resolver_match.kwargs.get("api_key") if request.resolver_match else "") or ""
        app = (
            App.objects.select_related("project").filter(Q(live_api_key=app_key) | Q(dev_api_key=app_key)).first()
            if app_key
            else None
        )
        if not _compare(app.rest_api_key if app else None, key):
            _auth_failed(request, family="app", project=app.project if app else None, identifier=app_key)
            return None
        caller = ApiCaller(project=app.project, app=app)
        rate_limit_check(caller.scope, per_minute=app.project.api_rate_limit_per_minute)
        return caller


class ProjectKeyAuth(HttpBearer):
    """Per-project routes: `Authorization: Bearer <REST key>` plus `X-Batch-Project: <project key>`."""

    def authenticate(self, request, token: str | None):
        project_key = request.headers.get("X-Batch-Project", "")
        project = Project.objects.filter(key=project_key).first() if project_key else None
        if not _compare(project.rest_api_key if project else None, token):
            _auth_failed(request, family="project", project=project, identifier=project_key)
            return None
        caller = ApiCaller(project=project, app=None)
        rate_limit_check(caller.scope, per_minute=project.api_rate_limit_per_minute)
        return caller
