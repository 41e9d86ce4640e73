"""Table-driven tests of the normalization rules: line prefixes, function names, titles, frames."""

from __future__ import annotations

import pytest

from sigmatch.trace.frames import parse_bare, parse_frame, parse_rip
from sigmatch.trace.normalize import (
    PREFIX_RULES,
    _rules_from,
    clean_line,
    normalize_function,
    sanitize_title,
    syscall_variants,
    unflow,
)
from sigmatch.trace.rules import load_all


@pytest.mark.parametrize(("raw", "text", "caller"), [
    ("[  123.456789] BUG: x", "BUG: x", None),
    ("[  123.456789][ T1234] BUG: x", "BUG: x", "T1234"),
    ("[  640.991255][    C0] widget0: link", "widget0: link", "C0"),
    ("<4>[  733.102311] foo", "foo", None),
    ("<6>foo", "foo", None),
    ("Apr 14 08:12:21 node17 kernel: [412001.118202] cut", "cut", None),
    ("Apr  4 08:12:21 node17 kernel: cut", "cut", None),
    ("2024-04-14T08:12:21.123456+00:00 host kernel: x", "x", None),
    ("Nov 02 03:14:07.123456 db01 kernel: x", "x", None),
    ("[Tue Mar 12 09:41:07 2024] WARNING: y", "WARNING: y", None),
    ("6,1234,5678901,-;watchdog: BUG", "watchdog: BUG", None),
    ("7344   │ 4,5005,12915307506,-; ? f+0x1/0x2", " ? f+0x1/0x2", None),
    ("\x1b[0;31m<2>[  733.102318] kernel BUG at fs/x.c:1!\x1b[0m\r", "kernel BUG at fs/x.c:1!", None),
    ("[.] Call Trace:", "Call Trace:", None),
    ("  [3310.968174]  btrfs_sync_file+0x3f1/0x490", " btrfs_sync_file+0x3f1/0x490", None),
    (" dump_stack+0x5c/0x85", " dump_stack+0x5c/0x85", None),
    ("kern  :warn  : [  733.102311] ------------[ cut here ]", "------------[ cut here ]", None),
    ("[  +0.000010] RIP: 0010:f+0x1/0x2", "RIP: 0010:f+0x1/0x2", None),
    ("[ 1.234567 <    0.000010>] Call Trace:", "Call Trace:", None),
    ("[  123.456789] host01 kernel: BUG: x", "BUG: x", None),
    # nests: gutter, syslog, level, timestamp, caller; and a redacted timestamp after a date
    ("  123 | Apr 14 08:12:21 host kernel: <4>[  1.000000][ T12] x", "x", "T12"),
    ("[Tue Mar 12 09:41:07 2024] [...] BUG: y", "BUG: y", None),
    ("Debian login: [ 67361.641359] watchdog: BUG", "watchdog: BUG", None),
    ("** 3 printk messages dropped ** [  1.0] x", "x", None),
    ("18h 42m 40.116s(751490ms): [  1.0] x", "x", None),
    # RFC 5424 (rsyslog, syslog-ng): PRI and version, nil values, structured data with escapes, BOM
    ("<4>1 2024-04-14T08:12:21.118202+02:00 node17 kernel - - - BUG: x", "BUG: x", None),
    ('<3>1 2024-04-14T08:12:21Z nas kernel - - [meta sequenceId="7"][o a="1\\]2"] \ufeffBUG: x', "BUG: x", None),
    ("1 - node17 kernel 0 KMSG - WARNING: y", "WARNING: y", None),
    ("<4>1 2024-04-14T08:12:21Z 10.0.0.7 netcons - - - [  12.000000][ T9] z", "z", "T9"),
    # another program's record keeps its header (only the level goes, as for any "<N>")
    ("<30>1 2024-04-14T08:12:21Z node17 systemd 1 - - Started x", "1 2024-04-14T08:12:21Z node17 systemd 1 - - Started x", None),
    # facility.level: BusyBox syslogd, OpenWrt logread, without the date
    ("Apr 14 08:12:21 node17 kern.warn kernel: [ 4917.332112] INFO: t", "INFO: t", None),
    ("Thu Apr 14 08:12:21 2024 kern.err kernel: [  452.103114] Unable", "Unable", None),
    ("kern.warning kernel: [ 1.000000] x", "x", None),
    ("kern.crit: x", "x", None),
    # journalctl -o short-full / short-unix; crash(8) log -T with a zone, log -m levels
    ("Sun 2024-04-14 08:12:21 CEST node17 kernel: BUG: x", "BUG: x", None),
    ("1713082341.118202 node17 kernel: BUG: x", "BUG: x", None),
    ("[Thu Apr 14 08:12:21 UTC 2024] <1>BUG: x", "BUG: x", None),
    ("[ 1523.604311] <4>RIP: 0010:f+0x1/0x2", "RIP: 0010:f+0x1/0x2", None),
    # a getty prompt with a lower-case host name
    ("syzkaller login: [   64.129330][ T3344] BUG: x", "BUG: x", "T3344"),
])
def test_clean_line(raw: str, text: str, caller: str | None) -> None:
    line = clean_line(raw)
    assert line.text == text
    assert line.caller == caller


