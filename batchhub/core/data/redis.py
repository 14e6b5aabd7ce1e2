"""The Redis behind the default cache, for hot paths that need more than the cache API (pipelines, SET NX).

Django's RedisCache builds a new redis-py client object for every operation (about 0.1 ms); these helpers
keep one per cache backend, that is one per thread, over the backend's own connection pool.
"""

from __future__ import annotations

from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache


def shared_redis():
    """(redis-py client, key maker) of the default cache if every process shares it (Redis), else None."""
    backend = caches["default"]
    if not isinstance(backend, RedisCache):
        return None
    client = backend.__dict__.get("_batchhub_client")
    if client is None:
        client = backend.__dict__["_batchhub_client"] = backend._cache.get_client(write=True)
    return client, backend.make_and_validate_key


def cache_count(key: str, *, timeout: int) -> int:
    """One more in the counter `key` of the default cache (created for `timeout` seconds); returns the count."""
    cache.add(key, 0, timeout=timeout)
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=timeout)
        return 1


def as_text(value: bytes | str | None) -> str | None:
    """A value read from Redis as text (the shared client returns bytes)."""
    return value.decode() if isinstance(value, bytes) else value


def shared_script(source: str):
    """A Lua script registered on the shared Redis (called by its SHA, loaded again if Redis restarted),
    or None without Redis."""
    redis = shared_redis()
    if redis is None:
        return None
    client = redis[0]
    scripts = client.__dict__.setdefault("_batchhub_scripts", {})
    script = scripts.get(source)
    if script is None:
        script = scripts[source] = client.register_script(source)
    return script
