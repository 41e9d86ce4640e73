"""What processes share, chosen from the settings: Redis when ``REDIS_URL`` is set, in-process otherwise.

One place decides, so the web app, the chat bot, the upstream clients and the worker all agree::

    upstream_cache(settings)      -> Cache         RedisCache | the process's MemoryCache
    upstream_limiter(settings)    -> RateLimiter   RedisRateLimiter | the process's TokenBucket
    redis_health(settings)        -> dict | None   None without Redis; {"ok": ..., "detail": ...} with it

Nothing here imports redis unless ``REDIS_URL`` is set. (Chat idempotency keys live with the chat
code: :mod:`sigmatch.runtime.chat.idempotency`; :func:`sigmatch.runtime.redisio.locks.claim_once` is the same
``SET NX EX`` for other callers.)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sigmatch import config
from sigmatch.upstream.http import Cache, RateLimiter, default_cache, default_limiter


def redis_url(settings: Mapping[str, Any] | None = None) -> str:
    """``REDIS_URL`` from ``settings`` (falling back to the environment); ``""`` when unset."""
    if settings is not None and "REDIS_URL" in settings:
        return str(settings["REDIS_URL"] or "")
    return str(config.get("REDIS_URL") or "")


def _setting(settings: Mapping[str, Any] | None, name: str) -> Any:
    if settings is not None and name in settings:
        return settings[name]
    return config.get(name)


def redis_health(settings: Mapping[str, Any] | None = None) -> dict[str, Any] | None:
    """``None`` in the embedded deployment; else whether Redis answers (for ``/readyz``)."""
    url = redis_url(settings)
    if not url:
        return None
    from sigmatch.runtime.redisio import health

    return health(url)


def upstream_cache(settings: Mapping[str, Any] | None = None) -> Cache:
    url = redis_url(settings)
    if not url:
        return default_cache()
    from sigmatch.runtime.redisio import PROBE_TIMEOUT, client_for
    from sigmatch.runtime.redisio.cache import RedisCache

    # Short timeouts: a hung Redis must cost a lookup a cache miss, not its whole time budget.
    return RedisCache(client_for(url, timeout=PROBE_TIMEOUT))


def upstream_limiter(settings: Mapping[str, Any] | None = None) -> RateLimiter:
    rate = float(_setting(settings, "SIGMATCH_RATE_LIMIT"))
    url = redis_url(settings)
    if not url:
        return default_limiter(rate)
    from sigmatch.runtime.redisio import PROBE_TIMEOUT, client_for
    from sigmatch.runtime.redisio.cache import RedisRateLimiter

    return RedisRateLimiter(client_for(url, timeout=PROBE_TIMEOUT), rate)
