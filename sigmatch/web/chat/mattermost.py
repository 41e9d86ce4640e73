"""Mattermost: ``/mattermost/commands`` serves both a slash command and an outgoing webhook.

Mattermost sends the integration's token with every request (form field ``token``, and
``Authorization: Token <token>`` for slash commands); it is compared in constant time with each
token in ``SIGMATCH_MATTERMOST_TOKEN`` (comma-separated: one per integration).

* **Slash command** (the form has ``command``): acknowledged at once with an ephemeral message;
  the answer is POSTed to the command's ``response_url`` by the background runner, as an
  ``in_channel`` post. Without a ``response_url`` the answer is the response itself.
* **Outgoing webhook** (no ``command``; ``trigger_word``/``post_id``): the answer is the JSON
  response, with ``response_type: comment`` so Mattermost posts it as a reply in the thread of the
  triggering post. A repeated ``post_id`` gets an empty response (no second reply).

Replies use Mattermost's Slack-compatible message format (markdown ``text`` + ``attachments``).
Statuses: 404 when no token is set (the endpoint is off), 413 above the size limit, 401 for a
missing or wrong token, 400 for an unreadable body, 200 otherwise.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Response, jsonify, request

from sigmatch.web.chat import format as fmt
from sigmatch.web.chat.common import is_http_url, parse_form, parse_json_object, read_body
from sigmatch.web.chat.delivery import ReplyJob, render
from sigmatch.web.chat.state import ChatState, chat_state, submit
from sigmatch.web.errors import ApiError

log = logging.getLogger("sigmatch.chat")

SEEN_TTL = 3600.0


def _tokens(st: ChatState) -> list[str]:
    raw = str(st.settings.get("SIGMATCH_MATTERMOST_TOKEN") or "")
    return [t.strip() for t in raw.split(",") if t.strip()]


def _check_token(given: str, tokens: list[str]) -> None:
    if not given:
        raise ApiError(401, "missing_token", "the Mattermost token is missing")
    ok = False
    for t in tokens:  # compare with every token, so timing does not tell which one nearly matched
        ok = hmac.compare_digest(given.encode("utf-8", "replace"), t.encode()) or ok
    if not ok:
        raise ApiError(401, "bad_token", "the Mattermost token does not match")


def _fields(body: bytes) -> dict[str, Any]:
    mimetype = request.mimetype
    if mimetype == "application/json":
        return parse_json_object(body)
    return dict(parse_form(body))


def _header_token() -> str:
    auth = request.headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    return value.strip() if scheme.lower() == "token" else ""


def _claim(st: ChatState, key: str) -> bool:
    try:
        return st.idempotency.claim(key, SEEN_TTL)
    except Exception as exc:
        log.warning("idempotency store failed: %s", exc)
        raise ApiError(503, "unavailable", "idempotency store unavailable; retry later") from exc


def _s(d: dict[str, Any], key: str) -> str:
    v = d.get(key)
    return v if isinstance(v, str) else ""


def _answer_now(st: ChatState, text: str) -> dict[str, Any]:
    """Analyze in the request (outgoing webhooks wait for the response) and render for Mattermost."""
    message, _kind = render(ReplyJob(platform="mattermost", text=text), st.analyze, st.delivery)
    return message


def commands() -> Response:
    st = chat_state()
    tokens = _tokens(st)
    if not tokens:
        raise ApiError(404, "not_configured", "Mattermost is not configured (SIGMATCH_MATTERMOST_TOKEN)")
    body = read_body(st.delivery.max_bytes + 64 * 1024)
    d = _fields(body)
    _check_token(_s(d, "token") or _header_token(), tokens)
    text = _s(d, "text")
    if "command" in d:
        return _slash(st, d, text)
    return _webhook(st, d, text)


def _slash(st: ChatState, d: dict[str, Any], text: str) -> Response:
    command = _s(d, "command") or "/kernel-crash"
    if not text.strip():
        return jsonify({"response_type": "ephemeral", "text": fmt.usage_text(command)})
    trigger = _s(d, "trigger_id")
    if trigger and not _claim(st, "mattermost:cmd:" + trigger[:200]):
        return jsonify({"response_type": "ephemeral", "text": "Already on it."})
    response_url = _s(d, "response_url")
    if response_url and is_http_url(response_url):
        job = ReplyJob(platform="mattermost", text=text, response_url=response_url, command=command,
                       key="mattermost:cmd:" + trigger[:200])
        submit(st, job, claimed=[job.key] if trigger else [])
        return jsonify({"response_type": "ephemeral",
                        "text": "Looking at your log; the answer follows in this channel."})
    return jsonify({**_answer_now(st, text), "response_type": "in_channel"})


def _webhook(st: ChatState, d: dict[str, Any], text: str) -> Response:
    trigger_word = _s(d, "trigger_word")
    if trigger_word and text.startswith(trigger_word):
        text = text[len(trigger_word):]
    post_id = _s(d, "post_id")
    if post_id and not _claim(st, "mattermost:post:" + post_id[:200]):
        return jsonify({})  # an empty response posts nothing
    if not text.strip():
        return jsonify({"response_type": "comment", "text": fmt.usage_text(trigger_word or "@sigmatch")})
    message = _answer_now(st, text)
    return jsonify({**message, "response_type": "comment"})
