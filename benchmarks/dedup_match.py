"""Same bug, different log: in-process version of ../shared/eval/dedup.py, with more detail.

    python3 benchmarks/dedup_match.py [../shared/corpus/crashes-dev.jsonl]

Like dedup.py: for every dedup_group the first log (by id) becomes a curated-style known bug
(title = the corpus title as a curator would write it, signature = the parser's signature of
that example, as ``sigmatch.catalog.curated`` derives it); every single log is a distractor
entry. The other logs of each group are matched; RR@1 = the top match is the query's group;
confident-wrong = a confident top match of another group. The product path is measured by
``python3 ../shared/eval/dedup.py ../shared/corpus/crashes-dev.jsonl`` (needs the curated loader
to accept every generated entry).
"""

from __future__ import annotations

import collections
import json
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigmatch.catalog.catalog import Catalog  # noqa: E402
from sigmatch.catalog.model import BugSignature, KnownBug, Origin  # noqa: E402
from sigmatch.match.matcher import Matcher  # noqa: E402
from sigmatch.textio import decode_log  # noqa: E402
from sigmatch.trace.parse import parse_log  # noqa: E402
from sigmatch.trace.signature import signature_of  # noqa: E402

DEFAULT = REPO.parent / "shared" / "corpus" / "crashes-dev.jsonl"


def entry(bug_id: str, title: str, log: str) -> KnownBug:
    sigs: tuple[BugSignature, ...] = ()
    try:
        reports = parse_log(decode_log(log))
    except Exception:
        reports = []
    if reports and not reports[0].corrupted:
        s = signature_of(reports[0])
        sigs = (BugSignature(title=s.title, alt_titles=s.alt_titles, frames=s.frames, kind=s.kind.value,
                             files=s.files, low_information=s.low_information, source="example"),)
    return KnownBug(id=bug_id, title=title, origin=Origin.CURATED, signatures=sigs)


def main() -> int:
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if not path.exists():
        print(f"no corpus at {path}")
        return 1
    recs = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    recs = [r for r in recs if r.get("log") and r.get("subset") not in ("linux/guilty", "manager")]
    groups: dict[str, list[dict[str, object]]] = collections.defaultdict(list)
    for r in recs:
        groups[r.get("dedup_group") or "single:" + r["id"]].append(r)
    bugs, owner, queries = [], {}, []
    base_of: dict[str, str] = {}
    for n, (g, rs) in enumerate(sorted(groups.items())):
        rs.sort(key=lambda r: str(r["id"]))
        bug_id = f"case-{n:05d}"
        owner[bug_id] = g
        title = str(rs[0].get("title") or rs[0].get("headline") or bug_id)
        base_of[g] = str(rs[0].get("base_title") or title)
        bugs.append(entry(bug_id, title, str(rs[0]["log"])))
        if not g.startswith("single:"):
            queries.extend((g, r) for r in rs[1:])
    t0 = time.perf_counter()
    matcher = Matcher(Catalog.of(bugs, version="dedup"))
    t1 = time.perf_counter()
    at1 = wrong = conf_right = no_report = 0
    # Two logs of different groups with the same base title are "neither same nor different"
    # (corpus README): queries whose title another group shares are reported apart.
    base_count = collections.Counter(base_of.values())
    amb_n = amb_at1 = amb_wrong = 0
    misses: list[str] = []
    for g, r in queries:
        try:
            reports = parse_log(decode_log(str(r["log"])))
        except Exception:
            reports = []
        if not reports:
            no_report += 1
            continue
        ms = matcher.match(reports[0], top=3)
        top = owner.get(ms[0].bug.id) if ms else None
        ok = top == g
        at1 += ok
        conf = bool(ms) and ms[0].confident
        if base_count[base_of[g]] > 1:
            amb_n += 1
            amb_at1 += ok
            amb_wrong += (not ok) and conf and base_of.get(str(top)) != base_of[g]
        conf_right += ok and conf
        wrong += (not ok) and conf
        if not ok and len(misses) < 15:
            misses.append(f"  {r['id']}: {reports[0].title!r} -> {ms[0].bug.title if ms else None!r}"
                          f" ({'confident' if conf else 'not confident'})")
    t2 = time.perf_counter()
    n = len(queries)
    print(f"entries={len(bugs)} queries={n} (no report parsed: {no_report}); index {t1 - t0:.1f}s, "
          f"matching {t2 - t1:.1f}s")
    print("\n".join(misses))
    un = n - amb_n
    print(f"queries whose base title another group shares: {amb_n} (RR@1 {100 * amb_at1 / max(amb_n, 1):.1f}%, "
          f"confident on another title {amb_wrong}); the other {un}: RR@1 {100 * (at1 - amb_at1) / max(un, 1):.1f}%")
    print(f"dedup: RR@1={100 * at1 / n:.1f}% confident_right={100 * conf_right / n:.1f}% "
          f"confident_wrong={100 * wrong / n:.1f}% queries={n} entries={len(bugs)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
