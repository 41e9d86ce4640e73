"""Ranking, the calibrated "confident" decision, and explanations.

``Matcher(catalog)`` builds the candidate index once; ``match(report_or_signature)`` returns the
top known bugs, best first, each a :class:`~sigmatch.match.model.Match` that explains itself
(``signals``: each signal's contribution, i.e. weight x value, plus ``raw`` and ``p_top``; matched
and unmatched frames; the rule that decided; the runner-up in ``explanation``).

Ranking is two-stage: the index finds the bugs that share rare titles, frames, identifiers, files,
directories or subsystem words with the report and gives them a cheap evidence score; the best
``shortlist`` of those (plus every exact-title hit, and the few bugs that name the guilty
function, a related stack's function or what a hung task sleeps in) are scored with all signals of
:mod:`sigmatch.match.score` (frame alignment, kind, version plausibility). The weights are a
conditional logit fitted on one half of the dev corpus, so raw scores are log-odds.

Confidence (see :class:`Calibration` and :func:`decide`): never for corrupted or low-information
reports, nor when the log's kernel cannot have the bug; otherwise the top candidate must take a
clear share of the probability among the best ten *and* score high enough in absolute terms
(a clear winner among weak candidates is "looks new"), or the report's exact title must name the
bug with frames that agree. The thresholds were chosen on one half of the dev corpus
(``benchmarks/e2e_match.py --calibrate``) and checked on the other half.

Upstream evidence (``match(..., evidence=)``, :mod:`sigmatch.match.evidence`): what lore, bugzilla
and syzbot said about the report adds its signals to the candidates' scores (the ranking goes
:data:`~sigmatch.match.evidence.EVIDENCE_DEPTH` deep then, so a fix named upstream can lift a
candidate from below the first ten), and :meth:`Matcher.decide_with` decides again: a candidate
becomes confident through upstream only when an item about this crash names its fix.
"""

from __future__ import annotations

import gc
import math
from dataclasses import dataclass

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import KernelVersion
from sigmatch.match.evidence import (
    DEFAULT_EVIDENCE_WEIGHTS,
    EVIDENCE_DEPTH,
    SIGNALS,
    EvidenceUse,
    EvidenceWeights,
    UpstreamEvidence,
    catalog_raw,
    describe,
    names_fix_of_this_crash,
    promotes,
    reweigh,
)
from sigmatch.match.index import CandidateIndex
from sigmatch.match.model import Match
from sigmatch.match.score import (
    DEFAULT_WEIGHTS,
    PRESCORE_WEIGHTS,
    Candidate,
    QueryFeatures,
    Scored,
    Weights,
    add_alignment,
    frame_evidence,
    query_context,
    query_features,
    score_candidates,
)
from sigmatch.trace.model import Report
from sigmatch.trace.signature import Signature

