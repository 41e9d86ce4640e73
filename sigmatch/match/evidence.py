"""Upstream evidence as plain values the core can take, and how it moves a ranking.

::

    UpstreamEvidence                 what upstream said about one report of the log
    ├── UpstreamItem                 one bug, report or patch found upstream: where, its title, how it
    │   └── PatchRef                 was found, the fixing commits it names, the patches answering it
    ├── answered / failed / pending  which sources are counted, and which are not (and why)
    └── EvidenceWeights              what each upstream signal adds to a candidate's raw score

    reweigh(q, ranked, bugs, evidence, weights) -> Reweighed   the ranking with upstream signals

Nothing here asks anybody: the callers (the API, the web page, the chat bot, ``sigmatch match
--upstream``, the background lookup job) run the lookup and turn its result into these values
(:func:`sigmatch.upstream.evidence.evidence_from`); :meth:`sigmatch.match.matcher.Matcher.match`
takes them.

What one item says about one candidate is decided by an ordered list of small named rules
(:data:`CLAIM_RULES`, first match wins): the item names the candidate's fixing commit; a patch
answering it is the fix (same subject); it *is* the fix's patch; or it names fixing commits, none of
them the candidate's. How much that counts depends on whether the item is about *this* crash:

``upstream_fix``         an item about this crash (the same crash title, or an id the log names)
                         names the candidate's fix: the strongest upstream signal
``upstream_fix_search``  an item that only a search for the report's function names found names
                         the fix: a search finds the fixes of every bug in that function, so it
                         counts little
``upstream_other``       an item about this crash names fixing commits, none of them the
                         candidate's (weighs against it: upstream says another commit fixed this)

An item is about this crash when the log names it, when it has the report's crash title, or the
same kind of crash in the report's guilty function or top frame ("BUG: soft lockup in <RIP
function>" for our "BUG: soft lockup in <syscall>"), unless upstream shows that title filed again
as a new bug (syzbot's "X (2)"): then a title names several bugs and ties nothing.

Each signal counts once per candidate (the first item carries the weight, later ones are listed
with 0). Evidence can make a candidate confident only when an item about this crash names the
candidate's fix, by commit or by a patch answering it (:func:`promotes`); a search hit alone never
does, whatever it names. Evidence for the runner-up lowers the top's share of the probability, and so can take
its confidence away. Sources that failed or are still pending add nothing, and the answer says so.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from sigmatch.catalog.model import KnownBug
from sigmatch.match.index import norm_function
from sigmatch.match.score import QueryFeatures, Scored

__all__ = [
    "CLAIM_RULES", "DEFAULT_EVIDENCE_WEIGHTS", "EVIDENCE_DEPTH", "SIGNALS", "EvidenceUse", "EvidenceWeights",
    "Found", "PatchRef", "Reweighed", "UpstreamEvidence", "UpstreamItem", "crash_title", "promotes", "reweigh",
    "same_commit", "same_title",
]

# Candidates re-ranked when evidence names fixing commits: a fix named upstream may lift a
# candidate from below the first ten.
EVIDENCE_DEPTH = 40
MIN_SHA = 12  # shortest commit prefix compared (git's own abbreviations are 12 hex in the kernel)

SIGNALS = ("upstream_fix", "upstream_fix_search", "upstream_other")


class Found(StrEnum):
    """How an upstream item was found, which says how surely it is about this crash."""

    LOG = "log"  # the log names it (a syzbot id, a bugzilla bug, a Message-ID)
    TITLE = "title"  # asked for by the report's exact crash title (syzbot's list of fixed bugs)
    SEARCH = "search"  # a hit of a search for the report's function names


@dataclass(frozen=True, slots=True)
class PatchRef:
    """A patch answering an upstream report (it replies in the thread, or its trailers name it)."""

    subject: str  # without the "[PATCH v2 1/3]" tag
    url: str | None = None
    link: str = ""  # how it answers the report: "replies in its thread", "Closes: it", ...
    introduced: tuple[str, ...] = ()  # the commits its Fixes: trailers name (they introduced the bug)
    commit: str | None = None  # the mainline commit, when the patch names it (a stable backport)

    def to_dict(self) -> dict[str, Any]:
        return {"subject": self.subject, "url": self.url, "link": self.link, "introduced": list(self.introduced),
                "commit": self.commit}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PatchRef:
        return cls(subject=str(d.get("subject") or ""), url=d.get("url"), link=str(d.get("link") or ""),
                   introduced=tuple(d.get("introduced") or ()), commit=d.get("commit"))


@dataclass(frozen=True, slots=True)
class UpstreamItem:
    """One bug, report or patch found upstream, reduced to what the matcher compares."""

    source: str  # lore | bugzilla | syzbot
    kind: str  # report | bug | patch
    ref: str  # "bug 299901", "<Message-ID>", "syzbot c679f13773f295d2da53"
    url: str | None
    title: str  # its crash title (bug summary, report subject) or, for a patch, its subject
    found: Found
    commits: tuple[str, ...] = ()  # fixing commits it names (12..40 hex)
    patches: tuple[PatchRef, ...] = ()

    @property
    def names_fixes(self) -> bool:
        return bool(self.commits or self.patches or self.kind == "patch")

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "kind": self.kind, "ref": self.ref, "url": self.url, "title": self.title,
                "found": self.found.value, "commits": list(self.commits),
                "patches": [p.to_dict() for p in self.patches]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UpstreamItem:
        return cls(source=str(d["source"]), kind=str(d["kind"]), ref=str(d["ref"]), url=d.get("url"),
                   title=str(d.get("title") or ""), found=Found(d.get("found", "search")),
                   commits=tuple(d.get("commits") or ()),
                   patches=tuple(PatchRef.from_dict(p) for p in d.get("patches") or ()))


@dataclass(frozen=True, slots=True)
class UpstreamEvidence:
    """What upstream said about report ``report_index`` of a log (the report the lookup asked about)."""

    report_index: int = 0
    items: tuple[UpstreamItem, ...] = ()
    answered: tuple[str, ...] = ()  # sources whose answers are counted (what arrived from them)
    failed: tuple[tuple[str, str], ...] = ()  # (source, why): asked, no usable answer; adds nothing
    pending: tuple[str, ...] = ()  # still working when the answer was made; adds nothing yet

    @property
    def complete(self) -> bool:
        return not self.pending and not self.failed

    def notes(self) -> tuple[str, ...]:
        """What the evidence does not cover, in sentences (for the answer's notes)."""
        out: list[str] = []
        if self.failed:
            names = [name for name, _ in self.failed]
            out.append(f"upstream: {', '.join(names)} could not say ({self.failed[0][1][:120]}"
                       f"{'; ...' if len(names) > 1 else ''}): nothing from {'them' if len(names) > 1 else 'it'} "
                       "is counted")
        if self.pending:
            out.append(f"upstream: {', '.join(self.pending)} still pending when this answer was made: "
                       "what they find is not counted here")
        return tuple(out)

    def to_dict(self) -> dict[str, Any]:
        return {"report_index": self.report_index, "items": [i.to_dict() for i in self.items],
                "answered": list(self.answered), "failed": [{"source": s, "why": w} for s, w in self.failed],
                "pending": list(self.pending), "complete": self.complete}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> UpstreamEvidence:
        return cls(report_index=int(d.get("report_index") or 0),
                   items=tuple(UpstreamItem.from_dict(i) for i in d.get("items") or ()),
                   answered=tuple(d.get("answered") or ()),
                   failed=tuple((str(f["source"]), str(f.get("why") or "")) for f in d.get("failed") or ()),
                   pending=tuple(d.get("pending") or ()))


@dataclass(frozen=True, slots=True)
class EvidenceWeights:
    """What each upstream signal adds to a candidate's raw score (log-odds, like the catalog
    signals). Chosen on half A of the dev corpus with a local upstream replay
    (``benchmarks/e2e_upstream.py --tune``) and reported on both halves."""

    upstream_fix: float = 4.0
    upstream_fix_search: float = 0.5
    upstream_other: float = -4.0  # -2.0 before tuning; half A's net confident count is best at -4
    # The "upstream-fix" rule: an item about this crash names the top candidate's fix, the top
    # stands out (the usual share of the probability) and the catalog itself scores it above this
    # raw score: upstream answers the "looks new" doubt that the absolute threshold guards against.
    # The dev replay does not constrain it (the same figures for 0, 0.25, 0.5 and 1.0 with match-7's
    # weights), so it says what the rule means: the catalog's own evidence for the candidate is net
    # positive. (1.0 under match-5; match-6's trace_miss/subject_miss penalties lower the raw score of
    # a candidate whose quoted trace lacks the guilty function, such as the sys_inotify_rm_watch
    # lockup against 172e422ffea2 of the issue: raw 1.9 under match-5, 0.33 under match-7.)
    upstream_min_raw: float = 0.0

    def of(self, signal: str) -> float:
        value: float = getattr(self, signal)
        return value


DEFAULT_EVIDENCE_WEIGHTS = EvidenceWeights()


@dataclass(frozen=True, slots=True)
class EvidenceUse:
    """What one upstream item says about one candidate, and what it added to its raw score."""

    signal: str  # one of SIGNALS
    weight: float  # added to the raw score (a signal counts once: later items of it add 0)
    source: str
    ref: str
    url: str | None
    says: str  # "bugzilla bug 299901 (same crash title) names its fix 172e422ffea2"
    promotes: bool = False  # names the candidate's fix in a way that may make it confident

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "weight": round(self.weight, 4), "source": self.source, "ref": self.ref,
                "url": self.url, "says": self.says, "promotes": self.promotes}


