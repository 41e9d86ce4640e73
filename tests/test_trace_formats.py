"""Console formats parse as the same reports as the plain dmesg they carry.

tests/fixtures/logs/fmt-NAME-plain.log is a crash as dmesg prints it; each fmt-NAME-FORMAT.log is
that crash as another tool prints it: RFC 5424 syslog (rsyslog, syslog-ng with structured data and
a BOM), BusyBox syslogd and OpenWrt logread (``kern.warn kernel:``), ``journalctl -o json`` (byte
arrays, services interleaved), ``-o export`` (binary fields), ``-o short-full``/``short-unix``, a
kdump ``vmcore-dmesg.txt`` and a crash(8) session (sys banner, ``log -T -m``, ``bt``). Each is
read as the CLI reads a file (bytes through decode_log) and must give the same reports: title,
kind, guilty frame, every frame, kernel version. A crash(8) ``bt`` alone has no banner: it gives
the plain report's frames under a frame-made title.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sigmatch import parse_log, signature_of
from sigmatch.textio import decode_log
from sigmatch.trace import journal
from sigmatch.trace.model import Context, Report
from sigmatch.trace.normalize import clean_log

LOGS = Path(__file__).resolve().parent / "fixtures" / "logs"
PLAIN = sorted(p.name[: -len("-plain.log")] for p in LOGS.glob("fmt-*-plain.log"))
LOOSE = ("-crash-bt",)  # no banner of its own: compared by frames (test_crash_bt_alone)
PAIRS = [(base, p.stem[len(base) + 1:]) for base in PLAIN for p in sorted(LOGS.glob(f"{base}-*.log"))
         if not p.stem.endswith("-plain") and not p.stem.endswith(LOOSE)]


def _reports(path: Path) -> list[Report]:
    return parse_log(decode_log(path.read_bytes()))


def _key(r: Report) -> tuple[object, ...]:
    return r.title, r.kind, r.guilty_frame, r.frames, r.kernel_version


def test_every_format_is_covered() -> None:
    formats = {fmt for _, fmt in PAIRS}
    for want in ("rfc5424", "rfc5424-sd", "busybox-syslog", "openwrt-logread", "journal-json", "journal-export",
                 "journal-short-full", "journal-short-unix", "vmcore-dmesg", "crash-session"):
        assert want in formats, want


@pytest.mark.parametrize(("base", "fmt"), PAIRS, ids=[f"{b}-{f}" for b, f in PAIRS])
def test_format_parses_as_the_plain_dmesg(base: str, fmt: str) -> None:
    want = _reports(LOGS / f"{base}-plain.log")
    got = _reports(LOGS / f"{base}-{fmt}.log")
    assert want and not want[0].corrupted and "corrupted" not in want[0].title
    assert [_key(r) for r in got] == [_key(r) for r in want]


def test_journal_export_with_its_nul_bytes() -> None:
    """Read from the file as it is (the length prefixes of binary fields intact), not through
    decode_log: the binary MESSAGE values are read by their length."""
    data = (LOGS / "fmt-gpf-nft-journal-export.log").read_bytes()
    assert b"\nMESSAGE\n" in data and b"\x00" in data
    text = data.decode("utf-8", "replace")
    lines = (journal.console_text(text) or "").split("\n")
    assert any(ln.endswith("usb 3-2: Manufacturer: Gen\ufffdric") for ln in lines)
    assert all("Started" not in ln and "Starting" not in ln for ln in lines)  # services left out
    want = _reports(LOGS / "fmt-gpf-nft-plain.log")
    assert [_key(r) for r in parse_log(text)] == [_key(r) for r in want]


def test_crash_bt_alone() -> None:
    """A crash(8) bt without the log: the frames after the exception RIP are the plain report's
    (the panic path above it is not); with no banner, the kind comes from its page-fault frames
    (a fault, the address unknown: "paging request") and the report is truncated, not corrupted."""
    plain = _reports(LOGS / "fmt-null-qla2xxx-plain.log")[0]
    (bt,) = _reports(LOGS / "fmt-null-qla2xxx-crash-bt.log")
    assert bt.guilty_frame == plain.guilty_frame == "qla2x00_abort_all_cmds"
    assert bt.title == "BUG: unable to handle kernel paging request in qla2x00_abort_all_cmds"
    assert bt.truncated and not bt.corrupted and "no crash banner" in (bt.truncated_reason or "")
    assert signature_of(bt).frames == signature_of(plain).frames
    assert [f.function for f in bt.frames] == [f.function for f in plain.frames if f.reliable]
    assert "machine_kexec" not in {f.function for f in bt.frames}


def test_crash_session_keeps_bt_out_of_the_log_report() -> None:
    session = (LOGS / "fmt-null-qla2xxx-crash-session.log").read_text(encoding="utf-8")
    (r,) = parse_log(session)
    assert "machine_kexec" not in {f.function for f in r.frames}
    # without the prompts, bt's task line still ends the report
    no_prompts = "\n".join(ln for ln in session.split("\n") if not ln.startswith("crash> "))
    assert [_key(x) for x in parse_log(no_prompts)] == [_key(r)]


def test_crash_irq_stack_switch_is_marked() -> None:
    """bt prints the IRQ stack's frames first, then "--- <IRQ stack> ---": they are IRQ frames."""
    bt = """PID: 0      TASK: ffffffff81a13480  CPU: 3   COMMAND: "swapper/3"
 #0 [ffff88103f983e38] crash_nmi_callback at ffffffff8104ff73
 #1 [ffff88103f983e48] nmi_handle at ffffffff8176c8f1
 #2 [ffff88103f983ea0] do_nmi at ffffffff8176cb0d
 #3 [ffff88103f983ef0] end_repeat_nmi at ffffffff8176bd99
    [exception RIP: widget_poll_rx+81]
    RIP: ffffffffc0712b51  RSP: ffff88103f983d48  RFLAGS: 00000246
--- <NMI exception stack> ---
 #4 [ffff88103f983d48] widget_poll_rx at ffffffffc0712b51 [widget]
 #5 [ffff88103f983d80] widget_napi_poll at ffffffffc0713c2e [widget]
 #6 [ffff88103f983dd0] net_rx_action at ffffffff8164b36f
 #7 [ffff88103f983e40] __do_softirq at ffffffff8109f435
 #8 [ffff88103f983eb0] call_softirq at ffffffff8177832c
 #9 [ffff88103f983ec8] do_softirq at ffffffff8102d6a5
#10 [ffff88103f983ee8] irq_exit at ffffffff8109f7b5
#11 [ffff88103f983f00] do_IRQ at ffffffff81778c66
--- <IRQ stack> ---
#12 [ffffffff81a03d98] ret_from_intr at ffffffff8176b36a
#13 [ffffffff81a03e40] cpuidle_enter_state at ffffffff815d7c8b
#14 [ffffffff81a03ea0] cpu_startup_entry at ffffffff810e5e4d
"""
    texts, _ = clean_log(bt)
    assert " </NMI>" in texts and " </IRQ>" in texts
    assert " <NMI> #0 [ffff88103f983e38] crash_nmi_callback at ffffffff8104ff73" in texts
    (r,) = parse_log(bt)
    ctx = {f.function: f.context for f in r.frames}
    assert r.guilty_frame == "widget_poll_rx"
    assert ctx["net_rx_action"] is Context.IRQ and ctx["widget_napi_poll"] is Context.IRQ
    assert ctx["cpuidle_enter_state"] is Context.TASK


