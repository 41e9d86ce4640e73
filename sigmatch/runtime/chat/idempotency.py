"""Idempotency keys for chat events: a Slack retry or a duplicate event id never gets a second reply.

::

    store = runtime.idempotency              # Redis with REDIS_URL, else a SQLite file of this machine
    if store.claim("slack:event:Ev123", ttl=3600):
        ...                                   # first time: do the work
    else:
        ...                                   # seen before: acknowledge, do nothing

The Redis one is :class:`sigmatch.runtime.redisio.locks.RedisIdempotency`. ``claim`` is atomic: of any number of concurrent callers with the same key (threads, or with Redis
processes on several hosts), exactly one gets ``True`` until the key expires.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

log = logging.getLogger("sigmatch.chat")

DEFAULT_TTL = 3600.0  # Slack retries an event for about an hour at most (three retries)


class IdempotencyStore(Protocol):
    backend: str

    def claim(self, key: str, ttl: float = DEFAULT_TTL) -> bool:
        """``True`` the first time ``key`` is seen within ``ttl`` seconds, ``False`` after."""
        ...

    def release(self, key: str) -> None:
        """Forget ``key``: the work it was claimed for could not start, so a retry may claim it."""
        ...


class MemoryIdempotency:
    """An in-process TTL set (the embedded default). Bounded: the oldest keys go first when full."""

    backend = "memory"

    def __init__(self, *, max_keys: int = 100_000) -> None:
        self._keys: OrderedDict[str, float] = OrderedDict()  # key -> expiry (monotonic), oldest first
        self._lock = threading.Lock()
        self._max = max_keys

    def claim(self, key: str, ttl: float = DEFAULT_TTL) -> bool:
        now = time.monotonic()
        with self._lock:
            self._expire(now)
            expiry = self._keys.get(key)
            if expiry is not None and expiry > now:
                return False
            self._keys[key] = now + ttl
            self._keys.move_to_end(key)
            while len(self._keys) > self._max:
                self._keys.popitem(last=False)
            return True

    def release(self, key: str) -> None:
        with self._lock:
            self._keys.pop(key, None)

    def _expire(self, now: float) -> None:
        # Keys are mostly inserted with the same TTL, so expired ones gather at the front.
        while self._keys:
            key, expiry = next(iter(self._keys.items()))
            if expiry > now:
                break
            del self._keys[key]

    def __len__(self) -> int:
        return len(self._keys)


class SqliteIdempotency:
    """Claims in a SQLite file: shared by every process of one machine (gunicorn's workers).

    The embedded default: ``sigmatch serve`` runs several worker processes, and a Slack retry may
    reach another worker than the first delivery did; an in-process set would answer it twice.
    """

    backend = "sqlite"
    PURGE_EVERY = 200  # claims between two sweeps of expired keys

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._count = 0
        self._local = threading.local()  # one connection per thread, kept open (a close checkpoints)
        self._pid = os.getpid()
        self._db().execute("CREATE TABLE IF NOT EXISTS claims (key TEXT PRIMARY KEY, expires REAL NOT NULL)")

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._pid != os.getpid():  # a forked child opens its own
            self._pid = os.getpid()
            db = sqlite3.connect(self.path, timeout=5.0, isolation_level=None, check_same_thread=True)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # WAL: a crash may lose the last claims, never corrupt
            self._local.db = db
        return db

    def claim(self, key: str, ttl: float = DEFAULT_TTL) -> bool:
        now = time.time()
        self._count += 1
        db = self._db()
        db.execute("BEGIN IMMEDIATE")
        try:
            db.execute("DELETE FROM claims WHERE key = ? AND expires <= ?", (key, now))
            cur = db.execute("INSERT OR IGNORE INTO claims (key, expires) VALUES (?, ?)", (key, now + ttl))
            won = cur.rowcount == 1
            if self._count % self.PURGE_EVERY == 0:
                db.execute("DELETE FROM claims WHERE expires <= ?", (now,))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return won

    def release(self, key: str) -> None:
        self._db().execute("DELETE FROM claims WHERE key = ?", (key,))
