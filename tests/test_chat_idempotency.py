"""Idempotency keys (in-process and in a real redis-server) and the RQ path of chat replies."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from chat_servers import SlackServer, slack_headers
from conftest import settings_with
from test_chat_slack import SECRET, event_body, make_app, post_event

from sigmatch.runtime import build_runtime
from sigmatch.runtime.chat.delivery import QueueRunner, ReplyJob, SlackFile
from sigmatch.runtime.chat.idempotency import (
    MemoryIdempotency,
    SqliteIdempotency,
)
from sigmatch.runtime.redisio.locks import RedisIdempotency


def test_memory_claim_once_until_expiry() -> None:
    store = MemoryIdempotency()
    assert store.claim("a", ttl=60)
    assert not store.claim("a", ttl=60)
    assert store.claim("b", ttl=60)
    assert store.claim("gone", ttl=0)  # expires at once
    assert store.claim("gone", ttl=60)


def test_memory_store_is_bounded() -> None:
    store = MemoryIdempotency(max_keys=10)
    for i in range(100):
        assert store.claim(f"k{i}")
    assert len(store) == 10


def test_concurrent_claims_have_one_winner() -> None:
    store = MemoryIdempotency()
    wins: list[bool] = []
    barrier = threading.Barrier(8)

    def claim() -> None:
        barrier.wait()
        wins.append(store.claim("same"))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_sqlite_claims_are_shared_between_processes(tmp_path: Path) -> None:
    path = tmp_path / "claims.sqlite3"
    a, b = SqliteIdempotency(path), SqliteIdempotency(path)
    assert a.claim("k1", ttl=60)
    assert not b.claim("k1", ttl=60)
    code = (f"from sigmatch.runtime.chat.idempotency import SqliteIdempotency as S; import sys; "
            f"s = S({str(path)!r}); sys.exit(0 if (not s.claim('k1') and s.claim('k2')) else 1)")
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
    assert not a.claim("k2", ttl=60)
    assert a.claim("short", ttl=0)
    assert b.claim("short", ttl=60)  # expired, so claimable again


def test_sqlite_concurrent_claims_have_one_winner(tmp_path: Path) -> None:
    stores = [SqliteIdempotency(tmp_path / "c.sqlite3") for _ in range(6)]
    wins: list[bool] = []
    barrier = threading.Barrier(len(stores))

    def claim(store: SqliteIdempotency) -> None:
        barrier.wait()
        wins.append(store.claim("same"))

    threads = [threading.Thread(target=claim, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wins.count(True) == 1


def test_default_store_is_machine_wide_unless_redis(tmp_path: Path, redis_url: str) -> None:
    assert build_runtime(settings_with(SIGMATCH_DATA_DIR=tmp_path, REDIS_URL="")).idempotency.backend == "sqlite"
    blocked = tmp_path / "file"
    blocked.write_text("not a directory")
    assert build_runtime(settings_with(SIGMATCH_DATA_DIR=blocked, REDIS_URL="")).idempotency.backend == "memory"
    assert build_runtime(settings_with(REDIS_URL=redis_url)).idempotency.backend == "redis"


def test_redis_claim_is_shared_between_clients(redis_url: str) -> None:
    a = build_runtime(settings_with(REDIS_URL=redis_url)).idempotency
    b = RedisIdempotency(redis.Redis.from_url(redis_url))
    assert a.claim("slack:event:Ev1", ttl=60)
    assert not b.claim("slack:event:Ev1", ttl=60)
    assert b.claim("slack:event:Ev2", ttl=60)


def test_a_released_claim_can_be_claimed_again(tmp_path: Path, redis_url: str) -> None:
    stores = [MemoryIdempotency(), SqliteIdempotency(tmp_path / "claims.sqlite3"),
              RedisIdempotency(redis.Redis.from_url(redis_url))]
    for store in stores:
        assert store.claim("slack:event:EvRel") and not store.claim("slack:event:EvRel")
        store.release("slack:event:EvRel")
        assert store.claim("slack:event:EvRel"), store.backend
        store.release("never-claimed")  # forgetting an unknown key is fine


def test_reply_job_round_trips_as_json() -> None:
    job = ReplyJob(platform="slack", text="log", channel="C1", thread_ts="1.2",
                   files=(SlackFile(id="F1", name="x.txt", size=3, url="https://files.slack.com/x"),))
    assert ReplyJob.from_dict(json.loads(json.dumps(job.to_dict()))) == job


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


def test_with_redis_a_worker_posts_the_reply_once(slack: SlackServer, redis_url: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """REDIS_URL set: the view enqueues an RQ job; a real RQ worker (burst) answers with its own catalog."""
    from redis import Redis
    from rq import Queue, SimpleWorker

    for name, value in {"REDIS_URL": redis_url, "SIGMATCH_SLACK_BOT_TOKEN": slack.token,
                        "SIGMATCH_SLACK_API_URL": slack.api_url, "SIGMATCH_DATA_DIR": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    app = make_app(slack, REDIS_URL=redis_url, SIGMATCH_DATA_DIR=str(tmp_path))
    client = app.test_client()
    body = event_body(event_id="EvRQ")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    retry = slack_headers(body, SECRET, ts=None, **{"X-Slack-Retry-Num": "1"})
    assert post_event(client, body, retry).status_code == 200  # Slack's retry: acknowledged, not redone
    assert isinstance(app.extensions["sigmatch_chat"].runner, QueueRunner)
    assert slack.posts() == []  # nothing happens until a worker runs the job

    conn = Redis.from_url(redis_url)
    SimpleWorker([Queue("sigmatch", connection=conn)], connection=conn).work(burst=True)
    posts = slack.posts("/api/chat.postMessage")
    assert len(posts) == 1
    assert "d90a10e2444b" in json.dumps(posts[0].json())  # the curated catalog of signatures/


def test_the_chat_state_uses_the_runtimes_idempotency_store(slack: SlackServer, tmp_path: Path) -> None:
    """Two apps (two gunicorn workers) with data dirs of their own share only the idempotency store
    given to their runtimes: Slack's retry of an event answered by one is not answered by the other."""
    from test_chat_slack import CATALOG, settle

    from sigmatch.web import create_app
    from sigmatch.web.chat import bp as chat_bp

    store = MemoryIdempotency()
    apps = []
    for n in (1, 2):
        settings = settings_with(SIGMATCH_SLACK_SIGNING_SECRET=SECRET, SIGMATCH_SLACK_BOT_TOKEN=slack.token,
                                 SIGMATCH_SLACK_API_URL=slack.api_url, REDIS_URL="",
                                 SIGMATCH_DATA_DIR=tmp_path / f"worker{n}")
        app = create_app(runtime=build_runtime(settings, idempotency=store), catalog=CATALOG,
                         flask_config={"TESTING": True})
        if "chat" not in app.blueprints:
            app.register_blueprint(chat_bp)
        apps.append(app)
    body = event_body(event_id="EvShared")
    assert post_event(apps[0].test_client(), body, slack_headers(body, SECRET)).status_code == 200
    retry = slack_headers(body, SECRET, ts=None, **{"X-Slack-Retry-Num": "1"})
    assert post_event(apps[1].test_client(), body, retry).status_code == 200
    for app in apps:
        assert app.extensions["sigmatch_chat"].idempotency is store
        settle(app)
    assert len(slack.posts("/api/chat.postMessage")) == 1
    assert not store.claim("slack:event:EvShared", ttl=60)
