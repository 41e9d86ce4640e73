"""Verdicts: what a known bug means for the running kernel.

Pure: no I/O. :func:`verdict` says ``affected``, ``fixed``, ``not_affected`` or ``unknown``, the
first release with the fix and why. Kernel version strings, release ordering and the version in a
log are :mod:`sigmatch.trace.kversion`'s (re-exported here for the callers that read them with
verdicts: :func:`parse_kernel_version`, :func:`version_from_log`, :func:`release_key`,
:func:`compare_releases`, :func:`branch_of`).
"""

from __future__ import annotations

import re
from dataclasses import replace

from sigmatch.catalog.model import KernelVersion, KnownBug, Status, VendorFix, Verdict
from sigmatch.trace.kversion import (
    FINAL_RC,
    branch_key,
    branch_of,
    compare_releases,
    is_mainline_release,
    parse_kernel_version,
    release_key,
    running_key,
    vendor_version_cmp,
    version_from_log,
)

__all__ = [
    "branch_of",
    "compare_releases",
    "parse_kernel_version",
    "release_key",
    "verdict",
    "version_from_log",
]


# ---------------------------------------------------------------------------------- verdicts


def verdict(bug: KnownBug, running: KernelVersion | None) -> Verdict:
    """What ``bug`` means for the ``running`` kernel.

    The upstream rules below decide for the running kernel's upstream release; for a distribution
    kernel that is its *base*, and :func:`_vendor_verdict` then says what is known about the
    vendor's build (its changelog first, see there). Order of the upstream checks:

    1. no running version → ``unknown`` (with the best release to move to);
    2. a withdrawn fix / rejected CVE → ``unknown``;
    3. the running release is at or past the first mainline release with the fix → ``fixed``
       (a release candidate of that very release → ``unknown``: the fix may have landed later);
    4. the running branch has a stable fix → ``fixed`` / ``affected`` by sublevel (``unknown`` when
       the distribution's number hides the sublevel);
    5. the running branch is listed as unfixed → ``affected``, with the nearest newer branch's fix;
    6. the bug exists only where stable backports brought it (no mainline fix or introduction; every
       branch recorded got it by a backport) and the running branch is not one of them →
       ``not_affected``;
    7. the running release predates the introducing release (on its branch, when a stable backport
       brought the bug: checked before 4) → ``not_affected``;
    8. otherwise the running kernel predates the fix and no backport is recorded for its branch →
       ``affected`` (or ``unknown`` when no fix at all is known and the introduction is unknown).

    ``first_fixed`` is the first release with the fix on the running branch (or the nearest one);
    ``install`` is set only for ``affected``: a kernel that already carries the fix (``fixed``) is
    never told to install anything, and ``unknown`` names the release without asking for it.
    """
    return _vendor_verdict(_Verdicter(bug, running).run(), bug, running)


