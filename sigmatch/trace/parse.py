"""From a pasted console log to crash :class:`Report` s. Pure: no I/O.

The pipeline, in order:

1. ``clean``: split lines, strip transport prefixes (syslog, journald, kmsg, ``<N>``,
   timestamps, printk caller ids) -- :mod:`sigmatch.trace.normalize`;
2. ``find headers``: lines that open a crash report (:data:`formats.FORMATS`, first match
   wins), minus suppressed noise and continuation banners;
3. ``segment``: a report runs from its header to the next header (or ``---[ end trace``); with
   printk caller ids, only the header's own task/CPU lines are kept (de-interleaving);
4. ``frames``: every frame line of the report, normalized, marked skipped/unreliable, with its
   IRQ/NMI/task context -- the recipe steps of :data:`_STEP_RULES`;
5. ``guilty frame``: the format's recipe (RIP first for faults, header frame for KASAN and
   WARNING, anchors for stalls, buckets for hangs) over the non-generic frames;
6. ``title``: the title rules of :data:`_TITLE_RULES` (the format's template, the corruption
   and truncation checks, syzkaller's ADDR/NUM/LINE replacements);
7. ``context``: kernel version, taint (decoded), hardware, comm/pid/cpu, modules, out-of-tree
   modules, device errors just before the report -- :mod:`sigmatch.trace.context`;
8. ``related stacks``: for a hung task or a memory leak, the stacks of the log that may hold the
   cause (lock holders, other leaked objects) -- :mod:`sigmatch.trace.related`.

A report is ``corrupted`` when its output is mixed with other output or nothing says where it
crashed (its title is then the crash class without a location: titles never say "in
corrupted"), and ``truncated`` when it was only cut short (no call trace after the RIP line, a
paste that ends inside the stack, no banner): a truncated report keeps its kind, title and
guilty frame. A paste with no banner (it starts at "CPU: ... PID:", "Hardware name:", "RIP:",
"Call Trace:") gives one report whose kind is inferred from its frames and lines
(:data:`_INFERENCES`); when nothing tells the kind, it is titled by its frames and corrupted.

Every step that gives up records why in ``Report.notes``; nothing here raises on bad input.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import lru_cache
from typing import NamedTuple

from sigmatch.trace import formats as fm
from sigmatch.trace import rules
from sigmatch.trace.context import decode_taint, device_errors, log_kernel_version, machine_context
from sigmatch.trace.frames import (
    CONTEXT_MARK,
    STACK_START,
    RawFrame,
    is_stack_start,
    parse_bare,
    parse_frame,
    parse_rip,
)
from sigmatch.trace.model import Context, Frame, Kind, Report
from sigmatch.trace.normalize import (
    clean_line,
    clean_log_joined,
    lines_containing,
    normalize_function,
    sanitize_title,
    strip_suffixes,
    syscall_variants,
)
from sigmatch.trace.related import RELATED_KINDS, related_frames

# Bump on every change to rules/, formats.py or the title/guilty-frame logic: it re-titles history.
RULES_VERSION = "2026.12.03-2"

MAX_REPORTS = 32  # reports returned from one log
MAX_REPORT_LINES = 4000  # lines of one report that are examined
MAX_FRAMES = 128  # frames kept in a report
MAX_TEXT = 256 * 1024  # characters of report text kept
MAX_WALK_FRAMES = 2000  # frames examined for the guilty frame (stack overflows recurse deeply)
MAX_ASSERTION = 64  # characters of a failed assertion kept in a title

_END_TRACE = re.compile(r"^-{3}\[ end (?:trace|Kernel panic)")
_CORRUPT_LINE = re.compile(r"^ ?(?:\[<[0-9a-f]+>\] )?should_fail(?:slab)?(?:\.[a-z0-9.]+)?\+0x")
# KMSAN and KFENCE print their stacks right under the banner, kmemleak under "backtrace (crc ..):".
_KEYWORDLESS = frozenset({Kind.KMSAN, Kind.KFENCE, Kind.MEMORY_LEAK})
_ALL_CPUS = re.compile(r"Sending NMI from CPU|NMI backtrace for cpu|Stack dump where RCU")
# Keywords after which a stack must follow (syzkaller's corruption check).
_STACK_KEYWORD = re.compile(r"Call [Tt]race:|backtrace:|backtrace \(crc|Backtrace:|Allocated by task \d+:|Freed by task \d+:|^Allocated:|^Freed:")


@dataclass(slots=True)
class _Header:
    index: int  # line index in the cleaned log
    fmt: fm.Format
    match: re.Match[str]


@dataclass(slots=True)
class _Walk:
    frames: list[Frame] = field(default_factory=list)
    candidates: list[Frame] = field(default_factory=list)  # non-generic, reliable, in recipe order
    # where each candidate is in `frames` (-1: named by a header line, not a stack entry);
    # frames are shared values (see _frame), so they are told apart by position
    cand_at: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    saw_stack: bool = False
    corrupt_line: bool = False
    # the recipe's cursor: the next line to read, and the stack context at that point
    pos: int = 0
    context: Context = Context.TASK
    marked: bool = False  # saw an <IRQ>/<NMI>/<TASK> marker
    since: int = 0  # index in frames of the first frame after the last marker
    seen_rip: bool = False  # the faulting-instruction line was taken

    def add(self, fr: Frame, candidate: bool) -> None:
        """A stack entry (or the RIP line), and a guilty-frame candidate when it qualifies."""
        if candidate:
            self.candidates.append(fr)
            self.cand_at.append(len(self.frames))
        self.frames.append(fr)


def parse_log(text: str) -> list[Report]:
    """Every crash report in a console log, the primary (first causal) one first; ``[]`` if none."""
    if not isinstance(text, str) or not text:
        return []
    # body: the lines joined, once, for the log-wide literal searches (headers, banner, related stacks)
    lines, callers, body = clean_log_joined(text, _WINDOW_HINT, _is_header_line)
    headers = _find_headers(lines, body)
    if not headers:
        return _headerless(lines, callers, body)
    log_version = log_kernel_version(lines, body)
    reports: list[Report] = []
    built = _Built() if len(headers) > 1 else None
    for n, h in enumerate(headers[:MAX_REPORTS]):
        # A report runs to the next header; a "Kernel panic - not syncing" banner is a report of
        # its own but does not cut the one it follows (panic_on_warn prints it mid-WARNING).
        # With printk caller ids, a report of another task/CPU interleaved with this one does
        # not end it either (its lines are filtered out in _report_lines).
        end = len(lines)
        caller = callers[h.index]
        for nxt in headers[n + 1:]:
            other = callers[nxt.index]
            if caller is not None and other is not None and other != caller:
                continue
            if not _overlay(nxt.fmt) or _overlay(h.fmt):
                end = nxt.index
                break
        try:
            reports.append(_build_report(lines, callers, h, end, log_version, built))
        except Exception as exc:  # a rule bug must not lose the whole answer
            reports.append(
                Report(kind=h.fmt.kind, title=sanitize_title(lines[h.index]), corrupted=True,
                       corrupted_reason=f"parser rule failed: {exc.__class__.__name__}",
                       notes=(f"rule {h.fmt.name} failed: {exc!r}",), rules_version=RULES_VERSION,
                       start_line=h.index, end_line=end)
            )
    if reports and reports[0].kind in RELATED_KINDS:
        try:
            reports[0] = replace(reports[0], related_frames=related_frames(reports[0], reports, lines, body))
        except Exception as exc:  # a rule bug loses the related stacks, not the report
            reports[0] = replace(reports[0], notes=(*reports[0].notes, f"related stacks failed: {exc!r}"))
    return reports


_HEADERLESS_START = re.compile(r"^ {0,4}(?:Call [Tt]race:|Call trace:|Backtrace:|(?:Oops: )+[0-9a-f]{4,16} \[#\d+\])")
# Lines only a crash dump prints (dump_stack / show_regs / sched_show_task): a paste that starts
# at one of them is a report whose banner was left out ("copied from Hardware name: down").
_DUMP_START = re.compile(
    r"^(?:CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: |Hardware name: |Workqueue: \S+ \S+|task:\S.{0,64} state:[A-Z])")
# Register dump lines after the faulting instruction (x86, i386, arm64, powerpc, riscv, s390).
_REGISTERS = re.compile(
    r"^ {0,4}(?:RSP: [0-9a-f]{4}:|RAX: [0-9a-f]|EAX: [0-9a-f]|ESP: |sp ?: [0-9a-f]{8,16}|x29: |GPR00: |LR \[|pstate: "
    r"|MSR: |ra ?: [0-9a-f]|Krnl GPRS:)")
_CR2 = re.compile(r"^ {0,4}CR2: ([0-9a-f]{1,16})")
# x86 WARN() and BUG() are a ud2 instruction (0f 0b); the trapping one is printed in <..>.
_UD2 = re.compile(r"^ {0,4}Code: .*<0f> 0b")
MAX_HEADERLESS_LINES = 50000


@dataclass(frozen=True, slots=True)
class _Inference:
    """One rule of the banner-less paste's kind: the format whose title it gets when ``test``
    holds for the paste's frame names (every frame, '?' ones too) and its lines' evidence."""

    name: str
    fmt: fm.Format
    test: Callable[[frozenset[str], _PasteEvidence], bool]


@dataclass(frozen=True, slots=True)
class _PasteEvidence:
    rip: bool  # a faulting-instruction line naming a function
    registers: bool
    cr2: int | None  # x86 fault address register
    ud2: bool  # the trapping instruction is ud2 (x86 WARN/BUG)
    task_state: bool  # "task:X state:D" (sched_show_task: a blocked task)


_WARN_FRAMES = frozenset({"__warn", "warn_slowpath_fmt", "warn_slowpath_null", "warn_slowpath_common", "__WARN_printf"})
_BUG_FRAMES = frozenset({"do_trap", "do_error_trap", "do_invalid_op"})
_GPF_FRAMES = frozenset({"exc_general_protection", "do_general_protection", "general_protection", "die_addr"})
_OOPS_FAULT_FRAMES = frozenset({
    "page_fault_oops", "no_context", "__bad_area_nosemaphore", "bad_area_nosemaphore", "__do_kernel_fault",
    "die_kernel_fault", "do_kern_addr_fault", "kernelmode_fixup_or_oops"})
_FAULT_FRAMES = frozenset({"exc_page_fault", "asm_exc_page_fault", "page_fault", "do_page_fault", "__do_page_fault",
                           "do_mem_abort", "el1_abort", "do_translation_fault"})
NULL_PAGE = 0x1000  # a fault address below this is a NULL pointer (plus a field offset)


def _is_fault(names: frozenset[str], ev: _PasteEvidence) -> bool:
    return not names.isdisjoint(_OOPS_FAULT_FRAMES) or (
        ev.rip and ev.cr2 is not None and not names.isdisjoint(_FAULT_FRAMES))


# The kinds a banner-less paste can be told by, in order (the first that holds wins). Lockup
# detectors first: their interrupt frames sit on top of whatever the CPU was doing.
_INFERENCES: tuple[_Inference, ...] = (
    _Inference("hard lockup: NMI watchdog frames", fm.HEADERLESS_HARD_LOCKUP,
               lambda n, ev: "watchdog_overflow_callback" in n),
    _Inference("soft lockup: watchdog timer frames", fm.HEADERLESS_SOFT_LOCKUP,
               lambda n, ev: "watchdog_timer_fn" in n),
    _Inference("WARNING: __warn/warn_slowpath frames", fm.HEADERLESS_WARNING,
               lambda n, ev: not n.isdisjoint(_WARN_FRAMES)),
    _Inference("kernel BUG: trap handler frames", fm.HEADERLESS_BUG,
               lambda n, ev: not n.isdisjoint(_BUG_FRAMES)),
    _Inference("WARNING: report_bug frames", fm.HEADERLESS_WARNING, lambda n, ev: "report_bug" in n),
    _Inference("general protection fault: its handler's frames", fm.HEADERLESS_GPF,
               lambda n, ev: not n.isdisjoint(_GPF_FRAMES)),
    _Inference("NULL pointer dereference: page-fault frames and a fault address below 4096",
               fm.HEADERLESS_NULL_DEREF, lambda n, ev: _is_fault(n, ev) and ev.cr2 is not None and ev.cr2 < NULL_PAGE),
    _Inference("page fault: page-fault frames", fm.HEADERLESS_PAGING, _is_fault),
    _Inference("WARNING: the trapping instruction is ud2", fm.HEADERLESS_WARNING, lambda n, ev: ev.rip and ev.ud2),
    _Inference("hung task: a blocked task's state line", fm.HEADERLESS_HUNG_TASK, lambda n, ev: ev.task_state),
)


def _headerless(lines: list[str], callers: list[str | None], body: str) -> list[Report]:
    """A paste that starts after the crash banner (mail quotes, CVE descriptions, "copied from
    CPU: down"): a report when it holds a stack (3 frames or more) or a faulting-instruction
    line with its registers. Its kind is inferred from what is there (:data:`_INFERENCES`):
    such a report is truncated, and keeps the title of its kind. A paste whose kind cannot be
    told is titled by its frames and marked corrupted, so it is never merged with confidence."""
    found = _scan_paste(lines)
    if found is None:
        return []
    at, names, ev = found
    rule = next((r for r in _INFERENCES if r.test(names, ev)), None)
    f = rule.fmt if rule is not None else fm.HEADERLESS
    m = re.match(r"", lines[at])
    assert m is not None
    report = _build_report(lines, callers, _Header(at, f, m), len(lines), log_kernel_version(lines, body))
    if rule is None and sum(fr.reliable for fr in report.frames) < 3:
        return []
    extra = dict(report.extra)
    if rule is None:
        # The title is made up from the frames (no banner names the crash class): it must not
        # be an exact key (see signature.signature_of).
        extra["title_from"] = "frames"
    else:
        extra["kind_from"] = rule.name
    notes = (*report.notes, f"no crash banner: kind inferred from {rule.name}" if rule else
             "no crash banner and no evidence of the crash kind: titled by the frames")
    return [replace(report, extra=extra, notes=notes)]


def _scan_paste(lines: list[str]) -> tuple[int, frozenset[str], _PasteEvidence] | None:
    """One pass over a banner-less paste (its first :data:`MAX_HEADERLESS_LINES` lines): the line
    where its report starts, the names of its frames (and of the faulting instruction's function),
    and the evidence of its lines; None when it holds no crash (a stray frame or two)."""
    start = first_frame = first_dump = first_rip = None
    nframes = 0
    names: set[str] = set()
    registers = ud2 = task_state = False
    cr2: int | None = None
    for i, t in enumerate(lines[:MAX_HEADERLESS_LINES]):
        if start is None and _HEADERLESS_START.match(t):
            start = i
        raw = parse_frame(t)
        if raw is None:
            cm = CONTEXT_MARK.match(t)
            if cm is not None:
                raw = parse_frame(t[cm.end():])
        if raw is not None:
            nframes += 1
            names.add(normalize_function(raw.func))
            if first_frame is None:
                first_frame = i
            continue
        c = t[:1]
        if c in " RIEPpNeKsaCHWtxGLMr":  # the first characters of the lines looked for below
            if first_dump is None and _DUMP_START.match(t):
                first_dump = i
                task_state = task_state or t.startswith("task:")
            if first_rip is None and ("IP" in t or "pc" in t or "PC" in t or "epc" in t or "PSW" in t):
                rip = parse_rip(t.strip())
                if rip is not None:
                    first_rip = i
                    names.add(normalize_function(rip.func))
            if not registers and first_rip is not None and _REGISTERS.match(t):
                registers = True
            if t.lstrip().startswith("CR2: "):
                m2 = _CR2.match(t)
                if m2 and cr2 is None:
                    cr2 = int(m2.group(1), 16)
            if not ud2 and t.lstrip().startswith("Code: ") and _UD2.match(t):
                ud2 = True
    with_rip = first_rip is not None and (registers or first_dump is not None)
    if nframes < 3 and not with_rip:
        return None  # a stray frame or two is not a crash
    firsts = [i for i in (start, first_dump, first_rip) if i is not None]
    at = min(firsts) if firsts else first_frame
    if at is None:
        return None
    ev = _PasteEvidence(rip=first_rip is not None, registers=registers, cr2=cr2, ud2=ud2, task_state=task_state)
    return at, frozenset(names), ev


# What a huge log keeps (normalize.crash_windows): lines around crash headers and around the
# "Call Trace:" of banner-less excerpts.
_WINDOW_HINT = re.compile(fm.HEADER_HINT.pattern + r"|Call [Tt]race:|Backtrace:")


def _is_header_line(raw: str) -> bool:
    t = clean_line(raw).text
    if _HEADERLESS_START.match(t):
        return True
    if not fm.HEADER_HINT.search(t) or fm.suppressed(t):
        return False
    return _header_format(t) >= 0


def _overlay(f: fm.Format) -> bool:
    """Reports that are printed in the middle of another one without ending it: the panic
    banner (panic_on_warn, softlockup_panic) and unregister_netdevice's periodic complaint."""
    return f.name.startswith("panic") or f.name == "netdev-unregister"


# --- 2. headers ------------------------------------------------------------------------------

def _hint_lines(body: str) -> Iterator[int]:
    """Indexes, in order, of the lines with a fm.HEADER_HINT match: one scan of the joined
    lines (``body``) with its equivalent fm.HEADER_HINT_SCAN (hints hold no newline)."""
    i = pos = 0
    last = -1
    for m in fm.HEADER_HINT_SCAN.finditer(body):
        k = m.start()
        i += body.count("\n", pos, k)
        pos = k
        if i != last:
            last = i
            yield i


def _find_headers(lines: list[str], body: str) -> list[_Header]:
    """The lines that open a crash report (``body``: the lines joined with newlines)."""
    headers: list[_Header] = []
    last_banner = -10
    for i in _hint_lines(body):
        t = lines[i]
        if fm.suppressed(t):
            continue
        if headers and i - headers[-1].index <= fm.CONTINUATION_WINDOW:
            last = headers[-1]
            if fm.CONTINUATION.match(t.lstrip()):
                continue
            if last.fmt.absorbs is not None and last.fmt.absorbs.match(t.lstrip()):
                continue
        if headers and i - max(headers[-1].index, last_banner) <= 3 and _same_banner(headers[-1], lines[headers[-1].index], t):
            # Symbolized reports repeat the banner once per inlined frame
            # ("BUG: KASAN: use-after-free in atomic_read ... [inline]").
            last_banner = i
            continue
        k = _header_format(t)
        if k >= 0:
            f = fm.FORMATS[k]
            m = f.header.search(t)
            if m:
                prev = headers[-1] if headers else None
                if (prev is not None and i - prev.index <= 3 and prev.fmt.name in fm.GENERIC_WARNINGS
                        and f.name in fm.WARNING_MESSAGES):
                    # Old kernels print the WARN message after the "WARNING: at" line: the
                    # message names the crash class, the report starts at the WARNING line.
                    headers[-1] = _Header(prev.index, f, m)
                else:
                    headers.append(_Header(i, f, m))
        if len(headers) > MAX_REPORTS:
            break  # the last one only bounds the report before it
    return headers


@lru_cache(maxsize=4096)  # lines are at most normalize.MAX_LINE characters: a bounded memo
def _header_format(t: str) -> int:
    """Index in FORMATS of the first format whose header is on this line, or -1 (memoized:
    debug-spammed logs repeat the same hint-bearing line many times)."""
    if not fm.header_need(t):
        return -1  # no format's required literal is on the line (see formats.HEADER_NEED)
    for k, f in enumerate(fm.FORMATS):
        if f.header.search(t):
            return k
    return -1


def _same_banner(last: _Header, last_text: str, t: str) -> bool:
    if last.fmt.header.search(t) is not None:
        return True
    n = 0
    for a, b in zip(last_text, t, strict=False):
        if a != b:
            break
        n += 1
    return n >= 24


# --- 3..7. one report ------------------------------------------------------------------------

def _report_lines(lines: list[str], callers: list[str | None], h: _Header, end: int) -> tuple[list[str], str]:
    """The report's lines: header to end, bounded, de-interleaved by printk caller id; and them
    joined with newlines."""
    stop = min(end, h.index + MAX_REPORT_LINES)
    caller = callers[h.index]
    if caller is None:  # no de-interleaving: the lines up to the first end marker after the header
        out = lines[h.index:stop]
        body = "\n".join(out)
        for k in lines_containing(out, ("---[ end ",), body):
            if k > 0 and _END_TRACE.match(out[k]):
                out = out[:k + 1]
                return out, body[:sum(map(len, out)) + k]  # = "\n".join(out)
        return out, body
    out = []
    for j in range(h.index, stop):
        t = lines[j]
        other = callers[j]
        if caller is not None and other is not None and other != caller:
            continue
        if caller is not None and _ALL_CPUS.search(t):
            caller = None  # the report asks other CPUs for their stacks: keep every context
        out.append(t)
        if j > h.index and t.startswith("---[ end ") and _END_TRACE.match(t):  # its literal start
            break
    return out, "\n".join(out)


class _Built:
    """The reports already built from one log, by their lines: a report identical to an earlier one
    (a warning printed in a loop, the same splat every few seconds) is built once. Two reports are
    the same when their lines, the lines before them (machine context, device errors), their format
    and whether they end the log are; only their positions differ."""

    __slots__ = ("_by_head",)

    def __init__(self) -> None:
        self._by_head: dict[tuple[str, str, int, bool], list[tuple[list[str], list[str], Report]]] = {}

    def find(self, f: fm.Format, text_lines: list[str], before: list[str], at_end: bool) -> Report | None:
        for lines, prev, report in self._by_head.get((f.name, text_lines[0], len(text_lines), at_end), ()):
            if lines == text_lines and prev == before:
                return report
        return None

    def add(self, f: fm.Format, text_lines: list[str], before: list[str], at_end: bool, report: Report) -> None:
        self._by_head.setdefault((f.name, text_lines[0], len(text_lines), at_end), []).append(
            (text_lines, before, report))


def _build_report(lines: list[str], callers: list[str | None], h: _Header, end: int,
                  log_version: str | None, built: _Built | None = None) -> Report:
    """The report whose header is ``h``: its lines (:func:`_report_lines`), then what they say
    (:func:`_read_report`), then the machine context around them (:func:`_assemble`). A report
    identical to one already ``built`` from this log is that report at another position."""
    f = h.fmt
    text_lines, body = _report_lines(lines, callers, h, end)
    at_end = h.index + len(text_lines) >= len(lines)
    lo = max(0, h.index - 60)
    before = lines[lo:h.index]
    if built is not None:
        same = built.find(f, text_lines, before, at_end)
        if same is not None:
            return replace(same, start_line=h.index, end_line=h.index + len(text_lines), extra=dict(same.extra))
    report = _assemble(h, text_lines, body, before, _read_report(h, text_lines, body, at_end), log_version)
    if built is not None:
        built.add(f, text_lines, before, at_end, report)
    return report


class _Reading(NamedTuple):
    """What a report's own lines say: header fields, frames, the guilty frame, title, notes."""

    groups: dict[str, str]
    frames: list[Frame]
    guilty: Frame | None
    named: _TitleResult
    notes: list[str]


def _read_report(h: _Header, text_lines: list[str], body: str, at_end: bool) -> _Reading:
    f = h.fmt
    groups = _header_groups(h, text_lines)
    walk = _walk(text_lines, f, f.recipe)
    if not walk.candidates and f.recipe2:
        walk = _walk(text_lines, f, f.recipe2)
    guilty = None if f.no_stack else _guilty_frame(walk, f.extractor)
    func = guilty.function if guilty is not None else None
    named = _title(f, groups, text_lines[0], guilty, func, walk, text_lines, body, at_end=at_end)
    notes = [f"format {f.name}", *walk.notes, *named.notes]
    if guilty is not None and f.extractor == "hang" and guilty.note.startswith("bucket"):
        notes.append(guilty.note)
    return _Reading(groups, _shown_frames(walk, text_lines, f), guilty, named, notes)


def _header_groups(h: _Header, text_lines: list[str]) -> dict[str, str]:
    """The fields the header line gave, and those of the format's detail line (within the first
    lines of the report) when it has one."""
    f = h.fmt
    groups = {k: v for k, v in h.match.groupdict().items() if v is not None}
    if f.detail is not None:
        for t in text_lines[1:24]:
            m = f.detail.search(t)
            if m:
                groups.update({k: v for k, v in m.groupdict().items() if v is not None})
                break
    return groups


def _shown_frames(walk: _Walk, text_lines: list[str], f: fm.Format) -> list[Frame]:
    """The frames the report shows: the walk's, or those of the stack after the format's
    ``frames_from`` anchor when there is one."""
    if f.frames_from is not None:
        other = _walk(text_lines, f, (fm.Step("anchor", f.frames_from), fm.CALL_TRACE, fm.STACK))
        if other.frames:
            return other.frames
    return walk.frames


def _guilty_frame(walk: _Walk, extractor: str) -> Frame | None:
    """The format's extractor's pick among the walk's candidates; one named by the header line
    takes its file from its trace entry."""
    guilty = _extract(walk.candidates, extractor)
    if guilty is not None and guilty.file is None:
        func = guilty.function
        for fr in walk.frames:
            if fr.function == func and fr.file:
                return fr
    return guilty


def _assemble(h: _Header, text_lines: list[str], body: str, before: list[str], r: _Reading,
              log_version: str | None) -> Report:
    """The report: what its lines say (``r``) with the machine context of the lines around it
    (kernel version, taint, hardware, modules and which are out of tree, device errors)."""
    f = h.fmt
    lo = h.index - len(before)
    ctx = machine_context(before + text_lines, h.index - lo, "\n".join(before) + "\n" + body if before else body)
    guilty, named, groups, notes = r.guilty, r.named, r.groups, r.notes
    modules = tuple(ctx.get("mods", "").split())
    oot = _out_of_tree([*ctx.get("oot", "").split(), *([f.module] if f.module else [])], r.frames, modules)
    guilty_module = (guilty.module if guilty is not None else None) or f.module
    if guilty_module is not None and guilty_module in oot:
        notes.append(f"the guilty frame is in the out-of-tree module {guilty_module}")
    return Report(
        kind=f.kind,
        title=named.title,
        alt_titles=named.alts,
        guilty_frame=guilty.function if guilty is not None else None,
        frames=tuple(r.frames[:MAX_FRAMES]),
        corrupted=named.corrupted,
        corrupted_reason=named.reason,
        truncated=named.truncated,
        truncated_reason=named.truncated_reason,
        kernel_version=ctx.get("ver") or log_version,
        taint=ctx.get("taint"),
        taint_flags=decode_taint(ctx.get("taint")),
        hardware=ctx.get("hw"),
        comm=groups.get("comm") or ctx.get("comm"),
        pid=_int(groups.get("pid") or ctx.get("pid")),
        cpu=_int(groups.get("cpu") or groups.get("cpu2") or ctx.get("cpu")),
        modules=modules,
        guilty_file=guilty.file if guilty is not None else None,
        guilty_module=guilty_module,
        out_of_tree_modules=oot,
        device_errors=device_errors(before),
        start_line=h.index,
        end_line=h.index + len(text_lines),
        text=body[:MAX_TEXT],
        notes=tuple(notes),
        rules_version=RULES_VERSION,
    )


def _out_of_tree(flagged: list[str], frames: list[Frame], modules: tuple[str, ...]) -> tuple[str, ...]:
    """Modules of the report that are not part of the kernel tree: flagged (P)/(O) in "Modules
    linked in", or known out-of-tree modules (rules/out_of_tree.txt) among the frames' modules
    and the module list."""
    out = dict.fromkeys(flagged)
    for m in (*(fr.module for fr in frames if fr.module), *_known_out_of_tree_in(modules)):
        if m not in out and _known_out_of_tree(m):
            out[m] = None
    return tuple(out)


@lru_cache(maxsize=1024)  # a machine's module list recurs in its reports (and a fleet's logs)
def _known_out_of_tree_in(modules: tuple[str, ...]) -> tuple[str, ...]:
    """The known out-of-tree modules of a "Modules linked in" list, in its order."""
    return tuple(m for m in modules if _known_out_of_tree(m))


@lru_cache(maxsize=4096)  # module names are at most 64 characters (frames.MOD, context._MODULE_TOKEN)
def _known_out_of_tree(module: str) -> bool:
    return rules.out_of_tree_modules().match(module) is not None


def _int(s: str | None) -> int | None:
    if s is None:
        return None
    try:
        return int(s)
    except ValueError:
        return None


# --- 4. frames -----------------------------------------------------------------------------

@lru_cache(maxsize=131072)
def _skip_reason(name: str, skips: tuple[str, ...]) -> str | None:
    why = rules.skip_list().why(name)
    if why:
        return why
    extra = rules.class_skips()
    for key in skips:
        rx = extra.get(key)
        if rx is not None and rx.search(name):
            return f"generic for this crash class ({key})"
    return None


@lru_cache(maxsize=16384)  # = MEMO_FRAMES (keys: names <= 201 characters, paths <= 300)
def _frame(raw: RawFrame, context: Context, skips: tuple[str, ...],
           skip_contexts: frozenset[Context]) -> tuple[Frame, bool]:
    """The frame of a stack line in this context, and whether it is a guilty-frame candidate
    (:func:`_candidate`). Memoized: a frame seen again (another walk of the report, another
    report, a recursive stack, the same kernel's frames in another log) costs one lookup.
    Frames are immutable values, so one may sit at several places; _Walk tracks them by position."""
    fr = _make_frame(raw, context, skips, skip_contexts)
    return fr, _eligible(fr) and fr.context not in skip_contexts


def _make_frame(raw: RawFrame, context: Context, skips: tuple[str, ...],
                skip_contexts: frozenset[Context] = frozenset()) -> Frame:
    name = normalize_function(raw.func)
    skipped = False
    note = ""
    if context in skip_contexts:
        skipped = True
        note = f"skipped: runs on the {context.value.upper()} stack of the detector, not in the stuck code"
    elif not raw.reliable:
        note = "unreliable: printed with '?' by the unwinder"
    elif raw.inline:
        note = "inlined frame (symbolized trace)"
    else:
        why = _skip_reason(name, skips)
        if why:
            skipped = True
            note = f"skipped: {why}"
    # Positional, in the field order of Frame (function, raw_function, module, reliable, context,
    # file, line, inline, from_rip, skipped, note): a third cheaper than keywords, once per new frame.
    return Frame(name, raw.func, raw.module, raw.reliable, context, raw.file, raw.line, raw.inline, raw.from_rip,
                 skipped, note)


def _eligible(fr: Frame) -> bool:
    return fr.reliable and not fr.inline and not fr.skipped


def _relabel(w: _Walk, since: int, context: Context, f: fm.Format) -> None:
    old = w.frames[since:]
    keep = [(c, at) for c, at in zip(w.candidates, w.cand_at, strict=True) if at < since]
    if context in f.skip_contexts:
        why = f"skipped: runs on the {context.value.upper()} stack of the detector, not in the stuck code"
        new = [replace(fr, context=context, skipped=True, note=fr.note or why) for fr in old]
    else:
        new = [replace(fr, context=context) for fr in old]
    w.frames[since:] = new
    keep += [(fr, since + k) for k, fr in enumerate(new) if _candidate(fr, f)]
    w.candidates = [c for c, _ in keep]
    w.cand_at = [at for _, at in keep]


def _candidate(fr: Frame, f: fm.Format) -> bool:
    return _eligible(fr) and fr.context not in f.skip_contexts


class _StackLine(NamedTuple):
    """What the stack walk reads from one line (see :func:`_read_stack_line`)."""

    corrupt: bool  # a fault-injection frame (_CORRUPT_LINE): the stack is mixed with another
    mark: tuple[str, str] | None  # CONTEXT_MARK groups: (closing "/" or "", "IRQ"/"NMI"/...)
    rest: str  # the line after the mark
    blank: bool  # nothing follows the mark
    start: bool  # STACK_START: a new listing begins
    rip: RawFrame | None  # a faulting-instruction line
    frame: RawFrame | None  # parse_frame(rest)


# The memos of the stack walk are bounded in entries and, for lines, in size: a line longer
# than this is read without the memo (stack lines are ~40-150 characters; a hostile log of
# long unique lines must not pin MAX_LINE-sized strings). About 10 MB at most, all told.
MEMO_LINE = 200
MEMO_LINES = 16384
MEMO_FRAMES = 16384


def _read_stack_line(t: str) -> _StackLine:
    """One line as the stack walk sees it. Memoized (_stack_line_memo, for lines up to
    MEMO_LINE): a report's lines are walked more than once (recipe, recipe2, frames_from) and
    stacks repeat lines (recursion, the same kernel's frames in many reports). The parts are
    pure functions of the line; _walk decides what to use."""
    if "should_fail" in t and _CORRUPT_LINE.match(t):  # the literal the regex needs
        return _StackLine(True, None, t, False, False, None, None)
    mark = None
    cm = CONTEXT_MARK.match(t) if "<" in t[:9] else None  # the mark's "<" comes after <= 8 spaces
    if cm:
        mark = (cm.group(1), cm.group(2))
        t = t[cm.end():]
        if not t.strip():
            return _StackLine(False, mark, t, True, False, None, None)
    if is_stack_start(t):
        return _StackLine(False, mark, t, False, True, None, None)
    rip = parse_rip(t.strip()) if ("IP" in t or "PC" in t or "pc" in t) else None  # ("epc" holds "pc")
    return _StackLine(False, mark, t, False, False, rip, parse_frame(t))


_stack_line_memo = lru_cache(maxsize=MEMO_LINES)(_read_stack_line)


def _walk(text_lines: list[str], f: fm.Format, recipe: tuple[fm.Step, ...]) -> _Walk:
    """Run the format's recipe over the report's lines; collect frames and guilty candidates.

    Each step is a small rule (:data:`_STEP_RULES`, keyed by ``Step.op``) that reads the lines
    from the walk's cursor on and moves it; a step that finds nothing, or fails, is noted and
    the walk goes on with the next one."""
    w = _Walk()
    if f.drop_blocks:
        text_lines = _drop_blocks(text_lines, f.drop_blocks)
    if f.no_stack:
        recipe = (fm.CALL_TRACE, fm.STACK)
    for step in recipe:
        rule = _STEP_RULES.get(step.op)
        try:
            found = rule(w, text_lines, f, step) if rule is not None else False
        except Exception as exc:  # a rule bug loses this step, not the report
            w.notes.append(f"recipe step {step.op} failed: {exc!r}")
            continue
        if not found and step.op not in _SILENT_STEPS:
            w.notes.append(f"recipe step {step.op} found nothing")
    return w


def _step_stack(w: _Walk, text_lines: list[str], f: fm.Format, step: fm.Step) -> bool:
    """``stack``: the frames from the cursor to the end of the listing (the next STACK_START
    once frames were seen), with their IRQ/NMI/task context; the RIP line counts as the first
    frame when no ``rip`` step took it. The hot loop of the parser: state lives in locals."""
    n = len(text_lines)
    pos = w.pos
    context, marked, since, seen_rip = w.context, w.marked, w.since, w.seen_rip
    started = saw = False
    # ARM prints "a from b" per line: the last line's caller b has no line of its own
    # (syzkaller reads both names of each line). Added when the listing ends.
    pending: RawFrame | None = None
    after_frame = pos > 0 and bool(STACK_START.match(text_lines[pos - 1]))
    j = pos
    skips, skip_contexts = f.skips, f.skip_contexts
    frames = w.frames  # (appended to, and relabelled, in place)
    memo, read, frame_of, memo_line = _stack_line_memo, _read_stack_line, _frame, MEMO_LINE
    while j < n:
        t = text_lines[j]
        j += 1
        corrupt, mark, rest, blank, start, rip, raw = memo(t) if len(t) <= memo_line else read(t)
        if corrupt:
            w.corrupt_line = True
            continue
        if mark is not None:
            closing, name = mark
            if name in ("EOE", "EOI") and context is Context.TASK and not marked:
                # 3.x-4.x print only the end of an exception/IRQ stack ("<EOE>", "<EOI>"):
                # the frames since the last marker ran on the NMI/IRQ stack.
                _relabel(w, since, Context.IRQ if name == "EOI" else Context.NMI, f)
            marked = True
            since = len(frames)
            context = _context_of(closing, name)
            if blank:
                continue
        if start:
            if started:
                break
            after_frame = True
            continue
        if not seen_rip and rip is not None:
            fr, cand = frame_of(rip, context, skips, skip_contexts)
            w.add(fr, cand)
            seen_rip = True
            continue
        if raw is None and after_frame:
            raw = parse_bare(rest)
        if raw is None:
            after_frame = False
            if pending is not None:
                _add_caller(w, pending, context, f)
                pending = None
            continue
        pending = raw if raw.caller else None
        after_frame = started = saw = True
        fr, cand = frame_of(raw, context, skips, skip_contexts)
        if cand:
            w.candidates.append(fr)
            w.cand_at.append(len(frames))
        frames.append(fr)
        if len(frames) >= MAX_WALK_FRAMES:
            break
    if pending is not None and len(frames) < MAX_WALK_FRAMES:
        _add_caller(w, pending, context, f)
    w.saw_stack = w.saw_stack or saw
    w.pos = j
    w.context, w.marked, w.since, w.seen_rip = context, marked, since, seen_rip
    return True


def _step_rip(w: _Walk, text_lines: list[str], f: fm.Format, step: fm.Step) -> bool:
    """``rip``: the first faulting-instruction line (RIP/PC/NIP) from the cursor on is the
    first frame (and a candidate); at most one per walk."""
    if w.seen_rip:
        return False
    for j in range(w.pos, len(text_lines)):
        rip = parse_rip(text_lines[j].strip())
        if rip is None:
            continue
        fr = _make_frame(rip, w.context, f.skips, f.skip_contexts)
        w.add(fr, _candidate(fr, f))
        w.seen_rip = True
        w.pos = j + 1
        return True
    return False


def _step_anchor(w: _Walk, text_lines: list[str], f: fm.Format, step: fm.Step) -> bool:
    """``anchor``: move the cursor past the first line the step's regex matches."""
    return _search_step(w, text_lines, step) is not None


def _step_func(w: _Walk, text_lines: list[str], f: fm.Format, step: fm.Step) -> bool:
    """``func``: the first line the step's regex matches names a candidate in its ``func``
    group (a header line: "BUG: KASAN: ... in foo", lockdep's "at: foo+0x..")."""
    m = _search_step(w, text_lines, step)
    if m is None:
        return False
    if "func" in m.groupdict() and m.group("func"):
        raw = RawFrame(m.group("func"), None, True, None, None, False, False)
        fr = _make_frame(raw, w.context, f.skips, f.skip_contexts)
        if _eligible(fr):
            w.candidates.append(fr)
            w.cand_at.append(-1)
        else:
            w.notes.append(f"header frame {fr.function} {fr.note}")
    return True


def _search_step(w: _Walk, text_lines: list[str], step: fm.Step) -> re.Match[str] | None:
    """The first match of the step's regex from the cursor on; the cursor moves past its line."""
    if step.rx is None:
        return None
    search = step.rx.search
    for j in range(w.pos, len(text_lines)):
        m = search(text_lines[j])
        if m is not None:
            w.pos = j + 1
            return m
    return None


_StepRule = Callable[[_Walk, list[str], fm.Format, fm.Step], bool]
# Recipe steps (formats.Step.op) and the rule that runs each; the recipe orders them.
_STEP_RULES: dict[str, _StepRule] = {
    "stack": _step_stack,
    "rip": _step_rip,
    "anchor": _step_anchor,
    "func": _step_func,
}
# Steps whose finding nothing is normal (no RIP line; a stack step always "finds" its place).
_SILENT_STEPS = frozenset({"stack", "rip"})


def _add_caller(w: _Walk, raw: RawFrame, context: Context, f: fm.Format) -> None:
    assert raw.caller is not None
    fr = _make_frame(RawFrame(raw.caller, raw.caller_module, True, None, None, False, False), context,
                     f.skips, f.skip_contexts)
    w.add(fr, _candidate(fr, f))


def _drop_blocks(
    text_lines: list[str], blocks: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...]
) -> list[str]:
    out: list[str] = []
    end_rx: re.Pattern[str] | None = None
    for t in text_lines:
        if end_rx is not None:
            if not end_rx.search(t):
                continue
            end_rx = None
        for start, end in blocks:
            if start.search(t):
                end_rx = end
                break
        if end_rx is None:
            out.append(t)
    return out


def _context_of(closing: str, name: str) -> Context:
    if closing:
        return Context.TASK
    return {
        "IRQ": Context.IRQ, "SOFTIRQ": Context.SOFTIRQ, "NMI": Context.NMI, "TASK": Context.TASK,
        "EOI": Context.TASK, "EOE": Context.TASK,
    }.get(name, Context.EXCEPTION)


# --- 5. guilty frame -----------------------------------------------------------------------

def _extract(cands: list[Frame], extractor: str) -> Frame | None:
    if not cands:
        return None
    if extractor == "auto":  # a banner-less trace: a sleeping task's stack is read like a hang
        sleeping = rules.pattern_union("hang_skip.txt").search(cands[0].function) and "sched" in cands[0].function
        extractor = "hang" if sleeping else "first"
    if extractor == "stall":
        anchors = rules.pattern_union("stall_anchors.txt")
        prev = cands[0]
        for fr in cands:
            if anchors.search(fr.function) or anchors.search(strip_suffixes(fr.raw_function)):
                if "smp_call_function" in fr.function:
                    # smp_call_function_single/_many/...: one bucket (the IPI target varies).
                    return Frame(function="smp_call_function", raw_function=fr.raw_function, module=fr.module,
                                 context=fr.context, note="bucket: every smp_call_function* wait")
                return prev
            prev = fr
        # No anchor below the stalled code. syzkaller gives up here ("in corrupted"), but people
        # trim the stacks they paste (and 5.8+ page faults enter through exc_page_fault, which
        # is no anchor): the top specific frame names the stall.
        return cands[0]
    if extractor == "hang":
        for fr in cands:
            for rx, bucket in rules.hang_buckets():
                if rx.search(fr.function):
                    return Frame(function=bucket, raw_function=fr.raw_function, module=fr.module,
                                 context=fr.context, note=f"bucket: every wait in {bucket} is one hang class")
        skip = rules.pattern_union("hang_skip.txt")
        for fr in cands:
            if not skip.search(fr.function):
                return fr
        return None
    return cands[0]


# --- 6. title ------------------------------------------------------------------------------

class _Fmt(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return "?"


# What a panicking kernel prints last (kernel/panic.c): not output mixed into the report.
_PANIC_TAIL = ("---[ end ", "Kernel Offset:", "Rebooting in ", "Dumping ftrace buffer", "   (ftrace buffer empty)")


def _stack_problem(text_lines: list[str], has_frames: bool, *, keyword_needed: bool,
                   body: str | None = None) -> tuple[str, bool] | None:
    """Why the report's stack is missing or unusable, and whether the report is only cut short
    (True: truncated but consistent) rather than garbled (False); None when the stack is fine.

    Every "Call Trace:"/"backtrace:"/"Allocated by"/"Freed by" must be followed by frames
    (syzkaller's check): a keyword that ends the report is a paste cut there (truncated); one
    followed by other lines is output mixed into the report (corrupted). A report with a
    faulting-instruction line but no call trace at all was cut after its registers (truncated).
    """
    if not has_frames:
        return "no stack trace in report", False
    seen_keyword = False
    # Every _STACK_KEYWORD alternative contains "race" ([Tt]race:, backtrace:, backtrace (crc),
    # "Allocated" or "Freed": only the lines with one of them (few in a report) are tried.
    for j in lines_containing(text_lines, ("race", "Allocated", "Freed"), body):
        t = text_lines[j]
        if not _STACK_KEYWORD.search(t):
            continue
        seen_keyword = True
        found = False
        for k in range(j + 1, min(len(text_lines), j + 20)):
            nxt = text_lines[k]
            if _entry_memo(nxt) if len(nxt) <= MEMO_LINE else _stack_entry(nxt):
                found = True
                break
        if not found:
            rest = [x for x in text_lines[j + 1:] if x.strip() and not x.startswith(_PANIC_TAIL)]
            if not rest:
                return f"report cut after '{t.strip()[:40]}'", True
            return f"no frames after '{t.strip()[:40]}'", False
    if keyword_needed and not seen_keyword:
        return "no call trace in report: the guilty frame is the faulting instruction's", True
    return None


def _stack_entry(t: str) -> bool:
    """The line is an entry of a stack listing (a frame, a faulting instruction, a bare name) or
    says that the stack is not available. Memoized (_entry_memo): the lines after "Call Trace:"
    recur from report to report."""
    return ("stack is not available" in t or parse_frame(t) is not None or parse_rip(t.strip()) is not None
            or parse_bare(t) is not None)


_entry_memo = lru_cache(maxsize=4096)(_stack_entry)


@dataclass(slots=True)
class _TitleJob:
    """What the title rules read and write (see :data:`_TITLE_RULES`)."""

    f: fm.Format
    groups: dict[str, str]
    header: str
    guilty: Frame | None
    func: str | None
    walk: _Walk
    text_lines: list[str]
    body: str | None
    values: _Fmt = field(default_factory=_Fmt)
    template: str = ""
    alts: list[str] = field(default_factory=list)
    title: str = ""
    corrupted: bool = False
    reason: str | None = None
    truncated: bool = False
    truncated_reason: str | None = None
    notes: list[str] = field(default_factory=list)
    at_end: bool = False  # the report runs to the end of the pasted log


class _TitleResult(NamedTuple):
    title: str
    alts: tuple[str, ...]
    corrupted: bool
    reason: str | None
    truncated: bool
    truncated_reason: str | None
    notes: list[str]


def _title(
    f: fm.Format, groups: dict[str, str], header: str, guilty: Frame | None, func: str | None, walk: _Walk,
    text_lines: list[str], body: str | None = None, *, at_end: bool = False,
) -> _TitleResult:
    """Title, alternative titles, corrupted/truncated flags with their reasons, and notes: the
    title rules in order. A rule that fails is noted and the others go on (the header line is
    the title of last resort)."""
    job = _TitleJob(f, groups, header, guilty, func, walk, text_lines, body, at_end=at_end)
    for name, rule in _TITLE_RULES:
        try:
            rule(job)
        except Exception as exc:  # a rule bug must not lose the report
            job.notes.append(f"title rule {name} failed: {exc!r}")
    title = job.title or sanitize_title(header.strip())
    out_alts = tuple(dict.fromkeys(a for a in job.alts if a != title))
    truncated = job.truncated and not job.corrupted
    return _TitleResult(title, out_alts, job.corrupted, job.reason, truncated,
                        job.truncated_reason if truncated else None, job.notes)


def _title_values(job: _TitleJob) -> None:
    """The template's values: header (and detail) groups, the header line, derived names."""
    groups = job.groups
    values = job.values = _Fmt(groups)
    values["line"] = job.header.strip()
    if "f1" in groups:
        # KCSAN names both racing functions as printed (offsets and clone suffixes removed only).
        values["f1n"] = strip_suffixes(groups["f1"])
        values["f2part"] = f" / {strip_suffixes(groups['f2'])}" if groups.get("f2") else ""
    if "drv" not in values and "dev2" in groups:
        values["drv"] = groups["dev2"]
    src = groups.get("src") or groups.get("src2")
    if src:
        values["src"] = src
    expr = groups.get("assert")
    if expr and len(expr) > MAX_ASSERTION:
        # OpenZFS assertions can be long: the title keeps their start and the function.
        values["assert"] = expr[:MAX_ASSERTION - 4].rstrip() + "...)"
    job.template = job.f.title


def _title_missing_detail(job: _TitleJob) -> None:
    """A template value that only a detail line gives ({rw}: KASAN's "Read of size" line) and
    the line is missing: the title goes without it; the report was cut (truncated)."""
    for name in ("rw",):
        if "{" + name + "}" in job.template and name not in job.groups:
            job.template = job.template.replace(" {" + name + "}", "")
            _truncate(job, "report truncated: access type line missing")


def _title_fixed_alts(job: _TitleJob) -> None:
    """Alternative titles that name no frame."""
    for a in job.f.alts:
        if "{func}" not in a:
            job.alts.append(a.format_map(job.values))


_LOCATION = re.compile(r" in \{func\}(?:/(?P<rest>\S+))?|\{func\}")


def _unlocated(template: str) -> str:
    """The title template without its location: "BUG: soft lockup in {func}" -> "BUG: soft
    lockup"; "WARNING in {func}/usb_submit_urb" -> "WARNING in usb_submit_urb"."""
    return _LOCATION.sub(lambda m: f" in {m.group('rest')}" if m.group("rest") else "", template).strip()


def _title_name(job: _TitleJob) -> None:
    """The title itself: the template with the guilty frame (and its syscall-wrapper variants
    as alternatives); without a frame, the format's fallback title or the header's crash class
    without a location (the report is then corrupted: nothing says where it crashed)."""
    f, values, template, func, guilty = job.f, job.values, job.template, job.func, job.guilty
    if f.no_stack or "{func}" not in template:
        job.title = template.format_map(values)
    elif func is not None:
        raw = strip_suffixes(guilty.raw_function) if guilty is not None and guilty.raw_function else func
        variants = syscall_variants(raw) if normalize_function(raw) == func else (func,)
        job.title = template.format_map(_Fmt(values, func=variants[0]))
        for v in variants[1:]:
            job.alts.append(template.format_map(_Fmt(values, func=v)))
        for a in (a for a in f.alts if "{func}" in a):
            for v in variants:
                job.alts.append(a.format_map(_Fmt(values, func=v)))
    else:
        job.corrupted = True
        job.reason = "no usable stack frame" if not job.walk.frames else "every frame is generic or unreliable"
        if f.fallback_title and not (
                f.fallback_unless is not None and any(f.fallback_unless.search(t) for t in job.text_lines[1:5])):
            job.title = f.fallback_title.format_map(values)
        else:
            job.title = _unlocated(template).format_map(values)


def _title_format_corrupted(job: _TitleJob) -> None:
    """Formats that by themselves mean an unusable report (formats.Format.corrupted)."""
    if job.f.corrupted:
        job.corrupted, job.reason = True, job.f.corrupted


def _title_fault_injection(job: _TitleJob) -> None:
    """A fault-injection stack (should_fail) printed into this one: the frames are mixed with
    another stack's, so the function the title would name may be that stack's. The title loses
    its location (the named one stays an alternative)."""
    if job.walk.corrupt_line and not job.corrupted:
        job.corrupted, job.reason = True, "fault-injection stack intermixed"
        if job.func is not None and "{func}" in job.template:
            job.alts.insert(0, job.title)
            job.title = _unlocated(job.template).format_map(job.values)


def _title_stack_check(job: _TitleJob) -> None:
    """syzkaller's corruption check (_stack_problem): a stack cut where the paste ends is a
    truncated report (it keeps its title and guilty frame), other lines where frames should be
    make it corrupted."""
    f = job.f
    if not job.corrupted and not f.no_stack:
        problem = _stack_problem(job.text_lines, bool(job.walk.frames or job.walk.candidates),
                                 keyword_needed=f.kind not in _KEYWORDLESS, body=job.body)
        if problem is None:
            return
        why, cut = problem
        if cut:
            _truncate(job, why)
        else:
            job.corrupted, job.reason = True, why


def _title_stack_cut(job: _TitleJob) -> None:
    """A paste that ends inside the call trace (its last line a frame, and that frame no entry
    point such as entry_SYSCALL_64 or ret_from_fork): the rest of the stack is missing, so the
    report is truncated. Its title and guilty frame stand."""
    if job.corrupted or job.truncated or job.f.no_stack or not job.at_end or not job.walk.saw_stack:
        return
    last = next((t for t in reversed(job.text_lines) if t.strip()), "")
    if _mid_stack_memo(last) if len(last) <= MEMO_LINE else _mid_stack(last):
        _truncate(job, "the paste ends inside the call trace")


def _mid_stack(last: str) -> bool:
    """The line is a reliable frame that no stack ends with (rules/stack_bottoms.txt). Memoized
    (_mid_stack_memo): the last lines of pastes recur."""
    raw = parse_frame(last)
    if raw is None:
        cm = CONTEXT_MARK.match(last)
        raw = parse_frame(last[cm.end():]) if cm is not None else None
    return raw is not None and raw.reliable and not rules.pattern_union("stack_bottoms.txt").search(
        normalize_function(raw.func))


_mid_stack_memo = lru_cache(maxsize=1024)(_mid_stack)


def _title_panic_only(job: _TitleJob) -> None:
    """A bare "Kernel panic - not syncing: Fatal exception": the cause is elsewhere."""
    if not job.corrupted and job.f.name.startswith("panic") and job.f.name in ("panic-corrupt",):
        job.corrupted, job.reason = True, "panic message only: the cause is in an earlier report or missing"


def _title_format_truncated(job: _TitleJob) -> None:
    """Formats that are partial by nature (a banner-less paste whose kind was inferred)."""
    if job.f.truncated:
        _truncate(job, job.f.truncated)


def _title_sanitize(job: _TitleJob) -> None:
    """syzkaller's ADDR/NUM/LINE replacements (identifier values such as driver names kept)."""
    job.title = _protect_sanitize(job.title, job.values, job.f.keep_numbers)
    job.alts = [_protect_sanitize(a, job.values, False) for a in job.alts]


def _truncate(job: _TitleJob, why: str) -> None:
    if not job.truncated:
        job.truncated, job.truncated_reason = True, why


# The title rules, in order: values first; the title is named before the corruption checks
# (which may take its location away); sanitizing comes last, over the final title and
# alternatives. A report both truncated and corrupted is corrupted.
_TITLE_RULES: tuple[tuple[str, Callable[[_TitleJob], None]], ...] = (
    ("values", _title_values),
    ("missing-detail", _title_missing_detail),
    ("fixed-alts", _title_fixed_alts),
    ("name", _title_name),
    ("format-corrupted", _title_format_corrupted),
    ("format-truncated", _title_format_truncated),
    ("fault-injection", _title_fault_injection),
    ("stack-check", _title_stack_check),
    ("stack-cut", _title_stack_cut),
    ("panic-only", _title_panic_only),
    ("sanitize", _title_sanitize),
)


# Names that are identifiers, not numbers: a driver called "e1000e" must not become "ADDR".
_PROTECTED = ("drv",)


def _protect_sanitize(title: str, values: dict[str, str], keep_numbers: bool) -> str:
    saved: dict[str, str] = {}
    for n, key in enumerate(_PROTECTED):
        v = values.get(key)
        if v and v != "?" and v in title:
            token = f"QQPROTECTED{n}QQ"
            saved[token] = v
            title = title.replace(v, token)
    title = sanitize_title(title, keep_numbers=keep_numbers)
    for token, v in saved.items():
        title = title.replace(token, v)
    return title


__all__ = ["RULES_VERSION", "Kind", "parse_log"]
