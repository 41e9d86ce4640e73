"""With Redis, every web process picks up a new catalog snapshot within SIGMATCH_SNAPSHOT_CHECK
seconds although no match request arrives, and /readyz shows it: a real redis-server, the real
``sigmatch serve`` (gunicorn, 2 workers). /readyz itself never triggers a reload, so only each
worker's background watch can make it show the new snapshot."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from web_helpers import served

from sigmatch.catalog.model import KnownBug, Origin
from sigmatch.catalog.store import StoreMeta
from sigmatch.runtime.redisio.store import RedisSnapshotStore

pytestmark = pytest.mark.slow


def readyz(base: str) -> dict[str, Any]:
    with urllib.request.urlopen(base + "/readyz", timeout=10) as r:
        doc: dict[str, Any] = json.loads(r.read())
        return doc


def bugs(n: int) -> list[KnownBug]:
    return [KnownBug(id=f"CVE-2099-{i:04d}", title=f"watched bug {i}", origin=Origin.CVE) for i in range(n)]


def test_every_web_process_serves_a_new_snapshot_without_requests(tmp_path: Path, redis_url: str) -> None:
    store = RedisSnapshotStore(redis_url)
    first = store.save(bugs(2), StoreMeta())
    env = {"REDIS_URL": redis_url, "SIGMATCH_SNAPSHOT_CHECK": "1", "SIGMATCH_DATA_DIR": str(tmp_path / "data")}
    with served(env, workers=2, threads=2) as base:
        seen = [readyz(base)["catalog"] for _ in range(6)]
        assert all(c["snapshot"] == first.version and c["imported"] == 2 for c in seen), seen

        second = store.save(bugs(5), StoreMeta())
        time.sleep(1.0)  # nothing asks the web processes anything meanwhile
        deadline = time.monotonic() + 30
        streak = 0
        while streak < 10 and time.monotonic() < deadline:  # 10 answers in a row: both workers, surely
            catalog = readyz(base)["catalog"]
            streak = streak + 1 if catalog["snapshot"] == second.version else 0
            time.sleep(0.1)
        assert streak >= 10, f"a web process still serves {catalog['snapshot']} (new: {second.version})"
        assert catalog["imported"] == 5