def test_crash_sys_banner_panic_line_is_not_a_second_report() -> None:
    session = (LOGS / "fmt-null-qla2xxx-crash-session.log").read_text(encoding="utf-8")
    banner = session.split("crash> ")[0]
    assert 'PANIC: "BUG: unable to handle kernel NULL pointer dereference' in banner
    texts, _ = clean_log(session)
    assert not any(t.lstrip().startswith("PANIC:") for t in texts)
    # a banner alone keeps its panic line: it is all the paste says
    assert any("PANIC:" in t for t in clean_log(banner)[0])


# --- journalctl -o json / export: the decoders on their own ---------------------------------

def _entry(msg: object, **fields: object) -> dict[str, object]:
    return {"__CURSOR": "s=1;i=2", "__REALTIME_TIMESTAMP": "1713082341118202", "__MONOTONIC_TIMESTAMP": "8841103542",
            "_TRANSPORT": "kernel", "SYSLOG_IDENTIFIER": "kernel", "_SOURCE_MONOTONIC_TIMESTAMP": "8841102938",
            "MESSAGE": msg, **fields}


def test_json_values_as_journalctl_prints_them() -> None:
    rows = [_entry("BUG: x"), _entry(list(b"caf\xe9 \x1b[0m")), _entry(None), _entry(["a", list(b"b")]),
            {"SYSLOG_IDENTIFIER": "systemd", "_TRANSPORT": "journal", "MESSAGE": "Started foo."}]
    text = "\n".join(json.dumps(r) for r in rows)
    assert journal.console_text(text) == "\n".join([
        "[ 8841.102938] BUG: x", "[ 8841.102938] caf\ufffd \x1b[0m", "[ 8841.102938] a", "[ 8841.102938] b"])
    # json-seq (RS before each object) and json-pretty read alike
    seq = "".join("\x1e" + json.dumps(r) + "\n" for r in rows)
    pretty = "\n".join(json.dumps(r, indent=8) for r in rows)
    assert journal.console_text(seq) == journal.console_text(pretty) == journal.console_text(text)


