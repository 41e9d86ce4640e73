"""Ask every upstream source about one crash, concurrently, and return within a time budget.

::

    lookup(report_or_signature, settings=None, budget=None, text=None) -> UpstreamResult
    start_lookup(...) -> LookupJob      .wait(timeout) / .done() / .result(): poll for the rest

What is asked (:func:`query_for`): lore is searched for the guilty function (else the first key
frame, else the title's words); bugzilla's quicksearch for the same term; syzbot for each
``syzbot+<extid>`` / ``extid=`` id in the log or in lore's answers (else the fixed list for the
exact title); the stable ChangeLogs for each fixing commit found, at the releases upstream named
("backported to 6.1.109") and a few releases after the log's own kernel.

Dependent requests (a thread after a report, comments after a bug, ChangeLogs after a commit)
start as soon as what they need arrives. When the budget runs out the result holds what arrived;
sources still working are marked ``pending`` and keep going in the background (their answers land
in the cache, so the next lookup — or :meth:`LookupJob.result` later — has them). Every failure
becomes a plain note ("lore: answered with its anti-bot page ..."); nothing raises.

Links in the result point only under the configured base URLs: lore links are built from
Message-IDs, other links from upstream pages are kept only when they lie under a configured base.
Trailer values (``Closes: https://...``) stay plain text: renderers escape them.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from sigmatch.config import Settings
from sigmatch.errors import BotWallError, UpstreamError
from sigmatch.trace.kversion import branch_of, parse_kernel_version, stable_release
from sigmatch.trace.model import Report
from sigmatch.trace.signature import Signature, signature_of
from sigmatch.upstream.bugzilla import Bugzilla
from sigmatch.upstream.http import UpstreamClient, client_from_settings
from sigmatch.upstream.lore import Lore, link_answers, message_url, msgid_from_href
from sigmatch.upstream.model import (
    BugzillaBug,
    LoreMessage,
    MessageKind,
    SourceState,
    SourceStatus,
    StableRelease,
    SyzbotBug,
    UpstreamCommit,
    UpstreamResult,
)
from sigmatch.upstream.stable import Stable, same_commit
from sigmatch.upstream.syzbot import Syzbot

SOURCES = ("lore", "bugzilla", "syzbot", "stable")
MAX_THREADS = 2  # report threads fetched from lore per lookup
MAX_MESSAGES = 3  # message pages fetched for hits that came without bodies
MAX_BUGS = 3  # bugzilla bugs whose comments are read
MAX_SYZBOT = 3
MAX_STABLE_FETCHES = 6  # ChangeLog files read per fixing commit
MAX_FIX_COMMITS = 4  # fixing commits checked against the stable ChangeLogs
SCAN_AFTER_LOG_VERSION = 3  # releases after the log's own kernel that are checked without a hint

_LORE_HOSTS = frozenset({"lore.kernel.org", "patch.msgid.link"})
_FUNC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{2,100}$")
_EXTID_RE = re.compile(r"(?:syzbot\+|[?&]extid=)([0-9a-f]{20})\b")
_WORD_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{2,60}")
_TITLE_STOP = frozenset({
    "bug", "info", "warning", "in", "at", "for", "the", "and", "of", "on", "from", "with", "task", "kernel",
    "possible", "general", "protection", "fault", "read", "write", "use", "after", "free", "null", "pointer",
    "dereference", "unable", "handle", "page", "soft", "lockup", "stuck", "hung", "detected", "rcu", "stall",
})


@dataclass(frozen=True, slots=True)
class Query:
    """What each source is asked. Built from a report or signature; never a host or a URL."""

    lore: str | None = None  # the broad search: one term (the guilty function) or title words
    lore_narrow: str | None = None  # tried first when set: the term AND one of the next key frames
    bugzilla: str | None = None
    syzbot_extids: tuple[str, ...] = ()
    syzbot_title: str | None = None
    kernel_version: str | None = None
    fix_commits: tuple[str, ...] = ()  # fixing commits already known (e.g. from the catalog)

    def to_dict(self) -> dict[str, Any]:
        return {"lore": self.lore, "lore_narrow": self.lore_narrow, "bugzilla": self.bugzilla, "syzbot_extids": list(self.syzbot_extids),
                "syzbot_title": self.syzbot_title, "kernel_version": self.kernel_version,
                "fix_commits": list(self.fix_commits)}


def _key_term(sig: Signature) -> str | None:
    for name in (sig.guilty_function, *sig.frames):
        if name and _FUNC_RE.match(name):
            return name
    words = [w for w in _WORD_RE.findall(sig.title or "") if w.lower() not in _TITLE_STOP]
    return " ".join(words[:6]) or None


def query_for(
    target: Report | Signature, *, text: str | None = None, fix_commits: Iterable[str] = ()
) -> Query:
    """The :class:`Query` for a report or signature (``text``: the whole log, scanned for syzbot ids)."""
    sig = target if isinstance(target, Signature) else signature_of(target)
    report_text = target.text if isinstance(target, Report) else ""
    term = _key_term(sig)
    extids = tuple(dict.fromkeys(_EXTID_RE.findall((text or "")[:2_000_000] + "\n" + report_text)))[:MAX_SYZBOT]
    kernel = target.kernel_version if isinstance(target, Report) else None
    shas = tuple(s.lower() for s in fix_commits if re.fullmatch(r"[0-9a-fA-F]{12,40}", s))
    title = sig.title.strip() if sig.title and not sig.corrupted else None
    others = [f for f in dict.fromkeys(sig.frames) if f != term and _FUNC_RE.match(f)][:3]
    narrow = f"{term} AND ({' OR '.join(others)})" if term and _FUNC_RE.match(term) and others else None
    return Query(lore=term, lore_narrow=narrow, bugzilla=term, syzbot_extids=extids, syzbot_title=title,
                 kernel_version=kernel, fix_commits=shas)


# --------------------------------------------------------------------------- the job


@dataclass
class _Source:
    running: int = 0
    asked: int = 0
    errors: list[str] = field(default_factory=list)
    results: int = 0


class LookupJob:
    """A running lookup: sources work in daemon threads; :meth:`result` is a snapshot at any time."""

    def __init__(self, query: Query, *, settings: Settings, client: UpstreamClient, budget: float) -> None:
        self.query = query
        self.budget = budget
        self.client = client
        self.lore = Lore(client, settings.lore_url)
        self.bugzilla = Bugzilla(client, settings.bugzilla_url)
        self.syzbot = Syzbot(client, settings.syzbot_url)
        self.stable = Stable(client, settings.stable_url)
        self._cond = threading.Condition()
        self._src = {name: _Source() for name in SOURCES}
        self._messages: dict[str, LoreMessage] = {}
        self._bugs: dict[int, BugzillaBug] = {}
        self._syz: dict[str, SyzbotBug] = {}
        self._commits: dict[str, UpstreamCommit] = {}
        self._stable: dict[tuple[str, str], StableRelease] = {}
        self._hints: dict[str, list[str]] = {}  # fix sha -> releases named upstream
        self._asked_keys: set[str] = set()
        self._notes: list[str] = []
        self.started = time.monotonic()

    # -- links shown to people

    def _safe_links(self, urls: Iterable[str]) -> tuple[str, ...]:
        """Links an upstream page gave us, kept only when they point under a configured base URL;
        a lore message link (any lore host) is rebuilt under the configured lore base."""
        out: list[str] = []
        for u in urls:
            parts = urlsplit(u)
            mid = msgid_from_href(u) if parts.netloc.lower() in _LORE_HOSTS or self.client.allowed(u) else None
            if mid and (parts.netloc.lower() in _LORE_HOSTS or u.startswith(self.lore.base + "/")):
                out.append(message_url(self.lore.base, mid))
            elif self.client.allowed(u):
                out.append(u)
        return tuple(dict.fromkeys(out))

    # -- task plumbing

    def _spawn(self, source: str, key: str, fn: Callable[[], None]) -> None:
        with self._cond:
            if key in self._asked_keys:
                return
            self._asked_keys.add(key)
            self._src[source].running += 1
            self._src[source].asked += 1
        threading.Thread(target=self._run, args=(source, fn), name=f"sigmatch-upstream-{source}",
                         daemon=True).start()

    def _run(self, source: str, fn: Callable[[], None]) -> None:
        try:
            fn()
        except BotWallError as exc:
            self._error(source, f"answered with its anti-bot page instead of results ({exc.url})")
        except UpstreamError as exc:
            self._error(source, f"{exc} ({exc.url})")
        except Exception as exc:  # a parser bug must not take the answer down: say it, go on
            self._error(source, f"internal error while reading the answer: {exc.__class__.__name__}: {exc}"[:300])
        finally:
            with self._cond:
                self._src[source].running -= 1
                self._cond.notify_all()

    def _error(self, source: str, message: str) -> None:
        with self._cond:
            self._src[source].errors.append(message)

    def _found(self, source: str, n: int) -> None:
        with self._cond:
            self._src[source].results += n

    # -- sources

    def start(self) -> LookupJob:
        q = self.query
        if q.lore:
            self._spawn("lore", f"lore:q:{q.lore}", lambda: self._lore_search(q.lore or ""))
        if q.bugzilla:
            self._spawn("bugzilla", f"bz:q:{q.bugzilla}", lambda: self._bz_search(q.bugzilla or ""))
        for extid in q.syzbot_extids:
            self._spawn("syzbot", f"syz:{extid}", lambda e=extid: self._syz_bug(e))  # type: ignore[misc]
        if not q.syzbot_extids and q.syzbot_title:
            title = q.syzbot_title
            self._spawn("syzbot", "syz:title", lambda: self._syz_title(title))
        for sha in q.fix_commits[:MAX_FIX_COMMITS]:
            self._add_commit(UpstreamCommit(sha=sha, source="caller"))
        return self

    def _lore_search(self, query: str) -> None:
        # Same stack first (reports quote the trace); the bare function when that finds nothing.
        found: list[LoreMessage] = []
        if self.query.lore_narrow:
            try:
                found = self.lore.search(self.query.lore_narrow)
            except UpstreamError as exc:
                if exc.status != 400:  # a refused query is retried in its simple form; anything else is final
                    raise
        if not found:
            found = self.lore.search(query)
        self._add_messages(found)
        reports = [m for m in found if m.kind is MessageKind.REPORT]
        for r in reports[:MAX_THREADS]:
            self._spawn("lore", f"lore:t:{r.message_id}", lambda mid=r.message_id: self._lore_thread(mid))  # type: ignore[misc]
        # hits that came without a body (HTML summary): read a few message pages for their trailers
        bare = [m for m in found if m.kind is not MessageKind.REPLY and not m.trailers and not m.lists]
        for m in bare[:MAX_MESSAGES]:
            self._spawn("lore", f"lore:m:{m.message_id}", lambda mid=m.message_id: self._lore_message(mid))  # type: ignore[misc]

    def _lore_thread(self, mid: str) -> None:
        self._add_messages(self.lore.thread(mid))

    def _lore_message(self, mid: str) -> None:
        m = self.lore.message(mid)
        if m is not None:
            self._add_messages([m])

    def _add_messages(self, msgs: list[LoreMessage]) -> None:
        with self._cond:
            for m in msgs:
                old = self._messages.get(m.message_id)
                self._messages[m.message_id] = _merge(old, m) if old else m
            self._src["lore"].results += len(msgs)
        for m in msgs:
            for e in m.syzbot_extids[:MAX_SYZBOT]:
                self._spawn("syzbot", f"syz:{e}", lambda e=e: self._syz_bug(e))  # type: ignore[misc]
            if m.upstream_commit:  # a stable backport names the mainline fix
                self._add_commit(UpstreamCommit(sha=m.upstream_commit, subject=_unprefixed(m.subject),
                                                source=f"lore:{m.message_id}"))

    def _bz_search(self, terms: str) -> None:
        bugs = self.bugzilla.search(terms)
        with self._cond:
            for b in bugs:
                self._bugs.setdefault(b.id, replace(b, see_also=self._safe_links(b.see_also)))
            self._src["bugzilla"].results += len(bugs)
        for b in bugs[:MAX_BUGS]:
            self._spawn("bugzilla", f"bz:c:{b.id}", lambda b=b: self._bz_comments(b))  # type: ignore[misc]

    def _bz_comments(self, bug: BugzillaBug) -> None:
        full = self.bugzilla.with_comments(bug)
        with self._cond:
            self._bugs[bug.id] = full = replace(full, see_also=self._safe_links(full.see_also))
        stable_hints = [v for v in full.fixed_in if stable_release(v)]
        for c in full.commits:
            self._add_commit(c, hints=stable_hints)

    def _syz_bug(self, extid: str) -> None:
        bug = self.syzbot.bug(extid)
        if bug is None:
            return
        with self._cond:
            self._syz[extid] = bug = replace(bug, discussions=self._safe_links(bug.discussions))
            self._src["syzbot"].results += 1
        for c in bug.fix_commits:
            if c.sha:
                self._add_commit(c)

    def _syz_title(self, title: str) -> None:
        bugs = self.syzbot.fixed_with_title(title)
        with self._cond:
            for b in bugs[:MAX_SYZBOT]:
                self._syz[b.extid or b.title] = b
            self._src["syzbot"].results += len(bugs)
        for b in bugs[:MAX_SYZBOT]:
            if b.extid:
                self._spawn("syzbot", f"syz:{b.extid}", lambda e=b.extid: self._syz_bug(e))  # type: ignore[misc]

    def _add_commit(self, c: UpstreamCommit, hints: Iterable[str] = ()) -> None:
        if not re.fullmatch(r"[0-9a-f]{12,40}", c.sha) or set(c.sha) == {"0"}:
            return
        with self._cond:
            known = next((k for k in self._commits if same_commit(k, c.sha)), None)
            if known is None:
                if len(self._commits) >= 20:
                    return
                self._commits[c.sha] = c
                known = c.sha
            else:
                old = self._commits[known]
                better = replace(old, sha=max(old.sha, c.sha, key=len), subject=old.subject or c.subject)
                if better != old:
                    del self._commits[known]
                    self._commits[better.sha] = better
                    if known in self._hints and better.sha != known:
                        self._hints[better.sha] = self._hints.pop(known)
                    known = better.sha
            hint_list = self._hints.setdefault(known, [])
            hint_list.extend(h for h in hints if h not in hint_list)
            n_checked = len([k for k in self._asked_keys if k.startswith("stable:")])
        versions = self._stable_candidates(known)
        if versions and n_checked < MAX_FIX_COMMITS:
            self._spawn("stable", f"stable:{known[:12]}:{','.join(versions)}",
                        lambda: self._stable_check(known, versions))

    def _stable_candidates(self, sha: str) -> list[str]:
        with self._cond:
            out = list(self._hints.get(sha, []))
        kv = parse_kernel_version(self.query.kernel_version or "")
        # the releases after the log's own (not when a distribution's number hides the sublevel)
        if kv is not None and kv.sublevel_known and kv.patch is not None and kv.rc is None:
            branch, sub = kv.stable_branch, kv.patch
            if not any(branch_of(v) == branch for v in out):
                out += [f"{branch}.{sub + i}" for i in range(1, SCAN_AFTER_LOG_VERSION + 1)]
        return out[:MAX_STABLE_FETCHES]

    def _stable_check(self, sha: str, versions: list[str]) -> None:
        found, notes = self.stable.first_releases(sha, versions, max_fetches=MAX_STABLE_FETCHES)
        with self._cond:
            for r in found:
                self._stable[(sha, r.branch)] = r
            self._src["stable"].results += len(found)
            self._src["stable"].errors.extend(n.removeprefix("stable: ") for n in notes if "does not carry" not in n)
            self._notes.extend(n for n in notes if "does not carry" in n)

    # -- waiting and the snapshot

    def done(self) -> bool:
        with self._cond:
            return all(s.running == 0 for s in self._src.values())

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every source finished or ``timeout`` seconds passed; True when all finished."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while any(s.running for s in self._src.values()):
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(left)
        return True

    def result(self) -> UpstreamResult:
        with self._cond:
            messages = link_answers(self._messages.values())
            srcs = {k: _Source(v.running, v.asked, list(v.errors), v.results) for k, v in self._src.items()}
            bugs = tuple(self._bugs.values())
            syz = tuple(self._syz.values())
            commits = tuple(self._commits.values())
            stable = tuple(sorted(self._stable.values(), key=lambda r: _vkey(r.version)))
            extra_notes = list(self._notes)
        elapsed = time.monotonic() - self.started
        statuses: list[SourceStatus] = []
        notes: list[str] = []
        for name in SOURCES:
            s = srcs[name]
            if s.running:
                state, note = SourceState.PENDING, f"still working after {elapsed:.1f} s; results will follow"
            elif s.asked == 0:
                state, note = SourceState.SKIPPED, _skip_reason(name, self.query)
            elif s.errors and not s.results:
                state, note = SourceState.ERROR, "; ".join(dict.fromkeys(s.errors))[:600]
            elif s.results:
                state, note = SourceState.OK, ""
            else:
                state, note = SourceState.EMPTY, "nothing found"
            if s.errors and state is not SourceState.ERROR:
                note = (note + "; " if note else "") + "partly failed: " + "; ".join(dict.fromkeys(s.errors))[:400]
            statuses.append(SourceStatus(name=name, state=state, note=note, tasks=s.asked))
            if state is SourceState.PENDING:
                notes.append(f"{name}: no answer within the {self.budget:g} s budget; still pending.")
            elif state is SourceState.ERROR:
                notes.append(f"{name} could not say: {note}")
            elif s.errors:
                notes.append(f"{name} answered in part: {'; '.join(dict.fromkeys(s.errors))[:400]}")
        notes.extend(extra_notes)
        asked = [st.name for st in statuses if st.state is not SourceState.SKIPPED]
        if asked and all(st.state is SourceState.ERROR for st in statuses if st.name in asked):
            notes.insert(0, f"no upstream source answered ({', '.join(asked)}): nothing is known upstream, "
                            "which is not the same as nothing found")
        return UpstreamResult(
            query=self.query.to_dict(),
            reports=tuple(m for m in messages if m.kind is MessageKind.REPORT),
            patches=tuple(m for m in messages if m.kind is MessageKind.PATCH),
            replies=tuple(m for m in messages if m.kind is MessageKind.REPLY)[:20],
            bugzilla=bugs,
            syzbot=syz,
            fix_commits=commits,
            stable=stable,
            sources=tuple(statuses),
            notes=tuple(notes),
            elapsed=elapsed,
            budget=self.budget,
        )


def _skip_reason(name: str, q: Query) -> str:
    if name in ("lore", "bugzilla"):
        return "no function name or title words to search for"
    if name == "syzbot":
        return "no syzbot id and no title to look for"
    return "no fixing commit with a release to check"


def _vkey(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:4])


def _unprefixed(subject: str) -> str:
    return re.sub(r"^\s*\[[^\]]*\]\s*", "", subject)


def _merge(a: LoreMessage, b: LoreMessage) -> LoreMessage:
    """Two views of one message (search hit, message page, thread entry): keep the richest fields."""
    return replace(
        a,
        subject=a.subject or b.subject,
        date=a.date or b.date,
        author=a.author or b.author,
        lists=tuple(dict.fromkeys((*a.lists, *b.lists))),
        in_reply_to=a.in_reply_to or b.in_reply_to,
        trailers=a.trailers if len(a.trailers) >= len(b.trailers) else b.trailers,
        cc_stable=a.cc_stable or b.cc_stable,
        upstream_commit=a.upstream_commit or b.upstream_commit,
        syzbot_extids=tuple(dict.fromkeys((*a.syzbot_extids, *b.syzbot_extids))),
        kind=a.kind if a.kind is not MessageKind.REPLY else b.kind,  # a body may show what a subject did not
    )


def start_lookup(
    target: Report | Signature | Query,
    *,
    settings: Settings | None = None,
    budget: float | None = None,
    text: str | None = None,
    client: UpstreamClient | None = None,
    fix_commits: Iterable[str] = (),
) -> LookupJob:
    """Start asking upstream about ``target``; returns at once with a :class:`LookupJob`.

    ``settings`` default to the environment's; ``client`` to one with this process's cache and
    pace (a deployment passes :meth:`sigmatch.runtime.Runtime.upstream_client`).
    """
    s = settings if settings is not None else Settings.from_env()
    q = target if isinstance(target, Query) else query_for(target, text=text, fix_commits=fix_commits)
    b = s.upstream_budget if budget is None else float(budget)
    return LookupJob(q, settings=s, client=client or client_from_settings(s), budget=b).start()


def lookup(
    target: Report | Signature | Query,
    *,
    settings: Settings | None = None,
    budget: float | None = None,
    text: str | None = None,
    client: UpstreamClient | None = None,
    fix_commits: Iterable[str] = (),
) -> UpstreamResult:
    """Upstream results for ``target`` within ``budget`` seconds (default ``SIGMATCH_UPSTREAM_BUDGET``).

    Never raises for upstream trouble: what could not be said is in ``notes`` and ``sources``.
    """
    job = start_lookup(target, settings=settings, budget=budget, text=text, client=client, fix_commits=fix_commits)
    job.wait(job.budget)
    return job.result()
