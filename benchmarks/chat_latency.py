"""Chat bot latency: time from a signed Slack request to the reply posted back, with the full catalog.

    python3 benchmarks/chat_latency.py [--data-dir DIR] [--cve-repo REPO] [-n 40] [--mentions 20]

Starts ``sigmatch serve`` (gunicorn, as in production) on a loopback port with the Slack settings
pointing at a local stand-in for Slack (Web API + ``response_url``), then sends ``-n`` signed
``/slack/commands`` requests and ``--mentions`` signed ``app_mention`` events, one at a time, with the
fsnotify soft lockup of ``examples/`` and the crash logs of ``../shared/corpus/crashes-dev.jsonl``
(when present) in turn. For each: the time to the HTTP acknowledgement, and the time until the
reply arrived at the stand-in. Prints p50/p90/p99/max of both, per kind of request.

The catalog is the full one (curated ``signatures/`` + the imported CVE snapshot) from ``--data-dir``;
without one, the CVE repository (``--cve-repo``, default ``../shared/corpus/vulns.bundle``) is imported
into a temporary data directory first (about a minute).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import hmac
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

REPO_DIR = Path(__file__).resolve().parents[1]
SECRET = "bench-signing-secret"
TOKEN = "xoxb-bench"
CLI = [sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main())"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Receiver:
    """Plays Slack: records when each reply arrives, keyed by the request id carried in its URL/channel."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.bodies: dict[str, bytes] = {}
        self.cond = threading.Condition()
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                now = time.perf_counter()
                if self.path.startswith("/response/"):
                    key = self.path.rsplit("/", 1)[1]
                    reply = b"ok"
                else:  # chat.postMessage: the channel names the request
                    key = str(json.loads(body or b"{}").get("channel", ""))
                    reply = json.dumps({"ok": True, "ts": f"{time.time():.6f}"}).encode()
                with outer.cond:
                    outer.arrived.setdefault(key, now)
                    outer.bodies[key] = body
                    outer.cond.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def wait(self, key: str, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        with self.cond:
            while key not in self.arrived and time.monotonic() < deadline:
                self.cond.wait(max(0.0, deadline - time.monotonic()))
            return self.arrived.get(key)


def signed(body: bytes, extra: dict[str, str]) -> dict[str, str]:
    ts = str(int(time.time()))
    sig = "v0=" + hmac.new(SECRET.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig, **extra}


def post(url: str, body: bytes, headers: dict[str, str]) -> int:
    req = urllib.request.Request(url, data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return int(r.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def logs() -> list[str]:
    out = [(REPO_DIR / "examples" / "fsnotify-softlockup-4.14.32.log").read_text()]
    corpus = REPO_DIR.parent / "shared" / "corpus" / "crashes-dev.jsonl"
    if corpus.exists():
        with corpus.open() as fh:
            for line in fh:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                text = rec.get("log") if isinstance(rec, dict) else None
                if isinstance(text, str) and 200 < len(text) < 60000:
                    out.append(text)
                if len(out) >= 200:
                    break
    return out


@contextlib.contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen([*CLI, "serve", "--host", "127.0.0.1", "--port", str(port)],
                            env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 180
        while time.time() < deadline:
            if proc.poll() is not None:
                raise SystemExit(f"sigmatch serve exited with {proc.returncode}")
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                time.sleep(0.3)
        else:
            raise SystemExit("sigmatch serve did not come up")
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, 15)
        with contextlib.suppress(Exception):
            proc.wait(timeout=10)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * (len(s) - 1))))]


