"""Vendor kernel changelogs: which fixes a distribution's kernel builds carry, by the vendor's own word.

``sigmatch refresh --vendor-changelog FILE`` reads one package changelog, :func:`parse_changelog`
turns it into a :class:`VendorChangelog` (one :class:`VendorBuild` per entry: the CVE ids, upstream
commit subjects and commit ids it lists), and :func:`vendor_fixes` finds the known bugs whose fix
it names: a CVE id of the bug, the fixing commit's id (12 hex digits or more), or the fixing
commit's subject, word for word. Each hit becomes a :class:`~sigmatch.catalog.model.VendorFix` on
the bug (the first build that lists it); the verdict then says "your vendor kernel carries the fix
per its changelog" for that kernel line's builds from there on. Pure: text in, values out.

Formats understood (the real ones; ``tests/fixtures/vendor/`` has one of each):

* **RPM** (``rpm -q --changelog kernel``, also ``kernel-default`` / ``kernel-uek``)::

      * Tue Nov 07 2023 Patrick Talbert <ptalbert@redhat.com> [4.18.0-513.9.1.el8_9]
      - [net] tcp: fix a race in tcp_foo (Jane Doe) [RHEL-1234] {CVE-2023-1234}

  RHEL/CentOS/Rocky/Alma/Oracle RHCK (``[version-release]`` in the header, ``[subsystem]`` tags,
  ``{CVE-...}``), Oracle UEK, Fedora and Amazon Linux (``- version-release`` after the e-mail),
  and SUSE (``* date e-mail`` headers with no version: give the build with ``--vendor-build``;
  items end in ``(bsc#1219000 CVE-2024-26583)``).
* **Debian** (``/usr/share/doc/linux-image-*/changelog.Debian.gz``)::

      linux (6.1.76-1) bookworm-security; urgency=high
        * New upstream stable update:
          https://www.kernel.org/pub/linux/kernel/v6.x/ChangeLog-6.1.70
          - net: fix ...
        * [rt] Update to 6.1.73-rt22
        * netfilter: nf_tables: reject QUEUE/DROP verdict parameters (CVE-2024-1086)
        * Bump ABI to 18

* **Ubuntu** (the same layout; the ``linux``, ``linux-azure``, ``linux-aws``, ... source packages)::

      linux (5.15.0-91.101) jammy; urgency=medium
        * CVE-2023-46813
          - x86/sev: Check for user-space IOIO pointing to kernel space
        * Jammy update: v5.15.131 upstream stable release (LP: #2038615)
          - net: fix ...
        * Some bug (LP: #2041234) // CVE-2024-26581
          - netfilter: nft_set_rbtree: skip end interval element from gc

A changelog is cumulative: a build carries what its entry lists and everything older entries list.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from sigmatch.catalog.model import KnownBug, VendorFix
from sigmatch.errors import ChangelogError
from sigmatch.trace.kversion import parse_kernel_version

__all__ = ["VendorBuild", "VendorChangelog", "parse_changelog", "vendor_fixes"]

MAX_CHANGELOG_BYTES = 64 << 20  # RHEL 8's whole kernel changelog is ~10 MiB
_MIN_SUBJECT = 16  # shorter subjects ("Linux 6.1.76", "fix build") say nothing about which fix
_CVE = re.compile(r"\bCVE-(\d{4})-(\d{4,7})\b", re.IGNORECASE)
_SHA = re.compile(r"(?:\bcommit |\bcherry picked from commit |\[ ?Upstream commit )([0-9a-f]{12,40})\b")
_STABLE_URL = re.compile(r"ChangeLog-(\d+\.\d+\.\d+)\b")
_UBUNTU_STABLE = re.compile(r"\bupdate: v?(\d+\.\d+\.\d+) upstream stable release", re.IGNORECASE)
_ABI_BUMP = re.compile(r"\bBump ABI to (\d+)\b", re.IGNORECASE)

# RPM: "* Tue Nov 07 2023 Name <mail> [4.18.0-513.9.1.el8_9]" / "... <mail> - 6.5.6-300" / "* Fri Feb 02 2024 mail"
_RPM_HEAD = re.compile(
    r"^\* (?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (?P<date>\w{3} +\d{1,2} \d{4}) (?P<who>.*?)"
    r"(?: \[(?P<v1>[^\]\s]+)\]| - (?P<v2>[\w.~+-]+))?\s*$")
# Debian/Ubuntu: "linux (6.1.76-1) bookworm-security; urgency=high" ... " -- Name <mail>  date"
_DEB_HEAD = re.compile(r"^(?P<pkg>[a-z0-9][a-z0-9.+-]+) \((?P<v>[^)\s]+)\) (?P<dist>[^;]+);")
_DEB_TRAILER = re.compile(r"^ -- ")
_UBUNTU_VERSION = re.compile(r"^\d+\.\d+\.0-(\d+)\.\d+")
# Leading tags and trailing references of an item, around the upstream subject:
# "[net] ", "[x86] ", "[SAUCE] ", "(Jane Doe) [RHEL-1234] {CVE-...}", "(bsc#1 CVE-...).", "(LP: #1)", "(Closes: #1)".
_LEAD_TAGS = re.compile(r"^(?:\[[^\]]{1,40}\]\s*)+")
_TRAIL_REFS = re.compile(
    r"(?:\s*(?:\([^()]{0,200}\)|\[[^\[\]]{0,200}\]|\{[^{}]{0,300}\}|//\s*CVE-\d{4}-\d+(?:,?\s*CVE-\d{4}-\d+)*))+\.?\s*$")


@dataclass(frozen=True, slots=True)
class VendorBuild:
    """One changelog entry: a vendor build and what its entry lists."""

    version: str | None  # "4.18.0-513.9.1.el8_9", "6.1.76-1", "5.15.0-91.101"; None: SUSE-style entry
    date: str = ""
    cves: dict[str, str] = field(default_factory=dict)  # CVE id -> the line that names it
    subjects: dict[str, str] = field(default_factory=dict)  # normalized subject -> the line
    shas: dict[str, str] = field(default_factory=dict)  # 12-hex commit id -> the line
    upstream: tuple[str, ...] = ()  # upstream stable releases the entry says it merged ("6.1.70")
    abi: str | None = None  # Debian/Ubuntu ABI from this build on
    # the entry named no version: ``version`` is the build the whole changelog belongs to
    # (--vendor-build), which carries what the entry lists, maybe not first
    assumed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"version": self.version, "date": self.date, "cves": dict(self.cves), "subjects": dict(self.subjects),
                "shas": dict(self.shas), "upstream": list(self.upstream), "abi": self.abi, "assumed": self.assumed}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VendorBuild:
        return cls(version=d.get("version"), date=str(d.get("date", "")), cves=dict(d.get("cves") or {}),
                   subjects=dict(d.get("subjects") or {}), shas=dict(d.get("shas") or {}),
                   upstream=tuple(d.get("upstream") or ()), abi=d.get("abi"), assumed=bool(d.get("assumed")))


@dataclass(frozen=True, slots=True)
class VendorChangelog:
    """A parsed changelog of one kernel line, newest build first."""

    name: str  # where it came from (the file name): named in every fact drawn from it
    format: str  # "rpm" | "debian" | "ubuntu"
    line: str  # KernelVersion.vendor_line of its builds: "el8", "debian-6.1", "ubuntu-5.15-azure"
    builds: tuple[VendorBuild, ...]

    @property
    def top(self) -> str | None:
        return self.builds[0].version if self.builds else None

    @property
    def key(self) -> str:
        """Where a refresh keeps it: one changelog per kernel line (a newer one replaces an older one)."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.line)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "format": self.format, "line": self.line,
                "builds": [b.to_dict() for b in self.builds]}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> VendorChangelog:
        return cls(name=str(d["name"]), format=str(d["format"]), line=str(d["line"]),
                   builds=tuple(VendorBuild.from_dict(b) for b in d.get("builds") or ()))


