"""Shareable links to web answers: ``/r/<key>`` re-answers a log kept on the server for a while.

What the link keys on: the SHA-256 of the submission (the log as decoded, plus the ``top`` and
``kernel`` options), in hex. A link cannot be guessed or enumerated (256 bits, no counter, no
listing); whoever holds the log can compute its key, which tells them nothing they do not already
have. The same log pasted twice gets the same link.

Where the logs are kept, bounded in time and size:

* embedded (no ``REDIS_URL``): ``SIGMATCH_DATA_DIR/shared/<key>.json.gz``, written atomically; at
  most :data:`MAX_FILES` files and :data:`MAX_TOTAL_BYTES` in all, each for :data:`TTL` seconds
  (expired and then oldest files are deleted when a new one is written);
* with ``REDIS_URL``: ``sigmatch:share:<key>`` with a :data:`TTL` expiry, so every web process on
  every host can open every link (Redis's own ``maxmemory`` policy bounds the size).

A link opened after its log expired answers 404 with the paste form. The page that shows a
shared answer asks search engines not to index it and browsers not to send it as a referrer.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger("sigmatch.runtime")

TTL = 30 * 24 * 3600  # seconds a shared log is kept
MAX_FILES = 5000
MAX_TOTAL_BYTES = 256 << 20  # compressed bytes on disk, all shared logs together
KEY_RE = re.compile(r"^[0-9a-f]{64}$")


class ShareStore(Protocol):
    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes | None: ...


def share_key(text: str, *, top: int, kernel: str | None) -> str:
    """The link's key for a submission (hex SHA-256 of the log and the options)."""
    h = hashlib.sha256()
    h.update(json.dumps({"top": top, "kernel": kernel or None}, sort_keys=True).encode())
    h.update(b"\0")
    h.update(text.encode("utf-8", "surrogatepass"))
    return h.hexdigest()


def pack(text: str, *, top: int, kernel: str | None) -> bytes:
    doc = {"v": 1, "log": text, "top": top, "kernel": kernel or None, "at": int(time.time())}
    return gzip.compress(json.dumps(doc).encode("utf-8", "surrogatepass"), compresslevel=6)


def unpack(data: bytes) -> dict[str, Any] | None:
    """The stored submission, or None when it cannot be read back."""
    try:
        doc = json.loads(gzip.decompress(data).decode("utf-8", "surrogatepass"))
    except (OSError, EOFError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("log"), str):
        return None
    top = doc.get("top")
    kernel = doc.get("kernel")
    return {"log": doc["log"], "top": top if isinstance(top, int) else None,
            "kernel": kernel if isinstance(kernel, str) else None}


class FileShares:
    """Shared logs as files in one directory (every gunicorn worker of the host sees them)."""

    def __init__(self, directory: Path, *, ttl: float = TTL, max_files: int = MAX_FILES,
                 max_bytes: int = MAX_TOTAL_BYTES) -> None:
        self.dir = directory
        self.ttl = ttl
        self.max_files = max_files
        self.max_bytes = max_bytes

    def _path(self, key: str) -> Path:
        if not KEY_RE.match(key):
            raise ValueError("not a share key")
        return self.dir / f"{key}.json.gz"

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        self.dir.mkdir(parents=True, exist_ok=True)
        if path.exists():
            os.utime(path)  # shared again: keep it for another TTL
            return
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".share-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        self.prune()

    def get(self, key: str) -> bytes | None:
        try:
            path = self._path(key)
            if time.time() - path.stat().st_mtime > self.ttl:
                path.unlink(missing_ok=True)
                return None
            return path.read_bytes()
        except (OSError, ValueError):
            return None

    def prune(self) -> None:
        """Delete expired files, then the oldest until within the file-count and size bounds."""
        now = time.time()
        entries: list[tuple[float, int, Path]] = []
        for p in self.dir.glob("*.json.gz"):
            try:
                st = p.stat()
            except OSError:
                continue
            if now - st.st_mtime > self.ttl:
                p.unlink(missing_ok=True)
            else:
                entries.append((st.st_mtime, st.st_size, p))
        entries.sort()
        total = sum(size for _, size, _ in entries)
        while entries and (len(entries) > self.max_files or total > self.max_bytes):
            _, size, p = entries.pop(0)
            p.unlink(missing_ok=True)
            total -= size


class RedisShares:
    """Shared logs in Redis (``sigmatch:share:<key>``, expiring after the TTL)."""

    def __init__(self, client: Any, *, ttl: float = TTL) -> None:
        self.client = client
        self.ttl = ttl

    def put(self, key: str, data: bytes) -> None:
        if not KEY_RE.match(key):
            raise ValueError("not a share key")
        self.client.set(f"sigmatch:share:{key}", data, ex=int(self.ttl))

    def get(self, key: str) -> bytes | None:
        if not KEY_RE.match(key):
            return None
        raw = self.client.get(f"sigmatch:share:{key}")
        return raw if isinstance(raw, bytes) else None