class _Verdicter:
    """One verdict computation; small methods so that each rule reads on its own."""

    def __init__(self, bug: KnownBug, running: KernelVersion | None) -> None:
        self.bug = bug
        self.kv = running
        self.mainline = self._first_mainline()
        self.stable = self._stable_by_branch()
        self.unverified: list[str] = []

    # ---- facts
    def _first_mainline(self) -> tuple[str, bool] | None:
        """(first mainline release with a fix, verified) — the earliest of the fixes' releases."""
        best: tuple[str, bool] | None = None
        for fix in self.bug.fixes:
            if fix.mainline and release_key(fix.mainline) is not None and (
                best is None or compare_releases(fix.mainline, best[0]) < 0
            ):
                best = (fix.mainline, fix.verified)
        if best is None:
            # a stable list that names a mainline release ("6.11": "6.11") says the same thing
            for s in self.bug.stable:
                if s.version and is_mainline_release(s.version) and (
                    best is None or compare_releases(s.version, best[0]) < 0
                ):
                    best = (s.version, s.verified)
        return best

    def _stable_by_branch(self) -> dict[str, tuple[str, bool]]:
        out: dict[str, tuple[str, bool]] = {}
        for s in self.bug.stable:
            if not s.version or release_key(s.version) is None:
                continue
            branch = branch_of(s.version) or s.branch
            old = out.get(branch)
            if old is None or compare_releases(s.version, old[0]) < 0:
                out[branch] = (s.version, s.verified)
        return out

    def _note_unverified(self, what: str, verified: bool) -> None:
        if not verified:
            self.unverified.append(what)

    # ---- result
    def _verdict(self, status: Status, reason: str, first_fixed: str | None = None,
                 fixed_branch: str | None = None) -> Verdict:
        kv = self.kv
        return Verdict(
            status=status,
            running=kv.raw if kv else None,
            branch=kv.stable_branch if kv else None,
            first_fixed=first_fixed,
            fixed_branch=fixed_branch,
            reason=reason,
            caveat=self._caveat(status),
            install=first_fixed if status is Status.AFFECTED else None,
        )

    def _caveat(self, status: Status) -> str | None:
        parts: list[str] = []
        kv = self.kv
        if kv is not None and kv.distro is not None:
            if not any(f.line == kv.vendor_line for f in self.bug.vendor_fixes):  # else its changelog speaks
                parts.append(self._distro_caveat(kv))
        elif kv is not None and (kv.rc is not None or kv.local.startswith(("+", "-next", "-syzkaller"))
                                 or re.search(r"-\d+-g[0-9a-f]{6,}", kv.local)):
            parts.append(f"{kv.raw} is a development build: it may carry commits beyond {kv.upstream}.")
        if self.unverified:
            parts.append("Not yet verified: " + "; ".join(dict.fromkeys(self.unverified)) + ".")
        if self.bug.withdrawn and status is not Status.UNKNOWN:
            parts.append("The fix was withdrawn or the record rejected.")
        return " ".join(parts) or None

    def _distro_caveat(self, kv: KernelVersion) -> str:
        fix = self.bug.fixes[0] if self.bug.fixes else None
        look_for = f" for {fix.short} \"{fix.subject}\"" if fix and fix.subject else (
            f" for {fix.short}" if fix else "")
        cves = f" or {', '.join(self.bug.cves[:3])}" if self.bug.cves else ""
        tell = (f": check the package changelog{look_for}{cves}, or give it to `sigmatch refresh "
                "--vendor-changelog` to have it read.")
        if kv.sublevel_known:
            return (f"{kv.raw} is a distribution kernel ({kv.vendor}) based on upstream {kv.upstream}: its "
                    f"vendor may have backported fixes under its own numbering{tell}")
        return (f"{kv.raw} is a distribution kernel ({kv.vendor}) whose numbering does not follow upstream "
                f"stable releases (only branch {kv.stable_branch} is known) and which carries backports under "
                f"its own numbering{tell}")

    # ---- the rules, in order
    def run(self) -> Verdict:
        if self.kv is None:
            return self._no_version()
        if self.bug.withdrawn:
            return self._verdict(Status.UNKNOWN,
                                 "The fix for this bug was withdrawn or its record rejected, so no release "
                                 "can be said to carry it.")
        for rule in (self._mainline_rule, self._branch_introduced_rule, self._stable_rule, self._unfixed_rule,
                     self._backport_only_rule, self._introduced_rule, self._predates_fix_rule):
            result = rule(self.kv)
            if result is not None:
                return result
        raise AssertionError("unreachable: _predates_fix_rule always answers")  # pragma: no cover

    def _best_target(self, after_branch: str | None = None) -> tuple[str | None, str | None, bool]:
        """(first_fixed, fixed_branch, verified): nearest newer branch with a fix, else mainline."""
        start = branch_key(after_branch) if after_branch else None
        candidates = sorted(
            ((bk, b, v) for b, v in self.stable.items() if (bk := branch_key(b)) is not None
             and (start is None or bk > start)),
        )
        if self.mainline is not None:
            mb = branch_key(branch_of(self.mainline[0]) or "")
            candidates = [c for c in candidates if mb is None or c[0] < mb]
        if candidates:
            _, b, (version, verified) = candidates[0]
            return version, b, verified
        if self.mainline is not None:
            return self.mainline[0], "mainline", self.mainline[1]
        return None, None, True

    def _no_version(self) -> Verdict:
        target: str | None
        branch: str | None
        if self.mainline is not None:
            target, branch, verified = self.mainline[0], "mainline", self.mainline[1]
        else:
            target, branch, verified = self._best_target()
        if target:
            self._note_unverified(f"fix release {target}", verified)
        where = "" if target is None else (
            f"; the fix is first in mainline {target}" if branch == "mainline"
            else f"; the earliest recorded fix is {target} (branch {branch})")
        return self._verdict(Status.UNKNOWN, f"No kernel version was found in the log{where}.",
                             target, branch)

    def _mainline_rule(self, kv: KernelVersion) -> Verdict | None:
        if self.mainline is None:
            return None
        release, verified = self.mainline
        fix_key = release_key(release)
        assert fix_key is not None
        running_branch = branch_key(kv.stable_branch)
        fix_branch = branch_key(branch_of(release) or "")
        if running_branch is None or fix_branch is None or running_branch < fix_branch:
            return None
        self._note_unverified(f"first mainline release with the fix {release}", verified)
        if running_branch > fix_branch:
            return self._verdict(Status.FIXED,
                                 f"{kv.upstream} is newer than mainline {release}, the first release with the fix.",
                                 release, "mainline")
        # same branch as the mainline fix release
        if kv.rc is None or (fix_key[4] != FINAL_RC and kv.rc >= fix_key[4]):
            return self._verdict(Status.FIXED,
                                 f"{kv.upstream} is on branch {kv.stable_branch}, which has carried the fix "
                                 f"since mainline {release}.",
                                 release, "mainline")
        if fix_key[4] != FINAL_RC:
            return self._verdict(Status.AFFECTED,
                                 f"{kv.upstream} predates {release}, the release candidate that brought the fix.",
                                 release, "mainline")
        return self._verdict(Status.UNKNOWN,
                             f"{kv.upstream} is a release candidate of {release}, the first release with the fix; "
                             f"the fix may have been merged after this release candidate.",
                             release, "mainline")

    def _branch_introduced_rule(self, kv: KernelVersion) -> Verdict | None:
        """A stable backport brought the bug into this branch at a known release: earlier
        releases of the branch never had it."""
        if not kv.sublevel_known:
            return None
        branch = kv.stable_branch
        for s in self.bug.stable:
            if s.branch != branch or not s.introduced or branch_of(s.introduced) != branch:
                continue
            ikey = release_key(s.introduced)
            if ikey is not None and running_key(kv) < ikey:
                self._note_unverified(f"introduced on {branch} in {s.introduced}", s.verified)
                return self._verdict(Status.NOT_AFFECTED,
                                     f"{kv.upstream} predates {s.introduced}, the {branch} release that brought "
                                     f"the bug in with a backport.")
        return None

    def _stable_rule(self, kv: KernelVersion) -> Verdict | None:
        branch = kv.stable_branch
        hit = self.stable.get(branch)
        if hit is None:
            return None
        version, verified = hit
        self._note_unverified(f"first {branch} release with the fix {version}", verified)
        if not kv.sublevel_known:
            return self._verdict(Status.UNKNOWN,
                                 f"Upstream {branch} carries the fix from {version}, but the version {kv.raw} "
                                 f"does not say which upstream {branch} release it is based on.",
                                 version, branch)
        if running_key(kv) >= (release_key(version) or running_key(kv)):
            return self._verdict(Status.FIXED,
                                 f"{kv.upstream} is at or past {version}, the first {branch} release with the fix.",
                                 version, branch)
        return self._verdict(Status.AFFECTED,
                             f"{kv.upstream} predates {version}, the first {branch} release with the fix.",
                             version, branch)

    def _unfixed_rule(self, kv: KernelVersion) -> Verdict | None:
        branch = kv.stable_branch
        if branch not in self.bug.unfixed_branches and not any(
                s.branch == branch and s.version is None for s in self.bug.stable):
            return None
        target, tbranch, verified = self._best_target(branch)
        if target:
            self._note_unverified(f"fix release {target}", verified)
        return self._verdict(Status.AFFECTED,
                             f"Branch {branch} is recorded as affected with no fix yet"
                             + _move_to(target, tbranch) + ".",
                             target, tbranch)

    def _backport_only_rule(self, kv: KernelVersion) -> Verdict | None:
        """A bug that only stable backports brought in (a stable-only regression, fixed in stable:
        the CVE records of such bugs list no mainline fix or introduction) is on no other branch."""
        if self.mainline is not None or not self.bug.stable:
            return None
        intro = self.bug.introduced
        if intro is not None and intro.release:
            return None
        if not all(s.introduced and branch_of(s.introduced) == s.branch for s in self.bug.stable):
            return None
        branch = kv.stable_branch
        if any(s.branch == branch for s in self.bug.stable):
            return None
        where = ", ".join(f"{s.branch} (in {s.introduced})" for s in self.bug.stable)
        return self._verdict(Status.NOT_AFFECTED,
                             f"This bug came in only with stable backports, on branch{'es' if len(self.bug.stable) > 1 else ''} "
                             f"{where}; no record puts it on branch {branch}.")

    def _introduced_rule(self, kv: KernelVersion) -> Verdict | None:
        intro = self.bug.introduced
        if intro is None or not intro.release:
            return None
        ikey = release_key(intro.release)
        if ikey is None:
            return None
        branch = kv.stable_branch
        if is_mainline_release(intro.release):
            rkey = running_key(kv)
            if not kv.sublevel_known:  # only the branch is known: compare its first release
                rkey = (*rkey[:3], 0, FINAL_RC) if kv.major == 2 else (*rkey[:2], 0, 0, FINAL_RC)
            before = rkey < ikey
        else:
            # introduced by a stable backport: only says something about that branch
            if branch_of(intro.release) != branch or not kv.sublevel_known:
                return None
            before = running_key(kv) < ikey
        if not before:
            return None
        self._note_unverified(f"introduced in {intro.release}", intro.verified)
        return self._verdict(Status.NOT_AFFECTED,
                             f"{kv.upstream} predates {intro.release}, where the bug came in.")

    def _predates_fix_rule(self, kv: KernelVersion) -> Verdict:
        branch = kv.stable_branch
        target, tbranch, verified = self._best_target(branch)
        if target is None and self.bug.fixes:
            fix = self.bug.fixes[0]
            return self._verdict(Status.UNKNOWN,
                                 f"A fix is known ({fix.short}), but the record names neither a {branch} release "
                                 f"nor the first mainline release that carries it.")
        if target is None:
            if self.bug.introduced is not None and self.bug.introduced.release:
                return self._verdict(Status.AFFECTED,
                                     f"No fix is known for this bug, and {kv.upstream} is not older than "
                                     f"{self.bug.introduced.release}, where it came in.")
            return self._verdict(Status.UNKNOWN, "No fix is known for this bug, nor when it came in.")
        self._note_unverified(f"fix release {target}", verified)
        record = "no backport to it is recorded"
        return self._verdict(Status.AFFECTED,
                             f"{kv.upstream} predates the fix and {record} for branch {branch}"
                             + _move_to(target, tbranch) + ".",
                             target, tbranch)


