"""Upstream results inside API and page answers, against a replay of lore/bugzilla/syzbot on 127.0.0.1:
found within the budget, pending past it with a job to poll, off by setting, never an error."""

from __future__ import annotations

import email
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import app_with, shared_path
from flask.testing import FlaskClient
from upstream_server import BOT_WALL_HTML, ReplayServer, fixed, slow
from web_helpers import small_catalog

REPORT = "000000000000ae63710620417f67@google.com"
PATCH = "20240927091231.360334-1-lizhi.xu@windriver.com"


def syzbot_mail_body() -> bytes:
    """The crash report of the syzbot mail in the samples, as a person would paste it."""
    path = next(shared_path("upstream-samples", "lore", "input-messages").glob("01*"))
    mail = email.message_from_bytes(path.read_bytes())
    part = mail.get_payload(0) if mail.is_multipart() else mail
    body = part.get_payload(decode=True)  # type: ignore[union-attr]
    assert isinstance(body, bytes)
    return body


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(shared_path("upstream-samples")) as s:
        yield s


def app_client(tmp_path: Path, url: str, **over: Any) -> FlaskClient:
    app = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path),
                      "SIGMATCH_UPSTREAM_LOOKUP": "on", "SIGMATCH_LORE_URL": url, "SIGMATCH_BUGZILLA_URL": url,
                      "SIGMATCH_SYZBOT_URL": url, "SIGMATCH_STABLE_URL": url, "SIGMATCH_HTTP_TIMEOUT": 2.0,
                      "SIGMATCH_RATE_LIMIT": 0.0, "SIGMATCH_UPSTREAM_BUDGET": 5.0, **over})
    return app.test_client()


def test_answer_carries_lore_reports_patches_and_bugzilla(tmp_path: Path, replay: ReplayServer) -> None:
    client = app_client(tmp_path, replay.url)
    r = client.post("/api/v1/match", data=syzbot_mail_body(), content_type="text/plain")
    assert r.status_code == 200
    up = r.get_json()["upstream"]
    assert up["enabled"] and up["complete"] and not up["pending"]
    assert [m["message_id"] for m in up["reports"]] == [REPORT]
    assert PATCH in [m["message_id"] for m in up["patches"]]
    assert up["reports"][0]["url"].startswith(replay.url)  # links only under the configured base
    assert [b["id"] for b in up["bugzilla"]] == [299901]
    assert replay.requests, "the lookup went to the local replay server"


def test_page_shows_upstream_reports(tmp_path: Path, replay: ReplayServer) -> None:
    client = app_client(tmp_path, replay.url)
    page = client.post("/", data={"trace": syzbot_mail_body().decode()}, follow_redirects=True).get_data(as_text=True)
    assert "Reports on the mailing lists" in page and REPORT in page and "Bug 299901" in page


def test_slow_upstream_returns_in_budget_with_a_job_to_poll(tmp_path: Path, replay: ReplayServer) -> None:
    replay.route("/all/", slow(1.5))
    client = app_client(tmp_path, replay.url, SIGMATCH_UPSTREAM_BUDGET=0.3)
    r = client.post("/api/v1/match", data=syzbot_mail_body(), content_type="text/plain")
    assert r.status_code == 200
    body = r.get_json()
    up = body["upstream"]
    assert "lore" in up["pending"] and up["job_id"]
    assert any("budget" in n for n in up["notes"])
    status = {}
    for _ in range(100):
        status = client.get(up["job_url"]).get_json()
        if status["status"] in ("finished", "failed"):
            break
        time.sleep(0.1)
    assert status["status"] == "finished", status
    done = status["result"]
    assert done["pending"] == [] and [b["id"] for b in done["bugzilla"]] == [299901]
    assert {s["name"]: s["state"] for s in done["sources"]}["lore"] != "pending"


def test_bot_wall_is_a_note_and_the_catalog_answer_stands(tmp_path: Path, replay: ReplayServer) -> None:
    replay.route("/all/", fixed(200, BOT_WALL_HTML))
    client = app_client(tmp_path, replay.url)
    r = client.post("/api/v1/match", data=syzbot_mail_body(), content_type="text/plain")
    assert r.status_code == 200
    up = r.get_json()["upstream"]
    assert up["reports"] == [] and any("bot" in n.lower() for n in up["notes"])


def test_lookup_off_asks_nobody(tmp_path: Path, replay: ReplayServer) -> None:
    client = app_client(tmp_path, replay.url, SIGMATCH_UPSTREAM_LOOKUP="off")
    r = client.post("/api/v1/match", data=syzbot_mail_body(), content_type="text/plain")
    assert r.status_code == 200
    assert r.get_json()["upstream"]["enabled"] is False
    assert replay.requests == []
