"""The one core call: a log in, an :class:`Answer` out (reports, signatures, ranked matches, verdicts).

Every crash report of a log is answered (up to :data:`MAX_ANSWERED` distinct ones), each with its
own ranked matches and verdicts (:class:`ReportAnswer`); a report that repeats an earlier one (same
signature: a lockup reported every 20 seconds) is answered once. The *primary* answer, whose matches
are ``Answer.matches`` (the shape every caller knew before logs were answered per report), is the
first report matched confidently, else the log's first report.

Callers that may do I/O (web, chat, worker, CLI) add upstream results to ``Answer.upstream``, and
may answer again with what upstream said as plain values (``analyze(..., evidence=...)``,
:mod:`sigmatch.match.evidence`): it moves the scores of the report it is about, and the answer's
notes say what it changed and which sources it does not cover. Imports no web, Redis or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sigmatch.advice import advise, answer_summary, report_state
from sigmatch.catalog.model import KernelVersion, Verdict
from sigmatch.catalog.versions import verdict
from sigmatch.errors import InputError
from sigmatch.match.evidence import UpstreamEvidence
from sigmatch.match.matcher import ALGORITHM_VERSION, Matcher
from sigmatch.match.model import Match
from sigmatch.textio import decode_log
from sigmatch.trace.kversion import parse_kernel_version, same_build, version_from_log, with_log_details
from sigmatch.trace.model import Report
from sigmatch.trace.parse import RULES_VERSION, parse_log
from sigmatch.trace.signature import Signature, signature_of

__all__ = ["MAX_ANSWERED", "MIN_LISTED_SCORE", "Answer", "ReportAnswer", "analyze", "lookup_target", "match_dict"]

# Distinct reports matched per log: a hostile or very long log may hold thousands of reports; the
# rest are listed (``Answer.reports``) but not matched, and a note says so.
MAX_ANSWERED = 20
# A candidate whose score shows as 0.00 shares almost nothing with the report: it is not listed.
MIN_LISTED_SCORE = 0.005


def match_dict(m: Match) -> dict[str, Any]:
    """``Match.to_dict()`` plus the words for it (:func:`sigmatch.advice.advise`)."""
    d = m.to_dict()
    d["advice"] = advise(m).to_dict()
    return d


class _Ranked:
    """``top`` and ``confident`` of anything holding ranked ``matches`` (best first)."""

    __slots__ = ()
    matches: tuple[Match, ...]

    @property
    def top(self) -> Match | None:
        return self.matches[0] if self.matches else None

    @property
    def confident(self) -> bool:
        return bool(self.matches) and self.matches[0].confident


@dataclass(frozen=True, slots=True)
class ReportAnswer(_Ranked):
    """The answer for one crash report of a log."""

    index: int  # the report's position in ``Answer.reports`` (0-based; people read "report index+1")
    report: Report
    signature: Signature
    matches: tuple[Match, ...]  # best first, each with its verdict
    notes: tuple[str, ...] = ()
    repeats: tuple[int, ...] = ()  # later reports with the same signature, answered by this one

    def to_dict(self) -> dict[str, Any]:
        return {
            "report_index": self.index,
            "title": self.report.title,
            "kind": self.report.kind.value,
            "confident": self.confident,
            "signature": self.signature.to_dict(),
            "matches": [match_dict(m) for m in self.matches],
            "state": report_state(self.report),  # out-of-tree / corrupted / cut short, in words
            "notes": list(self.notes),
            "repeats": list(self.repeats),
        }


@dataclass(frozen=True, slots=True)
class Answer(_Ranked):
    reports: tuple[Report, ...]
    signature: Signature | None  # of the primary answer's report
    matches: tuple[Match, ...]  # the primary answer's, best first
    kernel: KernelVersion | None
    rules_version: str
    algorithm_version: str
    catalog_version: str
    notes: tuple[str, ...] = ()
    upstream: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    answers: tuple[ReportAnswer, ...] = ()  # one per distinct report, in log order
    primary: int = 0  # index into ``answers`` of the primary answer
    evidence: UpstreamEvidence | None = field(default=None, hash=False, compare=False)  # counted upstream

    def __post_init__(self) -> None:
        # An Answer built by hand with reports and matches only (tests, older callers) still has
        # its one report answer, so every renderer can walk ``answers``.
        if not self.answers and self.reports:
            index = self.matches[0].report_index if self.matches else 0
            if not 0 <= index < len(self.reports):
                index = 0
            report = self.reports[index]
            sig = self.signature or signature_of(report)
            object.__setattr__(self, "answers", (ReportAnswer(index, report, sig, self.matches),))
            object.__setattr__(self, "primary", 0)

    @property
    def primary_answer(self) -> ReportAnswer | None:
        return self.answers[self.primary] if self.answers else None

    @property
    def primary_report(self) -> Report | None:
        """The report the top-level matches answer (the upstream lookup asks about this one)."""
        pa = self.primary_answer
        if pa is not None:
            return pa.report
        return self.reports[0] if self.reports else None

    @property
    def ordered(self) -> tuple[ReportAnswer, ...]:
        """The answered reports in the order a reply shows them: the confident ones first (best
        score first), then the others in log order.

        A later report of the same kind as a usable first report (the other blocked tasks of one
        hung-task dump, the same warning again on another CPU) belongs to the first report's event:
        it is answered, but it does not go before the first report. Leading with such reports made
        the first thing shown confidently wrong on 3.7% of the dev e2e positives (the top-level
        answer: 1.2%); see ``benchmarks/multi_report.py --e2e``.
        """
        leads = sorted((ra for ra in self.answers if ra.confident and not self._follow_on(ra)),
                       key=lambda ra: (-(ra.top.score if ra.top else 0.0), ra.index))
        chosen = {ra.index for ra in leads}
        return (*leads, *(ra for ra in self.answers if ra.index not in chosen))

    def _follow_on(self, ra: ReportAnswer) -> bool:
        first = self.answers[0] if self.answers else None
        return (first is not None and ra is not first and ra.report.kind is first.report.kind
                and not first.report.corrupted and not first.signature.low_information)

    @property
    def lead(self) -> ReportAnswer | None:
        """The answer a reply leads with (the best confident report, else the first): the upstream
        lookup asks about its report and its fix."""
        ordered = self.ordered
        return ordered[0] if ordered else None

    @property
    def summary(self) -> str:
        return answer_summary(self)

    def to_dict(self) -> dict[str, Any]:
        pa = self.primary_answer
        return {
            "summary": self.summary,
            "reports": [r.to_dict() for r in self.reports],
            "signature": self.signature.to_dict() if self.signature else None,
            "matches": [match_dict(m) for m in self.matches],
            "confident": self.confident,
            "primary_report": pa.index if pa is not None else None,
            "answers": [ra.to_dict() for ra in self.answers],
            "kernel": self.kernel.to_dict() if self.kernel else None,
            "rules_version": self.rules_version,
            "algorithm_version": self.algorithm_version,
            "catalog_version": self.catalog_version,
            "notes": list(self.notes),
            "upstream": self.upstream,
            "upstream_evidence": self.evidence.to_dict() if self.evidence is not None else None,
        }


def _kernel_override(kernel: str) -> KernelVersion:
    kv = parse_kernel_version(kernel)
    if kv is None:
        raise InputError(f"kernel version {kernel[:80]!r} not understood (expected what `uname -r` prints, "
                         "e.g. 5.15.0-91-generic or 6.1.31)", reason="bad_kernel")
    return kv


def _log_kernel(reports: tuple[Report, ...], log: str) -> KernelVersion | None:
    """The log's kernel: the first version the parser read from a report (as the whole log tells it:
    Debian's and Ubuntu's boot banners add the upstream base), else one found anywhere in the log."""
    for r in reports:
        if r.kernel_version:
            kv = parse_kernel_version(r.kernel_version)
            if kv is not None:
                return with_log_details(kv, log)
    return version_from_log(log)


def _report_kernel(report: Report, log_kv: KernelVersion | None) -> KernelVersion | None:
    """The kernel of one report: the version the parser read from it, else the log's."""
    own = parse_kernel_version(report.kernel_version) if report.kernel_version else None
    if own is None or (log_kv is not None and same_build(own, log_kv)):
        return log_kv
    return own


