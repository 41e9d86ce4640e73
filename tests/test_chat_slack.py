"""Slack endpoints end to end: real signed requests in, real HTTP replies out to a local Slack stand-in.

The app is the real one (``create_app``, through conftest.app_with) with a small catalog written here; the replies go to
:class:`tests.chat_servers.SlackServer` on 127.0.0.1 through Slack's SDK. After each request the
background runner is drained (``settle``), so "exactly one reply" and "no reply" are exact counts,
not timing guesses.
"""

from __future__ import annotations

import json
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from chat_servers import SlackServer, slack_headers
from conftest import app_with
from flask import Flask
from flask.testing import FlaskClient

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import BugSignature, FixCommit, KnownBug, Reference, StableFix
from sigmatch.web.chat import bp as chat_bp

SECRET = "test-signing-secret"
FIX = "d90a10e2444ba5a351fa695917258ff4c5709fa5"
LOG = (Path(__file__).resolve().parents[1] / "examples" / "fsnotify-softlockup-4.14.32.log").read_text()
NO_CRASH = "[    0.000000] Linux version 6.1.0-18-amd64\n[    1.234567] usb 1-1: new high-speed USB device\n"

FSNOTIFY = KnownBug(
    id="fsnotify-mark-connector-race",
    title="BUG: soft lockup in fsnotify",
    summary="fsnotify_mark_connector race leaves a CPU spinning in fsnotify",
    kinds=("soft_lockup",),
    signatures=(BugSignature(title="BUG: soft lockup in fsnotify", frames=("fsnotify", "vfs_write"),
                             kind="soft_lockup"),),
    fixes=(FixCommit(FIX, "fsnotify: Fix fsnotify_mark_connector race", "4.17"),),
    stable=(StableFix("4.16", "4.16.5"),),
    references=(Reference("bugzilla", "199437"),),
    functions=("fsnotify", "fsnotify_mark_connector"),
)
# Other known bugs, so that the matcher's rarity weights mean something (a one-bug catalog has none).
_OTHERS = [
    ("KASAN: use-after-free Read in tcp_retransmit_timer", ("tcp_retransmit_timer", "tcp_write_timer_handler")),
    ("general protection fault in ext4_xattr_set_entry", ("ext4_xattr_set_entry", "ext4_xattr_block_set")),
    ("WARNING in drm_atomic_helper_wait_for_vblanks", ("drm_atomic_helper_wait_for_vblanks", "drm_atomic_helper_commit_tail")),
    ("INFO: task hung in jbd2_journal_commit_transaction", ("jbd2_journal_commit_transaction", "kjournald2")),
    ("BUG: unable to handle kernel NULL pointer dereference in xfs_trans_brelse", ("xfs_trans_brelse", "xfs_attr3_leaf_read")),
    ("kernel BUG at mm/slub.c", ("kmem_cache_free", "dst_destroy")),
    ("BUG: soft lockup in smp_call_function_many", ("smp_call_function_many", "on_each_cpu_mask")),
    ("KASAN: slab-out-of-bounds Write in nf_conntrack_confirm", ("nf_conntrack_confirm", "ipv4_confirm")),
]
OTHERS = [KnownBug(id=f"other-{i}", title=t, kinds=(), signatures=(BugSignature(title=t, frames=f),),
                   fixes=(FixCommit(f"{i:02d}" * 20, f"subsystem: fix {f[0]}", "6.1"),))
          for i, (t, f) in enumerate(_OTHERS)]
CATALOG = Catalog.of([FSNOTIFY, *OTHERS], version="test-chat")


def make_app(server: SlackServer, **settings: Any) -> Flask:
    config: dict[str, Any] = {
        "SIGMATCH_SLACK_SIGNING_SECRET": SECRET,
        "SIGMATCH_SLACK_BOT_TOKEN": server.token,
        "SIGMATCH_SLACK_API_URL": server.api_url,
        "SIGMATCH_MATTERMOST_TOKEN": "mm-token-1, mm-token-2",
        "REDIS_URL": "",
        "SIGMATCH_DATA_DIR": tempfile.mkdtemp(prefix="sigmatch-chat-test-"),
        "CATALOG": CATALOG,
        "TESTING": True,
        **settings,
    }
    app = app_with(config)
    if "chat" not in app.blueprints:
        app.register_blueprint(chat_bp)
    return app


