"""The catalog as the matcher sees it: every known bug, curated and imported, in one value.

``load_catalog()`` merges the curated entries (``signatures/``) with the imported snapshot in the
local store; curated entries win on id clashes and are never dropped by an import. What refreshes
learned about curated entries (verified stable releases, attached upstream reports) travels in the
snapshot and is laid over them here (:mod:`sigmatch.catalog.overlay`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sigmatch.catalog.model import KnownBug, Origin

if TYPE_CHECKING:
    from sigmatch.catalog.store import SnapshotStore, StoreMeta
    from sigmatch.config import Settings


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


def curated_entries(settings: Settings) -> list[KnownBug]:
    """The curated entries as ``SIGMATCH_SIGNATURES_DIR`` has them now.

    Raises :class:`~sigmatch.errors.SignatureFileError` for a broken file or a missing directory
    (a deployment without its curated bugs must not quietly serve none).
    """
    from sigmatch.catalog.curated import load_curated

    return load_curated(settings.signatures_dir)


def live_meta(store_meta: StoreMeta | None) -> dict[str, Any]:
    """The catalog meta fields that a store's meta may change without a new snapshot (a refresh
    that found nothing new still moves ``last_success`` and the CVE commit)."""
    return {"cve_commit": store_meta.cve_commit if store_meta is not None else None,
            "last_success": store_meta.last_success if store_meta is not None else None}


def load_catalog(settings: Settings, *, store: SnapshotStore) -> Catalog:
    """Every known bug: the curated entries (``signatures/``) merged with the imported snapshot.

    ``store`` is the deployment's snapshot store (:attr:`sigmatch.runtime.Runtime.store`).
    Curated entries win on id clashes, and an imported CVE that a curated entry cites (its ``cves``)
    is left out ("shadowed", listed in ``meta``): one bug, one entry. The catalog's ``version`` changes whenever either part does.
    Raises :class:`~sigmatch.errors.SignatureFileError` for a broken curated file and
    :class:`~sigmatch.errors.StoreError` for a damaged snapshot.
    """
    import hashlib
    import json

    curated = curated_entries(settings)
    snapshot = store.load()
    imported: tuple[KnownBug, ...] = snapshot.bugs if snapshot is not None else ()
    overlay = snapshot.overlay if snapshot is not None else {}
    if overlay:
        from sigmatch.catalog.overlay import apply_overlay

        curated = list(apply_overlay(tuple(curated), overlay))
    # A curated entry that cites a CVE is that bug, told better: the imported copy steps aside.
    covered = {c.upper() for b in curated for c in b.cves}
    shadowed = [b.id for b in imported if b.id.upper() in covered]
    if shadowed:
        imported = tuple(b for b in imported if b.id.upper() not in covered)
    curated_hash = hashlib.sha256(
        json.dumps([b.to_dict() for b in curated], sort_keys=True, default=str).encode()
    ).hexdigest()[:8]
    imported_version = snapshot.version if snapshot is not None else "none"
    meta: dict[str, Any] = {
        "imported_version": imported_version,
        "curated": len(curated),
        "imported": len(imported) + len(shadowed),
        "shadowed": shadowed,
        "refreshed": sorted(b.id for b in curated if b.id in overlay),
        **live_meta(snapshot.meta if snapshot is not None else None),
    }
    return Catalog.of([*curated, *imported], version=f"{imported_version[:12]}-{curated_hash}", meta=meta)
