"""The matcher on small catalogs written here: ranking, confidence, explanations, version plausibility."""

from __future__ import annotations

import json

import pytest

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import BugSignature, FixCommit, Introduced, KnownBug, Origin, StableFix
from sigmatch.match.index import (
    CandidateIndex,
    QueryToken,
    kind_classes,
    subject_identifiers,
    subject_prefix_words,
)
from sigmatch.match.matcher import ALGORITHM_VERSION, Matcher
from sigmatch.match.score import kernel_point, query_features, version_signal
from sigmatch.trace.model import Frame, Kind, Report

FSNOTIFY_FRAMES = ("fsnotify_destroy_marks", "fsnotify_clear_marks_by_inode", "__destroy_inode",
                   "destroy_inode", "evict", "iput", "dentry_unlink_inode", "__dentry_kill", "dput",
                   "__fput", "task_work_run", "exit_to_usermode_loop")


def _bug(bug_id: str, subject: str, *, frames: tuple[str, ...] = (), title: str | None = None,
         files: tuple[str, ...] = (), functions: tuple[str, ...] = (), mainline: str = "6.1",
         introduced: str | None = None, stable: dict[str, str] | None = None, kind: str | None = None) -> KnownBug:
    sigs = (BugSignature(title=title, frames=frames, kind=kind, source="test"),) if (frames or title) else ()
    return KnownBug(
        id=bug_id, title=subject, origin=Origin.CVE, signatures=sigs,
        fixes=(FixCommit(sha=(bug_id.encode().hex() * 8)[:40], subject=subject, mainline=mainline),),
        stable=tuple(StableFix(branch=b, version=v) for b, v in (stable or {}).items()),
        introduced=Introduced(release=introduced) if introduced else None,
        files=files, functions=functions, cves=(bug_id,),
    )


def _catalog() -> Catalog:
    bugs = [
        _bug("CVE-2018-0001", "fsnotify: Fix fsnotify_mark_connector race", frames=FSNOTIFY_FRAMES,
             title="BUG: soft lockup in fsnotify_destroy_marks", files=("fs/notify/mark.c",),
             functions=("fsnotify_mark_connector", "fsnotify_destroy_marks"), mainline="4.17",
             introduced="4.12", stable={"4.14": "4.14.38", "4.16": "4.16.6"}, kind="soft_lockup"),
        _bug("CVE-2019-0005", "fsnotify: fix use-after-free in fsnotify_clear_marks_by_inode",
             frames=("fsnotify_clear_marks_by_inode", "__destroy_inode", "destroy_inode", "evict", "iput"),
             title="KASAN: use-after-free Read in fsnotify_clear_marks_by_inode", files=("fs/notify/mark.c",),
             mainline="5.1", kind="kasan"),
        _bug("CVE-2023-0002", "USB: sisusbvga: Add endpoint checks",
             frames=("usb_submit_urb", "sisusb_bulkout_msg", "sisusb_send_bulk_msg", "sisusb_probe"),
             title="WARNING in usb_submit_urb", files=("drivers/usb/misc/sisusbvga/sisusbvga.c",),
             mainline="6.4", kind="warning"),
        _bug("CVE-2023-0003", "net: usb: fix memory leak in smsc75xx_bind",
             files=("drivers/net/usb/smsc75xx.c",), functions=("smsc75xx_bind",), mainline="5.13"),
        _bug("CVE-2023-0004", "ext4: fix use-after-free in ext4_xattr_set_entry",
             frames=("ext4_xattr_set_entry", "ext4_xattr_ibody_set", "ext4_xattr_set_handle", "dput", "iput"),
             title="KASAN: use-after-free Read in ext4_xattr_set_entry", files=("fs/ext4/xattr.c",), mainline="6.0"),
    ]
    # Distractors sharing only generic frames (dput, iput, evict ...).
    for n in range(40):
        bugs.append(_bug(f"CVE-2020-{1000 + n}", f"fs{n}: fix a race in fs{n}_evict_inode",
                         frames=(f"fs{n}_evict_inode", "evict", "iput", "dput", "__fput", "task_work_run"),
                         files=(f"fs/fs{n}/inode.c",), mainline="5.10"))
    return Catalog.of(bugs, version="test-1")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(_catalog())


def _report(title: str, frames: tuple[str, ...], *, kind: Kind = Kind.SOFT_LOCKUP, kernel: str | None = None,
            files: tuple[str | None, ...] = (), corrupted: bool = False, text: str = "") -> Report:
    fr = tuple(Frame(function=f, file=(files[i] if i < len(files) else None)) for i, f in enumerate(frames))
    guilty = frames[0] if frames else None
    return Report(kind=kind, title=title, frames=fr, guilty_frame=guilty, kernel_version=kernel,
                  corrupted=corrupted, corrupted_reason="truncated" if corrupted else None, text=text)