ALGORITHM_VERSION = "match-9"  # 9: bugs naming what a hung task sleeps in are always scored; 8: wait, wait_subject (what a hung task sleeps in), "locking" a soft kind class, PLUMBING_PARTS; 7: trace_miss, subject_words, subject_part; -next rc builds; weights refitted; upstream evidence (6); the parser's kernel (5)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Where "looks like this known bug" becomes "confidently this known bug".

    ``p_top`` is the softmax probability of the top candidate among the best
    :data:`PROBABILITY_DEPTH` (the weights are fitted as a conditional logit, so raw scores are
    log-odds); ``raw`` guards against a clear winner among weak candidates ("looks new").
    match-6: chosen on half A with no confident-wrong answer there (``benchmarks/e2e_match.py
    --calibrate --max-wrong 0.5``), the exact-title rule held as before (dedup.py's same-titled
    curated entries constrain it); the partial rule by ``e2e_cut.py``, the least strict one with
    none on half A of the cut logs.
    """

    min_raw: float = 8.5  # top raw score needed
    min_probability: float = 0.6  # top candidate's share of the probability among the best ten
    title_min_sequence: float = 0.7  # exact-title rule: frames must agree this much ...
    title_min_probability: float = 0.7  # ... and the title's bug must stand out this much
    score_scale: float = 4.0  # raw -> 0..1 score: 1 - exp(-raw / scale)
    # Partial reports (truncated: cut after the RIP line, banner-less pastes) have fewer frames
    # to agree; their rule asks for a clearer winner, and that the record names the faulting
    # function (the guilty signal's rarity-weighted value) or the fix subject does. Chosen on half
    # A of the cut dev logs (benchmarks/e2e_cut.py --calibrate).
    partial_min_raw: float = 6.5
    partial_min_probability: float = 0.8
    partial_min_guilty: float = 0.5


DEFAULT_CALIBRATION = Calibration()

_SIGNAL_TEXT = {
    "title": "same title",
    "sequence": "similar frame sequence",
    "frames": "shares rare frames with its trace",
    "idents": "its record names functions of the trace",
    "guilty": "its record names the guilty function",
    "subject": "the fix subject names the guilty function",
    "subject_frame": "the fix subject names a top frame",
    "subject_miss": "the fix subject names functions not in the trace",
    "subject_part": "the fix subject names what a top frame is named after",
    "subject_words": "the fix subject's words are in the top frames' names",
    "trace_miss": "its quoted trace never reaches the guilty function",
    "file": "the fix changed a file in the trace",
    "site_file": "the fix changed the crash site's file",
    "dir": "the fix changed a directory in the trace",
    "subsystem": "the fix subsystem matches the trace",
    "kind": "the crash kind agrees with the fix",
    "kind_miss": "the fix subject names another kind of crash",
    "version": "version plausibility",
    "recency": "fixed soon after the log's kernel",
    "example_kernel": "its example came from a kernel close to the log's",
    "related": "its record names a function of a related stack (lock holder, other leak)",
    "related_subject": "the fix subject names a function of a related stack",
    "related_file": "the fix changed a file of a related stack",
    "holder_site": "the fix changed the file where the hung task's lock holder runs",
    "wait": "its record names a function the hung task sleeps in",
    "wait_subject": "the fix subject names a function the hung task sleeps in",
    "device": "the fix names the driver of a device error before the report",
    "upstream_fix": "upstream names its fix for this crash",
    "upstream_fix_search": "upstream names its fix (search hit)",
    "upstream_other": "upstream names another fix for this crash",
}


class Matcher:
    """Ranks known bugs for crash reports. Build once per catalog; ``match`` is pure and fast."""

    def __init__(self, catalog: Catalog, *, weights: Weights = DEFAULT_WEIGHTS,
                 calibration: Calibration = DEFAULT_CALIBRATION, shortlist: int = 40,
                 freeze_gc: bool = True, index: CandidateIndex | None = None,
                 evidence_weights: EvidenceWeights = DEFAULT_EVIDENCE_WEIGHTS) -> None:
        # ``index``: one built for this very catalog before (the prebuilt file, sigmatch.runtime.prebuilt)
        if index is not None and index.catalog is not catalog:
            raise ValueError("the index was built for another catalog")
        self.catalog = catalog
        self.index = index if index is not None else CandidateIndex(catalog)
        self.weights = weights
        self.calibration = calibration
        self.evidence_weights = evidence_weights
        self.shortlist = shortlist
        self._prescore_weights = PRESCORE_WEIGHTS
        # The catalog and its index are long-lived: move them out of the cyclic garbage collector's
        # sight, or every collection walks millions of objects (matching gets ~2x slower).
        # Frozen objects are still freed by reference counting when a new catalog replaces this
        # one (they hold no reference cycles). ``freeze_gc=False`` leaves the collector alone.
        if freeze_gc:
            gc.freeze()

    @property
    def catalog_version(self) -> str:
        return self.catalog.version

    def rank(self, item: Report | Signature | QueryFeatures, *, kernel: KernelVersion | str | None = None,
             limit: int = 10, signature: Signature | None = None) -> tuple[QueryFeatures, list[Scored]]:
        """All scored candidates, best first (at most ``limit``). For tuning and benchmarks.

        ``signature``: the report's signature when the caller already computed it."""
        q = item if isinstance(item, QueryFeatures) else query_features(item, kernel=kernel, signature=signature)
        ev = self.index.lookup(q.tokens, self._prescore_weights)
        if not ev:
            return q, []
        w = self.weights
        # heapq.nlargest's documented equivalent (ties keep their order), cheaper for ~130 candidates
        short = sorted(ev.items(), key=_prescore_of, reverse=True)[: self.shortlist]
        if len(ev) > self.shortlist:
            # Every exact-title hit is scored in full, and so is every bug whose record or trace
            # names the guilty function (the strongest single signal) when few bugs do: a bug
            # that names it must not lose its place to ones that share many common frames.
            chosen = {i for i, _ in short}
            short += [kv for kv in ev.items() if kv[1][0] > 0 and kv[0] not in chosen]
            chosen.update(i for i, _ in short)
            for i in (*self._guilty_bugs(q), *self._related_bugs(q), *self._wait_bugs(q)):
                if i not in chosen and i in ev:
                    chosen.add(i)
                    short.append((i, ev[i]))
        ctx = query_context(q, self.index)
        cands = score_candidates(q, short, self.index, w, ctx)
        # The frame alignment adds at most w.sequence: align only the candidates it can still lift
        # into the first ``limit`` (or the probability depth).
        cands.sort(key=_neg_raw)
        keep = max(limit, PROBABILITY_DEPTH)
        if len(cands) > keep:
            floor = cands[keep - 1].raw - max(w.sequence, 0.0)
            n = keep
            while n < len(cands) and cands[n].raw >= floor:
                n += 1
            cands = cands[:n]
        for c in cands:
            add_alignment(c, q, self.index, ctx)
        bugs = self.index.bugs
        cands.sort(key=lambda c: (-c.raw, bugs[c.index].id))
        return q, [c.scored() for c in cands[:limit]]

    def _guilty_bugs(self, q: QueryFeatures) -> tuple[int, ...]:
        """Bugs whose record or trace names the report's guilty function, when at most
        :data:`GUILTY_SHORTLIST_MAX` bugs do (a function that many bugs name says little)."""
        if not q.guilty:
            return ()
        g = q.guilty[0]
        postings = self.index.postings
        named = postings.get(f"i:{g}", ())
        framed = postings.get(f"f:{g}", ())
        if len(named) + len(framed) > 2 * GUILTY_SHORTLIST_MAX:
            return ()
        out = tuple(dict.fromkeys((*named, *framed)))
        return out if len(out) <= GUILTY_SHORTLIST_MAX else ()

    def _related_bugs(self, q: QueryFeatures) -> tuple[int, ...]:
        """Bugs whose fix subject names a function of a related stack (a hung task's lock
        holder, another blocked task, another leaked object), when few bugs name it."""
        out: list[int] = []
        postings = self.index.postings
        for fn in q.related[:RELATED_SHORTLIST_FUNCTIONS]:
            named = postings.get(f"i:{fn}", ())
            if 0 < len(named) <= GUILTY_SHORTLIST_MAX:
                out.extend(i for i in named if fn in self.index.features[i].subject_idents)
        return tuple(dict.fromkeys(out))

    def _wait_bugs(self, q: QueryFeatures) -> tuple[int, ...]:
        """Bugs whose record names a function a hung task sleeps in (the ``wait`` signal's
        evidence: ``usb_kill_urb`` above ``usb_port_suspend``), for the top
        :data:`WAIT_SHORTLIST_FUNCTIONS` of them, when few bugs name it."""
        out: list[int] = []
        postings = self.index.postings
        for fn in q.waits[:WAIT_SHORTLIST_FUNCTIONS]:
            named = postings.get(f"i:{fn}", ())
            if 0 < len(named) <= GUILTY_SHORTLIST_MAX:
                out.extend(named)
        return tuple(dict.fromkeys(out))

    def decide(self, q: QueryFeatures, ranked: list[Scored]) -> tuple[bool, str]:
        """(confident, rule) for the top candidate."""
        return decide(q, [s.raw for s in ranked], ranked[0] if ranked else None, self.calibration)

    def match(self, item: Report | Signature, *, top: int = 5, kernel: KernelVersion | str | None = None,
              report_index: int = 0, signature: Signature | None = None,
              evidence: UpstreamEvidence | None = None) -> list[Match]:
        """The ``top`` known bugs this report may be, best first; only the first can be confident.

        ``signature``: ``signature_of(item)`` when the caller already has it (it is not recomputed).
        ``evidence``: what upstream said about this report (:mod:`sigmatch.match.evidence`): its
        signals are added to the candidates' scores and explained, and it may change the decision
        (:meth:`decide_with`)."""
        depth = max(top, PROBABILITY_DEPTH)
        if evidence is not None and evidence.items:
            depth = max(depth, EVIDENCE_DEPTH)
        q, ranked = self.rank(item, kernel=kernel, limit=depth, signature=signature)
        if not ranked:
            return []
        confident, rule = self.decide(q, ranked)
        uses: dict[int, tuple[EvidenceUse, ...]] = {}
        if evidence is not None and evidence.items:
            before = ranked
            moved = reweigh(q, ranked, self.index.bugs, evidence, self.evidence_weights)
            ranked, uses = moved.ranked, moved.uses
            confident, rule = self.decide_with(q, before, ranked, uses, confident, rule)
        out: list[Match] = []
        p_top = top_probability([s.raw for s in ranked])
        for pos, s in enumerate(ranked[:top]):
            bug = self.index.bugs[s.bug_index]
            matched, unmatched = frame_evidence(q, s, self.index)
            other = ranked[1] if pos == 0 and len(ranked) > 1 else ranked[0] if pos else None
            said = uses.get(s.bug_index, ())
            contributions = s.contributions  # made once per returned match
            signals = {k: round(v, 4) for k, v in contributions.items()}
            signals["raw"] = round(s.raw, 4)
            if pos == 0:
                signals["p_top"] = round(p_top, 4)
            out.append(Match(
                bug=bug,
                score=self._score01(s.raw),
                confident=confident and pos == 0,
                rule=rule if pos == 0 else _rule_of(s, contributions),
                signals=signals,
                matched_frames=matched,
                unmatched_frames=unmatched,
                report_index=report_index,
                explanation=self._explain(s, contributions, other, confident and pos == 0, rule if pos == 0 else "",
                                          said),
                algorithm_version=ALGORITHM_VERSION,
                upstream=said,
            ))
        return out

    def decide_with(self, q: QueryFeatures, before: list[Scored], after: list[Scored],
                    uses: dict[int, tuple[EvidenceUse, ...]], confident: bool, rule: str) -> tuple[bool, str]:
        """(confident, rule) once upstream evidence moved the scores (``before`` -> ``after``).

        The usual rules decide on the new scores, with one limit: a candidate that was not confident
        before (or was not the top) becomes confident only when upstream names its fix
        (:func:`~sigmatch.match.evidence.promotes`), never on a search hit alone. One rule more,
        ``upstream-fix``: an item about this very crash names the top's fix, the top takes the
        usual share of the probability, and the catalog alone scores it above
        ``EvidenceWeights.upstream_min_raw`` (the absolute threshold guards against "a clear winner
        among weak candidates is a new bug": upstream saying which commit fixed this crash answers
        that). It never overrides a corrupted, low-information or implausible-version report."""
        new_conf, new_rule = self.decide(q, after)
        top = after[0]
        said = uses.get(top.bug_index, ())
        top_changed = top.bug_index != before[0].bug_index
        if (not new_conf and new_rule.endswith("below-threshold") and names_fix_of_this_crash(said)
                and catalog_raw(top) > self.evidence_weights.upstream_min_raw
                and top_probability([s.raw for s in after]) >= self.calibration.min_probability):
            return True, _rule_of(top) + "+upstream-fix"
        if new_conf and (top_changed or not confident):
            if not promotes(said):
                return False, new_rule + ":upstream-does-not-name-its-fix"
            return True, new_rule + "+upstream"
        if confident and not new_conf:
            return False, new_rule + ":upstream-against"
        return new_conf, new_rule

    def _score01(self, raw: float) -> float:
        return 1.0 - math.exp(-max(raw, 0.0) / self.calibration.score_scale)

    def _explain(self, s: Scored, contributions: dict[str, float], other: Scored | None, confident: bool, rule: str,
                 said: tuple[EvidenceUse, ...] = ()) -> str:
        bug = self.index.bugs[s.bug_index]
        parts = sorted([(v, k) for k, v in contributions.items() if v > 0 and k not in SIGNALS], reverse=True)
        why = ", ".join(f"{_SIGNAL_TEXT.get(k, k)} (+{v:.2f})" for v, k in parts[:5]) or "weak evidence"
        text = f"{bug.id}: {why}"
        if s.version_note:
            text += f"; {s.version_note}"
        if said:
            text += f"; {describe(said)}"
        if rule:
            text += "; confident" if confident else f"; not confident ({rule})"
        if other is not None:
            ob = self.index.bugs[other.bug_index]
            text += f"; runner-up {ob.id} at {self._score01(other.raw):.2f} (raw {other.raw:.2f} vs {s.raw:.2f})"
        elif rule:
            text += "; no runner-up shares evidence with the report"
        return text + "."


