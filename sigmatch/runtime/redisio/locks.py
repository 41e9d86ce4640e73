"""A lock with expiry and one-shot idempotency keys, both on plain Redis commands.

:class:`RedisLock` is ``SET key token NX PX ttl``; only the holder (same token) may extend or
release it (compare-and-act in a Lua script, so a lock that expired and was taken by another
process is never released by the first). A holder that dies (kill -9) simply stops extending:
the lock expires after ``ttl`` and the next run goes ahead.

:func:`claim_once` is ``SET key 1 NX EX ttl``: True the first time a key is seen within ``ttl``
(chat events delivered twice by Slack's retries are answered once).
"""

from __future__ import annotations

import contextlib
import threading
import time
import uuid
from types import TracebackType

import redis

from sigmatch.runtime.redisio import key as _key

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


class RedisLock:
    """A named lock with expiry; :meth:`acquire` does not wait unless ``wait`` is given.

    While held, a daemon thread extends it every ``ttl / 3`` seconds (``keepalive=True``), so a
    long refresh keeps it and a dead process loses it after at most ``ttl``.
    """

    def __init__(self, client: redis.Redis, name: str, *, ttl: float = 120.0, keepalive: bool = True) -> None:
        self.client = client
        self.name = name
        self.key = _key("lock", name)
        self.ttl_ms = max(100, int(ttl * 1000))
        self.token = uuid.uuid4().hex
        self.keepalive = keepalive
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.lost = False  # set when a keepalive found the lock gone (expired and maybe taken)

    def acquire(self, wait: float = 0.0) -> bool:
        deadline = None if wait <= 0 else time.monotonic() + wait
        while True:
            if self.client.set(self.key, self.token, nx=True, px=self.ttl_ms):
                self._start_keepalive()
                return True
            if deadline is None or time.monotonic() >= deadline:
                return False
            self._stop.wait(min(0.2, max(0.0, deadline - time.monotonic())))

    def holder(self) -> str | None:
        raw = self.client.get(self.key)
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    def extend(self) -> bool:
        ok = bool(self.client.eval(_EXTEND, 1, self.key, self.token, self.ttl_ms))
        if not ok:
            self.lost = True
        return ok

    def release(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=2)
        with contextlib.suppress(redis.RedisError, OSError):  # Redis gone: the lock expires by itself
            self.client.eval(_RELEASE, 1, self.key, self.token)

    def _start_keepalive(self) -> None:
        if not self.keepalive:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._keep, name=f"sigmatch-lock-{self.name}", daemon=True)
        self._thread.start()

    def _keep(self) -> None:
        every = self.ttl_ms / 3000.0
        while not self._stop.wait(every):
            try:
                if not self.extend():
                    return
            except (redis.RedisError, OSError):
                continue  # Redis hiccup: try again; the lock expires if it lasts longer than ttl

    def __enter__(self) -> RedisLock:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None) -> None:
        self.release()


def claim_once(client: redis.Redis, namespace: str, ident: str, ttl: float) -> bool:
    """True when ``ident`` was not seen in ``namespace`` within the last ``ttl`` seconds."""
    return bool(client.set(_key("once", namespace, ident), b"1", nx=True, ex=max(1, int(ttl))))


def release_once(client: redis.Redis, namespace: str, ident: str) -> None:
    """Forget a :func:`claim_once` claim (its work could not be started: let a retry claim it)."""
    client.delete(_key("once", namespace, ident))


class RedisIdempotency:
    """Chat idempotency keys (:class:`sigmatch.runtime.chat.idempotency.IdempotencyStore`) as
    ``SET key 1 NX EX ttl``: one claim wins across every web process and host."""

    backend = "redis"
    NAMESPACE = "chat"

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def claim(self, key: str, ttl: float = 3600.0) -> bool:
        return claim_once(self._redis, self.NAMESPACE, key, ttl)

    def release(self, key: str) -> None:
        release_once(self._redis, self.NAMESPACE, key)
