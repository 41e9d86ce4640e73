"""Related stacks: where else in the log the cause of the primary report may be. Pure, bounded.

A hung task is usually a victim: the bug is in the task that holds the lock it waits for, or in
another blocked task. khungtaskd prints every blocked task, then (with lockdep) "Showing all locks
held in the system:" and, with ``hung_task_all_cpu_backtrace``/syzkaller's settings, an NMI
backtrace of every CPU. kmemleak prints one "unreferenced object" per leaked object; the first one
is often a long-lived boot-time object, the others the leak being hunted. This module reads those
parts of the log and returns their frames (most telling first), for the matcher to use as weaker
evidence than the primary report's own stack:

1. for a hung task: the frames of the lock holders (tasks that hold the lock the blocked task
   waits for and went on to take another one: lockdep lists the waited-for lock last; or tasks
   running on another CPU whose locks lockdep could not list), from their NMI backtrace, their
   own blocked-task report or their lock sites; then the other blocked tasks' waiters; then the
   other running tasks of the NMI backtraces (not khungtaskd, not idle CPUs);
2. for a memory leak: the first non-allocator frame of every other leaked object.

:func:`wait_frames` reads the blocked task's own stack once more: the frames between the
scheduler and the guilty frame that are neither scheduler nor sleeping-lock frames
(``hang_skip.txt``) are what the task sleeps in (``usb_kill_urb`` under ``hub_port_init``): the
guilty frame is where the victim waits, these say what it waits for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from functools import lru_cache

from sigmatch.trace import rules
from sigmatch.trace.frames import CONTEXT_MARK, is_stack_start, parse_frame, parse_rip
from sigmatch.trace.model import Frame, Kind, Report
from sigmatch.trace.normalize import lines_containing, normalize_function

RELATED_KINDS = frozenset({Kind.HUNG_TASK, Kind.MEMORY_LEAK})  # kinds whose other stacks are read
MAX_RELATED = 12  # frames returned
MAX_STACK_FRAMES = 4  # specific frames taken from one related stack
MAX_SCAN_LINES = 20000
MAX_LISTING = 400_000  # characters of lockdep's lock listing read
MAX_WAIT_FRAMES = 3  # frames a blocked task sleeps in, returned by wait_frames

# The listing's task lines, and the lock lines of one task's block (a lock line may be wrapped
# after its address or after "at:" by mailers and terminals).
_TASK_HEAD = re.compile(r"\d+ locks? held by (?P<comm>.{1,64})/(?P<pid>\d+):")
_LOCK_SITE = re.compile(
    r"#\d+: ([0-9a-f]{8,16})\s{1,3}\([^)\n]{1,120}\)[^\n]{0,80}?,\s{0,3}at:\s{1,3}"
    r"(?:\[<[0-9a-f]{1,16}>\] {1,2})?([A-Za-z_][A-Za-z0-9_.]{0,200})")
_NMI_CPU = re.compile(r"^NMI backtrace for cpu \d+")
_CPU_LINE = re.compile(r"^CPU: \d+ (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>\S{1,64})")
_HUNG_HEADER = re.compile(r"^INFO: task (?P<comm>.{1,64}):(?P<pid>\d+) blocked for more than")
# CPUs with nothing to say: the watchdog itself, the idle loop.
_QUIET_COMMS = frozenset({"khungtaskd", "swapper"})
_IDLE_DEPTH = 3  # a CPU whose top frames are the idle loop's is idle
_IDLE = re.compile(r"idle|cpuidle|halt|mwait|poll_idle|do_idle|cpu_startup_entry")


@dataclass(slots=True)
class _Task:
    comm: str
    pid: str
    locks: list[tuple[str, str]] = field(default_factory=list)  # (address, function), in order


def related_frames(primary: Report, reports: list[Report], lines: list[str], body: str | None = None) -> tuple[Frame, ...]:
    """The frames of the stacks in ``lines`` (the cleaned log) that may hold the primary report's
    cause; () for kinds where other stacks say nothing more. ``body``: the lines joined with
    newlines, when the caller has it."""
    if primary.kind is Kind.HUNG_TASK:
        if len(lines) > MAX_SCAN_LINES:
            lines, body = lines[:MAX_SCAN_LINES], None
        out = _hung_task(primary, reports, lines, "\n".join(lines) if body is None else body)
    elif primary.kind is Kind.MEMORY_LEAK:
        out = [r_frame for r in reports[1:32] if r.kind is Kind.MEMORY_LEAK
               for r_frame in _guilty(r) if r_frame.function != primary.guilty_frame]
    else:
        return ()
    seen: set[str] = {primary.guilty_frame or ""}
    kept: list[Frame] = []
    for fr in out:
        if fr.function in seen:
            continue
        seen.add(fr.function)
        kept.append(fr)
        if len(kept) >= MAX_RELATED:
            break
    return tuple(kept)


def wait_frames(report: Report) -> tuple[Frame, ...]:
    """The frames a hung task sleeps in: above its guilty frame, reliable, neither scheduler nor
    sleeping-lock frames (``hang_skip.txt``), top first; () for other kinds, for a task whose
    stack is all waits (a mutex, a completion) and when the guilty frame is a bucket."""
    if report.kind is not Kind.HUNG_TASK or report.guilty_frame is None:
        return ()
    skip = rules.pattern_union("hang_skip.txt")
    out: list[Frame] = []
    for f in report.frames:
        if f.function == report.guilty_frame:
            return tuple(out)
        if (f.reliable and f.function not in {o.function for o in out}
                and not skip.search(f.function) and len(out) < MAX_WAIT_FRAMES):
            out.append(f)
    return ()  # the guilty frame is no frame of the stack (a bucket: rtnl_lock, synchronize_rcu)


def _guilty(r: Report) -> list[Frame]:
    if r.guilty_frame is None:
        return []
    why = "related: guilty frame of another report"
    for fr in r.frames:
        if fr.function == r.guilty_frame:
            return [replace(fr, note=why)]
    return [Frame(function=r.guilty_frame, file=r.guilty_file, note=why)]


def _hung_task(primary: Report, reports: list[Report], lines: list[str], text: str) -> list[Frame]:
    """``text``: the lines joined, for the literal searches of both readers."""
    blocked = {str(r.pid): r for r in reports if r.kind is Kind.HUNG_TASK and r.pid is not None}
    tasks = _held_locks(text)
    running = _nmi_stacks(lines, text)
    holders = _lock_holders(str(primary.pid) if primary.pid is not None else None, tasks)
    # A task running on another CPU that lockdep lists as holding locks it cannot print (they
    # are being taken and released as it runs) holds them too.
    holders += [pid for pid in running if pid in tasks and pid not in holders and not tasks[pid].locks]
    out: list[Frame] = []
    for pid in holders:
        if pid in running:
            out += [replace(f, note="related: lock holder (running)") for f in running[pid]]
        elif pid in blocked and blocked[pid] is not primary:
            out += _specific(blocked[pid].frames, "lock holder (blocked)")
        else:
            task = tasks[pid]
            out += _specific([_named(func) for _, func in reversed(task.locks)], "lock holder: where it took its locks")
    for r in reports:
        if r is not primary and r.kind is Kind.HUNG_TASK:
            out += _guilty(r)
    for pid, frames in running.items():
        if pid not in holders:
            out += frames
    return out


def _held_locks(text: str) -> dict[str, _Task]:
    """lockdep's "Showing all locks held in the system:" listing: pid -> its locks, in order.
    Mail-wrapped listings ("at:" and the site on the next line) are read too. The listing can
    run to thousands of lines ("[inline]" sites): it is cut into task blocks by one regex, and
    each block's locks are read by another (``text``: the log's lines joined)."""
    tasks: dict[str, _Task] = {}
    k = text.find("Showing all locks held")
    if k < 0:
        return tasks
    start = text.find("\n", k) + 1
    if start == 0:
        return tasks
    end = min(start + MAX_LISTING, len(text))
    for stop in ("\n====", "\nNMI backtrace"):
        j = text.find(stop, start, end)
        if j >= 0:
            end = j
    # The listing is text[start:end], read in place (no copy of it or of its blocks). The task
    # lines, found by their literal (a ^-anchored regex would be tried at every position).
    heads: list[tuple[int, int, re.Match[str]]] = []
    k = text.find(" held by ", start, end)
    while k >= 0:
        line_start = max(start, text.rfind("\n", start, k) + 1)
        line_end = text.find("\n", k, end)
        line_end = end if line_end < 0 else line_end
        m = _TASK_HEAD.match(text, line_start, line_end)
        if m is not None:
            heads.append((line_start, m.end(), m))
        k = text.find(" held by ", line_end, end)
    for n, (_, after, m) in enumerate(heads):
        pid = m.group("pid")
        task = tasks.get(pid)
        if task is None:
            task = tasks[pid] = _Task(m.group("comm"), pid)
        locks = task.locks
        for addr, func in _LOCK_SITE.findall(text, after, heads[n + 1][0] if n + 1 < len(heads) else end):
            if locks and locks[-1][0] == addr:
                locks[-1] = (addr, func)  # the same lock again ("[inline]" sites): keep the last site
            else:
                locks.append((addr, func))
    return tasks


def _lock_holders(pid: str | None, tasks: dict[str, _Task]) -> list[str]:
    """Tasks that hold the lock the blocked task ``pid`` waits for: it is the last lock lockdep
    lists for the waiter; a holder lists it and then another lock it took after it."""
    if pid is None or pid not in tasks or not tasks[pid].locks:
        return []
    waited = tasks[pid].locks[-1][0]
    out = []
    for other, task in tasks.items():
        if other == pid:
            continue
        addrs = [a for a, _ in task.locks]
        if waited in addrs[:-1]:
            out.append(other)
    return out


def _nmi_stacks(lines: list[str], text: str) -> dict[str, list[Frame]]:
    """pid -> the specific frames of each CPU's NMI backtrace (RIP first), but khungtaskd's and
    idle CPUs'."""
    out: dict[str, list[Frame]] = {}
    starts = [j for j in lines_containing(lines, ("NMI backtrace for cpu",), text) if _NMI_CPU.match(lines[j].strip())]
    for n, j in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else min(len(lines), j + 200)
        pid = comm = None
        raws: list[Frame] = []
        specific = 0  # of raws: once the CPU is named, its idle check and specific frames known, read no more
        started = False
        for t in lines[j + 1:end]:
            if pid is None:
                m = _CPU_LINE.match(t.strip())
                if m:
                    pid, comm = m.group("pid"), m.group("comm")
                    if comm.split("/")[0] in _QUIET_COMMS:
                        break  # khungtaskd, idle: left out below whatever its frames are
                    continue
            if (t.startswith("INFO: task ") and _HUNG_HEADER.match(t)) or (started and is_stack_start(t)):
                break  # (the literal _HUNG_HEADER starts with)
            if "+0x" not in t and "[inline]" not in t:
                continue  # registers, code bytes, markers: no frame (every frame line has one of them)
            read = _nmi_line_memo(t) if len(t) <= MEMO_LINE else _nmi_line(t)
            if read is None:
                continue
            fr, from_rip = read
            started = started or not from_rip
            raws.append(fr)
            specific += _is_specific(fr)
            if pid is not None and specific >= MAX_STACK_FRAMES and len(raws) >= _IDLE_DEPTH:
                break
        if pid is None or comm is None or comm.split("/")[0] in _QUIET_COMMS:
            continue
        if any(_IDLE.search(f.function) for f in raws[:_IDLE_DEPTH]):
            continue
        frames = _specific(raws, "running on another CPU")
        if frames:
            out.setdefault(pid, frames)
    return out