# --------------------------------------------------------------------------- titles and commits

_TAGS = re.compile(r"^\s*(?:\[[^\]]{0,80}\]\s*)+")
_REPLY = re.compile(r"^\s*(?:re|aw|sv|fwd?)\s*:\s*", re.IGNORECASE)
_RECURRENCE = re.compile(r"\s+\(\d+\)$")
_HEX = re.compile(r"^[0-9a-f]{12,40}$")


def crash_title(text: str) -> str:
    """An upstream subject or summary as a crash-title key: "Re:" and "[syzbot] [fs?]" tags, syzbot's
    " (N)" recurrence suffix and case dropped, whitespace collapsed."""
    t = text or ""
    while True:
        stripped = _TAGS.sub("", _REPLY.sub("", t, count=1), count=1)
        if stripped == t:
            break
        t = stripped
    return _RECURRENCE.sub("", " ".join(t.split())).lower()


def same_title(text: str, titles: Sequence[str]) -> bool:
    """``text`` (an upstream subject) is one of the crash ``titles``, or ends with one at a word
    boundary ("watchdog: BUG: soft lockup in f" holds "BUG: soft lockup in f", not "... in f_other")."""
    t = crash_title(text)
    if not t:
        return False
    for title in titles:
        k = crash_title(title)
        if k and (t == k or (t.endswith(k) and not (t[-len(k) - 1].isalnum() or t[-len(k) - 1] == "_"))):
            return True
    return False


