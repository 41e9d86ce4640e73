"""The parser's speed prefilters are exact, and the hostile floods they exist for parse sanely.

No timing assertions here: the figures are in benchmarks/parse_speed.py.
"""

from __future__ import annotations

import itertools
from re import _constants as C  # type: ignore[attr-defined]
from re import _parser as P  # type: ignore[attr-defined]
from typing import Any

import pytest

from sigmatch import parse_log
from sigmatch.trace import formats as fm
from sigmatch.trace.model import Report
from sigmatch.trace.parse import _header_format


def _strings(node: tuple[Any, Any]) -> list[str] | None:
    """Every string the node matches when it is a small pure-literal alternation, else None."""
    op, av = node
    if op is C.LITERAL:
        return [chr(av)]
    if op is C.SUBPATTERN:
        return _seq_strings(av[3])
    if op is C.BRANCH:
        out: list[str] = []
        for branch in av[1]:
            s = _seq_strings(branch)
            if s is None:
                return None
            out += s
        return out
    return None


def _seq_strings(items: Any) -> list[str] | None:
    out = [""]
    for it in items:
        s = _strings(it)
        if s is None:
            return None
        out = [a + b for a in out for b in s]
    return out


def _needs_hit(run: list[str], anchored: bool) -> bool:
    # An unanchored literal may sit anywhere: "\x00" in front keeps HEADER_NEED's "^X" from
    # matching it; an anchored one ("^BUG ") starts the line.
    return run != [""] and all(fm.HEADER_NEED.search(r if anchored else "\x00" + r) for r in run)


def _covered(items: Any) -> bool:
    """Every match of this regex node sequence contains a HEADER_NEED match: some literal run
    the sequence must match (each of its spellings), or a mandatory group/alternation that is."""
    items = list(items)
    run, anchored = [""], False
    for k, it in enumerate(items):
        s = _strings(it)
        if s is not None:
            if run == [""]:
                anchored = k > 0 and items[k - 1] == (C.AT, C.AT_BEGINNING)
            run = [a + b for a in run for b in s]
            continue
        if _needs_hit(run, anchored):
            return True
        run, anchored = [""], False
        op, av = it
        if op is C.SUBPATTERN and _covered(av[3]):
            return True
        if op is C.BRANCH and all(_covered(b) for b in av[1]):
            return True
    return _needs_hit(run, anchored)


@pytest.mark.parametrize("f", fm.FORMATS, ids=lambda f: f.name)
def test_header_need_covers_every_format(f: fm.Format) -> None:
    """HEADER_NEED is a safe prefilter: each header regex spells out one of its literals."""
    assert _covered(P.parse(f.header.pattern)), f"{f.name}: extend formats.HEADER_NEED"


def test_header_need_does_not_change_header_lines() -> None:
    for line in ("BUG: KASAN: use-after-free in f+0x1/0x2", "WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2",
                 "INFO: task a:1 blocked for more than 120 seconds.", "BUG kmalloc-64 (Not tainted): Poison overwritten",
                 "e1000e 0000:00:19.0 eth0: Detected Hardware Unit Hang:", "Kernel panic - not syncing: Fatal exception"):
        assert _header_format(line) >= 0, line
    for line in ("DEBUG BUG x 123", "DEBUGWARNING 7", "no banner here"):
        assert _header_format(line) == -1, line


def test_keyword_flood_parses_sanely() -> None:
    """Unique lines that each hold a header hint word but no banner (the issue 2 hostile case)."""
    text = "".join(f"DEBUG BUG x {i}\n" for i in range(20_000))
    assert parse_log(text) == []
    text += "BUG: KASAN: use-after-free in f+0x1/0x2\nCall Trace:\n g+0x1/0x2\n h+0x1/0x2\n i+0x1/0x2\n"
    reports = parse_log(text)
    assert reports and reports[0].title.startswith("KASAN: use-after-free")