@pytest.mark.parametrize(("raw", "name"), [
    ("foo.isra.0", "foo"), ("foo.constprop.3.cold", "foo"), ("foo.part.1+0x1/0x2", "foo"),
    ("foo.cold", "foo"), ("foo.llvm.1234567", "foo"),
    ("__x64_sys_write", "sys_write"), ("__arm64_sys_sendto", "sys_sendto"), ("__se_sys_mremap", "mremap"),
    ("__do_sys_openat2", "openat2"), ("SyS_write", "write"), ("SYSC_move_pages", "move_pages"),
    ("__sys_sendmsg", "sendmsg"), ("ksys_read", "read"), ("sys_read", "sys_read"), ("vfs_write", "vfs_write"),
])
def test_normalize_function(raw: str, name: str) -> None:
    assert normalize_function(raw) == name


def test_syscall_variants_keep_partial_spellings() -> None:
    assert syscall_variants("__se_sys_mremap") == ("mremap", "sys_mremap", "__se_sys_mremap")
    assert syscall_variants("__x64_sys_recvmmsg") == ("sys_recvmmsg", "__x64_sys_recvmmsg")


@pytest.mark.parametrize(("title", "want"), [
    ("kernel BUG at fs/ext4/inode.c:2741!", "kernel BUG at fs/ext4/inode.c:LINE!"),
    ("KASAN: use-after-free in f at addr ffff88003a6bd110", "KASAN: use-after-free in f at addr ADDR"),
    ("INFO: task syz-executor3:123 blocked", "INFO: task syz-executor:NUM blocked"),
    ("BUG: soft lockup - CPU#7 stuck for 22 seconds", "BUG: soft lockup - CPU stuck for NUM seconds"),
    ("WARNING in __floppy_read_block_0", "WARNING in __floppy_read_block_0"),
    ("x" * 300, "x" * 120),
])
def test_sanitize_title(title: str, want: str) -> None:
    assert sanitize_title(title) == want


@pytest.mark.parametrize(("line", "func", "module", "reliable"), [
    (" [<ffffffff8106dd1f>] func+0x7f/0xc0", "func", None, True),
    (" [<ffffffffa03c59d2>] qla2x00_abort_isp+0x3e/0x5a0 [qla2xxx]", "qla2x00_abort_isp", "qla2xxx", True),
    (" ? try_to_wake_up+0x51/0x3a0", "try_to_wake_up", None, False),
    (" nft_table_validate+0x1f5/0x2d0 [nf_tables 4b9f...]", "nft_table_validate", None, True),
    (" widget_put+0x41/0x3b0 drivers/misc/widget/core.c:224", "widget_put", None, True),
    (" [c000000000012345] [c000000000067890] foo+0x12/0x34 (unreliable)", "foo", None, False),
    ("([<000000000011f4b8>] scsi_request_fn+0x12/0x34)", "scsi_request_fn", None, True),
    (" dev_attr_show from sysfs_kf_seq_show+0x98/0x100", "dev_attr_show", None, True),
    (" iio_read_channel_info [industrialio] from dev_attr_show+0x2c/0x58", "iio_read_channel_info", "industrialio", True),
    ("[<80c1e5e8>] (__schedule) from [<80c1eb20>] (schedule+0x60/0xdc)", "__schedule", None, True),
    ("dump_backtrace (/home/r/linux/arch/arm64/kernel/stacktrace.c:235)", "dump_backtrace", None, True),
])
def test_parse_frame(line: str, func: str, module: str | None, reliable: bool) -> None:
    raw = parse_frame(line)
    assert raw is not None
    assert (raw.func, raw.reliable) == (func, reliable)
    if module is not None:
        assert raw.module == module


def test_parse_frame_decoded_path_is_relative() -> None:
    raw = parse_frame("show_stack (/home/r/linux/arch/arm64/kernel/stacktrace.c:242)")
    assert raw is not None and raw.file == "arch/arm64/kernel/stacktrace.c" and raw.line == 242


@pytest.mark.parametrize("line", [
    "Modules linked in: foo bar", "Code: 48 8b 45", "RSP: 0018:ffffc90028a47e28 EFLAGS: 00000202",
    "Call Trace:", "", "CPU: 7 PID: 63429 Comm: x Not tainted 4.14.32 #1", "((((((((",
])
def test_not_frames(line: str) -> None:
    assert parse_frame(line) is None


