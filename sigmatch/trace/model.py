"""The parser's output types: :class:`Frame` and :class:`Report`.

Values only: no parsing logic lives here, so every layer (catalog, matcher, web, chat) can
import these without pulling in the parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Kind(StrEnum):
    """Crash families (coarse; the title carries the detail)."""

    SOFT_LOCKUP = "soft_lockup"
    HARD_LOCKUP = "hard_lockup"
    HUNG_TASK = "hung_task"
    RCU_STALL = "rcu_stall"
    WORKQUEUE_LOCKUP = "workqueue_lockup"
    KASAN = "kasan"
    KMSAN = "kmsan"
    KCSAN = "kcsan"
    KFENCE = "kfence"
    UBSAN = "ubsan"
    NULL_DEREF = "null_deref"
    PAGING_REQUEST = "page_fault"
    GPF = "gpf"
    CPU_EXCEPTION = "cpu_exception"  # divide error, invalid opcode, stack segment, double fault, int3
    WARNING = "warning"
    KERNEL_BUG = "kernel_bug"  # kernel BUG at file:line / BUG_ON
    LOCKDEP = "lockdep"
    ATOMIC_SLEEP = "atomic_sleep"  # sleeping in atomic context, scheduling while atomic
    LIST_CORRUPTION = "list_corruption"
    REFCOUNT = "refcount"
    BAD_PAGE = "bad_page"
    MEMORY_LEAK = "memory_leak"
    PAGE_ALLOC_FAILURE = "page_alloc_failure"
    OOM = "oom"
    PANIC = "panic"
    NETDEV_WATCHDOG = "netdev_watchdog"
    NETDEV_REFCOUNT = "netdev_refcount"  # unregister_netdevice: waiting for X to become free
    RUST_PANIC = "rust_panic"
    BUG_OTHER = "bug_other"
    OTHER = "other"


class Context(StrEnum):
    """Which stack a frame was printed in."""

    TASK = "task"
    IRQ = "irq"
    SOFTIRQ = "softirq"
    NMI = "nmi"
    EXCEPTION = "exception"  # #DF / exception stacks (<EOE>, <#DF>)
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Frame:
    """One stack frame, normalized.

    ``function`` has offsets, ``.isra.N``/``.constprop.N``/``.part.N``/``.cold`` suffixes and
    syscall-wrapper prefixes removed; ``raw_function`` keeps the name as printed. ``note`` says
    why the frame was kept, skipped or altered ("skipped: generic allocator frame").
    """

    function: str
    raw_function: str = ""
    module: str | None = None
    reliable: bool = True
    context: Context = Context.TASK
    file: str | None = None
    line: int | None = None
    inline: bool = False
    from_rip: bool = False  # the faulting instruction (RIP/PC/IP line), not a Call Trace entry
    skipped: bool = False  # a generic frame that is not part of the signature
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        # Spelled out: dataclasses.asdict deep-copies and costs ~10x more (this runs per frame per answer).
        return {
            "function": self.function,
            "raw_function": self.raw_function,
            "module": self.module,
            "reliable": self.reliable,
            "context": self.context.value,
            "file": self.file,
            "line": self.line,
            "inline": self.inline,
            "from_rip": self.from_rip,
            "skipped": self.skipped,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """One crash report found in a log (a log may hold several; the primary one comes first)."""

    kind: Kind
    title: str
    alt_titles: tuple[str, ...] = ()
    guilty_frame: str | None = None
    frames: tuple[Frame, ...] = ()
    corrupted: bool = False
    corrupted_reason: str | None = None
    kernel_version: str | None = None
    taint: str | None = None
    hardware: str | None = None
    comm: str | None = None
    pid: int | None = None
    cpu: int | None = None
    modules: tuple[str, ...] = ()
    guilty_file: str | None = None  # source file of the guilty frame when the trace is symbolized
    start_line: int = 0  # 0-based line numbers of the report in the cleaned log
    end_line: int = 0
    text: str = ""  # the report's lines, prefixes (timestamps, syslog) removed
    notes: tuple[str, ...] = ()  # what rules did, and rules that failed
    rules_version: str = ""
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def guilty_function(self) -> str | None:
        return self.guilty_frame

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "title": self.title,
            "alt_titles": list(self.alt_titles),
            "guilty_frame": self.guilty_frame,
            "guilty_file": self.guilty_file,
            "frames": [f.to_dict() for f in self.frames],
            "corrupted": self.corrupted,
            "corrupted_reason": self.corrupted_reason,
            "kernel_version": self.kernel_version,
            "taint": self.taint,
            "hardware": self.hardware,
            "comm": self.comm,
            "pid": self.pid,
            "cpu": self.cpu,
            "modules": list(self.modules),
            "start_line": self.start_line,
            "end_line": self.end_line,
            "notes": list(self.notes),
            "rules_version": self.rules_version,
            "extra": dict(self.extra),
        }
