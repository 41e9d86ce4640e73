"""What the upstream clients return: values only, no I/O.

::

    UpstreamResult                      one lookup: everything that arrived within the budget
    ├── LoreMessage   (reports, patches) a mailing-list message found on lore, link carries the Message-ID
    ├── BugzillaBug                      a bugzilla.kernel.org bug with the kernel custom fields
    ├── SyzbotBug                        a syzbot dashboard bug: fix commits, cause commit, discussions
    ├── UpstreamCommit                   a commit named upstream as a fix (where it was found)
    ├── StableRelease                    first stable release on a branch carrying a fix (from ChangeLogs)
    └── SourceStatus                     per source: ok / empty / error / pending, and why

Every text field came from an untrusted upstream page: renderers escape it where they show it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class MessageKind(StrEnum):
    REPORT = "report"  # a crash report (syzbot or a person), not a patch
    PATCH = "patch"  # a [PATCH ...] posting: a proposed or applied fix
    REPLY = "reply"  # anything else in the thread


@dataclass(frozen=True, slots=True)
class Trailer:
    name: str  # canonical case: "Fixes", "Reported-by", "Closes", "Link", "Cc"
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True, slots=True)
class LoreMessage:
    message_id: str
    subject: str
    url: str  # <lore base>/all/<Message-ID>/ (always built from the configured base URL)
    kind: MessageKind = MessageKind.REPLY
    date: str | None = None  # ISO 8601 when known
    author: str | None = None
    lists: tuple[str, ...] = ()  # inbox names: "linux-fsdevel", "lkml", ...
    in_reply_to: str | None = None  # Message-ID of the parent
    trailers: tuple[Trailer, ...] = ()
    cc_stable: bool = False
    upstream_commit: str | None = None  # "[ Upstream commit <sha> ]" / "commit <sha> upstream." (stable backports)
    answers: tuple[str, ...] = ()  # Message-IDs of the reports this patch answers (thread, Closes:, Link:)
    syzbot_extids: tuple[str, ...] = ()

    def trailer_values(self, name: str) -> tuple[str, ...]:
        low = name.lower()
        return tuple(t.value for t in self.trailers if t.name.lower() == low)

    @property
    def fixes(self) -> tuple[str, ...]:
        return self.trailer_values("Fixes")

    def to_dict(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "subject": self.subject,
            "url": self.url,
            "kind": self.kind.value,
            "date": self.date,
            "author": self.author,
            "lists": list(self.lists),
            "in_reply_to": self.in_reply_to,
            "trailers": [t.to_dict() for t in self.trailers],
            "fixes": list(self.fixes),
            "cc_stable": self.cc_stable,
            "upstream_commit": self.upstream_commit,
            "answers": list(self.answers),
            "syzbot_extids": list(self.syzbot_extids),
        }


@dataclass(frozen=True, slots=True)
class UpstreamCommit:
    sha: str  # 12..40 hex, as upstream wrote it
    subject: str = ""
    source: str = ""  # "bugzilla:299901", "syzbot:c679f1...", "lore:<msgid>"
    url: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "subject": self.subject, "source": self.source, "url": self.url}


@dataclass(frozen=True, slots=True)
class BugzillaBug:
    id: int
    summary: str
    url: str
    status: str = ""
    resolution: str = ""
    product: str = ""
    component: str = ""
    kernel_version: str = ""  # cf_kernel_version
    regression: str = ""  # cf_regression
    bisect_commit: str = ""  # cf_bisect_commit
    tree: str = ""  # cf_tree
    is_open: bool | None = None
    created: str | None = None
    changed: str | None = None
    see_also: tuple[str, ...] = ()
    commits: tuple[UpstreamCommit, ...] = ()  # commits named in comments
    fixed_in: tuple[str, ...] = ()  # releases named in comments as carrying the fix

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "summary": self.summary,
            "url": self.url,
            "status": self.status,
            "resolution": self.resolution,
            "product": self.product,
            "component": self.component,
            "kernel_version": self.kernel_version,
            "regression": self.regression,
            "bisect_commit": self.bisect_commit,
            "tree": self.tree,
            "is_open": self.is_open,
            "created": self.created,
            "changed": self.changed,
            "see_also": list(self.see_also),
            "commits": [c.to_dict() for c in self.commits],
            "fixed_in": list(self.fixed_in),
        }


@dataclass(frozen=True, slots=True)
class SyzbotBug:
    title: str
    url: str
    extid: str | None = None
    status: str = ""  # "open", "fixed", "fix pending" (our reading of the JSON)
    fix_commits: tuple[UpstreamCommit, ...] = ()
    cause_commit: UpstreamCommit | None = None
    discussions: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "url": self.url,
            "extid": self.extid,
            "status": self.status,
            "fix_commits": [c.to_dict() for c in self.fix_commits],
            "cause_commit": self.cause_commit.to_dict() if self.cause_commit else None,
            "discussions": list(self.discussions),
        }


@dataclass(frozen=True, slots=True)
class StableRelease:
    branch: str  # "6.1"
    version: str  # "6.1.109"
    upstream_sha: str  # the mainline commit as asked
    stable_sha: str | None = None  # the backport commit in the stable tree
    subject: str = ""
    source: str = ""  # the ChangeLog URL it was read from

    def to_dict(self) -> dict[str, Any]:
        return {
            "branch": self.branch,
            "version": self.version,
            "upstream_sha": self.upstream_sha,
            "stable_sha": self.stable_sha,
            "subject": self.subject,
            "source": self.source,
        }


class SourceState(StrEnum):
    OK = "ok"  # answered with results
    EMPTY = "empty"  # answered: nothing found
    ERROR = "error"  # did not answer usefully (timeout, 5xx, bot wall, unreadable page)
    PENDING = "pending"  # still running when the budget ran out
    SKIPPED = "skipped"  # nothing to ask it (e.g. no syzbot id known)


@dataclass(frozen=True, slots=True)
class SourceStatus:
    name: str  # lore | bugzilla | syzbot | stable
    state: SourceState
    note: str = ""
    tasks: int = 0  # how many questions were put to it (a search, a thread, a bug's comments...)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "state": self.state.value, "note": self.note, "tasks": self.tasks}


@dataclass(frozen=True, slots=True)
class UpstreamResult:
    query: dict[str, Any]  # what was asked: terms per source
    reports: tuple[LoreMessage, ...] = ()
    patches: tuple[LoreMessage, ...] = ()
    replies: tuple[LoreMessage, ...] = ()
    bugzilla: tuple[BugzillaBug, ...] = ()
    syzbot: tuple[SyzbotBug, ...] = ()
    fix_commits: tuple[UpstreamCommit, ...] = ()
    stable: tuple[StableRelease, ...] = ()
    sources: tuple[SourceStatus, ...] = ()
    notes: tuple[str, ...] = ()  # plain sentences: what upstream could not say
    elapsed: float = 0.0
    budget: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def pending(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.sources if s.state is SourceState.PENDING)

    @property
    def failed(self) -> tuple[str, ...]:
        """The sources asked, when every one of them failed (no network, DNS, refused): then
        nothing is known, which is not the same as "nothing found"; () otherwise."""
        asked = [s for s in self.sources if s.state is not SourceState.SKIPPED]
        if asked and all(s.state is SourceState.ERROR for s in asked):
            return tuple(s.name for s in asked)
        return ()

    @property
    def complete(self) -> bool:
        """Every source asked has answered (none pending, and not all of them failed)."""
        return not self.pending and not self.failed

    def to_dict(self) -> dict[str, Any]:
        return {
            "query": dict(self.query),
            "complete": self.complete,
            "pending": list(self.pending),
            "failed": list(self.failed),
            "elapsed_s": round(self.elapsed, 3),
            "budget_s": self.budget,
            "reports": [m.to_dict() for m in self.reports],
            "patches": [m.to_dict() for m in self.patches],
            "replies": [m.to_dict() for m in self.replies],
            "bugzilla": [b.to_dict() for b in self.bugzilla],
            "syzbot": [b.to_dict() for b in self.syzbot],
            "fix_commits": [c.to_dict() for c in self.fix_commits],
            "stable": [s.to_dict() for s in self.stable],
            "sources": [s.to_dict() for s in self.sources],
            "notes": list(self.notes),
        }
