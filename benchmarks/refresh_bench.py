"""Refresh through Redis: time and peak memory, and how fast every web process serves the new snapshot.

    python3 benchmarks/refresh_bench.py [--repo PATH] [--webs 2] [--no-upstream]

Starts its own redis-server (loopback, free port, no persistence) and ``--webs`` ``sigmatch serve``
processes, each with its own empty ``SIGMATCH_DATA_DIR`` (so the snapshot can only reach them through
Redis), and four HTTP servers on 127.0.0.1 standing in for lore, bugzilla, syzbot and kernel.org
(replaying ``../shared/upstream-samples``; one server per upstream host, as the per-host rate limit
``SIGMATCH_RATE_LIMIT`` applies to each). Then:

1. a refresh from scratch — all three steps: the CVE repository (default:
   ``../shared/corpus/vulns.bundle``), then the curated entries' stable releases and upstream reports —
   run as ``sigmatch refresh`` would be, in a child process: wall time (and the curated steps' share),
   peak RSS of the Python process and of git, snapshot size in Redis;
2. the time from that refresh's end until every web process serves the new snapshot
   (``/readyz`` shows its version), with the default ``SIGMATCH_SNAPSHOT_CHECK``;
3. the same refresh again with nothing new (nothing to import; ChangeLogs already read are not read
   again; upstream is asked again): time and peak RSS.

``--no-upstream`` runs the CVE step alone (``SIGMATCH_UPSTREAM_LOOKUP=off``).

Figures are printed one per line, and all of them on the last line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIGMATCH_SHARED_DIR", ROOT.parent / "shared"))

CHILD = r"""
import json, resource, sys, time
from sigmatch.refresh import refresh
t0 = time.perf_counter()
report = refresh()
seconds = time.perf_counter() - t0
c = report.curated
print(json.dumps({"seconds": seconds, "curated_s": c.get("seconds", 0.0), "checked": c.get("checked", 0),
                  "changelogs": c.get("changelogs_read", 0), "lookups": c.get("lookups", 0),
                  "curated_findings": sum(len(c.get(k, ())) for k in ("verified", "corrected", "added", "attached")), "added": len(report.added), "changed": len(report.changed),
                  "removed": len(report.removed), "skipped": len(report.skipped), "unchanged": report.unchanged,
                  "version": report.snapshot_version, "bugs": report.counts.get("bugs", 0),
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "git_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def get_json(url: str, timeout: float = 10.0) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return json.loads(r.read())
    except Exception:
        return None


def run_refresh(env: dict[str, str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True,
                         check=False, timeout=3600)
    if out.returncode != 0:
        raise SystemExit(f"refresh failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def curated_line(r: dict[str, Any]) -> str:
    return (f"  of which curated steps: {r['curated_s']:.1f} s, {r['checked']} entries checked, "
            f"{r['changelogs']} ChangeLogs read, {r['lookups']} upstream lookups, {r['curated_findings']} findings")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repo", default=str(SHARED / "corpus" / "vulns.bundle"), help="CVE repository (path or bundle)")
    ap.add_argument("--webs", type=int, default=2, help="web processes to start (default 2)")
    ap.add_argument("--no-upstream", action="store_true", help="the CVE step alone (no curated steps)")
    args = ap.parse_args()
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed")
    if not Path(args.repo).exists():
        raise SystemExit(f"no CVE repository at {args.repo}")

    tmp = Path(tempfile.mkdtemp(prefix="sigmatch-refresh-bench-"))
    port = free_port()
    redis = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                              "--appendonly", "no", "--dir", str(tmp)], stdout=subprocess.DEVNULL,
                             start_new_session=True)
    url = f"redis://127.0.0.1:{port}/0"
    base_env = dict(os.environ, REDIS_URL=url, SIGMATCH_CVE_REPO=str(args.repo))
    webs: list[tuple[subprocess.Popen[bytes], str]] = []
    figures: dict[str, Any] = {}
    upstreams = contextlib.ExitStack()
    if args.no_upstream:
        base_env["SIGMATCH_UPSTREAM_LOOKUP"] = "off"
    else:
        sys.path.insert(0, str(ROOT / "tests"))  # the tests' replay server: real upstream formats on loopback
        from upstream_server import ReplayServer

        base_env["SIGMATCH_UPSTREAM_LOOKUP"] = "on"
        for name in ("LORE", "BUGZILLA", "SYZBOT", "STABLE"):
            srv = upstreams.enter_context(ReplayServer(SHARED / "upstream-samples"))
            base_env[f"SIGMATCH_{name}_URL"] = srv.url
    try:
        time.sleep(0.3)
        for i in range(args.webs):
            wport = free_port()
            env = dict(base_env, SIGMATCH_DATA_DIR=str(tmp / f"web{i}"))
            proc = subprocess.Popen(["sigmatch", "serve", "--host", "127.0.0.1", "--port", str(wport)], env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            webs.append((proc, f"http://127.0.0.1:{wport}"))
        for proc, web in webs:
            deadline = time.time() + 60
            while get_json(web + "/healthz", 2) is None:
                if time.time() > deadline or proc.poll() is not None:
                    raise SystemExit(f"{web} did not start")
                time.sleep(0.2)

        worker_env = dict(base_env, SIGMATCH_DATA_DIR=str(tmp / "worker"))
        scratch = run_refresh(worker_env)
        done = time.monotonic()
        print(f"refresh from scratch: {scratch['seconds']:.1f} s, {scratch['bugs']} bugs "
              f"(+{scratch['added']}, {scratch['skipped']} skipped), peak RSS {scratch['rss_mib']:.0f} MiB "
              f"(git {scratch['git_rss_mib']:.0f} MiB)")
        print(curated_line(scratch))
        import redis as redis_lib

        client = redis_lib.Redis.from_url(url)
        size = client.strlen(f"sigmatch:catalog:snapshot:{scratch['version']}")
        print(f"snapshot in redis: {size / 1048576:.1f} MiB (gzip JSON), version {scratch['version']}")

        # Poll every web process in turn (a process notices a new snapshot when requests come in,
        # at most every SIGMATCH_SNAPSHOT_CHECK seconds), as traffic would.
        served: dict[str, float] = {}
        while len(served) < len(webs) and time.monotonic() - done < 120:
            for _, web in webs:
                if web in served:
                    continue
                ready = get_json(web + "/readyz") or {}
                version = str((ready.get("catalog") or {}).get("version") or "")
                if version.startswith(scratch["version"][:12]):
                    served[web] = time.monotonic() - done
            time.sleep(0.1)
        if len(served) < len(webs):
            raise SystemExit(f"only {len(served)} of {len(webs)} web processes serve the new snapshot after 120 s")
        print(f"new snapshot served by all {len(webs)} web processes {max(served.values()):.1f} s after the "
              f"refresh ended (each: {', '.join(f'{s:.1f}' for s in served.values())} s)")

        again = run_refresh(worker_env)
        print(f"refresh with no changes: {again['seconds']:.1f} s, unchanged={again['unchanged']}, "
              f"peak RSS {again['rss_mib']:.0f} MiB")
        print(curated_line(again))
        figures = {
            "scratch_s": round(scratch["seconds"], 1), "scratch_rss_mib": round(scratch["rss_mib"]),
            "bugs": scratch["bugs"], "snapshot_mib": round(size / 1048576, 1),
            "served_all_s": round(max(served.values()), 1), "nochange_s": round(again["seconds"], 1),
            "nochange_rss_mib": round(again["rss_mib"]), "webs": len(webs),
            "curated_scratch_s": round(scratch["curated_s"], 1), "curated_nochange_s": round(again["curated_s"], 1),
        }
    finally:
        for proc, _ in webs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, 15)
            with contextlib.suppress(Exception):
                proc.wait(timeout=10)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(redis.pid, 15)
        shutil.rmtree(tmp, ignore_errors=True)
        upstreams.close()
    print(" ".join(f"{k}={v}" for k, v in figures.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