# ------------------------------------------------------------------------------------ parsing


def normalize_subject(subject: str) -> str:
    """A commit subject as changelogs and CVE records both write it: lower case, single spaces, no
    trailing period, no leading ``[tag]``s, no trailing references (``(Jane Doe) [RHEL-1234]
    {CVE-...}``, ``(bsc#1 CVE-...)``, ``(LP: #1)``; a trailing ``()`` goes on both sides alike)."""
    s = _LEAD_TAGS.sub("", _TRAIL_REFS.sub("", subject.strip()))
    return " ".join(s.split()).rstrip(".").lower()


def parse_changelog(text: str, *, name: str = "changelog", build: str | None = None) -> VendorChangelog:
    """The builds of an RPM or Debian/Ubuntu kernel changelog (the format is recognised by its first entry).

    ``build`` names the build the changelog belongs to when its entries carry no version (SUSE's),
    or overrides the top entry's. Raises :class:`ChangelogError` for anything else.
    """
    if len(text) > MAX_CHANGELOG_BYTES:
        raise ChangelogError(f"{name}: larger than {MAX_CHANGELOG_BYTES >> 20} MiB", name=name)
    lines = text.replace("\r\n", "\n").split("\n")
    first = next((ln for ln in lines if ln.strip()), "")
    if _RPM_HEAD.match(first):
        builds = list(_rpm_builds(lines))
        fmt = "rpm"
    elif _DEB_HEAD.match(first):
        builds = list(_deb_builds(lines))
        fmt = "ubuntu" if _UBUNTU_VERSION.match(builds[0].version or "") else "debian"
    else:
        raise ChangelogError(f"{name}: neither an RPM changelog ('* Day Mon DD YYYY name [version]') "
                             "nor a Debian/Ubuntu one ('linux (version) suite; urgency=...')", name=name)
    if build is not None:
        builds = _with_top(builds, build)
    if not builds or builds[0].version is None:
        raise ChangelogError(f"{name}: its entries name no kernel build: give it with --vendor-build VERSION", name=name)
    _abi_forward(builds)
    line = _line_of(builds[0].version, fmt, _deb_package(lines) if fmt != "rpm" else "")
    if line is None:
        raise ChangelogError(f"{name}: {builds[0].version!r} is not a kernel package version sigmatch understands", name=name)
    return VendorChangelog(name=name, format=fmt, line=line, builds=tuple(builds))