def test_exact_title_and_frames_is_confident(matcher: Matcher) -> None:
    r = _report("BUG: soft lockup in fsnotify_destroy_marks", FSNOTIFY_FRAMES, kernel="4.14.32-1.el7.x86_64")
    ms = matcher.match(r)
    assert ms[0].bug.id == "CVE-2018-0001"
    assert ms[0].confident
    assert ms[0].rule == "title"
    assert "fsnotify_destroy_marks" in ms[0].matched_frames
    assert ms[0].algorithm_version == ALGORITHM_VERSION
    assert all(not m.confident for m in ms[1:])
    why = ms[0].to_dict()["why"]
    assert why["signals"]["title"] > 0 and why["signals"]["sequence"] > 0
    assert "runner-up" in why["explanation"]


def test_frames_without_title_rank_first(matcher: Matcher) -> None:
    # Different title wording, one frame missing: the sequence still wins over the other fsnotify bug.
    frames = ("fsnotify_destroy_marks", "__destroy_inode", "destroy_inode", "evict", "iput", "dentry_unlink_inode")
    r = _report("BUG: soft lockup in something_else", frames, kernel="4.14.32")
    ms = matcher.match(r)
    assert ms[0].bug.id == "CVE-2018-0001"
    assert ms[0].to_dict()["why"]["signals"].get("sequence", 0) > 0


def test_generic_frames_alone_are_not_confident(matcher: Matcher) -> None:
    r = _report("BUG: soft lockup in evict", ("evict", "iput", "dput", "__fput", "task_work_run"))
    ms = matcher.match(r)
    assert ms and not ms[0].confident


def test_identifiers_and_files_without_quoted_trace(matcher: Matcher) -> None:
    # The record quotes no trace: its subject names the guilty function, its fix changed the file.
    r = _report("memory leak in smsc75xx_bind", ("smsc75xx_bind", "usbnet_probe", "usb_probe_interface"),
                kind=Kind.MEMORY_LEAK, files=("drivers/net/usb/smsc75xx.c", "drivers/net/usb/usbnet.c"),
                kernel="5.12.0-rc3-syzkaller")
    ms = matcher.match(r)
    assert ms[0].bug.id == "CVE-2023-0003"
    sig = ms[0].to_dict()["why"]["signals"]
    assert sig["subject"] > 0 and sig["file"] > 0 and sig["kind"] > 0


def test_corrupted_and_low_information_never_confident(matcher: Matcher) -> None:
    r = _report("BUG: soft lockup in fsnotify_destroy_marks", FSNOTIFY_FRAMES, corrupted=True)
    ms = matcher.match(r)
    assert ms[0].bug.id == "CVE-2018-0001" and not ms[0].confident
    assert "corrupted" in ms[0].rule
    bare = _report("BUG: soft lockup in fsnotify_destroy_marks", ())
    ms = matcher.match(bare)
    assert not ms or not ms[0].confident


def test_version_plausibility() -> None:
    bug = CandidateIndex(_catalog()).features[0]  # the fsnotify bug: 4.12 .. 4.17, 4.14.38 on 4.14
    assert version_signal(kernel_point("4.14.32"), bug)[0] == 1.0
    assert version_signal(kernel_point("4.14.40"), bug)[0] == -1.0  # already fixed on its branch
    assert version_signal(kernel_point("4.19.0"), bug)[0] == -1.0  # newer than the mainline fix
    assert version_signal(kernel_point("4.9.100"), bug)[0] == -1.0  # before the introduction
    assert version_signal(kernel_point("4.17.0-rc3"), bug)[0] == 1.0  # the fix may come later in 4.17
    assert version_signal(kernel_point(None), bug) == (0.0, 0.0, "")


def test_kernel_that_has_the_fix_is_not_confident(matcher: Matcher) -> None:
    r = _report("BUG: soft lockup in fsnotify_destroy_marks", FSNOTIFY_FRAMES, kernel="4.14.40")
    ms = matcher.match(r)
    assert ms[0].bug.id == "CVE-2018-0001"
    assert not ms[0].confident and "version" in ms[0].rule


def test_index_reads_only_postings_of_query_tokens(matcher: Matcher) -> None:
    idx = matcher.index
    got = idx.lookup([QueryToken("i", "smsc75xx_bind")])
    assert {idx.bugs[i].id for i in got} == {"CVE-2023-0003"}
    assert idx.lookup([QueryToken("f", "no_such_function_anywhere")]) == {}
    # a token every bug has is skipped (no IDF weight), so it yields no candidates
    assert idx.idf("f:iput") < idx.idf("f:fsnotify_destroy_marks")


def test_subject_parsing() -> None:
    assert subject_prefix_words("USB: sisusbvga: Add endpoint checks") == ("usb", "sisusbvga")
    assert "hid-thrustmaster" in subject_prefix_words("HID: hid-thrustmaster: fix stack-out-of-bounds read")
    assert subject_identifiers("HID: hid-thrustmaster: fix read in usb_check_int_endpoints()") == (
        "usb_check_int_endpoints",)
    assert subject_identifiers("fsnotify: Fix fsnotify_mark_connector race") == ("fsnotify_mark_connector",)


def test_query_features_from_report_text() -> None:
    text = "WARNING: CPU: 0 PID: 12 at drivers/usb/core/urb.c:477 usb_submit_urb+0x1188/0x13b0\n"
    r = _report("WARNING in usb_submit_urb", ("usb_submit_urb", "sisusb_bulkout_msg"), kind=Kind.WARNING, text=text)
    q = query_features(r)
    assert "drivers/usb/core/urb.c" in q.files
    assert q.guilty[0] == "usb_submit_urb"
    assert "warning" in q.kind_classes


