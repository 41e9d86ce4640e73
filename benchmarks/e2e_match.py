"""End-to-end matching figures, in process: e2e.py's figures per crash kind, per source, per split.

    python3 benchmarks/e2e_match.py --data-dir /tmp/m-data [--queries ../shared/corpus/e2e-dev.jsonl]
    python3 benchmarks/e2e_match.py --data-dir /tmp/m-data --tune     # choose weights on half A

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
from sigmatch.match.score import QueryFeatures, Scored, Weights, query_features  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402
from sigmatch.textio import decode_log  # noqa: E402
from sigmatch.trace.parse import parse_log  # noqa: E402

NEGATIVE = frozenset({"subject_miss", "kind_miss"})
DEFAULT_QUERIES = REPO.parent / "shared" / "corpus" / "e2e-dev.jsonl"


@dataclass
class Query:
    id: str
    source: str  # syzbot | human
    crash_kind: str
    split: str  # A | B
    positive: bool
    negative: bool  # fix-known-not-in-cve-db
    honest: bool
    fix_shas: tuple[str, ...]
    cves: tuple[str, ...]
    q: QueryFeatures | None
    ranked: list[Scored]


def is_right(bug: Any, q: Query) -> bool:
    shas = {f.sha.lower()[:12] for f in bug.fixes}
    if any(s[:12] in shas for s in q.fix_shas):
        return True
    return bool(({c.upper() for c in bug.cves} | {bug.id.upper()}) & set(q.cves))


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
    split = "A" if int(d.get("split_key") or "0", 16) % 2 == 0 else "B"
    try:
        log = decode_log(d["trace"])
        reports = parse_log(log)
    except Exception:
        reports = []
    q = None
    ranked: list[Scored] = []
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
    return Query(
        id=d["id"], source=d.get("kind", "?"), crash_kind=d.get("crash_kind", "?"), split=split,
        positive=positive, negative=negative,
        honest=positive and not ((exp or {}).get("leakage") or {}).get("same_report_quoted"),
        fix_shas=tuple(s.lower() for s in (exp or {}).get("fix_shas") or ()),
        cves=tuple(c.upper() for c in (exp or {}).get("cves") or ()),
        q=q, ranked=ranked,
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


def fit_weights(queries: list[Query], matcher: Matcher, l2: float = 0.02, steps: int = 600) -> Weights:
    """Conditional logistic regression (softmax over each query's candidates) on half A.

    Maximizes the log-probability of the right candidate among the shortlisted ones, with an L2
    penalty; queries whose right answer is not shortlisted add nothing.
    """
    names = [f.name for f in fields(Weights)]
    bugs = matcher.index.bugs
    data: list[tuple[list[list[float]], list[int]]] = []
    for q in queries:
        if q.split != "A" or not q.positive or not q.ranked:
            continue
        xs = [[s.signals.get(n, 0.0) for n in names] for s in q.ranked]
        right = [k for k, s in enumerate(q.ranked) if is_right(bugs[s.bug_index], q)]
        if right:
            data.append((xs, right))
    # A fixed start (every weight 1, "against" weights -1): the fit does not depend on the defaults.
    w = [-1.0 if n in NEGATIVE else 1.0 for n in names]
    lr = 1.0
    for _step in range(steps):
        grad = [0.0] * len(w)
        for xs, right in data:
            scores = [sum(wi * xi for wi, xi in zip(w, x, strict=True)) for x in xs]
            top = max(scores)
            ex = [math.exp(v - top) for v in scores]
            z = sum(ex)
            zr = sum(ex[k] for k in right)
            for j in range(len(w)):
                exp_all = sum(e * x[j] for e, x in zip(ex, xs, strict=True)) / z
                exp_right = sum(ex[k] * xs[k][j] for k in right) / zr
                grad[j] += exp_right - exp_all
        n = max(len(data), 1)
        if _step % 200 == 0 or _step == steps - 1:
            loss = 0.0
            for xs, right in data:
                sc = [sum(wi * xi for wi, xi in zip(w, x, strict=True)) for x in xs]
                top = max(sc)
                loss -= math.log(sum(math.exp(sc[k] - top) for k in right) / sum(math.exp(v - top) for v in sc))
            print(f"  fit step {_step}: mean -log p(right) = {loss / n:.4f}")
        w = [wi + lr * (g / n - l2 * wi) for wi, g in zip(w, grad, strict=True)]
        # Evidence counts for a bug, never against it (and "names other functions" only against).
        w = [min(v, 0.0) if name in NEGATIVE else max(v, 0.0) for name, v in zip(names, w, strict=True)]
    return Weights(**{name: round(v, 3) for name, v in zip(names, w, strict=True)})


def calibrate(queries: list[Query], matcher: Matcher, w: Weights, cal: Calibration,
              max_wrong: float = 1.0, max_neg: float = 2.0) -> Calibration:
    """Thresholds with the most confident-right answers on half A, within the error budgets (%)."""
    train = [q for q in queries if q.split == "A"]
    best_cal, best_cr = replace(cal, min_raw=1e9, title_min_sequence=2.0), -1
    for min_raw in range(0, 16):
        for p in (0.6, 0.7, 0.8, 0.9, 0.95):  # a confident answer must at least be favoured 60/40
            for seq in (0.5, 0.7, 2.0):
                for tp in (0.6, 0.7, 0.8, 0.9):
                    c = replace(cal, min_raw=float(min_raw), min_probability=p, title_min_sequence=seq,
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
    if args.tune:
        w = fit_weights(queries, matcher)
        cal = calibrate(queries, matcher, w, cal)
        print(f"fitted on half A: {w}\n  {cal}")
    elif args.calibrate:
        cal = calibrate(queries, matcher, w, cal)
        print(f"calibrated on half A: {cal}")
    for item in args.set:
        name, _, value = item.partition("=")
        if name in {f.name for f in fields(Weights)}:
            w = replace(w, **{name: float(value)})
        else:
            cal = replace(cal, **{name: float(value)})
    if args.set:
        print(f"with overrides: {w}\n  {cal}")
    for label, keep in (("split A", lambda q: q.split == "A"), ("split B", lambda q: q.split == "B")):
        print(f"{label:22} {evaluate(queries, matcher, w, cal, keep).line()}")
    groups: dict[str, Callable[[Query], bool]] = {}
    for src in sorted({q.source for q in queries}):
        groups[f"source {src}"] = lambda q, s=src: q.source == s  # type: ignore[misc]
    for kind in sorted({q.crash_kind for q in queries if q.positive}):
        groups[f"kind {kind}"] = lambda q, k=kind: q.crash_kind == k  # type: ignore[misc]
    for label, keep in groups.items():
        f = evaluate(queries, matcher, w, cal, keep)
        print(f"  {label:20} fix@1 {f.pct(f.at1, f.n_pos):5.1f}%  honest {f.pct(f.honest_at1, f.n_honest):5.1f}% "
              f"conf_wrong {f.pct(f.conf_wrong, f.n_pos):4.1f}%  neg_conf {f.pct(f.neg_conf, f.n_neg):4.1f}%  "
              f"n={f.n_pos}/{f.n_honest}/{f.n_neg}")
    print(f"all: {evaluate(queries, matcher, w, cal).line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