def settle(app: Flask) -> None:
    """Wait until every background reply of this app has been run."""
    st = app.extensions.get("sigmatch_chat")
    if st is not None:
        st.runner.shutdown(wait=True)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer() as server:
        yield server


@pytest.fixture
def app(slack: SlackServer) -> Iterator[Flask]:
    a = make_app(slack)
    yield a
    settle(a)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def command_form(slack: SlackServer, text: str = LOG, **extra: str) -> bytes:
    return urlencode({"token": "legacy", "team_id": "T1", "channel_id": "C1", "user_id": "U1",
                      "command": "/kernel-crash", "text": text, "response_url": slack.response_url(),
                      "trigger_id": "1.2.3", **extra}).encode()


def post_command(client: FlaskClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/slack/commands", data=body,
                       headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})


def event_body(text: str = "<@U0BOT> " + LOG, event_id: str = "Ev001", ts: str = "1700000000.000100",
               **event: Any) -> bytes:
    doc = {"token": "legacy", "team_id": "T1", "api_app_id": "A1", "type": "event_callback",
           "event_id": event_id, "event_time": int(time.time()),
           "event": {"type": "app_mention", "user": "U1", "text": text, "ts": ts, "channel": "C1",
                     "event_ts": ts, **event}}
    return json.dumps(doc).encode()


def post_event(client: FlaskClient, body: bytes, headers: dict[str, str]) -> Any:
    return client.post("/slack/events", data=body, headers={**headers, "Content-Type": "application/json"})


def reply_text(rec: Any) -> str:
    return json.dumps(rec.json())


# --- slash command ------------------------------------------------------------------------------------


def test_signed_command_is_acknowledged_and_answered_once_with_the_fix(app: Flask, client: FlaskClient,
                                                                       slack: SlackServer) -> None:
    body = command_form(slack)
    resp = post_command(client, body, slack_headers(body, SECRET))
    assert resp.status_code == 200
    assert resp.json["response_type"] == "ephemeral"
    settle(app)
    posts = slack.posts("/response/")
    assert len(posts) == 1
    reply = posts[0].json()
    assert reply["response_type"] == "in_channel"
    text = json.dumps(reply)
    assert "d90a10e2444b" in text
    assert f"https://git.kernel.org/linus/{FIX}" in text
    assert "fsnotify: Fix fsnotify_mark_connector race" in text
    assert any(b["type"] == "header" and b["text"]["text"].startswith("Known bug") for b in reply["blocks"])
    assert "4.14.32-1.el7.x86_64" in text  # the verdict names the kernel in the log


@pytest.mark.parametrize("case", ["forged", "stale", "future", "missing", "no-signature", "garbage-ts", "not-v0"])
def test_bad_signatures_are_refused_and_never_answered(app: Flask, client: FlaskClient, slack: SlackServer,
                                                       case: str) -> None:
    body = command_form(slack)
    good = slack_headers(body, SECRET)
    headers = {
        "forged": slack_headers(body, "wrong-secret"),
        "stale": slack_headers(body, SECRET, ts=int(time.time()) - 3600),
        "future": slack_headers(body, SECRET, ts=int(time.time()) + 3600),
        "missing": {},
        "no-signature": {"X-Slack-Request-Timestamp": good["X-Slack-Request-Timestamp"]},
        "garbage-ts": {**good, "X-Slack-Request-Timestamp": "12ab"},
        "not-v0": {**good, "X-Slack-Signature": "v1=" + good["X-Slack-Signature"][3:]},
    }[case]
    resp = post_command(client, body, headers)
    assert resp.status_code == 401
    assert resp.json["error"]["status"] == 401
    settle(app)
    assert slack.posts() == []


