"""``sigmatch refresh``: bring the known-bugs catalog up to date (a thin caller of :func:`sigmatch.refresh.refresh`)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any, TextIO

from sigmatch.cli.common import runtime_of
from sigmatch.refresh import SOURCES, RefreshReport, refresh
from sigmatch.runtime import Runtime


def register(sub: Any) -> None:
    p = sub.add_parser("refresh", help="bring the known-bugs catalog up to date (CVE records, stable releases, upstream reports)",
                       description="Steps: cve — fetch the kernel CVE repository (SIGMATCH_CVE_REPO) and import what "
                                   "changed since the last run; stable — confirm from kernel.org ChangeLogs which stable "
                                   "releases carry the curated entries' fixes; upstream — attach new upstream reports "
                                   "(lore, bugzilla, syzbot) of the curated entries. Then swap in a new catalog snapshot "
                                   "(SIGMATCH_DATA_DIR, or Redis with REDIS_URL) if anything changed. signatures/ is never "
                                   "written.")
    p.add_argument("--source", action="append", choices=SOURCES, dest="sources",
                   help="limit the refresh to this step (repeatable; default: all)")
    p.add_argument("--full", action="store_true", help="re-read every record, not only the changed ones")
    p.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    p.set_defaults(func=run)


class ProgressPrinter:
    """A bar on a terminal; a line every few seconds (and at each step's end) otherwise."""

    def __init__(self, stream: TextIO, interval: float = 5.0) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.interval = interval
        self.last = 0.0
        self.step = ""

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        finished = total > 0 and done >= total
        if self.tty:
            width = 30
            frac = done / total if total else 0.0
            bar = "#" * int(frac * width)
            self.stream.write(f"\r{step:7} [{bar:<{width}}] {done}/{total}")
            if finished:
                self.stream.write("\n")
            self.stream.flush()
            return
        if total <= 1:  # a one-shot step: say when it starts
            if done == 0:
                self.stream.write(f"sigmatch refresh: {step}...\n")
                self.stream.flush()
            return
        if step != self.step or finished or now - self.last >= self.interval:
            pct = 100.0 * done / total
            self.stream.write(f"sigmatch refresh: {step} {done}/{total} ({pct:.0f}%)\n")
            self.stream.flush()
            self.last = now
            self.step = step


def summary(report: RefreshReport) -> str:
    lines = []
    commit = (report.to_commit or "")[:12]
    if "cve" not in report.sources:
        lines.append(f"refresh: {', '.join(report.sources)} in {report.seconds:.1f}s"
                     + (", nothing new" if report.unchanged else ""))
    elif report.unchanged and not report.skipped:
        lines.append(f"refresh: nothing changed (CVE repository at {commit}) in {report.seconds:.1f}s")
    else:
        how = "full import" if report.full else f"changes since {(report.from_commit or '')[:12]}"
        lines.append(f"refresh: {how}, {report.records_read} records read, CVE repository at {commit}, "
                     f"{report.seconds:.1f}s")
    if "cve" in report.sources:
        lines.append(f"  added {len(report.added)}, changed {len(report.changed)}, "
                     f"removed/withdrawn {len(report.removed)}, skipped {len(report.skipped)}")
    for s in report.skipped[:20]:
        lines.append(f"  skipped {s.id}: {s.reason}")
    if len(report.skipped) > 20:
        lines.append(f"  ... and {len(report.skipped) - 20} more skipped (see --json)")
    for rid in report.removed[:10]:
        lines.append(f"  withdrawn {rid}")
    if len(report.removed) > 10:
        lines.append(f"  ... and {len(report.removed) - 10} more withdrawn")
    c = report.counts
    lines.append(f"  imported catalog: {c.get('bugs', 0)} bugs, {c.get('with_fix', 0)} with a fix, "
                 f"{c.get('with_stable', 0)} with stable releases, {c.get('with_trace', 0)} with a crash signature")
    lines.extend(_curated_lines(report.curated))
    snap = report.snapshot_version or "none yet"
    lines.append(f"  snapshot {snap}" + (f" (was {report.previous_version})"
                                          if report.previous_version and report.previous_version != snap else ""))
    lines.extend(f"  note: {n}" for n in report.notes)
    return "\n".join(lines)


def _curated_lines(c: dict[str, Any]) -> list[str]:
    """Steps 2-3 in a few lines: every finding (they are few), the counts, the first notes."""
    if not c:
        return []
    lines = [f"  curated entries: {c.get('checked', 0)} checked ({', '.join(c.get('steps', ()))}), "
             f"{c.get('changelogs_read', 0)} ChangeLogs read, {c.get('lookups', 0)} upstream lookups"]
    for key, label in (("verified", "verified"), ("corrected", "corrected"), ("added", "new branch"),
                       ("attached", "attached"), ("conflicts", "CONFLICT")):
        lines.extend(f"  {label}: {line}" for line in c.get(key, ()))
    if c.get("not_reached"):
        lines.append(f"  not reached (go first next time): {', '.join(c['not_reached'][:10])}")
    notes = c.get("notes", ())
    lines.extend(f"  note: {n if len(n) <= 200 else n[:197] + '...'}" for n in notes[:10])
    if len(notes) > 10:
        lines.append(f"  ... and {len(notes) - 10} more notes (see --json)")
    return lines


def run(args: argparse.Namespace) -> int:
    progress = ProgressPrinter(sys.stderr)
    report = refresh(tuple(args.sources or SOURCES), runtime=runtime_of(args), progress=progress, full=args.full)
    if args.json:
        print(json.dumps(report.to_dict(ids_limit=None), indent=1))
    else:
        print(summary(report))
    sys.stdout.flush()
    prebuild_index(runtime_of(args), progress)
    return 0


def prebuild_index(runtime: Runtime, progress: ProgressPrinter) -> None:
    """Build the index of the catalog now in force and keep it beside the snapshot, so that the
    next ``sigmatch match`` starts in well under a second. Trouble here is a note: the refresh is
    done, and ``match`` builds the index itself when the file is not there."""
    from sigmatch.errors import SigmatchError
    progress("index", 0, 1)
    try:
        runtime.prebuild_index()
    except SigmatchError as exc:
        print(f"sigmatch refresh: note: the index was not prebuilt: {exc}", file=sys.stderr)
    progress("index", 1, 1)
