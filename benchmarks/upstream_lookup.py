"""Upstream lookup figures against a loopback replay of ../shared/upstream-samples.

    python3 benchmarks/upstream_lookup.py [--runs N]

Prints: cold and warm (cached) lookup time, requests per cold lookup, and how long a lookup
takes to return when lore hangs, against its budget. Not a pass/fail test.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from upstream_server import ReplayServer, slow

from sigmatch.config import Settings
from sigmatch.trace.model import Frame, Kind, Report
from sigmatch.upstream.http import MemoryCache, UpstreamClient, make_session
from sigmatch.upstream.lookup import lookup

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "upstream-samples"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--samples", type=Path, default=SAMPLES)
    args = ap.parse_args()
    if not args.samples.exists():
        print(f"no samples at {args.samples}")
        return 1
    report = Report(kind=Kind.LOCKDEP, title="possible deadlock in fsnotify_destroy_mark",
                    guilty_frame="fsnotify_destroy_mark",
                    frames=tuple(Frame(f) for f in ("fsnotify_destroy_mark", "fsnotify_destroy_marks")),
                    kernel_version="6.1.102", text="Reported-by: syzbot+c679f13773f295d2da53@x\n")
    with ReplayServer(args.samples) as srv:
        s = Settings.from_env({"SIGMATCH_LORE_URL": srv.url, "SIGMATCH_BUGZILLA_URL": srv.url,
                               "SIGMATCH_SYZBOT_URL": srv.url, "SIGMATCH_STABLE_URL": srv.url,
                               "SIGMATCH_RATE_LIMIT": "0", "SIGMATCH_HTTP_TIMEOUT": "2"})
        cold, warm, reqs = [], [], []
        for _ in range(args.runs):
            client = UpstreamClient([srv.url], timeout=2.0, cache=MemoryCache(), session=make_session())
            n0 = len(srv.requests)
            t = time.perf_counter()
            r = lookup(report, settings=s, client=client, budget=10.0)
            cold.append(time.perf_counter() - t)
            reqs.append(len(srv.requests) - n0)
            assert r.complete and r.patches and r.bugzilla and r.stable
            t = time.perf_counter()
            lookup(report, settings=s, client=client, budget=10.0)
            warm.append(time.perf_counter() - t)
        srv.route("/all/", slow(5.0))
        budget = 0.5
        client = UpstreamClient([srv.url], timeout=10.0, cache=MemoryCache(), session=make_session())
        t = time.perf_counter()
        r = lookup(report, settings=s, client=client, budget=budget)
        hung = time.perf_counter() - t
    ms = lambda xs: f"{statistics.median(xs) * 1000:.1f} ms"  # noqa: E731
    print(f"runs={args.runs} cold_median={ms(cold)} warm_median={ms(warm)} requests_per_cold_lookup={statistics.median(reqs):g} "
          f"lore_hung_returned_in={hung * 1000:.0f} ms (budget {budget * 1000:.0f} ms, pending={','.join(r.pending)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
