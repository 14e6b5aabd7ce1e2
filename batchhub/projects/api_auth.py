"""Authentication of the REST API's two families, in constant time, audited on failure, rate limited.

- per app: the app's live or dev key in the path, its REST key in `X-Authorization`;
- per project: `Authorization: Bearer <project REST key>` and `X-Batch-Project: <project key>`.
"""

from __future__ import annotations

import hmac
import logging
import time
from dataclasses import dataclass

from django.db import connection, transaction
from ninja.security import APIKeyHeader, HttpBearer

from batchhub.core.apikit import rate_limit_enforce, rate_window_count
from batchhub.core.crypto import Secret, mask
from batchhub.core.redis import as_text, shared_redis
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


# Looked up by key: only the columns the check needs, no model instances.
_APP_CREDENTIALS = f"""
SELECT app.project_id, app.id, app.rest_api_key, project.api_rate_limit_per_minute
FROM {App._meta.db_table} app JOIN {Project._meta.db_table} project ON project.id = app.project_id
WHERE app.live_api_key = %s OR app.dev_api_key = %s
LIMIT 1
"""
_PROJECT_CREDENTIALS = f"""
SELECT id, NULL, rest_api_key, api_rate_limit_per_minute FROM {Project._meta.db_table} WHERE key = %s
"""
# Bumped in Redis whenever an app or a project is saved or deleted: every process's cache is then stale.
CREDENTIALS_VERSION_KEY = "api:credentials:version"
CACHE_SECONDS = 300.0  # upper bound, should a bump ever be lost


@dataclass(frozen=True)
class _Credentials:
    project_id: int
    app_id: int | None
    secret: Secret | None
    per_minute: int

    @property
    def caller(self) -> ApiCaller:
        return ApiCaller(project_id=self.project_id, app_id=self.app_id)


class _CredentialCache:
    """Credentials found by key, kept in this process while the version in Redis stays the same.

    Checking the version rides on the rate limit's round trip, so a call by a known key costs no database
    query; a key rotated or deleted stops working at once in every process. Without a shared Redis nothing
    is kept. Only keys that exist are kept (bounded by the number of apps and projects).
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str | None, _Credentials]] = {}

    def get(self, identifier: str) -> tuple[str | None, _Credentials] | None:
        entry = self._entries.get(identifier)
        if entry is None or entry[0] < time.monotonic() or shared_redis() is None:
            return None
        return entry[1], entry[2]

    def put(self, identifier: str, version: str | None, credentials: _Credentials) -> None:
        self._entries[identifier] = (time.monotonic() + CACHE_SECONDS, version, credentials)


_APP_CACHE = _CredentialCache()
_PROJECT_CACHE = _CredentialCache()


def credentials_changed(**_) -> None:
    """Receiver of App and Project saves and deletes: every process re-reads keys, now and once committed
    (a process reading between the two would cache the row as it was before the commit)."""

    def bump() -> None:
        redis = shared_redis()
        if redis is not None:
            client, make_key = redis
            client.incr(make_key(CREDENTIALS_VERSION_KEY))

    bump()
    transaction.on_commit(bump)


def _credentials_version() -> str | None:
    redis = shared_redis()
    if redis is None:
        return None
    client, make_key = redis
    return as_text(client.get(make_key(CREDENTIALS_VERSION_KEY)))


def _fetch(sql: str, params: list) -> _Credentials | None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    project_id, app_id, token, per_minute = row
    # decrypted only when a key is compared
    return _Credentials(project_id, app_id, Secret.from_token(token) if token else None, per_minute)


def _compare(secret: Secret | None, presented: str | None) -> bool:
    if secret is None:
        hmac.compare_digest(_DUMMY_KEY.encode(), (presented or "").encode())  # same work for unknown keys
        return False
    return secret.matches(presented)


def _authenticate(
    request, *, family: str, identifier: str, presented: str | None, cache: _CredentialCache, sql: str, params: list
) -> ApiCaller | None:
    """The caller if `presented` is the REST key of what `identifier` names; counts the call (429 past the
    limit). A known key costs no query: the cached credentials' version is read with the call count."""
    credentials, counted = None, None
    cached = cache.get(identifier) if identifier else None
    if cached is not None:
        cached_version, known = cached
        if _compare(known.secret, presented):
            scope = known.caller.scope
            count, version = rate_window_count(scope, also_read=CREDENTIALS_VERSION_KEY)
            counted = (scope, count)
            if version == cached_version:
                credentials = known
    if credentials is None and identifier:
        version = _credentials_version()  # read before the row: a change in between shows as a new version
        credentials = _fetch(sql, params)
        if credentials is not None:
            cache.put(identifier, version, credentials)
    if not _compare(credentials.secret if credentials else None, presented):
        _auth_failed(request, family=family, project_id=credentials.project_id if credentials else None,
                     identifier=identifier)  # fmt: skip
        return None
    caller = credentials.caller
    count = counted[1] if counted and counted[0] == caller.scope else rate_window_count(caller.scope)[0]
    rate_limit_enforce(count, per_minute=credentials.per_minute)
    return caller


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
        return _authenticate(
            request, family="app", identifier=app_key, presented=key, cache=_APP_CACHE,
            sql=_APP_CREDENTIALS, params=[app_key, app_key],
        )  # fmt: skip


class ProjectKeyAuth(HttpBearer):
    """Per-project routes: `Authorization: Bearer <REST key>` plus `X-Batch-Project: <project key>`."""

    def authenticate(self, request, token: str | None):
        project_key = request.headers.get("X-Batch-Project", "")
        return _authenticate(
            request, family="project", identifier=project_key, presented=token, cache=_PROJECT_CACHE,
            sql=_PROJECT_CREDENTIALS, params=[project_key],
        )  # fmt: skip
