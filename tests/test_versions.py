"""Kernel version strings, release ordering and verdicts: table-driven."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmatch.catalog.model import FixCommit, Introduced, KnownBug, StableFix, Status
from sigmatch.catalog.versions import (
    branch_of,
    compare_releases,
    parse_kernel_version,
    release_key,
    verdict,
    version_from_log,
)

# raw string -> (upstream, branch, rc, distro, sublevel_known)
PARSE_CASES: list[tuple[str, tuple[str, str, int | None, str | None, bool]]] = [
    ("4.14.32-1.el7.x86_64", ("4.14.32", "4.14", None, "el7", True)),
    ("4.14.32\u20131.el7.x86_64", ("4.14.32", "4.14", None, "el7", True)),  # en dash, as in a blog post
    ("6.1.0-18-amd64", ("6.1", "6.1", None, "debian", False)),
    ("6.1.0-18-cloud-amd64", ("6.1", "6.1", None, "debian", False)),
    ("4.9.0-0.bpo.8-amd64", ("4.9", "4.9", None, "debian", False)),
    ("5.15.0-91-generic", ("5.15", "5.15", None, "ubuntu", False)),
    ("6.5.0-1014-azure", ("6.5", "6.5", None, "ubuntu", False)),
    ("6.8.0-rc3+", ("6.8-rc3", "6.8", 3, None, True)),
    ("5.10.209-198.858.amzn2.x86_64", ("5.10.209", "5.10", None, "amzn2", True)),
    ("6.6.30-gentoo", ("6.6.30", "6.6", None, "gentoo", True)),
    ("3.10.0-1160.el7.x86_64", ("3.10", "3.10", None, "el7", False)),
    ("4.14.11-coreos", ("4.14.11", "4.14", None, "coreos", True)),
    ("5.14.0-362.8.1.el9_3.x86_64", ("5.14", "5.14", None, "el9", False)),
    ("5.4.17-2136.307.3.1.el8uek.x86_64", ("5.4", "5.4", None, "el8uek", False)),
    ("5.14.21-150500.55.39-default", ("5.14", "5.14", None, "suse", False)),
    ("6.5.6-300.fc39.x86_64", ("6.5.6", "6.5", None, "fedora39", True)),
    ("6.11", ("6.11", "6.11", None, None, True)),
    ("v6.11", ("6.11", "6.11", None, None, True)),
    ("6.11.0", ("6.11", "6.11", None, None, True)),
    ("6.10.9", ("6.10.9", "6.10", None, None, True)),
    ("2.6.32-754.el6", ("2.6.32", "2.6", None, "el6", False)),
    ("2.6.32.71", ("2.6.32", "2.6", None, None, True)),
    ("6.10.0-rc3-syzkaller-00123-gabcdef", ("6.10-rc3", "6.10", 3, None, True)),
    ("6.7.0-rc8-next-20240101", ("6.7-rc8", "6.7", 8, None, True)),
    ("6.1.0-custom", ("6.1", "6.1", None, None, True)),
    ("  5.15.131  ", ("5.15.131", "5.15", None, None, True)),
    ("Linux 6.6.30-gentoo", ("6.6.30", "6.6", None, "gentoo", True)),
]


@pytest.mark.parametrize(("raw", "expected"), PARSE_CASES, ids=[c[0] for c in PARSE_CASES])
def test_parse_kernel_version(raw: str, expected: tuple[str, str, int | None, str | None, bool]) -> None:
    kv = parse_kernel_version(raw)
    assert kv is not None
    assert (kv.upstream, kv.branch, kv.rc, kv.distro, kv.sublevel_known) == expected
    assert kv.is_distribution == (expected[3] is not None)
    assert kv.to_dict()["upstream"] == expected[0]


@pytest.mark.parametrize("raw", [
    "", "   ", "abc", "next-20240101", "6", "6.", "1.2.3", "99.1", "6.1.123456", "\x00\xff", "x" * 100_000,
    "\ufffd\ufffd", "-6.1",
])
def test_parse_kernel_version_rejects(raw: str) -> None:
    assert parse_kernel_version(raw) is None


def test_parse_kernel_version_non_string() -> None:
    assert parse_kernel_version(None) is None  # type: ignore[arg-type]


def test_parse_kernel_version_huge_tail_is_cut() -> None:
    kv = parse_kernel_version("6.1.5-" + "a" * 1_000_000)
    assert kv is not None and kv.upstream == "6.1.5" and len(kv.raw) <= 200


LOG_CASES = [
    ("[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12)", "6.1"),
    ("[412087.391857] CPU: 7 PID: 63429 Comm: kube-apiserver Not tainted 4.14.32-1.el7.x86_64 #1",
     "4.14.32"),
    ("CPU: 7 PID: 63429 Comm: kube-apiserver Tainted: G             L  4.14.32-1.el7.x86_64 #1", "4.14.32"),
    ("CPU: 0 PID: 0 Comm: swapper/0 Tainted: G W 4.14.32\u20131.el7.x86_64 #1", "4.14.32"),
    ("CPU: 1 UID: 0 PID: 5 Comm: kworker/0:0 Not tainted 6.12.0-rc3-syzkaller-00087-gc964ced77262 #0",
     "6.12-rc3"),
    ("Kernel 4.14.32-1.el7.x86_64 on an x86_64\nlogin:", "4.14.32"),
    ("no version here\nCall Trace:\n foo+0x1/0x2\n", None),
    ("", None),
]


@pytest.mark.parametrize(("log", "upstream"), LOG_CASES)
def test_version_from_log(log: str, upstream: str | None) -> None:
    kv = version_from_log(log)
    assert (kv.upstream if kv else None) == upstream


def test_version_from_log_prefers_linux_version_line() -> None:
    log = "Linux version 5.15.0-91-generic (buildd@lcy02)\n...\nCPU: 3 PID: 1 Comm: x Not tainted 5.15.0-91-generic #101\n"
    kv = version_from_log(log)
    assert kv is not None and kv.distro == "ubuntu"


RELEASE_ORDER = [
    ("4.14.38", "4.14.32", 1),
    ("4.14.32", "4.14.38", -1),
    ("6.11", "6.10.9", 1),
    ("6.11", "6.11.0", 0),
    ("6.11-rc3", "6.11", -1),
    ("6.11-rc3", "6.11-rc7", -1),
    ("6.11-rc1", "6.10.14", 1),
    ("5.10.226", "5.15.1", -1),
    ("2.6.32.71", "2.6.32", 1),
    ("2.6.38", "2.6.32.71", 1),
    ("3.0", "2.6.39.4", 1),
    ("v4.17", "4.17", 0),
]


@pytest.mark.parametrize(("a", "b", "expected"), RELEASE_ORDER)
def test_compare_releases(a: str, b: str, expected: int) -> None:
    assert compare_releases(a, b) == expected


@pytest.mark.parametrize("bad", ["4.14.y", "", "6.1.0-18-amd64", "4.14.32.5", "latest"])
def test_release_key_rejects(bad: str) -> None:
    assert release_key(bad) is None
    with pytest.raises(ValueError, match="not a kernel release"):
        compare_releases(bad, "6.1")


@pytest.mark.parametrize(("release", "branch"), [
    ("4.14.38", "4.14"), ("6.11", "6.11"), ("6.11-rc2", "6.11"), ("2.6.32.71", "2.6.32"), ("x", None),
])
def test_branch_of(release: str, branch: str | None) -> None:
    assert branch_of(release) == branch


# ------------------------------------------------------------------------------------- verdicts

SHA = "172e422ffea20a89bfdc672741c1aad6fbb5044e"

# shaped like CVE-2024-47660: introduced 2.6.38, fixed 5.10.226 ... 6.10.9, mainline 6.11
CVE_LIKE = KnownBug(
    id="cve-like",
    title="soft lockup in __fsnotify_update_child_dentry_flags",
    fixes=(FixCommit(sha=SHA, subject="fsnotify: clear PARENT_WATCHED flags lazily", mainline="6.11"),),
    stable=tuple(StableFix(branch=v.rsplit(".", 1)[0], version=v) for v in
                 ("5.10.226", "5.15.167", "6.1.109", "6.6.50", "6.10.9")),
    introduced=Introduced(release="2.6.38"),
)

# shaped like the fsnotify_mark_connector race of DESIGN.md: some facts unverified
FSNOTIFY = KnownBug(
    id="fsnotify-mark-connector-race",
    title="BUG: soft lockup in fsnotify",
    fixes=(FixCommit(sha="d90a10e2444ba5a351fa695917258ff4c5709fa5",
                     subject="fsnotify: Fix fsnotify_mark_connector race", mainline="4.17"),),
    stable=(StableFix(branch="4.14", version="4.14.38", verified=False),),
    introduced=Introduced(sha="08991e83b7286635167bab40927665a90fb00d81", release="4.12", verified=False),
)

# shaped like CVE-2026-52990: branches 5.10 and 5.15 got the bug by backport and have no fix
UNFIXED = KnownBug(
    id="unfixed",
    title="INFO: task hung in fsnotify_destroy_mark",
    fixes=(FixCommit(sha="4aca914ac152f5d055ddcb36704d1e539ac08977", mainline="7.1"),),
    stable=tuple(StableFix(branch=v.rsplit(".", 1)[0], version=v) for v in ("6.12.91", "6.18.33", "7.0.10")),
    introduced=Introduced(release="5.19"),
    unfixed_branches=("5.10", "5.15"),
)

NO_FIX = KnownBug(id="no-fix", title="NETDEV WATCHDOG: eth0 (bnx2x): transmit queue 0 timed out")
NO_FIX_INTRO = KnownBug(id="no-fix-intro", title="x", introduced=Introduced(release="4.10"))
RC_FIX = KnownBug(id="rc-fix", title="y", fixes=(FixCommit(sha=SHA, mainline="6.11-rc5"),))
FIX_NO_RELEASE = KnownBug(id="fix-no-release", title="u", fixes=(FixCommit(sha=SHA),),
                          stable=(StableFix(branch="4.14", version="4.14.36"),))
WITHDRAWN = KnownBug(id="withdrawn", title="z", fixes=(FixCommit(sha=SHA, mainline="6.11"),), withdrawn=True)
STABLE_INTRO = KnownBug(  # the bug came into 5.10 with a stable backport in 5.10.220
    id="stable-intro", title="w", fixes=(FixCommit(sha=SHA, mainline="6.11"),),
    stable=(StableFix(branch="5.10", version="5.10.230"),), introduced=Introduced(release="5.10.220"))
BACKPORTED_BUG = KnownBug(  # like CVE-2025-22120: 6.6 got the bug in 6.6.70 and the fix in 6.6.89
    id="backported-bug", title="t", fixes=(FixCommit(sha=SHA, mainline="6.15"),),
    stable=(StableFix(branch="6.6", version="6.6.89", introduced="6.6.70"),
            StableFix(branch="5.10", version=None, introduced="5.10.220", verified=False)),
    introduced=Introduced(release="6.13"))
MAINLINE_IN_STABLE = KnownBug(  # importer style: the mainline release listed with the stable ones
    id="mainline-in-stable", title="v", fixes=(FixCommit(sha=SHA),),
    stable=(StableFix(branch="6.1", version="6.1.31"), StableFix(branch="6.4", version="6.4")))

# shaped like tcp-sack-panic in signatures/: mainline 5.2, backports to 4.9 ... 5.1
SACK_LIKE = KnownBug(
    id="sack-like", title="kernel BUG in tcp_shifted_skb",
    fixes=(FixCommit(sha=SHA, subject="tcp: limit payload size of sacked skbs", mainline="5.2"),),
    stable=tuple(StableFix(branch=v.rsplit(".", 1)[0], version=v) for v in
                 ("4.9.182", "4.14.127", "4.19.53", "5.1.11")))
# shaped like CVE-2022-50332: a stable-only regression (a backport brought it into 6.0.3, a stable-only
# fix took it out in 6.0.6); the record names no mainline fix or introduction
STABLE_ONLY = KnownBug(
    id="stable-only", title="s", fixes=(FixCommit(sha=SHA),),
    stable=(StableFix(branch="6.0", version="6.0.6", introduced="6.0.3"),))

# (bug, running, status, first_fixed, fixed_branch)
VERDICT_CASES: list[tuple[KnownBug, str | None, Status, str | None, str | None]] = [
    (CVE_LIKE, "6.1.100", Status.AFFECTED, "6.1.109", "6.1"),
    (CVE_LIKE, "6.1.109", Status.FIXED, "6.1.109", "6.1"),
    (CVE_LIKE, "6.1.200-gentoo", Status.FIXED, "6.1.109", "6.1"),
    (CVE_LIKE, "6.11", Status.FIXED, "6.11", "mainline"),
    (CVE_LIKE, "6.11.0", Status.FIXED, "6.11", "mainline"),
    (CVE_LIKE, "6.11.3", Status.FIXED, "6.11", "mainline"),
    (CVE_LIKE, "6.12.0-rc1+", Status.FIXED, "6.11", "mainline"),
    (CVE_LIKE, "6.11.0-rc3+", Status.UNKNOWN, "6.11", "mainline"),
    (CVE_LIKE, "6.10.8", Status.AFFECTED, "6.10.9", "6.10"),
    (CVE_LIKE, "6.10.0-rc3-syzkaller-00123-gabcdef", Status.AFFECTED, "6.10.9", "6.10"),
    # branch not in the record: nearest newer branch with a fix
    (CVE_LIKE, "5.4.280", Status.AFFECTED, "5.10.226", "5.10"),
    (CVE_LIKE, "6.8.12", Status.AFFECTED, "6.10.9", "6.10"),
    (CVE_LIKE, "4.14.32-1.el7.x86_64", Status.AFFECTED, "5.10.226", "5.10"),
    (CVE_LIKE, "2.6.32", Status.NOT_AFFECTED, None, None),
    # RHEL 6's 2.6.32 base predates the bug, but RHEL backports code: nothing sure about the build
    (CVE_LIKE, "2.6.32-754.el6", Status.UNKNOWN, None, None),
    (CVE_LIKE, "2.6.39.4", Status.AFFECTED, "5.10.226", "5.10"),
    # distribution numbering hides the sublevel
    (CVE_LIKE, "6.1.0-18-amd64", Status.UNKNOWN, "6.1.109", "6.1"),
    (CVE_LIKE, "5.15.0-91-generic", Status.UNKNOWN, "5.15.167", "5.15"),
    (CVE_LIKE, "6.12.0-1014-azure", Status.FIXED, "6.11", "mainline"),
    (CVE_LIKE, "3.10.0-1160.el7.x86_64", Status.UNKNOWN, "5.10.226", "5.10"),  # base 3.10 lacks it; RHEL may not
    (CVE_LIKE, "5.10.209-198.858.amzn2.x86_64", Status.AFFECTED, "5.10.226", "5.10"),
    (CVE_LIKE, None, Status.UNKNOWN, "6.11", "mainline"),
    # the DESIGN.md case
    (FSNOTIFY, "4.14.32-1.el7.x86_64", Status.AFFECTED, "4.14.38", "4.14"),
    (FSNOTIFY, "4.14.11-coreos", Status.AFFECTED, "4.14.38", "4.14"),
    (FSNOTIFY, "4.14.80", Status.FIXED, "4.14.38", "4.14"),
    (FSNOTIFY, "4.17", Status.FIXED, "4.17", "mainline"),
    (FSNOTIFY, "4.15.18", Status.AFFECTED, "4.17", "mainline"),
    (FSNOTIFY, "4.9.0-0.bpo.8-amd64", Status.UNKNOWN, None, None),  # base 4.9 predates it; the build may not
    (FSNOTIFY, "4.9.100", Status.NOT_AFFECTED, None, None),
    (FSNOTIFY, "3.10.0-1160.el7.x86_64", Status.UNKNOWN, None, None),
    # unfixed branches
    (UNFIXED, "5.10.230", Status.AFFECTED, "6.12.91", "6.12"),
    (UNFIXED, "5.15.0-91-generic", Status.UNKNOWN, "6.12.91", "6.12"),  # Ubuntu may have backported it
    (UNFIXED, "6.12.90", Status.AFFECTED, "6.12.91", "6.12"),
    (UNFIXED, "6.13.2", Status.AFFECTED, "6.18.33", "6.18"),
    (UNFIXED, "7.1.2", Status.FIXED, "7.1", "mainline"),
    (UNFIXED, "5.4.100", Status.NOT_AFFECTED, None, None),
    # no fix known
    (NO_FIX, "4.14.32-1.el7.x86_64", Status.UNKNOWN, None, None),
    (NO_FIX_INTRO, "4.14.32", Status.AFFECTED, None, None),
    (NO_FIX_INTRO, "4.9.1", Status.NOT_AFFECTED, None, None),
    # a fix that landed in a release candidate
    (RC_FIX, "6.11-rc4", Status.AFFECTED, "6.11-rc5", "mainline"),
    (RC_FIX, "6.11.0-rc5", Status.FIXED, "6.11-rc5", "mainline"),
    (RC_FIX, "6.11.2", Status.FIXED, "6.11-rc5", "mainline"),
    (RC_FIX, "6.10.3", Status.AFFECTED, "6.11-rc5", "mainline"),
    (WITHDRAWN, "6.1.1", Status.UNKNOWN, None, None),
    # a fix whose mainline release is not recorded
    (FIX_NO_RELEASE, "4.14.20", Status.AFFECTED, "4.14.36", "4.14"),
    (FIX_NO_RELEASE, "4.9.100", Status.AFFECTED, "4.14.36", "4.14"),
    (FIX_NO_RELEASE, "5.4.10", Status.UNKNOWN, None, None),
    (STABLE_INTRO, "5.10.100", Status.AFFECTED, "5.10.230", "5.10"),  # stable fix rule comes first
    (BACKPORTED_BUG, "6.6.50", Status.NOT_AFFECTED, None, None),
    (BACKPORTED_BUG, "6.6.70", Status.AFFECTED, "6.6.89", "6.6"),
    (BACKPORTED_BUG, "6.6.90", Status.FIXED, "6.6.89", "6.6"),
    (BACKPORTED_BUG, "6.6.0-1-amd64", Status.UNKNOWN, "6.6.89", "6.6"),
    (BACKPORTED_BUG, "5.10.100", Status.NOT_AFFECTED, None, None),
    (BACKPORTED_BUG, "5.10.230", Status.AFFECTED, "6.6.89", "6.6"),
    (BACKPORTED_BUG, "6.1.100", Status.NOT_AFFECTED, None, None),
    (MAINLINE_IN_STABLE, "6.4.3", Status.FIXED, "6.4", "mainline"),
    (MAINLINE_IN_STABLE, "6.1.30", Status.AFFECTED, "6.1.31", "6.1"),
    (MAINLINE_IN_STABLE, "6.2.1", Status.AFFECTED, "6.4", "mainline"),
    # a kernel newer than the mainline fix carries it, whatever its numbering (issue 15: a 5.4 kernel
    # was told to install "5.2 or later on branch mainline")
    (SACK_LIKE, "5.4.0", Status.FIXED, "5.2", "mainline"),
    (SACK_LIKE, "5.4.10", Status.FIXED, "5.2", "mainline"),
    (SACK_LIKE, "5.4.0-91-generic", Status.FIXED, "5.2", "mainline"),
    (SACK_LIKE, "5.3.0-1-amd64", Status.FIXED, "5.2", "mainline"),
    (SACK_LIKE, "4.18.0-80.el8.x86_64", Status.UNKNOWN, "4.19.53", "4.19"),
    (SACK_LIKE, "5.3.0-rc2+", Status.FIXED, "5.2", "mainline"),
    (SACK_LIKE, "5.2", Status.FIXED, "5.2", "mainline"),
    (SACK_LIKE, "5.2.0-rc5+", Status.UNKNOWN, "5.2", "mainline"),
    (SACK_LIKE, "5.1.3", Status.AFFECTED, "5.1.11", "5.1"),
    (SACK_LIKE, "5.1.11", Status.FIXED, "5.1.11", "5.1"),
    (SACK_LIKE, "5.0.21", Status.AFFECTED, "5.1.11", "5.1"),
    (SACK_LIKE, "4.19.53-200.fc29.x86_64", Status.FIXED, "4.19.53", "4.19"),
    (SACK_LIKE, "4.19.0-5-amd64", Status.UNKNOWN, "4.19.53", "4.19"),
    (SACK_LIKE, None, Status.UNKNOWN, "5.2", "mainline"),
    # a stable-only regression is on no other branch
    (STABLE_ONLY, "5.4.0", Status.NOT_AFFECTED, None, None),
    (STABLE_ONLY, "6.1.12", Status.NOT_AFFECTED, None, None),
    (STABLE_ONLY, "6.0.1", Status.NOT_AFFECTED, None, None),
    (STABLE_ONLY, "6.0.4", Status.AFFECTED, "6.0.6", "6.0"),
    (STABLE_ONLY, "6.0.7", Status.FIXED, "6.0.6", "6.0"),
    (STABLE_ONLY, "6.0.0-1-amd64", Status.UNKNOWN, "6.0.6", "6.0"),
]


@pytest.mark.parametrize(("bug", "running", "status", "first_fixed", "fixed_branch"), VERDICT_CASES,
                         ids=[f"{c[0].id}-{c[1]}" for c in VERDICT_CASES])
def test_verdict(bug: KnownBug, running: str | None, status: Status, first_fixed: str | None,
                 fixed_branch: str | None) -> None:
    kv = parse_kernel_version(running) if running is not None else None
    assert running is None or kv is not None
    v = verdict(bug, kv)
    assert (v.status, v.first_fixed, v.fixed_branch) == (status, first_fixed, fixed_branch), v.reason
    assert v.reason.endswith(".") and len(v.reason) > 20
    assert v.running == (kv.raw if kv else None)
    assert v.to_dict()["status"] == status.value
    # only a kernel that lacks the fix is told what to install
    assert v.install == (first_fixed if status is Status.AFFECTED else None), v
    assert v.to_dict()["install"] == v.install


def test_verdict_branch_is_the_running_branch() -> None:
    v = verdict(CVE_LIKE, parse_kernel_version("6.1.100"))
    assert v.branch == "6.1"
    assert "6.1.109" in v.reason


def test_distribution_caveat_names_the_fix() -> None:
    v = verdict(CVE_LIKE, parse_kernel_version("6.1.0-18-amd64"))
    assert v.caveat is not None
    assert "Debian" in v.caveat and "172e422ffea2" in v.caveat and "own numbering" in v.caveat
    assert "--vendor-changelog" in v.caveat


def test_distribution_with_upstream_sublevel_caveat() -> None:
    v = verdict(FSNOTIFY, parse_kernel_version("4.14.32-1.el7.x86_64"))
    assert v.caveat is not None
    assert "el7" in v.caveat and "upstream 4.14.32" in v.caveat
    assert "Not yet verified" in v.caveat and "4.14.38" in v.caveat


def test_unverified_caveat_only_for_facts_used() -> None:
    v = verdict(FSNOTIFY, parse_kernel_version("4.17.2"))  # decided by the verified mainline fact
    assert v.caveat is None
    v = verdict(FSNOTIFY, parse_kernel_version("4.9.100"))  # decided by the unverified introduction
    assert v.caveat is not None and "introduced in 4.12" in v.caveat


def test_development_build_caveat() -> None:
    v = verdict(CVE_LIKE, parse_kernel_version("6.10.0-rc3-syzkaller-00123-gabcdef"))
    assert v.caveat is not None and "development build" in v.caveat


def test_plain_upstream_has_no_caveat() -> None:
    assert verdict(CVE_LIKE, parse_kernel_version("6.1.100")).caveat is None


def test_verdict_ignores_unusable_release_strings() -> None:
    bug = KnownBug(id="junk", title="t", fixes=(FixCommit(sha=SHA, mainline="latest"),),
                   stable=(StableFix(branch="6.1", version="6.1.y"), StableFix(branch="6.6", version=None)))
    v = verdict(bug, parse_kernel_version("6.1.5"))
    assert v.status is Status.UNKNOWN


# ----------------------------------------------------------------------------- never a crash


_VERSIONISH = st.from_regex(r"v?[0-9]{1,3}(\.[0-9]{1,5}){0,3}(-rc[0-9]{1,3})?[-+.a-z0-9_~\u2013]{0,30}", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), _VERSIONISH))
def test_parse_and_verdict_never_raise(s: str) -> None:
    kv = parse_kernel_version(s)
    if kv is not None:
        assert kv.major >= 2 and kv.branch.count(".") == 1
        for bug in (CVE_LIKE, FSNOTIFY, UNFIXED, NO_FIX, RC_FIX, STABLE_INTRO, MAINLINE_IN_STABLE, BACKPORTED_BUG):
            v = verdict(bug, kv)
            assert v.reason and v.status in Status
    release_key(s)
    branch_of(s)
    assert version_from_log(s) is None or version_from_log(s) is not None


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=2000))
def test_version_from_log_never_raises(text: str) -> None:
    version_from_log("CPU: 1 PID: 1 Comm: x Not tainted " + text)


def test_branch_introduction_caveat_when_unverified() -> None:
    v = verdict(BACKPORTED_BUG, parse_kernel_version("5.10.100"))
    assert v.caveat is not None and "introduced on 5.10 in 5.10.220" in v.caveat
