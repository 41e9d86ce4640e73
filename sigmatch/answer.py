"""The one core call: a log in, an :class:`Answer` out (reports, signature, ranked matches, verdicts).

Callers that may do I/O (web, chat, worker, CLI) add upstream results to ``Answer.upstream``.
Imports no web, Redis or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from sigmatch.catalog.model import KernelVersion
from sigmatch.catalog.versions import parse_kernel_version, verdict, version_from_log
from sigmatch.match.matcher import ALGORITHM_VERSION, Matcher
from sigmatch.match.model import Match
from sigmatch.textio import decode_log
from sigmatch.trace.model import Report
from sigmatch.trace.parse import RULES_VERSION, parse_log
from sigmatch.trace.signature import Signature, signature_of


@dataclass(frozen=True, slots=True)
class Answer:
    reports: tuple[Report, ...]
    signature: Signature | None  # of the primary report
    matches: tuple[Match, ...]  # best first
    kernel: KernelVersion | None
    rules_version: str
    algorithm_version: str
    catalog_version: str
    notes: tuple[str, ...] = ()
    upstream: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def top(self) -> Match | None:
        return self.matches[0] if self.matches else None

    @property
    def confident(self) -> bool:
        return bool(self.matches) and self.matches[0].confident

    def to_dict(self) -> dict[str, Any]:
        return {
            "reports": [r.to_dict() for r in self.reports],
            "signature": self.signature.to_dict() if self.signature else None,
            "matches": [m.to_dict() for m in self.matches],
            "confident": self.confident,
            "kernel": self.kernel.to_dict() if self.kernel else None,
            "rules_version": self.rules_version,
            "algorithm_version": self.algorithm_version,
            "catalog_version": self.catalog_version,
            "notes": list(self.notes),
            "upstream": self.upstream,
        }


# Reports after the primary one that are also matched when the primary one is corrupted or has too
# little information to match (a log may start with a truncated oops; a full one comes later).
_MAX_EXTRA_REPORTS = 2


def analyze(text: str | bytes, matcher: Matcher, *, top: int = 5, kernel: str | None = None) -> Answer:
    """The one core call: parse a log, match its primary report, attach verdicts.

    ``text`` is the pasted log (bytes are decoded as :func:`sigmatch.textio.decode_log` does);
    ``kernel`` overrides the kernel version found in the log. The primary report is matched; when
    it is corrupted or low-information, up to two more reports of the log are tried and a
    confident match of one of them is used (``Match.report_index`` says which). Raises
    :class:`~sigmatch.errors.InputError` for empty or binary input.
    """
    log = decode_log(text)
    notes: list[str] = []
    reports = tuple(parse_log(log))
    kv: KernelVersion | None = None
    if kernel:
        kv = parse_kernel_version(kernel)
        if kv is None:
            notes.append(f"kernel version {kernel!r} not understood; using the log's")
    if kv is None:
        for r in reports:
            if r.kernel_version:
                kv = parse_kernel_version(r.kernel_version)
                if kv is not None:
                    break
    if kv is None:
        kv = version_from_log(log)
    rules = reports[0].rules_version if reports and reports[0].rules_version else RULES_VERSION
    if not reports:
        notes.append("no kernel crash report found in the log")
        return Answer((), None, (), kv, rules, ALGORITHM_VERSION, matcher.catalog_version, tuple(notes))
    primary = reports[0]
    sig = signature_of(primary)
    if primary.out_of_tree:
        notes.append(f"the crash is in the out-of-tree module {primary.out_of_tree}: report it to its maintainers "
                     "(no in-tree fix is suggested with confidence)")
    if primary.corrupted:
        notes.append(f"the primary report is corrupted ({primary.corrupted_reason or 'no usable stack'}): "
                     "no confident match is given")
    elif sig.low_information:
        notes.append("the primary report has too little specific information for a confident match")
    matches = matcher.match(primary, top=top, kernel=kv, report_index=0, signature=sig)
    if primary.corrupted or sig.low_information:
        for idx, other in enumerate(reports[1:1 + _MAX_EXTRA_REPORTS], start=1):
            alt = matcher.match(other, top=top, kernel=kv, report_index=idx)
            if alt and alt[0].confident:
                notes.append(f"report {idx} ({other.title}) matched confidently; the primary report cannot")
                matches = alt
                break
    if not matches:
        notes.append("no known bug shares evidence with this report")
    elif not matches[0].confident:
        notes.append("no confident match: the ranked candidates are suggestions, not an answer")
    if kv is None:
        notes.append("no kernel version found in the log: verdicts are unknown")
    with_verdicts = tuple(replace(m, verdict=verdict(m.bug, kv)) for m in matches)
    return Answer(
        reports=reports,
        signature=sig,
        matches=with_verdicts,
        kernel=kv,
        rules_version=rules,
        algorithm_version=ALGORITHM_VERSION,
        catalog_version=matcher.catalog_version,
        notes=tuple(notes),
    )