def _dedup_key(sig: Signature) -> tuple[object, ...]:
    return (sig.kind, sig.title, sig.alt_titles, sig.frames, sig.guilty_function, sig.corrupted)


def _report_notes(n: int, report: Report, sig: Signature, matches: tuple[Match, ...]) -> list[str]:
    """What to know about one report's answer (``n`` is the 1-based report number)."""
    notes: list[str] = []
    which = "the primary report" if n == 1 else f"report {n}"
    if report.corrupted:
        notes.append(f"{which} is corrupted ({report.corrupted_reason or 'no usable stack'}): "
                     "no confident match is given")
    elif sig.low_information:
        notes.append(f"{which} has too little specific information for a confident match")
    if not matches:
        notes.append("no known bug shares evidence with this report")
    elif not matches[0].confident:
        notes.append("no confident match: the ranked candidates are suggestions, not an answer")
    return notes


def _primary(answers: list[ReportAnswer]) -> int:
    """Which answer's matches are ``Answer.matches``: the first report's, unless it cannot be matched
    (corrupted, low information) and a later report is matched confidently.

    A later confident report does not replace a first report that is a usable crash of its own:
    on the dev corpus (``e2e.py``) that raised confident-wrong top matches from 1.2% to 3.7% (the
    other blocked tasks of one hung-task dump, a follow-on report). It is answered, and named
    first in the summary, in its own ``ReportAnswer``.
    """
    first = answers[0]
    if not (first.report.corrupted or first.signature.low_information):
        return 0
    return next((pos for pos, ra in enumerate(answers) if ra.confident), 0)


