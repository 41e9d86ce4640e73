"""Local stand-ins for the chat services, on 127.0.0.1, for the chat tests and benchmark.

:class:`SlackServer` plays Slack's Web API (``chat.postMessage``, ``files.info``), serves files for
download with the bot token (and Slack's login page without it, as Slack does), and plays any number
of ``response_url`` endpoints (``/response/<name>``, also used for Mattermost). Every request it
receives is recorded; ``fail_next`` makes the next N replies answer 500 (retry tests).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        ctype = self.headers.get("content-type", "")
        if ctype.startswith("application/x-www-form-urlencoded"):
            return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}
        return json.loads(self.body)


class SlackServer:
    def __init__(self, token: str = "xoxb-test") -> None:
        self.token = token
        self.received: list[Received] = []
        self.files: dict[str, bytes] = {}  # name -> content, served at /files/<name>
        # (channel, thread ts) -> the thread's messages, root first, as conversations.replies returns them
        self.threads: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.history_scope = True  # False: conversations.replies answers missing_scope
        # Mattermost's file API on the same server: id -> (name, mime type, content), read with mm_token
        self.mm_files: dict[str, tuple[str, str, bytes]] = {}
        self.mm_token = "mm-bot-token"
        self.fail_next = 0
        self.cond = threading.Condition()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _record(self) -> Received:
                n = int(self.headers.get("Content-Length") or 0)
                rec = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()},
                               self.rfile.read(n) if n else b"")
                return rec

            def _files_info(self, rec: Received) -> None:
                query = parse_qs(urlsplit(self.path).query)
                query.update(parse_qs(rec.body.decode("utf-8", "replace")))
                fid = query.get("file", [""])[0]
                if rec.headers.get("authorization") != f"Bearer {outer.token}":
                    body: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
                elif fid in outer.files:
                    body = {"ok": True, "file": {"id": fid, "name": fid, "size": len(outer.files[fid]),
                                                 "url_private_download": f"{outer.base}/files/{fid}"}}
                else:
                    body = {"ok": False, "error": "file_not_found"}
                self._send(200, json.dumps(body).encode())

            def _replies(self, rec: Received) -> None:
                query = parse_qs(urlsplit(self.path).query)
                query.update(parse_qs(rec.body.decode("utf-8", "replace")))
                channel, ts = query.get("channel", [""])[0], query.get("ts", [""])[0]
                limit = int(query.get("limit", ["1000"])[0])
                if rec.headers.get("authorization") != f"Bearer {outer.token}":
                    body: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
                elif not outer.history_scope:
                    body = {"ok": False, "error": "missing_scope", "needed": "channels:history"}
                elif (channel, ts) in outer.threads:
                    body = {"ok": True, "messages": outer.threads[(channel, ts)][:limit], "has_more": False}
                else:
                    body = {"ok": False, "error": "thread_not_found"}
                self._send(200, json.dumps(body).encode())

            def _mm_file(self, rec: Received, path: str) -> None:
                outer._add(rec)
                rest = path[len("/api/v4/files/"):]
                fid, _, what = rest.partition("/")
                if rec.headers.get("authorization") != f"Bearer {outer.mm_token}":
                    self._send(401, b'{"id": "api.context.session_expired.app_error", "status_code": 401}')
                elif fid not in outer.mm_files:
                    self._send(404, b'{"id": "app.file_info.get.app_error", "status_code": 404}')
                elif what == "info":
                    name, mime, data = outer.mm_files[fid]
                    self._send(200, json.dumps({"id": fid, "name": name, "extension": name.rpartition(".")[2],
                                                "size": len(data), "mime_type": mime}).encode())
                else:
                    self._send(200, outer.mm_files[fid][2], outer.mm_files[fid][1])

            def do_GET(self) -> None:
                rec = self._record()
                path = urlsplit(self.path).path
                if path.startswith("/api/v4/files/"):
                    self._mm_file(rec, path)
                    return
                authorized = rec.headers.get("authorization") == f"Bearer {outer.token}"
                if path.startswith("/files/"):
                    name = path[len("/files/"):]
                    if not authorized:  # Slack answers a missing/wrong token with its login page
                        self._send(200, b"<html><body>Sign in to Slack</body></html>", "text/html")
                    elif name in outer.files:
                        self._send(200, outer.files[name], "text/plain")
                    else:
                        self._send(404, b"not found", "text/plain")
                    return
                if path == "/api/files.info":
                    outer._add(rec)
                    self._files_info(rec)
                    return
                self._send(404, b'{"ok": false, "error": "unknown_method"}')

            def do_POST(self) -> None:
                rec = self._record()
                path = urlsplit(self.path).path
                with outer.cond:
                    failing = outer.fail_next > 0 and path not in ("/api/files.info", "/api/conversations.replies")
                    if failing:
                        outer.fail_next -= 1
                if failing:
                    self._send(500, b'{"ok": false, "error": "internal_error"}')
                    return
                if path == "/api/files.info":  # slack_sdk sends it as a form POST
                    outer._add(rec)
                    self._files_info(rec)
                    return
                if path == "/api/conversations.replies":
                    outer._add(rec)
                    self._replies(rec)
                    return
                outer._add(rec)
                if path == "/api/chat.postMessage":
                    if rec.headers.get("authorization") != f"Bearer {outer.token}":
                        self._send(200, b'{"ok": false, "error": "invalid_auth"}')
                        return
                    ts = f"{time.time():.6f}"
                    self._send(200, json.dumps({"ok": True, "channel": "C1", "ts": ts}).encode())
                elif path.startswith("/response/"):
                    self._send(200, b"ok", "text/plain")
                else:
                    self._send(404, b'{"ok": false, "error": "unknown_method"}')

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port: int = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    def _add(self, rec: Received) -> None:
        with self.cond:
            self.received.append(rec)
            self.cond.notify_all()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.base + "/api/"

    def response_url(self, name: str = "r1") -> str:
        return f"{self.base}/response/{name}"

    def posts(self, prefix: str = "") -> list[Received]:
        """Replies received: POSTs to chat.postMessage or a response_url whose path starts with ``prefix``."""
        with self.cond:
            return [r for r in self.received if r.method == "POST" and r.path.startswith(prefix)]

    def wait_posts(self, n: int = 1, timeout: float = 30.0, prefix: str = "") -> list[Received]:
        deadline = time.monotonic() + timeout
        with self.cond:
            while len([r for r in self.received if r.method == "POST" and r.path.startswith(prefix)]) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(left)
        return self.posts(prefix)

    def __enter__(self) -> SlackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def slack_headers(body: bytes, secret: str, ts: int | None = None, **extra: str) -> dict[str, str]:
    """Headers of a request signed as Slack signs them (v0 HMAC-SHA256 of ``v0:ts:body``)."""
    ts = int(time.time()) if ts is None else ts
    sig = "v0=" + hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(ts), "X-Slack-Signature": sig, **extra}
