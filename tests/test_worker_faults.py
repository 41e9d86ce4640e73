"""Faults of the Redis deployment, each a test with real parts: a real redis-server, real RQ workers
(the Procfile's ``worker:`` command as a subprocess, or in-process in burst mode), real git
repositories in the CVE record format, two real web apps on one Redis.

- kill -9 of the worker in the middle of a refresh: served catalog unchanged; the next run completes;
- Redis stopped while the API answers requests: answers keep coming from the snapshot in memory,
  /readyz says degraded, and everything recovers when Redis returns;
- a malformed CVE record and an unreachable repository: skipped/reported, the snapshot stays valid;
- two refreshes at once: one runs, the other is refused (the lock);
- two web apps and one worker on one Redis: a refresh done by the worker is served by both.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import app_with, settings_with
from redis_server import RedisServer
from rq import SimpleWorker
from vulns_fixture import TRACE, add_records, make_repo

from sigmatch.refresh import refresh
from sigmatch.runtime import build_runtime
from sigmatch.runtime.jobs import JobStatus
from sigmatch.runtime.redisio import client_for
from sigmatch.runtime.redisio.store import CURRENT, RedisSnapshotStore
from sigmatch.worker import tasks

REPO_ROOT = Path(__file__).resolve().parents[1]
LOCK_KEY = "sigmatch:lock:refresh"


def settings_for(tmp: Path, url: str, repo: Path, name: str = "data") -> dict[str, Any]:
    (tmp / "no-curated").mkdir(exist_ok=True)
    return {"REDIS_URL": url, "SIGMATCH_CVE_REPO": str(repo), "SIGMATCH_DATA_DIR": str(tmp / name),
            "SIGMATCH_SIGNATURES_DIR": str(tmp / "no-curated"), "SIGMATCH_JOB_RETRIES": 0,
            "SIGMATCH_JOB_TIMEOUT": 120, "SIGMATCH_REFRESH_LOCK_TTL": 2.0, "SIGMATCH_SNAPSHOT_CHECK": 0.5,
            "SIGMATCH_ADMIN_TOKEN": "admin-token"}


def as_env(settings: dict[str, Any]) -> dict[str, str]:
    return dict(os.environ, **{k: str(v) for k, v in settings.items()})


def procfile_worker(env: dict[str, str]) -> list[str]:
    """The Procfile's ``worker:`` command, ``${VAR}`` expanded as a Procfile runner does, plus ``--burst``."""
    for line in (REPO_ROOT / "Procfile").read_text().splitlines():
        if line.startswith("worker:"):
            cmd = line.split(":", 1)[1]
            for k, v in env.items():
                cmd = cmd.replace("${" + k + "}", v)
            return [*shlex.split(cmd), "--burst"]
    raise AssertionError("Procfile has no worker: line")


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:  # the child keeps its own descriptor
        return subprocess.Popen(procfile_worker(env), cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def app_factory() -> Iterator[Callable[[dict[str, Any]], Any]]:

    apps: list[Any] = []

    def make(settings: dict[str, Any]) -> Any:
        app = app_with(dict(settings, TESTING=True))
        apps.append(app)
        return app.test_client()

    yield make
    for app in apps:
        jobs = app.extensions["sigmatch"].jobs
        if hasattr(jobs, "shutdown"):
            jobs.shutdown()


def total(client: Any) -> int:
    r = client.get("/api/v1/bugs?limit=1")
    assert r.status_code == 200, r.data[:300]
    return int(r.get_json()["total"])


# --------------------------------------------------------------------------- kill -9 mid-refresh


def test_kill9_of_the_worker_mid_refresh_changes_nothing_and_the_next_run_completes(
        tmp_path: Path, redis_url: str) -> None:
    repo = make_repo(tmp_path / "vulns", 100)
    s = settings_for(tmp_path, redis_url, repo)
    first = refresh(settings=settings_with(s))  # the snapshot being served
    add_records(repo, 3000, first=20000)  # a long enough refresh to be killed in the middle of

    jobs = build_runtime(settings_with(s)).jobs
    jobs.enqueue("sigmatch.worker.tasks.refresh_job")
    env = as_env(settings_for(tmp_path, redis_url, repo, "worker-data"))
    worker = start_worker(env, tmp_path / "worker1.log")
    client = client_for(redis_url)
    try:
        wait_for(lambda: client.exists(LOCK_KEY) == 1 or worker.poll() is not None, 30, "the refresh to start")
        time.sleep(0.3)
        assert client.exists(LOCK_KEY) == 1, "the refresh ended before it could be killed"
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    store = build_runtime(settings_with(s)).store
    assert client.get(CURRENT) == first.snapshot_version.encode()
    snap = store.load()
    assert snap is not None and len(snap.bugs) == 100  # the served catalog did not change

    wait_for(lambda: client.exists(LOCK_KEY) == 0, 10, "the dead worker's lock to expire")
    job = jobs.enqueue("sigmatch.worker.tasks.refresh_job")
    worker = start_worker(env, tmp_path / "worker2.log")
    assert worker.wait(timeout=120) == 0
    info = jobs.get(job)
    assert info.status is JobStatus.FINISHED, (info, (tmp_path / "worker2.log").read_text()[-2000:])
    snap = store.load()
    assert snap is not None and len(snap.bugs) == 3100
    assert info.result["snapshot_version"] == snap.version != first.snapshot_version


# --------------------------------------------------------------------------- Redis down


def test_redis_down_keeps_answering_from_memory_and_recovers(
        tmp_path: Path, own_redis: RedisServer, app_factory: Callable[[dict[str, Any]], Any]) -> None:
    repo = make_repo(tmp_path / "vulns", 40)
    s = settings_for(tmp_path, own_redis.url, repo)
    refresh(settings=settings_with(s))
    web = app_factory(s)
    assert total(web) == 40
    assert web.get("/readyz").get_json()["status"] == "ready"
    before = web.post("/api/v1/match", data=TRACE, content_type="text/plain")
    assert before.status_code == 200

    own_redis.stop()
    for _ in range(20):  # under requests while Redis is gone: answers from the catalog in memory
        assert total(web) == 40
        r = web.post("/api/v1/match", data=TRACE, content_type="text/plain")
        assert r.status_code == 200 and r.get_json()["catalog_version"] == before.get_json()["catalog_version"]
        time.sleep(0.05)
    ready = web.get("/readyz")
    assert ready.status_code == 200
    doc = ready.get_json()
    assert doc["status"] == "degraded" and any("redis" in d.lower() for d in doc["degraded"]), doc
    refused = web.post("/api/v1/refresh", json={}, headers={"Authorization": "Bearer admin-token"})
    assert refused.status_code == 503, refused.data[:300]

    own_redis.start()  # back, empty (no persistence): the next refresh publishes again
    add_records(repo, 5, first=30000)
    refresh(settings=settings_with(s, SIGMATCH_DATA_DIR=str(tmp_path / "data2")))
    wait_for(lambda: total(web) == 45, 20, "the web app to serve the new snapshot")
    assert web.get("/readyz").get_json()["status"] == "ready"


def test_hung_redis_costs_requests_at_most_a_short_timeout(
        tmp_path: Path, own_redis: RedisServer, app_factory: Callable[[dict[str, Any]], Any]) -> None:
    repo = make_repo(tmp_path / "vulns", 10)
    s = settings_for(tmp_path, own_redis.url, repo)
    refresh(settings=settings_with(s))
    web = app_factory(s)
    assert total(web) == 10
    own_redis.pause()  # accepts connections, answers nothing
    try:
        for _ in range(5):
            assert web.post("/api/v1/match", data=TRACE, content_type="text/plain").status_code == 200
            time.sleep(0.2)
        doc = web.get("/readyz").get_json()
        assert doc["status"] == "degraded" and any("redis" in d.lower() for d in doc["degraded"]), doc
    finally:
        own_redis.resume()
    wait_for(lambda: web.get("/readyz").get_json()["status"] == "ready", 10, "/readyz to recover")


# --------------------------------------------------------------------------- bad input to the refresh


def test_malformed_record_and_unreachable_repository_through_the_worker(
        tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "vulns", 20, malformed=1)
    s = settings_for(tmp_path, redis_url, repo)
    for k, v in s.items():
        monkeypatch.setenv(k, str(v))
    jobs = build_runtime(settings_with(s)).jobs
    job = jobs.enqueue("sigmatch.worker.tasks.refresh_job", sources=["cve"])
    SimpleWorker([jobs.queue], connection=jobs.queue.connection).work(burst=True)
    info = jobs.get(job)
    assert info.status is JobStatus.FINISHED, info
    assert info.result["added"] == 20 and info.result["skipped"] == 1
    assert info.result["skipped_records"][0]["id"] == "CVE-2025-1020"
    store = build_runtime(settings_with(s)).store
    good = store.load()
    assert good is not None and len(good.bugs) == 20

    monkeypatch.setenv("SIGMATCH_CVE_REPO", str(tmp_path / "no-such-repository"))
    monkeypatch.setenv("SIGMATCH_DATA_DIR", str(tmp_path / "fresh-data"))
    tasks.reset()  # a worker started with this environment
    job = jobs.enqueue("sigmatch.worker.tasks.refresh_job")
    SimpleWorker([jobs.queue], connection=jobs.queue.connection).work(burst=True)
    info = jobs.get(job)
    assert info.status is JobStatus.FAILED and info.error and "ImportSourceError" in info.error, info
    after = store.load()
    assert after is not None and after.version == good.version and len(after.bugs) == 20
    assert store.read_meta().last_error


# --------------------------------------------------------------------------- two at once


def test_two_refreshes_at_once_one_runs_the_other_is_refused(
        tmp_path: Path, redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    repo = make_repo(tmp_path / "vulns", 2000)
    s = settings_for(tmp_path, redis_url, repo)
    for k, v in settings_for(tmp_path, redis_url, repo, "in-process-worker").items():
        monkeypatch.setenv(k, str(v))  # what the in-process worker's job reads
    jobs = build_runtime(settings_with(s)).jobs
    first = jobs.enqueue("sigmatch.worker.tasks.refresh_job")
    env = as_env(settings_for(tmp_path, redis_url, repo, "worker-data"))
    worker = start_worker(env, tmp_path / "worker.log")
    client = client_for(redis_url)
    try:
        wait_for(lambda: client.exists(LOCK_KEY) == 1 or worker.poll() is not None, 30, "the first refresh")
        # the second refresh, started while the first holds the lock
        with pytest.raises(Exception, match="another refresh is running"):
            refresh(settings=settings_with(s, SIGMATCH_DATA_DIR=str(tmp_path / "other")))
        second = jobs.enqueue("sigmatch.worker.tasks.refresh_job")
        SimpleWorker([jobs.queue], connection=jobs.queue.connection).work(burst=True)
        assert worker.wait(timeout=120) == 0
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
    a, b = jobs.get(first), jobs.get(second)
    assert a.status is JobStatus.FINISHED, (a, (tmp_path / "worker.log").read_text()[-2000:])
    # the second job either met the lock (refused) or ran after the first ended (nothing new)
    refused = b.status is JobStatus.FAILED and "another refresh is running" in (b.error or "")
    ran_after = b.status is JobStatus.FINISHED and b.result["unchanged"]
    assert refused or ran_after, b
    snap = build_runtime(settings_with(s)).store.load()
    assert snap is not None and len(snap.bugs) == 2000 and snap.version == a.result["snapshot_version"]


# --------------------------------------------------------------------------- two webs, one worker


def test_two_web_apps_and_one_worker_share_one_redis(
        tmp_path: Path, redis_url: str, app_factory: Callable[[dict[str, Any]], Any]) -> None:
    repo = make_repo(tmp_path / "vulns", 30)
    web1 = app_factory(settings_for(tmp_path, redis_url, repo, "web1"))
    web2 = app_factory(settings_for(tmp_path, redis_url, repo, "web2"))
    assert total(web1) == total(web2) == 0

    wrong = web1.post("/api/v1/refresh", json={}, headers={"Authorization": "Bearer nope"})
    assert wrong.status_code in (401, 403)
    r = web1.post("/api/v1/refresh", json={}, headers={"Authorization": "Bearer admin-token"})
    assert r.status_code == 202, r.data[:300]
    job = r.get_json()["job_id"]
    assert web2.get(f"/api/v1/jobs/{job}").get_json()["status"] == "queued"  # one queue for every process

    env = as_env(settings_for(tmp_path, redis_url, repo, "worker-data"))
    worker = start_worker(env, tmp_path / "worker.log")
    assert worker.wait(timeout=120) == 0, (tmp_path / "worker.log").read_text()[-2000:]
    for web in (web1, web2):
        assert web.get(f"/api/v1/jobs/{job}").get_json()["status"] == "finished"
    wait_for(lambda: total(web1) == 30 and total(web2) == 30, 20, "both web apps to serve the new snapshot")
    version = RedisSnapshotStore(redis_url).current_version()
    assert version is not None
    for web in (web1, web2):
        assert web.get("/readyz").get_json()["catalog"]["version"].startswith(version[:12])


def test_procfile_lines() -> None:
    lines = dict(line.split(":", 1) for line in (REPO_ROOT / "Procfile").read_text().splitlines() if line.strip())
    assert {"web", "worker", "scheduler"} <= set(lines)
    cmd = procfile_worker({"REDIS_URL": "redis://127.0.0.1:9/0"})
    assert cmd[:2] == ["rq", "worker"] and "redis://127.0.0.1:9/0" in cmd and cmd[-2:] == ["sigmatch", "--burst"]
    assert "sigmatch.worker.cron" in lines["scheduler"]


# --------------------------------------------------------------------------- a failing nightly is visible


def test_readyz_and_metrics_say_when_the_last_refresh_failed(
        tmp_path: Path, redis_url: str, app_factory: Callable[[dict[str, Any]], Any]) -> None:
    repo = make_repo(tmp_path / "vulns", 5)
    s = settings_for(tmp_path, redis_url, repo)
    web = app_factory(s)
    assert web.get("/readyz").get_json()["refresh"]["last_success"] is None
    refresh(("cve",), settings=settings_with(s))
    ready = web.get("/readyz").get_json()
    assert ready["refresh"]["last_success"] and not ready["refresh"]["failing"]
    assert not any("refresh failed" in d for d in ready["degraded"])

    broken = dict(s, SIGMATCH_CVE_REPO=str(tmp_path / "no-such-repo"), SIGMATCH_DATA_DIR=str(tmp_path / "other"))
    with pytest.raises(Exception):  # noqa: B017 - the repository error, whatever its class
        refresh(("cve",), settings=settings_with(broken))
    ready = web.get("/readyz").get_json()
    assert ready["status"] == "degraded" and ready["refresh"]["failing"]
    assert any("the last refresh failed" in d for d in ready["degraded"])
    metrics = web.get("/metrics").get_data(as_text=True)
    assert "sigmatch_refresh_failing 1.0" in metrics
    assert "sigmatch_refresh_last_success_timestamp_seconds 0.0" not in metrics

    refresh(("cve",), settings=settings_with(s))  # the next night works again
    assert not web.get("/readyz").get_json()["refresh"]["failing"]
    assert "sigmatch_refresh_failing 0.0" in web.get("/metrics").get_data(as_text=True)