def test_match_to_dict_is_json(matcher: Matcher) -> None:
    r = _report("WARNING in usb_submit_urb", ("usb_submit_urb", "sisusb_bulkout_msg", "sisusb_send_bulk_msg"),
                kind=Kind.WARNING, kernel="6.2.0-rc5-syzkaller")
    ms = matcher.match(r, top=3)
    d = json.loads(json.dumps([m.to_dict() for m in ms]))
    assert d[0]["bug_id"] == "CVE-2023-0002"
    assert d[0]["fixes"][0]["sha"] and d[0]["why"]["algorithm_version"] == ALGORITHM_VERSION
    assert len(d) <= 3


def test_empty_catalog_and_empty_report() -> None:
    m = Matcher(Catalog.of([], version="empty"))
    assert m.match(_report("BUG: soft lockup in x", ("x", "y"))) == []
    m2 = Matcher(_catalog())
    assert m2.match(_report("", ())) == []


def test_signature_input_and_kernel_override(matcher: Matcher) -> None:
    from sigmatch.trace.signature import Signature

    sig = Signature(kind=Kind.SOFT_LOCKUP, title="BUG: soft lockup in fsnotify_destroy_marks", alt_titles=(),
                    frames=FSNOTIFY_FRAMES, guilty_function="fsnotify_destroy_marks", files=("fs/notify/mark.c",))
    ms = matcher.match(sig, kernel="4.14.32")
    assert ms[0].bug.id == "CVE-2018-0001" and ms[0].confident
    # the same crash on a kernel that already has the fix on its branch: never confident
    late = matcher.match(sig, kernel="4.14.99")
    assert not late[0].confident
    low = Signature(kind=Kind.SOFT_LOCKUP, title="BUG: soft lockup in evict", alt_titles=(), frames=("evict",),
                    guilty_function="evict", low_information=True)
    assert all(not m.confident for m in matcher.match(low))


def test_same_title_tie_broken_by_example_kernel() -> None:
    """syzbot's "X" and a later "X (2)": one title, two bugs; the example closer to the log's kernel wins."""
    frames = ("ext4_write_inline_data", "ext4_write_inline_data_end", "ext4_da_write_end", "generic_perform_write")

    def curated(bug_id: str, title: str, kernel: str) -> KnownBug:
        sig = BugSignature(title="kernel BUG in ext4_write_inline_data", frames=frames, kind="kernel_bug",
                           source="examples[0]: test", kernel=kernel)
        return KnownBug(id=bug_id, title=title, origin=Origin.CURATED, signatures=(sig,))

    others = [KnownBug(id=f"other-{n}", title=f"WARNING in other_{n}", origin=Origin.CURATED,
                       signatures=(BugSignature(title=f"WARNING in other_{n}", frames=(f"other_{n}", "iput")),))
              for n in range(20)]
    m = Matcher(Catalog.of([curated("old", "kernel BUG in ext4_write_inline_data", "5.10.0-rc2-syzkaller"),
                            curated("new", "kernel BUG in ext4_write_inline_data (2)", "6.12.0-syzkaller"), *others],
                           version="t"), freeze_gc=False)
    rep = _report("kernel BUG in ext4_write_inline_data", frames, kind=Kind.KERNEL_BUG)
    assert m.match(rep, kernel="6.13.0-rc3-syzkaller-00017-gabcdef")[0].bug_id == "new"
    top = m.match(rep, kernel="5.11.0-syzkaller")[0]
    assert top.bug_id == "old" and top.signals["example_kernel"] > 0
    assert not top.confident  # two bugs share the title and the frames: no confident answer
    same_build = m.match(rep, kernel="6.12.0-syzkaller")[0]  # the very build of an example counts most
    assert same_build.bug_id == "new" and same_build.signals["example_kernel"] > top.signals["example_kernel"]


def test_curated_example_titles_name_the_guilty_function() -> None:
    """A curated bug is named by its examples' titles too, not only by the curator's title.

    Two bugs crash in the same frames; the curator named one after its example ("WARNING: locking
    bug in F") and the other after a neighbouring function, though its example's title is the
    log's title. The exact example title must not lose to the curator's title naming F.
    """
    frames = ("l2cap_sock_teardown_cb", "l2cap_chan_del", "l2cap_chan_close", "l2cap_chan_timeout",
              "process_one_work")

    def curated(bug_id: str, title: str, example_title: str) -> KnownBug:
        sig = BugSignature(title=example_title, frames=frames, kind="lockdep", source="examples[0]: test")
        return KnownBug(id=bug_id, title=title, origin=Origin.CURATED, signatures=(sig,))

    others = [KnownBug(id=f"other-{n}", title=f"WARNING in other_{n}", origin=Origin.CURATED,
                       signatures=(BugSignature(title=f"WARNING in other_{n}", frames=(f"other_{n}", "iput")),))
              for n in range(20)]
    locking = "WARNING: locking bug in l2cap_sock_teardown_cb"
    nonstatic = "INFO: trying to register non-static key in l2cap_sock_teardown_cb"
    m = Matcher(Catalog.of([curated("locking", locking, locking),
                            curated("nonstatic", "INFO: trying to register non-static key in l2cap_chan_del", nonstatic),
                            *others], version="t"), freeze_gc=False)
    top = m.match(_report(nonstatic, frames, kind=Kind.LOCKDEP))[0]
    assert top.bug_id == "nonstatic" and top.signals["subject"] > 0 and top.rule.startswith("title")
    assert m.match(_report(locking, frames, kind=Kind.LOCKDEP))[0].bug_id == "locking"


