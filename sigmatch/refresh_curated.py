"""Refresh steps 2 and 3: what upstream now says about the curated entries.

::

    refresh_curated(curated, previous, imported, steps={"stable", "upstream"}, settings=...)
        -> (overlay, CuratedReport)

``stable``
    For each curated entry's fixing commit, read kernel.org's ``ChangeLog-X.Y.Z`` files
    (:mod:`sigmatch.upstream.stable`) to find the first release of each stable branch that carries
    it. Candidates: the releases ``signatures/`` names but has not verified (and their neighbours,
    in case the guess was one off), the releases the imported CVE records give for the same commit,
    and the releases upstream named (``upstream`` step: "backported to 6.1.109", ChangeLogs the
    lookup already read). A ChangeLog that carries the commit makes a verified fact whose source is
    that ChangeLog; one that does not is remembered, so it is never fetched again.
``upstream``
    Ask lore, bugzilla and syzbot (:func:`sigmatch.upstream.lookup.lookup`) about each entry's
    signature and attach the reports that are this bug by evidence — the same crash title, a
    bugzilla bug or syzbot bug naming the fixing commit, a report answered by the fix's patch —
    never a search hit alone.

What is learned goes into the curated overlay (:mod:`sigmatch.catalog.overlay`) that travels in
the snapshot; ``signatures/`` is never written. Upstream trouble never fails the refresh: it
becomes a note, the entry keeps what earlier refreshes learned, and a source that fails for
several entries in a row is not asked about the rest. The whole pass stops at
``SIGMATCH_REFRESH_UPSTREAM_BUDGET`` seconds; entries not reached go first next time.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sigmatch.catalog.model import KnownBug, Reference, StableFix
from sigmatch.catalog.overlay import MAX_ATTACHED, CuratedUpdate, merge_stable
from sigmatch.catalog.store import utcnow
from sigmatch.config import Settings
from sigmatch.errors import UpstreamError
from sigmatch.trace.kversion import branch_of, stable_release
from sigmatch.upstream.http import MemoryCache, UpstreamClient, build_url, client_from_settings
from sigmatch.upstream.lookup import Query, lookup
from sigmatch.upstream.lore import strip_subject
from sigmatch.upstream.model import SourceState
from sigmatch.upstream.stable import Stable, changelog_path, same_commit

STEPS = ("stable", "upstream")
PER_ENTRY_BUDGET = 60.0  # seconds one entry's upstream lookup may take
MAX_PER_BRANCH = 5  # ChangeLogs read per branch and entry in one refresh
MAX_FAILURES = 3  # a source failing for this many entries in a row is not asked about the rest
NEIGHBOURS = (0, 1, -1, 2, -2)  # around a release signatures/ names without having verified it

_FUNC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{2,100}$")
_TAG_RE = re.compile(r"^\s*(?:\[[^\]]{0,80}\]\s*)+")

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True, slots=True)
class CuratedReport:
    """What steps 2–3 did, in sentences an operator reads (one per finding)."""

    steps: tuple[str, ...]
    checked: tuple[str, ...] = ()  # entry ids asked about
    verified: tuple[str, ...] = ()  # a release signatures/ names, now confirmed by its ChangeLog
    corrected: tuple[str, ...] = ()  # signatures/ named another release than the ChangeLogs show
    added: tuple[str, ...] = ()  # a branch signatures/ does not mention
    conflicts: tuple[str, ...] = ()  # a fact signatures/ marks verified that a ChangeLog contradicts
    attached: tuple[str, ...] = ()  # upstream reports attached to an entry
    not_reached: tuple[str, ...] = ()  # entries the budget did not reach
    notes: tuple[str, ...] = ()
    changelogs_read: int = 0
    lookups: int = 0
    seconds: float = 0.0

    @property
    def changed(self) -> bool:
        return bool(self.verified or self.corrected or self.added or self.attached)

    def to_dict(self) -> dict[str, Any]:
        return {
            "steps": list(self.steps), "checked": len(self.checked), "verified": list(self.verified),
            "corrected": list(self.corrected), "added": list(self.added), "conflicts": list(self.conflicts),
            "attached": list(self.attached), "not_reached": list(self.not_reached), "notes": list(self.notes[:50]),
            "changelogs_read": self.changelogs_read, "lookups": self.lookups, "seconds": round(self.seconds, 2),
        }


@dataclass
class _Run:
    """Mutable state of one pass (findings, failure streaks)."""

    stable: Stable
    settings: Settings
    client: UpstreamClient
    deadline: float
    today: str
    verified: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    attached: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    changelogs: int = 0
    lookups: int = 0
    stable_failures: int = 0
    lookup_failures: int = 0
    entry_failed: bool = False  # upstream failed for the entry being checked
    checked: list[str] = field(default_factory=list)  # entry ids asked about
    not_reached: list[str] = field(default_factory=list)

    def left(self) -> float:
        return self.deadline - time.monotonic()

    def closing_notes(self) -> None:
        """Why the pass stopped asking, when it did."""
        if self.lookup_failures >= MAX_FAILURES:
            self.notes.append(f"upstream: every source failed for {MAX_FAILURES} entries in a row; "
                              "the remaining entries were not looked up")
        if self.stable_failures >= MAX_FAILURES:
            self.notes.append(f"stable: kernel.org failed {MAX_FAILURES} times in a row; "
                              "the remaining ChangeLogs were not read")
        if self.not_reached:
            why = ("the upstream budget (SIGMATCH_REFRESH_UPSTREAM_BUDGET) ran out" if self.left() <= 0
                   else "upstream kept failing")
            self.notes.append(f"{why}: {len(self.not_reached)} entries not checked; they go first next time")

    def report(self, steps: tuple[str, ...], conflicts: list[str], seconds: float) -> CuratedReport:
        return CuratedReport(
            steps=steps, checked=tuple(self.checked), verified=tuple(self.verified),
            corrected=tuple(self.corrected), added=tuple(self.added), conflicts=tuple(conflicts),
            attached=tuple(self.attached), not_reached=tuple(self.not_reached),
            notes=tuple(dict.fromkeys(self.notes)), changelogs_read=self.changelogs, lookups=self.lookups,
            seconds=seconds,
        )


def refresh_curated(
    curated: Sequence[KnownBug],
    previous: Mapping[str, CuratedUpdate],
    imported: Iterable[KnownBug] = (),
    *,
    steps: Iterable[str] = STEPS,
    settings: Settings,
    checked: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    client: UpstreamClient | None = None,
    now: str | None = None,
) -> tuple[dict[str, CuratedUpdate], CuratedReport, dict[str, str]]:
    """Ask upstream about ``curated`` entries; returns the new overlay, the report, and the new
    "last asked" times (``checked``: entry id -> ISO time) for the store's meta.

    ``previous`` is the overlay of the current snapshot (kept for entries not reached or whose
    sources failed); ``imported`` the imported bugs (their CVE records name stable releases for
    the same commits). Never raises for upstream trouble. Whether upstream may be asked at all
    (``SIGMATCH_UPSTREAM_LOOKUP``) is the caller's decision (:func:`sigmatch.refresh.refresh`).
    """
    t0 = time.perf_counter()
    wanted = tuple(s for s in STEPS if s in set(steps))
    s = settings
    ids = {b.id for b in curated}
    overlay = {k: v for k, v in previous.items() if k in ids}  # a deleted curated file takes its update along
    asked = {k: v for k, v in (checked or {}).items() if k in ids}
    if not wanted:
        return overlay, CuratedReport(steps=wanted), asked
    now = now or utcnow()
    # a cache of its own: tonight's pass must see tonight's upstream, not an answer cached for the API
    the_client = client if client is not None else client_from_settings(s, cache=MemoryCache())
    run = _Run(stable=Stable(the_client, s.stable_url), settings=s, client=the_client,
               deadline=time.monotonic() + s.refresh_upstream_budget, today=now[:10])
    by_sha = _imported_releases(imported)
    # least recently asked first: a pass the budget cut short continues where it stopped
    order = sorted(curated, key=lambda b: (asked.get(b.id, ""), b.id))
    for i, bug in enumerate(order):
        if progress:
            progress("curated", i, len(order))
        ask_upstream = "upstream" in wanted and run.lookup_failures < MAX_FAILURES
        ask_stable = "stable" in wanted and run.stable_failures < MAX_FAILURES
        if run.left() <= 0 or not (ask_upstream or ask_stable):
            run.not_reached.append(bug.id)
            continue
        prev = overlay.get(bug.id) or CuratedUpdate(bug.id)
        update = _check_entry(run, bug, prev, upstream=ask_upstream, stable=ask_stable, by_sha=by_sha)
        if update != prev:
            overlay[bug.id] = replace(update, updated=now)
        run.checked.append(bug.id)
        if ask_upstream == ("upstream" in wanted) and ask_stable == ("stable" in wanted) and not run.entry_failed:
            asked[bug.id] = now  # every step it wanted ran and got answers (else: it goes first next time)
    if progress:
        progress("curated", len(order), len(order))
    run.closing_notes()
    return overlay, run.report(wanted, _conflicts(curated, overlay), time.perf_counter() - t0), asked


def _check_entry(run: _Run, bug: KnownBug, prev: CuratedUpdate, *, upstream: bool, stable: bool,
                 by_sha: Mapping[str, list[str]]) -> CuratedUpdate:
    """``prev`` with what the steps asked for one entry learned: upstream reports attached first
    (the stable releases they name are the best guesses), then the releases ChangeLogs confirm.
    ``run.entry_failed`` tells whether a source failed for it."""
    run.entry_failed = False
    refs: tuple[Reference, ...] = ()
    hints: list[str] = []
    if upstream:
        refs, hints = _upstream(run, bug, prev)
    update = prev
    if refs:
        update = replace(update, references=(*refs, *prev.references)[:MAX_ATTACHED])
    if stable:
        update = _resolve_stable(run, bug, update, hints, by_sha)
    return update


# --------------------------------------------------------------------------- step 2: stable releases


def _imported_releases(imported: Iterable[KnownBug]) -> dict[str, list[str]]:
    """fix sha (12 hex) -> stable releases the imported records name for it."""
    out: dict[str, list[str]] = {}
    for b in imported:
        versions = [s.version for s in b.stable if s.version and stable_release(s.version)]
        if not versions:
            continue
        for f in b.fixes:
            out.setdefault(f.sha[:12].lower(), []).extend(versions)
    return out


def _around(version: str) -> list[str]:
    sr = stable_release(version)
    if sr is None:
        return []
    branch, sub = sr
    return [f"{branch}.{sub + d}" for d in NEIGHBOURS if sub + d >= 1]


def _resolve_stable(run: _Run, bug: KnownBug, update: CuratedUpdate, hints: list[str],
                    by_sha: Mapping[str, list[str]]) -> CuratedUpdate:
    """``update`` with the stable releases that ChangeLogs now confirm for the entry's fix."""
    fix = next((f for f in bug.fixes if re.fullmatch(r"[0-9a-f]{12,40}", f.sha.lower())), None)
    if fix is None:
        return update
    sha = fix.sha.lower()
    settled = {s.branch for s in bug.stable if s.verified and s.version}  # a person verified these
    settled |= {s.branch for s in update.stable}  # an earlier refresh did
    candidates: dict[str, list[str]] = {}
    for s in bug.stable:
        if s.version and s.branch not in settled:
            candidates.setdefault(s.branch, []).extend(_around(s.version))
    for v in [*hints, *by_sha.get(sha[:12], ())]:
        b = branch_of(v) if stable_release(v) else None
        if b is not None and b not in settled:
            candidates.setdefault(b, []).insert(0, v)  # a release upstream named is the best guess
    absent = list(update.absent)
    found: list[StableFix] = []
    for branch, versions in candidates.items():
        tried = 0
        missing: list[str] = []  # kernel.org has no such ChangeLog (not released yet, or never)
        without: list[str] = []  # read: does not carry the fix
        for version in dict.fromkeys(versions):
            key = f"{sha[:12]}@{version}"
            if key in absent or changelog_path(version) is None:
                continue
            if tried >= MAX_PER_BRANCH or run.left() <= 0 or run.stable_failures >= MAX_FAILURES:
                break
            tried += 1
            run.changelogs += 1
            try:
                entries = run.stable.changelog(version, deadline=time.monotonic() + max(1.0, min(run.left(), 60.0)))
            except UpstreamError as exc:
                run.stable_failures += 1
                run.entry_failed = True
                run.notes.append(f"stable: ChangeLog-{version} could not be read: {exc}")
                continue
            run.stable_failures = 0
            if entries is None:  # not released yet (or never): ask again another time
                missing.append(version)
                continue
            hit = next((e for e in entries if e.upstream_sha and same_commit(e.upstream_sha, sha)), None)
            if hit is None:
                absent.append(key)
                without.append(version)
                continue
            url = build_url(run.stable.base, changelog_path(version) or "")
            fact = StableFix(branch=branch, version=version, sha=hit.stable_sha, verified=True,
                             source=f"kernel.org ChangeLog-{version} ({url}): {sha[:12]} backported as "
                                    f"{hit.stable_sha[:12]}; read by the refresh of {run.today}")
            found.append(fact)
            _describe(run, bug, fact, sha)
            break
        else:
            if missing or without:
                named = next((s.version for s in bug.stable if s.branch == branch and s.version), None)
                why = [f"ChangeLog-{', '.join(without)} do not carry {sha[:12]}"] if without else []
                why += [f"kernel.org has no ChangeLog-{', '.join(missing)}"] if missing else []
                run.notes.append(f"{bug.id}: {branch}: " + (f"{named} stays unverified" if named else "no release found")
                                 + ": " + "; ".join(why))
    if not found and absent == list(update.absent):
        return update
    return replace(update, stable=(*update.stable, *found), absent=tuple(absent))