def _with_top(builds: list[VendorBuild], build: str) -> list[VendorBuild]:
    """Entries without a version get the build given (they are all in it); the top entry is it.
    A ``uname -r`` string is taken as its package build (``5.14.21-150500.55.44-default`` ->
    ``5.14.21-150500.55.44``)."""
    kv = parse_kernel_version(build)
    version = kv.build if kv is not None and kv.build else build.strip()
    return [VendorBuild(version, b.date, b.cves, b.subjects, b.shas, b.upstream, b.abi, assumed=b.version is None)
            if b.version is None or i == 0 else b for i, b in enumerate(builds)]


def _abi_forward(builds: list[VendorBuild]) -> None:
    """Debian says "Bump ABI to N" once; the builds after it (newer, earlier in the list) keep N."""
    abi: str | None = None
    for i in range(len(builds) - 1, -1, -1):
        b = builds[i]
        if b.abi is not None:
            abi = b.abi
        elif abi is not None:
            builds[i] = VendorBuild(b.version, b.date, b.cves, b.subjects, b.shas, b.upstream, abi, b.assumed)


def _line_of(version: str | None, fmt: str, package: str) -> str | None:
    if version is None:
        return None
    if fmt == "debian":
        kv = parse_kernel_version(version)
        return f"debian-{kv.branch}" if kv is not None else None
    if fmt == "ubuntu":
        kv = parse_kernel_version(version)
        if kv is None:
            return None
        # linux, linux-hwe-6.5, linux-lowlatency: the generic line; linux-azure(-6.5): its own
        flavour = package.removeprefix("linux").strip("-").split("-", 1)[0]
        family = "" if flavour in ("", "hwe", "lowlatency", "meta", "signed") else f"-{flavour}"
        return f"ubuntu-{kv.branch}{family}"
    kv = parse_kernel_version(version)
    if kv is None or kv.distro in (None, "distribution"):
        return None
    return kv.vendor_line