def test_example_kernel_reads_rc_and_describe_suffix() -> None:
    """Builds of one release are told apart by their rc number and ``git describe`` suffix: a log
    from just after 6.12 sits closer to a 6.12-rc7 example than to a 6.12-rc1 one."""
    from sigmatch.match.index import release_ordinal, release_point

    base = release_ordinal(6, 12)
    rc1, rc7 = release_point("6.12.0-rc1-syzkaller"), release_point("6.12.0-rc7-syzkaller-00189-ge8bdb3c8be08")
    after = release_point("6.12.0-syzkaller-07834-g06afb0f36106")
    assert rc1 is not None and rc7 is not None and after is not None
    assert base - 1 < rc1 < rc7 < base < after < base + 0.25
    assert release_point("4.14.32-1.el7.x86_64") == release_ordinal(4, 14)

    frames = ("try_to_wake_up", "autoremove_wake_function", "vhci_send_frame", "hci_send_frame")

    def curated(bug_id: str, title: str, kernel: str) -> KnownBug:
        sig = BugSignature(title="WARNING: locking bug in try_to_wake_up", frames=frames, kind="lockdep",
                           source="examples[0]: test", kernel=kernel)
        return KnownBug(id=bug_id, title=title, origin=Origin.CURATED, signatures=(sig,))

    others = [KnownBug(id=f"other-{n}", title=f"WARNING in other_{n}", origin=Origin.CURATED,
                       signatures=(BugSignature(title=f"WARNING in other_{n}", frames=(f"other_{n}", "iput")),))
              for n in range(20)]
    m = Matcher(Catalog.of([curated("a-early", "WARNING: locking bug in try_to_wake_up", "6.12.0-rc1-syzkaller"),
                            curated("b-late", "WARNING: locking bug in try_to_wake_up (2)",
                                    "6.12.0-rc7-syzkaller-00189-ge8bdb3c8be08"), *others], version="t"), freeze_gc=False)
    rep = _report("WARNING: locking bug in try_to_wake_up", frames, kind=Kind.LOCKDEP)
    assert m.match(rep, kernel="6.12.0-syzkaller-07834-g06afb0f36106")[0].bug_id == "b-late"
    assert m.match(rep, kernel="6.12.0-rc2-syzkaller")[0].bug_id == "a-early"


def test_bug_naming_the_guilty_function_is_always_scored() -> None:
    """Bugs whose record names the guilty function are scored even when the shortlist is full of
    bugs that share many (commoner) frames with the report and so outrank them in the prescore."""
    shared = ("dev_attr_show", "sysfs_kf_seq_show", "seq_read_iter", "kernfs_fop_read_iter", "vfs_read", "ksys_read")
    bugs = [_bug(f"CVE-2024-{2000 + n}", f"drv{n}: fix a race in drv{n}_show",
                 frames=(f"drv{n}_show", *shared), files=(f"drivers/drv{n}/core.c",), mainline="6.11")
            for n in range(15)]
    bugs += [_bug(f"CVE-2022-{3000 + n}", f"fs{n}: fix fs{n}_lookup", frames=(f"fs{n}_lookup", "path_openat"),
                  mainline="5.10") for n in range(300)]  # the shared frames are rare enough to count
    bugs.append(_bug("CVE-2024-0001", "wifi: rtlwifi: reduce the attempts to read efuse",
                     functions=("uevent_show", "read_efuse_byte"), files=("drivers/net/wireless/rtlwifi/efuse.c",),
                     mainline="6.11"))
    m = Matcher(Catalog.of(bugs, version="t"), shortlist=5, freeze_gc=False)
    report = _report("INFO: task hung in uevent_show", ("uevent_show", *shared), kind=Kind.HUNG_TASK,
                     kernel="6.10.0-rc2")
    _, ranked = m.rank(report, limit=50)
    ids = [m.index.bugs[s.bug_index].id for s in ranked]
    assert "CVE-2024-0001" in ids
    assert ids[0] == "CVE-2024-0001" and ranked[0].signals["guilty"] > 0


def _parsed(text: str) -> Report:
    from sigmatch import parse_log

    return parse_log(text)[0]


ZFS_PASTE = """\
BUG: unable to handle page fault for address: 0000000000002a48
#PF: supervisor read access in kernel mode
Oops: 0000 [#1] SMP NOPTI
CPU: 3 PID: 912 Comm: arc_prune Tainted: P           OE     6.1.0-18-amd64 #1  Debian 6.1.76-1
RIP: 0010:arc_shrink+0x3a/0x90 [zfs]
RSP: 0018:ffffa1c2c0e3bd70 EFLAGS: 00010246
Call Trace:
 <TASK>
 arc_shrinker_scan+0x9c/0x120 [zfs]
 arc_reap_cb+0x4a/0x80 [zfs]
 zthr_procedure+0x8e/0x140 [zfs]
 thread_generic_wrapper+0x5c/0x70 [spl]
 kthread+0xd7/0x100
 ret_from_fork+0x22/0x30
 </TASK>
Modules linked in: zfs(POE) spl(OE) e1000e
"""