@pytest.mark.parametrize(("line", "func"), [
    ("RIP: 0010:fsnotify+0x1b2/0x4f0", "fsnotify"),
    ("RIP: 0010:[<ffffffffa03c1e56>]  [<ffffffffa03c1e56>] qla2x00_abort_all_cmds+0x96/0x130 [qla2xxx]",
     "qla2x00_abort_all_cmds"),
    ("IP: [<ffffffffa03c1e56>] qla2x00_abort_all_cmds+0x96/0x130 [qla2xxx]", "qla2x00_abort_all_cmds"),
    ("pc : brcmf_cfg80211_scan_done+0x48/0x1a0 [brcmfmac]", "brcmf_cfg80211_scan_done"),
    ("PC is at gpio_widget_read_raw+0x24/0xa8 [gpio_widget]", "gpio_widget_read_raw"),
    ("NIP [c000000000123456] foo+0x10/0x20", "foo"),
    ("epc : foo+0x10/0x20", "foo"),
])
def test_parse_rip(line: str, func: str) -> None:
    raw = parse_rip(line)
    assert raw is not None and raw.func == func and raw.from_rip


def test_user_space_rip_is_not_a_frame() -> None:
    assert parse_rip("RIP: 0033:0x47a2f0") is None


def test_bare_frames() -> None:
    raw = parse_bare("  hgsmi_update_pointer_shape [vboxvideo]")
    assert raw is not None and raw.func == "hgsmi_update_pointer_shape" and raw.module == "vboxvideo"
    assert parse_bare("Rebooting in 86400 seconds..") is None


def test_unflow_joins_mail_soft_breaks_only() -> None:
    assert unflow(["WARNING: CPU: 0 PID: 12 at kernel/locking/mutex.c:912  ", "__mutex_lock+0xd31/0x1360"]) == [
        "WARNING: CPU: 0 PID: 12 at kernel/locking/mutex.c:912 __mutex_lock+0xd31/0x1360"]
    # every line ends in a space: old printk output, left alone
    lines = ["[  1.0] BUG: sleeping function called from invalid context at mm/memory.c:3927 ", "[  1.1] x "]
    assert unflow(lines) == lines


def test_rules_load() -> None:
    load_all()


def _spliced_lines() -> list[str]:
    import random

    rnd = random.Random(23)
    pieces = ["[  12.345678] ", "[ T12] ", "[    C3] ", "<4>", "<6>", "Apr 14 08:12:21 host kernel: ", "kern  :warn  : ",
              "6,1234,5678901,-;", "  123 | ", "12:\t", "** 3 printk messages dropped ** ", "host login: ",
              "[Tue Mar 12 09:41:07 2024] ", "[2024-04-14 08:12:21.123] ", "18h 42m 40.116s(751490ms): ",
              "2024-04-14T08:12:21 h kernel: ", "[  +0.000010] ", " ", "-", "[", "<", "*", "\u0663", "\u00b2",
              "<4>1 2024-04-14T08:12:21Z h kernel - - - ", '1 - h kernel - - [a b="c"] ', "1 ", "kern.warn kernel: ",
              "Thu Apr 14 08:12:21 2024 kern.warn kernel: ", "Sun 2024-04-14 08:12:21 UTC h kernel: ",
              "1713082341.118202 h kernel: ", "[Thu Apr 14 08:12:21 UTC 2024] ", "syzkaller login: ",
              "RIP: 0010:f+0x1/0x2", "Call Trace:", "x", "Zz", "1"]
    out = []
    for _ in range(6000):
        parts = [rnd.choice(pieces) for _ in range(rnd.randint(1, 5))]
        out.extend("".join(parts[k:]) for k in range(len(parts)))  # and what each prefix leaves
    return out


def test_prefix_rule_gates_are_safe() -> None:
    """A rule's gate never refuses a line its regex matches (so the gated pipeline finds what
    trying every regex would), and the dispatch by first character agrees with the gates."""
    lines = _spliced_lines()
    for rule in PREFIX_RULES:
        matched = refused = 0
        for s in lines:
            if rule.rx.match(s):
                matched += 1
                assert rule.admits(s), (rule.name, s)
            elif not rule.admits(s):
                refused += 1
        assert matched and refused, rule.name  # both outcomes seen: the pieces exercise the rule
    for s in lines:
        c = s[:1]
        want = [r for r in PREFIX_RULES if not r.first or (c and (c in r.first or ("0" in r.first and c.isdigit())))]
        assert [r for _, r in _rules_from(c, 0)] == want, s


def test_prefix_rules_table() -> None:
    names = [r.name for r in PREFIX_RULES]
    assert len(set(names)) == len(names)
    slots = [r.slot for r in PREFIX_RULES]
    for k, slot in enumerate(slots):  # a slot's alternatives sit together
        assert slot not in slots[:k] or slots[k - 1] == slot, slot
