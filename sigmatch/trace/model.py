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
    OPENZFS = "openzfs"  # an OpenZFS/SPL assertion or panic: VERIFY(...) failed, PANIC at file.c:N:func()
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
class DeviceError:
    """A device or driver error printed just before a report ("usb 5-1: device descriptor read/64,
    error -71", "EXT4-fs error (device sda1): ext4_lookup:1855: ..."): context, and a weak clue."""

    line: str  # the line as cleaned (prefixes removed)
    driver: str | None = None  # the driver or subsystem that printed it ("usb", "au0828", "EXT4-fs")
    device: str | None = None  # the device it names ("5-1", "0000:03:00.0", "sda1")
    functions: tuple[str, ...] = ()  # kernel functions the line names ("ext4_lookup")

    def to_dict(self) -> dict[str, Any]:
        return {"line": self.line, "driver": self.driver, "device": self.device, "functions": list(self.functions)}


@dataclass(frozen=True, slots=True)
class Report:
    """One crash report found in a log (a log may hold several; the primary one comes first)."""

    kind: Kind
    title: str
    alt_titles: tuple[str, ...] = ()
    guilty_frame: str | None = None
    frames: tuple[Frame, ...] = ()
    corrupted: bool = False  # interleaved, garbled or without any usable frame: never matched confidently
    corrupted_reason: str | None = None
    # cut short but consistent (no call trace after the RIP line, no banner before "CPU: ..."):
    # kind, title and guilty frame stand; the matcher decides with its rule for partial reports
    truncated: bool = False
    truncated_reason: str | None = None
    kernel_version: str | None = None
    taint: str | None = None
    taint_flags: tuple[str, ...] = ()  # the taint letters decoded ("O: out-of-tree module loaded")
    hardware: str | None = None
    comm: str | None = None
    pid: int | None = None
    cpu: int | None = None
    modules: tuple[str, ...] = ()
    guilty_file: str | None = None  # source file of the guilty frame when the trace is symbolized
    guilty_module: str | None = None  # the module the guilty frame is in ("zfs"), None for vmlinux
    # modules of this report that are not part of the kernel tree (flagged (O)/(P) in "Modules
    # linked in", or known out-of-tree modules such as zfs and nvidia): see out_of_tree
    out_of_tree_modules: tuple[str, ...] = ()
    device_errors: tuple[DeviceError, ...] = ()  # device/driver errors printed just before the report
    # frames of other stacks in the log that may hold the cause (a hung task's lock holder, other
    # leaked objects): weaker evidence than ``frames`` (see sigmatch.trace.related)
    related_frames: tuple[Frame, ...] = ()
    start_line: int = 0  # 0-based line numbers of the report in the cleaned log
    end_line: int = 0
    text: str = ""  # the report's lines, prefixes (timestamps, syslog) removed
    notes: tuple[str, ...] = ()  # what rules did, and rules that failed
    rules_version: str = ""
    extra: dict[str, str] = field(default_factory=dict, hash=False, compare=False)

    @property
    def guilty_function(self) -> str | None:
        return self.guilty_frame

    @property
    def out_of_tree(self) -> str | None:
        """The out-of-tree module the guilty frame is in, when it is in one: the crash is that
        module's to explain (its maintainers), not an in-tree bug's."""
        m = self.guilty_module
        return m if m is not None and m in self.out_of_tree_modules else None

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
            "truncated": self.truncated,
            "truncated_reason": self.truncated_reason,
            "kernel_version": self.kernel_version,
            "taint": self.taint,
            "taint_flags": list(self.taint_flags),
            "hardware": self.hardware,
            "comm": self.comm,
            "pid": self.pid,
            "cpu": self.cpu,
            "modules": list(self.modules),
            "guilty_module": self.guilty_module,
            "out_of_tree_modules": list(self.out_of_tree_modules),
            "out_of_tree": self.out_of_tree,
            "device_errors": [d.to_dict() for d in self.device_errors],
            "related_frames": [f.to_dict() for f in self.related_frames],
            "start_line": self.start_line,
            "end_line": self.end_line,
            "notes": list(self.notes),
            "rules_version": self.rules_version,
            "extra": dict(self.extra),
        }