def test_json_without_kernel_entries_keeps_them_all() -> None:
    rows = [{"SYSLOG_IDENTIFIER": "netconsole", "MESSAGE": "[  12.000000] BUG: y", "__MONOTONIC_TIMESTAMP": "5"}]
    assert journal.console_text(json.dumps(rows[0])) == "[    0.000005] netconsole: [  12.000000] BUG: y"


def test_damaged_json_is_read_as_far_as_it_goes() -> None:
    good = [json.dumps(_entry(f"line {i}")) for i in range(3)]
    cut = good[1][: good[1].index("MESSAGE") + 20]  # a line cut by the paste
    text = "\n".join([good[0], good[1][:40] + "\n", json.dumps(_entry("BUG: z")), cut, good[2][:-1]])
    out = journal.console_text(text) or ""
    assert "[ 8841.102938] line 0" in out and "BUG: z" in out and "line 2" in out


def test_plain_text_is_no_journal() -> None:
    for text in ("[  1.0] BUG: x\n", "{not json", '{"a": 1}\n', "MESSAGE=x\n", "", "__CURSOR\n"):
        assert journal.console_text(text) is None, text


def test_hostile_journal_input_is_bounded() -> None:
    deep = '{"MESSAGE": ' + "[" * 100_000 + "\n"
    assert journal.console_text(deep) is None
    braces = '{"MESSAGE": "x"}' + "{" * 200_000
    assert journal.console_text(braces) == "x"
    parse_log('{"__CURSOR": "' + "x" * 1_000_000)


def _export(entries: list[dict[str, bytes]]) -> bytes:
    """journalctl -o export: KEY=value, or KEY, newline, 64-bit LE length, value, newline."""
    out = b""
    for e in entries:
        for k, v in e.items():
            if b"\n" in v or any(c < 32 or c > 126 for c in v):
                out += k.encode() + b"\n" + len(v).to_bytes(8, "little") + v + b"\n"
            else:
                out += k.encode() + b"=" + v + b"\n"
        out += b"\n"
    return out


_VALUES = st.one_of(st.text(max_size=300).map(lambda t: t.encode("utf-8", "surrogatepass")),
                    st.binary(max_size=700))


@settings(max_examples=300, deadline=None)
@given(st.lists(_VALUES, min_size=1, max_size=6))
def test_export_binary_fields_round_trip(values: list[bytes]) -> None:
    """Binary MESSAGE values of any length and bytes: read exactly by their length from the file
    as it is (NUL bytes kept), and after decode_log (NUL bytes gone) recovered from what is left
    of the length prefix: exactly for UTF-8 text, at worst with the prefix's few characters left."""
    messages = [b"\x1b" + v.replace(b"\x00", b"") for v in values]
    data = _export([{"__CURSOR": b"s=1", "__MONOTONIC_TIMESTAMP": b"1000000", "_TRANSPORT": b"kernel", "MESSAGE": m}
                    for m in messages])
    exact = journal.console_text(data.decode("utf-8", "surrogateescape"))
    assert exact == "\n".join(f"[    1.000000] {line}" for m in messages
                              for line in m.decode("utf-8", "surrogateescape").split("\n"))
    stripped = journal.console_text(data.decode("utf-8", "replace").replace("\x00", ""))
    assert stripped is not None
    if any(b"\n" in m for m in messages) or any(len(m) in (10, 61) for m in messages):
        return  # a newline in a value (or as its length byte, or "=") without the prefix: not recoverable
    got = [ln.split("] ", 1)[1] for ln in stripped.split("\n")]
    for g, m in zip(got, messages, strict=True):
        want = m.decode("utf-8", "replace")
        try:
            m.decode("utf-8")
        except UnicodeDecodeError:
            assert g.endswith(want) and len(g) - len(want) <= 2, (g, want)
        else:
            assert g == want


