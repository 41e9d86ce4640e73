"""The catalog snapshot store in Redis: what every web and worker process of a deployment shares.

Implements :class:`sigmatch.catalog.store.SnapshotStore` with the same encoding as the local store
(gzip-compressed JSON, no pickle). Keys::

    sigmatch:catalog:snapshot:<version>   the imported bugs and the curated overlay (the current
                                          snapshot and the previous one)
    sigmatch:catalog:meta                 StoreMeta as JSON: current version, last_success, report, ...
    sigmatch:catalog:current              the current version alone (the cheap "anything new?" probe)
    sigmatch:lock:refresh                 held (with expiry, kept alive) while a refresh runs

A new snapshot's blob is written first; then ``meta`` and ``current`` are switched together in one
``MULTI`` (optimistic ``WATCH`` on ``meta``), so a reader sees the old snapshot or the new one,
never a pointer to a missing blob. A writer killed at any moment leaves the served snapshot as it
was (at worst an orphan blob, removed by the next save). Older blobs than the previous one are
deleted after the switch.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import redis

from sigmatch.catalog.model import KnownBug
from sigmatch.catalog.overlay import Overlay
from sigmatch.catalog.store import Snapshot, StoreMeta, decode_snapshot, encode_bugs, utcnow
from sigmatch.errors import StoreError
from sigmatch.runtime.redisio import PROBE_TIMEOUT, client_for
from sigmatch.runtime.redisio import key as _key
from sigmatch.runtime.redisio.locks import RedisLock

_ERRORS = (redis.RedisError, OSError)
META = _key("catalog", "meta")
CURRENT = _key("catalog", "current")
SNAPSHOT_PREFIX = _key("catalog", "snapshot") + ":"
PROBE_BACKOFF = 5.0  # seconds the snapshot probe stays silent after finding Redis unreachable
_PROBE_DOWN_UNTIL: dict[str, float] = {}  # url -> monotonic time before which the probe fails at once


def _unreachable(url: str, exc: BaseException) -> StoreError:
    return StoreError(f"redis store unreachable ({type(exc).__name__}: {str(exc)[:200]})", path=_redact(url))


class RedisSnapshotStore:
    """Snapshots in one Redis database (``REDIS_URL``)."""

    def __init__(self, url: str, *, lock_ttl: float = 120.0, client: redis.Redis | None = None) -> None:
        self.url = url
        self.client = client if client is not None else client_for(url)
        self.probe_client = client if client is not None else client_for(url, timeout=PROBE_TIMEOUT)
        self.lock_ttl = lock_ttl  # SIGMATCH_REFRESH_LOCK_TTL
        self._held: RedisLock | None = None

    def __repr__(self) -> str:
        return f"RedisSnapshotStore({_redact(self.url)!r})"

    # -- reading

    def current_version(self) -> str | None:
        """The current snapshot's version (one GET); ``None`` when none was ever written.

        Web processes call this from the request path: after a failure it fails at once for
        :data:`PROBE_BACKOFF` seconds instead of making request after request wait on a dead Redis.
        """
        now = time.monotonic()
        if _PROBE_DOWN_UNTIL.get(self.url, 0.0) > now:
            raise StoreError("redis store unreachable (recently failed; not asked again yet)", path=_redact(self.url))
        try:
            raw = self.probe_client.get(CURRENT)
        except _ERRORS as exc:
            _PROBE_DOWN_UNTIL[self.url] = now + PROBE_BACKOFF
            raise _unreachable(self.url, exc) from exc
        _PROBE_DOWN_UNTIL.pop(self.url, None)
        return raw.decode() if isinstance(raw, bytes) and raw else None

    def read_meta(self) -> StoreMeta:
        try:
            raw = self.client.get(META)
        except _ERRORS as exc:
            raise _unreachable(self.url, exc) from exc
        return _parse_meta(raw, self.url)

    def load(self) -> Snapshot | None:
        for _ in range(3):  # a save between our two GETs may prune the blob we were pointed at
            meta = self.read_meta()
            if not meta.snapshot:
                return None
            try:
                data = self.client.get(meta.snapshot)
            except _ERRORS as exc:
                raise _unreachable(self.url, exc) from exc
            if isinstance(data, bytes):
                try:
                    bugs, overlay = decode_snapshot(data)
                except StoreError as exc:
                    raise StoreError(f"{meta.snapshot}: {exc}", path=_redact(self.url)) from exc
                return Snapshot(meta.version, bugs, meta, overlay)
        raise StoreError(f"snapshot {meta.snapshot} named by the meta is missing from redis", path=_redact(self.url))

    # -- writing

    def save(self, bugs: Sequence[KnownBug], meta: StoreMeta, overlay: Overlay | None = None) -> StoreMeta:
        data, version = encode_bugs(bugs, overlay)
        name = SNAPSHOT_PREFIX + version
        self._check_lock()
        try:
            self.client.set(name, data)
            new = self._swap(lambda old: replace(
                meta, version=version, snapshot=name,
                previous_version=old.version if old.version != version else old.previous_version,
                created=utcnow() if old.version != version else (old.created or utcnow()),
            ), check_lock=True)
            self._prune(keep={name, SNAPSHOT_PREFIX + new.previous_version if new.previous_version else ""})
        except _ERRORS as exc:
            raise _unreachable(self.url, exc) from exc
        return new

    def update_meta(self, **changes: Any) -> StoreMeta:
        try:
            return self._swap(lambda old: replace(old, **changes), check_lock=False)
        except _ERRORS as exc:
            raise _unreachable(self.url, exc) from exc

    def _swap(self, change: Any, *, check_lock: bool) -> StoreMeta:
        """Read-modify-write of the meta (and the current pointer) under WATCH; retried on a race."""
        for _ in range(50):
            with self.client.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(META)  # type: ignore[no-untyped-call]
                    old = _parse_meta(pipe.get(META), self.url)
                    new: StoreMeta = change(old)
                    if check_lock:
                        self._check_lock()
                    pipe.multi()
                    pipe.set(META, json.dumps(new.to_dict(), separators=(",", ":")).encode())
                    if new.version:
                        pipe.set(CURRENT, new.version.encode())
                    pipe.execute()
                    return new
                except redis.WatchError:
                    continue
        raise StoreError("redis meta kept changing under us (50 tries)", path=_redact(self.url))

    def _prune(self, keep: set[str]) -> None:
        for raw in self.client.scan_iter(match=SNAPSHOT_PREFIX + "*", count=100):
            name = raw.decode() if isinstance(raw, bytes) else str(raw)
            if name not in keep:
                self.client.delete(name)

    # -- the refresh lock

    def _check_lock(self) -> None:
        held = self._held
        if held is not None and (held.lost or not held.extend()):
            raise StoreError("the refresh lock expired while this refresh ran; not swapping in its snapshot",
                             path=_redact(self.url))

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        lk = RedisLock(self.client, "refresh", ttl=self.lock_ttl)
        lk.token = f"{socket.gethostname()}:{os.getpid()}:{lk.token[:8]}"
        try:
            got = lk.acquire()
        except _ERRORS as exc:
            raise _unreachable(self.url, exc) from exc
        if not got:
            try:
                who = lk.holder() or "?"
            except _ERRORS:
                who = "?"
            raise StoreError(f"another refresh is running (redis lock {lk.key} held by {who})", path=_redact(self.url))
        self._held = lk
        try:
            yield
        finally:
            self._held = None
            lk.release()


def _parse_meta(raw: Any, url: str) -> StoreMeta:
    if raw is None:
        return StoreMeta()
    try:
        doc = json.loads(raw)
        if not isinstance(doc, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise StoreError(f"redis {META} is damaged: {exc}", path=_redact(url)) from exc
    return StoreMeta.from_dict(doc)


def _redact(url: str) -> str:
    """``redis://:secret@host`` -> ``redis://***@host`` (URLs may carry a password)."""
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return url
