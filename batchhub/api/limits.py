"""Rate limits of the REST API: calls per key and minute, and token buckets (profiles per second), in Redis."""

from __future__ import annotations

import math
import time

from batchhub.api.errors import ApiError
from batchhub.core.data.redis import as_text, cache_count, shared_redis, shared_script

# One command, one round trip: count the call, start the window's expiry on its first call, read a key.
_COUNT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local read = false
if KEYS[2] then read = redis.call('GET', KEYS[2]) end
return {count, read}
"""


def rate_window_count(scope: str, *, also_read: str | None = None) -> tuple[int, str | None]:
    """Count one call for `scope` in the current minute: (calls so far, value of the cache key `also_read`).

    On Redis one round trip (a Lua script); `also_read` is None without Redis.
    """
    key = f"ratelimit:{scope}:{int(time.time() // 60)}"
    script = shared_script(_COUNT_AND_READ)
    if script is not None:
        make_key = shared_redis()[1]
        keys = [make_key(key)] + ([make_key(also_read)] if also_read is not None else [])
        count, read = script(keys=keys, args=[90])  # a window lives 60 s; 30 more cover clock skew
        return int(count), as_text(read)
    return cache_count(key, timeout=90), None


def rate_limit_enforce(count: int, *, per_minute: int) -> None:
    if count > per_minute:
        retry_after = max(1, int(60 - time.time() % 60))
        raise ApiError(
            "TOO_MANY_REQUESTS",
            f"Rate limit of {per_minute} calls per minute reached for this key; retry in {retry_after} s.",
            retry_after=retry_after,
        )


# A token bucket in one round trip: refill by the time elapsed (Redis's own clock), then take `cost` or refuse.
_BUCKET_TAKE = """
local per_second, burst, cost = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens, at = tonumber(state[1]) or burst, tonumber(state[2]) or now
tokens = math.min(burst, tokens + math.max(0, now - at) * per_second / 1000)
if cost > tokens then
  return math.ceil((cost - tokens) * 1000 / per_second)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens - cost), 'at', now)
redis.call('PEXPIRE', KEYS[1], math.ceil(burst * 1000 / per_second) + 1000)
return 0
"""


def rate_bucket_take(scope: str, *, cost: int, per_second: float, burst: int) -> None:
    """Take `cost` units from the token bucket of `scope` (refilled at `per_second`, holding at most `burst`), or
    answer 429 with the seconds to wait. A call costing more than the burst waits for a full bucket and takes it
    (Batch's mass update: 10,000 profiles per second, no burst). Without Redis (the embedded run) nothing is
    counted."""
    script = shared_script(_BUCKET_TAKE)
    if script is None:
        return
    make_key = shared_redis()[1]
    wait_ms = int(script(keys=[make_key(f"bucket:{scope}")], args=[per_second, burst, min(cost, burst)]))
    if wait_ms > 0:
        retry_after = max(1, math.ceil(wait_ms / 1000))
        raise ApiError(
            "TOO_MANY_REQUESTS",
            f"Rate limit of {per_second:g} profiles per second (burst {burst}) reached; retry in {retry_after} s.",
            retry_after=retry_after,
        )
