"""Machine context of a crash report: kernel version, taint, hardware, task, CPU, modules.

Read from the "CPU: N PID: N Comm: x Tainted: ... <version> #N" line (and its 2.6/3.x and
hung-task variants), "Hardware name:", and "Modules linked in:" with its wrapped continuation
lines. Pure, bounded: every regex is anchored or prefiltered by a substring test.
"""

from __future__ import annotations

import re
from functools import lru_cache

from sigmatch.trace.kversion import VERSION_TOKEN, banner_release
from sigmatch.trace.model import DeviceError
from sigmatch.trace.normalize import lines_containing
from sigmatch.trace.rules import factored_union

# The version token (VERSION_TOKEN) and the "Linux version" banner are trace/kversion.py's.
_CPU_LINE = re.compile(
    r"CPU: (?P<cpu>\d+) (?:UID: \d+ )?PID: (?P<pid>\d+) Comm: (?P<comm>.{1,64}?) "
    rf"(?:(?:Not tainted|Tainted: (?P<taint>[A-Z ]{{1,40}}?)) +)?(?P<ver>{VERSION_TOKEN})"
)
_OLD_PID_LINE = re.compile(r"^Pid: (?P<pid>\d+), comm: (?P<comm>.{1,64}?) (?:Not tainted|Tainted: (?P<taint>[A-Z ]{1,40}?)) +"
                           rf"(?P<ver>{VERSION_TOKEN})")
_HW = re.compile(r"^Hardware name: (?P<hw>.{1,200})")
# The hung-task and lockdep banners put the version on a line of its own:
# "      Tainted: G           OE      6.1.0-18-amd64 #1 Debian 6.1.76-1", "6.8.0-rc1 #3 Not tainted".
_TAINT_LINE = re.compile(
    rf"^(?:(?:Not tainted|Tainted: (?P<taint>[A-Z ]{{1,40}}?)) +(?P<ver>{VERSION_TOKEN}) #"
    rf"|(?P<ver2>{VERSION_TOKEN}) #\d+\S* (?:Not tainted|Tainted: (?P<taint2>[A-Z ]{{1,40}}?))\s*$)"
)
_MODULES = re.compile(r"^Modules linked in:(?P<mods>.*)")
_MODULE_TOKEN = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
# A module's own taint letters in "Modules linked in": "zfs(PO)", "nvidia(POE)", "vboxdrv(OE)".
_MODULE_FLAGS = re.compile(r"^([A-Za-z0-9_\-]{1,64})\(([A-Z+\-]{1,8})\)")

# Taint letters (Documentation/admin-guide/tainted-kernels.rst, kernel/panic.c taint_flags[]),
# in the order the kernel prints them. "G" in P's place means every module is GPL.
TAINT_LETTERS: dict[str, str] = {
    "P": "P: proprietary module loaded",
    "F": "F: module force loaded",
    "S": "S: kernel running on an out-of-specification system",
    "R": "R: module force unloaded",
    "M": "M: machine check exception occurred",
    "B": "B: bad page referenced or unexpected page flags",
    "U": "U: taint requested by userspace",
    "D": "D: kernel died recently (an earlier oops or BUG)",
    "A": "A: ACPI table overridden",
    "W": "W: kernel issued a warning earlier",
    "C": "C: staging driver loaded",
    "I": "I: workaround for a platform firmware bug applied",
    "O": "O: out-of-tree (externally built) module loaded",
    "E": "E: unsigned module loaded",
    "L": "L: soft lockup occurred earlier",
    "K": "K: kernel live patched",
    "X": "X: auxiliary taint (distribution-defined)",
    "T": "T: kernel built with the struct randomization plugin",
    "N": "N: in-kernel test module loaded",
    "J": "J: userspace used a mutating debug operation (fwctl)",
}
# Module letters that say a module is not part of the kernel tree: proprietary or externally built.
OUT_OF_TREE_LETTERS = frozenset("PO")


def decode_taint(taint: str | None) -> tuple[str, ...]:
    """The taint letters of a "Tainted: P           OE" string, each with its meaning."""
    if not taint:
        return ()
    out = [TAINT_LETTERS.get(c, f"{c}: unknown taint letter") for c in dict.fromkeys(taint) if c.isalpha() and c != "G"]
    return tuple(out)