def _describe(run: _Run, bug: KnownBug, fact: StableFix, sha: str) -> None:
    named = next((s for s in bug.stable if s.branch == fact.branch), None)
    where = f"ChangeLog-{fact.version} carries {sha[:12]} (as {(fact.sha or '')[:12]})"
    if named is None or not named.version:
        run.added.append(f"{bug.id}: {fact.branch} -> {fact.version}, a branch signatures/ does not list; {where}")
    elif named.version == fact.version:
        run.verified.append(f"{bug.id}: {fact.version} confirmed; {where}")
    else:
        run.corrected.append(f"{bug.id}: {fact.branch} -> {fact.version}, not {named.version} as "
                             f"{bug.source_path or 'signatures/'} says (unverified); {where}")


def _conflicts(curated: Sequence[KnownBug], overlay: Mapping[str, CuratedUpdate]) -> list[str]:
    out = []
    for bug in curated:
        update = overlay.get(bug.id)
        if update is None:
            continue
        merged = {s.branch: s for s in merge_stable(bug.stable, update.stable)}
        for fact in update.stable:
            kept = merged.get(fact.branch)
            if kept is not None and kept.version != fact.version:
                out.append(f"{bug.id}: signatures/ marks {fact.branch} -> {kept.version} verified, but "
                           f"ChangeLog-{fact.version} carries the fix; signatures/ wins until a person checks")
    return out