def test_out_of_tree_guilty_frame_suggests_no_in_tree_fix_on_a_word() -> None:
    """arc_shrink [zfs] must not rank "net: ethernet: arc: emac" (or any in-tree arc_* fix) first."""
    bugs = [
        _bug("CVE-2024-1111", "net: ethernet: arc: emac: fix a use-after-free in arc_emac_probe",
             files=("drivers/net/ethernet/arc/emac_main.c",), functions=("arc_emac_probe", "arc_shrink"),
             mainline="6.8"),
        _bug("CVE-2024-1112", "mm: vmscan: fix a race in shrink_slab", frames=("shrink_slab", "kthread"),
             files=("mm/vmscan.c",), mainline="6.8"),
    ]
    m = Matcher(Catalog.of(bugs, version="t"), freeze_gc=False)
    report = _parsed(ZFS_PASTE)
    assert report.out_of_tree == "zfs" and report.guilty_frame == "arc_shrink"
    ms = m.match(report)
    assert not any(x.bug.id == "CVE-2024-1111" for x in ms)
    assert not ms or not ms[0].confident


def test_partial_report_is_decided_by_the_partial_rule(matcher: Matcher) -> None:
    """A report cut after its RIP line is not corrupted: its rule asks for a clear winner whose
    record names the faulting function."""
    r = Report(kind=Kind.KASAN, title="KASAN: use-after-free Read in ext4_xattr_set_entry",
               frames=(Frame(function="ext4_xattr_set_entry", from_rip=True),), guilty_frame="ext4_xattr_set_entry",
               truncated=True, truncated_reason="no call trace", kernel_version="5.19.0")
    ms = matcher.match(r)
    assert ms[0].bug.id == "CVE-2023-0004"
    assert ms[0].rule.endswith(":partial") == ms[0].confident
    weak = Report(kind=Kind.KASAN, title="KASAN: use-after-free Read in iput", frames=(Frame(function="iput"),),
                  guilty_frame="iput", truncated=True, truncated_reason="no call trace")
    ms = matcher.match(weak)
    assert not ms or not ms[0].confident


HUNG_WITH_HOLDER = """\
INFO: task kworker/0:3:4535 blocked for more than 143 seconds.
      Not tainted 6.7.0-rc7 #1
task:kworker/0:3     state:D stack:28176 pid:4535  tgid:4535  ppid:2      flags:0x00004000
Workqueue: events_power_efficient hub_init_func2
Call Trace:
 <TASK>
 __schedule+0xcea/0x59e0
 schedule+0xe9/0x270
 schedule_preempt_disabled+0x13/0x20
 __mutex_lock+0x509/0x940
 hub_activate+0x320/0x1df0
 process_one_work+0x878/0x15c0
 worker_thread+0x855/0x1200
 kthread+0x2cc/0x3b0
 ret_from_fork+0x45/0x80
 </TASK>

Showing all locks held in the system:
3 locks held by kworker/0:3/4535:
 #0: ffff88801307a138 ((wq_completion)events_power_efficient){+.+.}-{0:0}, at: process_one_work+0x77b/0x15c0
 #1: ffffc90002a1fd88 ((work_completion)(&(&hub->init_work)->work)){+.+.}-{0:0}, at: process_one_work+0x7dd/0x15c0
 #2: ffff88801c280190 (&dev->mutex){....}-{3:3}, at: hub_activate+0x320/0x1df0
4 locks held by syz-executor111/8113:
 #0: ffff88801d00a418 (sb_writers#5){.+.+}-{0:0}, at: ksys_write+0x122/0x250
 #1: ffff88801c280190 (&dev->mutex){....}-{3:3}, at: usb_deauthorize_device+0x2a/0x110
 #2: ffff888019fd5e88 (kn->active#63){++++}-{0:0}, at: widget_remove_files+0x280/0x650
"""


def test_hung_task_related_frames_name_the_lock_holder() -> None:
    report = _parsed(HUNG_WITH_HOLDER)
    assert report.guilty_frame == "hub_activate"
    names = [f.function for f in report.related_frames]
    assert names[:2] == ["widget_remove_files", "usb_deauthorize_device"]
    bugs = [
        _bug("CVE-2024-2001", "usb: hub: fix a crash in hub_activate", functions=("hub_activate",),
             files=("drivers/usb/core/hub.c",), mainline="6.8"),
        _bug("CVE-2024-2002", "USB: core: Fix deadlock in usb_deauthorize_device()",
             functions=("usb_deauthorize_device",), files=("drivers/usb/core/hub.c",), mainline="6.8"),
    ] + [_bug(f"CVE-2020-{5000 + n}", f"usb{n}: fix usb{n}_probe", functions=(f"usb{n}_probe", "hub_activate"),
              mainline="5.10") for n in range(3)]
    m = Matcher(Catalog.of(bugs, version="t"), freeze_gc=False)
    ms = m.match(report)
    by_id = {x.bug.id: x for x in ms}
    assert by_id["CVE-2024-2002"].signals.get("related_subject", 0) > 0
    assert "related" in by_id["CVE-2024-2002"].signals


