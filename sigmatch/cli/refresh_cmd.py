"""``sigmatch refresh``: bring the known-bugs catalog up to date (a thin caller of :func:`sigmatch.refresh.refresh`)."""

from __future__ import annotations

import argparse
import gzip
import json
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from sigmatch.catalog.vendor import MAX_CHANGELOG_BYTES
from sigmatch.cli.common import runtime_of
from sigmatch.errors import InputError
from sigmatch.refresh import SOURCES, RefreshReport, VendorInput, refresh
from sigmatch.runtime import Runtime
from sigmatch.textio import decode_log


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
    p.add_argument("--vendor-changelog", action="append", default=[], metavar="FILE", dest="vendor_changelogs",
                   help="a distribution kernel's package changelog to record (repeatable): `rpm -q --changelog "
                        "kernel` output (RHEL, CentOS, Rocky, Alma, Oracle, Fedora, Amazon Linux, SUSE) or "
                        "changelog.Debian(.gz) of a Debian or Ubuntu linux-image package; verdicts then say "
                        "whether that vendor kernel carries a fix by its changelog. Alone, it runs only the "
                        "vendor step")
    p.add_argument("--vendor-build", metavar="VERSION", default=None,
                   help="the build the (one) --vendor-changelog belongs to, as `uname -r` prints it, when its "
                        "entries name none (SUSE) or to override the newest entry's")
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
    lines.extend(_vendor_lines(report.vendor))
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


def read_changelog(path: Path) -> bytes:
    """A changelog file's bytes; ``changelog.Debian.gz`` as Debian ships it is decompressed (bounded)."""
    with path.open("rb") as f:
        head = f.read(2)
        f.seek(0)
        if head == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=f) as gz:
                data = gz.read(MAX_CHANGELOG_BYTES + 1)
        else:
            data = f.read(MAX_CHANGELOG_BYTES + 1)
    if len(data) > MAX_CHANGELOG_BYTES:
        raise InputError(f"{path.name}: larger than {MAX_CHANGELOG_BYTES >> 20} MiB, not a kernel changelog",
                         reason="vendor_changelog")
    return data


def _read_changelogs(paths: list[str], build: str | None) -> list[VendorInput]:
    if build is not None and len(paths) != 1:
        raise InputError("--vendor-build names the build of one --vendor-changelog", reason="vendor_changelog")
    out: list[VendorInput] = []
    for path in paths:
        try:
            text = decode_log(read_changelog(Path(path)))
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise InputError(f"cannot read {path}: {getattr(exc, 'strerror', None) or exc}",
                             reason="vendor_changelog") from exc
        out.append((Path(path).name, text, build))
    return out


def _vendor_lines(v: dict[str, Any]) -> list[str]:
    if not v:
        return []
    lines = [f"  vendor changelogs: {len(v.get('changelogs', ()))} recorded, {v.get('bugs', 0)} known bugs "
             f"named by them, {v.get('changed', 0)} changed"]
    lines.extend(f"  vendor: {c}" for c in v.get("changelogs", ()))
    return lines


def run(args: argparse.Namespace) -> int:
    progress = ProgressPrinter(sys.stderr)
    logs = _read_changelogs(args.vendor_changelogs, args.vendor_build)
    sources = tuple(args.sources or (("vendor",) if logs else SOURCES))
    report = refresh(sources, runtime=runtime_of(args), progress=progress, full=args.full,
                     vendor_changelogs=logs)
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