def _hint_fragments() -> list[str]:
    """The literals of HEADER_HINT (its regex pieces spelled out) and near misses of each."""
    words = [w for w in fm.HEADER_HINT.pattern.split("|") if "(" not in w]
    words += ["divide error", "divide_error", "rcu_preempt ", "rcu_sched ", "rcu_bh ", "rcu_tasks ", "rcu_bh"]
    return words + [w[:-1] for w in words] + [w[1:] for w in words] + [w[: len(w) // 2] + "-" + w[len(w) // 2:] for w in words]


def test_header_hint_scan_equals_header_hint() -> None:
    """HEADER_HINT_SCAN (pivoted, grouped) finds a match on exactly the lines HEADER_HINT does."""
    import random

    rnd = random.Random(7)
    frags = _hint_fragments()
    noise = "abcdefgmpuvwxyz_3: -.BUGWARNINFO"
    lines = list(frags)
    for _ in range(20_000):
        parts = [rnd.choice(frags) if rnd.random() < 0.5 else "".join(rnd.choices(noise, k=rnd.randint(0, 6)))
                 for _ in range(rnd.randint(1, 4))]
        s = "".join(parts)
        if len(s) > 2 and rnd.random() < 0.5:  # cut somewhere: a literal split by the edge
            k = rnd.randrange(len(s))
            s = s[k:] if rnd.random() < 0.5 else s[:k]
        lines.append(s)
    for s in lines:
        assert bool(fm.HEADER_HINT.search(s)) == bool(fm.HEADER_HINT_SCAN.search(s)), s
    hits = sum(bool(fm.HEADER_HINT.search(s)) for s in lines)
    assert 2000 < hits < len(lines) - 2000  # both outcomes well covered


def test_header_hint_scan_on_the_corpus() -> None:
    """The same on real console lines (crashes-dev)."""
    import json

    from conftest import shared_path

    from sigmatch.trace.normalize import clean_log

    path = shared_path("corpus", "crashes-dev.jsonl")
    with path.open(encoding="utf-8") as fh:
        for n, row in enumerate(fh):
            if n >= 400:
                break
            for t in clean_log(json.loads(row).get("log") or "")[0]:
                assert bool(fm.HEADER_HINT.search(t)) == bool(fm.HEADER_HINT_SCAN.search(t)), t


def _rule_patterns() -> dict[str, list[str]]:
    from sigmatch.trace import rules

    out = {name: [e for _, e, _ in rules._lines(name)]
           for name in ("skip.txt", "stall_anchors.txt", "hang_skip.txt", "signature_glue.txt")}
    for _, entry, _ in rules._lines("class_skips.txt"):
        key, _, rest = entry.partition(":")
        out["class_skips.txt:" + key.strip()] = rest.split()
    return out


def test_top_level_bar() -> None:
    from sigmatch.trace.rules import _top_level_bar

    assert _top_level_bar("_trap$|do_trap")
    assert not _top_level_bar("(read|write)_once")
    assert not _top_level_bar("a[|]b") and not _top_level_bar(r"a\|b") and not _top_level_bar("[]|]x")
    assert _top_level_bar("(a)|b")


@pytest.mark.parametrize("name", sorted(_rule_patterns()))
def test_factored_union_equals_plain_union(name: str) -> None:
    """rules.factored_union finds a match in exactly the names the plain union does: names
    spliced from the rules' own literals (hits, near misses, anchored edges) and real frames."""
    import random
    import re

    from sigmatch.trace.rules import factored_union, plain_union

    patterns = _rule_patterns()[name]
    plain, fast = re.compile(plain_union(patterns)), re.compile(factored_union(patterns))
    pieces = [w for p in patterns for w in re.split(r"[^A-Za-z0-9_]+", p) if w]
    rnd = random.Random(3)
    names = pieces + [p[1:] for p in pieces] + [p[:-1] for p in pieces]
    names += ["ext4_file_write_iter", "do_syscall_64", "entry_SYSCALL_64_after_hwframe", "__x64_sys_write",
              "atomic64_dec", "readb", "xreadb", "readbx", "kvfree", "kfree", "lock_page", "unlock_page"]
    for _ in range(3000):
        k = rnd.randint(1, 3)
        names.append("".join(rnd.choice(pieces) + rnd.choice(["", "_", "x", "64_"]) for _ in range(k)))
    for n in names:
        assert bool(plain.search(n)) == bool(fast.search(n)), (name, n)


def test_plain_lines_need_no_cleaning() -> None:
    """normalize._MAY_HAVE_PREFIX is a safe prefilter: a line it does not flag (in a log without
    " login: ", see _plain_log) comes out of _clean unchanged but for the cut and the rstrip
    (spliced prefix pieces, hits and misses)."""
    import random

    from sigmatch.trace.normalize import _MAY_HAVE_PREFIX, MAX_LINE, _clean

    rnd = random.Random(11)
    pieces = ["[  12.345678] ", "[ T12]", "<4>", "Apr 14 08:12:21 host kernel: ", "Apr  4 ", "kern  :warn  : ",
              "6,1234,5678901,-;", "  123 | ", "12:", "** 3 printk messages dropped ** ", "host login: ", "[Tue Mar 12 09:41:07 2024] ",
              "18h 42m 40.116s(751490ms): ", "2024-04-14T08:12:21 h kernel: ", " ", "  ", "-", "=", "RIP: 0010:f+0x1/0x2",
              "Call Trace:", "kernel BUG", "user", "local7", "authpriv", "Mar", "x", "Zz", "\u00e9", "\u00b2", "\u0663", "\t", "*", "]",
              "<4>1 2024-04-14T08:12:21Z h kernel - - - ", "1 - h kernel - - - ", "kern.warn kernel: ", "uucp.info: ",
              "Thu Apr 14 08:12:21 2024 kern.warn kernel: ", "Sun 2024-04-14 08:12:21 UTC h kernel: ",
              "1713082341.118202 h kernel: "]
    flagged = plain = 0
    for _ in range(30_000):
        line = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 4)))
        if _MAY_HAVE_PREFIX.match("\n" + line) or " login: " in line:  # _plain_log's two tests
            flagged += 1
            continue
        plain += 1
        assert _clean(line) == (line[:MAX_LINE].rstrip("\r\n "), None, False), line
    assert flagged > 5000 and plain > 5000


