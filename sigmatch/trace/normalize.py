"""Normalization: console lines stripped of transport prefixes, function names and titles cleaned.

Everything here runs in linear time: every regex is anchored at the start of a (bounded) line
and has no nested unbounded repetition, and lines longer than :data:`MAX_LINE` are cut (printk
never emits a line longer than 1024 bytes, so a longer "line" is garbage or a missing newline).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache, lru_cache

from sigmatch.trace import journal, rules

MAX_LINE = 4096  # characters of one line the parser looks at
MAX_LINES = 400_000  # lines of one log the parser looks at (a 10 MB log has ~150k lines)
# A longer log keeps windows around its crash headers (see crash_windows): this many lines
# before a header (machine context) and after it (the report), and only its last MAX_SCAN
# characters are scanned (a crash ends the log; the text before that is boot and noise).
WINDOW_BEFORE = 200
WINDOW_AFTER = 4000
MAX_SCAN = 32 * 1024 * 1024
MAX_SCAN_LINES = 2_000_000
MAX_HEADER_CHECKS = 50_000  # candidate header lines confirmed outside windows before giving up
# Put between two windows that are not adjacent: a report never runs across the cut.
GAP_LINE = "---[ end trace: lines omitted by sigmatch ]---"


@dataclass(frozen=True, slots=True)
class Line:
    """One console line with its transport prefixes removed."""

    text: str
    caller: str | None = None  # printk caller id: "T1234" (task) or "C7" (CPU context)
    stamped: bool = False  # carried a [seconds.micros] timestamp or a syslog prefix


# ANSI CSI/OSC escapes from serial consoles and terminal captures.
_ANSI = re.compile(r"\x1b(?:\[[0-9;?]{0,32}[ -/]{0,4}[@-~]|\][^\x07\x1b]{0,256}(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CTRL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
# Syslog facilities and levels, as "kern.warn" names them (syslog.conf, BusyBox syslogd, logread).
_FACILITIES = r"(?:kern|user|mail|daemon|authpriv|auth|syslog|lpr|news|uucp|cron|ftp|local[0-7])"
_LEVELS = r"(?:emerg|alert|crit|error|err|warning|warn|notice|info|debug|panic)"
# Syslog / journalctl -k prefixes: a date, a host, "kernel:". Dates: "Apr 14 08:12:21"
# (RFC 3164), with ".123456" (journalctl -o short-precise); RFC 3339 "2024-04-14T08:12:21.123+00:00"
# (rsyslog, journalctl -o short-iso); "Sun 2024-04-14 08:12:21 UTC" (journalctl -o short-full);
# "1713082341.118202" (journalctl -o short-unix); "Thu Apr 14 08:12:21 2024" (OpenWrt logread,
# no host). BusyBox syslogd and logread put the facility and level before the tag:
# "Apr 14 08:12:21 node17 kern.warn kernel: " (the host part takes logread's "kern.warn").
# netconsole through syslog may have no "kernel:" tag, then the printk timestamp must follow.
_SYSLOG = re.compile(
    r"^(?:<\d{1,3}>)?(?:[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:\.\d{1,9})?"
    r"|\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?"
    r"|[A-Z][a-z]{2} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d{1,9})? [A-Za-z0-9+\-]{1,6}"
    r"|\d{9,11}\.\d{1,9}"
    r"|[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d \d{4})"
    rf" [\w.:\-]{{1,128}}(?: {_FACILITIES}\.{_LEVELS})?"
    r" (?:kernel(?:\[\d{1,10}\])?: ?|(?=\[ {0,12}\d{1,10}\.\d{1,9}\]))"
)
# RFC 5424 syslog (rsyslog's RSYSLOG_SyslogProtocol23Format, syslog-ng): "<4>1 TIMESTAMP HOST
# APP PROCID MSGID SD [BOM]MSG", "-" for a value it lacks, SD "-" or "[id key="value" ...]..."
# (\] \" \\ escaped inside). APP "kernel", or another one with the printk timestamp after
# (netconsole forwarded by a syslog daemon).
_SD = r"(?:-|(?:\[(?:[^\]\\]|\\.){0,2048}\]){1,16})"
_RFC5424 = re.compile(
    r"^(?:<\d{1,3}>)?1 (?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)|-) [!-~]{1,255}"
    rf" (?:kernel [!-~]{{1,128}} [!-~]{{1,32}} {_SD}(?: \ufeff?|$)"
    rf"|[!-~]{{1,48}} [!-~]{{1,128}} [!-~]{{1,32}} {_SD} \ufeff?(?=\[ {{0,12}}\d{{1,10}}\.\d{{1,9}}\]))"
)
# /dev/kmsg records: "6,1234,5678901,-;text" (prio,seq,usec,flags;).
_KMSG = re.compile(r"^\d{1,3},\d{1,12},\d{1,20},[^;]{0,16};")
# Line-number gutters of editors and pagers: "  123 | ", "7344   │ " (bat, less -N with a
# box-drawing bar), or "123: "/"123<TAB>" right before a console record.
_GUTTER = re.compile(r"^ {0,8}\d{1,7}(?: {0,4}[|│\u2502] ?|(?::|\t) ?(?=[\[<]))")
# Log level "<4>", possibly followed by a timestamp.
_LEVEL = re.compile(r"^<\d{1,3}>")
# dmesg -T: "[Sun Apr 14 08:12:21 2024] "; crash(8) "log -T" may name the time zone
# ("[Sun Apr 14 08:12:21 UTC 2024] ").
_HUMAN_TS = re.compile(
    r"^\[[A-Z][a-z]{2} [A-Z][a-z]{2} {1,2}\d{1,2} \d\d:\d\d:\d\d(?:,\d{1,9})?(?: [A-Z]{2,5})? \d{4}\] ?")
# printk timestamp "[  123.456789]" (also "[123.456789 0.000123]" from grabserial-like tools),
# then an optional printk caller id "[T1234]" / "[ C7]" (CONFIG_PRINTK_CALLER, 5.1+).
# "[.]" / "[...]": timestamps redacted by the person who pasted the log.
# "dmesg -d" adds the delta ("[ 1.234567 <    0.000010>]"), "dmesg --reltime" prints "[  +0.000010]".
_TS = re.compile(r"^\[ {0,12}\+?(?:\d{1,10}\.\d{1,9}|\.{1,3})(?: {1,4}[\d.]{1,20}| {0,4}<[ \d.]{1,20}>)?\] ?")
# "dmesg -x": facility and level before the timestamp ("kern  :warn  : [  1.2] ..."); a syslog
# facility.level before the tag, without the date (pasted from logread): "kern.warn kernel: ".
_FACILITY = re.compile(
    rf"^(?:{_FACILITIES} {{0,2}}:(?:emerg|alert|crit|err|warn|notice|info|debug) {{0,2}}: ?"
    rf"|{_FACILITIES}\.{_LEVELS}(?: kernel(?:\[\d{{1,10}}\])?)?: ?)"
)
# "journalctl -o short-monotonic": "[  123.456789] host kernel: ..." (timestamp first).
_HOST_KERNEL = re.compile(r"^[\w.\-]{1,64} kernel: ?")
_CALLER = re.compile(r"^\[ {0,10}([TC]\d{1,10})\] ?")
_CALLER_ONLY = re.compile(r"^\[ {0,10}([TC]\d{1,10})\] ")
# Serial consoles that prefix each line with a wall-clock time: "[2024-04-14 08:12:21.123] ".
_BRACKET_DATE = re.compile(r"^\[\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:[.,]\d{1,9})?\] ?")
# Serial capture tools that prefix each line with elapsed time and the delta to the previous line:
# "18h 42m 40.116s(751490ms): " (seen in CoreOS/AWS console captures of 4.14 soft lockups).
_ELAPSED = re.compile(r"^(?:\d{1,5}h )?(?:\d{1,2}m )?\d{1,2}\.\d{1,6}s\( {0,10}\d{1,12}ms\): ?")
# A getty prompt the console output ran into: "host login: [ 67361.641359] watchdog: ..."
# (syzkaller's console regex allows the same garbage). Only taken when a timestamp follows.
_LOGIN = re.compile(r"^[\w.\-]{1,64} login: (?=\[ {0,12}\d{1,10}\.\d{1,9}\])")
_DROPPED = re.compile(r"^\*\* \d{1,12} printk messages dropped \*\* ?")
# The prefixes that can start with a digit (besides _LOGIN, found by its " login: "), as one
# regex: a line that starts with a digit and matches none is left as it is.
_DIGIT_FIRST = re.compile("|".join(f"(?:{rx.pattern})" for rx in (_GUTTER, _ELAPSED, _SYSLOG, _RFC5424, _KMSG)))


# Cheap gates before two regexes tried on most lines: every alternative of _SYSLOG that starts with
# an ASCII capital is "Mmm " (a capital, two lowercase letters, a space), and every _FACILITY
# match starts with the first two letters of a facility name.
_FACILITY_STARTS = frozenset(f[:2] for f in _FACILITIES[3:-1].replace("local[0-7]", "local").split("|"))


def _capital_syslog(s: str) -> bool:
    """_SYSLOG matches ``s``, a line that starts with an ASCII capital."""
    return s[3:4] == " " and _SYSLOG.match(s) is not None


def _facility(s: str) -> bool:
    """_FACILITY matches ``s``."""
    return s[:2] in _FACILITY_STARTS and _FACILITY.match(s) is not None


def clean_line(raw: str) -> Line:
    """Strip transport prefixes (syslog, journald, kmsg, levels, timestamps, caller ids) from one line."""
    return Line(*_clean(raw))


def _clean(raw: str) -> tuple[str, str | None, bool]:
    """:func:`clean_line` as a plain (text, caller, stamped) tuple: :func:`clean_log` runs it on
    every line of a log and keeps no per-line object.

    Each prefix regex is tried only when the line starts with a character it can start with
    (the first character it requires: "[" for timestamps and caller ids, a digit for kmsg...):
    a regex that cannot match is not called, so the result is the same as trying them all.
    """
    s = raw[:MAX_LINE]
    if "\x1b" in s:
        s = _ANSI.sub("", s)
    s = s.rstrip("\r\n ")
    if not s.isprintable() and _CTRL.search(s):  # control characters are never printable
        s = _CTRL.sub("", s)
    return _strip_prefixes(s)


def _strip_prefixes(s: str) -> tuple[str, str | None, bool]:
    """The prefix-stripping part of :func:`_clean`, for a line already cut, rstripped and free
    of escapes and control characters: the text, the printk caller id, whether it was stamped.

    Fast paths first (most lines of a log are plain kernel text, and this runs on every line):
    a line that starts with a character after which no prefix rule can match is returned as it
    is, in a few C calls; the others go through :data:`PREFIX_RULES`.
    """
    c = s[:1]
    if c == " ":
        t = s.lstrip(" ")
        if t[:1] in ("[", "<") or t[:1].isdigit():
            s, c = t, t[:1]  # an indented (quoted) console line: the prefix comes after the indent
    if c == "[":
        return _apply_prefix_rules(s)  # a timestamp, most likely (console captures): no fast path applies
    if not c or c == " " or c in "-=" or (c.islower() and not _facility(s) and " login: " not in s[:80]):
        return s, None, False
    if "A" <= c <= "Z" and " login: " not in s[:80] and not _capital_syslog(s):
        return s, None, False  # "RIP: ...", "Call Trace:": what the first round's _no_prefix says
    if c.isdigit() and " login: " not in s[:80] and not _DIGIT_FIRST.match(s):
        return s, None, False  # "  0:\t10 06 ...": Code: disassembly; no prefix that starts with a digit
    if c == "<" and not s[1:2].isdigit():
        return s, None, False  # "<TASK>", "<IRQ>": the level and syslog rules want a digit after the "<"
    return _apply_prefix_rules(s)


# --- transport prefixes: an ordered pipeline of small rules ----------------------------------
#
# Prefixes nest (a gutter, then syslog, a level, a timestamp, a caller id): PREFIX_RULES are
# applied in order, each at most once per round, for up to PREFIX_ROUNDS rounds, until a round
# changes nothing. Rules that share a slot are alternatives: the first that matches is the only
# one of them applied in a round. A rule is tried only when the line starts with a character
# its regex can start with (its gate): the result is the same as trying every regex, and a line
# pays for the few that may match.

PrefixThen = Callable[[str, str | None], tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class PrefixRule:
    """One transport prefix: the regex that strips it, when it may be tried, what it tells.

    The gate: ``first`` holds the ASCII characters the regex can start with ("" for any), and
    ``second`` the same for the second character; a class that holds "0" admits every Unicode
    decimal digit (the regexes' ``\\d``; str.isdigit() is a superset). ``needle``: a literal the
    first 80 characters must hold.
    """

    name: str
    rx: re.Pattern[str]
    first: str = ""
    second: str = ""
    needle: str = ""
    stamped: bool = False  # the prefix carries a time: the line is "stamped"
    caller: bool = False  # the regex's group 1 is a printk caller id
    then: PrefixThen | None = None  # reads what may follow the prefix (see _after_timestamp)
    first_round: bool = False  # only before any other prefix is taken off
    needs_text: bool = False  # taken only when some text follows it
    slot: str = ""  # rules of one slot are alternatives (default: the rule's name)

    def __post_init__(self) -> None:
        if not self.slot:
            object.__setattr__(self, "slot", self.name)

    def admits(self, s: str) -> bool:
        """The gate: False when the regex cannot match at the start of ``s``."""
        return ((not self.first or _in_class(s[:1], self.first)) and (not self.second or _in_class(s[1:2], self.second))
                and (not self.needle or self.needle in s[:80]))


def _in_class(c: str, chars: str) -> bool:
    return bool(c) and (c in chars or ("0" in chars and c.isdigit()))


def _after_timestamp(s: str, caller: str | None) -> tuple[str, str | None]:
    """What follows a printk timestamp: a journalctl host tag, then a printk caller id."""
    k = _HOST_KERNEL.match(s) if " kernel:" in s[:73] else None  # {1,64} chars, then " kernel:"
    if k:
        s = s[k.end():]
    m = _CALLER.match(s) if s[:1] == "[" else None
    if m:
        return s[m.end():], m.group(1)
    return s, caller


_DIGITS = "0123456789"
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = _UPPER.lower()

PREFIX_RULES: tuple[PrefixRule, ...] = (
    # outermost first: what a pager, a capture tool or syslog put around the console line
    PrefixRule("gutter", _GUTTER, " " + _DIGITS, first_round=True, needs_text=True),
    PrefixRule("elapsed", _ELAPSED, _DIGITS, stamped=True),
    PrefixRule("login", _LOGIN, needle=" login: "),
    PrefixRule("syslog", _SYSLOG, "<" + _UPPER + _DIGITS, stamped=True),
    PrefixRule("rfc5424", _RFC5424, "<1", stamped=True, slot="syslog"),
    PrefixRule("kmsg", _KMSG, _DIGITS, stamped=True),
    PrefixRule("level", _LEVEL, "<"),
    PrefixRule("facility", _FACILITY, _LOWER, slot="level"),
    PrefixRule("human-date", _HUMAN_TS, "[", second=_UPPER, stamped=True),
    PrefixRule("bracket-date", _BRACKET_DATE, "[", second=_DIGITS, stamped=True, slot="human-date"),
    PrefixRule("dropped", _DROPPED, "*"),
    # innermost: what printk itself prints before the message
    PrefixRule("timestamp", _TS, "[", stamped=True, then=_after_timestamp),
    PrefixRule("caller", _CALLER_ONLY, "[", caller=True, slot="timestamp"),
)
PREFIX_ROUNDS = 3


@lru_cache(maxsize=1024)
def _rules_from(c: str, k: int) -> tuple[tuple[int, PrefixRule], ...]:
    """The rules from the k-th on (with their index) whose gate may admit a line that starts with
    ``c``: a round visits only these (the dispatch of PREFIX_RULES by first character)."""
    return tuple((i, r) for i, r in enumerate(PREFIX_RULES) if i >= k and (not r.first or _in_class(c, r.first)))


def _apply_prefix_rules(s: str) -> tuple[str, str | None, bool]:
    """Run PREFIX_RULES over the line, round after round, until a round changes nothing."""
    stamped = False
    caller: str | None = None
    first = 0
    if s[:1] == "[" and (m := _TS.match(s)):
        # The console's "[  12.345678]" (most prefixed lines): the first round would do just
        # this, as no other rule matches a "[" then a digit, space, "+" or "." (human-date wants
        # a capital, bracket-date a "-" after 4 digits; the rest no "[").
        s, caller = _after_timestamp(s[m.end():], None)
        if _no_prefix(s):
            return s, caller, True  # what follows is kernel text: the next round would change nothing
        stamped, first = True, 1
    for rnd in range(first, PREFIX_ROUNDS):
        if (rnd or s[:1] != " ") and _no_prefix(s):
            break  # kernel text ("RIP: ...", or what follows a timestamp): this round would change nothing
        before = s
        s, caller, stamped = _prefix_round(s, rnd, caller, stamped)
        if s == before:
            break
    return s, caller, stamped


def _prefix_round(s: str, rnd: int, caller: str | None, stamped: bool) -> tuple[str, str | None, bool]:
    """One round: each rule in order, once at most (one per slot), on what the previous left."""
    done = ""  # slot of the last rule applied
    k = 0  # the next rule to try
    while k < len(PREFIX_RULES):
        for i, rule in _rules_from(s[:1], k):
            if rule.slot == done or (rnd and rule.first_round):
                continue
            if (rule.second and not _in_class(s[1:2], rule.second)) or (rule.needle and rule.needle not in s[:80]):
                continue  # the rest of the gate (the first character admitted it: see _rules_from)
            m = rule.rx.match(s)
            if m is None or (rule.needs_text and m.end() >= len(s)):
                continue
            done = rule.slot
            if rule.caller:
                caller = m.group(1)
            s = s[m.end():]
            if rule.then is not None:
                s, caller = rule.then(s, caller)
            stamped = stamped or rule.stamped
            k = i + 1  # the line starts with another character now: look the rules up again
            break
        else:
            return s, caller, stamped
    return s, caller, stamped


def _no_prefix(s: str) -> bool:
    """No prefix rule but the gutter (a space or a digit first) matches at the start of ``s``.

    Each one needs a first character that is "[", "<", "*" or a digit, except login (gated by
    its " login: " substring), syslog (an ASCII capital: "Apr 14 ...") and facility (ASCII
    lowercase: "kern  :warn  : "), which are tried here. Most lines without a prefix ("RIP: ...",
    "CPU: ...", the text after a timestamp) skip a round of a dozen regexes that would find nothing.
    """
    c = s[:1]
    if c in ("[", "<", "*") or c.isdigit() or " login: " in s[:80]:
        return False
    if "A" <= c <= "Z":
        return not _capital_syslog(s)
    if "a" <= c <= "z":
        return not _facility(s)
    return True


PIVOT_SPAN = 256  # characters of text per capital find_all visits (a log has a few capitals per 256)


def find_all(text: str, needle: str) -> list[int]:
    """Every position of ``needle`` in ``text``, in order (overlapping ones too).

    A needle that starts with an ASCII capital ("Linux version", "Freed") is found from each
    occurrence of that capital: kernel text has few, memchr finds them, and a search for a short
    needle with spaces or common letters is slower than that (str.find skips ahead by the
    characters that are not in the needle). After one capital per PIVOT_SPAN characters of the
    text (a capital as common as "C" in a short log, or a log that shouts), the rest is searched
    for the needle itself.
    """
    out: list[int] = []
    c = needle[:1]
    k = -1
    if "A" <= c <= "Z":
        find, starts = text.find, text.startswith
        for _ in range(len(text) // PIVOT_SPAN):
            k = find(c, k + 1)
            if k < 0:
                return out
            if starts(needle, k):
                out.append(k)
    k = text.find(needle, k + 1)
    while k >= 0:
        out.append(k)
        k = text.find(needle, k + 1)
    return out


def lines_containing(lines: list[str], needles: tuple[str, ...], body: str | None = None) -> list[int]:
    """Indexes, in order, of the lines that contain any of ``needles`` (which hold no newline).

    One C-speed ``str.find`` pass per needle over the joined lines (``body``, when the caller
    has it already) instead of a Python test per line: the loops that look for a few literals
    (machine context, stack keywords) only visit the lines this returns.
    """
    if body is None:
        body = "\n".join(lines)
    hits: set[int] = set()
    for needle in needles:
        hits.update(find_all(body, needle))
    out: list[int] = []
    line = pos = 0
    for k in sorted(hits):
        line += body.count("\n", pos, k)
        pos = k
        if not out or out[-1] != line:
            out.append(line)
    return out


def split_lines(
    text: str, hint: re.Pattern[str] | None = None, is_header: Callable[[str], bool] | None = None
) -> list[str]:
    """Split on any newline convention (CRLF, CR-only consoles), bounded to :data:`MAX_LINES`.

    A longer log keeps the windows around its crash headers (:func:`crash_windows`) when
    ``hint``/``is_header`` say what a header is; without them, or with no header at all, its
    last :data:`MAX_LINES` lines (crashes end a log).
    """
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if len(text) < MAX_LINES or text.count("\n") < MAX_LINES:  # (a text shorter than that has fewer newlines)
        return text.split("\n")
    if len(text) > MAX_SCAN:
        cut = text.find("\n", len(text) - MAX_SCAN)
        text = text[cut + 1:] if cut >= 0 else text[-MAX_SCAN:]
    lines = text.rsplit("\n", MAX_SCAN_LINES)
    if len(lines) > MAX_SCAN_LINES:
        del lines[0]
        text = text[len(text) - sum(len(ln) + 1 for ln in lines) + 1:]
    if hint is not None and is_header is not None:
        kept = crash_windows(text, lines, hint, is_header)
        if kept:
            return kept
    return lines[-MAX_LINES:]


def crash_windows(
    text: str, lines: list[str], hint: re.Pattern[str], is_header: Callable[[str], bool]
) -> list[str]:
    """The lines around each crash header of a huge log, at most :data:`MAX_LINES` of them.

    ``hint`` finds candidate lines in one pass over the text (C speed), ``is_header`` confirms
    them. Each header keeps :data:`WINDOW_BEFORE` lines before and :data:`WINDOW_AFTER` after;
    windows that touch merge, and :data:`GAP_LINE` separates the others. When the windows do
    not fit, the first quarter of the budget goes to the first windows (the primary report) and
    the rest to the last ones (where the log ends). Linear in the text: a hit inside a window
    already taken costs one comparison.
    """
    windows = _header_windows(text, lines, hint, is_header)
    if not windows:
        return []
    if sum(hi - lo for lo, hi in windows) > MAX_LINES:
        windows = _fit_windows(windows)
    return _join_windows(lines, windows)


def _header_windows(
    text: str, lines: list[str], hint: re.Pattern[str], is_header: Callable[[str], bool]
) -> list[list[int]]:
    """The [lo, hi) line windows around the confirmed headers, in order, touching ones merged."""
    windows: list[list[int]] = []
    n = len(lines)
    i = 0  # line of the current hit, and the character offset where that line starts
    start = 0
    last = -1
    checks = MAX_HEADER_CHECKS
    for m in hint.finditer(text):
        pos = m.start()
        while i < n - 1 and start + len(lines[i]) < pos:
            start += len(lines[i]) + 1
            i += 1
        if i == last:
            continue  # one look per line
        last = i
        if windows and i < windows[-1][1]:
            # inside the current window: only a confirmed header in its second half extends it
            if i + WINDOW_AFTER // 2 > windows[-1][1] and is_header(lines[i]):
                windows[-1][1] = min(n, i + WINDOW_AFTER)
            continue
        checks -= 1
        if checks < 0:
            # Hint words everywhere (hostile or debug-spammed log): stop looking, keep the end.
            windows.append([max(n - MAX_LINES // 2, windows[-1][1] if windows else 0), n])
            break
        if not is_header(lines[i]):
            continue
        lo, hi = max(0, i - WINDOW_BEFORE), min(n, i + WINDOW_AFTER)
        if windows and lo <= windows[-1][1]:
            windows[-1][1] = hi
        else:
            windows.append([lo, hi])
    return windows


def _fit_windows(windows: list[list[int]]) -> list[list[int]]:
    """Windows that hold more than :data:`MAX_LINES` lines cut to fit: the first quarter of the
    budget to the first windows (the primary report), the rest to the last ones (where the log ends)."""
    head_budget = MAX_LINES // 4
    head: list[list[int]] = []
    for lo, hi in windows:
        if head_budget <= 0:
            break
        head.append([lo, min(hi, lo + head_budget)])
        head_budget -= head[-1][1] - lo
    tail_budget = MAX_LINES - sum(hi - lo for lo, hi in head)
    tail: list[list[int]] = []
    for lo, hi in reversed(windows):
        if tail_budget <= 0 or (head and hi <= head[-1][1]):
            break
        lo = max(lo, hi - tail_budget, head[-1][1] if head else 0)
        tail.append([lo, hi])
        tail_budget -= hi - lo
    return head + tail[::-1]


def _join_windows(lines: list[str], windows: list[list[int]]) -> list[str]:
    """The windows' lines, with :data:`GAP_LINE` where lines were left out."""
    out: list[str] = []
    prev_hi = 0
    for lo, hi in windows:
        if lo > prev_hi or (not out and lo > 0):
            out.append(GAP_LINE)
        out.extend(lines[lo:hi])
        prev_hi = hi
    return out


def unflow(raw_lines: list[str], joined: str | None = None) -> list[str]:
    """Undo format=flowed mail wrapping (RFC 3676): a line ending in a space continues on the next.

    syzbot and most MUAs send kernel logs this way ("...mutex.c:912 " + "__mutex_lock+0x..").
    Kernel output itself never ends a line with a space after a long run of text, so only lines
    of mail width (>= 60 characters) are joined, and never onto a line that starts a new record.
    ``joined``: the lines joined with newlines, when the caller has it. A log with nothing to
    join is returned as it is (the same list).
    """
    if joined is None:
        joined = "\n".join(raw_lines)  # one C-speed look instead of a Python test per line
    if " \n" not in joined and not joined.endswith(" "):
        return raw_lines  # nothing to join: the loop below would copy every line unchanged
    ends = [n for n, r in enumerate(raw_lines) if r.endswith(" ")]  # the lines that may continue
    nonempty = len(list(filter(str.strip, raw_lines[:2000])))
    spaced = sum(1 for n in ends if n < 2000 and raw_lines[n].strip())
    if not nonempty or spaced * 2 > nonempty:
        return raw_lines  # trailing spaces everywhere: old printk output, not mail wrapping
    out: list[str] = []
    pending = ""
    last = len(raw_lines) - 1
    start = 0  # the lines from here to the next one in `ends` are copied as they are
    for n in ends:
        if start < n:
            if pending:
                out.append(pending + raw_lines[start])
                pending = ""
                start += 1
            out.extend(raw_lines[start:n])
        raw = raw_lines[n]
        line = pending + raw if pending else raw
        pending = ""
        start = n + 1
        if len(line) < MAX_LINE and not _starts_record(raw_lines[n + 1] if n < last else ""):
            if raw.endswith("  ") and len(raw) >= 24 and raw.strip():
                # syzbot's mailer: the word's own space plus the flowed marker.
                pending = line[:-1]
                continue
            if len(raw) >= 60:
                pending = line
                continue
        out.append(line)
    if start <= last:
        if pending:
            out.append(pending + raw_lines[start])
            pending = ""
            start += 1
        out.extend(raw_lines[start:])
    if pending:
        out.append(pending)
    return out


def _starts_record(raw: str) -> bool:
    """The line opens a console record of its own (a wrapped continuation never does)."""
    s = raw.lstrip(">| ")
    return bool(_TS.match(s) or _SYSLOG.match(s) or _LEVEL.match(s) or _HUMAN_TS.match(s) or _KMSG.match(s)
                or _RFC5424.match(s))


# "WARNING: CPU: 1 PID: 2997 at" + newline + "drivers/...c:7242 func+0x77/0xd0": hard-wrapped
# by a mail client or a CVE description at the width limit.
_CUT_WARNING = re.compile(r"WARNING: CPU: \d{1,6} (?:UID: \d{1,10} )?PID: \d{1,10} at ?$")


# A line that _strip_prefixes may change (a superset: the rest is returned as it is, see its
# fast paths): a "[", "<", digit or "*" first (after spaces, for the first three), a first
# character that is no ASCII letter, space, "-" or "=", a syslog facility word, or an uppercase
# "Mmm dd" syslog date. Each match starts at the newline before the line.
_MAY_HAVE_PREFIX = re.compile(
    r"\n(?: *[\[<\d*]| +[^\x00-\x7f]|[^ a-zA-Z\-=\n]"
    r"|(?:kern|user|mail|daemon|auth|syslog|lpr|news|uucp|cron|ftp|local)|[A-Z][a-z]{2} {1,2}\d|[A-Z][a-z]{2} [A-Z][a-z]{2} )"
)
# Bytes that _clean keeps as they are (no control character to remove).
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F)) + b"\t\n\r"