def machine_context(window: list[str], start: int, body: str | None = None) -> dict[str, str]:
    """Kernel version, taint, CPU/PID/comm, hardware and modules of a report.

    ``window`` is the report's lines preceded by the lines just before it (``start`` is the
    index of the header in it): "Modules linked in" and even "CPU:" lines may come first.
    Keys: ver, taint, comm, pid, cpu, hw, mods (space-separated), oot (the listed modules
    flagged proprietary or out-of-tree, space-separated). ``body``: the window's lines
    joined with newlines, when the caller has it.
    """
    ctx: dict[str, str] = {}
    # Each case below needs one of these on the line (most report lines have none); an old "Pid: "
    # line is only read when it holds "(Not t|T)ainted", which finds it.
    for j in lines_containing(window, ("CPU: ", "ainted", "Hardware name:", "Modules linked in:"), body):
        s = window[j].strip()
        if ("CPU: " in s or s.startswith("Pid: ")) and ("ver" not in ctx or j >= start):
            m = _CPU_LINE.search(s) or _OLD_PID_LINE.search(s)
            if m and ("ver" not in ctx or (j >= start and "cpu_in_report" not in ctx)):
                d = m.groupdict()
                ctx["ver"] = d["ver"]
                ctx["comm"] = d["comm"].strip()
                ctx["pid"] = d["pid"]
                if d.get("cpu"):
                    ctx["cpu"] = d["cpu"]
                taint = d.get("taint")
                if taint:
                    ctx["taint"] = " ".join(taint.split())
                elif "taint" in ctx:
                    del ctx["taint"]
                if j >= start:
                    ctx["cpu_in_report"] = "1"
        if "ver" not in ctx and "ainted" in s:
            m = _TAINT_LINE.match(s)
            if m:
                ctx["ver"] = m.group("ver") or m.group("ver2")
                taint = m.group("taint") or m.group("taint2")
                if taint:
                    ctx["taint"] = " ".join(taint.split())
        if s.startswith("Hardware name:") and ("hw" not in ctx or j >= start):
            m = _HW.match(s)
            if m:
                ctx["hw"] = m.group("hw").strip()
        if "mods" not in ctx and s.startswith("Modules linked in:"):
            m = _MODULES.match(s)
            if m:
                toks = m.group("mods").split()
                k = j + 1
                # Continuation lines of a long module list (terminal/mailer wrapped or printk split).
                while k < len(window) and k < j + 8 and _looks_like_modules(window[k]):
                    toks.extend(window[k].split())
                    k += 1
                read = [_module_memo(tok) if len(tok) <= MAX_MODULE_TOKEN else _module_token(tok) for tok in toks]
                ctx["mods"] = " ".join(name for name, _ in read if name)
                oot = [flagged for _, flagged in read if flagged]
                if oot:
                    ctx["oot"] = " ".join(oot)
    ctx.pop("cpu_in_report", None)
    return ctx


MAX_MODULE_TOKEN = 96  # tokens up to this long are memoized (a module name is at most 64 characters)


def _module_token(tok: str) -> tuple[str, str | None]:
    """One token of "Modules linked in": the module's name ("" when it is none) and, when its
    taint letters mark it proprietary or out-of-tree ("zfs(PO)"), the name as flagged. Memoized
    (_module_memo): the same modules are listed in every report of a machine."""
    f = _MODULE_FLAGS.match(tok)
    flagged = f.group(1) if f is not None and OUT_OF_TREE_LETTERS.intersection(f.group(2)) else None
    return _mod_name(tok), flagged


_module_memo = lru_cache(maxsize=8192)(_module_token)


def _mod_name(tok: str) -> str:
    tok = tok.strip()
    if tok.startswith("[") or tok.endswith("]") or tok.startswith("("):
        return ""
    tok = tok.split("(", 1)[0]
    return tok if _MODULE_TOKEN.match(tok) else ""


def _looks_like_modules(t: str) -> bool:
    s = t.strip()
    if not s or ":" in s or "+" in s or "[<" in s:
        return False
    toks = s.split()
    return all(_MODULE_TOKEN.match(x.split("(", 1)[0]) for x in toks if not x.startswith(("[", "(")))


MAX_BANNER_LINE = 20000  # the boot banner is among a log's first lines


def log_kernel_version(lines: list[str], body: str | None = None) -> str | None:
    """The "Linux version X" banner of a boot log, when the log has one (cleaned lines; ``body``:
    them joined with newlines, when the caller has it)."""
    if len(lines) > MAX_BANNER_LINE:
        lines, body = lines[:MAX_BANNER_LINE], None
    for j in lines_containing(lines, ("Linux version",), body):
        ver = banner_release(lines[j])
        if ver:
            return ver
    return None


# --- device errors printed just before a report ----------------------------------------------
# Filesystem errors name the device in parentheses: "EXT4-fs error (device sda1): ext4_lookup:
# 1855: inode #2: comm ls: ...", "XFS (dm-0): Internal error ...", "BTRFS error (device sdb): ...".
_DEV_FS = re.compile(
    r"^(?P<drv>EXT[234]-fs|XFS|BTRFS|F2FS-fs|NILFS|JBD2|OCFS2|GFS2|SQUASHFS|FAT-fs|exFAT-fs|ntfs3?|UDF-fs"
    r"|hfsplus|reiserfs|isofs)(?: (?:error|warning|critical|info))? ?\((?:device )?(?P<dev>[^)]{1,40})\):? "
    r"(?P<msg>.{1,300})")