def _move_to(target: str | None, branch: str | None) -> str:
    if target is None:
        return "; no fix is known on any branch"
    if branch == "mainline":
        return f"; the fix is in mainline {target} and later"
    return f"; the nearest newer branch with the fix is {branch} ({target})"



# ------------------------------------------------------------------------ distribution kernels


def _vendor_verdict(up: Verdict, bug: KnownBug, kv: KernelVersion | None) -> Verdict:
    """A distribution kernel's verdict from its upstream base's (``up``), by these rules in order:

    1. its vendor changelog (recorded by ``sigmatch refresh --vendor-changelog``) lists the fix at
       or before this build → ``fixed`` ("carries the fix per its changelog");
    2. the upstream base already carries the fix → ``fixed``;
    3. the changelog lists the fix only from a later build of the same stream → ``affected``, and
       that vendor build is the one to install (``unknown`` when the version cannot be placed
       against it, or it is another stream);
    4. the vendor's numbering hides the base's sublevel (RHEL ``4.18.0-513.el8``, Ubuntu
       ``5.15.0-91-generic``, Debian ``6.1.0-18-amd64`` without its banner, SLES, UEK): the vendor
       backports fixes and code into that kernel, so a base that lacks the fix, or predates the bug,
       says nothing sure about the build → ``unknown``, with the base's status given;
    5. otherwise (a build of a known upstream release: ``4.14.32-1.el7``, Fedora, Amazon Linux,
       Debian/Ubuntu with their banner) the base's status stands; the caveat says the vendor may
       have backported the fix.
    """
    if kv is None or kv.distro is None:
        return up
    v = replace(up, vendor=kv.vendor, base=kv.upstream, base_status=up.status)
    facts = [f for f in bug.vendor_fixes if f.line == kv.vendor_line]
    for rule in _VENDOR_RULES:
        out = rule(v, kv, facts)
        if out is not None:
            return out
    return v