def _plain_log(raw_lines: list[str], body: str, spaced: bool = True) -> tuple[list[str], list[int]] | None:
    """Most pasted logs (mail quotes, dmesg without timestamps) have few lines with a transport
    prefix. For an ASCII log without control characters or a getty prompt, the lines cut and
    rstripped (what :func:`_clean` returns for a line without prefix), and the indexes of the
    lines that may have a prefix (the caller runs _strip_prefixes on those). None: clean every line,
    because the log is not of that kind or most of its lines have a prefix (console captures).
    ``body``: the lines joined with newlines (not `text`: a huge log keeps only its crash windows);
    ``spaced``: False when no line ends with a space (the lines hold no "\r" or "\n").
    """
    if not body.isascii() or body.encode("ascii").translate(None, _PRINTABLE_ASCII) or " login: " in body:
        return None
    # The first line has no newline before it; each match in body is at the newline that ends
    # the line before the one it flags (matches never run past their line's end).
    work: list[int] = [0] if raw_lines and _MAY_HAVE_PREFIX.match("\n" + raw_lines[0]) else []
    if len(work) * 2 > len(raw_lines):
        return None
    i, pos = 1, 0
    for m in _MAY_HAVE_PREFIX.finditer(body):
        k = m.start()
        i += body.count("\n", pos, k)  # newlines before k, plus one: the newline at k opens line i
        pos = k
        work.append(i)
        if len(work) * 2 > len(raw_lines):
            return None
    if not spaced and (len(body) <= MAX_LINE or max(map(len, raw_lines)) <= MAX_LINE):
        return list(raw_lines), work  # no line to cut or to rstrip
    return [raw[:MAX_LINE].rstrip("\r\n ") for raw in raw_lines], work


