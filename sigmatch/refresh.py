"""The one refresh function: bring the known-bugs catalog up to date and swap in a new snapshot.

``refresh()`` is what ``sigmatch refresh``, the worker job and the API's admin endpoint call.
Steps, in order (``sources`` picks them):

1. ``cve``: import the kernel CVE records incrementally (:mod:`sigmatch.catalog.cve`).
   (Later steps, resolving stable releases and attaching upstream reports for curated entries,
   plug in here.)
2. Validate the new imported set (well-formed, counts within sane bounds of the previous
   snapshot) and write it to the store atomically; record ``last_success`` and what changed.

A failed or interrupted refresh changes nothing that is served: the store's current snapshot is
replaced only by a complete, validated one, and the failure is recorded in its meta.
Curated entries are never touched: they live in ``signatures/`` and are merged at load time.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigmatch import config
from sigmatch.catalog.cve import IMPORTER_VERSION, ImportResult, Skipped, VulnsRepo, import_cve
from sigmatch.catalog.model import KnownBug, Origin
from sigmatch.catalog.store import SnapshotStore, StoreMeta, open_store, utcnow
from sigmatch.errors import CatalogError, ConfigError, SigmatchError

SOURCES = ("cve",)
# A new imported set smaller than this share of the previous one (of at least MIN_FOR_BOUND bugs)
# is refused: a truncated or wrong repository must not empty the catalog.
MIN_KEEP_SHARE = 0.5
MIN_FOR_BOUND = 1000

Progress = Callable[[str, int, int], None]  # (step, done, total)


@dataclass(frozen=True, slots=True)
class RefreshReport:
    """What one refresh did."""

    sources: tuple[str, ...]
    snapshot_version: str
    previous_version: str
    from_commit: str | None = None
    to_commit: str | None = None
    full: bool = False
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()  # withdrawn (rejected or deleted) records
    skipped: tuple[Skipped, ...] = ()
    records_read: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    started: str = ""
    finished: str = ""
    seconds: float = 0.0
    notes: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def to_dict(self, *, ids_limit: int | None = 1000) -> dict[str, Any]:
        def cap(ids: tuple[str, ...]) -> list[str]:
            return list(ids if ids_limit is None else ids[:ids_limit])

        return {
            "sources": list(self.sources),
            "snapshot_version": self.snapshot_version,
            "previous_version": self.previous_version,
            "from_commit": self.from_commit,
            "to_commit": self.to_commit,
            "full": self.full,
            "unchanged": self.unchanged,
            "added": len(self.added),
            "changed": len(self.changed),
            "removed": len(self.removed),
            "skipped": len(self.skipped),
            "added_ids": cap(self.added),
            "changed_ids": cap(self.changed),
            "removed_ids": cap(self.removed),
            "skipped_records": [s.to_dict() for s in self.skipped[: ids_limit or None]],
            "records_read": self.records_read,
            "counts": dict(self.counts),
            "started": self.started,
            "finished": self.finished,
            "seconds": round(self.seconds, 3),
            "notes": list(self.notes),
        }


def _setting(settings: Mapping[str, Any] | None, name: str) -> Any:
    if settings is not None and name in settings:
        return settings[name]
    return config.get(name)


def _counts(bugs: Iterable[KnownBug]) -> dict[str, int]:
    from sigmatch.catalog.catalog import Catalog

    return Catalog.of(bugs).stats()


def _validate(result: ImportResult, previous: Mapping[str, KnownBug]) -> None:
    """Refuse a snapshot that is not well-formed or that lost too much of the previous one."""
    ids = set()
    for bug in result.bugs:
        if not bug.id or bug.id in ids:
            raise CatalogError(f"new snapshot is invalid: duplicate or empty id {bug.id!r}")
        if bug.origin is Origin.CURATED:
            raise CatalogError(f"new snapshot is invalid: {bug.id} is a curated entry")
        ids.add(bug.id)
    if len(previous) >= MIN_FOR_BOUND and len(ids) < MIN_KEEP_SHARE * len(previous):
        raise CatalogError(
            f"new snapshot refused: {len(ids)} imported bugs against {len(previous)} before "
            f"(less than {MIN_KEEP_SHARE:.0%}); the previous snapshot stays in force"
        )


def refresh(
    sources: Iterable[str] = SOURCES,
    *,
    settings: Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    store: SnapshotStore | None = None,
    full: bool = False,
    source: str | None = None,
) -> RefreshReport:
    """Run the refresh steps named in ``sources`` and swap in the new snapshot.

    Raises :class:`~sigmatch.errors.ImportSourceError` when the CVE repository cannot be reached,
    :class:`~sigmatch.errors.StoreError` when another refresh holds the lock or the store cannot
    be written; in every failure the served snapshot is left as it was. ``source="cve"`` is
    shorthand for ``sources=("cve",)`` (for job queues that pass keyword arguments).
    """
    if isinstance(sources, str):
        sources = (sources,)
    wanted = tuple(dict.fromkeys((source,) if source else sources))
    for s in wanted:
        if s not in SOURCES:
            raise ConfigError("source", s, f"unknown refresh source (known: {', '.join(SOURCES)})")
    store = store if store is not None else open_store(settings)
    started = utcnow()
    t0 = time.perf_counter()
    with store.lock():
        meta = store.read_meta()
        store.update_meta(last_attempt=started)
        try:
            return _run(wanted, store, meta, settings, progress, full, started, t0)
        except SigmatchError as exc:
            store.update_meta(last_error=f"{started}: {exc}")
            raise
        except BaseException as exc:  # interrupted: record it, serve the old snapshot
            store.update_meta(last_error=f"{started}: interrupted ({type(exc).__name__})")
            raise


def _run(
    wanted: tuple[str, ...],
    store: SnapshotStore,
    meta: StoreMeta,
    settings: Mapping[str, Any] | None,
    progress: Progress | None,
    full: bool,
    started: str,
    t0: float,
) -> RefreshReport:
    from sigmatch import RULES_VERSION

    notes: list[str] = []
    if "cve" not in wanted:
        return RefreshReport(sources=wanted, snapshot_version=meta.version, previous_version=meta.version,
                             counts=dict(meta.counts), started=started, finished=utcnow(),
                             seconds=time.perf_counter() - t0, notes=("no step to run",))

    source = str(_setting(settings, "SIGMATCH_CVE_REPO"))
    data_dir = Path(str(_setting(settings, "SIGMATCH_DATA_DIR"))).expanduser()
    repo = VulnsRepo(data_dir / "vulns.git", source)
    if meta.importer_version and meta.importer_version != IMPORTER_VERSION:
        notes.append(f"importer version {meta.importer_version} -> {IMPORTER_VERSION}: full re-import")
        full = True
    if meta.rules_version and meta.rules_version != RULES_VERSION:
        notes.append(f"parser rules {meta.rules_version} -> {RULES_VERSION}: full re-import")
        full = True
    if progress:
        progress("fetch", 0, 1)
    commit = repo.sync()
    if progress:
        progress("fetch", 1, 1)
    if not full and meta.snapshot and commit == meta.cve_commit:
        # Nothing new upstream: the snapshot stays as it is (not even loaded).
        store.update_meta(last_success=utcnow(), last_error=None, cve_source=source)
        report = RefreshReport(
            sources=wanted, snapshot_version=meta.version, previous_version=meta.version,
            from_commit=commit, to_commit=commit, counts=dict(meta.counts), started=started,
            finished=utcnow(), seconds=time.perf_counter() - t0, notes=tuple(notes),
        )
        store.update_meta(report=report.to_dict(ids_limit=50))
        return report
    snapshot = store.load() if meta.snapshot else None
    previous = {b.id: b for b in snapshot.bugs} if snapshot else {}
    result = import_cve(repo, previous, meta.cve_commit if snapshot else None, full=full, progress=progress,
                        commit=commit)
    notes.extend(result.notes)
    if progress:
        progress("save", 0, 1)
    _validate(result, previous)
    counts = _counts(result.bugs)
    new_meta = store.save(result.bugs, StoreMeta(
        cve_commit=result.commit, cve_source=source, importer_version=IMPORTER_VERSION,
        rules_version=RULES_VERSION, counts=counts, last_success=utcnow(),
        last_attempt=started, last_error=None,
    ))
    if progress:
        progress("save", 1, 1)
    report = RefreshReport(
        sources=wanted,
        snapshot_version=new_meta.version,
        previous_version=meta.version,
        from_commit=result.previous_commit,
        to_commit=result.commit,
        full=result.full,
        added=result.added,
        changed=result.changed,
        removed=result.removed,
        skipped=result.skipped,
        records_read=result.records,
        counts=counts,
        started=started,
        finished=utcnow(),
        seconds=time.perf_counter() - t0,
        notes=tuple(notes),
    )
    store.update_meta(report=report.to_dict(ids_limit=50))
    return report