def test_device_error_before_the_report_is_kept_and_weighs_a_little() -> None:
    text = "au0828: Failure setting usb interface0 to as5\n" + ZFS_PASTE.replace("[zfs]", "").replace("zfs(POE) spl(OE) ", "")
    report = _parsed(text)
    assert [(e.driver, e.line) for e in report.device_errors] == [("au0828", "au0828: Failure setting usb interface0 to as5")]
    bugs = [_bug("CVE-2024-3001", "media: au0828: fix a leak in au0828_usb_probe", files=("drivers/media/usb/au0828/au0828-core.c",),
                 functions=("au0828_usb_probe",), mainline="6.8"),
            _bug("CVE-2024-3002", "mm: fix arc_shrinker_scan", functions=("arc_shrinker_scan",), mainline="6.8")]
    m = Matcher(Catalog.of(bugs, version="t"), freeze_gc=False)
    by_id = {x.bug.id: x for x in m.match(report)}
    assert by_id["CVE-2024-3001"].signals.get("device", 0) > 0
    assert "device" not in by_id["CVE-2024-3002"].signals
    assert next(iter(by_id)) == "CVE-2024-3002"  # a weak signal: the frame evidence still wins


def test_quoted_trace_that_misses_the_guilty_function_weighs_against() -> None:
    """trace_miss: a record that quotes a crash trace without the report's guilty function crashed
    elsewhere; a record that quotes no trace (most CVE records) or one through it is not marked."""
    catalog = Catalog.of([
        _bug("CVE-2024-0101", "net: fix a race in foo_xmit", frames=("bar_rcv", "netif_receive_skb"),
             files=("net/core/foo.c",), mainline="6.8"),
        _bug("CVE-2024-0102", "net: foo: check the length", files=("net/core/foo.c",), mainline="6.8"),
        _bug("CVE-2024-0103", "net: fix foo_xmit", frames=("foo_xmit", "dev_queue_xmit"),
             files=("net/core/foo.c",), mainline="6.8"),
    ], version="t")
    m = Matcher(catalog, freeze_gc=False)
    _, ranked = m.rank(_report("WARNING in foo_xmit", ("foo_xmit", "dev_queue_xmit"), kind=Kind.WARNING,
                               files=("net/core/foo.c",)), limit=10)
    by_id = {m.index.bugs[s.bug_index].id: s for s in ranked}
    assert by_id["CVE-2024-0101"].signals.get("trace_miss") == 1.0
    assert "trace_miss" not in by_id["CVE-2024-0102"].signals
    assert "trace_miss" not in by_id["CVE-2024-0103"].signals
    assert by_id["CVE-2024-0101"].raw < by_id["CVE-2024-0102"].raw


def test_fix_subject_words_and_heads_of_the_guilty_function() -> None:
    """subject_words: words of the fix subject's body in the top frames' names ("TDLS" and
    ieee80211_tdls_oper); subject_part: the subject names what the guilty function is named after
    ("mgmt_pending" of mgmt_pending_remove). Prefix words and kind words do not count."""
    catalog = Catalog.of([
        _bug("CVE-2025-0201", "wifi: mac80211: reject TDLS operations when station is not associated",
             files=("net/mac80211/tdls.c",), mainline="6.16"),
        _bug("CVE-2025-0202", "Bluetooth: MGMT: Protect mgmt_pending list with its own lock",
             files=("net/bluetooth/mgmt.c",), mainline="6.16"),
        _bug("CVE-2025-0203", "wifi: mac80211: fix a use-after-free in station cleanup",
             files=("net/mac80211/sta_info.c",), mainline="6.16"),
    ], version="t")
    m = Matcher(catalog, freeze_gc=False)
    _, ranked = m.rank(_report("WARNING in ieee80211_tdls_oper", ("ieee80211_tdls_oper", "nl80211_tdls_oper"),
                               kind=Kind.WARNING, files=("net/mac80211/tdls.c",)), limit=10)
    by_id = {m.index.bugs[s.bug_index].id: s for s in ranked}
    assert by_id["CVE-2025-0201"].signals.get("subject_words") == 0.5  # "tdls"; "operations" is no name part
    if "CVE-2025-0203" in by_id:  # shares only the mac80211 prefix: no word of the body
        assert "subject_words" not in by_id["CVE-2025-0203"].signals
    _, ranked = m.rank(_report("BUG: corrupted list in mgmt_pending_remove", ("mgmt_pending_remove", "mgmt_index_removed"),
                               kind=Kind.LIST_CORRUPTION, files=("net/bluetooth/mgmt_util.c",)), limit=10)
    top = ranked[0]
    assert m.index.bugs[top.bug_index].id == "CVE-2025-0202"
    assert top.signals.get("subject_part") == 1.0
    assert top.signals.get("subject_words") == 1.0  # "mgmt" and "pending"
    assert "subject_miss" in top.signals  # it still names no frame of the report


