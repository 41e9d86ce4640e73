"""Machine context of a crash report: kernel version, taint, hardware, task, CPU, modules.

Read from the "CPU: N PID: N Comm: x Tainted: ... <version> #N" line (and its 2.6/3.x and
hung-task variants), "Hardware name:", and "Modules linked in:" with its wrapped continuation
lines. Pure, bounded: every regex is anchored or prefiltered by a substring test.
"""

from __future__ import annotations

import re

from sigmatch.trace.kversion import VERSION_TOKEN, banner_release
from sigmatch.trace.normalize import lines_containing

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


def machine_context(window: list[str], start: int, body: str | None = None) -> dict[str, str]:
    """Kernel version, taint, CPU/PID/comm, hardware and modules of a report.

    ``window`` is the report's lines preceded by the lines just before it (``start`` is the
    index of the header in it): "Modules linked in" and even "CPU:" lines may come first.
    Keys: ver, taint, comm, pid, cpu, hw, mods (space-separated). ``body``: the window's lines
    joined with newlines, when the caller has it.
    """
    ctx: dict[str, str] = {}
    # Each case below needs one of these on the line (most report lines have none).
    for j in lines_containing(window, ("CPU: ", "Pid: ", "ainted", "Hardware name:", "Modules linked in:"), body):
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
                mods = [_mod_name(tok) for tok in m.group("mods").split()]
                k = j + 1
                # Continuation lines of a long module list (terminal/mailer wrapped or printk split).
                while k < len(window) and k < j + 8 and _looks_like_modules(window[k]):
                    mods.extend(_mod_name(tok) for tok in window[k].split())
                    k += 1
                ctx["mods"] = " ".join(x for x in mods if x)
    ctx.pop("cpu_in_report", None)
    return ctx


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


def log_kernel_version(lines: list[str]) -> str | None:
    """The "Linux version X" banner of a boot log, when the log has one (cleaned lines)."""
    for j in lines_containing(lines[:20000], ("Linux version",)):
        ver = banner_release(lines[j])
        if ver:
            return ver
    return None
