"""Kernel versions as they appear in logs and ``uname -r``, release ordering, and verdicts.

Pure: no I/O. Three jobs:

* :func:`parse_kernel_version` turns ``4.14.32-1.el7.x86_64``, ``6.1.0-18-amd64``,
  ``6.8.0-rc3+`` ... into a :class:`KernelVersion` (upstream base, stable branch, rc, distribution);
* :func:`release_key` / :func:`compare_releases` order release strings (``4.14.38`` > ``4.14.32``,
  ``6.11`` > ``6.10.9``, ``6.11-rc3`` < ``6.11``);
* :func:`verdict` says what a known bug means for the running kernel: ``affected``, ``fixed``,
  ``not_affected`` or ``unknown``, the first release with the fix and why.

Numbering quirks undone here, with where they come from:

* Debian (``6.1.0-18-amd64``, ``4.9.0-0.bpo.8-amd64``) and Ubuntu (``5.15.0-91-generic``,
  ``6.5.0-1014-azure``) print ``X.Y.0`` followed by their own ABI number: the upstream stable
  sublevel is not in the string at all.
* RHEL and its rebuilds (``3.10.0-1160.el7``, ``5.14.0-362.8.1.el9_3``, ``2.6.32-754.el6``) freeze
  ``X.Y.0`` for a major release and backport on top: again no upstream sublevel.
* Kernels built from upstream stable by a distribution (``4.14.32-1.el7`` custom builds,
  ``5.10.209-198.858.amzn2``, ``6.6.30-gentoo``, ``4.14.11-coreos``, Fedora ``fc39``, Arch) keep
  the upstream sublevel but may carry extra backports.
* Mainline builds print sublevel 0 (``6.8.0-rc3``): ``6.8.0`` is the mainline release ``6.8``.
  A trailing ``+`` (``CONFIG_LOCALVERSION_AUTO``) or ``-00123-gabcdef`` means commits on top of the
  tag; ``-next-YYYYMMDD`` is linux-next; ``-syzkaller`` is syzbot's build of some tree.
* 2.6-era releases have three numbers (``2.6.32``) and their stable releases four: the stable
  branch there is ``2.6.32``, not ``2.6``.
* Consoles and blog posts sometimes show ``–`` (en dash) for ``-``: treated the same.
"""

from __future__ import annotations

import functools
import re

from sigmatch.catalog.model import KernelVersion, KnownBug, Status, Verdict

__all__ = [
    "branch_of",
    "compare_releases",
    "parse_kernel_version",
    "release_key",
    "verdict",
    "version_from_log",
]

_MAX_VERSION_CHARS = 200  # longer "version strings" are not versions: look at the head only
_MAX_LOG_CHARS = 4_000_000  # version_from_log reads at most this much of a log

# 2.6.32 / 4.14.32 / 6.11 / v6.11-rc3, then whatever the builder appended.
_VERSION_RE = re.compile(
    r"v?(?P<major>\d{1,2})\.(?P<minor>\d{1,3})(?:\.(?P<patch>\d{1,4}))?"
    r"(?:-rc(?P<rc>\d{1,3}))?(?P<local>[^\s]*)"
)
_RELEASE_RE = re.compile(r"v?(\d{1,2})\.(\d{1,3})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?(?:-rc(\d{1,3}))?$")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-"})

# Debian kernel flavours (``linux-image-<abi>-<flavour>``); ``bpo`` marks a backports build.
_DEBIAN_FLAVOURS = frozenset({
    "amd64", "arm64", "686", "686-pae", "cloud-amd64", "cloud-arm64", "rt-amd64", "rt-arm64",
    "armmp", "armmp-lpae", "marvell", "rpi", "powerpc64le", "s390x", "4kc-malta", "5kc-malta",
    "octeon", "loongson-3", "mips32r2el", "mips64r2el", "riscv64", "686-pae-unsigned",
})
# Ubuntu flavours: generic plus the cloud/OEM kernels (``linux-azure`` prints ``-azure``, ...).
_UBUNTU_FLAVOUR_RE = re.compile(
    r"(generic|lowlatency|aws|azure|gcp|gke|gkeop|oracle|kvm|ibm|nvidia|raspi|oem|intel|realtime|"
    r"xilinx|fips|hwe|lts|snapdragon|allwinner|bluefield|riscv)"
)
# -18-amd64 / -91-generic / -1014-azure / -0.bpo.8-amd64
_ABI_FLAVOUR_RE = re.compile(r"-(?P<abi>\d+(?:\.bpo\.\d+)?)-(?P<flavour>[a-z][a-z0-9-]*|686[a-z-]*)")
_EL_RE = re.compile(r"\.el(?P<n>\d+)(?:_\d+)?(?P<uek>uek)?")
_SUSE_RE = re.compile(r"^-\d{6}\.")  # SLES: 5.14.21-150500.55.39-default
_NEXT_RE = re.compile(r"-next-(\d{8})")

