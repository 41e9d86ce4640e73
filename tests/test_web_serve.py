"""The real ``sigmatch serve`` (gunicorn, 2 workers) on 127.0.0.1: encodings, chunked bodies over the
limit, hostile bodies, stalled clients, metrics added up across workers."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from web_helpers import FSNOTIFY_LOG, served

LOG = FSNOTIFY_LOG.read_bytes()
STALL_TIMEOUT = 2  # SIGMATCH_CLIENT_TIMEOUT for this server
THREADS = 2  # per worker, 2 workers: 4 request threads in all


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {"SIGMATCH_DATA_DIR": str(tmp_path_factory.mktemp("serve-data")),
           "SIGMATCH_CLIENT_TIMEOUT": str(STALL_TIMEOUT)}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    with served(env, workers=2, threads=THREADS) as url:
        yield url


def request(method: str, url: str, body: bytes | None = None, headers: dict[str, str] | None = None,
            timeout: float = 60) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


def raw_exchange(base: str, payload: bytes, timeout: float = 30) -> bytes:
    u = urlparse(base)
    with socket.create_connection((u.hostname or "127.0.0.1", u.port or 80), timeout=timeout) as s:
        with contextlib.suppress(OSError):
            s.sendall(payload)
        out = b""
        with contextlib.suppress(OSError):
            while chunk := s.recv(65536):
                out += chunk
        return out


def test_three_encodings_and_operations(base: str) -> None:
    url = base + "/api/v1/match"
    s, j = request("POST", url, LOG, {"Content-Type": "text/plain"})
    assert s == 200 and j["reports"], j
    s, j = request("POST", url, json.dumps({"trace": LOG.decode()}).encode(), {"Content-Type": "application/json"})
    assert s == 200 and j["reports"], j
    bnd = uuid.uuid4().hex
    body = (f'--{bnd}\r\nContent-Disposition: form-data; name="file"; filename="console.log"\r\n'
            "Content-Type: text/plain\r\n\r\n").encode() + LOG + f"\r\n--{bnd}--\r\n".encode()
    s, j = request("POST", url, body, {"Content-Type": f"multipart/form-data; boundary={bnd}"})
    assert s == 200 and j["reports"], j
    s, j = request("POST", url, b"x" * (3 << 20), {"Content-Type": "text/plain"})
    assert s == 413 and j["error"]["code"] == "too_large"
    s, ready = request("GET", base + "/readyz")
    assert s == 200 and ready["catalog"]["bugs"] >= 0
    assert request("GET", base + "/")[0] == 200


def test_chunked_body_over_the_limit_is_refused(base: str) -> None:
    chunk = b"x" * 65536
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40)) + b"0\r\n\r\n"  # 2.5 MiB
    head = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
    out = raw_exchange(base, head + body)
    assert out.startswith(b"HTTP/1.1 413"), out[:200]
    assert b'"code":"too_large"' in out


def test_hostile_bodies_get_clear_errors(base: str) -> None:
    url = base + "/api/v1/match"
    s, j = request("POST", url, os.urandom((2 << 20) - 64), {"Content-Type": "text/plain"})
    assert s == 422 and j["error"]["code"] == "binary_input"
    s, j = request("POST", url, b"[" * ((2 << 20) - 64), {"Content-Type": "application/json"})
    assert s == 400 and j["error"]["code"] == "bad_json"
    s, j = request("POST", url, b'{"trace": ' + b"[" * 500_000 + b"]" * 500_000 + b"}",
                   {"Content-Type": "application/json"})
    assert s == 400, j
    # A million lines just under the 2 MiB limit, the crash first: answered, no 500.
    big = LOG + b"x\n" * 1_000_000
    assert len(big) < 2 << 20
    s, j = request("POST", url, big, {"Content-Type": "text/plain"}, timeout=120)
    assert s in (200, 422), j
    if s == 200:
        assert "soft lockup" in j["reports"][0]["title"]


def test_stalled_clients_are_cut_off_and_others_still_served(base: str) -> None:
    u = urlparse(base)
    stalled = []
    head = (b"POST /api/v1/match HTTP/1.1\r\nHost: t\r\nContent-Type: text/plain\r\n"
            b"Content-Length: 100000\r\n\r\n[    0.000000] ")
    for _ in range(THREADS * 2 + 2):  # more stalled clients than request threads
        s = socket.create_connection((u.hostname, u.port), timeout=30)
        s.sendall(head)
        stalled.append(s)
    half = socket.create_connection((u.hostname, u.port), timeout=30)
    half.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n")  # headers never finished
    stalled.append(half)
    try:
        status, body = request("POST", base + "/api/v1/match", LOG, {"Content-Type": "text/plain"}, timeout=60)
        assert status == 200, body
        for s in stalled:  # each stalled client is answered 408 or dropped, not kept forever
            data = b""
            with contextlib.suppress(OSError):
                while chunk := s.recv(4096):
                    data += chunk
            assert data == b"" or data.startswith(b"HTTP/1.1 408"), data[:200]
    finally:
        for s in stalled:
            s.close()
    assert request("GET", base + "/healthz")[0] == 200


def test_metrics_add_up_every_worker(base: str) -> None:
    for _ in range(12):
        request("GET", base + "/healthz")
    time.sleep(0.1)
    s, text = request("GET", base + "/metrics")
    assert s == 200
    line = next(li for li in text.splitlines()
                if li.startswith('sigmatch_http_requests_total{endpoint="/healthz",method="GET",status="200"}'))
    assert float(line.rsplit(" ", 1)[1]) >= 12
    assert "sigmatch_matches_total" in text and "sigmatch_http_request_duration_seconds_bucket" in text
