"""``sigmatch match``: which known bug a crash log is, its fix, and the release to install.

::

    sigmatch match [--json] [--top K] [--kernel VERSION] [FILE|-]   one log (human text or JSON)
    sigmatch match --jsonl FILE|-                                     batch: {"id", "log"} per line

The catalog is loaded and indexed once per run. In batch mode a bad line yields
``{"id": ..., "error": ...}`` and the batch goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from typing import IO, Any

from sigmatch import config
from sigmatch.answer import Answer, analyze
from sigmatch.cli.common import read_log
from sigmatch.errors import InputError, SigmatchError
from sigmatch.match.matcher import Matcher
from sigmatch.match.model import Match
from sigmatch.match.prebuilt import load_matcher


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
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    top = args.top if args.top is not None else int(config.get("SIGMATCH_TOP_K"))
    if top < 1:
        raise InputError("--top must be at least 1")
    if args.jsonl is not None:
        matcher = load_matcher()
        if args.jsonl == "-":
            lines: Iterable[str] = sys.stdin
            batch(lines, matcher, sys.stdout, top=top)
        else:
            try:
                with open(args.jsonl, encoding="utf-8", errors="replace") as fh:
                    batch(fh, matcher, sys.stdout, top=top)
            except FileNotFoundError as exc:
                raise InputError(f"{args.jsonl}: no such file", reason="not_found") from exc
            except IsADirectoryError as exc:
                raise InputError(f"{args.jsonl}: is a directory") from exc
        return 0
    text = read_log(args.file)
    matcher = load_matcher()
    answer = analyze(text, matcher, top=top, kernel=args.kernel)
    if args.json:
        print(json.dumps(answer.to_dict(), indent=2, default=str))
    else:
        print(render(answer))
    return 0


def batch_results(lines: Iterable[str], matcher: Matcher, *, top: int = 5) -> Iterator[dict[str, Any]]:
    """One result object per non-blank input line; errors become ``{"id", "error"}`` objects."""
    for lineno, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        item_id: Any = None
        try:
            obj = json.loads(line)
            if not isinstance(obj, dict):
                raise InputError("line is not a JSON object")
            item_id = obj.get("id", lineno)
            log = obj.get("log", obj.get("trace"))
            if not isinstance(log, str):
                raise InputError('no "log" string on this line')
            answer = analyze(log, matcher, top=top, kernel=obj.get("kernel") or None)
            yield {"id": item_id, "reports": [r.to_dict() for r in answer.reports],
                   "matches": [m.to_dict() for m in answer.matches], "confident": answer.confident,
                   "kernel": answer.kernel.to_dict() if answer.kernel else None, "notes": list(answer.notes),
                   "algorithm_version": answer.algorithm_version, "catalog_version": answer.catalog_version}
        except json.JSONDecodeError as exc:
            yield {"id": item_id, "line": lineno, "error": f"not JSON: {exc.msg}"}
        except SigmatchError as exc:
            yield {"id": item_id, "line": lineno, "error": str(exc)}
        except Exception as exc:  # one bad line must not stop the batch; say what happened
            yield {"id": item_id, "line": lineno, "error": f"internal error: {exc.__class__.__name__}: {exc}"}


def batch(lines: Iterable[str], matcher: Matcher, out: IO[str], *, top: int = 5) -> int:
    n = 0
    for res in batch_results(lines, matcher, top=top):
        # check_circular=False: results are fresh trees of dicts and lists (~30% faster encoding).
        out.write(json.dumps(res, default=str, check_circular=False) + "\n")
        n += 1
    out.flush()
    return n


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