def test_suppressed_equals_suppress() -> None:
    """formats.suppressed(t) is SUPPRESS.search(t) (spliced pieces of its alternatives, word
    boundaries around DEBUG:, "---[ end " at and after the start)."""
    import random

    rnd = random.Random(5)
    pieces = ["INFO: lockdep is turned off", "INFO: NMI handler (x) took too long", "INFO: Stall ended before state dump",
              "WARNING: The mand mount option", "WARNING: ext4 uses legacy", "BUG: MAX_LOCKDEP_KEYS too low",
              "BUG: Key ffff8880 not in .data", "ODEBUG: Out of memory", "WARNING: kernel not compiled with",
              "WARNING: Unsupported", "WARNING: Module ", "WARNING: module ", "INFO: recovery required on readonly filesystem",
              "INFO: task a:1 blocked on", "DEBUG:", "xDEBUG:", "_DEBUG:", " DEBUG:", "-DEBUG:", "\u00e9DEBUG:",
              "BUG: no syscalls can create resource", "WARNING: see kernel", "WARNING: Linux Kernel", "rcu_sched kthread starved",
              "rcu_preempt kthread starved", "WARNING: Kernel image", "WARNING: Spectre", "WARNING: the ", "WARNING: Your",
              "BUG: Kernel panic", "ACPI BIOS Warning", "WARNING: There was an error", "---[ end trace", "--[ end ", " ---[ end ",
              "WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "BUG: KASAN: x", "INFO: task a:1 blocked for more than", "x", " "]
    lines = list(pieces)
    for _ in range(20_000):
        s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 3)))
        if rnd.random() < 0.3:
            k = rnd.randrange(len(s))
            s = s[k:] if rnd.random() < 0.5 else s[:k]
        lines.append(s)
    for s in lines:
        assert fm.suppressed(s) == (fm.SUPPRESS.search(s) is not None), s
    hits = sum(fm.suppressed(s) for s in lines)
    assert 2000 < hits < len(lines) - 2000


def _unflow_reference(raw_lines: list[str]) -> list[str]:
    """normalize.unflow as first written (one pass over every line): the reference for the
    faster version, which copies the runs of lines without a trailing space at once."""
    from sigmatch.trace.normalize import MAX_LINE, _starts_record

    nonempty = [r for r in raw_lines[:2000] if r.strip()]
    if not nonempty or sum(1 for r in nonempty if r.endswith(" ")) * 2 > len(nonempty):
        return raw_lines
    out: list[str] = []
    pending = ""
    for n, raw in enumerate(raw_lines):
        line = pending + raw if pending else raw
        pending = ""
        nxt = raw_lines[n + 1] if n + 1 < len(raw_lines) else ""
        if raw.endswith(" ") and len(line) < MAX_LINE and not _starts_record(nxt):
            if raw.endswith("  ") and len(raw) >= 24 and raw.strip():
                pending = line[:-1]
                continue
            if len(raw) >= 60:
                pending = line
                continue
        out.append(line)
    if pending:
        out.append(pending)
    return out


def test_unflow_equals_reference() -> None:
    import random

    from sigmatch.trace.normalize import unflow

    rnd = random.Random(2)
    words = ["x" * 23, "y" * 59, "z" * 70, "w" * 4060, "[  12.345678] BUG", "<4>x", "Apr 14 08:12:21 h kernel: x", " f+0x1/0x2", "", "   "]
    for _ in range(3000):
        lines = [rnd.choice(words) + rnd.choice(["", "", " ", "  "]) for _ in range(rnd.randint(0, 12))]
        assert unflow(lines) == _unflow_reference(lines), lines