def same_commit(a: str, b: str) -> bool:
    """Two commit ids (12..40 hex) name the same commit: one is a prefix of the other."""
    a, b = a.lower(), b.lower()
    n = min(len(a), len(b))
    return n >= MIN_SHA and a[:n] == b[:n]


def _subject_key(subject: str) -> str:
    return " ".join(_TAGS.sub("", _REPLY.sub("", subject or "")).split()).lower().rstrip(".")


# --------------------------------------------------------------------------- what an item says


@dataclass(frozen=True, slots=True)
class _Fix:
    """The candidate's fix, as compared with upstream items."""

    shas: tuple[str, ...]
    subjects: frozenset[str]
    introduced: str | None


@dataclass(frozen=True, slots=True)
class ClaimRule:
    """One way an item can speak about a candidate: ``test`` returns the words, or None."""

    name: str
    names_fix: bool  # True: the item names the candidate's fix; False: it names another one
    test: Callable[[UpstreamItem, _Fix], str | None]


def _names_commit(item: UpstreamItem, fix: _Fix) -> str | None:
    hit = next((c for c in item.commits for s in fix.shas if _HEX.match(c.lower()) and same_commit(c, s)), None)
    return f"names its fix {hit[:12]}" if hit else None


def _answered_by_fix(item: UpstreamItem, fix: _Fix) -> str | None:
    for p in item.patches:
        if (p.commit and any(same_commit(p.commit, s) for s in fix.shas)) or _subject_key(p.subject) in fix.subjects:
            how = f" ({p.link})" if p.link else ""
            return f"is answered by its fix's patch \"{p.subject[:120]}\"{how}"
    return None


