"""Signature: what the matcher compares. Exact keys (titles) and a fuzzy key (frame sequence)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sigmatch.trace import rules
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
    truncated: bool = False  # a partial report (see Report.truncated): decided by the partial-report rule
    # False when the title names no crash class (a banner-less excerpt titled by its frames) or
    # no location (a corrupted report): then it is no exact key, only a label
    title_is_key: bool = True

    @property
    def keys(self) -> tuple[str, ...]:
        """Exact keys: title first (when it is one), then alternative titles."""
        return (self.title, *self.alt_titles) if self.title_is_key else self.alt_titles

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
            "truncated": self.truncated,
            "title_is_key": self.title_is_key,
            "rules_version": self.rules_version,
        }


# A signature with fewer specific frames than this is "low information": it must not be
# auto-matched confidently (all-generic stacks glue unrelated bugs together). A truncated report
# (cut after its RIP line) has one strong frame, the faulting function: enough for the matcher's
# partial-report rule, which asks more of the other evidence.
MIN_SPECIFIC_FRAMES = 2
MIN_SPECIFIC_FRAMES_TRUNCATED = 1


@lru_cache(maxsize=16384)
def _is_glue(function: str) -> bool:
    """Entry/exit glue (rules/signature_glue.txt), memoized: a union of ~50 regexes per frame
    costs more than the rest of the signature, and the same function names come back."""
    return rules.pattern_union("signature_glue.txt").search(function) is not None


def fuzzy_frames(report: Report, depth: int = 12) -> tuple[str, ...]:
    """The fuzzy key: normalized, reliable, non-generic frames, top first.

    For hung tasks the key starts at the waiter the title names (the frames above are the
    scheduler and the sleeping lock, the same in every hang); for other crashes at the first
    specific frame (the faulting function, the stalled loop). Entry/exit glue
    (rules/signature_glue.txt) is dropped too. Consecutive duplicates (recursion, a RIP frame
    repeated as the first trace entry) collapse.
    """
    usable = [f for f in report.frames if f.reliable and not f.skipped and not f.inline and not _is_glue(f.function)]
    start = 0
    if report.guilty_frame and report.kind is Kind.HUNG_TASK:
        # A blocked task's stack starts with the scheduler and the lock it sleeps on: the key
        # starts at the waiter the title names.
        for i, f in enumerate(usable):
            if f.function == report.guilty_frame:
                start = i
                break
    out: list[str] = []
    for f in usable[start:]:
        if out and out[-1] == f.function:
            continue
        out.append(f.function)
        if len(out) >= depth:
            break
    return tuple(out)


def signature_of(report: Report, depth: int = 12) -> Signature:
    """What the matcher compares: exact keys (title, alternative titles) and a fuzzy frame key."""
    frames = fuzzy_frames(report, depth)
    files = tuple(dict.fromkeys(f.file for f in report.frames if f.file and not f.skipped and f.reliable))[:depth]
    specific = len(frames)
    if report.guilty_frame and report.guilty_frame not in frames:
        specific += 1
    title, alt_titles = report.title, report.alt_titles
    title_is_key = True
    if report.extra.get("title_from") == "frames":
        # A banner-less excerpt (mail quote, CVE description) titled by its top frame: that
        # title names no crash class, so it is no exact key; the frames stay the key.
        title_is_key, alt_titles = False, ()
    elif report.corrupted and report.guilty_frame is None:
        title_is_key = False  # "BUG: soft lockup": the crash class only, the same for every such bug
    need = MIN_SPECIFIC_FRAMES_TRUNCATED if report.truncated and report.guilty_frame else MIN_SPECIFIC_FRAMES
    return Signature(
        kind=report.kind,
        title=title,
        alt_titles=alt_titles,
        frames=frames,
        guilty_function=report.guilty_frame,
        files=files,
        modules=tuple(dict.fromkeys(f.module for f in report.frames if f.module)),
        low_information=specific < need or report.corrupted,
        corrupted=report.corrupted,
        rules_version=report.rules_version,
        truncated=report.truncated,
        title_is_key=title_is_key,
    )
