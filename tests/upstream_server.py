"""A real HTTP server on 127.0.0.1 for the upstream tests: replays upstream formats, injects faults.

``ReplayServer(samples)`` answers like lore, bugzilla, syzbot and kernel.org from the saved pages in
``../shared/upstream-samples`` (read at test time, never copied), and tests add their own routes
(first match wins) for faults: slow answers, 5xx then success, 429 with Retry-After, huge or cut
bodies, the bot wall. Every request path is recorded in ``.requests``.

    with ReplayServer(SAMPLES) as srv:
        srv.route("/all/", slow(5.0))
        ...
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

Handler = Callable[[BaseHTTPRequestHandler], None]

BOT_WALL_HTML = (
    b"<!doctype html><html><head><title>Making sure you&#39;re not a bot!</title>"
    b"<script>/* proof of work */</script></head><body><h1>Making sure you&#39;re not a bot!</h1>"
    b"<p>Loading...</p></body></html>"
)


def send(h: BaseHTTPRequestHandler, status: int, body: bytes | str, ctype: str = "text/html; charset=UTF-8",
         headers: dict[str, str] | None = None) -> None:
    data = body.encode() if isinstance(body, str) else body
    try:
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
    except (BrokenPipeError, ConnectionResetError):
        pass


def fixed(status: int, body: bytes | str, ctype: str = "text/html; charset=UTF-8",
          headers: dict[str, str] | None = None) -> Handler:
    return lambda h: send(h, status, body, ctype, headers)


def slow(seconds: float, then: Handler | None = None) -> Handler:
    """Sleep before answering (past the client's timeout)."""
    def handle(h: BaseHTTPRequestHandler) -> None:
        time.sleep(seconds)
        (then or fixed(200, "late"))(h)
    return handle


def sequence(*handlers: Handler) -> Handler:
    """The n-th request gets the n-th handler; the last one repeats."""
    lock = threading.Lock()
    count = [0]

    def handle(h: BaseHTTPRequestHandler) -> None:
        with lock:
            i = min(count[0], len(handlers) - 1)
            count[0] += 1
        handlers[i](h)
    return handle


def huge(total: int, chunk: bytes = b"<p>" + b"x" * 65533 + b"\n") -> Handler:
    """A ``total``-byte 200 answer, streamed; stops quietly when the client hangs up."""
    def handle(h: BaseHTTPRequestHandler) -> None:
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(total))
            h.end_headers()
            sent = 0
            while sent < total:
                piece = chunk[: total - sent]
                h.wfile.write(piece)
                sent += len(piece)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return handle


def drip(interval: float, pieces: int = 100) -> Handler:
    """Headers at once, then one byte every ``interval`` seconds (each read is quick, the whole is not)."""
    def handle(h: BaseHTTPRequestHandler) -> None:
        try:
            h.send_response(200)
            h.send_header("Content-Type", "text/html")
            h.send_header("Content-Length", str(pieces))
            h.end_headers()
            for _ in range(pieces):
                h.wfile.write(b"x")
                h.wfile.flush()
                time.sleep(interval)
        except (BrokenPipeError, ConnectionResetError):
            pass
    return handle


class ReplayServer:
    def __init__(self, samples: Path | None = None) -> None:
        self.samples = samples
        self.requests: list[str] = []
        self.headers: list[dict[str, str]] = []
        self.routes: list[tuple[Callable[[str, dict[str, list[str]]], bool], Handler]] = []
        outer = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append(self.path)
                outer.headers.append({k: v for k, v in self.headers.items()})
                url = urlsplit(self.path)
                q = parse_qs(url.query, keep_blank_values=True)
                for pred, handler in outer.routes:
                    if pred(url.path, q):
                        handler(self)
                        return
                outer.replay(self, url.path, q)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def __enter__(self) -> ReplayServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def route(self, prefix: str, handler: Handler, *, query: dict[str, str] | None = None) -> None:
        """Answer paths starting with ``prefix`` (and having the ``query`` values) with ``handler``."""
        def pred(path: str, q: dict[str, list[str]]) -> bool:
            return path.startswith(prefix) and all(q.get(k) == [v] for k, v in (query or {}).items())
        self.routes.insert(0, (pred, handler))

    def count(self, prefix: str) -> int:
        return sum(1 for r in self.requests if r.startswith(prefix))

    # -- the saved upstream pages

    def _file(self, *parts: str) -> bytes | None:
        if self.samples is None:
            return None
        p = self.samples.joinpath(*parts)
        return p.read_bytes() if p.exists() else None

    def replay(self, h: BaseHTTPRequestHandler, path: str, q: dict[str, list[str]]) -> None:
        lore = ("lore", "generated")
        html, atom, js = "text/html; charset=UTF-8", "application/atom+xml", "application/json"
        body: bytes | None = None
        status, ctype = 200, html
        segs = [s for s in path.split("/") if s]
        if path == "/rest/bug":
            body, ctype = self._file("bugzilla", "rest-bug-search.json"), js
        elif path.startswith("/rest/bug/") and path.endswith("/comment"):
            body, ctype = self._file("bugzilla", "rest-bug-comment.json"), js
            if segs[2] != "299901":
                body = b'{"bugs":{},"comments":{}}'
        elif path.startswith("/rest/bug/"):
            if segs[2] == "299901":
                body, ctype = self._file("bugzilla", "rest-bug.json"), js
            else:
                body, ctype, status = self._file("bugzilla", "rest-error.json"), js, 404
        elif path == "/bug" and q.get("json") == ["1"]:
            ext = (q.get("extid") or [""])[0]
            body, ctype = self._file("syzbot", f"bug-extid-{ext}.json"), js
        elif path == "/upstream/fixed":
            body, ctype = self._file("syzbot", "upstream-fixed-group.json"), js
        elif len(segs) == 2 and segs[0].startswith("v") and segs[1] == "ChangeLog-6.1.109":
            body, ctype = self._file("stable", "ChangeLog-6.1.109.excerpt"), "text/plain; charset=UTF-8"
        elif len(segs) == 1 and "q" in q:
            term = q["q"][0]
            if term.count("(") != term.count(")"):  # what Xapian's query parser refuses
                body, status = self._file(*lore, "all-search-badquery.html"), 400
            elif "fsnotify" not in term:
                body, status = self._file(*lore, "lkml-search-noresults.html"), 404
            elif q.get("x") == ["A"]:
                body, ctype = self._file(*lore, "all-search.atom"), atom
            else:
                body = self._file(*lore, "all-search-summary.html")
        elif len(segs) == 3 and segs[2] == "raw":
            body, ctype = self._file(*lore, "fsdevel-message.raw"), "text/plain; charset=UTF-8"
        elif len(segs) == 3 and segs[2] == "t.atom":
            body, ctype = self._file(*lore, "fsdevel-thread.atom"), atom
        elif len(segs) == 2 and "@" in segs[1]:
            name = "all-message.html" if segs[1].startswith("2024092709") else "fsdevel-message.html"
            if "nonexistent" in segs[1]:
                name, status = "fsdevel-message-404.html", 300
            body = self._file(*lore, name)
        if body is None:
            send(h, 404, "not found", "text/plain")
            return
        send(h, status, body, ctype)


def syzbot_address(extid: str, domain: str = "syzkaller" + ".appspotmail.com") -> str:
    """A syzbot reporter address (``Reported-by:`` trailers), assembled for tests that parse trailers."""
    return "syzbot" + f"+{extid}@{domain}"