# Distributions whose kernels keep the upstream stable sublevel (with their own backports on top).
_SIMPLE_DISTROS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"\.amzn(\d+)"), "amzn{0}"),
    (re.compile(r"\.fc(\d+)"), "fedora{0}"),
    (re.compile(r"-gentoo"), "gentoo"),
    (re.compile(r"-coreos"), "coreos"),
    (re.compile(r"-flatcar"), "flatcar"),
    (re.compile(r"-arch\d"), "arch"),
    (re.compile(r"-android\d+"), "android"),
    (re.compile(r"\.ph\d"), "photon"),
    (re.compile(r"-talos"), "talos"),
    (re.compile(r"\.cm2|\.azl\d"), "azurelinux"),
)


def _norm(s: str) -> str:
    return s[:_MAX_VERSION_CHARS].translate(_DASHES).strip()


def parse_kernel_version(s: str) -> KernelVersion | None:
    """The kernel version in ``s`` (a ``uname -r`` string or the version token of a log line).

    Returns None when ``s`` does not start with something shaped like a kernel version.
    Never raises on any string.
    """
    if not isinstance(s, str):
        return None
    text = _norm(s)
    if text.lower().startswith("linux "):
        text = text[6:].lstrip()
    m = _VERSION_RE.match(text)
    if m is None:
        return None
    major, minor = int(m["major"]), int(m["minor"])
    if not 2 <= major <= 30:
        return None
    patch: int | None = int(m["patch"]) if m["patch"] is not None else None
    rc = int(m["rc"]) if m["rc"] is not None else None
    local = m["local"]
    raw = m.group(0)
    if local[:1].isdigit():
        return None  # "6.1.123456": too many digits for a sublevel, not a version
    distro, sublevel_known = _distribution(major, patch, local)
    if not sublevel_known and major != 2:  # in 2.6.32 the third number is the release itself
        patch = None
    elif patch == 0 and major >= 3:
        patch = None  # X.Y.0 is the mainline release X.Y
    return KernelVersion(raw=raw, major=major, minor=minor, patch=patch, rc=rc, distro=distro,
                         local=local, sublevel_known=sublevel_known)


def _distribution(major: int, patch: int | None, local: str) -> tuple[str | None, bool]:
    """(distribution name or None, whether the printed sublevel is the upstream one)."""
    low = local.lower()
    frozen_base = patch == 0 or (major == 2 and patch is not None)  # RHEL/SLES keep X.Y.0 (2.6.32)
    el = _EL_RE.search(low)
    if el:
        name = f"el{el['n']}" + ("uek" if el["uek"] else "")
        # RHEL-family kernels are X.Y.0-<build>.elN; a kernel.org release packaged for EL
        # (ELRepo kernel-ml/lt, the Booking.com 4.14.32-1.el7 build) keeps its sublevel.
        return name, not (frozen_base or el["uek"])
    if _SUSE_RE.match(low):
        return "suse", False
    for pattern, name in _SIMPLE_DISTROS:
        hit = pattern.search(low)
        if hit:
            return name.format(*hit.groups()), True
    m = _ABI_FLAVOUR_RE.fullmatch(low)
    if m and patch in (0, None):
        flavour = m["flavour"]
        if "bpo" in m["abi"] or flavour in _DEBIAN_FLAVOURS:
            return "debian", False
        if _UBUNTU_FLAVOUR_RE.match(flavour):
            return "ubuntu", False
        return "distribution", False
    return None, True


def version_from_log(text: str) -> KernelVersion | None:
    """The running kernel's version as printed in a console log, or None.

    Looks (in this order) at ``Linux version X``, the ``CPU: N PID: N Comm: x (Not) tainted X #N``
    line every oops prints, and ``Kernel X on an arch`` getty banners.
    """
    if not isinstance(text, str) or not text:
        return None
    head = text[:_MAX_LOG_CHARS].translate(_DASHES)
    for pattern in _LOG_PATTERNS:
        m = pattern.search(head)
        if m:
            kv = parse_kernel_version(m.group(1))
            if kv is not None:
                return kv
    return None


