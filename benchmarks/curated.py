"""Curated catalog figures: load and lint time, verdict speed, and how often the curated entries
alone claim a confident match on real, mostly unrelated crash logs (false-alarm check).

Usage::

    python3 benchmarks/curated.py [--signatures DIR] [--corpus ../shared/corpus] [--limit N]

Prints one line per figure and a summary line last. Reads the corpora from ../shared at run time.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from sigmatch.answer import analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.curated import lint, load_curated
from sigmatch.catalog.versions import parse_kernel_version, verdict
from sigmatch.errors import InputError
from sigmatch.match.matcher import Matcher

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--signatures", type=Path, default=REPO / "signatures")
    ap.add_argument("--corpus", type=Path, default=REPO.parent / "shared" / "corpus")
    ap.add_argument("--limit", type=int, default=0, help="at most N logs per corpus file (0: all)")
    args = ap.parse_args(argv)

    t0 = time.perf_counter()
    bugs = load_curated(args.signatures)
    t_load = time.perf_counter() - t0
    t0 = time.perf_counter()
    problems = lint(args.signatures)
    t_lint = time.perf_counter() - t0
    print(f"load_curated: {len(bugs)} bugs, {sum(len(b.signatures) for b in bugs)} signatures in {t_load * 1000:.0f} ms")
    print(f"lint: {len(problems)} problems in {t_lint * 1000:.0f} ms")

    versions = [parse_kernel_version(v) for v in ("4.14.32-1.el7.x86_64", "6.1.0-18-amd64", "5.15.0-91-generic",
                                                  "6.8.0-rc3+", "5.10.209-198.858.amzn2.x86_64", "6.6.30")]
    n = 0
    t0 = time.perf_counter()
    for _ in range(200):
        for bug in bugs:
            for kv in versions:
                verdict(bug, kv)
                n += 1
    t_verdict = time.perf_counter() - t0
    print(f"verdict: {n} verdicts in {t_verdict * 1000:.0f} ms ({n / t_verdict:,.0f}/s)")

    matcher = Matcher(Catalog.of(bugs, version="curated-only"))
    summary: dict[str, object] = {"bugs": len(bugs), "lint_problems": len(problems)}
    for name in ("crashes-dev.jsonl", "e2e-dev.jsonl"):
        path = args.corpus / name
        if not path.exists():
            print(f"{name}: not found under {args.corpus} (skipped)")
            continue
        logs = confident = right = wrong = 0
        hits: dict[str, int] = {}
        t0 = time.perf_counter()
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if args.limit and logs >= args.limit:
                    break
                rec = json.loads(line)
                text = rec.get("log") or rec.get("trace") or ""
                logs += 1
                try:
                    ans = analyze(text, matcher)
                except InputError:
                    continue
                if not ans.confident or ans.top is None:
                    continue
                confident += 1
                bug = ans.top.bug
                hits[bug.id] = hits.get(bug.id, 0) + 1
                expected = (rec.get("expected") or {}).get("fix_shas") or []
                if expected:
                    if any(f.sha in expected for f in bug.fixes):
                        right += 1
                    else:
                        wrong += 1
        dt = time.perf_counter() - t0
        print(f"{name}: {logs} logs in {dt:.1f} s; confident curated matches {confident} "
              f"(with a known fix: right {right}, wrong {wrong}); by bug {json.dumps(hits, sort_keys=True)}")
        summary[name] = {"logs": logs, "confident": confident, "right": right, "wrong": wrong}
    print("summary " + json.dumps(summary, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
