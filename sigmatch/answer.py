"""The one core call: a log in, an :class:`Answer` out (reports, signature, ranked matches, verdicts).

Callers that may do I/O (web, chat, worker, CLI) add upstream results to ``Answer.upstream``.
Imports no web, Redis or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sigmatch.catalog.model import KernelVersion
from sigmatch.match.model import Match
from sigmatch.trace.model import Report
from sigmatch.trace.signature import Signature


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