def _build_cmp(kv: KernelVersion, fix: VendorFix) -> int | None:
    """-1 / 0 / 1 as the running build is older than, the same as or newer than the fix's build;
    None when the version does not tell (same Debian ABI as a build in the middle of that ABI)."""
    if kv.build and fix.build:
        return vendor_version_cmp(kv.build, fix.build)
    if kv.abi and fix.abi and kv.abi.isdigit() and fix.abi.isdigit():
        a, b = int(kv.abi), int(fix.abi)
        if a != b:
            return -1 if a < b else 1
        return 0 if fix.abi_first else None
    return None


_DIST_TAG = re.compile(r"\.(el\d+(?:_\d+)?(?:uek)?|fc\d+|amzn\d+)$")


def _same_stream(kv: KernelVersion, fix: VendorFix) -> bool:
    """An RPM build of the stream the changelog follows (``el8_9`` z-stream builds branch off ``el8``)."""
    a = _DIST_TAG.search(kv.build or "")
    b = _DIST_TAG.search(fix.build or "")
    return a is None or b is None or a.group(1) == b.group(1)


def _changelog_carries(v: Verdict, kv: KernelVersion, facts: list[VendorFix]) -> Verdict | None:
    for fix in facts:
        c = _build_cmp(kv, fix)
        if c is not None and c >= 0:
            since = f"from build {fix.build} on" if fix.build else "in this build"
            return replace(v, status=Status.FIXED, install=None,
                           reason=f"Your vendor kernel {kv.raw} carries the fix per its changelog: it lists "
                                  f"{fix.evidence} {since}.",
                           vendor_fix=f"{fix.evidence}, listed {since} ({fix.source})")
    return None