def clean_log(
    text: str, hint: re.Pattern[str] | None = None, is_header: Callable[[str], bool] | None = None
) -> tuple[list[str], list[str | None]]:
    """The log's cleaned lines: their texts and their printk caller ids (parallel lists; no
    per-line object). A journal export is read as console lines first (:mod:`.journal`); a
    huge log is cut to its crash windows (see :func:`split_lines`); then each line loses its
    transport prefixes, and the log-wide rewrites run (:func:`_join_cut_warnings`,
    :func:`_crash_session`)."""
    texts, callers, _ = clean_log_joined(text, hint, is_header)
    return texts, callers


def clean_log_joined(
    text: str, hint: re.Pattern[str] | None = None, is_header: Callable[[str], bool] | None = None
) -> tuple[list[str], list[str | None], str]:
    """:func:`clean_log`, and the cleaned lines joined with newlines (the parser looks for
    literals in the whole log: each join of a log's lines costs about as much as one search)."""
    text = journal.console_text(text) or text
    raw_lines = split_lines(text, hint, is_header)  # no "\r" is left in them
    raw_body = "\n".join(raw_lines)
    spaced = " \n" in raw_body or raw_body.endswith(" ")  # a line ends with a space (else unflow has nothing to do)
    if spaced:
        flowed = unflow(raw_lines, raw_body)
        if flowed is not raw_lines:
            raw_lines, raw_body = flowed, "\n".join(flowed)
    texts, callers = _strip_lines(raw_lines, raw_body, "\x1b" in text, spaced)
    joined = "\n".join(texts)
    cut = _join_cut_warnings(texts, joined)
    out, out_callers = _crash_session(texts, callers, joined)
    if cut or out is not texts:
        joined = "\n".join(out)
    return out, out_callers, joined


