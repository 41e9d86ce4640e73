"""The upstream HTTP client against real servers on 127.0.0.1: etiquette, faults, limits, policy."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest
from upstream_server import BOT_WALL_HTML, ReplayServer, drip, fixed, huge, sequence, slow

from sigmatch import __version__
from sigmatch.errors import BotWallError, UpstreamError
from sigmatch.upstream.http import (
    Fetched,
    MemoryCache,
    TokenBucket,
    UpstreamClient,
    build_url,
    client_from_settings,
    is_bot_wall,
    make_session,
)


@pytest.fixture
def srv() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        yield s


def client(url: str, **kw: object) -> UpstreamClient:
    kw.setdefault("timeout", 1.0)
    kw.setdefault("session", make_session(backoff=0.01, max_retry_after=0.3))
    return UpstreamClient([url], **kw)  # type: ignore[arg-type]


def test_user_agent_names_sigmatch_and_version(srv: ReplayServer) -> None:
    srv.route("/ok", fixed(200, "hello"))
    f = client(srv.url).get(srv.url + "/ok")
    assert f.status == 200 and f.text == "hello" and not f.truncated
    ua = srv.headers[-1]["User-Agent"]
    assert ua == f"sigmatch/{__version__} (Linux kernel crash triage)"


def test_slow_server_past_the_timeout_is_an_error_not_a_hang(srv: ReplayServer) -> None:
    srv.route("/slow", slow(3.0))
    with pytest.raises(UpstreamError) as e:
        client(srv.url, timeout=0.3).get(srv.url + "/slow")
    assert "timed out" in str(e.value)
    assert srv.count("/slow") == 1  # a read timeout is not retried


def test_slow_drip_body_is_cut_at_the_deadline(srv: ReplayServer) -> None:
    srv.route("/drip", drip(0.1, pieces=100))
    with pytest.raises(UpstreamError) as e:
        client(srv.url, timeout=0.5).get(srv.url + "/drip")
    assert "too slow" in str(e.value) or "timed out" in str(e.value)


def test_500s_then_success_is_retried(srv: ReplayServer) -> None:
    srv.route("/flaky", sequence(fixed(500, "oops"), fixed(503, "busy"), fixed(200, "finally")))
    f = client(srv.url).get(srv.url + "/flaky")
    assert f.text == "finally"
    assert srv.count("/flaky") == 3


def test_persistent_500_gives_up_with_the_status(srv: ReplayServer) -> None:
    srv.route("/down", fixed(502, "bad gateway"))
    with pytest.raises(UpstreamError) as e:
        client(srv.url).get(srv.url + "/down")
    assert e.value.status == 502 and "server error" in str(e.value)
    assert srv.count("/down") == 3  # one try and two retries


def test_4xx_other_than_429_is_not_retried(srv: ReplayServer) -> None:
    srv.route("/gone", fixed(403, "forbidden"))
    with pytest.raises(UpstreamError) as e:
        client(srv.url).get(srv.url + "/gone")
    assert e.value.status == 403
    assert srv.count("/gone") == 1


def test_429_with_retry_after_is_honoured(srv: ReplayServer) -> None:
    srv.route("/limited", sequence(fixed(429, "slow down", headers={"Retry-After": "0.2"}), fixed(200, "ok")))
    assert client(srv.url).get(srv.url + "/limited").text == "ok"
    assert srv.count("/limited") == 2


def test_429_with_a_long_retry_after_is_capped_and_reported(srv: ReplayServer) -> None:
    srv.route("/limited", fixed(429, "slow down", headers={"Retry-After": "3600"}))
    with pytest.raises(UpstreamError) as e:
        client(srv.url).get(srv.url + "/limited")  # waits at most 0.3 s per retry, not an hour
    assert e.value.status == 429 and "3600" in str(e.value)


def test_a_50_mb_answer_is_cut_off_at_the_cap(srv: ReplayServer) -> None:
    srv.route("/big", huge(50 * 1024 * 1024))
    f = client(srv.url, max_bytes=1024 * 1024).get(srv.url + "/big")
    assert f.truncated and len(f.body) == 1024 * 1024
    with pytest.raises(UpstreamError, match="cut off"):
        f.json()


def test_bot_wall_served_with_200_is_detected(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(200, BOT_WALL_HTML))
    with pytest.raises(BotWallError) as e:
        client(srv.url).get(srv.url + "/all/?q=x")
    assert e.value.status == 200
    assert is_bot_wall("<title>Making sure you’re not a bot!</title>".encode())
    assert not is_bot_wall(b"<title>a kernel thread about bots</title>")


def test_connection_refused_is_a_clear_error() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    url = f"http://127.0.0.1:{port}"
    with pytest.raises(UpstreamError) as e:
        client(url).get(url + "/all/")
    assert "cannot connect" in str(e.value)


def test_only_configured_bases_are_fetched(srv: ReplayServer) -> None:
    c = client(srv.url + "/lore")
    for bad in ("http://169.254.169.254/latest/meta-data/", "file:///etc/passwd", srv.url + "/other",
                srv.url.replace("127.0.0.1", "localhost") + "/lore/x", "http://user:pw@127.0.0.1/lore/"):
        with pytest.raises(UpstreamError, match="refused"):
            c.get(bad)
    assert srv.requests == []


def test_redirects_are_followed_only_within_the_bases(srv: ReplayServer) -> None:
    srv.route("/lore/away", fixed(302, "", headers={"Location": "http://169.254.169.254/"}))
    srv.route("/lore/here", fixed(301, "", headers={"Location": "/lore/there/"}))
    srv.route("/lore/there/", fixed(200, "arrived"))
    c = client(srv.url + "/lore")
    assert c.get(srv.url + "/lore/here").text == "arrived"
    with pytest.raises(UpstreamError, match="refused redirect"):
        c.get(srv.url + "/lore/away")


def test_cache_serves_repeats_and_expires(srv: ReplayServer) -> None:
    srv.route("/c", sequence(fixed(200, "one"), fixed(200, "two")))
    cache = MemoryCache()
    c = client(srv.url, cache=cache, ttl=3600)
    assert c.get(srv.url + "/c").text == "one"
    again = c.get(srv.url + "/c")
    assert again.text == "one" and again.from_cache
    assert srv.count("/c") == 1
    cache.set("k", b"v", ttl=-1)  # a non-positive TTL stores nothing
    assert cache.get("k") is None
    c0 = client(srv.url, cache=MemoryCache(), ttl=0)
    assert c0.get(srv.url + "/c").text == "two"


def test_memory_cache_bounds() -> None:
    cache = MemoryCache(max_entries=2, max_bytes=10)
    cache.set("a", b"1", 60)
    cache.set("b", b"2", 60)
    cache.set("c", b"3", 60)
    assert cache.get("a") is None and cache.get("c") == b"3"
    cache.set("big", b"x" * 11, 60)
    assert cache.get("big") is None


def test_token_bucket_refuses_a_slot_past_the_deadline() -> None:
    tb = TokenBucket(rate=1.0, burst=1)
    assert tb.acquire("h", deadline=time.monotonic() + 10)
    assert not tb.acquire("h", deadline=time.monotonic() + 0.05)  # next slot is ~1 s away
    assert tb.acquire("other-host", deadline=time.monotonic() + 0.05)  # per host
    assert TokenBucket(rate=0).acquire("h", deadline=time.monotonic())  # 0 = unlimited


def test_rate_limited_request_that_cannot_fit_the_budget_is_not_sent(srv: ReplayServer) -> None:
    srv.route("/r", fixed(200, "ok"))
    c = client(srv.url, limiter=TokenBucket(rate=0.5, burst=1))
    c.get(srv.url + "/r")
    with pytest.raises(UpstreamError, match="rate limit"):
        c.get(srv.url + "/r?2", deadline=time.monotonic() + 0.1)
    assert srv.count("/r") == 1


def test_build_url_escapes_query_values() -> None:
    url = build_url("http://h/base/", "all/", [("q", "a b&c=d/../x"), ("x", "A")])
    assert url == "http://h/base/all/?q=a%20b%26c%3Dd%2F..%2Fx&x=A"


def test_fetched_round_trips_through_the_cache_encoding() -> None:
    f = Fetched("http://h/x", 404, "text/html; charset=latin-1", "caf\xe9".encode("latin-1"), truncated=True)
    g = Fetched.decode(f.encode())
    assert (g.url, g.status, g.body, g.truncated, g.from_cache) == (f.url, 404, f.body, True, True)
    assert g.text == "café"


def test_client_from_settings_allows_exactly_the_four_bases() -> None:
    from sigmatch.config import Settings

    s = Settings.from_env({"SIGMATCH_LORE_URL": "http://127.0.0.1:1/lore", "SIGMATCH_BUGZILLA_URL": "http://127.0.0.1:2",
                           "SIGMATCH_SYZBOT_URL": "http://127.0.0.1:3", "SIGMATCH_STABLE_URL": "http://127.0.0.1:4/pub"})
    c = client_from_settings(s)
    assert c.allowed("http://127.0.0.1:1/lore/all/?q=x") and c.allowed("http://127.0.0.1:4/pub/v6.x/x")
    assert not c.allowed("http://127.0.0.1:1/other") and not c.allowed("http://127.0.0.1:5/")
    assert c.max_bytes == 5 * 1024 * 1024


def test_one_request_per_url_at_a_time(srv: ReplayServer) -> None:
    import threading

    srv.route("/once", slow(0.3, fixed(200, "shared")))
    c = client(srv.url, cache=MemoryCache(), ttl=60)
    out: list[str] = []
    threads = [threading.Thread(target=lambda: out.append(c.get(srv.url + "/once").text)) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == ["shared"] * 4
    assert srv.count("/once") == 1


def test_bot_wall_with_another_status_is_detected_too(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(403, BOT_WALL_HTML))
    with pytest.raises(BotWallError) as e:
        client(srv.url).get(srv.url + "/all/?q=x")
    assert e.value.status == 403
