"""Authentication of the REST API's two families, in constant time, audited on failure, rate limited.

The REST key belongs to the customer company, as Batch's "company REST API key" does: one key works for every
app and project of the company, unless it was narrowed to one project.
- per app: the app's live, dev or SDK key in the path names the app; the REST key comes in `X-Authorization`;
- per project: `X-Batch-Project: <project key>` names the project; the REST key comes as `Authorization: Bearer`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from ninja.security import APIKeyHeader, HttpBearer

from batchhub.api.errors import ApiError
from batchhub.api.limits import rate_limit_enforce, rate_window_count
from batchhub.core.audit.record import audit_record
from batchhub.core.data.redis import as_text, cache_count, shared_redis
from batchhub.core.models import AuditEvent
from batchhub.core.secrets.crypto import Secret, mask
from batchhub.core.web.logging import masked_path
from batchhub.projects.models import App, Project, RestApiKey, rest_key_digest

logger = logging.getLogger(__name__)
_DUMMY_KEY = "0" * 32


@dataclass(frozen=True)
class ApiCaller:
    """Who is calling: always a project, and the app for per-app routes (ids: routes load what they need); with a
    connector's key, the connector and the inbound features it may use (None: every feature)."""

    project_id: int
    app_id: int | None
    connector_id: int | None = None
    features: frozenset[str] | None = None
    app_key_kind: str | None = None  # per-app routes: which of the app's keys named it ("live", "dev" or "sdk")

    @property
    def is_dev_key(self) -> bool:
        """Called with the app's dev API key: what Batch sends to dev builds only (a campaign's `dev_only`)."""
        return self.app_key_kind == APP_KEY_DEV

    @property
    def scope(self) -> str:
        """What the rate limit counts: the project's (or app's) calls, whichever key made them."""
        return f"app:{self.app_id}" if self.app_id else f"project:{self.project_id}"

    @property
    def idempotency_scope(self) -> str:
        """Whose Idempotency-Keys these are: two partners' connectors never share theirs, nor with the customer."""
        return f"{self.scope}:connector:{self.connector_id}" if self.connector_id else self.scope

    def feature_require(self, feature: str, label: str) -> None:
        """403 API_MISUSE, naming the feature, when a connector's key calls a feature its connector has not enabled."""
        if self.features is not None and feature not in self.features:
            raise ApiError(
                "API_MISUSE",
                f"This connector's API key cannot use {label}: enable “{label}” on the connector, or use the key of "
                "a connector that has it.",
            )


APP_KEY_LIVE, APP_KEY_DEV, APP_KEY_SDK = "live", "dev", "sdk"

# What a path's app key or an X-Batch-Project names: only the columns the check needs, no model instances; for an
# app, which of its keys it is (the cache is by key, so the kind is cached with the rest).
_APP_TARGET = f"""
SELECT app.project_id, app.id, project.customer_id, project.api_rate_limit_per_minute,
       CASE WHEN app.live_api_key = %s THEN '{APP_KEY_LIVE}' WHEN app.dev_api_key = %s THEN '{APP_KEY_DEV}'
            ELSE '{APP_KEY_SDK}' END
FROM {App._meta.db_table} app JOIN {Project._meta.db_table} project ON project.id = app.project_id
WHERE (app.live_api_key = %s OR app.dev_api_key = %s OR app.sdk_api_key = %s) AND project.deleting_since IS NULL
LIMIT 1
"""
_PROJECT_TARGET = f"""
SELECT id, NULL, customer_id, api_rate_limit_per_minute, NULL FROM {Project._meta.db_table}
WHERE key = %s AND deleting_since IS NULL
"""
_REST_KEY = f"""
SELECT id, customer_id, project_id, app_id, secret, expires_at, revoked_at
FROM {RestApiKey._meta.db_table} WHERE digest = %s
"""
# Bumped in Redis whenever an app, a project or a REST key is saved or deleted: every process's cache is stale.
CREDENTIALS_VERSION_KEY = "api:credentials:version"
CACHE_SECONDS = 300.0  # upper bound, should a bump ever be lost
LAST_USED_EVERY = 60.0  # a key's "last used" is written at most once a minute per process


@dataclass(frozen=True)
class _Target:
    project_id: int
    app_id: int | None
    customer_id: int
    per_minute: int
    app_key_kind: str | None = None


@dataclass(frozen=True)
class KeyRow:
    """A REST key as the check needs it. A connector's key (`source` "connector") carries its connector, the
    features it may use, and whether the connector is paused."""

    id: int
    customer_id: int
    project_id: int | None
    app_id: int | None
    secret: Secret
    expires_at: dt.datetime | None
    revoked: bool
    source: str = "customer"
    connector_id: int | None = None
    features: frozenset[str] | None = None
    paused: bool = False

    def opens(self, target: _Target, presented: str | None, now: dt.datetime) -> bool:
        matches = self.secret.matches(presented)  # compared first, whatever the rest says
        return (
            matches
            and self.customer_id == target.customer_id
            and self.project_id in (None, target.project_id)
            and self.app_id in (None, target.app_id)
            and not self.revoked
            and (self.expires_at is None or self.expires_at > now)
        )