def _strip_lines(raw_lines: list[str], body: str, escapes: bool, spaced: bool) -> tuple[list[str], list[str | None]]:
    """Each line without its transport prefixes: texts and printk caller ids (``body``: the lines
    joined with newlines; ``spaced``: some line may end with a space)."""
    plain = _plain_log(raw_lines, body, spaced)
    if plain is not None:
        texts, work = plain
        callers: list[str | None] = [None] * len(texts)
        for i in work:  # no escape or control character in the log: _clean is _strip_prefixes here
            texts[i], callers[i], _ = _strip_prefixes(texts[i])
        return texts, callers
    if escapes:
        cleaned = [_clean(raw) for raw in raw_lines]
    else:  # no escape sequence anywhere: _clean without its per-line "\x1b" test
        cleaned = [_strip_prefixes(s) if (s := raw[:MAX_LINE].rstrip("\r\n ")).isprintable() else _clean(s)
                   for raw in raw_lines]
    return [c[0] for c in cleaned], [c[1] for c in cleaned]


def _cut_warning_line(joined: str) -> bool:
    """A line of ``joined`` but the last holds the literal _CUT_WARNING starts with and ends with
    "at" or "at " (looked for from each such literal: a log has a few; with many, by a search for
    the line ends)."""
    for seen, k in enumerate(find_all(joined, "WARNING: CPU: ")):
        if seen >= 64:
            return "at\n" in joined or "at \n" in joined
        eol = joined.find("\n", k)
        if eol < 0:
            return False  # the last line
        if joined.endswith(("at", "at "), k, eol):
            return True
    return False