def _nmi_line(t: str) -> tuple[Frame, bool] | None:
    """The frame of one line of an NMI backtrace, and whether it is the faulting-instruction
    line; None when the line is no frame. Memoized (_nmi_line_memo, for lines up to MEMO_LINE):
    the CPUs' backtraces share their NMI and interrupt entry frames, and a batch of logs of one
    kernel shares its lines. The frame is a value, shared by every stack it is in."""
    s = t.strip()
    rip = parse_rip(s) if s.startswith(("RIP", "pc", "IP", "NIP", "EIP", "epc")) else None
    cm = CONTEXT_MARK.match(t) if "<" in t[:9] else None
    raw = rip or parse_frame(t[cm.end():] if cm else t)
    if raw is None:
        return None
    return Frame(function=normalize_function(raw.func), raw_function=raw.func, module=raw.module,
                 reliable=raw.reliable, file=raw.file, line=raw.line, inline=raw.inline,
                 from_rip=raw.from_rip, note="related: running on another CPU"), rip is not None


# Bounded like the stack walk's memo (parse.MEMO_LINE, MEMO_LINES): lines are ~40-150 characters.
MEMO_LINE = 200
_nmi_line_memo = lru_cache(maxsize=4096)(_nmi_line)


def _specific(frames: tuple[Frame, ...] | list[Frame], why: str) -> list[Frame]:
    """The first specific frames of a stack (reliable, not inlined, not on the skip or hang-skip
    lists), as related frames."""
    out = []
    for f in frames:
        if not _is_specific(f):
            continue
        out.append(Frame(function=f.function, raw_function=f.raw_function, module=f.module, file=f.file,
                         line=f.line, note=f"related: {why}"))
        if len(out) >= MAX_STACK_FRAMES:
            break
    return out


def _is_specific(f: Frame) -> bool:
    return f.reliable and not f.inline and not f.skipped and not _generic(f.function)


@lru_cache(maxsize=16384)  # function names are at most 201 characters (frames._NAME)
def _generic(function: str) -> bool:
    """On the skip list or the hang-skip list (memoized: the same kernel functions recur)."""
    return bool(rules.skip_list().why(function) or rules.pattern_union("hang_skip.txt").search(function))


def _named(func: str) -> Frame:
    return Frame(function=normalize_function(func), raw_function=func)
