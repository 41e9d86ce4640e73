"""Signature: what the matcher compares. Exact keys (titles) and a fuzzy key (frame sequence)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sigmatch.trace.model import Kind, Report


@dataclass(frozen=True, slots=True)
class Signature:
    kind: Kind
    title: str
    alt_titles: tuple[str, ...]
    frames: tuple[str, ...]  # top N normalized, reliable, non-generic function names, in order
    guilty_function: str | None
    files: tuple[str, ...] = ()  # source files of the frames when the trace is symbolized
    modules: tuple[str, ...] = ()
    low_information: bool = False
    corrupted: bool = False
    rules_version: str = ""

    @property
    def keys(self) -> tuple[str, ...]:
        """Exact keys: title first, then alternative titles."""
        return (self.title, *self.alt_titles)

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "title": self.title,
            "alt_titles": list(self.alt_titles),
            "frames": list(self.frames),
            "guilty_function": self.guilty_function,
            "files": list(self.files),
            "modules": list(self.modules),
            "low_information": self.low_information,
            "corrupted": self.corrupted,
            "rules_version": self.rules_version,
        }


def signature_of(report: Report, depth: int = 12) -> Signature:
    """Placeholder body replaced by the parser work: see sigmatch/trace/parse.py."""
    frames = tuple(f.function for f in report.frames if f.reliable and not f.skipped)[:depth]
    files = tuple(dict.fromkeys(f.file for f in report.frames if f.file and not f.skipped))[:depth]
    return Signature(
        kind=report.kind,
        title=report.title,
        alt_titles=report.alt_titles,
        frames=frames,
        guilty_function=report.guilty_frame,
        files=files,
        modules=tuple(dict.fromkeys(f.module for f in report.frames if f.module)),
        low_information=len(frames) < 2,
        corrupted=report.corrupted,
        rules_version=report.rules_version,
    )