def _join_cut_warnings(texts: list[str], joined: str) -> bool:
    """A WARNING banner cut before its location (see _CUT_WARNING) gets it back from the next
    line. True when a line was changed."""
    changed = False
    if _cut_warning_line(joined):
        for i in range(len(texts) - 1):
            t = texts[i]
            if t.endswith(("at", "at ")) and _CUT_WARNING.search(t):
                texts[i] = t.rstrip() + " " + texts[i + 1].lstrip()
                texts[i + 1] = ""
                changed = True
    return changed


# crash(8), the vmcore analysis tool, in a pasted session: its prompt ("crash> log", "crash> bt"),
# bt's task line ('PID: 482  TASK: ffff8810...  CPU: 12  COMMAND: "qla2xxx_1_dpc"') and the line bt
# prints after the frames of another stack ("--- <IRQ stack> ---", "--- <NMI exception stack> ---",
# "--- <DOUBLEFAULT exception stack> ---"; x86_64). The sys banner at the session's start quotes the
# panic: '     PANIC: "Oops: 0002 [#1] SMP " (check log for details)'.
_CRASH_PROMPT = re.compile(r"^crash(?:64)?> ")
_CRASH_TASK = re.compile(r'^PID: {1,8}\d{1,10} {1,8}TASK: [0-9a-f]{8,16} {1,8}CPU: \d{1,6} {1,8}COMMAND: "')
_CRASH_STACK = re.compile(r"^ {0,8}--- <([A-Za-z ]{1,40}) stack> ---$")
_CRASH_PANIC = re.compile(r'^ {0,12}PANIC: "(.{0,1024})"(?: \(check log for details\))?$')
_CRASH_FRAME = re.compile(r"^ {0,2}#\d{1,4} {1,2}\[[0-9a-f]{1,16}\] ")
# bt's stack names as dmesg's context marks (frames.CONTEXT_MARK) name them.
_CRASH_STACK_MARKS = (("IRQ", "IRQ"), ("NMI", "NMI"), ("DOUBLEFAULT", "#DF"), ("MCE", "#MC"), ("DEBUG", "DB"))


