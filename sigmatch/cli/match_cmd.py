"""``sigmatch match``: which known bug a crash log is, its fix, and the release to install.

::

    sigmatch match [--json] [--top K] [--kernel VERSION] [--upstream] [FILE|-]   one log (text or JSON)
    sigmatch match --jsonl FILE|- [--jobs N] [--summary [--json]]                 batch: {"id", "log"} per line

The catalog is loaded once per run (from the prebuilt index when it is there). In batch mode
(:mod:`sigmatch.batch`) a bad line yields ``{"id": ..., "error": ...}`` and the batch goes on;
``--summary`` prints the fleet roll-up (:mod:`sigmatch.rollup`) instead of a result per line. With
``--upstream`` (and ``SIGMATCH_UPSTREAM_LOOKUP`` on) lore, bugzilla and syzbot are asked about the
crash the answer leads with, within ``SIGMATCH_UPSTREAM_BUDGET``, and the answer is made again with
what they say (:func:`sigmatch.runtime.serving.with_upstream`, as the API does; nothing runs on
after the command exits, so sources still pending are not counted, and a note says so).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from sigmatch.advice import advise, report_state
from sigmatch.answer import Answer, ReportAnswer, analyze
from sigmatch.batch import MAX_DEFAULT_JOBS, batch, batch_results, default_jobs, run_batch
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.versions import parse_kernel_version
from sigmatch.cli.common import read_log, runtime_of, settings_of
from sigmatch.errors import InputError
from sigmatch.match.model import Match
from sigmatch.rollup import render as render_rollup
from sigmatch.runtime.serving import with_upstream

__all__ = ["batch", "batch_results", "register", "render", "run"]


def register(sub: Any) -> None:
    p = sub.add_parser(
        "match", help="match a crash log to known bugs, their fixes and releases",
        description="Match a kernel crash log to the known bugs it may be: the fix (commit, subject, "
                    "mainline release), the verdict for the log's kernel and the first fixed release "
                    "on its branch. Says plainly when there is no confident match.")
    p.add_argument("file", nargs="?", default="-", help="the log (default: standard input)")
    p.add_argument("--json", action="store_true", help="print the whole answer as JSON")
    p.add_argument("--top", type=int, default=None, metavar="K",
                   help="how many ranked matches (default: SIGMATCH_TOP_K)")
    p.add_argument("--kernel", default=None, metavar="VERSION",
                   help="the running kernel (uname -r) when the log does not say it")
    p.add_argument("--jsonl", default=None, metavar="FILE",
                   help='batch mode: each input line {"id": ..., "log": ...}; one JSON result per line')
    p.add_argument("--summary", action="store_true",
                   help="with --jsonl: print the fleet roll-up instead (known bugs with counts, first/last "
                        'seen from a "time"/"date" field or the logs\' timestamps, kernels); --json for JSON')
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help=f"with --jsonl: worker processes (default: the usable cores, at most {MAX_DEFAULT_JOBS})")
    p.add_argument("--upstream", action="store_true",
                   help="also ask lore, bugzilla and syzbot (within SIGMATCH_UPSTREAM_BUDGET) and fold what they "
                        "say into the answer: a bug or report naming the top candidate's fix may make it confident")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    top = args.top if args.top is not None else settings_of(args).top_k
    if top < 1:
        raise InputError("--top must be at least 1")
    if args.jsonl is not None:
        if args.upstream:
            raise InputError("--upstream answers one log at a time (it asks upstream about each); not with --jsonl")
        return run_jsonl(args, top)
    if args.summary or args.jobs is not None:
        raise InputError("--summary and --jobs go with --jsonl")
    if args.kernel is not None and parse_kernel_version(args.kernel) is None:
        raise InputError(f"--kernel {args.kernel[:80]!r} is not a kernel version (give what `uname -r` "
                         "prints, e.g. 5.15.0-91-generic or 6.1.31)")
    text = read_log(args.file)
    rt = runtime_of(args)
    matcher = rt.load_matcher()
    catalog = matcher.catalog
    answer = analyze(text, matcher, top=top, kernel=args.kernel)
    if args.upstream:
        answer = with_upstream(answer, text, rt, matcher=matcher, top=top, kernel=args.kernel, background=False)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, default=str))
    else:
        print(render(answer, catalog))
    # like `sigmatch parse` (and the API's 422): a log with no crash report in it is exit status 1
    return 0 if answer.reports else 1


def run_jsonl(args: argparse.Namespace, top: int) -> int:
    """Batch mode (:mod:`sigmatch.batch`): a result per line, or the roll-up (:mod:`sigmatch.rollup`)."""
    jobs = args.jobs if args.jobs is not None else default_jobs()
    if jobs < 1:
        raise InputError("--jobs must be at least 1")
    if args.jsonl == "-":
        fh: IO[str] = sys.stdin
    else:
        try:
            fh = open(args.jsonl, encoding="utf-8", errors="replace")  # noqa: SIM115 - closed below
        except FileNotFoundError as exc:
            raise InputError(f"{args.jsonl}: no such file", reason="not_found") from exc
        except IsADirectoryError as exc:
            raise InputError(f"{args.jsonl}: is a directory") from exc
        except OSError as exc:
            raise InputError(f"{args.jsonl}: {exc.strerror}") from exc
    try:
        matcher = runtime_of(args).load_matcher()
        _, roll = run_batch(fh, matcher, None if args.summary else sys.stdout, top=top, jobs=jobs,
                            summary=args.summary)
    finally:
        if fh is not sys.stdin:
            fh.close()
    if roll is not None:
        doc = roll.to_dict()
        print(json.dumps(doc, indent=1, default=str) if args.json else render_rollup(doc))
    return 0


def _fix_lines(m: Match) -> list[str]:
    lines = []
    for f in m.bug.fixes:
        lines.append(f"  fix:       {f.short} \"{f.subject}\" (mainline {f.mainline or 'release unknown'})"
                     + ("" if f.verified else " [unverified]"))
    if not m.bug.fixes:
        lines.append("  fix:       no fixing commit recorded")
    return lines


def _verdict_lines(m: Match) -> list[str]:
    """What the match means for the kernel in the log, in :mod:`sigmatch.advice`'s words: only a
    confident match on a kernel that lacks the fix says "affected: install"."""
    v = m.verdict
    if v is None:
        return []
    lines = [f"  kernel:    {advise(m).headline}"]
    lines.append(f"  because:   {v.reason}" if m.confident else f"  facts:     {v.reason}")
    if v.caveat:
        lines.append(f"  caveat:    {v.caveat}")
    return lines


def _kernel_of(ra: ReportAnswer, answer: Answer) -> str:
    v = ra.top.verdict if ra.top is not None else None
    if v is not None and v.running:
        return v.running
    return answer.kernel.raw if answer.kernel else "kernel version unknown"


def _report_lines(ra: ReportAnswer, answer: Answer, *, full: bool, n_reports: int) -> list[str]:
    """One answered report: its crash line, the top match with fix and verdict, other candidates."""
    r = ra.report
    out: list[str] = []
    where = f"Report {ra.index + 1} of {n_reports}: " if n_reports > 1 else "Crash: "
    out.append(f"{where}{r.title}  [{r.kind.value}, {_kernel_of(ra, answer)}]")
    if ra.repeats:
        shown = ", ".join(str(i + 1) for i in ra.repeats[:10]) + (" ..." if len(ra.repeats) > 10 else "")
        out.append(f"       (the same crash again in report{'s' if len(ra.repeats) > 1 else ''} {shown})")
    state = report_state(r)
    if state:
        out.append(state)
    top = ra.top
    if top is None:
        out.append("No known bug in the catalog matches this crash.")
        return out
    b = top.bug
    if top.confident:
        out.append(f"Known bug: {b.id} - {b.title}")
        out.append(f"  match:     confident (score {top.score:.2f}, rule {top.rule})")
    else:
        out.append(f"Possible match (not confident, a suggestion, not an answer): {b.id} - {b.title}")
        out.append(f"  match:     not confident (score {top.score:.2f}, {top.rule})")
    out.extend(_fix_lines(top) if full else _fix_lines(top)[:1])
    out.extend(_verdict_lines(top) if full else _verdict_lines(top)[:1])
    if not full:
        return out
    if b.stable_fixed:
        out.append("  stable:    " + ", ".join(f"{k}: {v}" for k, v in b.stable_fixed.items()))
    if top.matched_frames:
        out.append("  frames:    matched " + ", ".join(top.matched_frames[:8]))
    out.append(f"  why:       {top.explanation}")
    if len(ra.matches) > 1:
        out.append("Other candidates:")
        for n, m in enumerate(ra.matches[1:], start=2):
            fix = m.bug.fixes[0].short if m.bug.fixes else "-"
            out.append(f"  {n}. {m.bug.id} {fix} score {m.score:.2f} - {m.bug.title}")
    return out


def render(answer: Answer, catalog: Catalog | None = None) -> str:
    """The human answer: every crash of the log, the confident ones first, each with its top match,
    fix and verdict; then the notes and what produced the answer."""
    if not answer.reports:
        return "No kernel crash report found in this log."  # and nothing else: there is nothing to match
    out: list[str] = []
    ordered = answer.ordered
    n_reports = len(answer.reports)
    if len(ordered) > 1 or n_reports > 1:
        out.append(answer.summary)
        out.append("")
    for pos, ra in enumerate(ordered):
        if pos:
            out.append("")
        # the best answer in full; later ones in full when confident, else in brief
        out.extend(_report_lines(ra, answer, full=pos == 0 or ra.confident, n_reports=n_reports))
    if answer.notes:
        out.append("")
    for note in answer.notes:
        out.append(f"note: {note}")
    up = answer.upstream
    if up:
        out.append(f"note: {_upstream_line(up)}")
    if catalog is not None:
        out.extend(f"note: {line}" for line in catalog_notes(catalog))
    size = f": {len(catalog)} known bugs" if catalog is not None else ""
    out.append(f"(rules {answer.rules_version}, algorithm {answer.algorithm_version}, "
               f"catalog {answer.catalog_version}{size})")
    return "\n".join(out)


def _upstream_line(up: dict[str, Any]) -> str:
    """Whom upstream asking reached, in one line (``Answer.upstream``)."""
    if not up.get("enabled", True):
        return "; ".join(up.get("notes") or ["upstream lookup is off"])
    states = ", ".join(f"{s.get('name')} {s.get('state')}" for s in up.get("sources") or ())
    took = f" ({up['elapsed_s']:.1f} s of a {up.get('budget_s', 0):g} s budget)" if "elapsed_s" in up else ""
    return f"upstream asked: {states or 'nobody'}{took}"


def catalog_notes(catalog: Catalog) -> list[str]:
    """What a fresh install should be told: only the curated bugs are known until the CVE feed is in."""
    stats = catalog.stats()
    if stats.get("imported", 0):
        return []
    return [f"the catalog holds only the {stats.get('curated', len(catalog))} curated known bugs: "
            "`sigmatch refresh` imports the kernel CVE team's feed (about 14,600 more); it needs network "
            "access to git.kernel.org, or SIGMATCH_CVE_REPO set to a local clone or bundle of the vulns "
            "repository"]