def test_stack_memo_skips_long_lines() -> None:
    """The stack walk's line memo keeps no line longer than MEMO_LINE (a hostile log of long
    unique lines must not pin them), and the output does not depend on the memo."""
    from sigmatch.trace import parse as P

    long_frames = "".join(f" func_{i}+0x1/0x2 [{'m' * 40}] {'x' * 300}\n" for i in range(300))
    text = "BUG: KASAN: use-after-free in f+0x1/0x2\nCall Trace:\n" + long_frames
    before = P._stack_line_memo.cache_info().currsize
    first = parse_log(text)
    assert P._stack_line_memo.cache_info().currsize - before < 5  # the header lines at most
    assert [r.to_dict() for r in parse_log(text)] == [r.to_dict() for r in first]
    assert first and len(first[0].frames) > 100


def _spliced(pieces: list[str], n: int, seed: int) -> list[str]:
    import random

    rnd = random.Random(seed)
    out = list(pieces)
    for _ in range(n):
        s = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 4)))
        if rnd.random() < 0.3:
            k = rnd.randrange(len(s) + 1)
            s = s[k:] if rnd.random() < 0.5 else s[:k]
        out.append(s)
    return out


def test_prefix_gates_equal_their_regexes() -> None:
    """normalize._capital_syslog and _facility (the cheap gates before _SYSLOG and _FACILITY) say
    what the regexes say, on lines that start with an ASCII capital / with any character."""
    from sigmatch.trace.normalize import _FACILITY, _SYSLOG, _capital_syslog, _facility

    pieces = ["Apr 14 08:12:21 host kernel: ", "Apr  4 08:12:21 h kernel: ", "Sun 2024-04-14 08:12:21 UTC h kernel: ",
              "Thu Apr 14 08:12:21 2024 kern.warn kernel: ", "Apr 14 08:12:21.123456 h kernel: ", "RIP: ", "Call Trace:",
              "CPU: 0 ", "The buggy ", "Apr", "Ap", "A", " ", "x", "kern  :warn  : ", "kern.warn kernel: ", "uucp.info: ",
              "local7.err: ", "authpriv.notice kernel[12]: ", "usb 1-1: ", "ke", "k", "daemon", "\u00e9", "1"]
    for s in _spliced(pieces, 20_000, 21):
        if "A" <= s[:1] <= "Z":
            assert _capital_syslog(s) == (_SYSLOG.match(s) is not None), s
        assert _facility(s) == (_FACILITY.match(s) is not None), s


def test_is_stack_start_equals_stack_start() -> None:
    from sigmatch.trace.frames import STACK_START, is_stack_start

    pieces = ["Call Trace:", "Call trace:", "Backtrace:", "Stack:", "Stack trace:", "Allocated by task 1:", "Freed by task 2:",
              "Allocated:", "Freed:", "Last potentially related work creation:", "Second to last potentially related",
              "Uninit was created", "Uninit was stored", "Memory state around", "The buggy address belongs",
              "Local variable", "-> #1", "stack backtrace:", "other info that might help", "Showing all locks held",
              "foo backtrace:", "x backtrace:", " backtrace:", "Last call trace:", " ", "    ", "     ", "f+0x1/0x2", "?", "\t"]
    lines = _spliced(pieces, 20_000, 22)
    for s in lines:
        assert is_stack_start(s) == (STACK_START.match(s) is not None), s
    assert sum(map(is_stack_start, lines)) > 3000


