"""``sigmatch parse [--json] [FILE|-]``: the crash reports found in a console log."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from sigmatch.cli.common import read_log
from sigmatch.trace.model import Report
from sigmatch.trace.parse import RULES_VERSION, parse_log
from sigmatch.trace.signature import signature_of


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("parse", help="show the crash reports found in a kernel log")
    p.add_argument("file", nargs="?", default="-", metavar="FILE|-", help="log file, or - for standard input")
    p.add_argument("--json", action="store_true", help="print JSON (reports with their signatures)")
    p.add_argument("--frames", action="store_true", help="list skipped and unreliable frames too (text output)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    text = read_log(args.file)
    reports = parse_log(text)
    if args.json:
        out = {
            "rules_version": RULES_VERSION,
            "reports": [dict(r.to_dict(), signature=signature_of(r).to_dict()) for r in reports],
        }
        json.dump(out, sys.stdout, indent=2)
        sys.stdout.write("\n")
        return 0 if reports else 1
    if not reports:
        print(f"no kernel crash report found (rules {RULES_VERSION})")
        return 1
    for n, r in enumerate(reports):
        if n:
            print()
        _print_report(n, r, all_frames=args.frames)
    return 0


def _print_report(n: int, r: Report, *, all_frames: bool) -> None:
    role = "primary" if n == 0 else "follow-on"
    print(f"[{n + 1}] {r.title}   ({r.kind.value}, {role}, log lines {r.start_line + 1}-{r.end_line})")
    if r.corrupted:
        print(f"    corrupted: {r.corrupted_reason}")
    if r.alt_titles:
        print(f"    also: {'; '.join(r.alt_titles)}")
    print(f"    guilty frame: {r.guilty_frame or '-'}" + (f" ({r.guilty_file})" if r.guilty_file else ""))
    facts = [
        ("kernel", r.kernel_version), ("taint", r.taint), ("comm", r.comm),
        ("pid", None if r.pid is None else str(r.pid)), ("cpu", None if r.cpu is None else str(r.cpu)),
        ("hardware", r.hardware),
    ]
    line = ", ".join(f"{k} {v}" for k, v in facts if v)
    if line:
        print(f"    {line}")
    if r.modules:
        more = f" (+{len(r.modules) - 12} more)" if len(r.modules) > 12 else ""
        print(f"    modules: {' '.join(r.modules[:12])}{more}")
    sig = signature_of(r)
    print(f"    signature: {' > '.join(sig.frames) or '-'}" + ("   [low information]" if sig.low_information else ""))
    shown = r.frames if all_frames else tuple(f for f in r.frames if f.reliable and not f.skipped)
    if shown:
        print("    frames:")
        for f in shown[:40]:
            mark = "?" if not f.reliable else ("-" if f.skipped else ("*" if f.function == r.guilty_frame else " "))
            where = f" {f.file}:{f.line}" if f.file else ""
            mod = f" [{f.module}]" if f.module else ""
            ctx = "" if f.context.value == "task" else f" <{f.context.value}>"
            rip = " (RIP)" if f.from_rip else ""
            note = f"   # {f.note}" if (all_frames and f.note) else ""
            print(f"      {mark} {f.function}{mod}{where}{ctx}{rip}{note}")
    print(f"    rules {r.rules_version}")