# --------------------------------------------------------------------------- step 3: upstream reports


def _norm(title: str) -> str:
    t = _TAG_RE.sub("", strip_subject(title or ""))
    return " ".join(t.split()).lower()


def _query(bug: KnownBug) -> Query:
    titles = [s.title for s in bug.signatures if s.title]
    frames = [f for s in bug.signatures for f in s.frames if _FUNC_RE.match(f)]
    term = next(iter(frames), None) or next((f for f in bug.functions if _FUNC_RE.match(f)), None)
    # a syscall's bare name ("write", "ioctl") matches half of lore: only distinctive names narrow
    others = [f for f in dict.fromkeys(frames) if f != term and ("_" in f or len(f) >= 8)][:3]
    narrow = f"{term} AND ({' OR '.join(others)})" if term and others else None
    return Query(lore=term, lore_narrow=narrow, bugzilla=term, syzbot_title=titles[0] if titles else None,
                 fix_commits=tuple(f.sha.lower() for f in bug.fixes if re.fullmatch(r"[0-9a-fA-F]{12,40}", f.sha)))


def _title_in(text: str, titles: Iterable[str]) -> bool:
    """One of ``titles`` (normalized) is ``text`` or ends it at a word boundary
    ("watchdog: BUG: soft lockup in f" holds "BUG: soft lockup in f", not "... in f_other")."""
    t = _norm(text)
    return any(t == k or (t.endswith(k) and not re.match(r"[\w]", t[-len(k) - 1])) for k in titles if k)


