"""The catalog as the matcher sees it: every known bug, curated and imported, in one value.

``load_catalog()`` merges the curated entries (``signatures/``) with the imported snapshot in the
local store; curated entries win on id clashes and are never dropped by an import.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sigmatch.catalog.model import KnownBug, Origin


@dataclass(frozen=True, slots=True)
class Catalog:
    bugs: tuple[KnownBug, ...]
    version: str = "empty"  # snapshot identity: changes whenever the content does
    meta: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)
    _by_id: dict[str, KnownBug] = field(default_factory=dict, hash=False, compare=False, repr=False)

    @classmethod
    def of(cls, bugs: Iterable[KnownBug], version: str = "adhoc", meta: dict[str, Any] | None = None) -> Catalog:
        merged: dict[str, KnownBug] = {}
        for bug in bugs:
            old = merged.get(bug.id)
            if old is not None and old.origin is Origin.CURATED and bug.origin is not Origin.CURATED:
                continue  # curated entries win
            merged[bug.id] = bug
        return cls(tuple(merged.values()), version, meta or {}, merged)

    def get(self, bug_id: str) -> KnownBug | None:
        return self._by_id.get(bug_id)

    def __len__(self) -> int:
        return len(self.bugs)

    def stats(self) -> dict[str, int]:
        return {
            "bugs": len(self.bugs),
            "curated": sum(b.origin is Origin.CURATED for b in self.bugs),
            "imported": sum(b.origin is not Origin.CURATED for b in self.bugs),
            "with_fix": sum(bool(b.fixes) for b in self.bugs),
            "with_stable": sum(bool(b.stable_fixed) for b in self.bugs),
            "with_trace": sum(any(s.frames or s.title for s in b.signatures) for b in self.bugs),
        }