def _deb_package(lines: list[str]) -> str:
    for ln in lines:
        m = _DEB_HEAD.match(ln)
        if m:
            return m["pkg"]
    return ""


class _Entry:
    """A changelog entry being read: its items (one string per item, continuation lines joined)."""

    def __init__(self, version: str | None, date: str = "") -> None:
        self.version = version
        self.date = date
        self.items: list[tuple[str, str]] = []  # (item text, the group header it sits under)
        self.abi: str | None = None
        self.upstream: list[str] = []

    def build(self) -> VendorBuild:
        cves: dict[str, str] = {}
        subjects: dict[str, str] = {}
        shas: dict[str, str] = {}
        for text, group in self.items:
            line = text if not group else f"{group} / {text}"
            for m in _CVE.finditer(text):
                cves.setdefault(f"CVE-{m[1]}-{m[2]}", line)
            for m in _CVE.finditer(group):  # "* CVE-2023-46813" over its commits: name the first commit
                key = f"CVE-{m[1]}-{m[2]}"
                if cves.get(key, group) == group:
                    cves[key] = line
            for m in _SHA.finditer(text):
                shas.setdefault(m[1][:12], line)
            subject = normalize_subject(text)
            if len(subject) >= _MIN_SUBJECT and not _CVE.fullmatch(subject.upper()):
                subjects.setdefault(subject, line)
        return VendorBuild(self.version, self.date, cves, subjects, shas, tuple(dict.fromkeys(self.upstream)),
                           self.abi)


def _rpm_builds(lines: list[str]) -> Iterator[VendorBuild]:
    entry: _Entry | None = None
    item: list[str] = []

    def flush_item() -> None:
        if entry is not None and item:
            entry.items.append((" ".join(item), ""))
        item.clear()

    for ln in lines:
        head = _RPM_HEAD.match(ln)
        if head:
            flush_item()
            if entry is not None:
                yield entry.build()
            entry = _Entry(head["v1"] or head["v2"], head["date"])
            continue
        if entry is None:
            continue
        s = ln.strip()
        if s.startswith("- "):
            flush_item()
            item.append(s[2:])
            _note_upstream(entry, s)
        elif s and item:
            item.append(s)  # a wrapped item
    flush_item()
    if entry is not None:
        yield entry.build()


def _deb_builds(lines: list[str]) -> Iterator[VendorBuild]:
    entry: _Entry | None = None
    group = ""  # the "* header" the "- items" below belong to
    item: list[str] = []
    item_is_group = False

    def flush_item() -> None:
        if entry is not None and item:
            text = " ".join(item)
            entry.items.append((text, "" if item_is_group else group))
        item.clear()

    for ln in lines:
        head = _DEB_HEAD.match(ln)
        if head:
            flush_item()
            if entry is not None:
                yield entry.build()
            entry = _Entry(head["v"])
            group = ""
            continue
        if entry is None:
            continue
        if _DEB_TRAILER.match(ln):
            flush_item()
            entry.date = ln.split(">", 1)[-1].strip()
            continue
        s = ln.strip()
        if s.startswith("* "):
            flush_item()
            group, item_is_group = s[2:], True
            item.append(s[2:])
            _note_upstream(entry, s)
        elif s.startswith(("- ", "+ ")) and ln[:1].isspace():
            flush_item()
            item_is_group = False
            item.append(s[2:])
        elif s.startswith("[") and s.endswith("]") and not item:  # "  [ Salvatore Bonaccorso ]"
            continue
        elif s and item:
            item.append(s)
            _note_upstream(entry, s)
    flush_item()
    if entry is not None:
        yield entry.build()


