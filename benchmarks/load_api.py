"""Load on ``POST /api/v1/match``: requests/s, latency percentiles, errors, memory per worker.

    python3 benchmarks/load_api.py [--data-dir DIR] [--requests 20000] [--concurrency 16]
                                   [--max-seconds 300] [--workers 2] [--threads 8] [--url URL]

Starts the real ``sigmatch serve`` (gunicorn) on 127.0.0.1 with the catalog of ``--data-dir`` (build
the full CVE catalog first: ``SIGMATCH_DATA_DIR=DIR SIGMATCH_CVE_REPO=../shared/corpus/vulns.bundle
sigmatch refresh --source cve``), or loads an already running server given with ``--url`` (loopback
only). The client is a pool of threads on keep-alive connections, bounded in requests and in time;
it stops by itself. The log is a typical ~5 KB console capture: ordinary boot lines followed by the
fsnotify soft lockup of ``examples/``.

Targets (issue 5, 2 cores): >= 300 requests/s, p99 <= 100 ms, 0 errors over 20,000 requests.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

REPO = Path(__file__).resolve().parents[1]

# Ordinary boot lines (written for this benchmark) that precede a crash in a real capture.
_BOOT = """\
[    0.000000] Linux version 4.14.32-1.el7.x86_64 (mockbuild@builder) (gcc version 4.8.5) #1 SMP
[    0.000000] Command line: BOOT_IMAGE=/vmlinuz-4.14.32-1.el7.x86_64 root=/dev/mapper/vg-root ro crashkernel=auto
[    0.000000] x86/fpu: Supporting XSAVE feature 0x001: 'x87 floating point registers'
[    0.000000] x86/fpu: Supporting XSAVE feature 0x002: 'SSE registers'
[    0.000000] e820: BIOS-provided physical RAM map:
[    0.000000] BIOS-e820: [mem 0x0000000000000000-0x000000000009bfff] usable
[    0.000000] NX (Execute Disable) protection: active
[    0.000000] SMBIOS 2.8 present.
[    0.000000] DMI: HP ProLiant BL460c Gen9, BIOS I36 10/25/2017
[    0.000000] tsc: Fast TSC calibration using PIT
[    0.000000] ACPI: Early table checksum verification disabled
[    0.010000] Calibrating delay loop (skipped), value calculated using timer frequency.. 4799.86 BogoMIPS
[    0.120000] smpboot: CPU0: Intel(R) Xeon(R) CPU E5-2650 v4 @ 2.20GHz (family: 0x6, model: 0x4f)
[    0.340000] devtmpfs: initialized
[    1.020000] NET: Registered protocol family 16
[    2.310000] SCSI subsystem initialized
[    3.400000] hpsa 0000:03:00.0: Logical aborts not supported
[    4.100000] XFS (dm-0): Mounting V5 Filesystem
[    5.800000] systemd[1]: Detected architecture x86-64.
[    9.200000] bnx2x 0000:06:00.0 eno1: NIC Link is Up, 10000 Mbps full duplex, Flow control: ON - receive & transmit
[   12.600000] IPVS: Registered protocols (TCP, UDP, SCTP, AH, ESP)
[   14.000000] bridge: filtering via arp/ip/ip6tables is no longer available by default.
[   14.100000] Bridge firewalling registered
[   15.300000] overlayfs: upper fs needs to support d_type.
[ 8123.456789] docker0: port 1(veth12ab34c) entered blocking state
[ 8123.456790] docker0: port 1(veth12ab34c) entered forwarding state
"""


def typical_log() -> bytes:
    return _BOOT.encode() + (REPO / "examples" / "fsnotify-softlockup-4.14.32.log").read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _children(pid: int) -> list[int]:
    try:
        return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _mem_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB: PSS counts memory shared with the other workers once, split among them."""
    rss = pss = 0
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    return rss, pss


def start_server(args: argparse.Namespace) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = dict(os.environ)
    env.setdefault("SIGMATCH_UPSTREAM_LOOKUP", "off")  # measure the service, not the internet
    if args.data_dir:
        env["SIGMATCH_DATA_DIR"] = args.data_dir
    cmd = [sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main())", "serve",
           "--host", "127.0.0.1", "--port", str(port), "--workers", str(args.workers), "--threads", str(args.threads)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("server exited: " + (proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""))
        try:
            with urllib.request.urlopen(base + "/readyz", timeout=5) as r:
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.3)
    raise SystemExit("server did not become ready")