def _upstream(run: _Run, bug: KnownBug, prev: CuratedUpdate) -> tuple[tuple[Reference, ...], list[str]]:
    """New reports of ``bug`` upstream, and stable releases upstream named for its fix."""
    query = _query(bug)
    if not (query.lore or query.syzbot_title or query.fix_commits):
        return (), []
    budget = min(PER_ENTRY_BUDGET, run.left())
    if budget <= 0:
        return (), []
    run.lookups += 1
    result = lookup(query, settings=run.settings, budget=budget, client=run.client)
    asked = [st for st in result.sources if st.state is not SourceState.SKIPPED]
    if asked and all(st.state is SourceState.ERROR for st in asked):
        run.lookup_failures += 1
        run.entry_failed = True
    else:
        run.lookup_failures = 0
    run.notes.extend(f"{bug.id}: {n}" for n in result.notes if "does not carry" not in n)
    titles = {_norm(t) for sig in bug.signatures for t in (sig.title or "", *sig.alt_titles)} - {""}
    shas = [f.sha.lower() for f in bug.fixes]
    fix_subjects = {_norm(f.subject) for f in bug.fixes if f.subject}
    have = {(r.kind, r.value) for r in (*bug.references, *prev.references)}
    found: list[Reference] = []

    def names_fix(commits: Iterable[Any]) -> str | None:
        return next((s[:12] for c in commits for s in shas if c.sha and same_commit(c.sha, s)), None)

    def attach(kind: str, value: str, url: str | None, title: str, evidence: str) -> None:
        if (kind, value) in have:
            return
        have.add((kind, value))
        found.append(Reference(kind=kind, value=value, url=url, title=title[:300] or None,
                               found=f"{run.today}: {evidence}"))
        run.attached.append(f"{bug.id}: {kind} {value} ({evidence})")

    for m in result.reports:
        answering = [p for p in result.patches if m.message_id in p.answers]
        if _title_in(m.subject, titles):
            attach("lore", m.message_id, m.url, m.subject, "lore report with the same crash title")
        elif any(_norm(p.subject) in fix_subjects for p in answering):
            attach("lore", m.message_id, m.url, m.subject, "lore report answered by the fix's patch")
    for b in result.bugzilla:
        sha = names_fix(b.commits)
        if sha:
            attach("bugzilla", str(b.id), b.url, b.summary, f"bugzilla bug naming the fix {sha}")
        elif _title_in(b.summary, titles):
            attach("bugzilla", str(b.id), b.url, b.summary, "bugzilla bug with the same crash title")
    for z in result.syzbot:
        sha = names_fix(z.fix_commits)
        value = z.extid or z.title
        if sha:
            attach("syzbot", value, z.url, z.title, f"syzbot bug fixed by {sha}")
        elif _title_in(z.title, titles):
            attach("syzbot", value, z.url, z.title, "syzbot bug with the same crash title")
    hints = [r.version for r in result.stable if any(same_commit(r.upstream_sha, s) for s in shas)]
    for b in result.bugzilla:
        if names_fix(b.commits):
            hints.extend(v for v in b.fixed_in if stable_release(v))
    return tuple(found), hints