def _note_upstream(entry: _Entry, s: str) -> None:
    """What an entry says about its upstream base: merged stable releases, ABI bumps."""
    entry.upstream.extend(_STABLE_URL.findall(s))
    entry.upstream.extend(_UBUNTU_STABLE.findall(s))
    m = _ABI_BUMP.search(s)
    if m:
        entry.abi = m.group(1)
    if entry.abi is None and entry.version:
        u = _UBUNTU_VERSION.match(entry.version)
        if u:
            entry.abi = u.group(1)


# --------------------------------------------------------------------------- facts about bugs


def vendor_fixes(bugs: Iterable[KnownBug], changelogs: Iterable[VendorChangelog]) -> dict[str, tuple[VendorFix, ...]]:
    """``bug id -> facts`` for every bug some changelog names (a CVE id, the fix's commit id or its
    subject), one fact per changelog: the oldest build that lists it."""
    logs = list(changelogs)
    out: dict[str, list[VendorFix]] = {}
    for log in logs:
        first = _first_listing(log)
        for bug in bugs:
            fact = _fact(bug, log, first)
            if fact is not None:
                out.setdefault(bug.id, []).append(fact)
    return {k: tuple(v) for k, v in out.items()}


@dataclass(frozen=True, slots=True)
class _Listing:
    """Where each key first appears in one changelog: key -> (index of the build, the line)."""

    cves: dict[str, tuple[int, str]]
    subjects: dict[str, tuple[int, str]]
    shas: dict[str, tuple[int, str]]


def _first_listing(log: VendorChangelog) -> _Listing:
    cves: dict[str, tuple[int, str]] = {}
    subjects: dict[str, tuple[int, str]] = {}
    shas: dict[str, tuple[int, str]] = {}
    for i, b in enumerate(log.builds):  # newest first: a later (older) listing replaces
        for k, ln in b.cves.items():
            cves[k] = (i, ln)
        for k, ln in b.subjects.items():
            subjects[k] = (i, ln)
        for k, ln in b.shas.items():
            shas[k] = (i, ln)
    return _Listing(cves, subjects, shas)


def _fact(bug: KnownBug, log: VendorChangelog, first: _Listing) -> VendorFix | None:
    hits: list[tuple[int, str, str]] = []  # (build index, evidence, line)
    for cve in {c.upper() for c in (*bug.cves, bug.id) if c.upper().startswith("CVE-")}:
        if cve in first.cves:
            hits.append((first.cves[cve][0], cve, first.cves[cve][1]))
    for fix in bug.fixes:
        sha = fix.sha[:12].lower()
        if sha in first.shas:
            hits.append((first.shas[sha][0], f"commit {sha}", first.shas[sha][1]))
        subject = normalize_subject(fix.subject) if fix.subject else ""
        if len(subject) >= _MIN_SUBJECT and subject in first.subjects:
            hits.append((first.subjects[subject][0], f'subject "{fix.subject.strip()}"', first.subjects[subject][1]))
    if not hits:
        return None
    idx, evidence, line = max(hits, key=lambda h: h[0])  # the oldest build that lists it
    build = log.builds[idx]
    abi_first = build.abi is not None and (idx + 1 >= len(log.builds) or log.builds[idx + 1].abi != build.abi)
    return VendorFix(line=log.line, build=build.version, evidence=evidence,
                     source=f"{log.name}: {build.version} entry: {line[:200]}", abi=build.abi, abi_first=abi_first,
                     exact=not build.assumed)
