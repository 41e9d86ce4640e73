"""Matcher output: :class:`Match` (one ranked candidate) with its explanation."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigmatch.catalog.model import KnownBug, Verdict
from sigmatch.match.evidence import EvidenceUse


@dataclass(frozen=True, slots=True)
class Match:
    bug: KnownBug
    score: float  # 0..1, comparable across bugs for one query
    confident: bool
    rule: str  # what decided: "exact-title", "alt-title", "frames", "evidence", ...
    signals: dict[str, float] = field(default_factory=dict)  # signal name -> contribution to score
    matched_frames: tuple[str, ...] = ()
    unmatched_frames: tuple[str, ...] = ()
    verdict: Verdict | None = None
    report_index: int = 0  # which report of the log matched
    explanation: str = ""  # one sentence a person can read
    algorithm_version: str = ""
    upstream: tuple[EvidenceUse, ...] = ()  # what upstream items said about this candidate

    @property
    def bug_id(self) -> str:
        return self.bug.id

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape shared by ``match --jsonl``, the API and the chat bot."""
        b = self.bug
        return {
            "bug_id": b.id,
            "title": b.title,
            "origin": b.origin.value,
            "score": round(self.score, 4),
            "confident": self.confident,
            "fixes": [{"sha": f.sha, "short": f.short, "subject": f.subject, "mainline": f.mainline,
                       "verified": f.verified} for f in b.fixes],
            "cves": list(b.cves),
            "stable_fixed": b.stable_fixed,
            "introduced": b.introduced.to_dict() if b.introduced else None,
            "references": [r.to_dict() for r in b.references],
            "verdict": self.verdict.to_dict() if self.verdict else None,
            "why": {
                "rule": self.rule,
                "signals": {k: round(v, 4) for k, v in self.signals.items()},
                "matched_frames": list(self.matched_frames),
                "unmatched_frames": list(self.unmatched_frames),
                "report_index": self.report_index,
                "explanation": self.explanation,
                "algorithm_version": self.algorithm_version,
                "upstream": [u.to_dict() for u in self.upstream],
            },
        }