def run_load(base: str, body: bytes, total: int, concurrency: int, max_seconds: float
             ) -> tuple[list[float], dict[str, int], float, int]:
    u = urlparse(base)
    host, port = u.hostname or "127.0.0.1", u.port or 80
    lock = threading.Lock()
    issued = 0
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    matched = 0
    stop_at = time.monotonic() + max_seconds
    headers = {"Content-Type": "text/plain", "Connection": "keep-alive"}

    def take() -> bool:
        nonlocal issued
        with lock:
            if issued >= total or time.monotonic() > stop_at:
                return False
            issued += 1
            return True

    def worker() -> None:
        nonlocal matched
        conn: http.client.HTTPConnection | None = None
        mine: list[float] = []
        while take():
            t0 = time.perf_counter()
            key = "error"
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=30)
                conn.request("POST", "/api/v1/match", body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                key = str(resp.status)
                if resp.status == 200 and b'"matches":[{' in data:
                    with lock:
                        matched += 1
                if resp.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as exc:
                key = type(exc).__name__
                if conn is not None:
                    conn.close()
                conn = None
            mine.append(time.perf_counter() - t0)
            with lock:
                outcomes[key] = outcomes.get(key, 0) + 1
        if conn is not None:
            conn.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max_seconds + 60)
    return latencies, outcomes, time.perf_counter() - t0, matched


def pct(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, round(p / 100 * len(sorted_values)) - 1))
    return sorted_values[i]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--url", help="an already running server on 127.0.0.1 (default: start sigmatch serve)")
    ap.add_argument("--data-dir", help="SIGMATCH_DATA_DIR holding the imported catalog")
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--concurrency", type=int, default=16)
    ap.add_argument("--max-seconds", type=float, default=300.0, help="stop issuing requests after this long")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    args = ap.parse_args()

    if args.url and urlparse(args.url).hostname not in ("127.0.0.1", "localhost", "::1"):
        raise SystemExit("--url must be a loopback address")
    proc = None
    if args.url:
        base = args.url.rstrip("/")
    else:
        proc, base = start_server(args)
    try:
        with urllib.request.urlopen(base + "/readyz", timeout=30) as r:
            ready = json.loads(r.read())
        body = typical_log()
        run_load(base, body, args.warmup, min(args.concurrency, 4), 60)
        latencies, outcomes, elapsed, matched = run_load(base, body, args.requests, args.concurrency, args.max_seconds)
        mem = []
        if proc is not None:
            master = _children(proc.pid) or [proc.pid]  # the CLI process is gunicorn's master itself
            workers = [w for m in master for w in _children(m)] or _children(proc.pid)
            mem = [_mem_kib(w) for w in workers]
    finally:
        if proc is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=20)
    lat = sorted(latencies)
    n = len(lat)
    errors = sum(v for k, v in outcomes.items() if k != "200")
    catalog = (ready.get("catalog") or {})
    figures = {
        "requests": n, "errors": errors, "outcomes": outcomes, "matched": matched,
        "seconds": round(elapsed, 2), "rps": round(n / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(pct(lat, 50) * 1000, 2), "p90_ms": round(pct(lat, 90) * 1000, 2),
        "p99_ms": round(pct(lat, 99) * 1000, 2), "max_ms": round((lat[-1] if lat else 0) * 1000, 2),
        "concurrency": args.concurrency, "log_bytes": len(typical_log()),
        "catalog_bugs": catalog.get("bugs"), "catalog_version": catalog.get("version"),
        "worker_rss_mib": [round(r / 1024, 1) for r, _ in mem],
        "worker_pss_mib": [round(p / 1024, 1) for _, p in mem],
    }
    if args.json:
        print(json.dumps(figures))
    else:
        print(f"catalog: {figures['catalog_bugs']} bugs ({figures['catalog_version']}); log {figures['log_bytes']} bytes; "
              f"concurrency {args.concurrency}; workers {args.workers} x {args.threads} threads")
        print(f"outcomes: {outcomes}; top match present in {matched}/{n}")
        print(f"worker memory: RSS {figures['worker_rss_mib']} MiB, PSS {figures['worker_pss_mib']} MiB")
        print(f"load_api: {n} requests in {figures['seconds']} s = {figures['rps']} req/s; "
              f"p50 {figures['p50_ms']} ms, p90 {figures['p90_ms']} ms, p99 {figures['p99_ms']} ms, "
              f"max {figures['max_ms']} ms; errors {errors}")
    return 0 if errors == 0 and n > 0 else 1


if __name__ == "__main__":
    sys.exit(main())
