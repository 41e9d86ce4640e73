"""Normalization: console lines stripped of transport prefixes, function names and titles cleaned.

Everything here runs in linear time: every regex is anchored at the start of a (bounded) line
and has no nested unbounded repetition, and lines longer than :data:`MAX_LINE` are cut (printk
never emits a line longer than 1024 bytes, so a longer "line" is garbage or a missing newline).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from sigmatch.trace import rules

MAX_LINE = 4096  # characters of one line the parser looks at
MAX_LINES = 400_000  # lines of one log the parser looks at (a 10 MB log has ~150k lines)


@dataclass(frozen=True, slots=True)
class Line:
    """One console line with its transport prefixes removed."""

    text: str
    caller: str | None = None  # printk caller id: "T1234" (task) or "C7" (CPU context)
    stamped: bool = False  # carried a [seconds.micros] timestamp or a syslog prefix


# ANSI CSI/OSC escapes from serial consoles and terminal captures.
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]{0,32}[ -/]{0,4}[@-~]|\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Syslog / journalctl -k prefixes: "Apr 14 08:12:21 host kernel: ", journalctl -o short-precise
# "Apr 14 08:12:21.123456 host kernel: ", RFC 3339 "2024-04-14T08:12:21.123+00:00 host kernel: ".
# netconsole through syslog may have no "kernel:" tag, then the printk timestamp must follow.
_SYSLOG = re.compile(
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d{1,9})?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?)"
    r" [\w.:\-]{1,128} (?:kernel(?:\[\d{1,10}\])?: ?|(?=\[ {0,12}\d{1,10}\.\d{1,9}\]))"
)
# /dev/kmsg records: "6,1234,5678901,-;text" (prio,seq,usec,flags;).
_KMSG = re.compile(r"^\d{1,3},\d{1,12},\d{1,20},[^;]{0,16};")
# Line-number gutters of editors and pagers: "  123 | ", "7344   │ " (bat, less -N with a
# box-drawing bar), or "123: "/"123<TAB>" right before a console record.
_GUTTER = re.compile(r"^ {0,8}\d{1,7}(?: {0,4}[|│\u2502] ?|(?::|\t) ?(?=[\[<]))")
# Log level "<4>", possibly followed by a timestamp.
_LEVEL = re.compile(r"^<\d{1,3}>")
# dmesg -T: "[Sun Apr 14 08:12:21 2024] ".
_HUMAN_TS = re.compile(r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:,\d{1,9})? \d{4}\] ?")
# printk timestamp "[  123.456789]" (also "[123.456789 0.000123]" from grabserial-like tools),
# then an optional printk caller id "[T1234]" / "[ C7]" (CONFIG_PRINTK_CALLER, 5.1+).
# "[.]" / "[...]": timestamps redacted by the person who pasted the log.
# "dmesg -d" adds the delta ("[ 1.234567 <    0.000010>]"), "dmesg --reltime" prints "[  +0.000010]".
_TS = re.compile(r"^\[ {0,12}\+?(?:\d{1,10}\.\d{1,9}|\.{1,3})(?: {1,4}[\d.]{1,20}| {0,4}<[ \d.]{1,20}>)?\] ?")
# "dmesg -x": facility and level before the timestamp ("kern  :warn  : [  1.2] ...").
_FACILITY = re.compile(
    r"^(?:kern|user|mail|daemon|auth|syslog|lpr|news|cron|authpriv|ftp|local[0-7]) {0,2}:"
    r"(?:emerg|alert|crit|err|warn|notice|info|debug) {0,2}: ?"
)
# "journalctl -o short-monotonic": "[  123.456789] host kernel: ..." (timestamp first).
_HOST_KERNEL = re.compile(r"^[\w.\-]{1,64} kernel: ?")
_CALLER = re.compile(r"^\[ {0,10}([TC]\d{1,10})\] ?")
_CALLER_ONLY = re.compile(r"^\[ {0,10}([TC]\d{1,10})\] ")
# Serial consoles that prefix each line with a wall-clock time: "[2024-04-14 08:12:21.123] ".
_BRACKET_DATE = re.compile(r"^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?\] ?")
_DROPPED = re.compile(r"^\*\* \d{1,12} printk messages dropped \*\* ?")


def clean_line(raw: str) -> Line:
    """Strip transport prefixes (syslog, journald, kmsg, levels, timestamps, caller ids) from one line."""
    s = raw[:MAX_LINE]
    if "\x1b" in s:
        s = _ANSI.sub("", s)
    s = s.rstrip("\r\n ")
    if _CTRL.search(s):
        s = _CTRL.sub("", s)
    stamped = False
    caller: str | None = None
    c = s[:1]
    if c == " ":
        t = s.lstrip(" ")
        if t[:1] in ("[", "<") or t[:1].isdigit():
            s, c = t, t[:1]  # an indented (quoted) console line: the prefix comes after the indent
    if not c or c == " " or c in "-=" or (c.islower() and not _FACILITY.match(s)):
        return Line(s, None, False)  # fast path: plain kernel text, no transport prefix
    for rnd in range(3):  # prefixes nest: gutter, syslog, level, timestamp, caller
        before = s
        m = _GUTTER.match(s) if rnd == 0 else None
        if m and len(s) > m.end():
            s = s[m.end():]
        m = _SYSLOG.match(s)
        if m:
            s = s[m.end():]
            stamped = True
        m = _KMSG.match(s)
        if m:
            s = s[m.end():]
            stamped = True
        m = _LEVEL.match(s) or _FACILITY.match(s)
        if m:
            s = s[m.end():]
        m = _HUMAN_TS.match(s) or _BRACKET_DATE.match(s)
        if m:
            s = s[m.end():]
            stamped = True
        m = _DROPPED.match(s)
        if m:
            s = s[m.end():]
        m = _TS.match(s)
        if m:
            s = s[m.end():]
            stamped = True
            k = _HOST_KERNEL.match(s)
            if k:
                s = s[k.end():]
            m = _CALLER.match(s)
            if m:
                caller = m.group(1)
                s = s[m.end():]
        else:
            m = _CALLER_ONLY.match(s)
            if m:
                caller = m.group(1)
                s = s[m.end():]
        if s == before:
            break
    return Line(s, caller, stamped)


def split_lines(text: str) -> list[str]:
    """Split on any newline convention (CRLF, CR-only consoles), bounded to :data:`MAX_LINES`."""
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n", MAX_LINES)
    if len(lines) > MAX_LINES:
        lines = lines[:MAX_LINES]
    return lines


def unflow(raw_lines: list[str]) -> list[str]:
    """Undo format=flowed mail wrapping (RFC 3676): a line ending in a space continues on the next.

    syzbot and most MUAs send kernel logs this way ("...mutex.c:912 " + "__mutex_lock+0x..").
    Kernel output itself never ends a line with a space after a long run of text, so only lines
    of mail width (>= 60 characters) are joined, and never onto a line that starts a new record.
    """
    nonempty = [r for r in raw_lines[:2000] if r.strip()]
    if not nonempty or sum(1 for r in nonempty if r.endswith(" ")) * 2 > len(nonempty):
        return raw_lines  # trailing spaces everywhere: old printk output, not mail wrapping
    out: list[str] = []
    pending = ""
    for n, raw in enumerate(raw_lines):
        line = pending + raw if pending else raw
        pending = ""
        nxt = raw_lines[n + 1] if n + 1 < len(raw_lines) else ""
        if raw.endswith(" ") and len(line) < MAX_LINE and not _starts_record(nxt):
            if raw.endswith("  ") and len(raw) >= 24 and raw.strip():
                # syzbot's mailer: the word's own space plus the flowed marker.
                pending = line[:-1]
                continue
            if len(raw) >= 60:
                pending = line
                continue
        out.append(line)
    if pending:
        out.append(pending)
    return out


def _starts_record(raw: str) -> bool:
    """The line opens a console record of its own (a wrapped continuation never does)."""
    s = raw.lstrip(">| ")
    return bool(_TS.match(s) or _SYSLOG.match(s) or _LEVEL.match(s) or _HUMAN_TS.match(s) or _KMSG.match(s))


# "WARNING: CPU: 1 PID: 2997 at" + newline + "drivers/...c:7242 func+0x77/0xd0": hard-wrapped
# by a mail client or a CVE description at the width limit.
_CUT_WARNING = re.compile(r"WARNING: CPU: \d{1,6} (?:UID: \d{1,10} )?PID: \d{1,10} at ?$")


def clean_log(text: str) -> list[Line]:
    lines = [clean_line(raw) for raw in unflow(split_lines(text))]
    for i in range(len(lines) - 1):
        ln = lines[i]
        if ln.text.endswith(("at", "at ")) and _CUT_WARNING.search(ln.text):
            nxt = lines[i + 1]
            lines[i] = Line(ln.text.rstrip() + " " + nxt.text.lstrip(), ln.caller, ln.stamped)
            lines[i + 1] = Line("", nxt.caller, nxt.stamped)
    return lines


# --- function names --------------------------------------------------------------------------

_OFFSET = re.compile(r"\+0x[0-9a-fA-F]+(?:/0x[0-9a-fA-F]+)?$")


@lru_cache(maxsize=65536)
def strip_suffixes(raw: str) -> str:
    """``foo.isra.0`` / ``foo.constprop.3.cold`` / ``foo.part.1`` / ``foo.llvm.123`` -> ``foo``.

    GCC (IPA-SRA, constant propagation, partial inlining, hot/cold splitting) and clang (LTO
    promotion) clone functions under such names; they are the same source function.
    """
    name = _OFFSET.sub("", raw)
    cut = name.find(".", 1)
    if cut > 0:
        name = name[:cut]
    return name


@lru_cache(maxsize=65536)
def syscall_variants(name: str) -> tuple[str, ...]:
    """The name with syscall-wrapper prefixes removed step by step, most stripped first.

    ``__x64_sys_write`` -> (``sys_write``, ``__x64_sys_write``); ``__se_sys_mremap`` ->
    (``mremap``, ``sys_mremap``, ``__se_sys_mremap``). A name that is no wrapper gives (name,).
    """
    for prefix, repl in rules.syscall_prefixes():
        if name.startswith(prefix) and len(name) > len(prefix):
            rest = name[len(prefix):]
            stripped = repl + rest
            out = [stripped]
            if not repl:
                out.append("sys_" + rest)
            out.append(name)
            return tuple(dict.fromkeys(out))
    return (name,)


def normalize_function(raw: str) -> str:
    """The normalized name of a printed frame function (offset, clone suffix, wrapper removed)."""
    return syscall_variants(strip_suffixes(raw))[0]


# --- titles ---------------------------------------------------------------------------------

_T_FUNC_OFF = re.compile(r"([A-Za-z0-9_.]{1,200})\+0x[0-9a-f]{1,16}/0x[0-9a-f]{1,16}")
_T_FILE_LINE = re.compile(r"(\.[ch]|\.rs|\.S):\d{1,7}")
_T_HEX = re.compile(r"(?<![A-Za-z0-9_])(?:0x)?[0-9a-fA-F]{6,}(?![A-Za-z0-9_])")
_T_IP = re.compile(r"(?<![0-9.])\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}(?![0-9.])")
_T_CPU = re.compile(r"CPU#\d{1,6}")
_T_NUM = re.compile(r"(?<![A-Za-z0-9_./\-])\d+(?![A-Za-z0-9_\-])")
_T_EXECUTOR = re.compile(r"syz-executor\d+")
_T_NONPRINT = re.compile(r"[^\x20-\x7e]")
MAX_TITLE = 120


def sanitize_title(title: str, *, keep_numbers: bool = False) -> str:
    """syzkaller's title replacements: ADDR for long hex, LINE for source lines, NUM for numbers."""
    t = _T_NONPRINT.sub("", title)
    t = _T_EXECUTOR.sub("syz-executor", t)
    t = _T_FUNC_OFF.sub(r"\1", t)
    t = _T_FILE_LINE.sub(r"\1:LINE", t)
    t = _T_HEX.sub("ADDR", t)
    t = _T_IP.sub("IP", t)
    t = _T_CPU.sub("CPU", t)
    if not keep_numbers:
        t = _T_NUM.sub("NUM", t)
    t = " ".join(t.split())
    return t[:MAX_TITLE].rstrip()