_LOG_PATTERNS = (
    re.compile(r"Linux version (\S{3,120})"),
    re.compile(r"(?:Not tainted|Tainted: [A-Z ]{0,40}?)[ ]+(\d{1,2}\.\d{1,3}\S{0,120})[ ]+#"),
    re.compile(r"(?:Not tainted|Tainted: [A-Z ]{0,40}?)[ ]+(\d{1,2}\.\d{1,3}\S{0,120})"),
    re.compile(r"Kernel (\d{1,2}\.\d{1,3}\S{0,120}) on an? "),
)


# ---------------------------------------------------------------- release strings and ordering

_FINAL = 10_000  # sorts a release after all of its release candidates


def release_key(release: str) -> tuple[int, int, int, int, int] | None:
    """An ordering key for an upstream release string: ``6.11-rc3`` < ``6.11`` = ``6.11.0`` < ``6.11.1``.

    Returns None for anything that is not an upstream release (``4.14.y``, distribution strings).
    """
    if not isinstance(release, str):
        return None
    return _release_key(release)


@functools.lru_cache(maxsize=8192)  # a catalog names a few thousand distinct releases at most
def _release_key(release: str) -> tuple[int, int, int, int, int] | None:
    m = _RELEASE_RE.match(_norm(release))
    if m is None:
        return None
    major, minor = int(m[1]), int(m[2])
    patch = int(m[3]) if m[3] else 0
    fourth = int(m[4]) if m[4] else 0
    if fourth and major != 2:
        return None
    rc = int(m[5]) if m[5] else _FINAL
    return (major, minor, patch, fourth, rc)


def compare_releases(a: str, b: str) -> int:
    """-1, 0 or 1 as release ``a`` is older than, the same as or newer than ``b``.

    Raises ValueError when either is not an upstream release string.
    """
    ka, kb = release_key(a), release_key(b)
    if ka is None or kb is None:
        raise ValueError(f"not a kernel release: {a if ka is None else b!r}")
    return (ka > kb) - (ka < kb)


def branch_of(release: str) -> str | None:
    """The stable branch of a release: ``4.14.38`` → ``4.14``, ``6.11`` → ``6.11``, ``2.6.32.71`` → ``2.6.32``."""
    key = release_key(release)
    if key is None:
        return None
    if key[0] == 2:
        return f"{key[0]}.{key[1]}.{key[2]}"
    return f"{key[0]}.{key[1]}"


def _is_mainline_release(release: str) -> bool:
    """``6.11`` / ``6.11-rc3`` (a release made by Linus) as opposed to a stable ``6.11.4``."""
    key = release_key(release)
    if key is None:
        return False
    return key[3] == 0 if key[0] == 2 else key[2] == 0


def _branch_key(branch: str) -> tuple[int, ...] | None:
    key = release_key(branch)
    if key is None:
        return None
    return key[:3] if key[0] == 2 else key[:2]


def _running_branch(kv: KernelVersion) -> str:
    if kv.major == 2 and kv.patch is not None:
        return f"2.{kv.minor}.{kv.patch}"
    return kv.branch


def _running_key(kv: KernelVersion) -> tuple[int, int, int, int, int]:
    """Release key of a running kernel whose sublevel is known (0 for a mainline build)."""
    rc = kv.rc if kv.rc is not None else _FINAL
    if kv.major == 2:
        m = re.match(r"\.(\d{1,4})", kv.local)
        return (kv.major, kv.minor, kv.patch or 0, int(m[1]) if m else 0, rc)
    return (kv.major, kv.minor, kv.patch or 0, 0, rc)


# ---------------------------------------------------------------------------------- verdicts