def _is_fix_patch(item: UpstreamItem, fix: _Fix) -> str | None:
    if item.kind == "patch" and _subject_key(item.title) in fix.subjects:
        return "is its fix's patch"
    return None


def _names_other(item: UpstreamItem, fix: _Fix) -> str | None:
    others = [c for c in item.commits if _HEX.match(c.lower())
              and not any(same_commit(c, s) for s in fix.shas)
              and not (fix.introduced and same_commit(c, fix.introduced))]
    if others and len(others) == len(item.commits):
        return f"names another fix ({', '.join(c[:12] for c in others[:3])})"
    return None


# Ordered: the first rule that speaks decides what the item says about the candidate.
CLAIM_RULES: tuple[ClaimRule, ...] = (
    ClaimRule("names-fix-commit", True, _names_commit),  # bugzilla comment, syzbot fix-commits, backport
    ClaimRule("answered-by-fix-patch", True, _answered_by_fix),  # a lore thread whose patch is the fix
    ClaimRule("is-fix-patch", True, _is_fix_patch),  # the fix's own posting, found by search
    ClaimRule("names-other-commit", False, _names_other),  # upstream says another commit fixed it
)


def _fix_of(bug: KnownBug) -> _Fix:
    return _Fix(shas=tuple(f.sha.lower() for f in bug.fixes if f.sha),
                subjects=frozenset(k for k in (_subject_key(f.subject) for f in bug.fixes) if k),
                introduced=bug.introduced.sha.lower() if bug.introduced and bug.introduced.sha else None)


@dataclass(frozen=True, slots=True)
class Crash:
    """What an upstream title is compared with: the report's crash titles, and the functions at the
    top of its stack (the guilty function, the first frames)."""

    titles: tuple[str, ...]
    functions: frozenset[str] = frozenset()
    recurrent: bool = False  # upstream shows the title filed again as a new bug ("X (2)"): titles tie nothing

    @classmethod
    def of(cls, q: QueryFeatures, items: Sequence[UpstreamItem] = ()) -> Crash:
        keys = {crash_title(t) for t in q.titles}
        recurrent = any(_RECURRENCE.search(" ".join(i.title.split())) and crash_title(i.title) in keys
                        for i in items if i.kind != "patch")
        return cls(titles=q.titles, functions=frozenset((*q.guilty[:1], *q.sequence[:TOP_FRAMES])),
                   recurrent=recurrent)


TOP_FRAMES = 1  # frames of the report (beside the guilty function) a similar title may name


def similar_title(text: str, crash: Crash) -> bool:
    """``text`` says the same kind of crash as one of the report's titles ("BUG: soft lockup in"),
    in a function at the top of the report's stack: the same crash titled from another frame
    (a person's "watchdog: BUG: soft lockup in <RIP function>" for our "... in <syscall>")."""
    t = crash_title(text)
    head, sep, fn = t.rpartition(" in ")
    if not sep or not fn or norm_function(fn.split()[0]) not in crash.functions:
        return False
    for title in crash.titles:
        k_head, k_sep, _ = crash_title(title).rpartition(" in ")
        if k_sep and (head == k_head or head.endswith(" " + k_head) or head.endswith(": " + k_head)):
            return True
    return False


def _about_this_crash(item: UpstreamItem, crash: Crash) -> str | None:
    """Why ``item`` is about the report's own crash, or None (found by a search only)."""
    if item.found is Found.LOG:
        return "named in the log"
    if crash.recurrent:  # syzbot filed this title again as a new bug: the title names several bugs
        return None
    if item.found is Found.TITLE:
        return "same crash title"
    if item.kind != "patch" and same_title(item.title, crash.titles):
        return "same crash title"
    if item.kind != "patch" and similar_title(item.title, crash):
        return "same kind of crash in the same function"
    return None


def _item_name(item: UpstreamItem) -> str:
    if item.source == "bugzilla":
        return f"bugzilla {item.ref}"
    if item.source == "syzbot":
        return f"syzbot bug \"{item.title[:100]}\""
    return f"lore {item.kind} <{item.ref}>"


