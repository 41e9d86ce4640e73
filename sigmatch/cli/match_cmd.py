"""``sigmatch match``: which known bug a crash log is, its fix, and the release to install.

::

    sigmatch match [--json] [--top K] [--kernel VERSION] [FILE|-]   one log (human text or JSON)
    sigmatch match --jsonl FILE|- [--jobs N] [--summary [--json]]     batch: {"id", "log"} per line

The catalog is loaded once per run (from the prebuilt index when it is there). In batch mode
(:mod:`sigmatch.batch`) a bad line yields ``{"id": ..., "error": ...}`` and the batch goes on;
``--summary`` prints the fleet roll-up (:mod:`sigmatch.rollup`) instead of a result per line.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import IO, Any

from sigmatch import config
from sigmatch.answer import Answer, analyze
from sigmatch.batch import MAX_DEFAULT_JOBS, batch, batch_results, default_jobs, run_batch
from sigmatch.cli.common import read_log
from sigmatch.errors import InputError
from sigmatch.match.model import Match
from sigmatch.match.prebuilt import load_matcher
from sigmatch.rollup import render as render_rollup

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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    top = args.top if args.top is not None else int(config.get("SIGMATCH_TOP_K"))
    if top < 1:
        raise InputError("--top must be at least 1")
    if args.jsonl is not None:
        return run_jsonl(args, top)
    if args.summary or args.jobs is not None:
        raise InputError("--summary and --jobs go with --jsonl")
    text = read_log(args.file)
    matcher = load_matcher()
    answer = analyze(text, matcher, top=top, kernel=args.kernel)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, default=str))
    else:
        print(render(answer))
    return 0


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
        matcher = load_matcher()
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


def _verdict_lines(m: Match, answer: Answer) -> list[str]:
    v = m.verdict
    if v is None:
        return []
    running = v.running or "unknown"
    lines = [f"  kernel:    {running}: {v.status.value.upper().replace('_', ' ')} - {v.reason}"]
    if v.first_fixed:
        where = f" (on branch {v.fixed_branch})" if v.fixed_branch and v.fixed_branch != v.branch else ""
        lines.append(f"  install:   {v.first_fixed} or later{where}")
    if v.caveat:
        lines.append(f"  caveat:    {v.caveat}")
    return lines


def render(answer: Answer) -> str:
    """The human answer: the crash, the top match with fix and verdict, other candidates, notes."""
    out: list[str] = []
    if not answer.reports:
        out.append("No kernel crash report found in this log.")
    else:
        r = answer.reports[0]
        kv = answer.kernel.raw if answer.kernel else "kernel version unknown"
        out.append(f"Crash: {r.title}  [{r.kind.value}, {kv}]")
        if len(answer.reports) > 1:
            out.append(f"       (+{len(answer.reports) - 1} more report(s) in the log)")
    top = answer.top
    if top is None:
        out.append("No known bug matches: this may be a new bug, or one the catalog does not know.")
    else:
        b = top.bug
        if top.confident:
            out.append(f"Known bug: {b.id} - {b.title}")
            out.append(f"  match:     confident (score {top.score:.2f}, rule {top.rule})")
        else:
            out.append("No confident match: this may be a new bug. Closest known bug (a suggestion, not an answer):")
            out.append(f"  candidate: {b.id} - {b.title}")
            out.append(f"  match:     NOT confident (score {top.score:.2f}, {top.rule})")
        out.extend(_fix_lines(top))
        out.extend(_verdict_lines(top, answer))
        if b.stable_fixed:
            out.append("  stable:    " + ", ".join(f"{k}: {v}" for k, v in b.stable_fixed.items()))
        if top.matched_frames:
            out.append("  frames:    matched " + ", ".join(top.matched_frames[:8]))
        out.append(f"  why:       {top.explanation}")
        if len(answer.matches) > 1:
            out.append("Other candidates:")
            for n, m in enumerate(answer.matches[1:], start=2):
                fix = m.bug.fixes[0].short if m.bug.fixes else "-"
                out.append(f"  {n}. {m.bug.id} {fix} score {m.score:.2f} - {m.bug.title}")
    for note in answer.notes:
        out.append(f"note: {note}")
    out.append(f"(rules {answer.rules_version}, algorithm {answer.algorithm_version}, catalog {answer.catalog_version})")
    return "\n".join(out)