def _base_fixed(v: Verdict, kv: KernelVersion, facts: list[VendorFix]) -> Verdict | None:
    return v if v.status is Status.FIXED else None


def _changelog_later(v: Verdict, kv: KernelVersion, facts: list[VendorFix]) -> Verdict | None:
    for fix in facts:
        c = _build_cmp(kv, fix)
        note = f"{fix.evidence}, listed from build {fix.build} on ({fix.source})"
        if c is not None and c < 0 and fix.exact and _same_stream(kv, fix):
            return replace(v, status=Status.AFFECTED, install=fix.build, first_fixed=fix.build,
                           fixed_branch=kv.vendor_line,
                           reason=f"The vendor changelog lists the fix from build {fix.build} on ({fix.evidence}); "
                                  f"{kv.raw} is an older build.", vendor_fix=note)
        return replace(v, status=Status.UNKNOWN, install=None,
                       reason=f"The vendor changelog lists the fix from build {fix.build} on ({fix.evidence}), and "
                              f"the version {kv.raw} does not tell whether it is that build or a later one "
                              f"of the same line.", vendor_fix=note)
    return None


def _hidden_base(v: Verdict, kv: KernelVersion, facts: list[VendorFix]) -> Verdict | None:
    if kv.sublevel_known or v.status not in (Status.AFFECTED, Status.NOT_AFFECTED):
        return None
    lacks = "lacks the fix" if v.status is Status.AFFECTED else "predates the bug"
    may = "carry the fix" if v.status is Status.AFFECTED else "have the bug"
    return replace(v, status=Status.UNKNOWN, install=None,
                   reason=f"Upstream {kv.upstream}, the base of {kv.raw}, {lacks} ({v.reason.rstrip('.')}); "
                          f"{kv.vendor} backports fixes and code into its kernels under its own numbering, so "
                          f"this build may {may} all the same.")


_VENDOR_RULES = (_changelog_carries, _base_fixed, _changelog_later, _hidden_base)
