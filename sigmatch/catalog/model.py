"""Known-bug catalog types. Values only; loaders and importers build them.

Every fact (a commit, a release) carries where it came from (``source``) and whether it has been
checked (``verified``). Curated entries come from ``signatures/``; imported ones from the kernel
CVE records (``origin='cve'``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

# Re-exported: the version value lives with the rest of the version code (trace/kversion.py).
from sigmatch.trace.kversion import KernelVersion as KernelVersion


class Origin(StrEnum):
    CURATED = "curated"
    CVE = "cve"


class Status(StrEnum):
    """Verdict for a running kernel against one known bug."""

    AFFECTED = "affected"
    FIXED = "fixed"
    NOT_AFFECTED = "not_affected"  # predates the introducing commit
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FixCommit:
    sha: str  # 40-hex mainline commit
    subject: str = ""
    mainline: str | None = None  # first mainline release carrying it, e.g. "4.17"
    source: str | None = None
    verified: bool = True

    @property
    def short(self) -> str:
        return self.sha[:12]

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "subject": self.subject, "mainline": self.mainline,
                "source": self.source, "verified": self.verified}


@dataclass(frozen=True, slots=True)
class StableFix:
    branch: str  # "4.14"
    version: str | None  # "4.14.38"; None when the branch is known to be unfixed
    sha: str | None = None  # the stable backport commit
    source: str | None = None
    verified: bool = True
    # the first release of this branch with the bug, when it came by a stable backport ("6.6.70");
    # earlier releases of the branch are not affected
    introduced: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"branch": self.branch, "version": self.version, "sha": self.sha,
                "source": self.source, "verified": self.verified, "introduced": self.introduced}


@dataclass(frozen=True, slots=True)
class Introduced:
    sha: str | None = None
    subject: str | None = None
    release: str | None = None  # first release with the bug, e.g. "4.12"
    source: str | None = None
    verified: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"sha": self.sha, "subject": self.subject, "release": self.release,
                "source": self.source, "verified": self.verified}


@dataclass(frozen=True, slots=True)
class Reference:
    kind: str  # bugzilla | lore | cve | syzbot | url
    value: str  # "199437", a Message-ID, "CVE-2024-47660", a URL
    url: str | None = None
    title: str | None = None
    # set on a reference a refresh attached (not written by a person): when, and the evidence that
    # it is this bug ("2026-11-25: bugzilla bug naming the fix 172e422ffea2")
    found: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "value": self.value, "url": self.url, "title": self.title, "found": self.found}


@dataclass(frozen=True, slots=True)
class VendorFix:
    """A distribution kernel line that carries the fix, per its package changelog (``sigmatch refresh
    --vendor-changelog``): from ``build`` on (:mod:`sigmatch.catalog.vendor`)."""

    line: str  # the kernel line the changelog is for (KernelVersion.vendor_line): "el8", "debian-6.1", "ubuntu-5.15"
    build: str | None  # the first build whose changelog entry lists the fix: "4.18.0-513.9.1.el8_9", "6.1.76-1"
    evidence: str  # what the entry says: 'CVE-2024-1086' / 'subject "tcp: fix ..."' / 'commit 1234abcd5678'
    source: str  # the changelog and its entry: "kernel-4.18.0-553.el8.changelog: [4.18.0-513.9.1.el8_9]"
    abi: str | None = None  # Debian/Ubuntu ABI of that build ("18"), for kernels whose build is not known
    abi_first: bool = False  # the build is the first of its ABI in the changelog: every build of that ABI has it
    exact: bool = True  # False: the changelog says ``build`` carries it, not that earlier builds lack it (SUSE)

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "build": self.build, "evidence": self.evidence, "source": self.source,
                "abi": self.abi, "abi_first": self.abi_first, "exact": self.exact}


@dataclass(frozen=True, slots=True)
class BugSignature:
    """One way a known bug shows up in a log. A bug may have several."""

    title: str | None = None
    alt_titles: tuple[str, ...] = ()
    frames: tuple[str, ...] = ()  # normalized function names, top first
    kind: str | None = None
    files: tuple[str, ...] = ()
    low_information: bool = False
    source: str | None = None  # "example 1", "CVE description", ...
    # From an example trace (optional): the kernel version that printed it. The matcher breaks
    # ties between bugs with one title with it (a bug filed again shows up on later kernels).
    kernel: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "alt_titles": list(self.alt_titles), "frames": list(self.frames),
                "kind": self.kind, "files": list(self.files), "low_information": self.low_information,
                "source": self.source, "kernel": self.kernel}


@dataclass(frozen=True, slots=True)
class KnownBug:
    id: str
    title: str
    origin: Origin = Origin.CURATED
    summary: str = ""
    kinds: tuple[str, ...] = ()
    signatures: tuple[BugSignature, ...] = ()
    fixes: tuple[FixCommit, ...] = ()
    stable: tuple[StableFix, ...] = ()
    introduced: Introduced | None = None
    references: tuple[Reference, ...] = ()
    cves: tuple[str, ...] = ()
    files: tuple[str, ...] = ()  # files the fix changed
    functions: tuple[str, ...] = ()  # functions/identifiers the record names (description, subject)
    unfixed_branches: tuple[str, ...] = ()  # stable branches known vulnerable with no fix
    withdrawn: bool = False  # a CVE that was rejected, or a fix that was reverted
    source_path: str | None = None  # the YAML file or CVE record it came from
    vendor_fixes: tuple[VendorFix, ...] = ()  # distribution kernels whose changelogs list the fix
    extra: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def stable_fixed(self) -> dict[str, str]:
        """``{"6.1": "6.1.31", ...}``: first release with the fix on each stable branch."""
        return {s.branch: s.version for s in self.stable if s.version}

    @property
    def mainline_fixed(self) -> str | None:
        releases = [f.mainline for f in self.fixes if f.mainline]
        return releases[0] if releases else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "origin": self.origin.value,
            "summary": self.summary,
            "kinds": list(self.kinds),
            "signatures": [s.to_dict() for s in self.signatures],
            "fixes": [f.to_dict() for f in self.fixes],
            "stable": [s.to_dict() for s in self.stable],
            "stable_fixed": self.stable_fixed,
            "mainline_fixed": self.mainline_fixed,
            "introduced": self.introduced.to_dict() if self.introduced else None,
            "references": [r.to_dict() for r in self.references],
            "cves": list(self.cves),
            "files": list(self.files),
            "functions": list(self.functions),
            "unfixed_branches": list(self.unfixed_branches),
            "withdrawn": self.withdrawn,
            "source_path": self.source_path,
            "vendor_fixes": [v.to_dict() for v in self.vendor_fixes],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KnownBug:
        """Inverse of :meth:`to_dict` (used by the stores)."""
        intro = d.get("introduced")
        return cls(
            id=d["id"],
            title=d["title"],
            origin=Origin(d.get("origin", "curated")),
            summary=d.get("summary", ""),
            kinds=tuple(d.get("kinds", ())),
            signatures=tuple(
                BugSignature(title=s.get("title"), alt_titles=tuple(s.get("alt_titles", ())),
                             frames=tuple(s.get("frames", ())), kind=s.get("kind"),
                             files=tuple(s.get("files", ())), low_information=s.get("low_information", False),
                             source=s.get("source"), kernel=s.get("kernel"))
                for s in d.get("signatures", ())
            ),
            fixes=tuple(FixCommit(**f) for f in d.get("fixes", ())),
            stable=tuple(StableFix(**s) for s in d.get("stable", ())),
            introduced=Introduced(**intro) if intro else None,
            references=tuple(Reference(**r) for r in d.get("references", ())),
            cves=tuple(d.get("cves", ())),
            files=tuple(d.get("files", ())),
            functions=tuple(d.get("functions", ())),
            unfixed_branches=tuple(d.get("unfixed_branches", ())),
            withdrawn=d.get("withdrawn", False),
            source_path=d.get("source_path"),
            vendor_fixes=tuple(VendorFix(**v) for v in d.get("vendor_fixes", ())),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a known bug means for the kernel that crashed."""

    status: Status
    running: str | None  # the version string from the log
    branch: str | None  # its stable branch, "4.14"
    first_fixed: str | None  # first release with the fix on that branch (or the nearest branch)
    fixed_branch: str | None  # the branch ``first_fixed`` is on (differs when the branch has no fix)
    reason: str  # one sentence: why this status
    caveat: str | None = None  # distribution-kernel caveat, unverified facts, ...
    # The release to move to: set only when the running kernel lacks the fix (``affected``). A kernel
    # that carries it (``fixed``: ``first_fixed`` is then "since when") is never told to install one.
    # For a distribution kernel it is an upstream release to base on, or the vendor build its
    # changelog names (``vendor_fix`` says so).
    install: str | None = None
    # Distribution kernels: the vendor, the upstream release the kernel is based on (``6.1.76``;
    # ``4.18`` when the vendor's numbering hides the sublevel), that base release's own status
    # (``status`` is what can be said about the vendor kernel: a hidden base that lacks the fix is
    # ``unknown``, since the vendor may have backported it), and what the vendor changelog recorded
    # by ``sigmatch refresh --vendor-changelog`` says about the fix.
    vendor: str | None = None
    base: str | None = None
    base_status: Status | None = None
    vendor_fix: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status.value, "running": self.running, "branch": self.branch,
                "first_fixed": self.first_fixed, "fixed_branch": self.fixed_branch,
                "install": self.install, "reason": self.reason, "caveat": self.caveat,
                "vendor": self.vendor, "base": self.base,
                "base_status": self.base_status.value if self.base_status is not None else None,
                "vendor_fix": self.vendor_fix}