T = TypeVar("T")


class _CredentialCache(Generic[T]):
    """Rows found by key, kept in this process while the version in Redis stays the same.

    Checking the version rides on the rate limit's round trip, so a call by known keys costs no database
    query; a key rotated, revoked or deleted stops working at once in every process. Without a shared Redis
    nothing is kept. Only rows that exist are kept (bounded by the number of apps, projects and keys).
    """

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, str | None, T]] = {}

    def get(self, identifier: str) -> tuple[str | None, T] | None:
        entry = self._entries.get(identifier)
        if entry is None or entry[0] < time.monotonic() or shared_redis() is None:
            return None
        return entry[1], entry[2]

    def put(self, identifier: str, version: str | None, value: T) -> None:
        self._entries[identifier] = (time.monotonic() + CACHE_SECONDS, version, value)


_APP_CACHE: _CredentialCache[_Target] = _CredentialCache()
_PROJECT_CACHE: _CredentialCache[_Target] = _CredentialCache()
_KEY_CACHE: _CredentialCache[KeyRow] = _CredentialCache()
_LAST_USED_WRITTEN: dict[str, float] = {}  # by digest


def credentials_changed(**_) -> None:
    """Receiver of `projects.signals.credentials_changed` (any App, Project or RestApiKey saved or deleted): every
    process re-reads keys, now and once committed (a process reading between the two would cache the row as it
    was before the commit)."""

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


def _fetch_one(sql: str, params: list):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()


def _fetch_target(sql: str, params: list) -> _Target | None:
    row = _fetch_one(sql, params)
    return None if row is None else _Target(*row)


@dataclass(frozen=True)
class KeySource:
    """Keys held by an app above this one (connectors): found by digest, and marked used."""

    name: str
    find: Callable[[str], KeyRow | None]
    used: Callable[[int, dt.datetime], None]


_KEY_SOURCES: dict[str, KeySource] = {}


def key_source_register(name: str, *, find: Callable[[str], KeyRow | None], used: Callable) -> None:
    """Accept the keys another app holds (looked up by digest after the customers' keys). Whoever registers sends
    `projects.signals.credentials_changed` when its keys, or what they open, change."""
    _KEY_SOURCES[name] = KeySource(name=name, find=find, used=used)


def aware(moment: dt.datetime | None) -> dt.datetime | None:
    if moment is not None and timezone.is_naive(moment):  # SQLite returns naive UTC
        return moment.replace(tzinfo=dt.UTC)
    return moment


def _fetch_key(digest: str) -> KeyRow | None:
    row = _fetch_one(_REST_KEY, [digest])
    if row is None:
        for source in _KEY_SOURCES.values():
            if (key := source.find(digest)) is not None:
                return key
        return None
    key_id, customer_id, project_id, app_id, token, expires_at, revoked_at = row
    # decrypted only when the key is compared
    return KeyRow(
        key_id, customer_id, project_id, app_id, Secret.from_token(token), aware(expires_at), revoked_at is not None
    )


def _key_used(key: KeyRow, digest: str, now: dt.datetime) -> None:
    """Record that a key was used, at most once a minute per process (a write per call would cost the hot path)."""
    moment = time.monotonic()
    if moment - _LAST_USED_WRITTEN.get(digest, -LAST_USED_EVERY) < LAST_USED_EVERY:
        return
    _LAST_USED_WRITTEN[digest] = moment
    if key.source in _KEY_SOURCES:
        _KEY_SOURCES[key.source].used(key.id, now)
    else:
        RestApiKey.objects.filter(pk=key.id).update(last_used_at=now)  # no signal: not a change of credentials