def summary(name: str, values: list[float]) -> str:
    if not values:
        return f"{name}: no samples"
    ms = [v * 1000 for v in values]
    return (f"{name}: n={len(ms)} p50={pct(ms, 50):.0f}ms p90={pct(ms, 90):.0f}ms p99={pct(ms, 99):.0f}ms "
            f"max={max(ms):.0f}ms mean={statistics.fmean(ms):.0f}ms")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", help="SIGMATCH_DATA_DIR holding an imported catalog snapshot")
    ap.add_argument("--cve-repo", default=str(REPO_DIR.parent / "shared" / "corpus" / "vulns.bundle"))
    ap.add_argument("-n", type=int, default=40, help="slash commands to send")
    ap.add_argument("--mentions", type=int, default=20, help="app_mention events to send")
    args = ap.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that `serve` is stopped on the way out

    data_dir = args.data_dir
    if not data_dir:
        data_dir = tempfile.mkdtemp(prefix="sigmatch-bench-chat-")
        t0 = time.perf_counter()
        subprocess.run([*CLI, "refresh", "--source", "cve"], check=True,
                       env={**os.environ, "SIGMATCH_DATA_DIR": data_dir, "SIGMATCH_CVE_REPO": args.cve_repo,
                            "REDIS_URL": ""}, stdout=subprocess.DEVNULL)
        print(f"imported the CVE catalog into {data_dir} in {time.perf_counter() - t0:.1f}s")

    rx = Receiver()
    env = {"SIGMATCH_DATA_DIR": data_dir, "REDIS_URL": "", "SIGMATCH_SLACK_SIGNING_SECRET": SECRET,
           "SIGMATCH_SLACK_BOT_TOKEN": TOKEN, "SIGMATCH_SLACK_API_URL": f"http://127.0.0.1:{rx.port}/api/"}
    texts = logs()
    acks: dict[str, list[float]] = {"command": [], "mention": []}
    replies: dict[str, list[float]] = {"command": [], "mention": []}
    missing = 0
    fix_named = fsnotify_sent = 0
    with serve(env) as base:
        try:
            ready = json.loads(urllib.request.urlopen(base + "/readyz", timeout=30).read() or b"{}")
        except (OSError, ValueError):
            ready = {}
        print(f"catalog: {json.dumps(ready.get('catalog'))[:300]}")
        plan = ["command"] * args.n + ["mention"] * args.mentions
        run = uuid.uuid4().hex[:8]
        for i, kind in enumerate(plan):
            fsnotify = i % 10 == 0  # every tenth request is the fsnotify soft lockup, the others vary
            text = texts[0] if fsnotify else texts[1 + i % max(1, len(texts) - 1)] if len(texts) > 1 else texts[0]
            key = f"{run}req{i}"  # unique per run: the data directory remembers event ids for an hour
            if kind == "command":
                body = urlencode({"command": "/kernel-crash", "text": text, "channel_id": "C1", "user_id": "U1",
                                  "response_url": f"http://127.0.0.1:{rx.port}/response/{key}",
                                  "trigger_id": key}).encode()
                url, ctype = base + "/slack/commands", "application/x-www-form-urlencoded"
            else:
                doc = {"type": "event_callback", "event_id": f"Ev{key}", "event": {
                    "type": "app_mention", "text": "<@U0BOT> " + text, "ts": f"{int(time.time())}.{i:06d}",
                    "channel": key, "user": "U1"}}
                body = json.dumps(doc).encode()
                url, ctype = base + "/slack/events", "application/json"
            t0 = time.perf_counter()
            status = post(url, body, signed(body, {"Content-Type": ctype}))
            acked = time.perf_counter()
            if status != 200:
                print(f"{kind} {key}: HTTP {status}")
                missing += 1
                continue
            arrived = rx.wait(key, timeout=30)
            if arrived is None:
                print(f"{kind} {key}: no reply within 30 s", flush=True)
                missing += 1
                continue
            acks[kind].append(acked - t0)
            replies[kind].append(arrived - t0)
            if fsnotify:
                fsnotify_sent += 1
                fix_named += b"d90a10e2444b" in rx.bodies.get(key, b"")
    for kind in ("command", "mention"):
        print(summary(f"{kind} ack ", acks[kind]))
        print(summary(f"{kind} reply", replies[kind]))
    print(summary("all reply", replies["command"] + replies["mention"]) +
          f" | missing={missing} | fsnotify replies naming d90a10e2444b: {fix_named}/{fsnotify_sent}"
          f" | distinct logs={len(texts)}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
