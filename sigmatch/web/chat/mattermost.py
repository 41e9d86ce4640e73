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
import re
from typing import Any

import requests
from flask import Response, jsonify, request

from sigmatch.errors import InputError
from sigmatch.runtime.chat import format as fmt
from sigmatch.runtime.chat.delivery import MEDIA, USER_AGENT, ReplyJob, read_capped, render
from sigmatch.textio import decode_log
from sigmatch.web.chat.common import is_http_url, parse_form, parse_json_object, read_body
from sigmatch.web.chat.state import ChatState, chat_state, submit
from sigmatch.web.errors import ApiError

log = logging.getLogger("sigmatch.chat")

SEEN_TTL = 3600.0


def _tokens(st: ChatState) -> list[str]:
    raw = st.settings.mattermost_token
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
    file_ids = [f.strip() for f in _s(d, "file_ids").split(",") if f.strip()][:MAX_FILES]
    attached, problems = _attachments(st, file_ids) if file_ids else ([], [])
    if not text.strip() and not attached:
        if problems:
            return jsonify({"response_type": "comment", "text": fmt.error_text(problems[0])})
        return jsonify({"response_type": "comment", "text": fmt.usage_text(trigger_word or "@sigmatch")})
    message = _answer_now(st, "\n".join([text, *attached]) if attached else text)
    return jsonify({**message, "response_type": "comment"})


MAX_FILES = 5
_FILE_ID = re.compile(r"^[a-z0-9]{26}$")  # Mattermost ids: 26 lower-case base32 characters


def _attachments(st: ChatState, file_ids: list[str]) -> tuple[list[str], list[str]]:
    """The text of the files attached to the triggering post, read from the configured Mattermost
    server (never a host from the request) with the bot token; problems as sentences."""
    base = st.settings.mattermost_url.rstrip("/")
    token = st.settings.mattermost_bot_token
    if not (base and token and is_http_url(base)):
        return [], ["the log is attached as a file, and sigmatch cannot read Mattermost files here "
                    "(set SIGMATCH_MATTERMOST_URL and SIGMATCH_MATTERMOST_BOT_TOKEN); paste the log instead"]
    texts: list[str] = []
    problems: list[str] = []
    budget = st.delivery.max_bytes
    headers = {"Authorization": f"Bearer {token}", "User-Agent": USER_AGENT}
    timeout = st.delivery.timeout
    for fid in file_ids:
        if not _FILE_ID.match(fid):
            problems.append(f"file id {fid[:40]!r} is not a Mattermost file id")
            continue
        try:
            info = requests.get(f"{base}/api/v4/files/{fid}/info", headers=headers, timeout=timeout,
                                allow_redirects=False)
            meta = info.json() if info.status_code == 200 else None
            if not isinstance(meta, dict):
                problems.append(f"could not read file {fid}: HTTP {info.status_code}")
                continue
            name = str(meta.get("name") or fid)[:200]
            if str(meta.get("mime_type") or "").startswith(MEDIA):
                continue  # a screenshot beside the log
            size = meta.get("size")
            if isinstance(size, int) and size > budget:
                problems.append(f"file {name} is {size} bytes, more than the limit of {budget}")
                continue
            data = _download(f"{base}/api/v4/files/{fid}", headers, timeout, budget, name)
            texts.append(decode_log(data, max_bytes=st.delivery.max_bytes))
            budget -= len(data)
        except InputError as exc:
            problems.append(str(exc))
        except (requests.RequestException, ValueError) as exc:
            problems.append(f"could not read file {fid}: {type(exc).__name__}")
    return texts, problems


def _download(url: str, headers: dict[str, str], timeout: float, limit: int, name: str) -> bytes:
    with requests.get(url, headers=headers, timeout=timeout, stream=True, allow_redirects=False) as resp:
        if resp.status_code != 200:
            raise InputError(f"could not download file {name}: HTTP {resp.status_code}")
        return read_capped(resp, limit, name)