def test_next_tree_release_candidate_may_carry_the_next_merge_window() -> None:
    """A release candidate (syzbot's -next trees are built as the last tag's rc) may already carry
    a bug that entered mainline one release later; a release build or two releases ahead may not."""
    bug = CandidateIndex(Catalog.of([_bug("CVE-2022-0301", "Bluetooth: fix sco_sock_timeout", mainline="5.19",
                                          introduced="5.15", files=("net/bluetooth/sco.c",))],
                                    version="t")).features[0]
    assert version_signal(kernel_point("5.14.0-rc6-syzkaller"), bug)[0] == 0.5
    assert version_signal(kernel_point("5.14.0"), bug)[0] == -1.0
    assert version_signal(kernel_point("5.13.0-rc6"), bug)[0] == -1.0
    assert version_signal(kernel_point("5.16.0-rc2"), bug)[0] == 1.0


def test_compound_kind_words() -> None:
    """KASAN's compound words ("slab-use-after-free", "slab-out-of-bounds") and the fix subjects'
    ("null-ptr-deref", "heap-buffer-overflow") name a kind; "non-null" or "null-terminated" do not."""
    assert kind_classes(["slab-use-after-free"]) == {"uaf"}
    assert kind_classes(["slab-out-of-bounds"]) == {"oob"}
    assert kind_classes(["null-ptr", "deref"]) == {"null"}
    assert kind_classes(["heap-buffer-overflow"]) == {"oob"}
    assert kind_classes(["self-deadlock"]) == {"deadlock"}
    assert kind_classes(["non-null", "null-terminated", "bounds-check"]) == frozenset()


# A hung task sleeping in a driver's URB wait, written for these tests (no corpus log): the guilty
# frame is the caller (usb_kill_urb and usb_control_msg are on the skip list), the frames above
# it that are no scheduler or lock frames say what the task waits for.
HUNG_IN_URB_WAIT = """\
INFO: task kworker/1:4:3120 blocked for more than 143 seconds.
      Not tainted 6.9.0-rc2 #1
task:kworker/1:4     state:D stack:27312 pid:3120  tgid:3120  ppid:2      flags:0x00004000
Workqueue: usb_hub_wq hub_event
Call Trace:
 <TASK>
 __schedule+0xcea/0x59e0 kernel/sched/core.c:6682
 schedule+0xe9/0x270 kernel/sched/core.c:6774
 usb_kill_urb+0x1ca/0x250 drivers/usb/core/urb.c:713
 usb_start_wait_urb+0x255/0x4c0 drivers/usb/core/message.c:65
 usb_control_msg+0x327/0x4b0 drivers/usb/core/message.c:154
 gizmo_read_config+0x91/0x1c0 drivers/usb/misc/gizmo.c:211
 gizmo_probe+0x2f1/0x8a0 drivers/usb/misc/gizmo.c:402
 usb_probe_interface+0x30f/0x960 drivers/usb/core/driver.c:399
 really_probe+0x23e/0xa90 drivers/base/dd.c:658
 process_one_work+0x878/0x15c0 kernel/workqueue.c:3229
 worker_thread+0x855/0x1200 kernel/workqueue.c:3391
 kthread+0x2cc/0x3b0 kernel/kthread.c:389
 ret_from_fork+0x45/0x80 arch/x86/kernel/process.c:147
 </TASK>
"""


def test_wait_frames_are_what_a_hung_task_sleeps_in() -> None:
    from sigmatch.trace.related import wait_frames

    report = _parsed(HUNG_IN_URB_WAIT)
    assert report.guilty_frame == "gizmo_read_config"
    # usb_start_wait_urb is a wait frame of hang_skip.txt, like the scheduler's; the top one first.
    assert [f.function for f in wait_frames(report)] == ["usb_kill_urb", "usb_control_msg"]
    assert wait_frames(_parsed(HUNG_WITH_HOLDER)) == ()  # all scheduler and mutex frames
    q = query_features(report, kernel="6.9.0")
    assert q.waits == ("usb_kill_urb", "usb_control_msg")
    assert ("i:usb_kill_urb", 0.6) in q.tokens


def test_fix_subject_naming_the_hung_tasks_wait_ranks_it() -> None:
    report = _parsed(HUNG_IN_URB_WAIT)
    bugs = [
        _bug("CVE-2024-4001", "USB: core: fix a hang in usb_kill_urb", functions=("usb_kill_urb",),
             files=("drivers/usb/core/urb.c",), mainline="6.10"),
        _bug("CVE-2024-4002", "usb: misc: gizmo: check the config length", files=("drivers/usb/misc/gizmo.c",),
             mainline="6.10"),
    ] + [_bug(f"CVE-2020-{6000 + n}", f"usb{n}: fix usb{n}_probe", functions=(f"usb{n}_probe", "usb_kill_urb"),
              mainline="6.10") for n in range(3)]
    m = Matcher(Catalog.of(bugs, version="t"), freeze_gc=False)
    by_id = {x.bug.id: x for x in m.match(report, kernel="6.9.0")}
    assert by_id["CVE-2024-4001"].signals.get("wait_subject") == 1.0
    assert by_id["CVE-2024-4001"].signals.get("wait", 0) > 0
    assert "wait_subject" not in by_id["CVE-2020-6000"].signals  # named, not in the fix subject
    assert next(iter(by_id)) == "CVE-2024-4001"