class _Verdicts:
    """The verdicts of one log's answers: a known bug that several reports of the log match (the
    same kernel, the same bug) is judged once."""

    __slots__ = ("_done",)

    def __init__(self) -> None:
        self._done: dict[tuple[str, KernelVersion | None], Verdict] = {}

    def of(self, m: Match, kv: KernelVersion | None) -> Verdict:
        key = (m.bug.id, kv)
        v = self._done.get(key)
        if v is None:
            v = self._done[key] = verdict(m.bug, kv)
        return v


def _evidence_notes(ev: UpstreamEvidence, matches: tuple[Match, ...]) -> list[str]:
    """What the upstream evidence changed for the report it is about (``matches``: its answer's),
    and what it does not cover."""
    notes: list[str] = []
    top = matches[0] if matches else None
    which = f"report {ev.report_index + 1}"
    if top is not None and top.upstream:
        said = "; ".join(u.says for u in top.upstream[:3])
        if top.confident and "+upstream" in top.rule:
            notes.append(f"upstream evidence made {which}'s match confident: {said}")
        elif top.rule.endswith(":upstream-against"):
            notes.append(f"upstream evidence took the confidence from {which}'s match: {said}")
        else:
            notes.append(f"upstream evidence counted for {which}'s match: {said}")
    elif top is not None and top.rule.endswith(":upstream-against"):
        notes.append(f"upstream evidence for another candidate took the confidence from {which}'s match")
    elif ev.items:
        notes.append(f"upstream: {len(ev.items)} item{'s' if len(ev.items) != 1 else ''} found for {which}; "
                     "none names the top candidate's fix, so the catalog answer stands")
    notes.extend(ev.notes())
    return notes


def analyze(text: str | bytes, matcher: Matcher, *, top: int = 5, kernel: str | None = None,
            evidence: UpstreamEvidence | None = None) -> Answer:
    """The one core call: parse a log, match each of its crash reports, attach verdicts.

    ``text`` is the pasted log (bytes are decoded as :func:`sigmatch.textio.decode_log` does);
    ``kernel`` overrides the kernel version found in the log. Every distinct report (at most
    :data:`MAX_ANSWERED`) is matched; the primary answer is the first confident one, else the first
    report's. ``evidence`` is what upstream said about report ``evidence.report_index``: it is
    handed to the matcher for that report (the others are matched as without it). Raises :class:`~sigmatch.errors.InputError` for empty or binary input and for a
    ``kernel`` that is not a kernel version (``reason="bad_kernel"``).
    """
    override = _kernel_override(kernel) if kernel else None
    log = decode_log(text)
    reports = tuple(parse_log(log))
    kv = override or _log_kernel(reports, log)
    rules = reports[0].rules_version if reports and reports[0].rules_version else RULES_VERSION
    if not reports:
        return Answer((), None, (), kv, rules, ALGORITHM_VERSION, matcher.catalog_version,
                      ("no kernel crash report found in the log",))
    answers, skipped = _answer_reports(reports, matcher, top=top, kv=kv, override=override, evidence=evidence)
    primary = _primary(answers)
    pa = answers[primary]
    return Answer(
        reports=reports,
        signature=pa.signature,
        matches=pa.matches,
        kernel=kv,
        rules_version=rules,
        algorithm_version=ALGORITHM_VERSION,
        catalog_version=matcher.catalog_version,
        notes=tuple(_answer_notes(answers, primary, skipped=skipped, kv=kv, evidence=evidence)),
        answers=tuple(answers),
        primary=primary,
        evidence=evidence,
    )