# --- reformatting: the same crash, its lines in any of these formats ----------------------------

def _line_formats(us: int, msg: str, rnd: random.Random) -> str:
    pri = rnd.choice([1, 3, 4, 6])
    lvl = ["emerg", "alert", "crit", "err", "warn", "notice", "info", "debug"][pri]
    return rnd.choice([
        f"<{pri}>1 2024-04-14T08:12:21.{us % 1000000:06d}+02:00 node17 kernel - - - {msg}",
        f'<{pri}>1 2024-04-14T08:12:21Z node17 kernel - - [meta sequenceId="{us % 997}"] \ufeff{msg}',
        f"1 - node17 kernel - - - {msg}",
        f"Apr 14 08:12:21 node17 kern.{lvl} kernel: [{us // 10**6:6d}.{us % 10**6:06d}] {msg}",
        f"Sun Apr 14 08:12:21 2024 kern.{lvl} kernel: [{us // 10**6:6d}.{us % 10**6:06d}] {msg}",
        f"kern.{lvl} kernel: {msg}",
        f"Sun 2024-04-14 08:12:21 CEST node17 kernel: {msg}",
        f"1713082341.{us % 10**6:06d} node17 kernel: {msg}",
        f"[Sun Apr 14 08:12:21 UTC 2024] <{pri}>{msg}",
        f"[{us // 10**6:6d}.{us % 10**6:06d}] <{pri}>{msg}",
    ])


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(PLAIN), st.randoms(use_true_random=False))
def test_mixed_line_formats_keep_title_and_signature(base: str, rnd: random.Random) -> None:
    """Every line in a format of its own (as a log merged from several collectors): the same
    titles, guilty frames and signatures as the plain dmesg."""
    plain = decode_log((LOGS / f"{base}-plain.log").read_bytes())
    lines = []
    for n, ln in enumerate(plain.rstrip("\n").split("\n")):
        _, sep, msg = ln.partition("] ")
        lines.append(_line_formats(1523604311 + n, msg if sep else ln, rnd))
    want, got = parse_log(plain), parse_log("\n".join(lines))
    assert [r.title for r in got] == [r.title for r in want]
    assert [r.guilty_frame for r in got] == [r.guilty_frame for r in want]
    assert [signature_of(r).frames for r in got] == [signature_of(r).frames for r in want]


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(PLAIN), st.randoms(use_true_random=False), st.sampled_from(["json", "pretty", "seq", "export"]))
def test_journal_renderings_keep_the_reports(base: str, rnd: random.Random, how: str) -> None:
    """The plain dmesg as journald would export it, fields in any order, services in between."""
    plain = decode_log((LOGS / f"{base}-plain.log").read_bytes())
    entries: list[dict[str, object]] = []
    for n, ln in enumerate(plain.rstrip("\n").split("\n")):
        _, sep, msg = ln.partition("] ")
        e = _entry(msg if sep else ln, PRIORITY=str(rnd.randint(0, 7)), _SOURCE_MONOTONIC_TIMESTAMP=str(1000 * n))
        items = list(e.items())
        rnd.shuffle(items)
        entries.append(dict(items))
        if rnd.random() < 0.1:
            entries.append({"_TRANSPORT": "syslog", "SYSLOG_IDENTIFIER": "sshd", "MESSAGE": "BUG: not the kernel's"})
    if how == "export":
        text = decode_log(_export([{k: str(v).encode() for k, v in e.items()} for e in entries]))
    else:
        dump = {"json": json.dumps, "pretty": lambda e: json.dumps(e, indent=8),
                "seq": lambda e: "\x1e" + json.dumps(e)}[how]
        text = "\n".join(dump(e) for e in entries)  # type: ignore[operator]
    want, got = parse_log(plain), parse_log(text)
    assert [_key(r) for r in got] == [_key(r) for r in want]