def test_a_fix_that_names_a_lock_is_no_kind_miss_for_a_race_shaped_crash() -> None:
    """'Protect the foo list with its own lock' fixes a race as often as a deadlock: it agrees with
    lockdep reports and weighs against no other kind; 'fix a deadlock' still weighs against a
    corrupted list."""
    m = Matcher(Catalog.of([
        _bug("CVE-2024-5001", "foo: protect foo_pending list with its own lock", functions=("foo_pending_remove",),
             mainline="6.8"),
        _bug("CVE-2024-5002", "foo: fix a deadlock in foo_pending_remove", functions=("foo_pending_remove",),
             mainline="6.8"),
    ] + [_bug(f"CVE-2020-{7000 + n}", f"bar{n}: fix bar{n}_probe", functions=(f"bar{n}_probe",), mainline="5.10")
         for n in range(8)], version="t"), freeze_gc=False)
    _, ranked = m.rank(_report("BUG: corrupted list in foo_pending_remove", ("foo_pending_remove", "foo_unbind"),
                               kind=Kind.LIST_CORRUPTION))
    by_id = {m.index.bugs[s.bug_index].id: s.signals for s in ranked}
    assert "kind_miss" not in by_id["CVE-2024-5001"] and "kind" not in by_id["CVE-2024-5001"]
    assert by_id["CVE-2024-5002"].get("kind_miss") == 1.0
    _, ranked = m.rank(_report("possible circular locking dependency detected", ("foo_pending_remove", "foo_unbind"),
                               kind=Kind.LOCKDEP))
    assert all(s.signals.get("kind") == 1.0 for s in ranked)


def test_another_blocked_tasks_guilty_frame_says_where_it_comes_from() -> None:
    second = HUNG_IN_URB_WAIT.replace("kworker/1:4:3120", "kworker/0:7:3188").replace(
        "gizmo_read_config+0x91/0x1c0 drivers/usb/misc/gizmo.c:211", "gizmo_reset+0x31/0x90 drivers/usb/misc/gizmo.c:120")
    from sigmatch import parse_log

    reports = parse_log(HUNG_IN_URB_WAIT + second)
    assert [r.guilty_frame for r in reports[:2]] == ["gizmo_read_config", "gizmo_reset"]
    related = {f.function: f.note for f in reports[0].related_frames}
    assert related["gizmo_reset"] == "related: guilty frame of another report"


def test_subject_words_leave_out_the_words_that_name_how_code_runs() -> None:
    """"work" of gizmo_radar_work is how the code runs (a work item), not what it does: only
    "radar" of "... in radar detect work" counts."""
    m = Matcher(Catalog.of([
        _bug("CVE-2025-0301", "wifi: gizmo: use safe list iteration in radar detect work",
             files=("drivers/net/wireless/gizmo/radar.c",), mainline="6.16"),
    ] + [_bug(f"CVE-2020-{8000 + n}", f"baz{n}: fix baz{n}_probe", functions=(f"baz{n}_probe",), mainline="5.10")
         for n in range(4)], version="t"), freeze_gc=False)
    _, ranked = m.rank(_report("WARNING in gizmo_radar_work", ("gizmo_radar_work", "process_one_work"),
                               kind=Kind.WARNING, files=("drivers/net/wireless/gizmo/radar.c",)), limit=10)
    by_id = {m.index.bugs[s.bug_index].id: s for s in ranked}
    assert by_id["CVE-2025-0301"].signals.get("subject_words") == 0.5


def test_bug_naming_where_a_hung_task_sleeps_is_always_scored() -> None:
    """A bug whose record names the function a hung task sleeps in (usb_kill_urb) is scored even
    when bugs sharing the report's own frames and files fill the shortlist (match-9)."""
    report = _parsed(HUNG_IN_URB_WAIT)
    shared = ("gizmo_read_config", "gizmo_probe", "usb_probe_interface", "really_probe")
    bugs = [_bug(f"CVE-2024-{5000 + n}", f"usb: misc: gizmo: fix gizmo_op{n}", frames=(f"gizmo_op{n}", *shared),
                 files=("drivers/usb/misc/gizmo.c",), mainline="6.10") for n in range(12)]
    bugs += [_bug(f"CVE-2022-{7000 + n}", f"fs{n}: fix fs{n}_lookup", frames=(f"fs{n}_lookup", "path_openat"),
                  mainline="5.10") for n in range(300)]  # the shared frames are rare enough to count
    bugs.append(_bug("CVE-2024-5100", "USB: gadget: dummy-hcd: fix the task hung problem",
                     functions=("usb_kill_urb", "dummy_timer"), files=("drivers/usb/gadget/udc/dummy_hcd.c",),
                     mainline="6.10"))
    m = Matcher(Catalog.of(bugs, version="t"), shortlist=5, freeze_gc=False)
    assert m._wait_bugs(query_features(report, kernel="6.9.0")) == (len(bugs) - 1,)
    _, ranked = m.rank(report, kernel="6.9.0", limit=50)
    by_id = {m.index.bugs[s.bug_index].id: s for s in ranked}
    assert by_id["CVE-2024-5100"].signals.get("wait", 0) > 0