def verdict(bug: KnownBug, running: KernelVersion | None) -> Verdict:
    """What ``bug`` means for the ``running`` kernel.

    Order of the checks:

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
    return _Verdicter(bug, running).run()


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
                if s.version and _is_mainline_release(s.version) and (
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
            branch=_running_branch(kv) if kv else None,
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
            fix = self.bug.fixes[0] if self.bug.fixes else None
            look_for = f" for {fix.short} \"{fix.subject}\"" if fix and fix.subject else (
                f" for {fix.short}" if fix else "")
            if kv.sublevel_known:
                parts.append(
                    f"{kv.raw} is a distribution kernel ({kv.distro}) based on upstream {kv.upstream}: "
                    f"its vendor may have backported fixes under its own numbering, so check the "
                    f"package changelog{look_for}.")
            else:
                parts.append(
                    f"{kv.raw} is a distribution kernel ({kv.distro}) whose numbering does not follow "
                    f"upstream stable releases (only branch {_running_branch(kv)} is known) and which "
                    f"carries backports under its own numbering: check the package changelog{look_for}.")
        elif kv is not None and (kv.rc is not None or kv.local.startswith(("+", "-next", "-syzkaller"))
                                 or re.search(r"-\d+-g[0-9a-f]{6,}", kv.local)):
            parts.append(f"{kv.raw} is a development build: it may carry commits beyond {kv.upstream}.")
        if self.unverified:
            parts.append("Not yet verified: " + "; ".join(dict.fromkeys(self.unverified)) + ".")
        if self.bug.withdrawn and status is not Status.UNKNOWN:
            parts.append("The fix was withdrawn or the record rejected.")
        return " ".join(parts) or None

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
        start = _branch_key(after_branch) if after_branch else None
        candidates = sorted(
            ((bk, b, v) for b, v in self.stable.items() if (bk := _branch_key(b)) is not None
             and (start is None or bk > start)),
        )
        if self.mainline is not None:
            mb = _branch_key(branch_of(self.mainline[0]) or "")
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
        running_branch = _branch_key(_running_branch(kv))
        fix_branch = _branch_key(branch_of(release) or "")
        if running_branch is None or fix_branch is None or running_branch < fix_branch:
            return None
        self._note_unverified(f"first mainline release with the fix {release}", verified)
        if running_branch > fix_branch:
            return self._verdict(Status.FIXED,
                                 f"{kv.upstream} is newer than mainline {release}, the first release with the fix.",
                                 release, "mainline")
        # same branch as the mainline fix release
        if kv.rc is None or (fix_key[4] != _FINAL and kv.rc >= fix_key[4]):
            return self._verdict(Status.FIXED,
                                 f"{kv.upstream} is on branch {_running_branch(kv)}, which has carried the fix "
                                 f"since mainline {release}.",
                                 release, "mainline")
        if fix_key[4] != _FINAL:
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
        branch = _running_branch(kv)
        for s in self.bug.stable:
            if s.branch != branch or not s.introduced or branch_of(s.introduced) != branch:
                continue
            ikey = release_key(s.introduced)
            if ikey is not None and _running_key(kv) < ikey:
                self._note_unverified(f"introduced on {branch} in {s.introduced}", s.verified)
                return self._verdict(Status.NOT_AFFECTED,
                                     f"{kv.upstream} predates {s.introduced}, the {branch} release that brought "
                                     f"the bug in with a backport.")
        return None

    def _stable_rule(self, kv: KernelVersion) -> Verdict | None:
        branch = _running_branch(kv)
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
        if _running_key(kv) >= (release_key(version) or _running_key(kv)):
            return self._verdict(Status.FIXED,
                                 f"{kv.upstream} is at or past {version}, the first {branch} release with the fix.",
                                 version, branch)
        return self._verdict(Status.AFFECTED,
                             f"{kv.upstream} predates {version}, the first {branch} release with the fix.",
                             version, branch)

    def _unfixed_rule(self, kv: KernelVersion) -> Verdict | None:
        branch = _running_branch(kv)
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
        branch = _running_branch(kv)
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
        branch = _running_branch(kv)
        if _is_mainline_release(intro.release):
            rkey = _running_key(kv)
            if not kv.sublevel_known:  # only the branch is known: compare its first release
                rkey = (*rkey[:3], 0, _FINAL) if kv.major == 2 else (*rkey[:2], 0, 0, _FINAL)
            before = rkey < ikey
        else:
            # introduced by a stable backport: only says something about that branch
            if branch_of(intro.release) != branch or not kv.sublevel_known:
                return None
            before = _running_key(kv) < ikey
        if not before:
            return None
        self._note_unverified(f"introduced in {intro.release}", intro.verified)
        return self._verdict(Status.NOT_AFFECTED,
                             f"{kv.upstream} predates {intro.release}, where the bug came in.")

    def _predates_fix_rule(self, kv: KernelVersion) -> Verdict:
        branch = _running_branch(kv)
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