PROBABILITY_DEPTH = 10
# At most this many bugs naming the guilty function join the shortlist beyond its usual size.
GUILTY_SHORTLIST_MAX = 30
# Related-stack functions whose subject-naming bugs join the shortlist.
RELATED_SHORTLIST_FUNCTIONS = 12
# Functions a hung task sleeps in (top first) whose naming bugs join the shortlist.
WAIT_SHORTLIST_FUNCTIONS = 2


def top_probability(raws: list[float]) -> float:
    """Softmax share of the first of ``raws`` (best first)."""
    if not raws:
        return 0.0
    top = raws[0]
    return 1.0 / sum(math.exp(r - top) for r in raws[:PROBABILITY_DEPTH])


def decide(q: QueryFeatures, raws: list[float], top: Scored | None, c: Calibration) -> tuple[bool, str]:
    """(confident, rule) for the top candidate, given the raw scores of the ranked candidates."""
    if top is None or not raws:
        return False, "no-candidate"
    rule = _rule_of(top)
    if q.corrupted:
        return False, rule + ":corrupted-report"
    if q.out_of_tree is not None:
        return False, rule + ":out-of-tree"
    if q.low_information:
        return False, rule + ":low-information"
    if top.signals.get("version", 0.0) < 0:
        return False, rule + ":version-implausible"
    p = top_probability(raws)
    if q.truncated:
        named = max(top.signals.get("guilty", 0.0), top.signals.get("subject", 0.0))
        if raws[0] >= c.partial_min_raw and p >= c.partial_min_probability and named >= c.partial_min_guilty:
            return True, rule + ":partial"
        return False, rule + ":partial-below-threshold"
    if (top.title_hit == "title" and len(q.sequence) >= 3
            and top.signals.get("sequence", 0.0) >= c.title_min_sequence and p >= c.title_min_probability):
        return True, top.title_hit
    if raws[0] >= c.min_raw and p >= c.min_probability:
        return True, rule
    return False, rule + ":below-threshold"


def _prescore_of(item: tuple[int, list[float]]) -> float:
    return item[1][-1]


def _neg_raw(c: Candidate) -> float:
    return -c.raw


def _rule_of(s: Scored, contributions: dict[str, float] | None = None) -> str:
    """The rule a candidate's score rests on (``contributions``: ``s.contributions`` when made already)."""
    if s.title_hit:
        return s.title_hit
    c = s.contributions if contributions is None else contributions
    seqish = c.get("sequence", 0.0) + c.get("frames", 0.0)
    rest = s.raw - seqish
    return "frames" if seqish >= rest else "evidence"