def test_find_all_finds_every_occurrence() -> None:
    """normalize.find_all gives what a plain search loop gives: capital-led needles (found from
    each capital, then by plain search past one capital per PIVOT_SPAN characters) and others,
    overlapping ones too."""
    import random

    from sigmatch.trace.normalize import PIVOT_SPAN, find_all

    def plain(text: str, needle: str) -> list[int]:
        out, k = [], text.find(needle)
        while k >= 0:
            out.append(k)
            k = text.find(needle, k + 1)
        return out

    rnd = random.Random(23)
    for _ in range(2000):
        needle = rnd.choice(["CPU: ", "Linux version", "AA", "WARNING: CPU: ", "race", "x", "NMI backtrace for cpu"])
        alphabet = [needle, "A", "C", "W", "L", "N", " ", "x", "\n", "CPU", "AAA"]
        text = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 600)))
        if rnd.random() < 0.2:
            text = needle[0] * (len(text) // PIVOT_SPAN + rnd.randint(-3, 3)) + text  # more capitals than pivots
        assert find_all(text, needle) == plain(text, needle), (text, needle)


def test_log_level_shortcuts_equal_their_searches() -> None:
    """The clean-up gates that look from each ">" / each "WARNING: CPU: " say what the searches
    they replace say (normalize._prompt_or_stack_name, _cut_warning_line)."""
    from sigmatch.trace.normalize import _cut_warning_line, _prompt_or_stack_name

    pieces = ["crash> ", "crash>", "crash", "> ", ">", " stack> ---", "--- <IRQ stack> ---", "stack>", " <TASK>", "-> #1",
              "\n", "x", "WARNING: CPU: 1 PID: 2 at", "WARNING: CPU: 1 PID: 2 at ", "WARNING: CPU: ", " at", "at\n",
              "at \n", "at", "h> "]
    for s in [*_spliced(pieces, 20_000, 24), ">" * 70 + "crash> ", "WARNING: CPU: \n" * 70 + "at\n"]:
        assert _prompt_or_stack_name(s) == ("crash> " in s or " stack> ---" in s), s
        warning_line_ends_at = any(
            "WARNING: CPU: " in line and line.endswith(("at", "at ")) for line in s.split("\n")[:-1])
        assert _cut_warning_line(s) >= warning_line_ends_at, s  # never misses one (it may look for nothing)
        if not ("at\n" in s or "at \n" in s):
            assert not _cut_warning_line(s), s


def test_identical_reports_are_built_once_with_the_same_fields() -> None:
    """A report identical to an earlier one of the log (parse._Built) is that report at its own
    lines: the same as building it again (here: with the reuse switched off)."""
    from pathlib import Path

    from sigmatch.trace import parse as P

    example = Path(__file__).resolve().parents[1] / "examples" / "fsnotify-softlockup-4.14.32.log"
    lockup = "\n".join(example.read_text(encoding="utf-8").splitlines()[:24]) + "\n"
    warn = "WARNING: CPU: 0 PID: 1 at net/core/dev.c:1 f+0x1/0x2\nCall Trace:\n g+0x1/0x2\n h+0x1/0x2\n---[ end trace ]---\n"
    found = []

    class _Counted(P._Built):
        def find(self, *args: Any) -> Report | None:
            same = super().find(*args)
            found.append(same is not None)
            return same

    class _Never(P._Built):
        def find(self, *args: Any) -> None:
            return None

    saved = P._Built
    for text in (lockup * 6, warn * 16 + lockup * 2 + warn * 14):
        found.clear()
        try:
            P._Built = _Counted  # type: ignore[misc]
            reused = parse_log(text)
            P._Built = _Never  # type: ignore[misc]
            fresh = parse_log(text)
        finally:
            P._Built = saved  # type: ignore[misc]
        assert any(found)
        assert [r.to_dict() for r in reused] == [r.to_dict() for r in fresh]
        assert len({r.start_line for r in reused}) == len(reused) > 3
        assert all(a.extra is not b.extra for a, b in itertools.pairwise(reused))


def test_parse_rip_gate_drops_no_line() -> None:
    """frames.parse_rip's first-character gate only drops lines its regexes cannot match."""
    from sigmatch.trace.frames import _rip, parse_rip

    pieces = ["RIP: 0010:", "IP: ", "EIP: 0060:[<c1234567>] ", "EIP is at ", "PC is at ", "pc : ", "pc: ", "NIP [c0000000] ",
              "NIP: ", "epc : ", "ERA: ", "era : ", "Krnl PSW : 0704 ", "IP is at ", "[exception RIP: ", "    ", " ", "        ",
              "f+0x1/0x2", "func+0x1b2/0x4f0 [mod]", "(kernel/x.c:12)", " (arch/x86/a.c:1)", "RSP: ", "x", "?", "\t", "Call Trace:"]
    lines = _spliced(pieces, 20_000, 25)
    for s in lines:
        assert parse_rip(s) == _rip(s), s
    assert sum(parse_rip(s) is not None for s in lines) > 300


def test_header_need_equals_its_regex() -> None:
    """formats.header_need(t) is HEADER_NEED.search(t) (spliced pieces of its literals, at and
    after the start of the line)."""
    pieces = [n.lstrip("^") for n in fm._NEED] + ["DEBUG BUG x 1", " ", "x", "BU", "PANIC", "^", "\u00e9", "stac", "rcu"]
    lines = _spliced(pieces, 20_000, 26)
    for t in lines:
        assert fm.header_need(t) == (fm.HEADER_NEED.search(t) is not None), t
    assert 3000 < sum(map(fm.header_need, lines)) < len(lines) - 1000
