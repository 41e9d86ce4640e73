"""End-to-end matching figures, in process: e2e.py's figures per crash kind, per source, per split.

    python3 benchmarks/e2e_match.py --data-dir /tmp/m-data [--queries ../shared/corpus/e2e-dev.jsonl]
    python3 benchmarks/e2e_match.py --data-dir /tmp/m-data --tune     # choose weights on half A
    python3 benchmarks/e2e_match.py --data-dir /tmp/m-data --cv 5 --split A   # tune without seeing B

The catalog must have been imported first:
    SIGMATCH_DATA_DIR=/tmp/m-data SIGMATCH_CVE_REPO=../shared/corpus/vulns.bundle sigmatch refresh --source cve

Only ``trace`` of each query goes to the matcher; ``expected`` is read to score the answer. The
dev corpus is split in two halves by ``split_key`` (same-bug reports share a key): weights and
confidence thresholds are chosen on half A (``--tune``) and the figures are reported on A, B and
both. Positives linked only by fix bisection (``confidence: low``) are left out, as e2e.py does.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigmatch.catalog.versions import parse_kernel_version, version_from_log  # noqa: E402
from sigmatch.config import Settings  # noqa: E402
from sigmatch.match.matcher import Calibration, Matcher  # noqa: E402
from sigmatch.match.matcher import decide as matcher_decide  # noqa: E402
from sigmatch.match.score import PRESCORE_WEIGHTS, QueryFeatures, Scored, Weights, query_features  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402
from sigmatch.textio import decode_log  # noqa: E402
from sigmatch.trace.parse import parse_log  # noqa: E402

NEGATIVE = frozenset({"subject_miss", "kind_miss", "trace_miss"})
DEFAULT_QUERIES = REPO.parent / "shared" / "corpus" / "e2e-dev.jsonl"


@dataclass
class Query:
    id: str
    source: str  # syzbot | human
    crash_kind: str
    split: str  # A | B
    fold: int  # cross-validation fold inside a split (from split_key)
    positive: bool
    negative: bool  # fix-known-not-in-cve-db
    honest: bool
    fix_shas: tuple[str, ...]
    cves: tuple[str, ...]
    q: QueryFeatures | None
    ranked: list[Scored]
    retrieved: bool = False  # a positive whose right fix the index lookup finds at all


def is_right(bug: Any, q: Query) -> bool:
    return _is_fix(bug, q.fix_shas, q.cves)


def _is_fix(bug: Any, fix_shas: tuple[str, ...], cves: tuple[str, ...]) -> bool:
    shas = {f.sha.lower()[:12] for f in bug.fixes}
    if any(s[:12] in shas for s in fix_shas):
        return True
    return bool(({c.upper() for c in bug.cves} | {bug.id.upper()}) & set(cves))


def load_queries(path: Path, matcher: Matcher, depth: int) -> list[Query]:
    records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return [q for q in (query_from_record(d, matcher, depth) for d in records) if q is not None]


def query_from_record(d: dict[str, Any], matcher: Matcher, depth: int) -> Query | None:
    """One scored query (None for the unlabelled ones): the matcher sees only ``trace``."""
    exp = d.get("expected") or None
    positive = bool(exp) and exp.get("confidence") != "low"
    negative = not exp and d.get("negative_reason") == "fix-known-not-in-cve-db"
    if not (positive or negative):
        return None
    key = int(d.get("split_key") or "0", 16)
    split = "A" if key % 2 == 0 else "B"
    try:
        log = decode_log(d["trace"])
        reports = parse_log(log)
    except Exception:
        reports = []
    q = None
    ranked: list[Scored] = []
    retrieved = False
    fix_shas = tuple(s.lower() for s in (exp or {}).get("fix_shas") or ())
    cves = tuple(c.upper() for c in (exp or {}).get("cves") or ())
    if reports:
        kv = None
        for r in reports:
            if r.kernel_version:
                kv = parse_kernel_version(r.kernel_version)
                if kv:
                    break
        kv = kv or version_from_log(log)
        q = query_features(reports[0], kernel=kv)
        _, ranked = matcher.rank(q, limit=depth)
        if positive:
            bugs = matcher.index.bugs
            retrieved = any(_is_fix(bugs[i], fix_shas, cves) for i in matcher.index.lookup(q.tokens, PRESCORE_WEIGHTS))
    return Query(
        id=d["id"], source=d.get("kind", "?"), crash_kind=d.get("crash_kind", "?"), split=split, fold=key // 2,
        positive=positive, negative=negative,
        honest=positive and not ((exp or {}).get("leakage") or {}).get("same_report_quoted"),
        fix_shas=fix_shas, cves=cves, q=q, ranked=ranked, retrieved=retrieved,
    )


def rerank(query: Query, w: Weights) -> list[tuple[float, Scored]]:
    """Re-combine the cached signals of the shortlisted candidates with other weights."""
    wd = w.as_dict()
    scored = [(sum(wd[k] * v for k, v in s.signals.items()), s) for s in query.ranked]
    scored.sort(key=lambda t: -t[0])
    return scored


def decide(query: Query, ranked: list[tuple[float, Scored]], cal: Calibration) -> bool:
    if query.q is None or not ranked:
        return False
    return matcher_decide(query.q, [r for r, _ in ranked], ranked[0][1], cal)[0]


@dataclass
class Figures:
    n_pos: int = 0
    at1: int = 0
    at5: int = 0
    conf_right: int = 0
    conf_wrong: int = 0
    n_neg: int = 0
    neg_conf: int = 0
    n_honest: int = 0
    honest_at1: int = 0

    def pct(self, a: int, b: int) -> float:
        return 100.0 * a / b if b else 0.0

    def line(self) -> str:
        return (f"fix@1={self.pct(self.at1, self.n_pos):.1f}% fix@5={self.pct(self.at5, self.n_pos):.1f}% "
                f"honest_fix@1={self.pct(self.honest_at1, self.n_honest):.1f}% "
                f"confident_right={self.pct(self.conf_right, self.n_pos):.1f}% "
                f"confident_wrong={self.pct(self.conf_wrong, self.n_pos):.1f}% "
                f"neg_confident={self.pct(self.neg_conf, self.n_neg):.1f}% "
                f"n_pos={self.n_pos} n_honest={self.n_honest} n_neg={self.n_neg}")


def evaluate(queries: list[Query], matcher: Matcher, w: Weights, cal: Calibration,
             keep: Callable[[Query], bool] = lambda q: True) -> Figures:
    f = Figures()
    bugs = matcher.index.bugs
    for query in queries:
        if not keep(query):
            continue
        ranked = rerank(query, w)
        conf = decide(query, ranked, cal)
        if query.positive:
            f.n_pos += 1
            right = [is_right(bugs[s.bug_index], query) for _, s in ranked[:5]]
            r1 = bool(right) and right[0]
            f.at1 += r1
            f.at5 += any(right)
            if query.honest:
                f.n_honest += 1
                f.honest_at1 += r1
            if conf:
                f.conf_right += r1
                f.conf_wrong += not r1
        elif query.negative:
            f.n_neg += 1
            f.neg_conf += conf
    return f


def recall_line(queries: list[Query], matcher: Matcher, depth: int) -> str:
    """Retrieval recall of the positives: how many right fixes the index lookup finds at all, and
    how many of those end up among the first ``depth`` scored candidates (the rest were cut by the
    prescore shortlist, or scored below ``depth``)."""
    bugs = matcher.index.bugs
    pos = [q for q in queries if q.positive]
    found = sum(q.retrieved for q in pos)
    ranked = sum(any(is_right(bugs[s.bug_index], q) for s in q.ranked) for q in pos)
    return (f"  retrieval: right fix found by the index {found}/{len(pos)}, "
            f"among the first {depth} scored {ranked}/{len(pos)} (shortlist {matcher.shortlist})")


def _fit_data(queries: list[Query], matcher: Matcher, names: list[str]) -> list[tuple[list[list[tuple[int, float]]], list[int]]]:
    """Per positive query with its right answer shortlisted: each candidate's signals as sparse
    (weight index, value) pairs, and the positions of the right candidates."""
    bugs = matcher.index.bugs
    slot = {n: j for j, n in enumerate(names)}
    data = []
    for q in queries:
        if not q.positive or not q.ranked:
            continue
        right = [k for k, s in enumerate(q.ranked) if is_right(bugs[s.bug_index], q)]
        if right:
            data.append(([[(slot[n], v) for n, v in s.signals.items() if n in slot] for s in q.ranked], right))
    return data


def _log_loss(data: list[tuple[list[list[tuple[int, float]]], list[int]]], w: list[float]) -> float:
    """Sum over queries of -log p(right) under the softmax of the weighted signals."""
    loss = 0.0
    for xs, right in data:
        sc = [sum(w[j] * x for j, x in row) for row in xs]
        top = max(sc)
        loss -= math.log(sum(math.exp(sc[k] - top) for k in right) / sum(math.exp(v - top) for v in sc))
    return loss


def fit_weights(queries: list[Query], matcher: Matcher, l2: float = 0.02, steps: int = 600,
                split: str | None = "A", verbose: bool = True, keep: frozenset[str] = frozenset()) -> Weights:
    """Conditional logistic regression (softmax over each query's candidates) on half A.

    Maximizes the log-probability of the right candidate among the shortlisted ones, with an L2
    penalty; queries whose right answer is not shortlisted add nothing. ``split=None``: fit on
    ``queries`` as given (the cross-validation's folds). ``keep``: weights left at the matcher's
    values (signals that fire on too few reports for the fit to weigh them: the related stacks).
    """
    names = [f.name for f in fields(Weights)]
    kept = {n: getattr(matcher.weights, n) for n in keep}
    data = _fit_data([q for q in queries if split is None or q.split == split], matcher, names)
    # A fixed start (every weight 1, "against" weights -1): the fit does not depend on the defaults.
    w = [kept.get(n, -1.0 if n in NEGATIVE else 1.0) for n in names]
    n = max(len(data), 1)
    for _step in range(steps):
        grad = [0.0] * len(w)
        for xs, right in data:
            scores = [sum(w[j] * x for j, x in row) for row in xs]
            top = max(scores)
            ex = [math.exp(v - top) for v in scores]
            z = sum(ex)
            zr = sum(ex[k] for k in right)
            for k, row in enumerate(xs):
                c = (ex[k] / zr if k in right else 0.0) - ex[k] / z  # d log p(right) / d score_k
                if c:
                    for j, x in row:
                        grad[j] += c * x
        if verbose and (_step % 200 == 0 or _step == steps - 1):
            print(f"  fit step {_step}: mean -log p(right) = {_log_loss(data, w) / n:.4f}")
        w = [wi + (g / n - l2 * wi) for wi, g in zip(w, grad, strict=True)]
        # Evidence counts for a bug, never against it (and "names other functions" only against).
        w = [kept[name] if name in kept else min(v, 0.0) if name in NEGATIVE else max(v, 0.0)
             for name, v in zip(names, w, strict=True)]
    return Weights(**{name: round(v, 3) for name, v in zip(names, w, strict=True)})


def cross_validate(queries: list[Query], matcher: Matcher, folds: int = 5, l2: float = 0.02,
                   steps: int = 300, keep: frozenset[str] = frozenset()) -> str:
    """K-fold cross-validation of the weight fit inside half A (folds by ``split_key``): how well
    fitted weights rank reports they were not fitted on, without looking at half B. Returns a line
    with the folds' fix@1 (all and honest, among the cached candidates) and their -log p(right)."""
    names = [f.name for f in fields(Weights)]
    train_a = [q for q in queries if q.split == "A"]
    at1 = n_pos = h1 = n_h = 0
    loss = 0.0
    bugs = matcher.index.bugs
    for fold in range(folds):
        test = [q for q in train_a if q.fold % folds == fold]
        w = fit_weights([q for q in train_a if q.fold % folds != fold], matcher, l2=l2, steps=steps,
                        split=None, verbose=False, keep=keep)
        wv = [getattr(w, n) for n in names]
        loss += _log_loss(_fit_data(test, matcher, names), wv)
        for q in test:
            if not q.positive:
                continue
            ranked = rerank(q, w)
            r1 = bool(ranked) and is_right(bugs[ranked[0][1].bug_index], q)
            n_pos += 1
            at1 += r1
            n_h += q.honest
            h1 += r1 and q.honest
    return (f"{folds}-fold CV inside half A: fix@1 {100.0 * at1 / max(n_pos, 1):.1f}% ({at1}/{n_pos}) "
            f"honest {100.0 * h1 / max(n_h, 1):.1f}% ({h1}/{n_h}) -log p(right) {loss:.2f}")


def calibrate(queries: list[Query], matcher: Matcher, w: Weights, cal: Calibration,
              max_wrong: float = 1.0, max_neg: float = 2.0, title: bool = False) -> Calibration:
    """Thresholds with the most confident-right answers on half A, within the error budgets (%).

    The exact-title rule's thresholds are searched only with ``title=True``: dedup.py (curated
    entries, many sharing a title) constrains them more than e2e-dev does (``sequence >= 0.5``
    made a same-titled entry of another group confident there)."""
    train = [q for q in queries if q.split == "A"]
    best_cal, best_cr = replace(cal, min_raw=1e9, title_min_sequence=2.0), -1
    seqs = (0.5, 0.7, 2.0) if title else (cal.title_min_sequence,)
    tps = (0.6, 0.7, 0.8, 0.9) if title else (cal.title_min_probability,)
    for min_raw in (n / 2 for n in range(0, 32)):
        for p in (0.6, 0.7, 0.8, 0.9, 0.95):  # a confident answer must at least be favoured 60/40
            for seq in seqs:
                for tp in tps:
                    c = replace(cal, min_raw=min_raw, min_probability=p, title_min_sequence=seq,
                                title_min_probability=tp)
                    f = evaluate(train, matcher, w, c)
                    if (f.pct(f.conf_wrong, f.n_pos) <= max_wrong and f.pct(f.neg_conf, f.n_neg) <= max_neg
                            and f.conf_right > best_cr):
                        best_cal, best_cr = c, f.conf_right
    return best_cal


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--queries", type=Path, default=DEFAULT_QUERIES)
    ap.add_argument("--data-dir", required=True, help="SIGMATCH_DATA_DIR holding an imported catalog")
    ap.add_argument("--tune", action="store_true", help="choose weights and thresholds on half A")
    ap.add_argument("--calibrate", action="store_true", help="choose only the thresholds on half A")
    ap.add_argument("--depth", type=int, default=30, help="candidates kept per query")
    ap.add_argument("--cv", type=int, default=0, metavar="K",
                    help="K-fold cross-validation of the weight fit inside half A (half B untouched)")
    ap.add_argument("--max-wrong", type=float, default=1.0,
                    help="--calibrate/--tune: confident-wrong budget on half A (%% of positives)")
    ap.add_argument("--calibrate-title", action="store_true",
                    help="--calibrate/--tune: search the exact-title rule's thresholds too (check dedup.py after)")
    ap.add_argument("--max-neg", type=float, default=2.0,
                    help="--calibrate/--tune: negatives-confident budget on half A (%% of negatives)")
    ap.add_argument("--l2", type=float, default=0.02, help="--tune/--cv: L2 penalty of the weight fit")
    ap.add_argument("--keep", default="", metavar="NAME,...",
                    help="weights --tune/--cv leave at their current values")
    ap.add_argument("--split", choices=("A", "B", "all"), default="all",
                    help="print only this half's figures (A while tuning: B is looked at once per change)")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                    help="override a weight or calibration value (after --tune)")
    args = ap.parse_args()
    if not args.queries.exists():
        print(f"no queries at {args.queries}")
        return 1
    os.environ["SIGMATCH_DATA_DIR"] = args.data_dir
    t0 = time.perf_counter()
    catalog = build_runtime(Settings.from_env()).load_catalog()
    matcher = Matcher(catalog)
    t1 = time.perf_counter()
    print(f"catalog {len(catalog)} bugs ({catalog.stats()}) loaded+indexed in {t1 - t0:.1f}s")
    queries = load_queries(args.queries, matcher, args.depth)
    t2 = time.perf_counter()
    print(f"{len(queries)} scored queries parsed+matched in {t2 - t1:.1f}s")
    w, cal = matcher.weights, matcher.calibration
    keep = frozenset(filter(None, args.keep.split(",")))
    if args.cv:
        print(cross_validate(queries, matcher, folds=args.cv, l2=args.l2, keep=keep))
    if args.tune:
        w = fit_weights(queries, matcher, l2=args.l2, keep=keep)
        cal = calibrate(queries, matcher, w, cal, max_wrong=args.max_wrong, max_neg=args.max_neg,
                        title=args.calibrate_title)
        print(f"fitted on half A: {w}\n  {cal}")
    elif args.calibrate:
        cal = calibrate(queries, matcher, w, cal, max_wrong=args.max_wrong, max_neg=args.max_neg,
                        title=args.calibrate_title)
        print(f"calibrated on half A: {cal}")
    for item in args.set:
        name, _, value = item.partition("=")
        if name in {f.name for f in fields(Weights)}:
            w = replace(w, **{name: float(value)})
        else:
            cal = replace(cal, **{name: float(value)})
    if args.set:
        print(f"with overrides: {w}\n  {cal}")
    halves = ("A", "B") if args.split == "all" else (args.split,)
    for half in halves:
        print(f"{'split ' + half:22} {evaluate(queries, matcher, w, cal, lambda q, h=half: q.split == h).line()}")
    shown = [q for q in queries if q.split in halves]
    groups: dict[str, Callable[[Query], bool]] = {}
    for src in sorted({q.source for q in shown}):
        groups[f"source {src}"] = lambda q, s=src: q.source == s  # type: ignore[misc]
    for kind in sorted({q.crash_kind for q in shown if q.positive}):
        groups[f"kind {kind}"] = lambda q, k=kind: q.crash_kind == k  # type: ignore[misc]
    for label, keep in groups.items():
        f = evaluate(shown, matcher, w, cal, keep)
        print(f"  {label:20} fix@1 {f.pct(f.at1, f.n_pos):5.1f}%  honest {f.pct(f.honest_at1, f.n_honest):5.1f}% "
              f"conf_wrong {f.pct(f.conf_wrong, f.n_pos):4.1f}%  neg_conf {f.pct(f.neg_conf, f.n_neg):4.1f}%  "
              f"n={f.n_pos}/{f.n_honest}/{f.n_neg}")
    print(recall_line(shown, matcher, args.depth))
    if args.split != "all":
        return 0
    print(f"all: {evaluate(queries, matcher, w, cal).line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
