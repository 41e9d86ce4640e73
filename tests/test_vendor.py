"""Distribution kernels: their version strings, their changelogs, and what the verdict says about them.

The changelog fixtures (``tests/fixtures/vendor/``) are written in the real formats; the curated
entries they name are the real ``signatures/`` tree.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import settings_with

from sigmatch.advice import advise
from sigmatch.answer import analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.curated import load_curated
from sigmatch.catalog.model import KnownBug, Status
from sigmatch.catalog.vendor import normalize_subject, parse_changelog, vendor_fixes
from sigmatch.catalog.versions import verdict
from sigmatch.cli import main
from sigmatch.errors import ChangelogError
from sigmatch.match.matcher import Matcher
from sigmatch.match.model import Match
from sigmatch.refresh import refresh
from sigmatch.runtime import build_runtime
from sigmatch.trace.kversion import (
    parse_kernel_version,
    release_position,
    stable_release,
    vendor_version_cmp,
    version_from_log,
)

REPO = Path(__file__).resolve().parents[1]
VENDOR = Path(__file__).parent / "fixtures" / "vendor"
CURATED = {b.id: b for b in load_curated(REPO / "signatures")}

# ------------------------------------------------------------------------- version strings

# raw -> (distro, sublevel_known, build, abi, flavour, vendor_line)
DISTRO_CASES: list[tuple[str, tuple[str | None, bool, str | None, str | None, str | None, str | None]]] = [
    ("4.18.0-513.9.1.el8_9.x86_64", ("el8", False, "4.18.0-513.9.1.el8_9", None, None, "el8")),
    ("5.14.0-362.8.1.el9_3.aarch64", ("el9", False, "5.14.0-362.8.1.el9_3", None, None, "el9")),
    ("4.14.32-1.el7.x86_64", ("el7", True, "4.14.32-1.el7", None, None, "el7")),
    ("5.15.0-200.131.27.el9uek.x86_64", ("el9uek", False, "5.15.0-200.131.27.el9uek", None, None, "el9uek")),
    ("5.14.21-150500.55.39-default", ("suse", False, "5.14.21-150500.55.39", None, "default", "suse")),
    ("6.7.1-1-default", ("opensuse", True, None, None, None, "opensuse")),
    ("6.1.0-18-amd64", ("debian", False, None, "18", "amd64", "debian-6.1")),
    ("6.1.0-18-cloud-amd64", ("debian", False, None, "18", "cloud-amd64", "debian-6.1")),
    ("6.5.0-0.deb12.4-amd64", ("debian", False, None, "0.deb12.4", "amd64", "debian-6.5")),
    ("5.15.0-91-generic", ("ubuntu", False, None, "91", "generic", "ubuntu-5.15")),
    ("5.15.0-91-lowlatency", ("ubuntu", False, None, "91", "lowlatency", "ubuntu-5.15")),
    ("6.5.0-1014-azure", ("ubuntu", False, None, "1014", "azure", "ubuntu-6.5-azure")),
    ("5.10.209-198.858.amzn2.x86_64", ("amzn2", True, "5.10.209-198.858.amzn2", None, None, "amzn2")),
    ("6.1.61-85.141.amzn2023.x86_64", ("amzn2023", True, "6.1.61-85.141.amzn2023", None, None, "amzn2023")),
    ("6.5.6-300.fc39.x86_64", ("fedora39", True, "6.5.6-300.fc39", None, None, "fedora39")),
    ("6.5.11-7-pve", ("proxmox", True, None, None, None, "proxmox")),
    ("6.6.30-gentoo", ("gentoo", True, None, None, None, "gentoo")),
    ("6.7.4-arch1-1", ("arch", True, None, None, None, "arch")),
    ("6.1.100", (None, True, None, None, None, None)),
]


@pytest.mark.parametrize(("raw", "expected"), DISTRO_CASES, ids=[c[0] for c in DISTRO_CASES])
def test_distribution_versions(raw: str, expected: tuple[Any, ...]) -> None:
    kv = parse_kernel_version(raw)
    assert kv is not None
    assert (kv.distro, kv.sublevel_known, kv.build, kv.abi, kv.flavour, kv.vendor_line) == expected
    assert (kv.vendor is None) == (expected[0] is None)
    assert kv.to_dict()["vendor"] == kv.vendor


def test_vendor_names() -> None:
    names = {raw: parse_kernel_version(raw).vendor for raw in  # type: ignore[union-attr]
             ("4.18.0-513.el8", "5.4.17-2136.el8uek", "6.1.0-18-amd64", "5.15.0-91-generic", "5.10.1-1.amzn2")}
    assert names["4.18.0-513.el8"].startswith("Enterprise Linux 8")  # type: ignore[union-attr]
    assert names["5.4.17-2136.el8uek"] == "Oracle UEK (EL8)"
    assert names["6.1.0-18-amd64"] == "Debian" and names["5.15.0-91-generic"] == "Ubuntu"
    assert names["5.10.1-1.amzn2"] == "Amazon Linux 2"


DEBIAN_BANNER = ("[    0.000000] Linux version 6.1.0-18-amd64 (debian-kernel@lists.debian.org) (gcc-12 (Debian 12.2.0-14) "
                 "12.2.0, GNU ld (GNU Binutils for Debian) 2.40) #1 SMP PREEMPT_DYNAMIC Debian 6.1.76-1 (2024-02-01)\n")
UBUNTU_BANNER = ("[    0.000000] Linux version 5.15.0-91-generic (buildd@lcy02-amd64-045) (gcc (Ubuntu 11.4.0-1ubuntu1~22.04) "
                 "11.4.0, GNU ld (GNU Binutils for Ubuntu) 2.38) #101-Ubuntu SMP Tue Nov 14 13:30:08 UTC 2023 "
                 "(Ubuntu 5.15.0-91.101-generic 5.15.131)\n")


def test_debian_banner_gives_the_upstream_base() -> None:
    kv = version_from_log(DEBIAN_BANNER)
    assert kv is not None and kv.raw == "6.1.0-18-amd64"
    assert (kv.upstream, kv.sublevel_known, kv.build, kv.base_from, kv.abi) == ("6.1.76", True, "6.1.76-1", "banner", "18")


def test_ubuntu_signature_and_upload() -> None:
    kv = version_from_log(UBUNTU_BANNER)
    assert kv is not None and (kv.upstream, kv.build, kv.base_from) == ("5.15.131", "5.15.0-91.101", "banner")
    # an oops line shows the upload number (the first word of UTS_VERSION), not the base
    kv = version_from_log("CPU: 3 PID: 1 Comm: x Not tainted 5.15.0-91-generic #101-Ubuntu\n")
    assert kv is not None and (kv.upstream, kv.build, kv.sublevel_known) == ("5.15", "5.15.0-91.101", False)


def test_banner_of_another_branch_is_not_a_base() -> None:
    log = DEBIAN_BANNER.replace("Debian 6.1.76-1", "Debian 6.5.10-1")
    kv = version_from_log(log)
    assert kv is not None and not kv.sublevel_known and kv.build is None


def test_wrapped_taint_line() -> None:
    kv = version_from_log("CPU: 0 PID: 1 Comm: swapper/0 Not tainted\n4.19.31-041931-generic #201903231635\n")
    assert kv is not None and kv.raw == "4.19.31-041931-generic"


@pytest.mark.parametrize(("release", "expected"), [
    ("6.1.109", ("6.1", 109)), ("2.6.32.71", ("2.6.32", 71)), ("6.1", None), ("6.1.0", None), ("2.6.32", None),
    ("6.11-rc3", None), ("4.14.y", None), ("6.1.0-18-amd64", None), ("", None),
])
def test_stable_release(release: str, expected: tuple[str, int] | None) -> None:
    assert stable_release(release) == expected


def test_release_position() -> None:
    assert release_position("6.1.31") == (release_position("6.1")[0], 31)  # type: ignore[index]
    assert release_position("2.6.12") is not None and release_position("2.6.12")[1] is None  # type: ignore[index]
    assert release_position("latest") is None and release_position(None) is None


@pytest.mark.parametrize(("a", "b", "expected"), [
    ("4.18.0-513.9.1.el8_9", "4.18.0-553.el8_10", -1),
    ("4.18.0-553.el8_10", "4.18.0-540.el8", 1),
    ("4.18.0-540.el8", "4.18.0-540.el8", 0),
    ("6.1.76-1", "6.1.69-1", 1),
    ("6.1.76-1", "6.1.76-1+deb12u1", -1),
    ("6.1.76-1~bpo11+1", "6.1.76-1", -1),
    ("5.15.0-91.101", "5.15.0-90.100", 1),
    ("5.14.21-150500.55.39", "5.14.21-150500.55.44", -1),
    ("6.5.6-300.fc39", "6.5.5-0", 1),
])
def test_vendor_version_order(a: str, b: str, expected: int) -> None:
    assert vendor_version_cmp(a, b) == expected
    assert vendor_version_cmp(b, a) == -expected


# ----------------------------------------------------------------------------- changelogs


def changelog(name: str, build: str | None = None) -> Any:
    return parse_changelog((VENDOR / name).read_text(), name=name, build=build)


def test_rpm_changelog() -> None:
    log = changelog("rhel8-kernel.rpm-changelog")
    assert (log.format, log.line, log.top) == ("rpm", "el8", "4.18.0-553.el8_10")
    assert [b.version for b in log.builds] == ["4.18.0-553.el8_10", "4.18.0-540.el8", "4.18.0-521.el8", "4.18.0-513.el8"]
    b540 = log.builds[1]
    assert "CVE-2024-47684" in b540.cves
    # "[mm] ... (Rafael Aquini)\n  [RHEL-11112]": the wrapped item is one, its tags and references dropped
    assert "mm/filemap.c: fix null pointer in page_cache_tree_insert" in b540.subjects
    assert "tcp: check skb is non-null in tcp_rto_delta_us" in b540.subjects


def test_suse_changelog_needs_its_build() -> None:
    with pytest.raises(ChangelogError, match="--vendor-build"):
        changelog("sles15-kernel-default.rpm-changelog")
    log = changelog("sles15-kernel-default.rpm-changelog", build="5.14.21-150500.55.44-default")
    assert (log.line, log.top) == ("suse", "5.14.21-150500.55.44")
    assert "CVE-2024-47684" in log.builds[0].cves and all(b.assumed for b in log.builds)


def test_debian_changelog() -> None:
    log = changelog("debian-linux-6.1.changelog")
    assert (log.format, log.line, log.top) == ("debian", "debian-6.1", "6.1.76-1")
    assert [(b.version, b.abi) for b in log.builds] == [("6.1.76-1", "18"), ("6.1.69-1", "17"), ("6.1.67-1", "16")]
    top = log.builds[0]
    assert top.upstream == ("6.1.70", "6.1.76")
    assert {"CVE-2024-1086", "CVE-2024-49881"} <= set(top.cves)
    assert "nvme: fix multipath crash caused by flush request when blktrace is enabled" in top.subjects
    assert "x86/alternatives: sync core before enabling interrupts" in top.subjects  # "[x86] " dropped


def test_ubuntu_changelog() -> None:
    log = changelog("ubuntu-linux-5.15.changelog")
    assert (log.format, log.line, log.top) == ("ubuntu", "ubuntu-5.15", "5.15.0-91.101")
    assert [(b.version, b.abi) for b in log.builds] == [("5.15.0-91.101", "91"), ("5.15.0-90.100", "90"),
                                                         ("5.15.0-89.99", "89")]
    top, mid = log.builds[0], log.builds[1]
    assert top.upstream == ("5.15.131",)
    assert "CVE-2024-42287" in top.cves and "qla2xxx" in top.cves["CVE-2024-42287"]  # "* CVE-..." over its commits
    assert {"CVE-2024-47684", "CVE-2024-49881"} <= set(mid.cves)  # "- CVE-..." items and "// CVE-..." headers


def test_gzipped_and_bad_changelogs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ChangelogError, match="neither an RPM changelog"):
        parse_changelog("Call Trace:\n foo+0x1/0x2\n", name="x.log")
    with pytest.raises(ChangelogError):
        parse_changelog("linux (weird) unstable; urgency=low\n\n  * x\n\n -- A <a@b>  Mon, 1 Jan 2024\n")
    gz = tmp_path / "changelog.Debian.gz"
    gz.write_bytes(gzip.compress((VENDOR / "debian-linux-6.1.changelog").read_bytes()))
    env = {"SIGMATCH_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": "", "SIGMATCH_UPSTREAM_LOOKUP": "off"}
    bad = tmp_path / "not-a-changelog.txt"
    bad.write_text("hello\n")
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        assert main(["refresh", "--vendor-changelog", str(bad)]) == 2
        assert "neither an RPM changelog" in capsys.readouterr().err
        assert main(["refresh", "--vendor-changelog", str(gz)]) == 0
        out = capsys.readouterr().out
        assert "vendor changelogs: 1 recorded" in out and "debian-6.1: changelog.Debian.gz (newest 6.1.76-1)" in out


def test_subject_normalization_is_the_same_on_both_sides() -> None:
    assert normalize_subject("[fs] ext4: update orig_path in ext4_find_extent() (Carlos Maiolino) [RHEL-1] {CVE-2024-49881}") \
        == normalize_subject("ext4: update orig_path in ext4_find_extent()")
    assert normalize_subject("tcp: fix foo (bsc#1231000 CVE-2024-47684).") == "tcp: fix foo"


def test_changelog_names_curated_bugs() -> None:
    facts = vendor_fixes(CURATED.values(), [changelog("rhel8-kernel.rpm-changelog")])
    got = {bug_id: (f[0].build, f[0].evidence.split(" ", 1)[0]) for bug_id, f in facts.items()}
    assert got == {
        "ext4-find-extent-orig-path-null": ("4.18.0-553.el8_10", "CVE-2024-49881"),
        "qla2xxx-abort-all-cmds-null": ("4.18.0-553.el8_10", "CVE-2024-42287"),
        "tcp-rto-delta-us-null-skb": ("4.18.0-540.el8", "CVE-2024-47684"),
        "bridge-multicast-query-timer-softlockup": ("4.18.0-540.el8", "subject"),  # no CVE in the entry
        "i40e-shutdown-recovery-mode-null": ("4.18.0-540.el8", "subject"),
        "mm-page-cache-tree-insert-null": ("4.18.0-540.el8", "subject"),
        "nvme-mpath-revalidate-paths-srcu-null": ("4.18.0-521.el8", "CVE-2022-49003"),
        "fsnotify-mark-connector-race": ("4.18.0-521.el8", "subject"),
        "tcp-sack-panic": ("4.18.0-521.el8", "CVE-2019-11477"),
        "cifs-dfs-automount-without-upcall-null": ("4.18.0-513.el8", "CVE-2023-53246"),
    }
    assert all(f[0].line == "el8" and "rhel8-kernel.rpm-changelog" in f[0].source for f in facts.values())


# --------------------------------------------------------------------------------- verdicts


def with_facts(bug_id: str, *logs: Any) -> KnownBug:
    from dataclasses import replace

    bug = CURATED[bug_id]
    return replace(bug, vendor_fixes=vendor_fixes([bug], logs).get(bug_id, ()))


RHEL = ("rhel8-kernel.rpm-changelog", None)
DEBIAN = ("debian-linux-6.1.changelog", None)
UBUNTU = ("ubuntu-linux-5.15.changelog", None)
SUSE = ("sles15-kernel-default.rpm-changelog", "5.14.21-150500.55.44-default")

# (bug, changelog, running kernel, status, install)
VENDOR_VERDICTS: list[tuple[str, tuple[str, str | None], str, Status, str | None]] = [
    # RHEL: the build at or after the entry carries it; an older build of the same stream does not;
    # a z-stream build (el8_9) is another stream: nothing sure
    ("tcp-rto-delta-us-null-skb", RHEL, "4.18.0-553.el8_10.x86_64", Status.FIXED, None),
    ("tcp-rto-delta-us-null-skb", RHEL, "4.18.0-540.el8.x86_64", Status.FIXED, None),
    ("tcp-rto-delta-us-null-skb", RHEL, "4.18.0-521.el8.x86_64", Status.AFFECTED, "4.18.0-540.el8"),
    ("tcp-rto-delta-us-null-skb", RHEL, "4.18.0-513.9.1.el8_9.x86_64", Status.UNKNOWN, None),
    # a RHEL 9 kernel is another line: the changelog of RHEL 8 says nothing about it
    ("tcp-rto-delta-us-null-skb", RHEL, "5.14.0-362.8.1.el9_3.x86_64", Status.UNKNOWN, None),
    # Debian by ABI (no banner): 18 is the ABI of the entry that lists the fix, and its first build
    ("ext4-find-extent-orig-path-null", DEBIAN, "6.1.0-18-amd64", Status.FIXED, None),
    ("ext4-find-extent-orig-path-null", DEBIAN, "6.1.0-17-amd64", Status.AFFECTED, "6.1.76-1"),
    ("cifs-dfs-automount-without-upcall-null", DEBIAN, "6.1.0-18-amd64", Status.FIXED, None),
    # Ubuntu: the generic line; the azure kernel has a changelog of its own
    ("qla2xxx-abort-all-cmds-null", UBUNTU, "5.15.0-91-generic", Status.FIXED, None),
    ("qla2xxx-abort-all-cmds-null", UBUNTU, "5.15.0-90-generic", Status.AFFECTED, "5.15.0-91.101"),
    ("tcp-rto-delta-us-null-skb", UBUNTU, "5.15.0-90-lowlatency", Status.FIXED, None),
    ("qla2xxx-abort-all-cmds-null", UBUNTU, "5.15.0-1050-azure", Status.UNKNOWN, None),
    # SUSE entries name no build: the build given carries it; an older one is not said to lack it
    ("tcp-rto-delta-us-null-skb", SUSE, "5.14.21-150500.55.44-default", Status.FIXED, None),
    ("tcp-rto-delta-us-null-skb", SUSE, "5.14.21-150500.55.39-default", Status.UNKNOWN, None),
]


@pytest.mark.parametrize(("bug_id", "log", "running", "status", "install"), VENDOR_VERDICTS,
                         ids=[f"{c[0]}-{c[2]}" for c in VENDOR_VERDICTS])
def test_vendor_changelog_verdicts(bug_id: str, log: tuple[str, str | None], running: str, status: Status,
                                   install: str | None) -> None:
    bug = with_facts(bug_id, changelog(*log))
    v = verdict(bug, parse_kernel_version(running))
    assert (v.status, v.install) == (status, install), v.reason
    assert v.vendor is not None and v.base is not None and v.base_status is not None
    if status is Status.FIXED:
        assert "per its changelog" in v.reason and v.vendor_fix and log[0] in v.vendor_fix
    assert v.to_dict()["vendor"] == v.vendor


def test_hidden_base_says_what_is_known() -> None:
    bug = CURATED["tcp-rto-delta-us-null-skb"]  # fixed in 4.19.323 / 5.4.285 ...; no 4.18 stable fix
    v = verdict(bug, parse_kernel_version("4.18.0-553.el8_10.x86_64"))
    assert v.status is Status.UNKNOWN and v.base == "4.18" and v.base_status is Status.AFFECTED
    assert "backports fixes" in v.reason and v.install is None
    assert v.caveat is not None and "--vendor-changelog" in v.caveat
    m = Match(bug=bug, score=0.9, confident=True, rule="test", verdict=v)
    a = advise(m)
    assert a.label == "cannot tell" and "upstream base 4.18 lacks it" in a.headline and a.install is None
    assert "may have backported" in a.headline
    possible = advise(Match(bug=bug, score=0.3, confident=False, rule="test", verdict=v))
    assert possible.conditional and possible.headline.startswith("If this is that bug")


def test_changelog_verdict_words() -> None:
    bug = with_facts("tcp-rto-delta-us-null-skb", changelog(*RHEL))
    fixed = verdict(bug, parse_kernel_version("4.18.0-553.el8_10.x86_64"))
    a = advise(Match(bug=bug, score=0.9, confident=True, rule="test", verdict=fixed))
    assert a.label == "fixed in your kernel" and "per its vendor changelog" in a.headline and a.install is None
    older = verdict(bug, parse_kernel_version("4.18.0-521.el8.x86_64"))
    a = advise(Match(bug=bug, score=0.9, confident=True, rule="test", verdict=older))
    assert a.badge == "affected" and a.install == "4.18.0-540.el8" and "vendor changelog lists the fix" in a.headline
    p = advise(Match(bug=bug, score=0.3, confident=False, rule="test", verdict=older))
    assert p.badge == "possible" and p.install is None and p.headline.startswith("If this is that bug")
    assert fixed.caveat is None or "--vendor-changelog" not in fixed.caveat  # its changelog spoke


def test_known_base_stands_with_a_caveat() -> None:
    bug = CURATED["ext4-find-extent-orig-path-null"]  # 6.1 fixed in 6.1.113
    kv = version_from_log(DEBIAN_BANNER)
    v = verdict(bug, kv)
    assert (v.status, v.install, v.base, v.base_status) == (Status.AFFECTED, "6.1.113", "6.1.76", Status.AFFECTED)
    assert v.caveat is not None and "may have backported" in v.caveat
    a = advise(Match(bug=bug, score=0.9, confident=True, rule="test", verdict=v))
    assert "based on upstream 6.1.76" in a.headline and "install 6.1.113 or later" in a.headline
    assert "may have backported" in a.headline
    with_log = with_facts("ext4-find-extent-orig-path-null", changelog(*DEBIAN))
    assert verdict(with_log, kv).status is Status.FIXED  # the banner's build 6.1.76-1 lists it


def test_analyze_reads_the_debian_banner() -> None:
    bug = CURATED["ext4-find-extent-orig-path-null"]
    trace = _example(bug)
    log = DEBIAN_BANNER + trace.replace("6.11.0-rc2-dirty #847", "6.1.0-18-amd64 #1")
    matcher = Matcher(Catalog.of(CURATED.values()), freeze_gc=False)
    answer = analyze(log, matcher)
    assert answer.kernel is not None and answer.kernel.upstream == "6.1.76" and answer.kernel.build == "6.1.76-1"
    top = answer.matches[0]
    assert top.bug.id == bug.id and top.verdict is not None
    assert top.verdict.base == "6.1.76" and top.verdict.vendor == "Debian"


def _example(bug: KnownBug) -> str:
    import yaml

    doc = yaml.safe_load((REPO / "signatures" / f"{bug.id}.yaml").read_text())
    return str(doc["examples"][0]["trace"])


# ------------------------------------------------------------------------------ the refresh


def test_refresh_records_changelogs_and_verdicts_use_them(tmp_path: Path) -> None:
    env = {"SIGMATCH_DATA_DIR": str(tmp_path / "data"), "REDIS_URL": "", "SIGMATCH_UPSTREAM_LOOKUP": "off"}
    settings = settings_with(env)
    text = (VENDOR / "rhel8-kernel.rpm-changelog").read_text()
    report = refresh(settings=settings, vendor_changelogs=[("kernel.changelog", text, None)], sources=("vendor",))
    assert not report.unchanged and report.vendor["changed"] == 10
    assert (tmp_path / "data" / "vendor" / "el8.json").is_file()
    catalog = build_runtime(settings).load_catalog()
    bug = catalog.get("tcp-rto-delta-us-null-skb")
    assert bug is not None and [f.build for f in bug.vendor_fixes] == ["4.18.0-540.el8"]
    assert verdict(bug, parse_kernel_version("4.18.0-553.el8_10.x86_64")).status is Status.FIXED
    again = refresh(settings=settings, sources=("vendor",))
    assert again.unchanged and again.snapshot_version == report.snapshot_version
    # the report's JSON says what the step did
    assert json.loads(json.dumps(again.to_dict()))["vendor"]["bugs"] == 10


def test_vendor_facts_survive_a_cve_reimport(tmp_path: Path) -> None:
    from vulns_fixture import bippy_record, git

    repo = tmp_path / "vulns"
    repo.mkdir()
    git(repo, "init", "--quiet", "--initial-branch=master")
    d = repo / "cve" / "published" / "2024"
    d.mkdir(parents=True)

    def write(body: str) -> None:
        files = bippy_record("CVE-2024-47684", "tcp: check skb is non-NULL in tcp_rto_delta_us()", "c8770db2d544" + "0" * 28,
                             body=body)
        for ext, data in files.items():
            (d / f"CVE-2024-47684.{ext}").write_bytes(data)
        git(repo, "add", "-A")
        git(repo, "commit", "--quiet", "-m", "record")

    write("first text")
    (tmp_path / "no-curated").mkdir()
    env = {"SIGMATCH_DATA_DIR": str(tmp_path / "data"), "SIGMATCH_CVE_REPO": str(repo), "REDIS_URL": "",
           "SIGMATCH_SIGNATURES_DIR": str(tmp_path / "no-curated"), "SIGMATCH_UPSTREAM_LOOKUP": "off"}
    settings = settings_with(env)
    text = (VENDOR / "ubuntu-linux-5.15.changelog").read_text()
    refresh(settings=settings, vendor_changelogs=[("changelog.Debian", text, None)], sources=("cve",))
    bug = build_runtime(settings).load_catalog().get("CVE-2024-47684")
    assert bug is not None and [(f.line, f.build) for f in bug.vendor_fixes] == [("ubuntu-5.15", "5.15.0-90.100")]
    write("now frob_widget_ring() is named")  # the record changes: it is re-imported, and the recorded changelog laid over it again
    report = refresh(settings=settings, sources=("cve",))
    assert report.changed == ("CVE-2024-47684",)
    bug = build_runtime(settings).load_catalog().get("CVE-2024-47684")
    assert bug is not None and bug.vendor_fixes and bug.vendor_fixes[0].build == "5.15.0-90.100"
