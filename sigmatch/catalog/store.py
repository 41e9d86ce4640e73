"""Where the imported catalog lives between runs: versioned snapshots behind one small interface.

:class:`SnapshotStore` is what the refresh writes and what ``load_catalog()`` reads;
:class:`LocalStore` is the embedded default (files in ``SIGMATCH_DATA_DIR``); the Redis one is
:class:`sigmatch.runtime.redisio.store.RedisSnapshotStore` (same encoding). Which one a process
uses is decided by :func:`sigmatch.runtime.build_runtime`.

Layout of a local store::

    DATA_DIR/catalog/meta.json                       current snapshot id, commit, counts, last_success
    DATA_DIR/catalog/snapshot-<version>.json.gz      the imported bugs and the curated overlay
                                                     (the current snapshot and the previous one)
    DATA_DIR/catalog/refresh.lock                    held (flock) while a refresh runs

Every write goes to a temporary file, is fsynced, then ``os.replace``d into place, and the new
snapshot file is in place before ``meta.json`` points at it: a crash at any moment leaves the last
good snapshot served. The snapshot format is gzip-compressed JSON (no pickle: a store may be shared):
``{"format": 1, "bugs": [...], "curated": {...}}``, where ``curated`` (absent when empty) is what
refreshes learned about curated entries (:mod:`sigmatch.catalog.overlay`).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import errno
import fcntl
import gzip
import hashlib
import json
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

from sigmatch.catalog.model import KnownBug
from sigmatch.catalog.overlay import CuratedUpdate, Overlay, decode_overlay, encode_overlay
from sigmatch.errors import StoreError

FORMAT = 1
KEEP_SNAPSHOTS = 2  # the current one and the one before it


def utcnow() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class StoreMeta:
    """What the store says about its current snapshot and the last refresh."""

    version: str = ""  # snapshot id (content hash); "" when no snapshot was ever written
    snapshot: str = ""  # file name / key of the current snapshot
    previous_version: str = ""
    cve_commit: str | None = None  # last imported commit of the vulns repository
    cve_source: str | None = None
    importer_version: str = ""
    rules_version: str = ""  # parser rules that made the signatures
    counts: dict[str, int] = field(default_factory=dict)
    created: str | None = None  # when the current snapshot was written
    last_success: str | None = None  # when a refresh last completed (with or without changes)
    last_attempt: str | None = None
    last_error: str | None = None  # the last failed refresh's message (cleared by a success)
    report: dict[str, Any] = field(default_factory=dict)  # the last successful refresh's summary
    # curated entry id -> when a refresh last asked upstream about it (the least recently asked go
    # first when a refresh's upstream budget runs out)
    curated_checked: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "version": self.version, "snapshot": self.snapshot,
            "previous_version": self.previous_version, "cve_commit": self.cve_commit,
            "cve_source": self.cve_source, "importer_version": self.importer_version,
            "rules_version": self.rules_version, "counts": dict(self.counts), "created": self.created,
            "last_success": self.last_success, "last_attempt": self.last_attempt,
            "last_error": self.last_error, "report": dict(self.report),
            "curated_checked": dict(self.curated_checked),
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> StoreMeta:
        return cls(
            version=str(d.get("version") or ""), snapshot=str(d.get("snapshot") or ""),
            previous_version=str(d.get("previous_version") or ""), cve_commit=d.get("cve_commit"),
            cve_source=d.get("cve_source"), importer_version=str(d.get("importer_version") or ""),
            rules_version=str(d.get("rules_version") or ""), counts=dict(d.get("counts") or {}),
            created=d.get("created"), last_success=d.get("last_success"),
            last_attempt=d.get("last_attempt"), last_error=d.get("last_error"),
            report=dict(d.get("report") or {}),
            curated_checked={str(k): str(v) for k, v in (d.get("curated_checked") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Snapshot:
    version: str
    bugs: tuple[KnownBug, ...]
    meta: StoreMeta
    overlay: Mapping[str, CuratedUpdate] = field(default_factory=dict)  # curated id -> update


class SnapshotStore(Protocol):
    """The interface every store implements (local files now, Redis later)."""

    def read_meta(self) -> StoreMeta:
        """The current meta (an empty :class:`StoreMeta` when nothing was stored yet)."""
        ...

    def load(self) -> Snapshot | None:
        """The current snapshot, or ``None`` when there is none."""
        ...

    def save(self, bugs: Sequence[KnownBug], meta: StoreMeta, overlay: Overlay | None = None) -> StoreMeta:
        """Write ``bugs`` (and the curated ``overlay``) as the new current snapshot, atomically;
        returns the meta now in force."""
        ...

    def update_meta(self, **changes: Any) -> StoreMeta:
        """Change meta fields (``last_success``, ``last_error``, ...) without a new snapshot."""
        ...

    def lock(self) -> contextlib.AbstractContextManager[None]:
        """Held for the length of a refresh; raises :class:`StoreError` when another one holds it."""
        ...


# --------------------------------------------------------------------------- encoding


def _compact(d: Any) -> Any:
    """Drop derived and empty fields from a ``KnownBug.to_dict()`` (``from_dict`` restores defaults)."""
    if isinstance(d, dict):
        return {k: _compact(v) for k, v in d.items()
                if k not in ("stable_fixed", "mainline_fixed") and v not in ((), [], {}, "")}
    if isinstance(d, list):
        return [_compact(v) for v in d]
    return d


def encode_bugs(bugs: Sequence[KnownBug], overlay: Overlay | None = None) -> tuple[bytes, str]:
    """Gzipped JSON of ``bugs`` (and the curated ``overlay``) and its version id (a content hash)."""
    doc: dict[str, Any] = {"format": FORMAT, "bugs": [_compact(b.to_dict()) for b in bugs]}
    if overlay:
        doc["curated"] = encode_overlay(overlay)
    body = json.dumps(doc, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode("utf-8")
    version = hashlib.sha256(body).hexdigest()[:16]
    return gzip.compress(body, compresslevel=6, mtime=0), version


def decode_snapshot(data: bytes) -> tuple[tuple[KnownBug, ...], dict[str, CuratedUpdate]]:
    """The bugs and the curated overlay of an encoded snapshot."""
    try:
        doc = json.loads(gzip.decompress(data))
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise ValueError(f"unknown snapshot format {doc.get('format') if isinstance(doc, dict) else '?'}")
        return tuple(KnownBug.from_dict(b) for b in doc["bugs"]), decode_overlay(doc.get("curated"))
    except (OSError, EOFError, ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"snapshot cannot be decoded: {exc}") from exc


def decode_bugs(data: bytes) -> tuple[KnownBug, ...]:
    return decode_snapshot(data)[0]


# --------------------------------------------------------------------------- local files


def _write_atomic(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, 0o644)  # readable by the web processes, like any data file
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalStore:
    """Snapshots as files under ``data_dir/catalog``."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir)
        self.dir = self.data_dir / "catalog"
        self.meta_path = self.dir / "meta.json"

    def __repr__(self) -> str:
        return f"LocalStore({str(self.data_dir)!r})"

    def _ensure_dir(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the data directory {self.dir}: {exc.strerror}",
                             path=str(self.dir)) from exc

    def read_meta(self) -> StoreMeta:
        try:
            raw = self.meta_path.read_bytes()
        except FileNotFoundError:
            return StoreMeta()
        except OSError as exc:
            raise StoreError(f"cannot read {self.meta_path}: {exc.strerror}", path=str(self.meta_path)) from exc
        try:
            doc = json.loads(raw)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except ValueError as exc:
            raise StoreError(f"{self.meta_path} is damaged: {exc}", path=str(self.meta_path)) from exc
        return StoreMeta.from_dict(doc)

    def load(self) -> Snapshot | None:
        meta = self.read_meta()
        if not meta.snapshot:
            return None
        path = self.dir / meta.snapshot
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise StoreError(f"cannot read snapshot {path}: {exc.strerror}", path=str(path)) from exc
        try:
            bugs, overlay = decode_snapshot(data)
        except StoreError as exc:
            raise StoreError(f"{path}: {exc}", path=str(path)) from exc
        return Snapshot(meta.version, bugs, meta, overlay)

    def save(self, bugs: Sequence[KnownBug], meta: StoreMeta, overlay: Overlay | None = None) -> StoreMeta:
        self._ensure_dir()
        data, version = encode_bugs(bugs, overlay)
        name = f"snapshot-{version}.json.gz"
        old = self.read_meta()
        try:
            _write_atomic(self.dir / name, data)
            new = replace(meta, version=version, snapshot=name,
                          previous_version=old.version if old.version != version else old.previous_version,
                          created=utcnow() if old.version != version else (old.created or utcnow()))
            _write_atomic(self.meta_path, json.dumps(new.to_dict(), indent=1).encode())
        except OSError as exc:
            raise StoreError(f"cannot write the snapshot in {self.dir}: {exc.strerror}",
                             path=str(self.dir)) from exc
        self._prune(keep={name, old.snapshot})
        return new

    def update_meta(self, **changes: Any) -> StoreMeta:
        self._ensure_dir()
        new = replace(self.read_meta(), **changes)
        try:
            _write_atomic(self.meta_path, json.dumps(new.to_dict(), indent=1).encode())
        except OSError as exc:
            raise StoreError(f"cannot write {self.meta_path}: {exc.strerror}", path=str(self.meta_path)) from exc
        return new

    def _prune(self, keep: set[str]) -> None:
        snaps = sorted(self.dir.glob("snapshot-*.json.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
        kept = 0
        for p in snaps:
            if p.name in keep and kept < KEEP_SNAPSHOTS:
                kept += 1
                continue
            with contextlib.suppress(OSError):
                p.unlink()
        for p in self.dir.glob(".*.tmp"):  # left by an interrupted write
            with contextlib.suppress(OSError):
                p.unlink()

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        self._ensure_dir()
        path = self.dir / "refresh.lock"
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreError(f"another refresh is running (lock {path} is held)", path=str(path)) from exc
                raise StoreError(f"cannot lock {path}: {exc.strerror}", path=str(path)) from exc
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            yield
        finally:
            os.close(fd)  # closing releases the flock
