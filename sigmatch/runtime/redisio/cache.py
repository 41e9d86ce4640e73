"""The upstream HTTP cache and per-host rate limit, shared by every process through Redis.

Both implement the small interfaces of :mod:`sigmatch.upstream.http` (``Cache``, ``RateLimiter``).
Both degrade instead of failing: a cache that cannot reach Redis misses (and does not store),
a rate limiter that cannot reach Redis paces with an in-process token bucket until Redis is back.
"""

from __future__ import annotations

import logging
import math
import time

import redis

from sigmatch.runtime.redisio import key as _key
from sigmatch.upstream.http import TokenBucket

log = logging.getLogger("sigmatch.redis")

_ERRORS = (redis.RedisError, OSError)


class RedisCache:
    """Bytes under ``sigmatch:cache:<key>`` with ``PX`` expiry; values above ``max_bytes`` are not kept."""

    def __init__(self, client: redis.Redis, *, max_bytes: int = 8 * 1024 * 1024) -> None:
        self.client = client
        self.max_bytes = max_bytes

    def get(self, key: str) -> bytes | None:
        try:
            raw = self.client.get(_key("cache", key))
        except _ERRORS as exc:
            log.debug("cache get failed: %s", exc)
            return None
        return raw if isinstance(raw, bytes) else None

    def set(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0 or len(value) > self.max_bytes:
            return
        try:
            self.client.set(_key("cache", key), value, px=max(1, int(ttl * 1000)))
        except _ERRORS as exc:
            log.debug("cache set failed: %s", exc)


# GCRA (generic cell rate algorithm): one key per host holds the "theoretical arrival time" in
# microseconds of Redis's own clock (TIME), so every process on every host paces against the
# same clock. Returns the wait in microseconds, or -1 when the slot lies beyond max_wait.
_GCRA = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
if max_wait >= 0 and wait > max_wait then return -1 end
local new_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000) + 1000)
return wait
"""


class RedisRateLimiter:
    """``rate`` requests a second per key across all processes, bursts up to ``burst``."""

    def __init__(self, client: redis.Redis, rate: float, burst: float = 4.0) -> None:
        self.client = client
        self.rate = rate
        self.burst = max(1.0, burst)
        self._fallback = TokenBucket(rate, burst)

    def acquire(self, key: str, *, deadline: float | None = None) -> bool:
        if self.rate <= 0:
            return True
        interval_us = int(1_000_000 / self.rate)
        tolerance_us = int(interval_us * (self.burst - 1.0))
        max_wait_us = -1 if deadline is None else max(0, int((deadline - time.monotonic()) * 1_000_000))
        try:
            wait = int(self.client.eval(_GCRA, 1, _key("rate", key), interval_us, tolerance_us, max_wait_us))
        except _ERRORS as exc:
            log.debug("rate limiter falls back to in-process pacing: %s", exc)
            return self._fallback.acquire(key, deadline=deadline)
        if wait < 0:
            return False
        if wait > 0:
            time.sleep(math.ceil(wait) / 1_000_000)
        return True
