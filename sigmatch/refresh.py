"""The one refresh function: bring the known-bugs catalog up to date and swap in a new snapshot.

``refresh()`` is what ``sigmatch refresh``, the worker job and the API's admin endpoint call.
Steps, in order (``sources`` picks them; the default runs all three):

1. ``cve``: import the kernel CVE records incrementally (:mod:`sigmatch.catalog.cve`).
2. ``stable``: for curated entries, find in kernel.org's ChangeLogs which stable releases carry
   each fix; a confirmed release becomes a verified fact whose source is its ChangeLog.
3. ``upstream``: for curated entries, look for new upstream reports of the same bug (lore,
   bugzilla, syzbot) and attach those that are this bug by evidence.
   (2 and 3: :mod:`sigmatch.refresh_curated`; they ask upstream only when
   ``SIGMATCH_UPSTREAM_LOOKUP`` is on, and upstream trouble never fails the refresh.)
``vendor``: record the vendor kernel changelogs given (``sigmatch refresh --vendor-changelog FILE``:
   RPM, Debian, Ubuntu; :mod:`sigmatch.catalog.vendor`) in ``SIGMATCH_DATA_DIR/vendor/`` (one per
   kernel line, a newer one replacing the older) and note on every known bug the changelogs that
   list its fix (``KnownBug.vendor_fixes``; curated entries through the overlay). It runs after
   every CVE import too, so the facts outlive the records' re-import.
4. Validate the new snapshot (well-formed, counts within sane bounds of the previous one, the
   curated overlay only about curated entries) and write it to the store atomically; record
   ``last_success`` and what changed. Nothing new: no new snapshot.

A failed or interrupted refresh changes nothing that is served: the store's current snapshot is
replaced only by a complete, validated one, and the failure is recorded in its meta.
``signatures/`` is never written: what steps 2–3 learn is an overlay inside the snapshot
(:mod:`sigmatch.catalog.overlay`), laid over the curated entries when the catalog loads.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sigmatch.catalog.catalog import Catalog, curated_entries
from sigmatch.catalog.cve import IMPORTER_VERSION, ImportResult, Skipped, VulnsRepo, import_cve
from sigmatch.catalog.model import KnownBug, Origin
from sigmatch.catalog.overlay import CuratedUpdate
from sigmatch.catalog.store import Snapshot, SnapshotStore, StoreMeta, utcnow
from sigmatch.catalog.vendor import VendorChangelog, parse_changelog, vendor_fixes
from sigmatch.config import Settings
from sigmatch.errors import CatalogError, ConfigError, SigmatchError
from sigmatch.runtime import Runtime, build_runtime
from sigmatch.upstream.http import MemoryCache

SOURCES = ("cve", "stable", "upstream", "vendor")
CURATED_STEPS = ("stable", "upstream")
# A new imported set smaller than this share of the previous one (of at least MIN_FOR_BOUND bugs)
# is refused: a truncated or wrong repository must not empty the catalog.
MIN_KEEP_SHARE = 0.5
MIN_FOR_BOUND = 1000

Progress = Callable[[str, int, int], None]  # (step, done, total)
VendorInput = tuple[str, str, str | None]  # a vendor changelog: (name, text, the build it is for or None)


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
    curated: dict[str, Any] = field(default_factory=dict)  # steps 2-3: CuratedReport.to_dict()
    vendor: dict[str, Any] = field(default_factory=dict)  # the vendor step: changelogs, bugs they name

    @property
    def unchanged(self) -> bool:
        """No imported bug added, changed or withdrawn, and nothing new learned about curated ones."""
        return not (self.added or self.changed or self.removed or self.curated_changed
                    or self.vendor.get("changed"))

    @property
    def curated_changed(self) -> bool:
        c = self.curated
        return bool(c.get("verified") or c.get("corrected") or c.get("added") or c.get("attached"))

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
            "curated": dict(self.curated),
            "vendor": dict(self.vendor),
        }


def _counts(bugs: Iterable[KnownBug]) -> dict[str, int]:
    return Catalog.of(bugs).stats()


def _validate(bugs: Iterable[KnownBug], previous: Mapping[str, KnownBug],
              overlay: Mapping[str, CuratedUpdate] | None = None, curated_ids: Iterable[str] = ()) -> None:
    """Refuse a snapshot that is not well-formed or that lost too much of the previous one."""
    ids = set()
    for bug in bugs:
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
    known = set(curated_ids)
    for bug_id, update in (overlay or {}).items():
        if bug_id not in known or update.bug_id != bug_id:
            raise CatalogError(f"new snapshot is invalid: a curated update for {bug_id!r}, not a curated entry")
        for fact in update.stable:
            if not fact.version or not fact.version.startswith(fact.branch + ".") or not fact.verified:
                raise CatalogError(f"new snapshot is invalid: {bug_id}: stable fact {fact.branch} -> {fact.version}")


def refresh(
    sources: Iterable[str] = SOURCES,
    *,
    runtime: Runtime | None = None,
    settings: Settings | None = None,
    progress: Progress | None = None,
    full: bool = False,
    source: str | None = None,
    vendor_changelogs: Sequence[VendorInput] = (),
) -> RefreshReport:
    """Run the refresh steps named in ``sources`` and swap in the new snapshot.

    ``runtime`` is the deployment's (its store, its upstream pace); without one it is built from
    ``settings`` (default: the environment) by :func:`sigmatch.runtime.build_runtime`.

    Raises :class:`~sigmatch.errors.ImportSourceError` when the CVE repository cannot be reached,
    :class:`~sigmatch.errors.StoreError` when another refresh holds the lock or the store cannot
    be written; in every failure the served snapshot is left as it was. ``source="cve"`` is
    shorthand for ``sources=("cve",)`` (for job queues that pass keyword arguments).
    ``vendor_changelogs`` are vendor kernel changelogs to record (``(name, text, build)``; ``build``
    names the build when the entries do not): read before anything else, so a file that is not a
    changelog raises :class:`~sigmatch.errors.ChangelogError` and changes nothing; they add the
    ``vendor`` step to ``sources``.
    """
    if isinstance(sources, str):
        sources = (sources,)
    wanted = tuple(dict.fromkeys((source,) if source else sources))
    for s in wanted:
        if s not in SOURCES:
            raise ConfigError("source", s, f"unknown refresh source (known: {', '.join(SOURCES)})")
    given = tuple(parse_changelog(text, name=name, build=build) for name, text, build in vendor_changelogs)
    if given and "vendor" not in wanted:
        wanted = (*wanted, "vendor")
    rt = runtime if runtime is not None else build_runtime(settings if settings is not None else Settings.from_env())
    store = rt.store
    started = utcnow()
    t0 = time.perf_counter()
    with store.lock():
        meta = store.read_meta()
        store.update_meta(last_attempt=started)
        try:
            return _run(_Run(wanted=wanted, store=store, meta=meta, runtime=rt, progress=progress, full=full,
                             started=started, t0=t0, checked=dict(meta.curated_checked), given=given))
        except SigmatchError as exc:
            store.update_meta(last_error=f"{started}: {exc}")
            raise
        except BaseException as exc:  # interrupted: record it, serve the old snapshot
            store.update_meta(last_error=f"{started}: interrupted ({type(exc).__name__})")
            raise


@dataclass(slots=True)
class _Run:
    """One refresh in progress: what it was asked to do, and what its steps found so far."""

    wanted: tuple[str, ...]
    store: SnapshotStore
    meta: StoreMeta  # the store's meta when the refresh started
    runtime: Runtime
    progress: Progress | None
    full: bool
    started: str
    t0: float
    notes: list[str] = field(default_factory=list)
    result: ImportResult | None = None  # step 1's import (None: not asked, or nothing new upstream)
    source: str | None = None  # the CVE repository asked
    commit: str | None = None  # its commit
    checked: dict[str, str] = field(default_factory=dict)  # curated id -> when last checked upstream
    curated_report: dict[str, Any] = field(default_factory=dict)
    overlay: dict[str, CuratedUpdate] | None = None  # None: the current snapshot's, unchanged
    curated_ids: tuple[str, ...] = ()
    given: tuple[VendorChangelog, ...] = ()  # vendor changelogs to record
    bugs: tuple[KnownBug, ...] | None = None  # the imported set when a step changed it (None: as imported)
    vendor_report: dict[str, Any] = field(default_factory=dict)
    _snapshot: Snapshot | None = None
    _loaded: bool = False

    @property
    def settings(self) -> Settings:
        return self.runtime.settings

    def current(self) -> Snapshot | None:
        """The snapshot in force, loaded once and only when a step needs it."""
        if not self._loaded:
            self._snapshot, self._loaded = (self.store.load() if self.meta.snapshot else None), True
        return self._snapshot

    def step(self, name: str, done: int) -> None:
        if self.progress:
            self.progress(name, done, 1)


def _run(run: _Run) -> RefreshReport:
    """The steps in order (each looks at ``run.wanted`` itself), then the new snapshot or none."""
    for step in _STEPS:
        step(run)
    if run.result is None and run.overlay is None and run.bugs is None:
        return _unchanged(run)
    return _save(run)


def _cve_step(run: _Run) -> None:
    """Step 1: import the CVE records changed since the last imported commit (all of them when the
    importer or the parser rules changed)."""
    if "cve" not in run.wanted:
        return
    from sigmatch import RULES_VERSION

    meta = run.meta
    run.source = run.settings.cve_repo
    repo = VulnsRepo(run.settings.data_dir / "vulns.git", run.source)
    if meta.importer_version and meta.importer_version != IMPORTER_VERSION:
        run.notes.append(f"importer version {meta.importer_version} -> {IMPORTER_VERSION}: full re-import")
        run.full = True
    if meta.rules_version and meta.rules_version != RULES_VERSION:
        run.notes.append(f"parser rules {meta.rules_version} -> {RULES_VERSION}: full re-import")
        run.full = True
    run.step("fetch", 0)
    run.commit = repo.sync()
    run.step("fetch", 1)
    if run.full or not meta.snapshot or run.commit != meta.cve_commit:
        snap = run.current()
        # the records as they were imported: the vendor step lays its facts over them again
        previous = {b.id: replace(b, vendor_fixes=()) if b.vendor_fixes else b for b in snap.bugs} if snap else {}
        run.result = import_cve(repo, previous, meta.cve_commit if snap else None, full=run.full,
                                progress=run.progress, commit=run.commit)
        run.notes.extend(run.result.notes)
    # else: nothing new upstream, the imported set stays as it is (not even loaded)


def _curated_step(run: _Run) -> None:
    """Steps 2-3: what upstream says about the curated entries (stable releases, new reports)."""
    steps = tuple(s for s in CURATED_STEPS if s in run.wanted)
    if not steps:
        return
    if not run.settings.upstream_lookup:
        # nobody may be asked: not even the snapshot is loaded
        run.curated_report = {"steps": list(steps), "checked": 0, "notes": [
            "upstream lookups are off (SIGMATCH_UPSTREAM_LOOKUP=off): curated entries not checked"]}
        return
    from sigmatch.refresh_curated import refresh_curated

    snap = run.current()
    before = dict(snap.overlay) if snap else {}
    try:
        curated = curated_entries(run.settings)
    except SigmatchError as exc:
        run.notes.append(f"curated entries could not be read ({exc}); steps {', '.join(steps)} skipped")
        return
    run.curated_ids = tuple(b.id for b in curated)
    imported = run.result.bugs if run.result is not None else (snap.bugs if snap else ())
    # a cache of its own (tonight's pass must see tonight's upstream), the deployment's pace
    client = run.runtime.upstream_client(cache=MemoryCache())
    new_overlay, creport, run.checked = refresh_curated(
        curated, before, imported, steps=steps, settings=run.settings, checked=run.checked,
        progress=run.progress, client=client)
    run.curated_report = creport.to_dict()
    if new_overlay != before:
        run.overlay = new_overlay


def _vendor_step(run: _Run) -> None:
    """Record the vendor changelogs given, then note on each bug the recorded changelogs that list its
    fix. Runs when asked, and after every CVE import (a re-imported record has no such facts)."""
    if "vendor" not in run.wanted and run.result is None:
        return
    folder = run.settings.data_dir / "vendor"
    recorded = folder.is_dir() and any(folder.glob("*.json"))
    if not (run.given or recorded or run.result is not None):
        return  # no changelog was ever recorded: nothing to lay over (and the snapshot is not loaded)
    for log in run.given:
        _write_changelog(folder, log)
        run.notes.append(f"vendor changelog {log.name}: {log.format}, line {log.line}, {len(log.builds)} builds "
                         f"(newest {log.top})")
    logs = _read_changelogs(folder, run.notes)
    snap = run.current()
    imported = run.result.bugs if run.result is not None else (snap.bugs if snap else ())
    try:
        curated = curated_entries(run.settings)
    except SigmatchError as exc:
        run.notes.append(f"curated entries could not be read ({exc}): vendor changelogs laid over imported bugs only")
        curated = []
    facts = vendor_fixes([*imported, *curated], logs)
    changed = [b.id for b in imported if b.vendor_fixes != facts.get(b.id, ())]
    if changed:
        todo = set(changed)
        run.bugs = tuple(replace(b, vendor_fixes=facts.get(b.id, ())) if b.id in todo else b for b in imported)
    base = run.overlay if run.overlay is not None else (dict(snap.overlay) if snap else {})
    overlay = dict(base)
    for bug in curated:
        old = overlay.get(bug.id) or CuratedUpdate(bug_id=bug.id)
        if old.vendor_fixes != facts.get(bug.id, ()):
            new = replace(old, vendor_fixes=facts.get(bug.id, ()))
            changed.append(bug.id)
            if new.empty:
                overlay.pop(bug.id, None)
            else:
                overlay[bug.id] = new
    if overlay != base:
        run.overlay = overlay
        run.curated_ids = tuple(b.id for b in curated)
    run.vendor_report = {"changelogs": [f"{log.line}: {log.name} (newest {log.top})" for log in logs],
                         "bugs": sum(1 for v in facts.values() if v), "changed": len(changed),
                         "changed_ids": changed[:50]}


def _write_changelog(folder: Path, log: VendorChangelog) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".{log.key}.json.tmp"
    tmp.write_text(json.dumps(log.to_dict(), sort_keys=True), encoding="utf-8")
    os.replace(tmp, folder / f"{log.key}.json")


def _read_changelogs(folder: Path, notes: list[str]) -> list[VendorChangelog]:
    logs: list[VendorChangelog] = []
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        try:
            logs.append(VendorChangelog.from_dict(json.loads(path.read_text(encoding="utf-8"))))
        except (OSError, ValueError, KeyError, TypeError) as exc:
            notes.append(f"vendor changelog {path.name} could not be read ({exc}): left out")
    return logs


# The steps of a refresh, in order.
_STEPS: tuple[Callable[[_Run], None], ...] = (_cve_step, _curated_step, _vendor_step)


def _unchanged(run: _Run) -> RefreshReport:
    """Nothing new: no new snapshot; the meta records the success and what was checked."""
    meta = run.meta
    run.store.update_meta(last_success=utcnow(), last_error=None, curated_checked=run.checked,
                          **({"cve_source": run.source} if run.source else {}))
    report = _report(run, meta.version, dict(meta.counts))
    run.store.update_meta(report=report.to_dict(ids_limit=50))
    return report


def _save(run: _Run) -> RefreshReport:
    """Step 4: validate the new snapshot and swap it in."""
    from sigmatch import RULES_VERSION

    run.step("save", 0)
    snap = run.current()
    result = run.result
    old_bugs = {b.id: b for b in snap.bugs} if snap else {}
    bugs = run.bugs if run.bugs is not None else result.bugs if result is not None else tuple(old_bugs.values())
    overlay, curated_ids = run.overlay, run.curated_ids
    if overlay is None:
        overlay = dict(snap.overlay) if snap else {}
        curated_ids = tuple(overlay)  # carried over as it was
    _validate(bugs, old_bugs if result is not None else {}, overlay, curated_ids)
    counts = _counts(bugs)
    fields: dict[str, Any] = {}
    if result is not None:
        fields = {"cve_commit": result.commit, "cve_source": run.source, "importer_version": IMPORTER_VERSION,
                  "rules_version": RULES_VERSION}
    new_meta = run.store.save(bugs, replace(run.meta, counts=counts, last_success=utcnow(), last_attempt=run.started,
                                            last_error=None, curated_checked=run.checked, **fields), overlay)
    run.step("save", 1)
    report = _report(run, new_meta.version, counts)
    run.store.update_meta(report=report.to_dict(ids_limit=50))
    return report


def _report(run: _Run, version: str, counts: dict[str, int]) -> RefreshReport:
    result = run.result
    return RefreshReport(
        sources=run.wanted,
        snapshot_version=version,
        previous_version=run.meta.version,
        from_commit=result.previous_commit if result is not None else run.commit,
        to_commit=result.commit if result is not None else run.commit,
        full=result.full if result is not None else False,
        added=result.added if result is not None else (),
        changed=result.changed if result is not None else (),
        removed=result.removed if result is not None else (),
        skipped=result.skipped if result is not None else (),
        records_read=result.records if result is not None else 0,
        counts=counts,
        started=run.started,
        finished=utcnow(),
        seconds=time.perf_counter() - run.t0,
        notes=tuple(run.notes),
        curated=run.curated_report,
        vendor=run.vendor_report,
    )
