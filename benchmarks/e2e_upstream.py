"""How upstream evidence moves confident-right and confident-wrong on the dev e2e data.

    python3 benchmarks/e2e_upstream.py --data-dir /tmp/m-e2e/data [--variant strict|syzbot-knows]
                                       [--cache FILE] [--tune] [--limit N]

The catalog must have been imported first (``python3 ../shared/eval/e2e.py ... --workdir /tmp/m-e2e``
does it, or ``SIGMATCH_DATA_DIR=... SIGMATCH_CVE_REPO=../shared/corpus/vulns.bundle sigmatch refresh
--source cve``); the CVE records' texts are read from ``<data-dir>/vulns.git``.

For every scored query of ``e2e-dev.jsonl`` (positives not linked by fix bisection alone, and the
``fix-known-not-in-cve-db`` negatives) it answers the trace as the API does: the catalog answer, then
a real upstream lookup (:func:`sigmatch.upstream.lookup`, over HTTP) about the report the answer leads
with, against lore, bugzilla and syzbot served on 127.0.0.1 from the dev corpora
(:mod:`upstream_world`: what is real there and what is simulated), with the query's own report left
out; then the answer again with that evidence (:func:`sigmatch.answer.analyze`). It prints
confident_right / confident_wrong / neg_confident without and with the evidence, on halves A and B
(by ``split_key``), and what moved. ``--variant syzbot-knows`` leaves syzbot's record of the query's
own syzbot bug in (a syzbot report pasted by a user: syzbot does know that bug); ``strict`` (the
default) keeps a syzbot bug only when another report of it is on the lists.

``--cache FILE`` keeps each query's evidence (JSON lines), so a second run (``--tune``) does not ask
the servers again. ``--tune`` chooses the evidence weights on half A only (most confident-right
within the error budgets of ``benchmarks/e2e_match.py --calibrate``: confident-wrong at most 1% of
positives, false alarms on negatives no more than without upstream) and reports both halves.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from e2e_match import is_right  # noqa: E402
from upstream_world import World  # noqa: E402

from sigmatch.answer import MIN_LISTED_SCORE, Answer, analyze  # noqa: E402
from sigmatch.catalog.versions import parse_kernel_version  # noqa: E402
from sigmatch.config import Settings  # noqa: E402
from sigmatch.match.evidence import (  # noqa: E402
    DEFAULT_EVIDENCE_WEIGHTS,
    EVIDENCE_DEPTH,
    EvidenceUse,
    EvidenceWeights,
    UpstreamEvidence,
    reweigh,
)
from sigmatch.match.matcher import PROBABILITY_DEPTH, Matcher  # noqa: E402
from sigmatch.match.score import QueryFeatures, Scored  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402
from sigmatch.upstream.evidence import evidence_from  # noqa: E402
from sigmatch.upstream.http import MemoryCache, TokenBucket, client_from_settings  # noqa: E402
from sigmatch.upstream.lookup import lookup  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"
BUDGET = 60.0  # seconds a lookup may take here (the servers are local: every source finishes)
LOOKUP_TAG = "3"  # bump when the lookup or the world changes: cached evidence of another tag is asked again
# The evidence weights as set by reasoning before anything was measured: the tuner's tie-breaker.
PRIOR = EvidenceWeights(upstream_fix=4.0, upstream_fix_search=0.5, upstream_other=-2.0, upstream_min_raw=0.0)


@dataclass
class Query:
    row: dict[str, Any]
    id: str
    split: str
    positive: bool
    negative: bool
    fix_shas: tuple[str, ...]
    cves: tuple[str, ...]
    evidence: UpstreamEvidence | None = None
    seconds: float = 0.0
    requests: int = 0


def load_queries(path: Path) -> list[Query]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        d = json.loads(line)
        exp = d.get("expected") or None
        positive = bool(exp) and exp.get("confidence") != "low"
        negative = not exp and d.get("negative_reason") == "fix-known-not-in-cve-db"
        if not (positive or negative):
            continue
        out.append(Query(row=d, id=d["id"], split="A" if int(d.get("split_key") or "0", 16) % 2 == 0 else "B",
                         positive=positive, negative=negative,
                         fix_shas=tuple(s.lower() for s in (exp or {}).get("fix_shas") or ()),
                         cves=tuple(c.upper() for c in (exp or {}).get("cves") or ())))
    return out


def cve_texts(vulns: Path) -> dict[str, str]:
    """CVE id -> description (the fix's commit message, as the record quotes it) from a clone of
    the vulns repository."""
    names = subprocess.run(["git", "--git-dir", str(vulns), "ls-tree", "-r", "--name-only", "HEAD", "cve/published"],
                           capture_output=True, text=True, check=True).stdout.split()
    names = [n for n in names if n.endswith(".json")]
    batch = subprocess.run(["git", "--git-dir", str(vulns), "cat-file", "--batch"], input="".join(
        f"HEAD:{n}\n" for n in names).encode(), capture_output=True, check=True).stdout
    out: dict[str, str] = {}
    pos = 0
    for _ in names:
        header_end = batch.index(b"\n", pos)
        size = int(batch[pos:header_end].split()[2])
        body = batch[header_end + 1:header_end + 1 + size]
        pos = header_end + 1 + size + 1
        try:
            doc = json.loads(body)
            cna = doc["containers"]["cna"]
            desc = next((d["value"] for d in cna.get("descriptions", ()) if d.get("lang", "en").startswith("en")), "")
            out[doc["cveMetadata"]["cveId"]] = desc
        except (ValueError, KeyError, TypeError):
            continue
    return out


def run_lookups(queries: list[Query], world: World, matcher: Matcher, top: int, *, budget: float = BUDGET,
                rate: float = 0.0) -> None:
    with world.serve() as urls:
        settings = Settings.from_env({
            "SIGMATCH_LORE_URL": urls["lore"], "SIGMATCH_BUGZILLA_URL": urls["bugzilla"],
            "SIGMATCH_SYZBOT_URL": urls["syzbot"], "SIGMATCH_STABLE_URL": urls["stable"],
            "SIGMATCH_RATE_LIMIT": str(rate), "SIGMATCH_HTTP_TIMEOUT": "20", "SIGMATCH_UPSTREAM_LOOKUP": "on"})
        t0 = time.perf_counter()
        for n, q in enumerate(queries, 1):
            answer = analyze(q.row["trace"], matcher, top=top)
            lead = answer.lead
            if lead is None:
                continue
            world.leave_out(q.row)
            before = world.requests
            t = time.perf_counter()
            # a cache and a pace of its own: what an earlier lookup left running does not slow this one
            client = client_from_settings(settings, cache=MemoryCache(), limiter=TokenBucket(rate))
            result = lookup(lead.report, settings=settings, budget=budget, text=q.row["trace"], client=client)
            q.seconds = time.perf_counter() - t
            q.requests = world.requests - before
            q.evidence = evidence_from(result, report_index=lead.index, text=q.row["trace"])
            if n % 50 == 0:
                print(f"  {n}/{len(queries)} lookups, {time.perf_counter() - t0:.0f}s", flush=True)


@dataclass
class Figures:
    n_pos: int = 0
    n_neg: int = 0
    right: int = 0  # top-1 right
    conf_right: int = 0
    conf_wrong: int = 0
    neg_conf: int = 0

    def count(self, positive: bool, conf: bool, right: bool) -> None:
        """One query's outcome: a positive's top-1 and confidence, a negative's false alarm."""
        if positive:
            self.n_pos += 1
            self.right += right
            self.conf_right += conf and right
            self.conf_wrong += conf and not right
        else:
            self.n_neg += 1
            self.neg_conf += conf

    def pct(self, a: int, b: int) -> float:
        return 100.0 * a / b if b else 0.0

    def line(self) -> str:
        return (f"fix@1={self.pct(self.right, self.n_pos):.1f}% "
                f"confident_right={self.pct(self.conf_right, self.n_pos):.1f}% ({self.conf_right}) "
                f"confident_wrong={self.pct(self.conf_wrong, self.n_pos):.1f}% ({self.conf_wrong}) "
                f"neg_confident={self.pct(self.neg_conf, self.n_neg):.1f}% ({self.neg_conf}) "
                f"n_pos={self.n_pos} n_neg={self.n_neg}")


def outcome(q: Query, answer: Answer, matcher: Matcher) -> tuple[bool, bool]:
    """(confident, right) of the answer's top match (what e2e.py scores: the top-level matches)."""
    top = answer.top
    if top is None:
        return False, False
    return top.confident, q.positive and is_right(top.bug, q)


def evaluate(queries: list[Query], matcher: Matcher, weights: EvidenceWeights | None, top: int,
             cache: dict[tuple[str, bool], tuple[bool, bool]] | None = None) -> dict[str, Figures]:
    """Figures per split, with the evidence under ``weights`` (None: without upstream)."""
    matcher.evidence_weights = weights or DEFAULT_EVIDENCE_WEIGHTS
    out = {"A": Figures(), "B": Figures()}
    for q in queries:
        f = out[q.split]
        ev = q.evidence if weights is not None else None
        key = (q.id, ev is not None)
        if cache is not None and key in cache and ev is None:
            conf, right = cache[key]
        else:
            conf, right = outcome(q, analyze(q.row["trace"], matcher, top=top, evidence=ev), matcher)
            if cache is not None and ev is None:
                cache[key] = (conf, right)
        f.count(q.positive, conf, right)
    return out


def moves(queries: list[Query], matcher: Matcher, weights: EvidenceWeights, top: int) -> Counter[str]:
    """What the evidence changed, query by query."""
    c: Counter[str] = Counter()
    for q in queries:
        matcher.evidence_weights = weights
        a0 = analyze(q.row["trace"], matcher, top=top)
        a1 = analyze(q.row["trace"], matcher, top=top, evidence=q.evidence)
        (c0, r0), (c1, r1) = outcome(q, a0, matcher), outcome(q, a1, matcher)
        kind = "positive" if q.positive else "negative"
        if a0.top and a1.top and a0.top.bug.id != a1.top.bug.id:
            c[f"{kind}: top changed ({'wrong' if not r0 else 'right'} -> {'right' if r1 else 'wrong'})"] += 1
        if c1 and not c0:
            c[f"{kind}: made confident ({'right' if r1 else 'wrong'})"] += 1
        if c0 and not c1:
            c[f"{kind}: confidence taken away (was {'right' if r0 else 'wrong'})"] += 1
        for u in a1.top.upstream if a1.top else ():
            if u.weight:
                c[f"{kind}: top has {u.signal} from {u.source}"] += 1
    return c


@dataclass
class Ranked:
    """One query's primary report as the matcher ranks it, and which upstream signals each
    candidate gets (they do not depend on the weights), for re-deciding under other weights."""

    q: QueryFeatures
    ranked: list[Scored]
    confident: bool
    rule: str
    uses: dict[int, tuple[EvidenceUse, ...]]
    live: dict[int, tuple[str, ...]]  # bug index -> the signals that count for it


def ranked_queries(queries: list[Query], matcher: Matcher, top: int) -> dict[str, Ranked]:
    """What ``analyze`` computes for the answer's primary report, kept so that the tuner re-decides
    each weight setting quickly (checked against ``analyze`` in :func:`main`)."""
    out: dict[str, Ranked] = {}
    bugs = matcher.index.bugs
    for qu in queries:
        a = analyze(qu.row["trace"], matcher, top=top)
        pa = a.primary_answer
        if pa is None:
            continue
        kv = parse_kernel_version(pa.report.kernel_version) if pa.report.kernel_version else None
        ev = qu.evidence if qu.evidence is not None and qu.evidence.report_index == pa.index else None
        depth = max(top, PROBABILITY_DEPTH, EVIDENCE_DEPTH if ev is not None and ev.items else 0)
        q, ranked = matcher.rank(pa.report, kernel=kv or a.kernel, limit=depth, signature=pa.signature)
        if not ranked:
            continue
        conf, rule = matcher.decide(q, ranked)
        uses: dict[int, tuple[EvidenceUse, ...]] = {}
        if ev is not None and ev.items:
            uses = reweigh(q, ranked, bugs, ev, DEFAULT_EVIDENCE_WEIGHTS).uses  # every default weight is non-zero
        live = {i: tuple(dict.fromkeys(u.signal for u in us if u.weight)) for i, us in uses.items()}
        out[qu.id] = Ranked(q, ranked, conf, rule, uses, {i: v for i, v in live.items() if v})
    return out


def fast_evaluate(queries: list[Query], rq: dict[str, Ranked], matcher: Matcher,
                  weights: EvidenceWeights | None) -> dict[str, Figures]:
    """:func:`evaluate` on the kept rankings (``matcher.match``'s own steps, without parsing again)."""
    matcher.evidence_weights = weights or DEFAULT_EVIDENCE_WEIGHTS
    bugs = matcher.index.bugs
    out = {"A": Figures(), "B": Figures()}
    for qu in queries:
        f = out[qu.split]
        r = rq.get(qu.id)
        conf, right = False, False
        if r is not None:
            ranked, conf = r.ranked, r.confident
            if weights is not None and r.uses:
                after = []
                for s in r.ranked:
                    live = r.live.get(s.bug_index)
                    if live:
                        add = {x: weights.of(x) for x in live if weights.of(x)}
                        s = replace(s, raw=s.raw + sum(add.values()), weights={**s.weights, **add})
                    after.append(s)
                after.sort(key=lambda s: -s.raw)
                conf, _ = matcher.decide_with(r.q, r.ranked, after, r.uses, r.confident, r.rule)
                ranked = after
            listed = 1.0 - math.exp(-max(ranked[0].raw, 0.0) / matcher.calibration.score_scale) >= MIN_LISTED_SCORE
            conf = conf and listed
            right = listed and qu.positive and is_right(bugs[ranked[0].bug_index], qu)
        f.count(qu.positive, conf, right)
    return out


def tune(queries: list[Query], rq: dict[str, Ranked], matcher: Matcher, base: dict[str, Figures]) -> EvidenceWeights:
    """The weights with the most confident answers net of errors on half A (confident-right minus
    confident-wrong minus false alarms on negatives), within the error budgets; among equals, the
    closest to the defaults (set by reasoning before anything was measured)."""
    train = [q for q in queries if q.split == "A"]
    a0 = base["A"]
    max_wrong = max(1.0, a0.pct(a0.conf_wrong, a0.n_pos))
    max_neg = a0.pct(a0.neg_conf, a0.n_neg)
    d = PRIOR
    scored: list[tuple[int, float, EvidenceWeights]] = []
    for fix, search, other, floor in itertools.product((2.0, 3.0, 4.0, 6.0, 8.0, 10.0), (0.0, 0.25, 0.5, 1.0, 2.0),
                                                       (0.0, -0.5, -1.0, -2.0, -4.0), (0.0, 0.5, 1.0, 2.0, 4.0, 6.0)):
        w = EvidenceWeights(upstream_fix=fix, upstream_fix_search=search, upstream_other=other,
                            upstream_min_raw=floor)
        f = fast_evaluate(train, rq, matcher, w)["A"]
        if f.pct(f.conf_wrong, f.n_pos) > max_wrong or f.pct(f.neg_conf, f.n_neg) > max_neg:
            continue
        distance = (abs(fix - d.upstream_fix) + abs(search - d.upstream_fix_search)
                    + abs(other - d.upstream_other) + abs(floor - d.upstream_min_raw))
        scored.append((f.conf_right - f.conf_wrong - f.neg_conf, -distance, w))
    if not scored:
        return DEFAULT_EVIDENCE_WEIGHTS
    best = max(scored, key=lambda t: (t[0], t[1]))
    ties = [t for t in scored if t[0] == best[0]]
    print(f"  tuning: {len(scored)} settings within the error budgets on half A; {len(ties)} reach the best "
          f"net count {best[0]} (confident-right - confident-wrong - false alarms)")
    return best[2]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, type=Path)
    ap.add_argument("--queries", type=Path, default=CORPUS / "e2e-dev.jsonl")
    ap.add_argument("--crashes", type=Path, default=CORPUS / "crashes-dev.jsonl")
    ap.add_argument("--vulns", type=Path, default=None, help="vulns repository (default: DATA_DIR/vulns.git)")
    ap.add_argument("--variant", choices=("strict", "syzbot-knows"), default="strict")
    ap.add_argument("--cache", type=Path, default=None, help="JSON lines of each query's evidence (read/written)")
    ap.add_argument("--tune", action="store_true", help="choose the evidence weights on half A")
    ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="an evidence weight")
    ap.add_argument("--limit", type=int, default=0, help="only the first N scored queries (a quick look)")
    ap.add_argument("--budget", type=float, default=BUDGET,
                    help=f"seconds each lookup may take (default {BUDGET:g}: every source finishes; the service's "
                         "default is 2: what arrives by then is what the first answer counts)")
    ap.add_argument("--rate", type=float, default=0.0,
                    help="requests per second per upstream host (default 0: unpaced; the service's default is 1)")
    ap.add_argument("--top", type=int, default=5)
    args = ap.parse_args()
    for p in (args.queries, args.crashes):
        if not p.exists():
            print(f"no corpus at {p}")
            return 1
    os.environ["SIGMATCH_DATA_DIR"] = str(args.data_dir)
    os.environ["SIGMATCH_UPSTREAM_LOOKUP"] = "off"  # nothing but this script's own lookups asks anybody
    t0 = time.perf_counter()
    catalog = build_runtime(Settings.from_env()).load_catalog()
    matcher = Matcher(catalog)
    queries = load_queries(args.queries)
    if args.limit:
        queries = queries[:args.limit]
    print(f"catalog {len(catalog)} bugs; {len(queries)} scored queries "
          f"({sum(q.positive for q in queries)} positives, {sum(q.negative for q in queries)} negatives); "
          f"{time.perf_counter() - t0:.1f}s")
    cached: dict[str, UpstreamEvidence | None] = {}
    tag = f"{args.variant}:{LOOKUP_TAG}" + (f":budget={args.budget:g}:rate={args.rate:g}"
                                            if (args.budget, args.rate) != (BUDGET, 0.0) else "")
    if args.cache and args.cache.exists():
        for line in args.cache.read_text().splitlines():
            d = json.loads(line)
            if d.get("variant") == tag:
                cached[d["id"]] = UpstreamEvidence.from_dict(d["evidence"]) if d["evidence"] else None
    missing = [q for q in queries if q.id not in cached]
    for q in queries:
        q.evidence = cached.get(q.id)
    if missing:
        t1 = time.perf_counter()
        e2e_rows = [json.loads(x) for x in args.queries.read_text(encoding="utf-8").splitlines() if x.strip()]
        crash_rows = [json.loads(x) for x in args.crashes.read_text(encoding="utf-8").splitlines() if x.strip()]
        texts = cve_texts(args.vulns or args.data_dir / "vulns.git")
        world = World.build(e2e_rows, crash_rows, catalog.bugs, texts, strict=args.variant == "strict")
        n_rep = sum(1 for m in world.msgs.values() if m.kind == "report")
        print(f"upstream world ({args.variant}): lore {n_rep} reports + {len(world.msgs) - n_rep} patches, "
              f"bugzilla {len(world.bugs)} bugs, syzbot {len(world.syz)} bugs "
              f"({sum(1 for s in world.syz.values() if s.fixes)} fixed); built in {time.perf_counter() - t1:.1f}s")
        t2 = time.perf_counter()
        run_lookups(missing, world, matcher, args.top, budget=args.budget, rate=args.rate)
        done = sum(1 for q in missing if q.evidence is not None and not q.evidence.pending)
        print(f"{done} of {len(missing)} lookups complete within the budget")
        secs = sorted(q.seconds for q in missing)
        print(f"{len(missing)} lookups in {time.perf_counter() - t2:.0f}s (median {secs[len(secs) // 2]:.2f}s, "
              f"max {secs[-1]:.2f}s per lookup; {sum(q.requests for q in missing)} HTTP requests)")
        if args.cache:
            with args.cache.open("a") as fh:
                for q in missing:
                    ev = q.evidence.to_dict() if q.evidence is not None else None
                    fh.write(json.dumps({"id": q.id, "variant": tag, "evidence": ev}) + "\n")
    weights = DEFAULT_EVIDENCE_WEIGHTS
    for item in args.set:
        name, _, value = item.partition("=")
        weights = replace(weights, **{name: float(value)})
    memo: dict[tuple[str, bool], tuple[bool, bool]] = {}
    base = evaluate(queries, matcher, None, args.top, memo)
    if args.tune:
        rq = ranked_queries(queries, matcher, args.top)
        for w in (None, DEFAULT_EVIDENCE_WEIGHTS):  # the fast path must say what analyze says
            fast, slow = fast_evaluate(queries, rq, matcher, w), evaluate(queries, matcher, w, args.top)
            if any(vars(fast[h]) != vars(slow[h]) for h in ("A", "B")):
                print(f"note: the tuner's figures differ from analyze's ({w}): {fast} vs {slow}")
        weights = tune(queries, rq, matcher, base)
        print(f"tuned on half A: {weights}")
    with_up = evaluate(queries, matcher, weights, args.top)
    print(f"evidence weights: {weights}")
    for split in ("A", "B"):
        print(f"half {split} without upstream  {base[split].line()}")
        print(f"half {split} with upstream     {with_up[split].line()}")
    allb = Figures(**{k: getattr(base['A'], k) + getattr(base['B'], k) for k in vars(Figures())})
    allw = Figures(**{k: getattr(with_up['A'], k) + getattr(with_up['B'], k) for k in vars(Figures())})
    print(f"all    without upstream  {allb.line()}")
    print(f"all    with upstream     {allw.line()}")
    for k, v in sorted(moves(queries, matcher, weights, args.top).items()):
        print(f"  {k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