# dev_err()/pr_err() lines: "usb 5-1: device descriptor read/64, error -71", "nvme nvme0: I/O 9 QID 0
# timeout", "mlx5_core 0000:03:00.0: ...", "au0828: Failure setting usb interface0 to as5".
_DEV_LINE = re.compile(r"^(?P<drv>[A-Za-z][\w\-.]{1,31})(?: (?P<dev>[\w\-:.]{1,40}))?: (?P<msg>.{3,300})")
# What makes such a line an error worth keeping.
_DEV_TROUBLE = re.compile(
    r"(?i)\b(?:errors?|fail(?:ed|ure|s)?|time ?out|timed out|reset(?:ting)?|abort(?:ed|ing)?|invalid|corrupt(?:ed|ion)?"
    r"|unable|can't|cannot|bad|unexpected|exception|refused|not responding|lost|hang|stuck)\b|Emask|error -\d+")
# Substrings _DEV_TROUBLE needs (lowercase): a cheap test before the regex (~4x faster).
_TROUBLE_HINT = re.compile(factored_union([re.escape(w) for w in (
    "err", "fail", "time", "reset", "abort", "invalid", "corrupt", "unable", "can't", "cannot", "bad", "unexpected",
    "exception", "refused", "not responding", "lost", "hang", "stuck", "emask")]))
# Lines of crash reports and test harnesses, not device messages.
_NOT_DEVICE = re.compile(
    r"^(?:CPU|PID|Pid|RIP|RSP|RAX|RBX|RCX|RDX|Code|Call [Tt]race|Modules linked in|Hardware name|Workqueue|BUG"
    r"|WARNING|INFO|Kernel panic|general protection|Oops|pc|lr|sp|x\d+|task|Stack|Tainted|Showing|NMI|Sending"
    r"|audit|kauditd|systemd|syz|executing program|Dumping ftrace|RBP|R\d+|FS|CS|CR2|DR\d|irq event|hardirqs"
    r"|softirqs|Mem abort|ESR|FAR|Data abort)\b")
# Names that are a port or instance of a driver rather than a driver ("ata1.00", "scsi2", "mmc0").
_PORT_NAME = re.compile(r"^(ata|scsi|host|mmc|nvme|eth|wlan)\d+(?:\.\d+)?$")
_DEV_FN = re.compile(r"\b([a-z_][a-z0-9_]{3,80})(?:\(\)|:\d+)")
MAX_DEVICE_LINES = 12  # lines before the report that are looked at
MAX_DEVICE_ERRORS = 3


def device_errors(before: list[str]) -> tuple[DeviceError, ...]:
    """Device or driver errors among the last lines before a report, in log order.

    Reads back from the report's first line, at most MAX_DEVICE_LINES lines, and stops at the
    previous report's trace (a frame line or an end-of-trace marker)."""
    out: list[DeviceError] = []
    for t in reversed(before[-MAX_DEVICE_LINES:]):
        s = t.strip()
        if not s:
            continue
        if s.startswith(("---[", "[<", "? ")) or s.endswith("]---") or "+0x" in s:
            break  # the previous report's frames or end marker
        err = _device_error_memo(s) if len(s) <= MAX_DEVICE_LINE else _device_error(s)
        if err is not None:
            out.append(err)
            if len(out) >= MAX_DEVICE_ERRORS:
                break
    return tuple(reversed(out))


MAX_DEVICE_LINE = 300  # characters of a line a DeviceError keeps (and the memo's bound)


def _device_error(s: str) -> DeviceError | None:
    """The device or driver error a (stripped) line reports, or None. Memoized
    (_device_error_memo): the same driver lines recur, and overlapping reports share theirs."""
    if not _TROUBLE_HINT.search(s.lower()) or not _DEV_TROUBLE.search(s):
        return None  # (the commonest case: checked first, by plain substrings before the regex)
    m = _DEV_FS.match(s)
    if m is not None:
        drv = m.group("drv").lower().removesuffix("-fs")
    else:
        m = _DEV_LINE.match(s)
        if m is None or _NOT_DEVICE.match(s) or not _DEV_TROUBLE.search(m.group("msg")):
            return None
        drv = m.group("drv")
        port = _PORT_NAME.match(drv)
        if port is not None:
            drv = port.group(1)  # "ata1.00" -> "ata"
    fns = tuple(dict.fromkeys(f for f in _DEV_FN.findall(m.group("msg")) if "_" in f))[:4]
    return DeviceError(line=s[:MAX_DEVICE_LINE], driver=drv, device=m.group("dev"), functions=fns)


_device_error_memo = lru_cache(maxsize=4096)(_device_error)
