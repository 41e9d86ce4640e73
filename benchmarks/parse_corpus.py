"""Parser agreement on the real-log corpus (../shared/corpus/crashes-dev.jsonl), per crash class.

Prints, per class: exact title agreement, title-or-alt, guilty-function agreement (the function
named in the reference title), corrupted-flag agreement on syzkaller cases, no-crash agreement;
then the production traces (id, reference class/headline, our kind/title) for a human to judge;
then speed. Usage::

    python3 benchmarks/parse_corpus.py [CORPUS] [--show N] [--class CLASS] [--production]
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import re
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigmatch import parse_log  # noqa: E402

DEFAULT = REPO.parent / "shared" / "corpus" / "crashes-dev.jsonl"
_RECUR = re.compile(r"\s+\(\d+\)$")
_CONTEXT = re.compile(r"^[\w.\-]+ (?:test|boot|build) error: ")


def base_title(t: str | None) -> str | None:
    return _CONTEXT.sub("", _RECUR.sub("", t.strip())) if t else t


def title_function(t: str | None) -> str | None:
    if not t or " in " not in t:
        return None
    return t.rsplit(" in ", 1)[1].strip().split()[0]


def log_of(rec: dict[str, Any]) -> str:
    if rec.get("log_b64"):
        return base64.b64decode(rec["log_b64"]).decode("utf-8", "replace")
    return str(rec.get("log") or "")


def is_parse_case(rec: dict[str, Any]) -> bool:
    if rec.get("source") == "syzbot-email":
        return True
    return rec.get("source") == "syzkaller-testdata" and rec.get("subset") in (None, "linux/report", "all/report")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("corpus", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--show", type=int, default=0, help="print this many title disagreements")
    ap.add_argument("--class", dest="cls", default=None, help="only show misses of this crash class")
    ap.add_argument("--corrupted", action="store_true", help="show corrupted-flag disagreements instead")
    ap.add_argument("--production", action="store_true", help="print the production table in full")
    args = ap.parse_args()
    if not args.corpus.exists():
        print(f"corpus not found: {args.corpus}")
        return 2
    records = [json.loads(line) for line in args.corpus.open(encoding="utf-8") if line.strip()]
    per: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    misses: list[str] = []
    production: list[tuple[str, str, str, str, str]] = []
    nbytes = 0
    elapsed = 0.0
    errors = 0
    for rec in records:
        log = log_of(rec)
        t0 = time.perf_counter()
        try:
            reports = parse_log(log)
        except Exception as exc:  # counted, shown: the parser must never raise
            errors += 1
            print(f"ERROR {rec['id']}: {exc!r}")
            continue
        elapsed += time.perf_counter() - t0
        nbytes += len(log.encode("utf-8", "replace"))
        top = reports[0] if reports else None
        if rec.get("source") == "production":
            production.append((
                rec["id"], str(rec.get("crash_class")), str(rec.get("headline"))[:70],
                top.kind.value if top else "-", top.title if top else "(no report)",
            ))
            continue
        if not is_parse_case(rec):
            continue
        want = base_title(rec.get("title"))
        cls = rec.get("crash_class") or "?"
        c = per[cls]
        if want is None:
            c["nocrash_n"] += 1
            c["nocrash_ok"] += int(top is None)
            if top is not None and len(misses) < args.show and not args.corrupted:
                misses.append(f"NOCRASH {rec['id']}: got {top.title!r}")
            continue
        got = base_title(top.title) if top else None
        alts = [base_title(a) for a in top.alt_titles] if top else []
        c["n"] += 1
        c["title_ok"] += int(got == want)
        c["alt_ok"] += int(got == want or want in alts)
        fn = title_function(want)
        if fn:
            c["frame_n"] += 1
            c["frame_ok"] += int(title_function(got) == fn)
        if rec.get("source") == "syzkaller-testdata" and rec.get("corrupted") is not None and top is not None:
            c["corr_n"] += 1
            ok = bool(top.corrupted) == bool(rec.get("corrupted"))
            c["corr_ok"] += int(ok)
            if args.corrupted and not ok and len(misses) < args.show:
                misses.append(f"CORR {rec['id']}: want {bool(rec.get('corrupted'))} got {top.corrupted} "
                              f"({top.corrupted_reason}) title {got!r}")
        if not args.corrupted and got != want and len(misses) < args.show and (args.cls in (None, cls)):
            misses.append(f"MISS [{cls}] {rec['id']}: want {want!r} got {got!r}")
    total: collections.Counter[str] = collections.Counter()
    print(f"{'class':22} {'n':>5} {'title%':>7} {'+alt%':>7} {'frame%':>7} {'corr%':>7} {'nocrash%':>8}")
    for cls, c in sorted(per.items(), key=lambda kv: -kv[1]["n"]):
        total.update(c)

        def pct(a: str, b: str, c: collections.Counter[str] = c) -> str:
            return f"{100 * c[a] / c[b]:.1f}" if c[b] else "-"

        print(f"{cls:22} {c['n']:5} {pct('title_ok', 'n'):>7} {pct('alt_ok', 'n'):>7} {pct('frame_ok', 'frame_n'):>7} "
              f"{pct('corr_ok', 'corr_n'):>7} {pct('nocrash_ok', 'nocrash_n'):>8}")
    for m in misses:
        print(m)
    print()
    print(f"production traces ({len(production)}): id | reference class | headline | our kind | our title")
    disagree = 0
    for pid, rcls, head, kind, title in production:
        same = rcls == kind or (rcls, kind) in {("page_fault", "null_deref")}
        disagree += int(not same)
        if args.production or not same:
            print(f"  {'  ' if same else '!='} {pid} | {rcls} | {head} | {kind} | {title}")
    print(f"  kind agreement {len(production) - disagree}/{len(production)}")

    def p(a: str, b: str) -> float:
        return 100 * total[a] / total[b] if total[b] else 0.0

    print(f"errors={errors} speed={nbytes / 1e6 / elapsed:.2f} MB/s ({nbytes / 1e6:.1f} MB in {elapsed:.2f}s)")
    print(f"title={p('title_ok', 'n'):.1f}% title_or_alt={p('alt_ok', 'n'):.1f}% frame={p('frame_ok', 'frame_n'):.1f}% "
          f"corrupted_flag={p('corr_ok', 'corr_n'):.1f}% nocrash={p('nocrash_ok', 'nocrash_n'):.1f}% n={total['n']}")
    return 0 if errors == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
