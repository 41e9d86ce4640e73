"""The table of crash formats: how each crash family starts, how it is titled, where its guilty frame is.

One ordered table (first match wins, so specific formats come before generic ones). Each entry:

* ``header``: a regex searched in the header line (its named groups feed the title);
* ``title``: the title template, syzbot's convention; ``{func}`` is the guilty frame, other
  ``{names}`` are header groups (and groups of ``detail``, searched in the next lines);
* ``recipe``: the steps that find guilty-frame candidates (RIP line first for faults, the frame
  named in the header for KASAN/WARNING, then the Call Trace);
* ``extractor``: ``first`` candidate, ``stall`` (frame above the first anchor) or ``hang``;
* ``skips``: extra skip lists (keys of rules/class_skips.txt) for this family;
* ``alts``: alternative-title templates (syzbot merges bugs across these);
* ``corrupted``: the format itself means a truncated/unusable report (reason).

Kernel-version quirks are noted where a format exists for them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sigmatch.trace.model import Context, Kind

NAME = r"[A-Za-z_$][A-Za-z0-9_.$]{0,200}"


@dataclass(frozen=True, slots=True)
class Step:
    """One recipe step: ``func`` (a line regex with a ``func`` group: a candidate), ``anchor``
    (move past the first line matching), ``rip`` (the faulting-instruction line), ``stack``
    (walk the frames that follow)."""

    op: str
    rx: re.Pattern[str] | None = None


def _rx(p: str) -> re.Pattern[str]:
    return re.compile(p)


RIP = Step("rip")
STACK = Step("stack")
CALL_TRACE = Step("anchor", _rx(r"^ {0,4}(?:Call [Tt]race:|Call trace:|Backtrace:|Stack:$|stack backtrace:)"))


def FUNC(p: str) -> Step:
    return Step("func", _rx(p))


def ANCHOR(p: str) -> Step:
    return Step("anchor", _rx(p))


FAULT = (RIP, CALL_TRACE, STACK)
# lockdep's lock sites: "ffff888104a1c0b8 (&lock){+.+.}-{3:3}, at: func+0x2e/0x110" (4.x: "at: [<ffff..>] func+..")
AT_FUNC = FUNC(r"at: (?:\[<[0-9a-f]{1,16}>\] {1,2})?(?P<func>" + NAME + r")\+")
TRACE = (CALL_TRACE, STACK)


@dataclass(frozen=True, slots=True)
class Format:
    name: str
    kind: Kind
    header: re.Pattern[str]
    title: str
    recipe: tuple[Step, ...] = TRACE
    extractor: str = "first"
    skips: tuple[str, ...] = ()
    alts: tuple[str, ...] = ()
    detail: re.Pattern[str] | None = None  # searched in the next lines for more title groups
    detail_default: tuple[tuple[str, str], ...] = ()
    no_stack: bool = False  # the title names no frame
    corrupted: str | None = None
    truncated: str | None = None  # the format itself means a partial report (reason), e.g. no banner
    keep_numbers: bool = False
    # header lines of other formats that, within `absorb_window` lines, belong to this report
    absorbs: re.Pattern[str] | None = None
    fallback_title: str | None = None  # title when no frame is found (default: the title without " in {func}")
    # when set, fallback_title applies only if no line right after the header matches this
    # (syzkaller's report regex: a report that names its source line gets no location)
    fallback_unless: re.Pattern[str] | None = None
    recipe2: tuple[Step, ...] = ()  # tried when `recipe` finds no candidate
    # (start, end) line regexes of blocks that are not this crash's stack (left out of the walk)
    drop_blocks: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = ()
    # frames printed on these stacks never name the bug (the NMI handler that reported a lockup)
    skip_contexts: frozenset[Context] = frozenset()
    # the report's frames (its signature) come from the stack after this line, not from the
    # recipe's walk (lockdep: the title names a lock site, the signature is the current stack)
    frames_from: re.Pattern[str] | None = None
    # the crash is this (out-of-tree) module's by the format itself (OpenZFS/SPL assertions)
    module: str | None = None


_WARN_LINE = r"(?:WARNING: |------------\[ cut here \]|kernel BUG at |Kernel BUG at |invalid opcode: |Oops: )"
# Where a WARN fired, in both layouts: "WARNING: CPU: 0 PID: 1 at <file>:<line> <func>" (3.x-6.15)
# and "WARNING: <file>:<line> at <func>, CPU#0: comm/1" (6.16+). Subtype formats append the file.
_WARN_AT = r"WARNING: (?:CPU: \d+ (?:UID: \d+ )?PID: \d+ at )?"
_WARN_HDR = (
    r"WARNING: (?:CPU: \d+ (?:UID: \d+ )?PID: \d+ at |at )?(?P<src>[^ ]+?:\d+) (?:at )?(?P<hfunc>" + NAME + r")"
)

F = Format
K = Kind
# spl_panic()'s location line names the function that failed its assertion.
_ZFS_PANIC_FUNC = FUNC(r"^PANIC at [\w.\-]{1,80}:\d+:(?P<func>" + NAME + r")\(\)")

FORMATS: tuple[Format, ...] = (
    # ---- sanitizers ---------------------------------------------------------------------
    F("kasan-invalid-free", K.KASAN, _rx(r"BUG: KASAN: (?:double-free or )?invalid-free in (?P<hfunc>" + NAME + ")"),
      "KASAN: invalid-free in {func}", (FUNC(r"BUG: KASAN: [a-z\- ]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), CALL_TRACE, STACK),
      skips=("kasan", "kasan_free"), alts=("invalid-free in {func}",)),
    F("kasan-double-free", K.KASAN, _rx(r"BUG: KASAN: double-free in (?P<hfunc>" + NAME + ")"),
      "KASAN: invalid-free in {func}", (FUNC(r"BUG: KASAN: [a-z\- ]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), CALL_TRACE, STACK),
      skips=("kasan", "kasan_free"), alts=("invalid-free in {func}",)),
    F("kasan", K.KASAN, _rx(r"BUG: KASAN: (?P<type>[a-z\-]+) in (?P<hfunc>" + NAME + ")"),
      "KASAN: {type} {rw} in {func}", (FUNC(r"BUG: KASAN: [a-z\-]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), CALL_TRACE, STACK),
      skips=("kasan",), alts=("bad-access in {func}",),
      # 4.x: "BUG: KASAN: ... in f+0x1/0x2 at addr ffff..." then "Read of size 4 by task ...".
      detail=_rx(r"(?P<rw>Read|Write) (?:of size|at addr)")),
    F("kasan-bare", K.KASAN, _rx(r"BUG: KASAN: (?P<type>[a-z\-]+)(?: on address| at addr|$)"),
      "KASAN: {type} {rw}", no_stack=True, detail=_rx(r"(?P<rw>Read|Write) (?:of size|at addr)")),
    F("kmsan-usb", K.KMSAN, _rx(r"BUG: KMSAN: kernel-usb-infoleak"),
      "KMSAN: kernel-usb-infoleak in {func}", TRACE, skips=("kmsan", "kmsan_usb")),
    F("kmsan", K.KMSAN, _rx(r"BUG: KMSAN: (?P<type>[a-z\-]+) in (?P<hfunc>" + NAME + ")"),
      # The stack names the function (5.x banners could name a caller); the banner is the fallback.
      "KMSAN: {type} in {func}", (CALL_TRACE, STACK), skips=("kmsan",),
      recipe2=(FUNC(r"BUG: KMSAN: [a-z\-]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"),)),
    F("kcsan-race", K.KCSAN, _rx(r"BUG: KCSAN: (?P<type>data-race|assert: race) in (?P<f1>" + NAME + r")(?: / (?P<f2>" + NAME + "))?"),
      "KCSAN: {type} in {f1n}{f2part}", no_stack=True),
    F("kcsan", K.KCSAN, _rx(r"BUG: KCSAN: (?P<what>.{1,100})"), "KCSAN: {what}", no_stack=True),
    F("kfence-access", K.KFENCE, _rx(r"BUG: KFENCE: (?P<type>use-after-free|out-of-bounds) (?P<rw>read|write) in (?P<hfunc>" + NAME + ")"),
      "KFENCE: {type} {rw} in {func}", (FUNC(r"BUG: KFENCE: [a-z\- ]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), ANCHOR(r"^(?:Out-of-bounds|Use-after-free) "), STACK),
      skips=("kasan",), alts=("bad-access in {func}",)),
    F("kfence-free", K.KFENCE, _rx(r"BUG: KFENCE: invalid free in (?P<hfunc>" + NAME + ")"),
      "KFENCE: invalid free in {func}", (FUNC(r"BUG: KFENCE: [a-z\- ]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), ANCHOR(r"^Invalid free"), STACK),
      skips=("kasan_free",)),
    F("kfence-corruption", K.KFENCE, _rx(r"BUG: KFENCE: memory corruption in (?P<hfunc>" + NAME + ")"),
      "KFENCE: memory corruption in {func}", (FUNC(r"BUG: KFENCE: [a-z\- ]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), ANCHOR(r"^Corrupted memory"), STACK)),
    F("kfence-invalid", K.KFENCE, _rx(r"BUG: KFENCE: invalid (?P<rw>read|write) in (?P<hfunc>" + NAME + ")"),
      "KFENCE: invalid {rw} in {func}", (FUNC(r"BUG: KFENCE: [a-z\- ]+ in (?P<func>" + NAME + r")(?:[+.]| ?$)"), ANCHOR(r"^Invalid "), STACK)),
    F("ubsan-old", K.UBSAN, _rx(r"UBSAN: Undefined behaviour in "), "UBSAN: undefined-behaviour in {func}", TRACE,
      skips=("ubsan",)),
    F("ubsan", K.UBSAN, _rx(r"UBSAN: (?P<type>[a-z\-]+) in "), "UBSAN: {type} in {func}", TRACE,
      skips=("ubsan",)),
    # ---- faults (the RIP/PC line names the guilty function) -------------------------------
    F("null-deref", K.NULL_DEREF,
      # powerpc 5.2+ (arch/powerpc/mm/fault.c): "BUG: Kernel NULL pointer dereference on read at 0x00000010"
      _rx(r"BUG: (?:unable to handle kernel NULL pointer dereference|kernel NULL pointer dereference, address)"
          r"|Unable to handle kernel NULL pointer dereference|BUG: Kernel NULL pointer dereference on (?:read|write|execute)"),
      "BUG: unable to handle kernel NULL pointer dereference in {func}", FAULT,
      alts=("bad-access in {func}",), absorbs=_rx(r"^(?:Oops|Internal error: Oops|#PF:)")),
    F("paging", K.PAGING_REQUEST,
      _rx(r"BUG: unable to handle (?:kernel paging request|page fault for address|kernel access to user memory)"
          r"|Unable to handle kernel (?:paging request|access to user memory|data access|instruction fetch)"
          r"|BUG: unable to handle kernel (?:data|instruction)"),
      "BUG: unable to handle kernel paging request in {func}", FAULT,
      skips=("kasan",), alts=("bad-access in {func}",), absorbs=_rx(r"^(?:Oops|Internal error: Oops|#PF:)")),
    F("unable-to-handle", K.PAGING_REQUEST, _rx(r"BUG: unable to handle kernel"), "BUG: unable to handle kernel",
      no_stack=True, corrupted="fault header without fault type"),
    F("gpf", K.GPF, _rx(r"general protection fault(?:[:,]|$| for| in)"), "general protection fault in {func}", FAULT,
      alts=("bad-access in {func}",), absorbs=_rx(r"^(?:Oops|KASAN: )")),
    F("stack-segment", K.CPU_EXCEPTION, _rx(r"stack segment: 0000|stack-segment: 0000"), "stack segment fault in {func}", FAULT),
    F("divide-error", K.CPU_EXCEPTION, _rx(r"divide error: 0000|divide_error: 0000"), "divide error in {func}", FAULT),
    F("double-fault", K.CPU_EXCEPTION, _rx(r"PANIC: double fault"), "PANIC: double fault in {func}", FAULT,
      alts=("stack-overflow in {func}",)),
    F("int3", K.CPU_EXCEPTION, _rx(r"^(?:Oops: )?int3: 0000"), "int3 in {func}", FAULT),
    # lib/list_debug.c and mm/usercopy.c BUG()s: the message line before names the problem, the
    # title names the caller (a WARNING from list_debug.c, CONFIG_DEBUG_LIST without BUG, stays "WARNING in").
    F("kernel-bug-list", K.LIST_CORRUPTION, _rx(r"[Kk]ernel BUG at lib/list_debug\.c"),
      "BUG: corrupted list in {func}", FAULT, skips=("kernel_bug",), alts=("bad-access in {func}",),
      absorbs=_rx(r"^(?:invalid opcode: |Oops|Internal error: )")),
    F("usercopy", K.KERNEL_BUG, _rx(r"[Kk]ernel BUG at mm/usercopy\.c"),
      "BUG: bad usercopy in {func}", FAULT, skips=("usercopy",),
      absorbs=_rx(r"^(?:invalid opcode: |Oops|Internal error: )")),
    F("kernel-bug", K.KERNEL_BUG, _rx(r"[Kk]ernel BUG at (?P<src>\S+?)!?$|[Kk]ernel BUG at (?P<src2>\S+)"),
      "kernel BUG in {func}", FAULT, skips=("kernel_bug",),
      absorbs=_rx(r"^(?:invalid opcode: |Oops|Internal error: |Exception stack)"),
      fallback_title="kernel BUG at {src}!"),
    F("invalid-opcode", K.CPU_EXCEPTION, _rx(r"^(?:Oops: )?invalid opcode: 0000"), "invalid opcode in {func}", FAULT),
    F("arm-internal", K.CPU_EXCEPTION, _rx(r"^Internal error: (?!Oops)"), "Internal error in {func}", FAULT,
      alts=("bad-access in {func}",)),
    F("arm-internal-oops", K.PAGING_REQUEST, _rx(r"^Internal error: Oops"), "Internal error in {func}", FAULT,
      alts=("bad-access in {func}",)),
    # 32-bit ARM prints "Unhandled fault: ..." then, a few lines on, "Internal error: : 81b [#1]"
    # (arch/arm/mm/fault.c do_DataAbort -> arm_notify_die/die): one report, titled by the first.
    F("arm-unhandled", K.CPU_EXCEPTION, _rx(r"^Unhandled fault:"), "Unhandled fault in {func}", FAULT,
      alts=("bad-access in {func}",), absorbs=_rx(r"^Internal error: ")),
    F("arm-alignment", K.CPU_EXCEPTION, _rx(r"^Alignment trap:"), "Alignment trap in {func}", FAULT),
    # ---- lockups and stalls -------------------------------------------------------------
    F("soft-lockup", K.SOFT_LOCKUP,
      _rx(r"BUG: soft lockup - CPU#(?P<cpu>\d+) stuck for \d+s! \[(?P<comm>.{1,64}):(?P<pid>\d+)\]|BUG: soft lockup"),
      "BUG: soft lockup in {func}", (RIP, CALL_TRACE, STACK), extractor="stall", alts=("stall in {func}",)),
    F("hard-lockup", K.HARD_LOCKUP,
      _rx(r"Watchdog detected hard LOCKUP on cpu (?P<cpu>\d+)|watchdog: CPU(?P<cpu2>\d+): Watchdog detected hard LOCKUP"),
      "BUG: hard lockup in {func}", (RIP, CALL_TRACE, STACK), extractor="stall", alts=("stall in {func}",),
      skip_contexts=frozenset({Context.NMI}),
      absorbs=_rx(r"^" + _WARN_LINE + r"|^Kernel panic - not syncing: (?:Hard LOCKUP|Watchdog detected)")),
    F("rcu-stall", K.RCU_STALL,
      _rx(r"INFO: rcu_(?:preempt|sched|bh|tasks\w*) (?:self-)?detected(?: expedited)? stalls?"
          r"|INFO: rcu detected stall|rcu_(?:preempt|sched|bh) (?:self-)?detected stalls?"),
      "INFO: rcu detected stall in {func}",
      (ANCHOR(r"apic_timer_interrupt|Exception stack|el1h_64_irq|</IRQ>"), RIP, STACK),
      extractor="stall", skips=("rcu_stall",), alts=("stall in {func}",), skip_contexts=frozenset({Context.NMI}),
      # The starved grace-period kthread's own stack is printed first (5.x+): not the stall.
      drop_blocks=((_rx(r"RCU grace-period kthread stack dump:"),
                    _rx(r"NMI backtrace for cpu|Sending NMI|Stack dump where RCU|rcu: INFO|Task dump for CPU"
                        r"|^CPU: \d+ (?:UID: \d+ )?PID: ")),)),
    F("hung-task", K.HUNG_TASK, _rx(r"INFO: task (?P<comm>.{1,64}):(?P<pid>\d+) blocked for more than \d+ seconds"),
      "INFO: task hung in {func}", TRACE, extractor="hang", alts=("hang in {func}",)),
    F("task-cant-die", K.HUNG_TASK, _rx(r"INFO: task (?P<comm>.{1,64}):(?P<pid>\d+) can't die for more than"),
      "INFO: task can't die in {func}", TRACE, skips=("cant_die",), alts=("hang in {func}",)),
    F("workqueue-lockup", K.WORKQUEUE_LOCKUP, _rx(r"BUG: workqueue lockup"), "BUG: workqueue lockup", no_stack=True),
    # ---- lockdep -------------------------------------------------------------------------
    F("lockdep-circular", K.LOCKDEP,
      _rx(r"(?:WARNING|INFO): possible circular locking dependency detected"
          r"|(?:WARNING|INFO): possible recursive locking detected"
          r"|(?:WARNING|INFO): possible irq lock inversion dependency detected"),
      "possible deadlock in {func}",
      (AT_FUNC,
       AT_FUNC, STACK),
      skips=("deadlock",), frames_from=_rx(r"^stack backtrace:")),
    # "HARDIRQ-safe -> HARDIRQ-unsafe": the culprit is where the safe lock was taken in IRQ context.
    F("lockdep-safe-unsafe", K.LOCKDEP, _rx(r"(?:WARNING|INFO): \S+-safe -> \S+-unsafe lock order detected"),
      "possible deadlock in {func}", (ANCHOR(r"which became \S+-irq-safe at:"), STACK), skips=("deadlock",),
      recipe2=(AT_FUNC,), frames_from=_rx(r"^stack backtrace:")),
    F("lockdep-inconsistent", K.LOCKDEP, _rx(r"(?:WARNING|INFO): inconsistent lock state"),
      "inconsistent lock state in {func}",
      (AT_FUNC, STACK),
      frames_from=_rx(r"^stack backtrace:")),
    F("lockdep-bad-unlock", K.LOCKDEP, _rx(r"(?P<lvl>WARNING|BUG): bad unlock balance detected"),
      "{lvl}: bad unlock balance in {func}", TRACE),
    F("lockdep-held-freed", K.LOCKDEP, _rx(r"(?P<lvl>WARNING|BUG): held lock freed"), "{lvl}: held lock freed in {func}", TRACE,
      skips=("locks_freed",)),
    F("lockdep-return-user", K.LOCKDEP, _rx(r"(?P<lvl>WARNING|BUG): lock held when returning to user space"),
      "{lvl}: lock held when returning to user space in {func}", (AT_FUNC, STACK)),
    F("lockdep-still-held", K.LOCKDEP, _rx(r"(?P<lvl>WARNING|BUG): (?:\S{1,80} )?still has locks held"),
      "{lvl}: still has locks held in {func}", (AT_FUNC, STACK)),
    F("lockdep-nested", K.LOCKDEP, _rx(r"WARNING: Nested lock was not taken|WARNING: nested lock was not taken"),
      "WARNING: nested lock was not taken in {func}", (AT_FUNC, STACK)),
    F("nonstatic-key", K.LOCKDEP, _rx(r"INFO: trying to register non-static key"),
      "INFO: trying to register non-static key in {func}", TRACE, skips=("nonstatic_key",)),
    F("rcu-usage", K.LOCKDEP, _rx(r"(?P<lvl>WARNING|INFO): suspicious RCU usage"),
      "{lvl}: suspicious RCU usage in {func}", (ANCHOR(r"stack backtrace:"), *TRACE), skips=("rcu_usage",),
      fallback_title="{lvl}: suspicious RCU usage", fallback_unless=_rx(r"^[\w\-/.]{1,200}\.[ch]:\d+ ")),
    # lockdep's "[ BUG: Invalid wait context ]" (5.8+): syzkaller files it as a locking bug.
    F("lockdep-wait-context", K.LOCKDEP, _rx(r"BUG: Invalid wait context"), "WARNING: locking bug in {func}",
      (ANCHOR(r"stack backtrace:"), *TRACE), skips=("locking_bug",)),
    F("lockdep-limit", K.LOCKDEP, _rx(r"BUG: MAX_\w+ too low!"), "{line}", no_stack=True),
    # ---- BUG: -----------------------------------------------------------------------------
    F("spinlock", K.BUG_OTHER,
      _rx(r"BUG: (?P<lock>spinlock|rwlock) (?P<what>lockup suspected|already unlocked|recursion|cpu recursion|bad magic|wrong owner|wrong CPU|trylock failure on UP)"),
      "BUG: {lock} {what} in {func}", TRACE, skips=("spinlock",)),
    F("atomic-sleep", K.ATOMIC_SLEEP, _rx(r"BUG: sleeping function called from invalid context"),
      "BUG: sleeping function called from invalid context in {func}", TRACE),
    F("sched-atomic", K.ATOMIC_SLEEP, _rx(r"BUG: scheduling while atomic"), "BUG: scheduling while atomic in {func}", TRACE,
      skips=("sched_atomic",)),
    F("preemptible", K.ATOMIC_SLEEP, _rx(r"BUG: using (?P<what>\S+\(\)) in preemptible"),
      "BUG: using {what} in preemptible code in {func}", TRACE, skips=("preemptible",)),
    F("wq-leak", K.ATOMIC_SLEEP, _rx(r"BUG: workqueue leaked lock or atomic"), "BUG: workqueue leaked lock or atomic in {func}",
      (FUNC(r"last function: (?P<func>" + NAME + ")"), STACK)),
    F("bad-page-map", K.BAD_PAGE, _rx(r"BUG: Bad page map"), "BUG: Bad page map", no_stack=True),
    # With page_owner, the allocation stack names the owner; otherwise the freeing stack.
    F("bad-page", K.BAD_PAGE, _rx(r"BUG: Bad page (?P<what>state|cache)"), "BUG: Bad page {what} in {func}",
      (ANCHOR(r"page last allocated"), STACK), skips=("bad_page",), recipe2=TRACE),
    F("bad-rss", K.BAD_PAGE, _rx(r"BUG: Bad rss-counter state"), "BUG: Bad rss-counter state", no_stack=True),
    F("nr-ptes", K.BAD_PAGE, _rx(r"BUG: non-zero (?P<what>nr_ptes|nr_pmds) on freeing mm"), "BUG: non-zero {what} on freeing mm",
      no_stack=True),
    # "BUG: Dentry ffff..{/}  still in use (1) [unmount of tmpfs tmpfs]": named by the operation.
    F("dentry", K.BUG_OTHER, _rx(r"BUG: Dentry .{1,200}? still in use \(\d+\) \[(?P<op>\w+) of (?P<fs>\S+)"),
      "BUG: Dentry still in use in {op}", no_stack=True, alts=("BUG: Dentry still in use [{op} of {fs}]",),
      absorbs=_rx(r"^" + _WARN_LINE)),
    F("dentry-other", K.BUG_OTHER, _rx(r"BUG: Dentry .{1,200} still in use"), "BUG: Dentry still in use in {func}", FAULT,
      absorbs=_rx(r"^" + _WARN_LINE)),
    # Stack overflows recurse: like stalls, the title names the frame above the entry anchor.
    F("guard-page", K.BUG_OTHER, _rx(r"BUG: (?:\w{1,8} )?stack guard page was hit"), "BUG: stack guard page was hit in {func}",
      FAULT, extractor="stall", alts=("stack-overflow in {func}",), absorbs=_rx(r"^(?:Oops: )?kernel stack overflow")),
    F("stack-overflow", K.BUG_OTHER, _rx(r"kernel stack overflow|Insufficient stack space to handle exception"),
      "kernel stack overflow in {func}", FAULT, extractor="stall", skips=("stack_overflow",),
      alts=("stack-overflow in {func}",)),
    F("leak", K.MEMORY_LEAK, _rx(r"BUG: memory leak|^unreferenced object 0x"), "memory leak in {func}",
      (ANCHOR(r"^ {0,4}backtrace(?: \(crc [0-9a-f]+\))?:"), STACK), skips=("leak",),
      absorbs=_rx(r"^unreferenced object 0x")),
    F("object-free", K.BUG_OTHER, _rx(r"BUG: Object already free"), "BUG: Object already free", no_stack=True),
    # SLUB debug: "BUG kmalloc-64 (Not tainted): Poison overwritten" (the cache name is not the bug).
    # Only SLUB's own consistency messages (slab_err/object_err in mm/slub.c) open a report.
    F("slub", K.BUG_OTHER, _rx(
        r"^BUG (?P<cache>[\w\-:()]{1,64}) \([^)]{0,40}\): (?P<what>(?:Poison overwritten|Object already free"
        r"|(?:Left |Right )?Redzone overwritten|Object padding overwritten|Padding overwritten|Invalid object pointer"
        r"|Freepointer corrupt|Freechain corrupt|Wrong object count|Objects remaining|Not a valid slab page"
        r"|objects \d+ > max|Redzone check failed).{0,80})"),
      "BUG: {what}", no_stack=True, alts=("BUG {cache}: {what}",)),
    F("kcsan-hdr", K.KCSAN, _rx(r"^BUG: KCSAN"), "{line}", no_stack=True),
    F("bug-generic", K.BUG_OTHER, _rx(r"^BUG: (?P<what>.{2,200})"), "{line}", no_stack=True, keep_numbers=True),
    # ---- WARNING: (specific first, then the generic layouts) -----------------------------
    F("netdev-watchdog", K.NETDEV_WATCHDOG,
      _rx(r"NETDEV WATCHDOG: (?P<dev>\S{1,64}) \((?P<drv>[^)]{1,64})\): transmit queue (?P<q>\d+) timed out"
          r"|NETDEV WATCHDOG: (?P<dev2>\S{1,64}): transmit queue"),
      "NETDEV WATCHDOG: transmit queue timed out in {drv}", FAULT, no_stack=True,
      alts=("WARNING in dev_watchdog",), absorbs=_rx(r"^" + _WARN_LINE)),
    # 6.7+: "ixgbe 0000:01:00.0 eth0: NETDEV WATCHDOG: CPU: 2: transmit queue 0 timed out 5320 ms"
    F("netdev-watchdog-6x", K.NETDEV_WATCHDOG,
      _rx(r"^(?P<drv>[\w\-]{2,32}) \S{1,32} (?P<dev>\S{1,32}): NETDEV WATCHDOG: (?:CPU: \d+: )?transmit queue"),
      "NETDEV WATCHDOG: transmit queue timed out in {drv}", FAULT, no_stack=True,
      alts=("WARNING in dev_watchdog",), absorbs=_rx(r"^" + _WARN_LINE)),
    # Driver-side TX hang detection (e1000e/igb/ixgbe "Detected Tx Unit Hang", mlx5 "TX timeout on
    # queue", i40e "tx_timeout"): the same failure as the watchdog, titled the same way.
    F("tx-timeout", K.NETDEV_WATCHDOG,
      _rx(r"^(?P<drv>[\w\-]{2,32}) [0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.\d (?P<dev>\S{1,32}): "
          r"(?:Detected (?:Tx|Hardware) Unit Hang|tx_timeout:|.{0,60}TX timeout (?:on|detected))"),
      "NETDEV WATCHDOG: transmit queue timed out in {drv}", FAULT, no_stack=True,
      alts=("WARNING in dev_watchdog",), absorbs=_rx(r"^" + _WARN_LINE)),
    F("page-alloc", K.PAGE_ALLOC_FAILURE, _rx(r"(?P<comm>\S{1,64}): page allocation failure: order:(?P<order>\d+)"),
      "page allocation failure in {func}", TRACE),
    F("warn-urb", K.WARNING, _rx(_WARN_AT + r"drivers/usb/core/urb\.c:\d+ (?:at )?usb_submit_urb"),
      "WARNING in {func}/usb_submit_urb", FAULT, skips=("usb_urb",), fallback_title="WARNING in usb_submit_urb"),
    F("warn-odebug", K.WARNING, _rx(_WARN_AT + r"lib/debugobjects\.c:\d+ (?:at )?debug_print_object"),
      "WARNING: ODEBUG bug in {func}", FAULT, skips=("odebug",)),
    F("warn-refcount", K.REFCOUNT, _rx(_WARN_AT + r"lib/refcount\.c:\d+"),
      "WARNING: refcount bug in {func}", FAULT, skips=("refcount",)),
    F("warn-lockdep", K.LOCKDEP, _rx(_WARN_AT + r"kernel/locking/lockdep\.c:\d+ (?:at )?(?:__lock_acquire|lock_acquire"
          r"|__lock_release|lock_release|lock_downgrade|look_up_lock_class|register_lock_class|hlock_class"
          r"|check_wait_context|check_flags|lock_set_class|__lock_set_class|reacquire_held_locks)\b"),
      "WARNING: locking bug in {func}", FAULT, skips=("locking_bug",)),
    F("warn-kmalloc", K.WARNING, _rx(_WARN_AT + r"mm/(?:util|slab_common)\.c:\d+ (?:at )?(?:(?:__)?kvmalloc|kmalloc_slab)"),
      "WARNING: kmalloc bug in {func}", FAULT, skips=("kmalloc",)),
    F("warn-vmalloc", K.WARNING, _rx(_WARN_AT + r"mm/vmalloc\.c:\d+ (?:at )?__vmalloc_node_range"),
      "WARNING: zero-size vmalloc in {func}", FAULT),
    F("warn-kobject", K.WARNING, _rx(_WARN_AT + r"lib/kobject\.c:\d+"),
      "WARNING: kobject bug in {func}", FAULT, skips=("kobject",)),
    F("warn-proc", K.WARNING, _rx(_WARN_AT + r"fs/proc/generic\.c:\d+"),
      "WARNING: proc registration bug in {func}", FAULT, skips=("proc",)),
    F("warn-usercopy", K.WARNING, _rx(_WARN_AT + r"mm/usercopy\.c:\d+"),
      "WARNING: bad usercopy in {func}", FAULT, skips=("usercopy",)),
    # The faulting RIP names the function (symbolized logs print inlined callers on the header);
    # without it (pre-4.15 layout, trimmed excerpts) the function on the header line does.
    F("warn-file", K.WARNING, _rx(_WARN_HDR), "WARNING in {func}",
      (RIP, FUNC(_WARN_HDR.replace("(?P<hfunc>", "(?P<func>") + r"(?:\+|\.|\(\)| ?$| \[)"), CALL_TRACE, STACK),
      alts=()),
    # 2025 layout (6.16+): "WARNING: net/core/dev.c:1234 at func+0x1/0x2, CPU#0: comm/123"
    F("warn-2025", K.WARNING, _rx(r"WARNING: (?P<src>\S+:\d+) at (?P<hfunc>" + NAME + r")(?:\+0x[0-9a-f]+/0x[0-9a-f]+)?, CPU#\d+"),
      "WARNING in {func}", (FUNC(r"WARNING: \S+:\d+ at (?P<func>" + NAME + r")[+,]"), RIP, CALL_TRACE, STACK)),
    F("warn-cpu", K.WARNING, _rx(r"WARNING: CPU: \d+ (?:UID: \d+ )?PID: \d+ at (?P<hfunc>" + NAME + r")\+"),
      "WARNING in {func}", FAULT),
    F("warn-bare", K.WARNING, _rx(r"^WARNING: CPU: \d+ (?:UID: \d+ )?PID: \d+ at|^WARNING: at "),
      "WARNING in {func}", FAULT),
    F("badness", K.WARNING, _rx(r"^Badness at (?P<hfunc>" + NAME + ")"), "WARNING in {func}",
      (FUNC(r"^Badness at (?P<func>" + NAME + ")"), CALL_TRACE, STACK)),
    # A WARNING with only a message (dev_warn-style text printed with a "WARNING:" prefix).
    F("warn-text", K.WARNING, _rx(r"^WARNING: (?!CPU: |at )(?P<what>[A-Za-z][^:]{2,150})$"), "{line}", no_stack=True,
      keep_numbers=True),
    # ---- panics -------------------------------------------------------------------------
    F("panic-stack-corrupted", K.PANIC, _rx(r"Kernel panic - not syncing: stack-protector: Kernel stack is corrupted in: (?P<hfunc>" + NAME + ")"),
      "kernel panic: stack is corrupted in {func}",
      (FUNC(r"Kernel stack is corrupted in: (?P<func>" + NAME + ")"), CALL_TRACE, STACK),
      skips=("stack_corrupted",)),
    F("panic-stack-end", K.PANIC, _rx(r"Kernel panic - not syncing: corrupted stack end detected inside scheduler"),
      "kernel panic: corrupted stack end in {func}", TRACE, extractor="stall", skips=("stack_end",),
      alts=("stack-overflow in {func}",)),
    F("panic-n-tty", K.PANIC, _rx(r"Kernel panic - not syncing: Couldn't open N_TTY ldisc"),
      "kernel panic: Couldn't open N_TTY ldisc", no_stack=True),
    F("panic-kill-init", K.PANIC, _rx(r"Kernel panic - not syncing: Attempted to kill init!"),
      "kernel panic: Attempted to kill init!", no_stack=True),
    F("panic-hung-task", K.HUNG_TASK, _rx(r"Kernel panic - not syncing: (?P<msg>hung_task: blocked tasks)"),
      "kernel panic: {msg}", no_stack=True, corrupted="hung-task panic banner: the blocked task's report is not in the log"),
    F("panic-corrupt", K.PANIC, _rx(r"Kernel panic - not syncing: (?P<msg>Fatal exception(?: in interrupt)?|panic_on_warn set)"),
      "kernel panic: {msg}", no_stack=True),
    F("panic-hard-lockup", K.HARD_LOCKUP, _rx(r"Kernel panic - not syncing: (?P<msg>Hard LOCKUP|Watchdog detected hard LOCKUP.{0,40})"),
      "BUG: hard lockup in {func}", (RIP, CALL_TRACE, STACK), extractor="stall", alts=("kernel panic: Hard LOCKUP",),
      fallback_title="kernel panic: Hard LOCKUP"),
    F("panic-oom", K.OOM, _rx(r"Kernel panic - not syncing: (?P<msg>Out of memory.{0,120}|System is deadlocked on memory)"),
      "kernel panic: Out of memory", no_stack=True),
    F("panic", K.PANIC, _rx(r"Kernel panic - not syncing: ?(?P<msg>.{0,200})"), "kernel panic: {msg}", no_stack=True),
    # ---- other headers ------------------------------------------------------------------
    F("netdev-unregister", K.NETDEV_REFCOUNT, _rx(r"unregister_netdevice: waiting for (?P<dev>\S{1,64}) to become free"),
      "unregister_netdevice: waiting for DEV to become free", no_stack=True),
    F("vfs-close", K.BUG_OTHER, _rx(r"VFS: Close: file count is 0"), "VFS: Close: file count is zero (use-after-free)", no_stack=True),
    F("vfs-busy", K.BUG_OTHER, _rx(r"VFS: Busy inodes after unmount"), "VFS: Busy inodes after unmount (use-after-free)", no_stack=True),
    F("rust-panic", K.RUST_PANIC, _rx(r"rust_kernel: panicked at"), "{rustmsg} in {func}", TRACE,
      skips=("rust",), detail=_rx(r"^(?P<rustmsg>[a-z].{2,100})$")),
    F("info-alloc", K.BUG_OTHER, _rx(r"^INFO: (?:Allocated|Freed) in (?P<hfunc>" + NAME + r")"), "{line}", no_stack=True),
    # ---- OpenZFS / SPL (out of tree): spl_panic() prints the failed assertion, then "PANIC at
    # file.c:LINE:func()", then spl_dumpstack()'s "Showing stack for process N" and the stack.
    # zfs_panic_recover() prints "PANIC: zfs: <message> (values)"; SPL 0.6 printed "SPLError:
    # PID:0:(file.c:LINE:func()) ASSERTION(...) failed" and "SPL: Showing stack for process N".
    F("zfs-verify", K.OPENZFS, _rx(r"^(?P<assert>(?:VERIFY|ASSERT)\w{0,3}\(.{1,200}?\)) failed"),
      "ZFS: {assert} failed in {func}", (_ZFS_PANIC_FUNC, CALL_TRACE, STACK), skips=("openzfs",),
      absorbs=_rx(r"^PANIC at |^Showing stack for process"), fallback_title="ZFS: {assert} failed",
      keep_numbers=True, module="zfs"),
    F("zfs-panic-at", K.OPENZFS, _rx(r"^PANIC at (?P<src>[\w.\-]{1,80}):\d+:(?P<hfunc>" + NAME + r")\(\)"),
      "ZFS: PANIC in {func}", (_ZFS_PANIC_FUNC, CALL_TRACE, STACK), skips=("openzfs",),
      absorbs=_rx(r"^Showing stack for process"), module="zfs"),
    F("zfs-panic-recover", K.OPENZFS, _rx(r"^PANIC: zfs: (?P<what>[^(]{2,150}?)(?: \(|$)"),
      "ZFS: {what}", no_stack=True, keep_numbers=True, module="zfs"),
    F("spl-error", K.OPENZFS,
      _rx(r"^SPLError: \d+:\d+:\((?P<src>[\w.\-]{1,80}):\d+:(?P<hfunc>" + NAME + r")\(\)\) (?P<what>.{2,150}?)(?: \(|$)"),
      "ZFS: {what} in {func}", (FUNC(r"^SPLError: \d+:\d+:\([\w.\-]{1,80}:\d+:(?P<func>" + NAME + r")\(\)"), CALL_TRACE, STACK),
      skips=("openzfs",), absorbs=_rx(r"^(?:SPL: )?Showing stack for process|^SPLError: "), keep_numbers=True,
      module="zfs"),
)

BY_NAME = {f.name: f for f in FORMATS}

# A paste without its banner (it starts at "Call Trace:", "CPU: ... PID:", "Hardware name:", the
# RIP line, or the x86 "Oops:" line): parse._headerless infers the kind from what is there and
# uses one of these; the report is truncated (cut at its start) and keeps its kind's title.
_NO_BANNER = "no crash banner in the paste"
_NEVER = re.compile(r"(?!x)x")
HEADERLESS_HARD_LOCKUP = Format(
    "headerless-hard-lockup", Kind.HARD_LOCKUP, _NEVER, "BUG: hard lockup in {func}", (RIP, STACK),
    extractor="stall", skip_contexts=frozenset({Context.NMI}), alts=("stall in {func}",),
    truncated=f"{_NO_BANNER}: a hard lockup by the NMI watchdog frames")
HEADERLESS_SOFT_LOCKUP = Format(
    "headerless-soft-lockup", Kind.SOFT_LOCKUP, _NEVER, "BUG: soft lockup in {func}", (RIP, STACK),
    extractor="stall", alts=("stall in {func}",), truncated=f"{_NO_BANNER}: a soft lockup by the watchdog timer frames")
HEADERLESS_WARNING = Format(
    "headerless-warning", Kind.WARNING, _NEVER, "WARNING in {func}", (RIP, STACK),
    truncated=f"{_NO_BANNER}: a WARNING by its __warn/report_bug frames or ud2 trap")
HEADERLESS_BUG = Format(
    "headerless-bug", Kind.KERNEL_BUG, _NEVER, "kernel BUG in {func}", (RIP, STACK), skips=("kernel_bug",),
    truncated=f"{_NO_BANNER}: a kernel BUG by its trap handler frames")
HEADERLESS_GPF = Format(
    "headerless-gpf", Kind.GPF, _NEVER, "general protection fault in {func}", (RIP, STACK),
    alts=("bad-access in {func}",), truncated=f"{_NO_BANNER}: a general protection fault by its handler frames")
HEADERLESS_NULL_DEREF = Format(
    "headerless-null-deref", Kind.NULL_DEREF, _NEVER, "BUG: unable to handle kernel NULL pointer dereference in {func}",
    (RIP, STACK), alts=("bad-access in {func}",),
    truncated=f"{_NO_BANNER}: a NULL pointer dereference by its page-fault frames and fault address")
HEADERLESS_PAGING = Format(
    "headerless-paging", Kind.PAGING_REQUEST, _NEVER, "BUG: unable to handle kernel paging request in {func}",
    (RIP, STACK), skips=("kasan",), alts=("bad-access in {func}",),
    truncated=f"{_NO_BANNER}: a page fault by its page-fault frames")
HEADERLESS_HUNG_TASK = Format(
    "headerless-hung-task", Kind.HUNG_TASK, _NEVER, "INFO: task hung in {func}", (STACK,), extractor="hang",
    alts=("hang in {func}",), truncated=f"{_NO_BANNER}: a hung task by the blocked task's state line")
HEADERLESS = Format("headerless", Kind.OTHER, _NEVER, "kernel stack trace in {func}",
                    (RIP, STACK), extractor="auto",
                    corrupted="no crash banner in the excerpt: titled by its frames only")

# Generic WARNING layouts, and the messages that, printed right after one, name the real class.
GENERIC_WARNINGS = frozenset({"warn-file", "warn-cpu", "warn-bare", "warn-2025", "warn-text"})
WARNING_MESSAGES = frozenset({"netdev-watchdog", "netdev-watchdog-6x", "hard-lockup"})

# A cheap prefilter: a line can only be a header if it contains one of these.
HEADER_HINT = re.compile(
    r"BUG|WARNING|INFO: |Unable to handle|general protection|stack segment|stack-segment|Kernel panic"
    r"|PANIC: |divide.error|invalid opcode|int3: |UBSAN: |unregister_netdevice: waiting|VFS: "
    r"|Internal error: |Unhandled fault:|Alignment trap:|NETDEV WATCHDOG|page allocation failure|Unit Hang|tx_timeout|TX timeout"
    r"|Watchdog detected hard LOCKUP|rcu_(?:preempt|sched|bh) "
    r"|stack overflow|Insufficient stack|rust_kernel: panicked|unreferenced object|Badness at|DEBUG_LOCKS_WARN_ON|Invalid wait context"
    r"|VERIFY|ASSERT|PANIC at |SPLError: "
)

# HEADER_HINT again, for scanning a whole log at once (parse._find_headers): a line has a match
# of one exactly when it has a match of the other. The regex engine tries a pattern at every
# character that can start it, and HEADER_HINT's lowercase literals ("stack ...", "divide",
# "rcu_") start at the commonest letters of a log. Here each lowercase literal starts at one of
# its rarest characters and checks the part before it with a lookbehind ("stack segment" is
# "g(?<=stack seg)ment"), and the alternatives are grouped by first character: the scan is
# ~1.8x faster. tests/test_trace_speed.py compares the two.
_HINT_PIVOTED = (
    "BUG", "WARNING", "INFO: ", "Unable to handle", "general protection", "g(?<=stack seg)ment",
    "g(?<=stack-seg)ment", "Kernel panic", "PANIC: ", "v(?<=div)ide.error", "v(?<=inv)alid opcode",
    "3(?<=int3): ", "UBSAN: ", "w(?<=unregister_netdevice: w)aiting", "VFS: ", "Internal error: ",
    "Unhandled fault:", "Alignment trap:", "NETDEV WATCHDOG", "g(?<=pag)e allocation failure", "Unit Hang",
    "m(?<=tx_tim)eout", "TX timeout", "Watchdog detected hard LOCKUP", "u(?<=rcu)_(?:preempt|sched|bh) ",
    "w(?<=stack overflow)", "Insufficient stack", "p(?<=rust_kernel: p)anicked", "j(?<=unreferenced obj)ect",
    "Badness at", "DEBUG_LOCKS_WARN_ON", "Invalid wait context", "VERIFY", "ASSERT", "PANIC at ", "SPLError: ",
)


def _by_first_char(alternatives: tuple[str, ...]) -> re.Pattern[str]:
    """One regex for the alternatives, grouped by their first character (a plain literal each):
    the engine then tries one group per candidate position instead of every alternative."""
    groups: dict[str, list[str]] = {}
    for a in alternatives:
        groups.setdefault(a[0], []).append(a[1:])
    return re.compile("|".join(f"{re.escape(c)}(?:{'|'.join(rest)})" for c, rest in groups.items()))


HEADER_HINT_SCAN = _by_first_char(_HINT_PIVOTED)

# A second, exact prefilter: every header regex in FORMATS requires one of these (each is a
# literal, or an anchored literal, that the pattern itself spells out: "BUG: " for the BUG:
# banners, "(?:WARNING|INFO): " for lockdep, "^BUG " for SLUB...). A line matching none of them
# cannot match any format, so _header_format skips its ~100 searches: a flood of lines with a
# hint word but no banner ("DEBUG BUG x 123") costs one search each. tests/test_trace_speed.py
# checks that each format's required literals match this, so a new format must extend it.
_NEED = (
    "BUG: ", "BUG at ", "^BUG ", "WARNING: ", "INFO: ", "UBSAN: ", "Unable to handle kernel ", "general protection fault",
    "stack", "divide", "PANIC: double fault", "int3: 0000", "invalid opcode: 0000",
    "^Internal error: ", "^Unhandled fault:", "^Alignment trap:", "Watchdog detected hard LOCKUP", "rcu_",
    "^unreferenced object 0x", "NETDEV WATCHDOG: ", "Unit Hang", "tx_timeout:", "TX timeout ",
    ": page allocation failure: order:", "^Badness at ", "Kernel panic - not syncing:",
    "unregister_netdevice: waiting for ", "VFS: ", "rust_kernel: panicked at",
    "VERIFY", "ASSERT", "^PANIC at ", "^PANIC: zfs: ", "^SPLError: ",
)
HEADER_NEED = re.compile("|".join(_NEED))
# HEADER_NEED as parse._header_format runs it on each hint line (header_need): its "^" literals
# tried at the start only, the others grouped by first character. A line with none of them (a
# flood of "DEBUG BUG x 123") costs a third of a search of HEADER_NEED, which tries every
# alternative at every position. tests/test_trace_speed.py compares the two.
_NEED_AT_START = re.compile("^(?:" + "|".join(n[1:] for n in _NEED if n.startswith("^")) + ")")
_NEED_ANYWHERE = _by_first_char(tuple(n for n in _NEED if not n.startswith("^")))


def header_need(t: str) -> bool:
    """HEADER_NEED.search(t) is not None, faster (see _NEED_ANYWHERE)."""
    return _NEED_AT_START.match(t) is not None or _NEED_ANYWHERE.search(t) is not None

# Header-looking lines that are not crashes (kernel noise, debug chatter, test harness output).
SUPPRESS = re.compile(
    r"INFO: lockdep is turned off|INFO: NMI handler .{0,80} took too long|INFO: Stall ended before state dump"
    r"|WARNING: The mand mount option|WARNING: [a-zA-Z_\-]{1,32} uses legacy|BUG: MAX_LOCKDEP_KEYS too low"
    r"|BUG: Key [0-9a-f]{8,16} not in \.data|ODEBUG: Out of memory|WARNING: kernel not compiled with"
    r"|WARNING: Unsupported|WARNING: [Mm]odule "
    r"|INFO: recovery required on readonly filesystem|INFO: task [^ ]+ blocked on"
    r"|\bDEBUG:|BUG: no syscalls can create resource|WARNING: see kernel|WARNING: Linux Kernel"
    r"|rcu_sched kthread starved|WARNING: Kernel image"
    r"|WARNING: (?:Spectre|mitigation|unknown|the |this |you |CPU random|BIOS|Your|Microcode|Firmware)"
    r"|BUG: Kernel panic|ACPI BIOS Warning|WARNING: There was an error|^-{3}\[ end "
)

# SUPPRESS as parse._find_headers runs it on each hint line: the same lines match. SUPPRESS has
# no first character to look for ("\bDEBUG:", "^---[ end "), so the engine tries all its
# alternatives at every position (~9 us a line); here "---[ end " is a str.startswith,
# "\bDEBUG:" is "D(?<!\wD)EBUG:" and the rest is grouped by first character
# ("rcu_sched kthread" pivoted to its "k"). tests/test_trace_speed.py compares the two.
_SUPPRESS_SCAN = _by_first_char((
    "INFO: lockdep is turned off", "INFO: NMI handler .{0,80} took too long", "INFO: Stall ended before state dump",
    "WARNING: The mand mount option", r"WARNING: [a-zA-Z_\-]{1,32} uses legacy", "BUG: MAX_LOCKDEP_KEYS too low",
    r"BUG: Key [0-9a-f]{8,16} not in \.data", "ODEBUG: Out of memory", "WARNING: kernel not compiled with",
    "WARNING: Unsupported", "WARNING: [Mm]odule ", "INFO: recovery required on readonly filesystem",
    "INFO: task [^ ]+ blocked on", r"D(?<!\wD)EBUG:", "BUG: no syscalls can create resource", "WARNING: see kernel",
    "WARNING: Linux Kernel", "k(?<=rcu_sched k)thread starved", "WARNING: Kernel image",
    "WARNING: (?:Spectre|mitigation|unknown|the |this |you |CPU random|BIOS|Your|Microcode|Firmware)",
    "BUG: Kernel panic", "ACPI BIOS Warning", "WARNING: There was an error",
))


def suppressed(t: str) -> bool:
    """SUPPRESS.search(t) is not None, faster (see _SUPPRESS_SCAN)."""
    return t.startswith("---[ end ") or _SUPPRESS_SCAN.search(t) is not None


# Lines that never start a report but, shortly after a header, belong to it (the x86 oops banner
# printed after "BUG: unable to handle...", the invalid-opcode trap of BUG(), ARM "Internal error").
CONTINUATION = re.compile(
    r"^(?:Oops: |Oops\[#|invalid opcode: 0000|Internal error: Oops|#PF: "
    r"|------------\[ cut here \])"
)
# arm64 prints ~12 lines of "Mem abort info"/"Data abort info" between the two.
CONTINUATION_WINDOW = 24