def uses_for(bug: KnownBug, crash: Crash, evidence: UpstreamEvidence,
             weights: EvidenceWeights = DEFAULT_EVIDENCE_WEIGHTS) -> tuple[EvidenceUse, ...]:
    """What each item of ``evidence`` says about ``bug`` (``crash``: the report's titles and top functions)."""
    fix = _fix_of(bug)
    said_all: list[tuple[str, UpstreamItem, str, bool]] = []  # (signal, item, words, promotes)
    for item in evidence.items:
        if not item.names_fixes:
            continue
        for rule in CLAIM_RULES:
            said = rule.test(item, fix)
            if said is None:
                continue
            why = _about_this_crash(item, crash)
            if rule.names_fix:
                signal = "upstream_fix" if why else "upstream_fix_search"
                promote = why is not None  # a search hit alone promotes nothing, whatever it names
            elif why:
                signal, promote = "upstream_other", False
            else:
                break  # a search hit naming other fixes says nothing about this candidate
            found = why or "found by a search for the report's functions"
            said_all.append((signal, item, f"{_item_name(item)} ({found}) {said}", promote))
            break
    signals = {signal for signal, *_ in said_all}
    counted: set[str] = set()
    out: list[EvidenceUse] = []
    for signal, item, words, promote in said_all:
        # each signal counts once; a search hit adds nothing beside an item about this very crash
        live = signal not in counted and not (signal == "upstream_fix_search" and "upstream_fix" in signals)
        counted.add(signal)
        out.append(EvidenceUse(signal=signal, weight=weights.of(signal) if live else 0.0, source=item.source,
                               ref=item.ref, url=item.url, says=words, promotes=promote))
    return tuple(out)


@dataclass(frozen=True, slots=True)
class Reweighed:
    """The ranking with upstream signals added: best first, and what upstream said per candidate."""

    ranked: list[Scored]
    uses: dict[int, tuple[EvidenceUse, ...]] = field(default_factory=dict)  # bug index -> uses

    def of(self, s: Scored) -> tuple[EvidenceUse, ...]:
        return self.uses.get(s.bug_index, ())


def reweigh(q: QueryFeatures, ranked: Sequence[Scored], bugs: Sequence[KnownBug], evidence: UpstreamEvidence,
            weights: EvidenceWeights = DEFAULT_EVIDENCE_WEIGHTS) -> Reweighed:
    """``ranked`` with each candidate's upstream signals added to its raw score, re-sorted.

    The signals appear in ``signals`` (value 1) with their weight in ``weights``, so ``contributions``,
    explanations and benchmarks read them as they read the catalog signals.
    """
    uses: dict[int, tuple[EvidenceUse, ...]] = {}
    out: list[Scored] = []
    crash = Crash.of(q, evidence.items)
    for s in ranked:
        found = uses_for(bugs[s.bug_index], crash, evidence, weights) if evidence.items else ()
        if not found:
            out.append(s)
            continue
        uses[s.bug_index] = found
        add = {u.signal: u.weight for u in found if u.weight}
        out.append(replace(s, raw=s.raw + sum(add.values()),
                           signals={**s.signals, **dict.fromkeys(add, 1.0)},
                           weights={**s.weights, **add}))  # a copy for these few candidates only
    out.sort(key=lambda s: -s.raw)  # stable: ties keep the catalog order
    return Reweighed(out, uses)


def names_fix_of_this_crash(uses: Sequence[EvidenceUse]) -> bool:
    """An item about this very crash names the candidate's fix (the "upstream-fix" rule's condition)."""
    return promotes(uses) and any(u.signal == "upstream_fix" for u in uses)


def catalog_raw(s: Scored) -> float:
    """The raw score without the upstream signals."""
    return s.raw - sum(v for k, v in s.contributions.items() if k in SIGNALS)


def promotes(uses: Sequence[EvidenceUse]) -> bool:
    """Whether these uses may make their candidate confident (an item names its fix, not a search
    hit alone) — and no item about this crash names another fix."""
    return any(u.promotes for u in uses) and not any(u.signal == "upstream_other" for u in uses)


def describe(uses: Sequence[EvidenceUse]) -> str:
    """The uses in one clause for a match's explanation."""
    parts = []
    for u in uses[:4]:
        bits = [f"{u.weight:+.2f}"] if u.weight else []
        bits += [u.url] if u.url else []
        parts.append(u.says + (f" ({', '.join(bits)})" if bits else ""))
    more = f" and {len(uses) - 4} more" if len(uses) > 4 else ""
    return "upstream: " + "; ".join(parts) + more
