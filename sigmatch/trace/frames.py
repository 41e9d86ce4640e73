"""Stack-frame lines: recognizing them, and turning them into :class:`Frame` values.

Layouts understood (each regex is anchored and bounded; see normalize.MAX_LINE):

* x86 4.x and older, with addresses: `` [<ffffffff8106dd1f>] func+0x7f/0xc0 [module]``
* modern x86 (4.15+, addresses hidden): `` func+0x7f/0xc0 [module]``
* symbolized (syzbot, decode_stacktrace.sh): `` func+0x7f/0xc0 path/file.c:123`` and
  `` inlined_func path/file.c:77 [inline]``
* unreliable frames, printed with ``? `` before the name (x86 unwinder guesses)
* powerpc: `` [c0000000000123] [c0000000000456] func+0x12/0x34 [module] (unreliable)``
* s390: ``([<000000000011f4b8>] func+0x12/0x34)``
* ARM before 5.x: ``[<c0101234>] (func) from [<c0105678>] (caller+0x10/0x20)``
* ARM 5.x+: `` func from caller+0x20/0xac``
* crash(8) ``bt``: `` #3 [ffffc90028a47e70] func at ffffffff8109a5e1 [module]`` (``bt -s``:
  ``func+232``, a decimal offset), and its ``[exception RIP: func+434]`` line
* the faulting instruction: ``RIP: 0010:func+0x1b2/0x4f0``, ``IP: [<ffff..>] func+..``,
  ``EIP: [<c10..>] func+..``, ``EIP is at func+..``, arm64 ``pc : func+..``, ARM ``PC is at func+..``,
  powerpc ``NIP [c00..] func+..``, riscv ``epc : func+..``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

_ADDR = r"\[<?(?:0x)?[0-9a-fA-F]{1,16}>?\]"
_NAME = r"[A-Za-z_$][A-Za-z0-9_.$]{0,200}"
_OFF = r"\+0x[0-9a-fA-F]{1,16}(?:/0x[0-9a-fA-F]{1,16})?"
_MOD = r"(?: \[(?P<mod>[A-Za-z0-9_\-]{1,64})(?: [0-9a-f]{8,64})?\])?"
# ppc64 big-endian kernels (ELFv1 ABI, the usual ppc64 ABI before 4.x LE distributions) print the
# dot symbols of function descriptors: "NIP [d00..] .ipr_pci_error_detected+0x18c/0x220 [ipr]",
# "[c00..] [c00..] .eeh_report_error+0x98/0x110". The dot is not part of the function name.
_DOT = r"\.?"
_FILE = r"(?: (?P<file>[A-Za-z0-9_.\-/]{1,200}\.(?:[chS]|rs|rl|y|l)):(?P<line>\d{1,7})(?::\d{1,5})?)?"

# One Call Trace entry with an offset (the normal case).
FRAME = re.compile(
    rf"^ {{0,16}}\(?(?:{_ADDR} {{1,4}}){{0,2}}(?P<q>\? {{1,2}})?{_DOT}(?P<func>{_NAME}){_OFF}{_MOD}{_FILE}"
    r"(?P<unrel> \(unreliable\))?"
)
# FRAME's groups in order (parse_frame reads them by position).
_FRAME_GROUPS = ("q", "func", "mod", "file", "line", "unrel")
if tuple(sorted(FRAME.groupindex, key=FRAME.groupindex.__getitem__)) != _FRAME_GROUPS or FRAME.groups != len(_FRAME_GROUPS):
    raise AssertionError(f"frames.FRAME groups changed: {FRAME.groupindex}; update _FRAME_GROUPS and parse_frame")
# A symbolized inlined frame: no offset, file:line, "[inline]".
INLINE = re.compile(
    rf"^ {{0,16}}(?:{_ADDR} {{1,4}})?(?P<q>\? )?(?P<func>{_NAME}) (?P<file>[A-Za-z0-9_.\-/]{{1,200}}):(?P<line>\d{{1,7}})(?::\d{{1,5}})? \[inline\]"
)
# scripts/decode_stacktrace.sh output: `` func (arch/x86/kernel/traps.c:123)`` (optionally keeping
# the offset, an absolute source path, and "[inline]" for inlined callers).
# The parenthesis may hold a chain of inlined locations and "(discriminator N)" notes.
DECODED = re.compile(
    rf"^ {{0,16}}(?P<q>\? )?(?P<func>{_NAME})(?:{_OFF})? \((?P<file>/?[A-Za-z0-9_.\-/]{{1,300}}\.(?:[chS]|rs)):(?P<line>\d{{1,7}})"
    r"(?::\d{1,5})?[ )](?P<inl>.{0,600}\[inline\]$)?"
)
RIP_DECODED = re.compile(
    r"^ {0,4}(?:RIP: (?:[0-9a-f]{4}:)?|pc ?: |PC is at |NIP ?\[[0-9a-f]{1,16}\] |epc ?: )"
    rf"(?P<func>{_NAME})(?:{_OFF})? \((?P<file>/?[A-Za-z0-9_.\-/]{{1,300}}\.(?:[chS]|rs)):(?P<line>\d{{1,7}})"
)
_SRC_ROOT = re.compile(
    r"^.*?/(?=(?:arch|block|certs|crypto|drivers|fs|include|init|io_uring|ipc|kernel|lib|mm|net|rust|samples"
    r"|security|sound|virt)/)"
)
# ARM "a from b+0x.." (5.x+) and "[<c01>] (a+0x0/0x1) from [<c02>] (b+0x1/0x2)" (older).
ARM_FROM = re.compile(
    rf"^ {{0,16}}(?:{_ADDR} {{1,2}}\()?(?P<func>{_NAME})(?:{_OFF})?\)?(?: \[(?P<fmod>[A-Za-z0-9_\-]{{1,64}})\])? from "
    rf"(?:{_ADDR} {{1,2}}\()?(?P<caller>{_NAME}){_OFF}{_MOD}"
)
# crash(8) bt: " #0 [ffffc90028a47d50] machine_kexec at ffffffff8105f2c6", "#10 [...] func at ... [mod]"
# (the frame number right-aligned in 2 columns; "bt -s" prints "func+232", a decimal offset; x86,
# arm64, ppc64, s390 alike). The exception frame's "[exception RIP: func+434]" names the faulting
# function, as dmesg's "RIP:" line does.
CRASH_BT = re.compile(
    rf"^ {{0,2}}#\d{{1,4}} {{1,2}}\[[0-9a-f]{{1,16}}\] {{1,2}}(?P<func>{_NAME})(?:\+(?:0x[0-9a-f]{{1,16}}|\d{{1,10}}))? at "
    r"[0-9a-f]{1,16}(?: \[(?P<mod>[A-Za-z0-9_\-]{1,64})\])?"
)
CRASH_RIP = re.compile(rf"^ {{0,8}}\[exception RIP: (?P<func>{_NAME})(?:\+(?:0x[0-9a-f]{{1,16}}|\d{{1,10}}))?\]")
# The faulting instruction line (RIP/PC/IP/NIP/epc), with the function it is in.
RIP = re.compile(
    r"^ {0,4}(?:RIP: (?:[0-9a-f]{4}:)?(?:\[<[0-9a-f]{1,16}>\] {1,2})?(?:\[<[0-9a-f]{1,16}>\] {1,2})?"
    r"|IP: (?:\[<[0-9a-f]{1,16}>\] {1,2})?"
    r"|EIP: (?:[0-9a-f]{4}:)?\[<[0-9a-f]{1,16}>\] {1,2}"
    r"|EIP is at |PC is at |pc ?: |NIP ?\[[0-9a-f]{1,16}\] |NIP: |epc ?: |ERA: |era ?: "
    r"|Krnl PSW : [0-9a-f ]{1,40}\(|IP is at )"
    rf"(?:{_ADDR} {{1,2}})?{_DOT}(?P<func>{_NAME}){_OFF}{_MOD}{_FILE}"
)
# Lines that open a new stack listing.
STACK_START = re.compile(
    r"^ {0,4}(?:Call [Tt]race:|Call trace:|Backtrace:|Stack:$|Stack trace:|Allocated by task|Freed by task"
    r"|Allocated:|Freed:|Last potentially related work creation|Second to last potentially related"
    r"|Uninit was (?:created|stored)|Memory state around|The buggy address belongs|Local variable"
    r"|-> #\d|stack backtrace:|other info that might help|Showing all locks held|\S{1,40} backtrace:|Last call trace:)"
)
# The characters STACK_START's alternatives start with (after its spaces), but "\S{1,40} backtrace:",
# which only a line holding " backtrace:" can match (tests/test_trace_frames.py checks the list).
_STACK_START_FIRST = frozenset("CBSAFLUMT-so")


def is_stack_start(t: str) -> bool:
    """``STACK_START.match(t)`` holds; cheaper on the lines no listing starts at (most stack lines)."""
    return (t.lstrip(" ")[:1] in _STACK_START_FIRST or " backtrace:" in t) and STACK_START.match(t) is not None


# A bare function name, as CVE descriptions and hand-trimmed reports print stack entries
# (offsets removed). Only accepted inside a stack listing, right after another frame.
BARE = re.compile(r"^ {1,16}(?P<q>\? )?(?P<func>[a-z_][A-Za-z0-9_.]{2,200})(?: \[(?P<mod>[A-Za-z0-9_\-]{1,64})\])?$")
# "<IRQ>", "</NMI>", "<TASK>" (4.x+), "<EOI>"/"<EOE>" and 3.x "<<EOE>>" (end of the IRQ/exception stack).
CONTEXT_MARK = re.compile(r"^ {0,8}<{1,2}(/?)(IRQ|NMI|TASK|EOI|EOE|SOFTIRQ|#DF|#MC|DB|DB1|#VC)>{1,2}")


class RawFrame(NamedTuple):
    """A frame as read from one line, before normalization and skip decisions.

    A NamedTuple, not a frozen dataclass: one is built for every frame line, and parse.py
    memoizes the Frame made from each (hashed as a plain tuple, at C speed).
    """

    func: str
    module: str | None
    reliable: bool
    file: str | None
    line: int | None
    inline: bool
    from_rip: bool
    # ARM "a from b": the caller b, which is printed only here when this is the stack's last line
    caller: str | None = None
    caller_module: str | None = None


def parse_frame(text: str) -> RawFrame | None:
    """The frame printed on this (cleaned) line, or None when it is not a frame line."""
    if not text or len(text) < 3:
        return None
    c = text.lstrip()[:1]
    if not (c.isalpha() or c in "_[?($#"):
        return None
    m = FRAME.match(text)
    if m:
        q, func, mod, file, line, unrel = m.groups()  # (the common case: by position, see _FRAME_GROUPS)
        return RawFrame(func, mod, not (q or unrel), file, int(line) if line else None, False, False)
    if " [inline]" in text:
        m = INLINE.match(text)
        if m:
            return RawFrame(m.group("func"), None, not m.group("q"), m.group("file"), int(m.group("line")), True, False)
    if " from " in text:
        m = ARM_FROM.match(text)
        if m:
            return RawFrame(m.group("func"), m.group("fmod"), True, None, None, False, False,
                            m.group("caller"), m.group("mod"))
    if " (" in text:
        m = DECODED.match(text)
        if m:
            return RawFrame(m.group("func"), None, not m.group("q"), _relative(m.group("file")), int(m.group("line")),
                            bool(m.group("inl")), False)
    if c == "#":
        m = CRASH_BT.match(text)
        if m:
            return RawFrame(m.group("func"), m.group("mod"), True, None, None, False, False)
    return None


def parse_bare(text: str) -> RawFrame | None:
    """A frame printed as a bare name (`` memcpy``, `` foo [mod]``); see :data:`BARE`."""
    m = BARE.match(text)
    if not m:
        return None
    return RawFrame(m.group("func"), m.group("mod"), not m.group("q"), None, None, False, False)


# The characters RIP, CRASH_RIP and RIP_DECODED start with (after their spaces): RIP, IP, EIP,
# PC is at, pc, NIP, epc, ERA, era, Krnl PSW, "[exception RIP:" (tests/test_trace_speed.py checks).
_RIP_FIRST = frozenset("RIEPpNeK[")


def parse_rip(text: str) -> RawFrame | None:
    """The function of a faulting-instruction line (``RIP: 0010:func+0x..``), or None."""
    if text.lstrip(" ")[:1] not in _RIP_FIRST:
        return None  # most lines: no faulting-instruction regex can match
    return _rip(text)


def _rip(text: str) -> RawFrame | None:
    m = RIP.match(text)
    if not m:
        if text[:1] == "[" and (c := CRASH_RIP.match(text)):
            return RawFrame(c.group("func"), None, True, None, None, False, True)
        if " (" in text:
            d = RIP_DECODED.match(text)
            if d:
                return RawFrame(d.group("func"), None, True, _relative(d.group("file")), int(d.group("line")), False, True)
        return None
    line = m.group("line")
    return RawFrame(m.group("func"), m.group("mod"), True, m.group("file"), int(line) if line else None, False, True)


def _relative(path: str) -> str:
    return _SRC_ROOT.sub("", path) if path.startswith("/") else path
