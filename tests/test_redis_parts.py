"""The Redis adapters against a real redis-server: snapshot store, lock, idempotency keys, cache,
rate limiter, RQ jobs backend (real RQ workers in burst mode), cron registration, serve-side schedule."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from conftest import settings_with
from redis_server import RedisServer
from rq import SimpleWorker

from sigmatch.catalog.model import KnownBug, Origin
from sigmatch.catalog.store import StoreMeta
from sigmatch.errors import ConfigError, JobError, QueueUnavailableError, StoreError
from sigmatch.runtime import build_runtime
from sigmatch.runtime.jobs import JobStatus
from sigmatch.runtime.jobs_rq import RQJobs
from sigmatch.runtime.redisio import client_for
from sigmatch.runtime.redisio.cache import RedisCache, RedisRateLimiter
from sigmatch.runtime.redisio.locks import RedisLock, claim_once
from sigmatch.runtime.redisio.store import CURRENT, META, SNAPSHOT_PREFIX, RedisSnapshotStore
from sigmatch.runtime.schedule import RefreshSchedule, next_run
from sigmatch.upstream.http import MemoryCache


def bugs(n: int, tag: str = "") -> list[KnownBug]:
    return [KnownBug(id=f"CVE-2025-{i}", title=f"bug {i}{tag}", origin=Origin.CVE) for i in range(n)]


# --------------------------------------------------------------------------- snapshot store


def test_store_saves_swaps_and_keeps_the_previous_snapshot(redis_url: str) -> None:
    runtime = build_runtime(settings_with(REDIS_URL=redis_url, SIGMATCH_DATA_DIR="/nonexistent"))
    store = runtime.store
    assert isinstance(store, RedisSnapshotStore)
    assert store.load() is None and store.read_meta().version == ""
    assert runtime.current_version() is None

    first = store.save(bugs(3), StoreMeta(counts={"bugs": 3}, last_success="2026-01-01T00:00:00Z"))
    assert runtime.current_version() == first.version
    snap = store.load()
    assert snap is not None and [b.id for b in snap.bugs] == [b.id for b in bugs(3)]
    assert snap.meta.last_success == "2026-01-01T00:00:00Z"

    second = store.save(bugs(2, "x"), StoreMeta(counts={"bugs": 2}))
    third = store.save(bugs(1, "y"), StoreMeta(counts={"bugs": 1}))
    assert third.previous_version == second.version != first.version
    client = client_for(redis_url)
    kept = sorted(k.decode() for k in client.keys(SNAPSHOT_PREFIX + "*"))
    assert kept == sorted([SNAPSHOT_PREFIX + second.version, SNAPSHOT_PREFIX + third.version])
    assert client.get(CURRENT) == third.version.encode()

    # Saving the same content again is no new version; meta updates leave the snapshot alone.
    again = store.save(bugs(1, "y"), StoreMeta(counts={"bugs": 1}))
    assert again.version == third.version and again.previous_version == second.version
    assert store.update_meta(last_error="boom").last_error == "boom"
    assert store.read_meta().version == third.version


def test_store_reports_damage_and_an_unreachable_redis(redis_url: str) -> None:
    store = RedisSnapshotStore(redis_url)
    client = client_for(redis_url)
    client.set(META, b"{not json")
    with pytest.raises(StoreError, match="damaged"):
        store.read_meta()
    client.set(META, json.dumps({"version": "abc", "snapshot": SNAPSHOT_PREFIX + "abc"}).encode())
    with pytest.raises(StoreError, match="missing"):
        store.load()
    client.set(SNAPSHOT_PREFIX + "abc", b"\x1f\x8b garbage")
    with pytest.raises(StoreError, match="cannot be decoded"):
        store.load()

    gone = RedisSnapshotStore("redis://:secret@127.0.0.1:1/0")
    with pytest.raises(StoreError, match="unreachable") as err:
        gone.read_meta()
    assert "secret" not in str(err.value.path)


# --------------------------------------------------------------------------- locks and keys


def test_refresh_lock_is_exclusive_and_expires_when_its_holder_dies(redis_url: str) -> None:
    store = RedisSnapshotStore(redis_url, lock_ttl=30)
    with store.lock(), pytest.raises(StoreError, match="another refresh is running"), \
            RedisSnapshotStore(redis_url).lock():
        pass
    with store.lock():  # released on exit
        pass

    client = client_for(redis_url)
    dead = RedisLock(client, "refresh", ttl=0.3, keepalive=False)  # a holder that stops renewing (kill -9)
    assert dead.acquire()
    assert not RedisLock(client, "refresh", ttl=5).acquire()
    late = RedisLock(client, "refresh", ttl=5)
    assert late.acquire(wait=5.0)  # waits until the dead holder's lock expires
    assert not dead.extend() and dead.lost  # the old holder can neither renew nor release the new lock
    dead.release()
    assert late.holder() == late.token
    late.release()
    assert late.holder() is None


def test_lock_keepalive_renews_a_long_hold(redis_url: str) -> None:
    client = client_for(redis_url)
    lk = RedisLock(client, "long", ttl=0.3)
    assert lk.acquire()
    time.sleep(1.0)  # three lifetimes: only the keepalive thread keeps it
    assert lk.holder() == lk.token and not lk.lost
    lk.release()


def test_claim_once_is_set_nx_ex(redis_url: str) -> None:
    client = client_for(redis_url)
    assert claim_once(client, "slack", "Ev1", 60)
    assert not claim_once(client, "slack", "Ev1", 60)
    assert claim_once(client, "slack", "Ev2", 60)
    assert 0 < int(client.ttl("sigmatch:once:slack:Ev1")) <= 60


# --------------------------------------------------------------------------- upstream cache and pacing


def test_cache_and_rate_limiter_are_shared_and_degrade(redis_url: str) -> None:
    runtime = build_runtime(settings_with(REDIS_URL=redis_url, SIGMATCH_RATE_LIMIT=1.0))
    cache = runtime.upstream_cache
    assert isinstance(cache, RedisCache)
    cache.set("k", b"v" * 10, ttl=60)
    assert RedisCache(redis.Redis.from_url(redis_url)).get("k") == b"v" * 10  # another process's view
    cache.set("short", b"x", ttl=0.05)
    time.sleep(0.2)
    assert cache.get("short") is None
    assert isinstance(build_runtime(settings_with(REDIS_URL="")).upstream_cache, MemoryCache)

    limiter = runtime.upstream_limiter
    assert isinstance(limiter, RedisRateLimiter)
    other = RedisRateLimiter(redis.Redis.from_url(redis_url), rate=1.0, burst=4.0)
    granted = [limiter.acquire("lore.kernel.org", deadline=time.monotonic()) for _ in range(2)]
    granted += [other.acquire("lore.kernel.org", deadline=time.monotonic()) for _ in range(2)]
    assert granted == [True] * 4  # the burst, shared by both limiters
    assert not other.acquire("lore.kernel.org", deadline=time.monotonic())  # the fifth would wait ~1 s
    assert limiter.acquire("bugzilla.kernel.org", deadline=time.monotonic())  # per host

    down = RedisCache(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2))
    down.set("k", b"v", ttl=60)
    assert down.get("k") is None
    paced = RedisRateLimiter(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2), rate=1.0)
    assert paced.acquire("h")  # falls back to an in-process bucket


def test_redis_health(redis_url: str) -> None:
    assert build_runtime(settings_with(REDIS_URL="")).redis_health() is None
    assert build_runtime(settings_with(REDIS_URL=redis_url)).redis_health() == {"ok": True}
    bad = build_runtime(settings_with(REDIS_URL="redis://127.0.0.1:1/0")).redis_health()
    assert bad is not None and not bad["ok"] and "unreachable" in bad["detail"]


# --------------------------------------------------------------------------- RQ jobs


def test_rq_jobs_report_queued_started_finished_failed(redis_url: str) -> None:
    jobs = build_runtime(settings_with(REDIS_URL=redis_url, SIGMATCH_JOB_TIMEOUT=60, SIGMATCH_JOB_RETRIES=0)).jobs
    assert isinstance(jobs, RQJobs) and jobs.backend == "rq"
    ok = jobs.enqueue("textwrap.indent", text="x", prefix="> ")  # any plain module-level function
    bad = jobs.enqueue("sigmatch.runtime.jobs.resolve", func="not-a-path")
    assert jobs.get(ok).status is JobStatus.QUEUED
    SimpleWorker([jobs.queue], connection=jobs.queue.connection).work(burst=True)
    done = jobs.get(ok)
    assert done.status is JobStatus.FINISHED and done.result == "> x" and done.started_at and done.ended_at
    failed = jobs.get(bad)
    assert failed.status is JobStatus.FAILED and failed.error is not None and "not a dotted function path" in failed.error
    assert failed.to_dict()["status"] == "failed"
    with pytest.raises(JobError, match="no such job"):
        jobs.get("0" * 32)


def test_rq_jobs_retry_a_failed_job(redis_url: str) -> None:
    jobs = RQJobs(redis_url, timeout=60, retries=1)
    jid = jobs.enqueue("sigmatch.runtime.jobs.resolve", func="still-not-a-path")
    SimpleWorker([jobs.queue], connection=jobs.queue.connection).work(burst=True)
    info = jobs.get(jid)  # waiting for its retry: still queued, with the reason it failed
    assert info.status is JobStatus.QUEUED and info.error is not None and info.error.startswith("retrying")


def test_rq_jobs_say_when_redis_is_unreachable() -> None:
    server = RedisServer()
    jobs = RQJobs(server.url, timeout=60, retries=0)
    with pytest.raises(QueueUnavailableError):
        jobs.enqueue("os.getpid")
    with pytest.raises(QueueUnavailableError):
        jobs.get("a" * 32)
    server.close()


# --------------------------------------------------------------------------- schedules


def test_worker_cron_registers_the_nightly_refresh() -> None:
    code = (
        "import logging\n"
        "from rq.cron import CronScheduler\n"
        "import redis\n"
        "s = CronScheduler(connection=redis.Redis(), logging_level=logging.WARNING)\n"
        "s.load_config_from_file('sigmatch.worker.cron')\n"
        "[j] = s.get_jobs()\n"
        "print(j.func_name, j.queue_name, j.cron, j.next_enqueue_time.hour, j.next_enqueue_time.minute)\n"
    )
    root = Path(__file__).resolve().parents[1]
    env = {"PATH": "/usr/bin:/bin", "SIGMATCH_REFRESH_CRON": "30 4 * * *", "TZ": "Asia/Tokyo"}
    out = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["sigmatch.worker.tasks.refresh_job", "sigmatch", "30", "4", "*", "*", "*", "4", "30"]
    env["SIGMATCH_REFRESH_CRON"] = "every night"
    bad = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True)
    assert bad.returncode != 0 and "SIGMATCH_REFRESH_CRON" in bad.stderr


def test_serve_side_schedule(tmp_path: Path) -> None:
    after = dt.datetime(2026, 3, 1, 2, 59, 59, tzinfo=dt.UTC)
    assert next_run("0 3 * * *", after) == dt.datetime(2026, 3, 1, 3, 0, tzinfo=dt.UTC)
    assert next_run("0 3 * * *", after.replace(hour=3, minute=0, second=0)).day == 2
    with pytest.raises(ConfigError):
        next_run("at three", after)
    assert not settings_with(SIGMATCH_SERVE_REFRESH="off").serve_refresh
    assert settings_with(SIGMATCH_SERVE_REFRESH="on").serve_refresh
    with pytest.raises(ConfigError, match="SIGMATCH_SERVE_REFRESH"):
        settings_with(SIGMATCH_SERVE_REFRESH="sometimes")
    assert RefreshSchedule.from_settings(settings_with(SIGMATCH_SERVE_REFRESH="off")) is None
    sched = RefreshSchedule.from_settings(settings_with(SIGMATCH_SERVE_REFRESH="on", SIGMATCH_REFRESH_CRON="0 3 * * *",
                                                        SIGMATCH_JOB_TIMEOUT=30))
    assert sched is not None and sched.cron == "0 3 * * *"
    marker = tmp_path / "ran"
    sched.command = (sys.executable, "-c", f"open({str(marker)!r}, 'w').write('yes')")
    outcome = sched.run_once()
    assert outcome["returncode"] == 0 and marker.read_text() == "yes"
    sched.start()
    sched.stop()


def test_upstream_client_shares_the_redis_cache_and_pace(redis_url: str) -> None:
    shared = build_runtime(settings_with(REDIS_URL=redis_url)).upstream_client()
    assert isinstance(shared.cache, RedisCache) and isinstance(shared.limiter, RedisRateLimiter)
    alone = build_runtime(settings_with(REDIS_URL="")).upstream_client()
    assert isinstance(alone.cache, MemoryCache)


def test_worker_loads_the_catalog_before_forking_once_per_snapshot(tmp_path: Path, redis_url: str) -> None:
    from sigmatch.worker import tasks
    from sigmatch.worker.rq_worker import warm

    store = RedisSnapshotStore(redis_url)
    first = store.save(bugs(3), StoreMeta())
    runtime = build_runtime(settings_with(REDIS_URL=redis_url, SIGMATCH_SIGNATURES_DIR=str(tmp_path)))
    try:
        assert warm(runtime) == first.version
        holder = tasks.catalog_holder(runtime)
        loaded = holder.peek()
        assert loaded is not None and len(loaded.catalog) == 3
        assert warm(runtime) == first.version and tasks.catalog_holder(runtime) is holder  # nothing new: kept
        second = store.save(bugs(5), StoreMeta())
        assert warm(runtime) == second.version
        reloaded = tasks.catalog_holder(runtime).peek()
        assert reloaded is not None and len(reloaded.catalog) == 5
    finally:
        tasks._holder = None


def test_lookup_job_returns_json_and_never_leaves_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    from vulns_fixture import TRACE

    from sigmatch.worker.tasks import lookup_job

    for name in ("SIGMATCH_LORE_URL", "SIGMATCH_BUGZILLA_URL", "SIGMATCH_SYZBOT_URL", "SIGMATCH_STABLE_URL"):
        monkeypatch.setenv(name, "http://127.0.0.1:1")  # nothing listens there: every source fails fast
    monkeypatch.setenv("REDIS_URL", "")
    assert lookup_job("just some text, no crash") == {"notes": ["no crash report found in the text"]}
    result = lookup_job(TRACE, budget=3.0)
    assert json.loads(json.dumps(result)) == result and result.get("notes")
