"""Slack: ``/slack/commands`` (slash command) and ``/slack/events`` (Events API).

Every request is verified before anything else is read from it, with Slack's own
``slack_sdk.signature.SignatureVerifier``: v0 HMAC-SHA256 of ``v0:<timestamp>:<body>`` with the
signing secret, the timestamp within 5 minutes of now. A signature seen once is refused the second
time (a replay), except when Slack itself marks the request as a retry (``X-Slack-Retry-Num``),
which is acknowledged without doing the work again. Event ids (and the message they are about) are
claimed in the idempotency store, so a retried or duplicated event never gets a second reply.

Statuses: 404 when no signing secret is set (the endpoints are off), 413 above
``SIGMATCH_MAX_REQUEST_BYTES``, 401 for a missing, malformed, stale, forged or replayed signature,
400 for a body that is not the form/JSON Slack sends, 503 when the idempotency store is down
(Slack retries later), 200 otherwise — at once; the answer follows in the background.
"""

from __future__ import annotations

import logging
import re
import time

from flask import Response, jsonify, request
from slack_sdk.signature import SignatureVerifier

from sigmatch.runtime.chat import format as fmt
from sigmatch.runtime.chat.delivery import ReplyJob, SlackFile, clean_text
from sigmatch.web.chat.common import is_http_url, parse_form, parse_json_object, read_body
from sigmatch.web.chat.state import ChatState, chat_state, submit
from sigmatch.web.errors import ApiError

log = logging.getLogger("sigmatch.chat")

WINDOW = 300  # seconds: Slack's recommended timestamp window
REPLAY_TTL = 2 * WINDOW + 60  # a signature is remembered longer than it could be accepted
MAX_FILES = 5
_TS = re.compile(r"^\d{1,12}$")


def _secret(st: ChatState) -> str:
    secret = st.settings.slack_signing_secret
    if not secret.strip():
        raise ApiError(404, "not_configured", "Slack is not configured (SIGMATCH_SLACK_SIGNING_SECRET)")
    return secret


def _claim(st: ChatState, key: str, ttl: float) -> bool:
    try:
        return st.idempotency.claim(key, ttl)
    except Exception as exc:  # Redis down: ask Slack to retry later rather than risk a double reply
        log.warning("idempotency store failed: %s", exc)
        raise ApiError(503, "unavailable", "idempotency store unavailable; retry later") from exc


def verify(st: ChatState, body: bytes) -> bool:
    """Raise 401 unless the request is signed by Slack, fresh and new. ``False``: a retry seen before."""
    secret = _secret(st)
    ts = request.headers.get("X-Slack-Request-Timestamp", "")
    sig = request.headers.get("X-Slack-Signature", "")
    if not ts or not sig:
        raise ApiError(401, "missing_signature", "X-Slack-Request-Timestamp and X-Slack-Signature are required")
    if not _TS.match(ts) or not sig.startswith("v0=") or len(sig) > 100:
        raise ApiError(401, "bad_signature", "malformed Slack signature headers")
    if abs(time.time() - int(ts)) > WINDOW:
        raise ApiError(401, "stale_request", "the request timestamp is more than 5 minutes away from now")
    try:
        ok = SignatureVerifier(secret).is_valid(body=body, timestamp=ts, signature=sig)
    except (ValueError, UnicodeDecodeError):  # non-UTF-8 body: not something Slack signed
        ok = False
    if not ok:
        raise ApiError(401, "bad_signature", "the Slack signature does not match")
    if not _claim(st, "slack:sig:" + sig[3:], REPLAY_TTL):
        if request.headers.get("X-Slack-Retry-Num"):
            return False
        raise ApiError(401, "replayed_request", "this signed request was already received")
    return True


def _ack(text: str) -> Response:
    return jsonify({"response_type": "ephemeral", "text": text})


def commands() -> Response:
    st = chat_state()
    _secret(st)
    body = read_body(st.delivery.max_bytes + 64 * 1024)  # room for the form's other fields
    fresh = verify(st, body)
    form = parse_form(body)
    if form.get("ssl_check"):
        return Response(status=200)
    configured = st.settings.slack_command
    command = form.get("command", "")
    if command and command != configured:
        return _ack(f"sigmatch answers {configured}, not {command}.")
    text = clean_text(form.get("text", ""))
    if not text.strip():
        return _ack(fmt.usage_text(configured))
    response_url = form.get("response_url", "")
    if not is_http_url(response_url):
        raise ApiError(400, "bad_request", "response_url is missing or not an http(s) URL")
    if not fresh:
        return _ack("Already on it.")
    job = ReplyJob(platform="slack", text=text, response_url=response_url, command=configured,
                   key="slack:cmd:" + form.get("trigger_id", "")[:100])
    submit(st, job)  # nothing to release: Slack does not retry a command, the user runs it again
    lines = text.count("\n") + 1
    return _ack(f"Looking at your log ({lines} line{'s' if lines != 1 else ''}); the answer follows here.")


def events() -> Response:
    st = chat_state()
    _secret(st)
    body = read_body(st.delivery.max_bytes)
    fresh = verify(st, body)
    doc = parse_json_object(body)
    kind = doc.get("type")
    if kind == "url_verification":
        challenge = doc.get("challenge")
        if not isinstance(challenge, str) or len(challenge) > 500:
            raise ApiError(400, "bad_request", "url_verification without a challenge")
        return jsonify({"challenge": challenge})
    if kind != "event_callback":
        return jsonify({"ok": True, "ignored": str(kind)[:40]})
    event = doc.get("event")
    if not isinstance(event, dict):
        raise ApiError(400, "bad_request", "event_callback without an event")
    if event.get("type") != "app_mention":
        return jsonify({"ok": True, "ignored": str(event.get("type"))[:40]})
    if event.get("bot_id") or event.get("subtype") == "bot_message":
        return jsonify({"ok": True, "ignored": "bot message"})
    channel = event.get("channel")
    ts = event.get("ts")
    if not isinstance(channel, str) or not isinstance(ts, str) or not channel or not ts:
        raise ApiError(400, "bad_request", "app_mention without channel and ts")
    event_id = str(doc.get("event_id") or "")
    if not fresh:
        return jsonify({"ok": True, "duplicate": True})
    keys = [f"slack:msg:{channel[:50]}:{ts[:50]}"]
    if event_id:
        keys.insert(0, f"slack:event:{event_id[:100]}")
    # Both must be new: the same event id retried, or the same message delivered under a new id.
    if not all([_claim(st, k, 3600.0) for k in keys]):
        log.info("slack event %s for %s:%s already handled", event_id, channel, ts)
        return jsonify({"ok": True, "duplicate": True})
    raw_text = event.get("text")
    raw_files = event.get("files")
    raw_files = raw_files if isinstance(raw_files, list) else []
    files = [SlackFile.from_event(f) for f in raw_files[:MAX_FILES] if isinstance(f, dict)]
    thread_ts = event.get("thread_ts")
    job = ReplyJob(
        platform="slack",
        text=clean_text(raw_text if isinstance(raw_text, str) else ""),
        channel=channel,
        thread_ts=thread_ts if isinstance(thread_ts, str) and thread_ts else ts,
        message_ts=ts,
        files=tuple(f for f in files if f.id or f.url),
        key=keys[0],
        command=st.settings.slack_command,
    )
    submit(st, job, claimed=keys)  # not queued: 503, the keys forgotten, and Slack's retry is answered
    return jsonify({"ok": True})