def _prompt_or_stack_name(joined: str) -> bool:
    """``"crash> " in joined or " stack> ---" in joined``, from each ">" of the log (found at memchr
    speed; a log has a few) instead of two searches of the whole log; the searches when a log
    has many (more than one per PIVOT_SPAN characters)."""
    k = joined.find(">")
    for _ in range(len(joined) // PIVOT_SPAN):
        if k < 0:
            return False
        if joined.startswith("> ", k) and (
                (k >= 5 and joined.startswith("crash", k - 5)) or (k >= 6 and joined.startswith(" stack> ---", k - 6))):
            return True
        k = joined.find(">", k + 1)
    return "crash> " in joined or " stack> ---" in joined


def _crash_session(texts: list[str], callers: list[str | None], joined: str) -> tuple[list[str], list[str | None]]:
    """crash(8) output as the parser reads dmesg.

    Each prompt and each bt task line ends the report before it (a vmcore's log stops without
    an end marker, and bt's frames are not that report's). The frames of another stack, which bt
    lists before naming it, are marked as dmesg marks them: " <IRQ>" on their first frame line,
    " </IRQ>" for the name line. The sys banner's PANIC line is dropped when the log or a bt says
    more (it repeats the log's banner; a bt is read as an excerpt without banner).
    """
    if not ('"' in joined and ('COMMAND: "' in joined or 'PANIC: "' in joined)) and not _prompt_or_stack_name(joined):
        return texts, callers  # (the same lists: clean_log_joined keeps its join)
    texts = list(texts)
    has_frames: bool | None = None  # the log holds bt frames (looked for when a PANIC line asks)
    section = -1  # first bt frame line since the last stack name, task line or prompt
    for i, t in enumerate(texts):
        if _CRASH_PROMPT.match(t) or _CRASH_TASK.match(t):
            texts[i] = f"---[ end trace: {t.strip()} ]---"
            section = -1
        elif section < 0 and t[:4].lstrip()[:1] == "#" and _CRASH_FRAME.match(t):
            section = i
        elif " stack> ---" in t and (m := _CRASH_STACK.match(t)):
            mark = next((v for k, v in _CRASH_STACK_MARKS if k in m.group(1)), "#DF")
            if section >= 0:
                texts[section] = f" <{mark}> {texts[section].lstrip()}"
            texts[i] = f" </{mark}>"
            section = -1
        elif "PANIC: " in t and (m := _CRASH_PANIC.match(t)):
            said = m.group(1).strip()
            if has_frames is None:
                has_frames = any(_CRASH_FRAME.match(x) for x in texts)
            if has_frames or (said and joined.count(said) > 1):
                texts[i] = ""
    return texts, callers


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
    if not name.startswith(_syscall_starts()):
        return (name,)  # no wrapper prefix at all (most names): one C-level test
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


@cache
def _syscall_starts() -> tuple[str, ...]:
    return tuple(prefix for prefix, _ in rules.syscall_prefixes())


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
_T_HEX6 = re.compile(r"[0-9a-fA-F]{6}")  # what _T_HEX needs
_T_DIGIT = re.compile(r"\d")  # what _T_NUM needs
MAX_TITLE = 120


MEMO_TITLE = 256  # titles up to this long are memoized (most are 30-80 characters)


def sanitize_title(title: str, *, keep_numbers: bool = False) -> str:
    """syzkaller's title replacements: ADDR for long hex, LINE for source lines, NUM for numbers.
    Memoized for titles up to MEMO_TITLE characters: the same crashes recur."""
    return _sanitize_memo(title, keep_numbers) if len(title) <= MEMO_TITLE else _sanitize(title, keep_numbers)


def _sanitize(title: str, keep_numbers: bool) -> str:
    # Each substitution is skipped when a literal it needs is absent (it would change nothing).
    t = title if title.isascii() and title.isprintable() else _T_NONPRINT.sub("", title)
    if "syz-executor" in t:
        t = _T_EXECUTOR.sub("syz-executor", t)
    if "+0x" in t:
        t = _T_FUNC_OFF.sub(r"\1", t)
    if ":" in t:
        t = _T_FILE_LINE.sub(r"\1:LINE", t)
    if _T_HEX6.search(t):  # (_T_HEX and _T_NUM start with a lookbehind: slow to search for)
        t = _T_HEX.sub("ADDR", t)
    if "." in t:
        t = _T_IP.sub("IP", t)
    if "CPU#" in t:
        t = _T_CPU.sub("CPU", t)
    if not keep_numbers and _T_DIGIT.search(t):
        t = _T_NUM.sub("NUM", t)
    t = " ".join(t.split())
    return t[:MAX_TITLE].rstrip()


_sanitize_memo = lru_cache(maxsize=4096)(_sanitize)
