"""Kernel versions, in one place: the version in a log, what a version string says, release order.

Pure (``re`` and ``functools`` only), at the bottom of the core: the parser, the catalog's
verdicts, the matcher, the CVE importer and the upstream clients all read versions through here.

* :func:`parse_kernel_version` turns ``4.14.32-1.el7.x86_64``, ``6.1.0-18-amd64``, ``6.8.0-rc3+``
  ... into a :class:`KernelVersion`: upstream base, stable branch, rc, distribution, vendor build;
* :func:`version_from_log` finds the running kernel's version in a console log (the ``Linux
  version`` banner first, with what Debian and Ubuntu add to it, then the oops ``CPU:`` line);
  :data:`VERSION_TOKEN` is the version token the parser's context regexes embed;
* :func:`release_key` / :func:`compare_releases` / :func:`branch_of` / :func:`is_mainline_release`
  / :func:`stable_release` order and split upstream release strings (``4.14.38`` > ``4.14.32``,
  ``6.11`` > ``6.10.9``, ``6.11-rc3`` < ``6.11``);
* :func:`release_ordinal` / :func:`release_position` / :func:`release_point` put releases and
  builds on one line of mainline releases (the matcher's version plausibility);
* :func:`vendor_version_cmp` orders vendor package versions (RPM's ``rpmvercmp`` rules, which
  order Debian's kernel versions the same way).

Distributions understood (``distro`` id, the example ``uname -r``, whether the printed sublevel is
the upstream one):

====================  =======================================  ==========================================
``elN``               RHEL, CentOS, Rocky, Alma, Oracle Linux   ``4.18.0-513.9.1.el8_9``: no (frozen X.Y.0);
                      (RHCK) and their rebuilds                 ``4.14.32-1.el7`` (ELRepo / custom builds
                                                                of kernel.org releases): yes
``elNuek``            Oracle UEK                                ``5.4.17-2136.307.3.1.el8uek``: no
``suse``              SLES / openSUSE Leap                      ``5.14.21-150500.55.39-default``: no
``opensuse``          openSUSE Tumbleweed                       ``6.7.1-1-default``: yes
``debian``            Debian (and backports)                    ``6.1.0-18-amd64``: no, but the ``Linux
                                                                version`` banner's ``Debian 6.1.76-1``
                                                                gives it
``ubuntu``            Ubuntu (generic, lowlatency, aws, azure,  ``5.15.0-91-generic``: no, but the banner's
                      gcp, oracle, ... flavours)                ``(Ubuntu 5.15.0-91.101-generic 5.15.131)``
                                                                gives it
``amznN``             Amazon Linux 2 / 2023                     ``5.10.209-198.858.amzn2``: yes
``fedoraN``           Fedora                                    ``6.5.6-300.fc39``: yes
``proxmox``           Proxmox VE                                ``6.5.11-7-pve``: yes
``gentoo``, ``arch``, ``coreos``, ``flatcar``, ``android``, ``photon``, ``talos``, ``azurelinux``: yes
====================  =======================================  ==========================================

Numbering quirks undone here, with where they come from:

* Debian (``6.1.0-18-amd64``, ``4.9.0-0.bpo.8-amd64``, ``6.5.0-0.deb12.4-amd64``) and Ubuntu
  (``5.15.0-91-generic``, ``6.5.0-1014-azure``) print ``X.Y.0`` followed by their own ABI number:
  the upstream stable sublevel is not in the string. Debian's build puts its package version in
  ``UTS_VERSION`` (``#1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)``, shown by the boot
  banner); Ubuntu appends its ``/proc/version_signature`` to the banner (``(Ubuntu
  5.15.0-91.101-generic 5.15.131)``) and its upload number to ``UTS_VERSION`` (``#101-Ubuntu``,
  which oops ``CPU:`` lines show too).
* RHEL and its rebuilds (``3.10.0-1160.el7``, ``5.14.0-362.8.1.el9_3``, ``2.6.32-754.el6``) freeze
  ``X.Y.0`` for a major release and backport on top: again no upstream sublevel. SUSE and Oracle
  UEK keep the sublevel they started from (``5.14.21``, ``5.4.17``) and backport on top of it.
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
from dataclasses import dataclass, replace
from typing import Any

__all__ = [
    "FINAL_RC",
    "VERSION_TOKEN",
    "KernelVersion",
    "abi_shaped",
    "banner_release",
    "branch_key",
    "branch_of",
    "compare_releases",
    "is_mainline_release",
    "parse_kernel_version",
    "release_key",
    "release_ordinal",
    "release_point",
    "release_position",
    "running_key",
    "same_build",
    "stable_release",
    "vendor_name",
    "vendor_version_cmp",
    "version_from_log",
    "with_log_details",
]

_MAX_VERSION_CHARS = 200  # longer "version strings" are not versions: look at the head only
_MAX_LOG_CHARS = 4_000_000  # version_from_log reads at most this much of a log

# The version token as consoles print it (``uname -r``): the parser's context regexes embed it.
VERSION_TOKEN = r"\d+\.\d+[\w.\-+~]*"

# 2.6.32 / 4.14.32 / 6.11 / v6.11-rc3, then whatever the builder appended.
_VERSION_RE = re.compile(
    r"v?(?P<major>\d{1,2})\.(?P<minor>\d{1,3})(?:\.(?P<patch>\d{1,4}))?"
    r"(?:-rc(?P<rc>\d{1,3}))?(?P<local>[^\s]*)"
)
# The head of a release or build string, for placing it on the release line (no digit limits:
# catalog strings are clean, and a build's tail does not matter there).
_HEAD_RE = re.compile(r"^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-rc(\d+))?")
_RELEASE_RE = re.compile(r"v?(\d{1,2})\.(\d{1,3})(?:\.(\d{1,4}))?(?:\.(\d{1,4}))?(?:-rc(\d{1,3}))?$")
# A ``git describe`` build suffix (scripts/setlocalversion): commits after the tag, abbreviated sha.
_DESCRIBE = re.compile(r"-(\d{1,6})-g[0-9a-f]{7,40}\b")
_DASHES = str.maketrans({"\u2013": "-", "\u2014": "-", "\u2212": "-", "\u2010": "-", "\u2011": "-"})


# ---------------------------------------------------------------------------- the value


@dataclass(frozen=True, slots=True)
class KernelVersion:
    """A kernel version string as found in a log or ``uname -r``."""

    raw: str
    major: int
    minor: int
    patch: int | None = None  # the stable sublevel; None for a bare mainline release
    rc: int | None = None
    distro: str | None = None  # "el7", "debian", "ubuntu", "amzn2", "gentoo", ... (see the module docstring)
    local: str = ""  # everything after the upstream part
    # False when the printed sublevel is not the upstream stable sublevel (Debian/Ubuntu ABI
    # numbers, RHEL's frozen X.Y.0 base): then ``patch`` is None and only the branch is known.
    sublevel_known: bool = True
    # The vendor's own build, the one its package changelog names: "4.18.0-513.9.1.el8_9" (RPM
    # version-release), "6.1.76-1" (Debian, from the banner), "5.15.0-91.101" (Ubuntu, with the upload).
    build: str | None = None
    abi: str | None = None  # Debian/Ubuntu ABI number: "18" of 6.1.0-18-amd64
    flavour: str | None = None  # "amd64", "generic", "azure", "default"
    # Where the upstream sublevel of a distribution kernel came from: "version" (printed in the
    # version string), "banner" (Debian's / Ubuntu's additions to the boot banner), None (hidden).
    base_from: str | None = None

    @property
    def branch(self) -> str:
        return f"{self.major}.{self.minor}"

    @property
    def stable_branch(self) -> str:
        """The stable branch the kernel is on: ``4.14``; ``2.6.32`` for 2.6-era kernels."""
        if self.major == 2 and self.patch is not None:
            return f"2.{self.minor}.{self.patch}"
        return self.branch

    @property
    def upstream(self) -> str:
        base = self.branch if self.patch is None else f"{self.branch}.{self.patch}"
        return base + (f"-rc{self.rc}" if self.rc is not None else "")

    @property
    def is_distribution(self) -> bool:
        return self.distro is not None

    @property
    def vendor(self) -> str | None:
        """The distribution in words ("Ubuntu", "RHEL/CentOS 8 or a rebuild"), None for an upstream build."""
        return vendor_name(self.distro) if self.distro else None

    @property
    def vendor_line(self) -> str | None:
        """Which vendor changelog applies to this kernel: one per distribution kernel line.

        ``el8``, ``el9uek``, ``suse``, ``fedora39``: the RPM family's dist tag; ``debian-6.1``;
        ``ubuntu-5.15`` (the ``linux`` package: generic and lowlatency) or ``ubuntu-6.5-azure``
        (a cloud or OEM kernel with a changelog of its own)."""
        if self.distro is None:
            return None
        if self.distro == "debian":
            return f"debian-{self.branch}"
        if self.distro == "ubuntu":
            flavour = self.flavour or "generic"
            family = flavour.split("-", 1)[0]
            return f"ubuntu-{self.branch}" + ("" if family in _UBUNTU_MAIN else f"-{family}")
        return self.distro

    def to_dict(self) -> dict[str, Any]:
        return {"raw": self.raw, "upstream": self.upstream, "branch": self.branch, "rc": self.rc,
                "distro": self.distro, "local": self.local, "sublevel_known": self.sublevel_known,
                "vendor": self.vendor, "build": self.build, "base_from": self.base_from}


# ------------------------------------------------------------------------- distributions

# Debian kernel flavours (``linux-image-<abi>-<flavour>``); ``bpo`` / ``debNN`` mark a backports build.
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
_UBUNTU_MAIN = frozenset({"generic", "lowlatency"})  # built from the ``linux`` source package itself
# -18-amd64 / -91-generic / -1014-azure / -0.bpo.8-amd64 / -0.deb12.4-amd64
_ABI_FLAVOUR_RE = re.compile(
    r"-(?P<abi>\d+(?:\.(?:bpo|deb\d+)\.\d+)?)-(?P<flavour>[a-z][a-z0-9-]*|686[a-z-]*)")
_EL_RE = re.compile(r"\.el(?P<n>\d+)(?:_\d+)?(?P<uek>uek)?")
_SUSE_RE = re.compile(r"^-\d{6}\.[\d.]*?(?:-(?P<flavour>[a-z][a-z0-9]*))?$")  # SLES: 5.14.21-150500.55.39-default
# "-00017-gf44d154d6", "-1-git-01766-gda6d9c8ecd00": a git describe build, not an ABI and a flavour.
_DESCRIBE_TAIL = re.compile(r"-g[0-9a-f]{7,40}(?:-dirty)?$")
_RPM_ARCH = re.compile(r"\.(?:x86_64|aarch64|ppc64le|ppc64|s390x|i[3-6]86|armv7hl|noarch)$")

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
    (re.compile(r"-\d+-pve$"), "proxmox"),
    (re.compile(r"^-\d+(?:\.\d+)?-(?:default|vanilla|longterm)$"), "opensuse"),
)
# Families whose package version-release is the ``uname -r`` less its architecture.
_RPM_FAMILIES = re.compile(r"^(?:el\d+(?:uek)?|fedora\d+|amzn\d+|photon|azurelinux)$")

_VENDOR_NAMES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^el(\d+)uek$"), "Oracle UEK (EL{0})"),
    (re.compile(r"^el(\d+)$"), "Enterprise Linux {0} (RHEL or a rebuild)"),
    (re.compile(r"^suse$"), "SUSE Linux Enterprise / openSUSE Leap"),
    (re.compile(r"^opensuse$"), "openSUSE Tumbleweed"),
    (re.compile(r"^debian$"), "Debian"),
    (re.compile(r"^ubuntu$"), "Ubuntu"),
    (re.compile(r"^amzn(\d+)$"), "Amazon Linux {0}"),
    (re.compile(r"^fedora(\d+)$"), "Fedora {0}"),
    (re.compile(r"^proxmox$"), "Proxmox VE"),
    (re.compile(r"^gentoo$"), "Gentoo"),
    (re.compile(r"^arch$"), "Arch Linux"),
    (re.compile(r"^coreos$"), "CoreOS Container Linux"),
    (re.compile(r"^flatcar$"), "Flatcar Container Linux"),
    (re.compile(r"^android$"), "Android"),
    (re.compile(r"^photon$"), "VMware Photon OS"),
    (re.compile(r"^talos$"), "Talos Linux"),
    (re.compile(r"^azurelinux$"), "Azure Linux / CBL-Mariner"),
)


def vendor_name(distro: str) -> str:
    """The distribution id of :class:`KernelVersion` in words."""
    for pattern, name in _VENDOR_NAMES:
        m = pattern.match(distro)
        if m:
            return name.format(*m.groups())
    return "a distribution"


def _norm(s: str) -> str:
    return s[:_MAX_VERSION_CHARS].translate(_DASHES).strip()


def parse_kernel_version(s: str) -> KernelVersion | None:
    """The kernel version in ``s`` (a ``uname -r`` string or the version token of a log line).

    Returns None when ``s`` does not start with something shaped like a kernel version.
    Never raises on any string.
    """
    if not isinstance(s, str):
        return None
    return _parse(s)


@functools.lru_cache(maxsize=4096)  # a batch of logs repeats a few hundred kernels
def _parse(s: str) -> KernelVersion | None:
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
    d = _distribution(major, patch, local)
    if not d.sublevel_known and major != 2:  # in 2.6.32 the third number is the release itself
        patch = None
    elif patch == 0 and major >= 3:
        patch = None  # X.Y.0 is the mainline release X.Y
    build = None
    if d.rpm:  # the package's version-release: uname -r less the architecture (and SUSE's flavour)
        build = _RPM_ARCH.sub("", raw)
        if d.flavour:
            build = build.removesuffix(f"-{d.flavour}")
    return KernelVersion(raw=raw, major=major, minor=minor, patch=patch, rc=rc, distro=d.name,
                         local=local, sublevel_known=d.sublevel_known, build=build, abi=d.abi,
                         flavour=d.flavour, base_from="version" if d.name and d.sublevel_known else None)


@dataclass(frozen=True, slots=True)
class _Distro:
    name: str | None
    sublevel_known: bool
    rpm: bool = False  # an RPM family: the build is the version-release
    abi: str | None = None
    flavour: str | None = None


def _distribution(major: int, patch: int | None, local: str) -> _Distro:
    """The distribution a version's local part names, and whether the printed sublevel is upstream's."""
    low = local.lower()
    frozen_base = patch == 0 or (major == 2 and patch is not None)  # RHEL/SLES keep X.Y.0 (2.6.32)
    el = _EL_RE.search(low)
    if el:
        name = f"el{el['n']}" + ("uek" if el["uek"] else "")
        # RHEL-family kernels are X.Y.0-<build>.elN; a kernel.org release packaged for EL
        # (ELRepo kernel-ml/lt, the Booking.com 4.14.32-1.el7 build) keeps its sublevel.
        return _Distro(name, not (frozen_base or el["uek"]), rpm=True)
    suse = _SUSE_RE.match(low)
    if suse:
        return _Distro("suse", False, rpm=True, flavour=suse["flavour"])
    for pattern, name in _SIMPLE_DISTROS:
        hit = pattern.search(low)
        if hit:
            distro = name.format(*hit.groups())
            return _Distro(distro, True, rpm=bool(_RPM_FAMILIES.match(distro)))
    m = _ABI_FLAVOUR_RE.fullmatch(low)
    if m and patch in (0, None) and not _DESCRIBE_TAIL.search(low):
        flavour = m["flavour"]
        if "bpo" in m["abi"] or ".deb" in m["abi"] or flavour in _DEBIAN_FLAVOURS:
            return _Distro("debian", False, abi=m["abi"], flavour=flavour)
        if _UBUNTU_FLAVOUR_RE.match(flavour):
            return _Distro("ubuntu", False, abi=m["abi"], flavour=flavour)
        return _Distro("distribution", False, abi=m["abi"], flavour=flavour)
    return _Distro(None, True)


# ------------------------------------------------------------------------- versions in a log

_BANNER_RE = re.compile(rf"Linux version ({VERSION_TOKEN})([^\n]{{0,400}})")
# ``\s`` between the taint and the version: a mailer may wrap the line there ("Not tainted\n4.19.31-...").
_TAINT_RES = (
    re.compile(rf"(?:Not tainted|Tainted: [A-Z ]{{0,40}}?)\s{{1,40}}({VERSION_TOKEN})([ ]+#[^\n]{{0,200}})"),
    re.compile(rf"(?:Not tainted|Tainted: [A-Z ]{{0,40}}?)\s{{1,40}}({VERSION_TOKEN})()"),
)
_GETTY_RE = re.compile(rf"Kernel ({VERSION_TOKEN}) on an? ()")
# What Debian and Ubuntu builds add after the version (see the module docstring).
_DEBIAN_PKG = re.compile(r"#\d+\S*[^\n]*? Debian (\d+\.\d+(?:\.\d+)?-[\w.~+]+)")
_UBUNTU_SIG = re.compile(r"\(Ubuntu (\d+\.\d+\.\d+-\d+\.\d+)[\w.~+-]* (\d+\.\d+\.\d+)\)")
_UBUNTU_UPLOAD = re.compile(r"^\s*#(\d+)(?:~[\w.]+)?-Ubuntu")


def version_from_log(text: str) -> KernelVersion | None:
    """The running kernel's version as printed in a console log, or None.

    Looks (in this order) at ``Linux version X`` (with Debian's package version and Ubuntu's
    version signature when the banner has them), the ``CPU: N PID: N Comm: x (Not) tainted X #N``
    line every oops prints (with Ubuntu's upload number after ``#``), and ``Kernel X on an arch``
    getty banners.
    """
    if not isinstance(text, str) or not text:
        return None
    head = text[:_MAX_LOG_CHARS].translate(_DASHES)
    for pattern in (_BANNER_RE, *_TAINT_RES, _GETTY_RE):
        m = pattern.search(head)
        if m:
            kv = parse_kernel_version(m.group(1))
            if kv is not None:
                return _with_banner(kv, m.group(2))
    return None


def banner_release(line: str) -> str | None:
    """The release token of a ``Linux version X ...`` boot banner line, or None."""
    m = _BANNER_RE.search(line)
    return m.group(1) if m else None


def _with_banner(kv: KernelVersion, rest: str) -> KernelVersion:
    """``kv`` with what the text after its version token tells about a Debian or Ubuntu build."""
    if kv.distro == "debian":
        m = _DEBIAN_PKG.search(rest)
        base = parse_kernel_version(m.group(1)) if m else None
        if m and base is not None and base.branch == kv.branch and base.patch is not None:
            return replace(kv, patch=base.patch, sublevel_known=True, build=m.group(1), base_from="banner")
    elif kv.distro == "ubuntu":
        sig = _UBUNTU_SIG.search(rest)
        base = parse_kernel_version(sig.group(2)) if sig else None
        if sig and base is not None and base.branch == kv.branch and base.patch is not None:
            return replace(kv, patch=base.patch, sublevel_known=True, build=sig.group(1), base_from="banner")
        up = _UBUNTU_UPLOAD.match(rest)
        if up and kv.abi:
            return replace(kv, build=f"{kv.branch}.0-{kv.abi}.{up.group(1)}")
    return kv


def abi_shaped(kv: KernelVersion) -> bool:
    """The local part has a distribution ABI's shape (``X.Y.0-N-word``), git describe builds
    (``6.13.0-rc3-00017-gf44d154d6``) included: the matcher's version signal reads only the branch
    of such a build (it was tuned that way), though the verdict calls a describe build what it is."""
    return kv.patch is None and _ABI_FLAVOUR_RE.fullmatch(kv.local.lower()) is not None


def same_build(a: KernelVersion, b: KernelVersion) -> bool:
    """Do two versions found in one log name the same kernel (``b`` may say more about it)?"""
    return a.raw == b.raw


def with_log_details(kv: KernelVersion, text: str) -> KernelVersion:
    """``kv`` (a version the parser read from a report) as the whole log tells it: a Debian or
    Ubuntu kernel's upstream base and build from the boot banner or the ``#N-Ubuntu`` of an oops
    line, when the log has them for this very build. The log is read only for those kernels."""
    if kv.distro not in ("debian", "ubuntu") or kv.build is not None:
        return kv
    found = version_from_log(text)
    return found if found is not None and same_build(kv, found) else kv


# ---------------------------------------------------------------- release strings and ordering

FINAL_RC = 10_000  # the rc slot of a final release in a release key: after all of its release candidates
_FINAL = FINAL_RC


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


def running_key(kv: KernelVersion) -> tuple[int, int, int, int, int]:
    """The release key of a running kernel (sublevel 0 when it is not known, or a mainline build)."""
    rc = kv.rc if kv.rc is not None else _FINAL
    if kv.major == 2:
        m = re.match(r"\.(\d{1,4})", kv.local)
        return (kv.major, kv.minor, kv.patch or 0, int(m[1]) if m else 0, rc)
    return (kv.major, kv.minor, kv.patch or 0, 0, rc)


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


def branch_key(branch: str) -> tuple[int, ...] | None:
    """An ordering key for a stable branch (``4.14`` < ``4.19`` < ``5.4``; ``2.6.32`` < ``3.0``)."""
    key = release_key(branch)
    if key is None:
        return None
    return key[:3] if key[0] == 2 else key[:2]


def is_mainline_release(release: str) -> bool:
    """``6.11`` / ``6.11-rc3`` (a release made by Linus) as opposed to a stable ``6.11.4``."""
    key = release_key(release)
    if key is None:
        return False
    return key[3] == 0 if key[0] == 2 else key[2] == 0


def stable_release(release: str) -> tuple[str, int] | None:
    """``6.1.109`` → (``6.1``, 109), ``2.6.32.71`` → (``2.6.32``, 71): a stable release's branch and
    sublevel; None for a mainline release (``6.1``, ``2.6.32``) or anything that is not a release."""
    key = release_key(release)
    if key is None or key[4] != _FINAL:
        return None
    if key[0] == 2:
        return (f"2.{key[1]}.{key[2]}", key[3]) if key[3] else None
    return (f"{key[0]}.{key[1]}", key[2]) if key[2] else None


# ------------------------------------------------------------------ the line of mainline releases


def release_ordinal(major: int, minor: int) -> float:
    """Mainline releases on one line: 2.6.39 < 3.0 < ... < 3.19 < 4.0 < ... 4.20 < 5.0 ... < 6.x."""
    if major == 2:
        return float(minor - 40)  # called with minor = the 2.6.N sublevel
    base = {3: 0, 4: 20, 5: 41, 6: 61}.get(major)
    if base is None:
        base = 61 + (major - 6) * 20 if major > 6 else -60
    return float(base + minor)


def release_position(s: str | None) -> tuple[float, int | None] | None:
    """``"6.1.31"`` -> (ordinal of 6.1, 31); ``"2.6.12"`` -> (ordinal of 2.6.12, None)."""
    if not s:
        return None
    m = _HEAD_RE.match(s.strip())
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    patch = int(m.group(3)) if m.group(3) else None
    if major == 2 and minor == 6:
        return (release_ordinal(2, patch or 0), None)
    return (release_ordinal(major, minor), patch)


def release_point(s: str | None) -> float | None:
    """A kernel build on the release line, in releases (about nine weeks each), as finely as its
    version string tells: ``rcN`` comes about (N + 1) weeks after the previous release
    (``"6.13.0-rc3-syzkaller"`` -> ordinal(6.13) - 0.6), and a ``git describe`` suffix
    (``-07834-g06afb0f36106``: 7834 commits after the tag) moves a build into the merge window
    that follows its tag (up to 0.2 release). ``"4.14.32-1.el7"`` -> ordinal(4.14)."""
    if not s:
        return None
    m = _HEAD_RE.match(s.strip())
    if not m:
        return None
    major, minor = int(m.group(1)), int(m.group(2))
    if major < 3:
        return None
    point = release_ordinal(major, minor)
    if m.group(4):
        point -= 1.0 - min(int(m.group(4)) + 1, 9) / 10.0
    d = _DESCRIBE.search(s)
    if d:
        # ~12,000 commits land in a merge window (two of a release's nine weeks)
        point += 0.2 * min(int(d.group(1)), 12_000) / 12_000
    return point


# ------------------------------------------------------------------------ vendor package versions

_SEGMENT = re.compile(r"~|\d+|[A-Za-z]+")


def vendor_version_cmp(a: str, b: str) -> int:
    """-1, 0 or 1: RPM's ``rpmvercmp`` order of two package versions (``4.18.0-513.9.1.el8_9`` <
    ``4.18.0-553.el8_10``; ``6.1.76-1`` < ``6.1.76-1+deb12u1``; ``~`` sorts before anything).

    Numeric segments compare as numbers and beat alphabetic ones; separators only separate. Debian
    kernel versions order the same way under these rules (dpkg differs on letters against
    separators, which kernel package versions do not mix)."""
    sa, sb = _SEGMENT.findall(a), _SEGMENT.findall(b)
    for x, y in zip(sa, sb, strict=False):
        if x == y:
            continue
        if x == "~" or y == "~":
            return -1 if x == "~" else 1
        if x.isdigit() and y.isdigit():
            ix, iy = int(x), int(y)
            if ix != iy:
                return -1 if ix < iy else 1
            continue
        if x.isdigit() != y.isdigit():
            return 1 if x.isdigit() else -1
        return -1 if x < y else 1
    if len(sa) == len(sb):
        return 0
    longer, sign = (sa, 1) if len(sa) > len(sb) else (sb, -1)
    nxt = longer[min(len(sa), len(sb))]
    return -sign if nxt == "~" else sign