def test_tampered_body_is_refused(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = command_form(slack)
    headers = slack_headers(body, SECRET)
    resp = post_command(client, body.replace(b"kube-apiserver", b"kube-scheduler"), headers)
    assert resp.status_code == 401
    settle(app)
    assert slack.posts() == []


def test_replayed_request_is_refused_and_answered_once(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = command_form(slack)
    headers = slack_headers(body, SECRET)
    assert post_command(client, body, headers).status_code == 200
    again = post_command(client, body, headers)
    assert again.status_code == 401
    assert again.json["error"]["code"] == "replayed_request"
    settle(app)
    assert len(slack.posts()) == 1


def test_oversized_command_is_413_and_never_answered(slack: SlackServer) -> None:
    app = make_app(slack, SIGMATCH_MAX_REQUEST_BYTES=4096)
    body = command_form(slack, text=LOG * 20)
    resp = post_command(app.test_client(), body, slack_headers(body, SECRET))
    assert resp.status_code == 413
    settle(app)
    assert slack.posts() == []


def test_log_without_a_crash_gets_one_reply_saying_so(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = command_form(slack, text=NO_CRASH)
    assert post_command(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    posts = slack.posts()
    assert len(posts) == 1
    assert "No kernel crash report found" in reply_text(posts[0])


def test_empty_command_gets_usage_and_no_background_reply(app: Flask, client: FlaskClient,
                                                          slack: SlackServer) -> None:
    body = command_form(slack, text="   ")
    resp = post_command(client, body, slack_headers(body, SECRET))
    assert resp.status_code == 200
    assert "/kernel-crash" in resp.json["text"]
    settle(app)
    assert slack.posts() == []


def test_binary_text_gets_one_error_reply(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = command_form(slack, text="\x01\x02\x03\x04" * 200)
    assert post_command(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    posts = slack.posts()
    assert len(posts) == 1
    assert "could not analyze" in reply_text(posts[0])


def test_command_without_response_url_is_400(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = urlencode({"command": "/kernel-crash", "text": LOG}).encode()
    assert post_command(client, body, slack_headers(body, SECRET)).status_code == 400


def test_non_utf8_body_is_refused(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = b"command=%2Fkernel-crash&text=\xff\xfe\xfa"
    assert post_command(client, body, slack_headers(body, SECRET)).status_code in (400, 401)
    settle(app)
    assert slack.posts() == []


def test_slack_endpoints_are_off_without_a_signing_secret(slack: SlackServer) -> None:
    app = make_app(slack, SIGMATCH_SLACK_SIGNING_SECRET="")
    body = command_form(slack)
    resp = post_command(app.test_client(), body, slack_headers(body, SECRET))
    assert resp.status_code == 404
    assert resp.json["error"]["code"] == "not_configured"


def test_reply_is_retried_when_response_url_fails_then_posted_once(app: Flask, client: FlaskClient,
                                                                   slack: SlackServer) -> None:
    slack.fail_next = 1
    body = command_form(slack)
    assert post_command(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    assert len(slack.posts()) == 1
    assert "d90a10e2444b" in reply_text(slack.posts()[0])


# --- events -----------------------------------------------------------------------------------------


def test_url_verification_echoes_the_challenge(client: FlaskClient) -> None:
    body = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
                       "type": "url_verification"}).encode()
    resp = post_event(client, body, slack_headers(body, SECRET))
    assert resp.status_code == 200
    assert resp.json == {"challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}


def test_unsigned_url_verification_is_refused(client: FlaskClient) -> None:
    body = json.dumps({"challenge": "abc", "type": "url_verification"}).encode()
    assert post_event(client, body, {}).status_code == 401


def test_mention_with_pasted_log_is_answered_in_the_thread(app: Flask, client: FlaskClient,
                                                           slack: SlackServer) -> None:
    body = event_body()
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    posts = slack.posts("/api/chat.postMessage")
    assert len(posts) == 1
    assert posts[0].headers["authorization"] == f"Bearer {slack.token}"
    msg = posts[0].json()
    assert msg["channel"] == "C1"
    assert msg["thread_ts"] == "1700000000.000100"
    assert "d90a10e2444b" in json.dumps(msg)


def test_mention_inside_a_thread_replies_in_that_thread(app: Flask, client: FlaskClient,
                                                        slack: SlackServer) -> None:
    body = event_body(ts="1700000100.000200", thread_ts="1700000000.000100")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert post.json()["thread_ts"] == "1700000000.000100"


def test_retried_and_duplicated_events_get_one_reply(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = event_body(event_id="EvRetry")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    # Slack's retry: same event, signed again, marked as a retry
    retry = post_event(client, body, slack_headers(body, SECRET, ts=int(time.time()) + 1,
                                                   **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}))
    assert retry.status_code == 200
    # the same signed request again, marked as a retry: acknowledged, not redone
    same = slack_headers(body, SECRET, ts=int(time.time()) + 2, **{"X-Slack-Retry-Num": "2"})
    assert post_event(client, body, same).status_code == 200
    assert post_event(client, body, same).status_code == 200
    # the same message under another event id (Slack can deliver a message twice)
    other = event_body(event_id="EvOther")
    assert post_event(client, other, slack_headers(other, SECRET)).status_code == 200
    settle(app)
    assert len(slack.posts("/api/chat.postMessage")) == 1


def test_an_event_whose_reply_could_not_be_queued_is_answered_on_slacks_retry(app: Flask, client: FlaskClient,
                                                                              slack: SlackServer) -> None:
    from sigmatch.runtime.chat.delivery import ThreadRunner

    st = app.extensions.get("sigmatch_chat")
    body = event_body(event_id="EvQueueDown")
    if st is None:  # the chat state is built on the first chat request
        client.post("/slack/events", data=b"{}", headers={"Content-Type": "application/json"})
        st = app.extensions["sigmatch_chat"]
    settle(app)  # the runner is shut down: it refuses new work, as a queue that is down would
    resp = post_event(client, body, slack_headers(body, SECRET))
    assert resp.status_code == 503  # Slack retries an event that got no 2xx
    st.runner = ThreadRunner(st.analyze, st.delivery)  # the queue is back
    retry = post_event(client, body, slack_headers(body, SECRET, ts=int(time.time()) + 1,
                                                   **{"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_error"}))
    assert retry.status_code == 200
    settle(app)
    posts = slack.posts("/api/chat.postMessage")
    assert len(posts) == 1 and "d90a10e2444b" in reply_text(posts[0])


def test_mention_with_attached_file_downloads_it_with_the_bot_token(app: Flask, client: FlaskClient,
                                                                    slack: SlackServer) -> None:
    slack.files["F1"] = LOG.encode()
    files = [{"id": "F1", "name": "dmesg.txt", "size": len(LOG), "mimetype": "text/plain",
              "url_private_download": f"{slack.base}/files/F1"}]
    body = event_body(text="<@U0BOT> what is this?", files=files)
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "d90a10e2444b" in reply_text(post)


def test_mention_with_file_id_only_asks_files_info(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    slack.files["F2"] = LOG.encode()
    body = event_body(text="<@U0BOT>", files=[{"id": "F2"}], event_id="EvF2", ts="1700000000.000300")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    assert any(r.path.startswith("/api/files.info") for r in slack.received)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "d90a10e2444b" in reply_text(post)


def test_oversized_attached_file_is_not_downloaded_and_one_reply_says_why(slack: SlackServer) -> None:
    app = make_app(slack, SIGMATCH_MAX_REQUEST_BYTES=8192)
    slack.files["BIG"] = b"x" * 20000
    files = [{"id": "BIG", "name": "big.txt", "size": 20000, "url_private_download": f"{slack.base}/files/BIG"}]
    body = event_body(text="<@U0BOT>", files=files)
    assert post_event(app.test_client(), body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "limit" in reply_text(post)
    assert not any(r.path == "/files/BIG" for r in slack.received)


def test_file_lying_about_its_size_is_cut_off(slack: SlackServer) -> None:
    app = make_app(slack, SIGMATCH_MAX_REQUEST_BYTES=8192)
    slack.files["LIE"] = b"y" * 50000
    files = [{"id": "LIE", "size": 10, "url_private_download": f"{slack.base}/files/LIE"}]
    body = event_body(text="<@U0BOT>", files=files)
    assert post_event(app.test_client(), body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "limit" in reply_text(post)


def test_file_on_a_foreign_host_is_not_fetched_with_the_token(app: Flask, client: FlaskClient,
                                                              slack: SlackServer) -> None:
    files = [{"id": "F9", "url_private_download": "http://127.0.0.2:9/files/F9"}]
    body = event_body(text="<@U0BOT>", files=files)
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "not on a Slack host" in reply_text(post)


def test_bare_mention_gets_usage_once(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = event_body(text="<@U0BOT>")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "/kernel-crash" in reply_text(post)


ROOT_TS, REPLY_TS = "1700000000.000100", "1700000300.000900"


def test_bare_mention_in_a_thread_reads_the_log_from_the_threads_first_message(app: Flask, client: FlaskClient,
                                                                                slack: SlackServer) -> None:
    # the log was pasted (Slack escapes & < >) as the thread's first message; someone asks in a reply
    slack.threads[("C1", ROOT_TS)] = [{"type": "message", "user": "U2", "ts": ROOT_TS,
                                       "text": "```" + LOG.replace("&", "&amp;").replace("<", "&lt;") + "```"},
                                      {"type": "message", "user": "U1", "ts": REPLY_TS, "text": "<@U0BOT>"}]
    body = event_body(text="<@U0BOT> what is this?", ts=REPLY_TS, thread_ts=ROOT_TS)
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert post.json()["thread_ts"] == ROOT_TS and "d90a10e2444b" in reply_text(post)
    (asked,) = slack.posts("/api/conversations.replies")
    assert "limit=1" in asked.body.decode()


def test_bare_mention_in_a_thread_without_the_history_scope_says_what_is_missing(
        app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    slack.history_scope = False
    body = event_body(text="<@U0BOT>", ts=REPLY_TS, thread_ts=ROOT_TS)
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "channels:history" in reply_text(post)


def test_bare_mention_in_a_thread_whose_first_message_is_no_log_gets_usage(
        app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    slack.threads[("C1", ROOT_TS)] = [{"type": "message", "user": "U2", "ts": ROOT_TS, "text": "lunch?"}]
    body = event_body(text="<@U0BOT>", ts=REPLY_TS, thread_ts=ROOT_TS)
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "d90a10e2444b" not in reply_text(post)


def test_bot_messages_and_other_events_are_ignored(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    for body in (event_body(bot_id="B1"), event_body(event_id="Ev2", type="message"),
                 json.dumps({"type": "app_rate_limited"}).encode()):
        assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    assert slack.posts() == []


@pytest.mark.parametrize("body", [b"not json", b"[1, 2]", b'{"type": "event_callback"}',
                                  b'{"type": "event_callback", "event": {"type": "app_mention"}}',
                                  b'{"type": "url_verification"}'])
def test_malformed_events_are_400(app: Flask, client: FlaskClient, slack: SlackServer, body: bytes) -> None:
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 400
    settle(app)
    assert slack.posts() == []


def test_two_apps_sharing_a_redis_store_answer_a_duplicated_event_once(slack: SlackServer, redis_url: str) -> None:
    apps = [make_app(slack, REDIS_URL=redis_url, JOBS=_thread_jobs()) for _ in range(2)]
    body = event_body(event_id="EvShared")
    for i, a in enumerate(apps):
        headers = slack_headers(body, SECRET, ts=int(time.time()) + i)  # Slack re-signs its retries
        assert post_event(a.test_client(), body, headers).status_code == 200
    for a in apps:
        settle(a)
    assert len(slack.posts("/api/chat.postMessage")) == 1


def _thread_jobs() -> Any:
    from sigmatch.runtime.jobs import ThreadJobs

    return ThreadJobs()


# --- upstream reports in the reply ----------------------------------------------------------------

ATOM = """<?xml version="1.0" encoding="us-ascii"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">
<title>fsnotify - search results</title>
<entry><author><name>A. Reporter</name><email>reporter@example.org</email></author>
<title>soft lockup in fsnotify with 4.14.32</title><updated>2018-04-14T08:12:21Z</updated>
<link href="{base}/all/20180414081221.report@example.org/"/>
<id>urn:uuid:8c2f0e0e-1111-2222-3333-444455556666</id>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><pre>
watchdog: BUG: soft lockup - CPU#7 stuck for 22s! [kube-apiserver:63429]
RIP: 0010:fsnotify+0x1b2/0x4f0
</pre></div></content></entry>
</feed>
"""


class _Lore:
    """lore.kernel.org's search answering with one report as Atom; every other upstream path 404s."""

    def __init__(self) -> None:
        import http.server
        import threading

        outer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.startswith("/all/?"):
                    body = ATOM.format(base=outer.base).encode()
                    ctype = "application/atom+xml"
                    status = 200
                else:
                    body, ctype, status = b"not found", "text/plain", 404
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()


def test_upstream_reports_found_within_the_budget_are_in_the_reply(slack: SlackServer) -> None:
    # tests/conftest.py turns upstream lookups off by default; this test asks a local lore
    lore = _Lore()
    try:
        app = make_app(slack, SIGMATCH_CHAT_UPSTREAM_BUDGET=10.0, SIGMATCH_LORE_URL=lore.base,
                       SIGMATCH_BUGZILLA_URL=lore.base, SIGMATCH_SYZBOT_URL=lore.base,
                       SIGMATCH_STABLE_URL=lore.base, SIGMATCH_RATE_LIMIT=1000.0, SIGMATCH_UPSTREAM_LOOKUP="on")
        body = command_form(slack)
        assert post_command(app.test_client(), body, slack_headers(body, SECRET)).status_code == 200
        settle(app)
        (post,) = slack.posts("/response/")
        text = reply_text(post)
        assert "d90a10e2444b" in text
        assert "Upstream reports" in text
        assert f"{lore.base}/all/20180414081221.report@example.org/" in text
    finally:
        lore.httpd.shutdown()
        lore.httpd.server_close()


# --- through `sigmatch serve`: several gunicorn workers, one reply ------------------------------------


def test_served_by_several_workers_a_retried_event_gets_one_reply(slack: SlackServer, tmp_path: Path) -> None:
    """gunicorn runs 3 worker processes; Slack's retries and a replay, spread over them, get one reply."""
    import contextlib
    import os
    import signal
    import socket
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "SIGMATCH_SLACK_SIGNING_SECRET": SECRET, "SIGMATCH_SLACK_BOT_TOKEN": slack.token,
           "SIGMATCH_SLACK_API_URL": slack.api_url, "SIGMATCH_DATA_DIR": str(tmp_path), "REDIS_URL": ""}
    code = "import sys; from sigmatch.cli import main; sys.exit(main())"
    proc = subprocess.Popen([sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port),
                             "--workers", "3"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"

    def post(body: bytes, headers: dict[str, str]) -> int:
        req = urllib.request.Request(base + "/slack/events", data=body, method="POST",
                                     headers={**headers, "Content-Type": "application/json", "Connection": "close"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return int(r.status)
        except urllib.error.HTTPError as e:
            return int(e.code)

    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, "sigmatch serve exited"
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                assert time.monotonic() < deadline, "sigmatch serve did not come up"
                time.sleep(0.2)
        body = event_body(event_id="EvServe")
        first = slack_headers(body, SECRET)
        assert post(body, first) == 200
        for n in range(1, 7):  # Slack re-signs each retry
            retry = slack_headers(body, SECRET, ts=int(time.time()) + n, **{"X-Slack-Retry-Num": str(n)})
            assert post(body, retry) == 200
        assert post(body, first) == 401  # the first request replayed as-is
        assert slack.wait_posts(1, timeout=30, prefix="/api/chat.postMessage")
        # every request was acknowledged after its claim was decided; give a stray second reply time to land
        time.sleep(1.0)
        assert len(slack.posts("/api/chat.postMessage")) == 1
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def test_a_picture_beside_the_log_is_skipped(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    slack.files["F3"] = LOG.encode()
    slack.files["PNG"] = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    files = [{"id": "PNG", "mimetype": "image/png", "url_private_download": f"{slack.base}/files/PNG"},
             {"id": "BIN", "mimetype": "text/plain", "url_private_download": f"{slack.base}/files/PNG"},
             {"id": "F3", "mimetype": "text/plain", "url_private_download": f"{slack.base}/files/F3"}]
    body = event_body(text="<@U0BOT> see attached", files=files, event_id="EvPic", ts="1700000000.000900")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/api/chat.postMessage")
    assert "d90a10e2444b" in reply_text(post)
    assert "binary" not in reply_text(post)


# --- hostile input: never a 500, never a hang --------------------------------------------------------


def test_hostile_signed_bodies_never_500(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.binary(max_size=2000), st.text(max_size=2000).map(lambda t: t.encode("utf-8", "surrogatepass")),
                     st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                                  lambda c: st.lists(c, max_size=4) | st.dictionaries(st.text(max_size=8), c, max_size=4),
                                  max_leaves=20).map(lambda v: json.dumps({"type": "event_callback", "event": v}).encode())),
           st.sampled_from(["/slack/commands", "/slack/events", "/mattermost/commands"]))
    def run(body: bytes, path: str) -> None:
        headers = {**slack_headers(body, SECRET), "Content-Type": "application/x-www-form-urlencoded"}
        resp = client.post(path, data=body, headers=headers)
        assert resp.status_code in (200, 400, 401, 413), (resp.status_code, body[:200])

    run()
    deep = b'{"type": "event_callback", "event": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    resp = client.post("/slack/events", data=deep, headers={**slack_headers(deep, SECRET),
                                                            "Content-Type": "application/json"})
    assert resp.status_code == 400
    settle(app)


@pytest.mark.parametrize("files", ["F1", {"id": "F1"}, [None, 3, "x", {"id": ["a"], "size": "big"}],
                                   [{"url_private_download": "javascript:alert(1)"}]])
def test_odd_file_lists_never_500(app: Flask, client: FlaskClient, slack: SlackServer, files: Any) -> None:
    body = event_body(text="<@U0BOT> " + LOG, files=files, event_id=f"EvOdd{hash(str(files))}",
                      ts=f"1700000001.{abs(hash(str(files))) % 10**6:06d}")
    assert post_event(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    assert len(slack.posts("/api/chat.postMessage")) == 1


def test_a_log_with_many_crashes_still_fits_block_kit(app: Flask, client: FlaskClient, slack: SlackServer) -> None:
    body = command_form(slack, text=LOG * 40)
    assert post_command(client, body, slack_headers(body, SECRET)).status_code == 200
    settle(app)
    (post,) = slack.posts("/response/")
    msg = post.json()
    assert len(msg["blocks"]) <= 50
    assert "d90a10e2444b" in json.dumps(msg)


def test_upstream_lookup_off_keeps_replies_catalog_only(slack: SlackServer) -> None:
    lore = _Lore()
    try:
        app = make_app(slack, SIGMATCH_CHAT_UPSTREAM_BUDGET=10.0, SIGMATCH_LORE_URL=lore.base,
                       SIGMATCH_UPSTREAM_LOOKUP="off")
        body = command_form(slack)
        assert post_command(app.test_client(), body, slack_headers(body, SECRET)).status_code == 200
        settle(app)
        (post,) = slack.posts("/response/")
        assert "d90a10e2444b" in reply_text(post)
        assert "Upstream reports" not in reply_text(post)
    finally:
        lore.httpd.shutdown()
        lore.httpd.server_close()
