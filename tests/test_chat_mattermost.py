"""Mattermost: slash command (ack, then one post to its response_url) and outgoing webhook (answer in the
response, as a thread comment), token checks, duplicates. The response_url is a real local HTTP server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from chat_servers import SlackServer
from flask import Flask
from flask.testing import FlaskClient
from test_chat_slack import LOG, NO_CRASH, make_app, settle

TOKEN = "mm-token-2"  # the second of the two configured tokens


@pytest.fixture
def server() -> Iterator[SlackServer]:
    with SlackServer() as s:
        yield s


@pytest.fixture
def app(server: SlackServer) -> Iterator[Flask]:
    a = make_app(server)
    yield a
    settle(a)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def slash(server: SlackServer, text: str = LOG, token: str = TOKEN, **extra: str) -> dict[str, str]:
    return {"channel_id": "ch1", "channel_name": "incidents", "command": "/kernel-crash", "team_id": "t1",
            "text": text, "token": token, "trigger_id": "tr1", "user_id": "u1", "user_name": "oncall",
            "response_url": server.response_url("mm"), **extra}


def webhook(text: str = "crash " + LOG, token: str = TOKEN, post_id: str = "p1") -> dict[str, Any]:
    return {"token": token, "team_id": "t1", "channel_id": "ch1", "channel_name": "incidents",
            "timestamp": 1700000000000, "user_id": "u1", "user_name": "oncall", "post_id": post_id,
            "text": text, "trigger_word": "crash", "file_ids": ""}


def form(d: dict[str, Any]) -> dict[str, Any]:
    return {"data": urlencode(d), "content_type": "application/x-www-form-urlencoded"}


def test_slash_command_is_acknowledged_and_answered_once_at_the_response_url(app: Flask, client: FlaskClient,
                                                                             server: SlackServer) -> None:
    resp = client.post("/mattermost/commands", **form(slash(server)))
    assert resp.status_code == 200
    assert resp.json["response_type"] == "ephemeral"
    settle(app)
    (post,) = server.posts("/response/mm")
    msg = post.json()
    assert msg["response_type"] == "in_channel"
    assert "d90a10e2444b" in json.dumps(msg)
    (att,) = msg["attachments"]
    assert att["title"].startswith("Known bug")
    assert att["title_link"] == "https://git.kernel.org/linus/d90a10e2444ba5a351fa695917258ff4c5709fa5"


def test_slash_command_token_in_authorization_header(app: Flask, client: FlaskClient, server: SlackServer) -> None:
    d = slash(server)
    del d["token"]
    resp = client.post("/mattermost/commands", headers={"Authorization": "Token mm-token-1"}, **form(d))
    assert resp.status_code == 200
    settle(app)
    assert len(server.posts()) == 1


@pytest.mark.parametrize("token", ["", "wrong", "mm-token-1,mm-token-2", "mm-token"])
def test_wrong_or_missing_token_is_401_and_never_answered(app: Flask, client: FlaskClient, server: SlackServer,
                                                          token: str) -> None:
    resp = client.post("/mattermost/commands", **form(slash(server, token=token)))
    assert resp.status_code == 401
    assert resp.json["error"]["status"] == 401
    resp = client.post("/mattermost/commands", **form(webhook(token=token)))
    assert resp.status_code == 401
    settle(app)
    assert server.posts() == []


def test_repeated_slash_trigger_is_answered_once(app: Flask, client: FlaskClient, server: SlackServer) -> None:
    for _ in range(2):
        assert client.post("/mattermost/commands", **form(slash(server))).status_code == 200
    settle(app)
    assert len(server.posts()) == 1


def test_slash_without_response_url_answers_in_the_response(app: Flask, client: FlaskClient,
                                                            server: SlackServer) -> None:
    d = slash(server)
    del d["response_url"]
    resp = client.post("/mattermost/commands", **form(d))
    assert resp.status_code == 200
    assert resp.json["response_type"] == "in_channel"
    assert "d90a10e2444b" in json.dumps(resp.json)


def test_outgoing_webhook_answers_in_the_thread(client: FlaskClient) -> None:
    resp = client.post("/mattermost/commands", **form(webhook()))
    assert resp.status_code == 200
    assert resp.json["response_type"] == "comment"  # Mattermost posts it as a reply to the trigger post
    assert "d90a10e2444b" in json.dumps(resp.json)


def test_outgoing_webhook_as_json(client: FlaskClient) -> None:
    resp = client.post("/mattermost/commands", json=webhook(post_id="p-json"))
    assert resp.status_code == 200
    assert "d90a10e2444b" in json.dumps(resp.json)


def test_outgoing_webhook_duplicate_post_gets_an_empty_response(client: FlaskClient) -> None:
    assert "d90a10e2444b" in json.dumps(client.post("/mattermost/commands", **form(webhook(post_id="dup"))).json)
    again = client.post("/mattermost/commands", **form(webhook(post_id="dup")))
    assert again.status_code == 200
    assert again.json == {}


def test_outgoing_webhook_without_a_crash(client: FlaskClient) -> None:
    resp = client.post("/mattermost/commands", **form(webhook(text="crash " + NO_CRASH, post_id="p-none")))
    assert resp.status_code == 200
    assert "No kernel crash report found" in json.dumps(resp.json)


def test_empty_text_gets_usage(app: Flask, client: FlaskClient, server: SlackServer) -> None:
    resp = client.post("/mattermost/commands", **form(slash(server, text="")))
    assert resp.status_code == 200
    assert "kernel crash log" in resp.json["text"]
    resp = client.post("/mattermost/commands", **form(webhook(text="crash", post_id="p-empty")))
    assert "kernel crash log" in resp.json["text"]
    settle(app)
    assert server.posts() == []


def test_oversized_request_is_413(server: SlackServer) -> None:
    app = make_app(server, SIGMATCH_MAX_REQUEST_BYTES=4096)
    resp = app.test_client().post("/mattermost/commands", **form(slash(server, text=LOG * 100)))
    assert resp.status_code == 413
    settle(app)
    assert server.posts() == []


def test_malformed_bodies_are_400(client: FlaskClient) -> None:
    assert client.post("/mattermost/commands", data=b"[1]", content_type="application/json").status_code == 400
    assert client.post("/mattermost/commands", data=b"{", content_type="application/json").status_code == 400
    bad = client.post("/mattermost/commands", data=b"token=\xff\xfe", content_type="application/x-www-form-urlencoded")
    assert bad.status_code == 400


def test_off_without_a_token(server: SlackServer) -> None:
    app = make_app(server, SIGMATCH_MATTERMOST_TOKEN="")
    resp = app.test_client().post("/mattermost/commands", **form(slash(server)))
    assert resp.status_code == 404


LOG_FILE = "a" * 26
PICTURE = "b" * 26


def test_outgoing_webhook_reads_a_log_attached_to_the_post(server: SlackServer) -> None:
    server.mm_files[LOG_FILE] = ("dmesg.txt", "text/plain", LOG.encode())
    server.mm_files[PICTURE] = ("screen.png", "image/png", b"\x89PNG\r\n\x1a\n" + bytes(100))
    app = make_app(server, SIGMATCH_MATTERMOST_URL=server.base, SIGMATCH_MATTERMOST_BOT_TOKEN=server.mm_token)
    d = {**webhook(text="crash see attached", post_id="p-file"), "file_ids": f"{PICTURE},{LOG_FILE}"}
    resp = app.test_client().post("/mattermost/commands", **form(d))
    assert resp.status_code == 200 and "d90a10e2444b" in json.dumps(resp.json)
    fetched = [r.path for r in server.received if r.path.startswith("/api/v4/files/")]
    assert f"/api/v4/files/{LOG_FILE}" in fetched and f"/api/v4/files/{PICTURE}" not in fetched  # media skipped
    settle(app)


def test_attached_log_without_a_configured_server_says_how_to_enable_it(server: SlackServer) -> None:
    server.mm_files[LOG_FILE] = ("dmesg.txt", "text/plain", LOG.encode())
    app = make_app(server)
    d = {**webhook(text="crash", post_id="p-nofiles"), "file_ids": LOG_FILE}
    resp = app.test_client().post("/mattermost/commands", **form(d))
    assert resp.status_code == 200 and "SIGMATCH_MATTERMOST_URL" in json.dumps(resp.json)
    assert not [r for r in server.received if r.path.startswith("/api/v4/")]
    settle(app)


@pytest.mark.parametrize("file_ids", ["../../api/v4/users/me", "x" * 5000, ",,,", LOG_FILE * 3])
def test_odd_file_ids_never_reach_another_path(server: SlackServer, file_ids: str) -> None:
    app = make_app(server, SIGMATCH_MATTERMOST_URL=server.base, SIGMATCH_MATTERMOST_BOT_TOKEN=server.mm_token)
    d = {**webhook(text="crash", post_id="p-odd-" + str(len(file_ids))), "file_ids": file_ids}
    resp = app.test_client().post("/mattermost/commands", **form(d))
    assert resp.status_code == 200
    assert all(r.path.startswith("/api/v4/files/") and ".." not in r.path for r in server.received)
    settle(app)


def test_an_oversized_or_binary_attachment_is_refused_with_a_reason(server: SlackServer) -> None:
    server.mm_files[LOG_FILE] = ("core.bin", "application/octet-stream", bytes(range(256)) * 40)
    app = make_app(server, SIGMATCH_MATTERMOST_URL=server.base, SIGMATCH_MATTERMOST_BOT_TOKEN=server.mm_token)
    d = {**webhook(text="crash", post_id="p-bin"), "file_ids": LOG_FILE}
    resp = app.test_client().post("/mattermost/commands", **form(d))
    assert resp.status_code == 200 and "binary" in json.dumps(resp.json).lower()
    settle(app)