def _answer_reports(reports: tuple[Report, ...], matcher: Matcher, *, top: int, kv: KernelVersion | None,
                    override: KernelVersion | None, evidence: UpstreamEvidence | None,
                    ) -> tuple[list[ReportAnswer], int]:
    """One answer per distinct report (at most :data:`MAX_ANSWERED`, in log order), each built once:
    a later report with the same signature is listed in its ``repeats``, not matched again. Also
    returns how many distinct reports were left unmatched."""
    answered: list[tuple[int, Report, Signature, tuple[Match, ...], tuple[str, ...]]] = []
    seen: dict[tuple[object, ...], int] = {}  # dedup key -> position in ``answered``
    repeats: dict[int, list[int]] = {}
    verdicts = _Verdicts()
    skipped = 0
    for idx, report in enumerate(reports):
        sig = signature_of(report)
        key = _dedup_key(sig)
        if key in seen:
            repeats.setdefault(seen[key], []).append(idx)
            continue
        if len(answered) >= MAX_ANSWERED:
            skipped += 1
            continue
        rkv = override or _report_kernel(report, kv)
        ev = evidence if evidence is not None and evidence.report_index == idx else None
        found = matcher.match(report, top=top, kernel=rkv, report_index=idx, signature=sig, evidence=ev)
        ranked = tuple(replace(m, verdict=verdicts.of(m, rkv)) for m in found if m.score >= MIN_LISTED_SCORE)
        seen[key] = len(answered)
        report_notes = _report_notes(idx + 1, report, sig, ranked)
        if ev is not None:
            report_notes += _evidence_notes(ev, ranked)
        answered.append((idx, report, sig, ranked, tuple(report_notes)))
    answers = [ReportAnswer(idx, report, sig, ranked, report_notes, tuple(repeats.get(pos, ())))
               for pos, (idx, report, sig, ranked, report_notes) in enumerate(answered)]
    return answers, skipped


def _answer_notes(answers: list[ReportAnswer], primary: int, *, skipped: int, kv: KernelVersion | None,
                  evidence: UpstreamEvidence | None) -> list[str]:
    """The notes of the whole answer: which report leads and why, the primary's own notes, other
    confident reports, reports left unmatched, a missing kernel version, and the upstream evidence
    when it is about another report than the primary."""
    notes: list[str] = []
    pa = answers[primary]
    if primary:
        first = answers[0]
        notes.append(f"report {pa.index + 1} ({pa.report.title}) matched confidently; "
                     f"report {first.index + 1} ({first.report.title}) did not")
    notes.extend(pa.notes)
    if not pa.confident:
        later = [ra for ra in answers if ra.confident]
        if later:
            notes.append("matched confidently in other reports of this log: "
                         + "; ".join(f"report {ra.index + 1} ({ra.report.title})" for ra in later)
                         + " (see answers)")
    if skipped:
        notes.append(f"{skipped} more distinct report{'s' if skipped > 1 else ''} in the log not matched "
                     f"(at most {MAX_ANSWERED} are)")
    if kv is None:
        notes.append("no kernel version found in the log: verdicts are unknown")
    if evidence is not None and pa.index != evidence.report_index:  # the primary's notes hold them otherwise
        about = next((ra for ra in answers if ra.index == evidence.report_index), None)
        notes.extend(_evidence_notes(evidence, about.matches if about is not None else ()))
    return notes


def lookup_target(answer: Answer) -> tuple[int, list[str]]:
    """The report the upstream lookup asks about (the one the answer leads with: the best confident
    report, else the first) and the fixing commits already known (a confident top's), whose
    stable releases it also looks for."""
    lead = answer.lead
    top = lead.top if lead is not None else None
    fixes = [f.sha for f in top.bug.fixes] if top is not None and top.confident else []
    return (lead.index if lead is not None else 0), fixes
