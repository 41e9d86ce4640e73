"""Redis adapters: what the processes of one deployment share when ``REDIS_URL`` is set.

::

    client_for(url)        one pooled client per URL and process, short timeouts (never hangs a request)
    health(url)            {"ok": bool, "detail": ...} for /readyz
    store.RedisSnapshotStore   the current catalog snapshot, versioned, swapped atomically
    cache.RedisCache / cache.RedisRateLimiter    upstream cache and per-host pacing across processes
    locks.RedisLock / locks.claim_once           lock with expiry, SET NX EX idempotency keys

Nothing in the core imports this package; :func:`sigmatch.runtime.build_runtime` picks these or
the in-process equivalents from the settings.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

KEY_PREFIX = "sigmatch:"
# A request must never hang on a Redis that went away: connect and read time out quickly, and a
# failed call is reported (and retried later), never waited on.
CONNECT_TIMEOUT = 2.0
SOCKET_TIMEOUT = 10.0  # snapshot blobs are megabytes: reads need a little longer than a PING

PROBE_TIMEOUT = 1.0  # calls in a request path (PING, snapshot probe, upstream cache): answer fast or count as down

_CLIENTS: dict[tuple[str, float], redis.Redis] = {}
_CLIENTS_LOCK = threading.Lock()


def client_for(url: str, *, timeout: float = SOCKET_TIMEOUT) -> redis.Redis:
    """The process-wide client for ``url`` (thread-safe, fork-safe connection pool).

    ``timeout`` bounds connecting and every read; callers in a request path use :data:`PROBE_TIMEOUT`.
    """
    with _CLIENTS_LOCK:
        client = _CLIENTS.get((url, timeout))
        if client is None:
            client = redis.Redis.from_url(
                url,
                socket_connect_timeout=min(CONNECT_TIMEOUT, timeout),
                socket_timeout=timeout,
                health_check_interval=30,
                retry_on_timeout=False,
            )
            _CLIENTS[(url, timeout)] = client
        return client


def health(url: str) -> dict[str, Any]:
    """``{"ok": True}`` when Redis answers PING, else ``{"ok": False, "detail": why}``."""
    try:
        client_for(url, timeout=PROBE_TIMEOUT).ping()
    except (redis.RedisError, OSError) as exc:
        return {"ok": False, "detail": f"redis unreachable: {type(exc).__name__}: {str(exc)[:200]}"}
    return {"ok": True}


def key(*parts: str) -> str:
    return KEY_PREFIX + ":".join(parts)


__all__ = ["KEY_PREFIX", "client_for", "health", "key"]