def _authenticate(
    request,
    *,
    family: str,
    identifier: str,
    presented: str | None,
    cache: _CredentialCache[_Target],
    sql: str,
    params: list,
) -> ApiCaller | None:
    """The caller if `presented` is a REST key that opens what `identifier` names; counts the call (429 past the
    limit). Known keys cost no query: the cached rows' version is read with the call count."""
    digest = rest_key_digest(presented) if presented else ""
    target, key, counted = None, None, None
    now = timezone.now()
    cached_target = cache.get(identifier) if identifier else None
    cached_key = _KEY_CACHE.get(digest) if digest else None
    # Counted only for a key that opens the target (as cached): another tenant's key, a revoked one or a paused
    # connector's never spends this target's calls.
    if (
        cached_target is not None
        and cached_key is not None
        and not cached_key[1].paused
        and cached_key[1].opens(cached_target[1], presented, now)
    ):
        scope = ApiCaller(cached_target[1].project_id, cached_target[1].app_id).scope
        count, version = rate_window_count(scope, also_read=CREDENTIALS_VERSION_KEY)
        counted = (scope, count)
        if version == cached_target[0] == cached_key[0]:
            target, key = cached_target[1], cached_key[1]
    if target is None or key is None:
        # A key this process does not know (every guess is one) is looked up only for a client that has not
        # failed too often this minute; known keys never pay this check.
        _guessing_throttle(request)
        version = _credentials_version()  # read before the rows: a change in between shows as a new version
        if cached_target is not None and cached_target[0] == version:
            target = cached_target[1]
        elif identifier and (target := _fetch_target(sql, params)) is not None:
            cache.put(identifier, version, target)
        if cached_key is not None and cached_key[0] == version:
            key = cached_key[1]
        elif digest and (key := _fetch_key(digest)) is not None:
            _KEY_CACHE.put(digest, version, key)
    if key is None or target is None or not key.opens(target, presented, now):
        if key is None:
            hmac.compare_digest(_DUMMY_KEY.encode(), (presented or "").encode("utf-8", "surrogatepass"))
        _auth_failed(request, family=family, project_id=target.project_id if target else None, identifier=identifier)
        return None
    if key.paused:  # refused before it is counted: a connector paused for flooding spends none of the customer's calls
        raise ApiError(
            "API_MISUSE",
            "This API key's connector is paused: its partner or the customer's CSM can resume it on the dashboard.",
        )
    caller = ApiCaller(
        project_id=target.project_id,
        app_id=target.app_id,
        connector_id=key.connector_id,
        features=key.features,
        app_key_kind=target.app_key_kind,
    )
    count = counted[1] if counted and counted[0] == caller.scope else rate_window_count(caller.scope)[0]
    rate_limit_enforce(count, per_minute=target.per_minute)
    _key_used(key, digest, now)
    return caller


def _failures_key(request) -> str:
    return f"api:auth_failed:ip:{request.META.get('REMOTE_ADDR', '')}:{int(time.time() // 60)}"


def _guessing_throttle(request) -> None:
    """429 for a client address past `API_AUTH_FAILURES_PER_MINUTE` failed authentications this minute."""
    failures = cache.get(_failures_key(request)) or 0
    if failures >= settings.API_AUTH_FAILURES_PER_MINUTE:
        retry_after = max(1, int(60 - time.time() % 60))
        raise ApiError(
            "TOO_MANY_REQUESTS",
            f"Too many failed authentications from this address; retry in {retry_after} s.",
            retry_after=retry_after,
        )


def _auth_failed(request, *, family: str, project_id: int | None, identifier: str) -> None:
    """Audit a refused call, one row per key and minute with the count (a guessing client would otherwise flood
    every "Recent activity" panel: 300 rows in 1.4 s once), and log it with the key slot masked."""
    shown_key = mask(identifier) if identifier else "(none)"
    cache_count(_failures_key(request), timeout=120)
    window = f"api:auth_failed:{family}:{rest_key_digest(identifier)}:{int(time.time() // 60)}"
    failures = cache_count(window, timeout=120)
    event_id = cache.get(f"{window}:event") if failures > 1 else None
    if event_id is not None:
        AuditEvent.objects.filter(pk=event_id).update(changes={"failures in this minute": failures})
    else:
        event = audit_record(
            actor="api",
            action="api.auth_failed",
            object_type=family,
            object_repr=f"{family} key {shown_key} on {masked_path(request.path[:120])}",
            project=Project.objects.filter(pk=project_id).first() if project_id else None,
            changes={"failures in this minute": failures},
        )
        cache.set(f"{window}:event", event.pk, timeout=120)
    logger.warning("API authentication failed (%s family) for %s", family, masked_path(request.path[:120]))


class AppKeyAuth(APIKeyHeader):
    """Per-app routes: the app's live, dev or SDK key comes from the URL, the REST key from `X-Authorization`."""

    param_name = "X-Authorization"

    def authenticate(self, request, key: str | None):
        app_key = (request.resolver_match.kwargs.get("api_key") if request.resolver_match else "") or ""
        return _authenticate(
            request, family="app", identifier=app_key, presented=key, cache=_APP_CACHE,
            sql=_APP_TARGET, params=[app_key] * 5,
        )  # fmt: skip


class ProjectKeyAuth(HttpBearer):
    """Per-project routes: `Authorization: Bearer <REST key>` plus `X-Batch-Project: <project key>`."""

    def authenticate(self, request, token: str | None):
        project_key = request.headers.get("X-Batch-Project", "")
        return _authenticate(
            request, family="project", identifier=project_key, presented=token, cache=_PROJECT_CACHE,
            sql=_PROJECT_TARGET, params=[project_key],
        )  # fmt: skip
