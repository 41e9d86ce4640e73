"""What refreshes learned about curated entries, laid over ``signatures/`` when the catalog loads.

``signatures/`` is written by people and never by a refresh. What a refresh finds out about a
curated entry — the stable release that carries its fix, read from kernel.org's ChangeLog, or an
upstream report of the same crash — is kept as a :class:`CuratedUpdate` per entry id. The updates
travel inside the catalog snapshot (so a new finding is a new snapshot version and every web
process picks it up), and :func:`apply_update` lays one over its curated entry at load time::

    overlay = {"fsnotify-mark-connector-race": CuratedUpdate(stable=(StableFix("4.14", "4.14.38", ...),), ...)}
    load_catalog()  ->  the curated entry, its 4.14 fact now verified with the ChangeLog as source

Rules of the overlay, in order of trust:
- a fact a person marked verified in ``signatures/`` is never replaced; a ChangeLog that disagrees
  is reported by the refresh (see ``conflicts``), not applied;
- an unverified curated fact is replaced by the verified one for its branch (same release: now
  verified; another release: corrected, and the refresh report says so);
- a branch the curated entry does not mention is added;
- references are appended when not already there (by kind and value), at most
  :data:`MAX_ATTACHED` per entry, newest findings first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sigmatch.catalog.model import KnownBug, Reference, StableFix, VendorFix

FORMAT = 1
MAX_ATTACHED = 20  # references a refresh may attach to one entry


@dataclass(frozen=True, slots=True)
class CuratedUpdate:
    """What refreshes learned about one curated entry."""

    bug_id: str
    stable: tuple[StableFix, ...] = ()  # verified by a ChangeLog; ``source`` names it
    references: tuple[Reference, ...] = ()  # upstream reports of this bug (``found`` says how)
    # ChangeLogs already read for a fix that do not carry it: "<sha12>@<version>" (released
    # ChangeLogs never change, so they are not fetched again)
    absent: tuple[str, ...] = ()
    # when a refresh last learned something new about this entry (when it last asked is in the
    # store's meta: asking and learning nothing must not make a new snapshot)
    updated: str | None = None
    # distribution kernels whose changelogs list the fix (sigmatch.catalog.vendor)
    vendor_fixes: tuple[VendorFix, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "bug_id": self.bug_id,
            "stable": [s.to_dict() for s in self.stable],
            "references": [r.to_dict() for r in self.references],
            "absent": list(self.absent),
            "updated": self.updated,
        }
        if self.vendor_fixes:  # absent in snapshots made before vendor changelogs were read
            d["vendor_fixes"] = [v.to_dict() for v in self.vendor_fixes]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CuratedUpdate:
        return cls(
            bug_id=str(d["bug_id"]),
            stable=tuple(StableFix(**s) for s in d.get("stable", ())),
            references=tuple(Reference(**r) for r in d.get("references", ())),
            absent=tuple(str(a) for a in d.get("absent", ())),
            updated=d.get("updated"),
            vendor_fixes=tuple(VendorFix(**v) for v in d.get("vendor_fixes", ())),
        )

    @property
    def empty(self) -> bool:
        return not (self.stable or self.references or self.absent or self.vendor_fixes)


Overlay = Mapping[str, CuratedUpdate]


def encode_overlay(overlay: Overlay) -> dict[str, Any]:
    return {bug_id: overlay[bug_id].to_dict() for bug_id in sorted(overlay)}


def decode_overlay(doc: Any) -> dict[str, CuratedUpdate]:
    """The overlay of a snapshot document (``{}`` for a snapshot written before overlays existed)."""
    if not isinstance(doc, Mapping):
        return {}
    return {str(k): CuratedUpdate.from_dict(v) for k, v in doc.items() if isinstance(v, Mapping)}


def merge_stable(curated: tuple[StableFix, ...], found: tuple[StableFix, ...]) -> tuple[StableFix, ...]:
    """The curated stable facts with the verified ``found`` ones laid over (the module's rules)."""
    out = list(curated)
    for fact in found:
        i = next((k for k, s in enumerate(out) if s.branch == fact.branch), None)
        if i is None:
            out.append(fact)
        elif not (out[i].verified and out[i].version):
            out[i] = replace(fact, introduced=out[i].introduced or fact.introduced)
    return tuple(out)


def apply_update(bug: KnownBug, update: CuratedUpdate) -> KnownBug:
    """``bug`` (a curated entry) with what refreshes learned about it."""
    stable = merge_stable(bug.stable, update.stable)
    have = {(r.kind, r.value) for r in bug.references}
    attached = tuple(r for r in update.references if (r.kind, r.value) not in have)[:MAX_ATTACHED]
    fixed_branches = {s.branch for s in stable if s.version}
    verified = [f"{s.branch}: {s.version}" for s in update.stable if s in stable]
    return replace(
        bug,
        stable=stable,
        references=(*bug.references, *attached),
        unfixed_branches=tuple(b for b in bug.unfixed_branches if b not in fixed_branches),
        vendor_fixes=update.vendor_fixes or bug.vendor_fixes,
        extra={**bug.extra, "refreshed": {"updated": update.updated, "stable_verified": verified,
                                          "attached": len(attached)}},
    )


def apply_overlay(bugs: tuple[KnownBug, ...], overlay: Overlay) -> tuple[KnownBug, ...]:
    """Every curated entry in ``bugs`` with its update applied (entries without one unchanged)."""
    if not overlay:
        return bugs
    return tuple(apply_update(b, overlay[b.id]) if b.id in overlay else b for b in bugs)
