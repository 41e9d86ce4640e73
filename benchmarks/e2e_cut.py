"""End-to-end matching on partial pastes: every dev e2e query cut short, as operators paste them.

    python3 benchmarks/e2e_cut.py --data-dir /tmp/m-data [--queries ../shared/corpus/e2e-dev.jsonl]
    python3 benchmarks/e2e_cut.py --data-dir /tmp/m-data --calibrate   # partial-report thresholds on half A

Two cuts of each query's ``trace`` (positives and negatives alike):

``rip``     the log up to and including its first faulting-instruction line (``RIP:``, ``pc :``,
            ``NIP [..]``, ...): header, registers before it, no call trace;
``trace3``  the log up to and including the 3rd frame line after its first stack keyword
            (``Call Trace:``, ``Call trace:``, ``backtrace:``).

A query without that line is left out of that cut. For each cut the figures of
``benchmarks/e2e_match.py`` are printed per split (weights and thresholds are chosen on half A only;
half B is held out), then how the cut answers compare with the full log's: among the positives
whose full log is answered confidently, how many cut ones still are, and the confident-wrong rate
of cut and full logs on the same positives. The catalog must have been imported first (see
e2e_match.py). Only ``trace`` goes to the matcher; the answer fields score the result.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "benchmarks"))

import e2e_match as em  # noqa: E402

from sigmatch.config import Settings  # noqa: E402
from sigmatch.match.matcher import Calibration, Matcher  # noqa: E402
from sigmatch.match.score import Weights  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402
from sigmatch.trace.frames import STACK_START, parse_frame, parse_rip  # noqa: E402
from sigmatch.trace.normalize import clean_line  # noqa: E402

STACK_KEYWORDS = ("Call Trace:", "Call trace:", "backtrace:", "Backtrace:")


def cut_after_rip(text: str) -> str | None:
    """The log up to its first faulting-instruction line (kernel function named), or None."""
    lines = text.splitlines()
    for n, raw in enumerate(lines):
        t = clean_line(raw).text.strip()
        if ("IP" in t or "pc" in t or "PC" in t or "epc" in t) and parse_rip(t) is not None:
            return "\n".join(lines[:n + 1]) + "\n"
    return None


def cut_after_frames(text: str, n_frames: int = 3) -> str | None:
    """The log up to the ``n_frames``-th frame line after its first stack keyword, or None."""
    lines = text.splitlines()
    seen_keyword = False
    got = 0
    for n, raw in enumerate(lines):
        t = clean_line(raw).text
        if not seen_keyword:
            seen_keyword = any(k in t for k in STACK_KEYWORDS) and bool(STACK_START.match(t.strip()) or "backtrace" in t)
            continue
        if parse_frame(t) is not None:
            got += 1
            if got == n_frames:
                return "\n".join(lines[:n + 1]) + "\n"
    return None


CUTS: dict[str, Callable[[str], str | None]] = {"rip": cut_after_rip, "trace3": cut_after_frames}


def cut_queries(records: Iterable[dict[str, Any]], cut: Callable[[str], str | None], matcher: Matcher,
                depth: int) -> list[em.Query]:
    out = []
    for d in records:
        text = cut(str(d.get("trace") or ""))
        if text is None:
            continue
        q = em.query_from_record({**d, "trace": text}, matcher, depth)
        if q is not None:
            out.append(q)
    return out


def compare(full: dict[str, em.Query], cut: list[em.Query], matcher: Matcher, w: Weights, cal: Calibration,
            keep: Callable[[em.Query], bool]) -> str:
    """Cut vs full answers on the positives whose full log is answered confidently."""
    bugs = matcher.index.bugs
    n_full_conf = n_cut_conf = full_wrong = cut_wrong = n_pos = 0
    for q in cut:
        f = full.get(q.id)
        if f is None or not q.positive or not keep(q):
            continue
        n_pos += 1
        fr, cr = em.rerank(f, w), em.rerank(q, w)
        f_conf, c_conf = em.decide(f, fr, cal), em.decide(q, cr, cal)
        f_right = bool(fr) and em.is_right(bugs[fr[0][1].bug_index], f)
        c_right = bool(cr) and em.is_right(bugs[cr[0][1].bug_index], q)
        full_wrong += f_conf and not f_right
        cut_wrong += c_conf and not c_right
        if f_conf:
            n_full_conf += 1
            n_cut_conf += c_conf
    pct = lambda a, b: 100.0 * a / b if b else 0.0  # noqa: E731
    return (f"confident when the full log is: {n_cut_conf}/{n_full_conf} ({pct(n_cut_conf, n_full_conf):.1f}%); "
            f"confident_wrong cut {pct(cut_wrong, n_pos):.1f}% vs full {pct(full_wrong, n_pos):.1f}% "
            f"(same {n_pos} positives)")


def calibrate_partial(cut: list[em.Query], matcher: Matcher, w: Weights, cal: Calibration,
                      max_wrong: float = 1.0, max_neg: float = 2.0) -> Calibration:
    """Partial-report thresholds with the most confident-right cut answers on half A, within the
    error budgets (%), the full-log thresholds left as they are."""
    train = [q for q in cut if q.split == "A"]
    best, best_cr = replace(cal, partial_min_raw=1e9), -1
    for raw10 in range(40, 161, 5):
        for p in (0.6, 0.7, 0.8, 0.9, 0.95):
            for guilty in (0.0, 0.5, 1.0):
                c = replace(cal, partial_min_raw=raw10 / 10, partial_min_probability=p, partial_min_guilty=guilty)
                f = em.evaluate(train, matcher, w, c)
                if (f.pct(f.conf_wrong, f.n_pos) <= max_wrong and f.pct(f.neg_conf, f.n_neg) <= max_neg
                        and f.conf_right > best_cr):
                    best, best_cr = c, f.conf_right
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=Path, default=em.DEFAULT_QUERIES)
    ap.add_argument("--data-dir", required=True, help="SIGMATCH_DATA_DIR holding an imported catalog")
    ap.add_argument("--depth", type=int, default=30, help="candidates kept per query")
    ap.add_argument("--calibrate", action="store_true", help="choose the partial-report thresholds on half A")
    ap.add_argument("--max-wrong", type=float, default=1.0, help="--calibrate: confident-wrong budget on half A (%%)")
    args = ap.parse_args()
    if not args.queries.exists():
        print(f"no queries at {args.queries}")
        return 1
    os.environ["SIGMATCH_DATA_DIR"] = args.data_dir
    t0 = time.perf_counter()
    matcher = Matcher(build_runtime(Settings.from_env()).load_catalog())
    records = [json.loads(line) for line in args.queries.read_text(encoding="utf-8").splitlines() if line.strip()]
    full_list = [q for q in (em.query_from_record(d, matcher, args.depth) for d in records) if q is not None]
    full = {q.id: q for q in full_list}
    cuts = {name: cut_queries(records, fn, matcher, args.depth) for name, fn in CUTS.items()}
    print(f"{len(full_list)} full and {', '.join(f'{len(v)} {k}' for k, v in cuts.items())} cut queries "
          f"parsed+matched in {time.perf_counter() - t0:.1f}s")
    w, cal = matcher.weights, matcher.calibration
    if args.calibrate:
        cal = calibrate_partial([q for v in cuts.values() for q in v], matcher, w, cal, max_wrong=args.max_wrong)
        print(f"calibrated on half A of the cut logs: {cal}")
    splits: tuple[tuple[str, Callable[[em.Query], bool]], ...] = (
        ("split A", lambda q: q.split == "A"), ("split B", lambda q: q.split == "B"), ("all", lambda q: True))
    for label, keep in splits:
        print(f"full log {label:8} {em.evaluate(full_list, matcher, w, cal, keep).line()}")
    for name, qs in cuts.items():
        for label, keep in splits:
            print(f"cut {name:6} {label:8} {em.evaluate(qs, matcher, w, cal, keep).line()}")
            print(f"{'':21}{compare(full, qs, matcher, w, cal, keep)}")
        kinds = sorted({q.crash_kind for q in qs if q.positive})
        for kind in kinds:
            f = em.evaluate(qs, matcher, w, cal, lambda q, k=kind: q.crash_kind == k)  # type: ignore[misc]
            print(f"  {name:6} kind {kind:14} fix@1 {f.pct(f.at1, f.n_pos):5.1f}%  "
                  f"conf_right {f.pct(f.conf_right, f.n_pos):5.1f}%  conf_wrong {f.pct(f.conf_wrong, f.n_pos):4.1f}%  "
                  f"neg_conf {f.pct(f.neg_conf, f.n_neg):4.1f}%  n={f.n_pos}/{f.n_neg}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
