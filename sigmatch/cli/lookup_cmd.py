"""``sigmatch lookup``: who else has seen this crash upstream, and is a fix on its way.

::

    sigmatch lookup [--json] [--budget SECONDS] [--query TERM] [--fix SHA]... [--no-match] [FILE|-]

Reads the log, takes the crash report its answer leads with (the best confident one, else the
first) and asks lore.kernel.org, bugzilla.kernel.org, syzbot and the stable ChangeLogs (base URLs
from ``SIGMATCH_*_URL``). Prints each report and patch with its lore link (the link carries the
Message-ID), bugzilla bugs with their ids, the fixing commits found and the first stable releases
carrying them; then what that evidence says about the catalog's answer (the top match before and
after it, and which upstream item said what; ``--no-match`` skips the catalog). Waits at most the
budget (``SIGMATCH_UPSTREAM_BUDGET``); what upstream could not say is printed as notes. Exits 3 (after
printing the result, ``complete: false``) when every source asked failed: no network, DNS, refused.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from sigmatch import parse_log
from sigmatch.answer import Answer, analyze, lookup_target
from sigmatch.cli.common import read_log, runtime_of
from sigmatch.errors import InputError
from sigmatch.match.matcher import Matcher

if TYPE_CHECKING:  # the upstream clients (requests, bs4) load only when `lookup` runs, not for every command
    from sigmatch.upstream.model import LoreMessage, UpstreamResult


def register(sub: Any) -> None:
    p = sub.add_parser(
        "lookup", help="look a crash up on lore, bugzilla, syzbot and the stable ChangeLogs",
        description="Search upstream for reports of the same crash, the patches answering them, "
                    "bugzilla bugs, fixing commits and the stable releases carrying them. Returns "
                    "within the budget with whatever arrived and says what upstream could not say.")
    p.add_argument("file", nargs="?", default="-", help="the log (default: standard input)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--budget", type=float, default=None, metavar="SECONDS",
                   help="longest wait on upstream (default: SIGMATCH_UPSTREAM_BUDGET)")
    p.add_argument("--query", default=None, metavar="TERM",
                   help="search for TERM (a function name) instead of the one taken from the log")
    p.add_argument("--fix", action="append", default=[], metavar="SHA",
                   help="a fixing commit already known: find the stable releases carrying it (repeatable)")
    p.add_argument("--no-match", action="store_true",
                   help="do not load the catalog to say what upstream's evidence means for its answer")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.budget is not None and not 0 < args.budget <= 600:
        raise InputError("--budget must be between 0 and 600 seconds")
    from sigmatch.upstream.evidence import evidence_from
    from sigmatch.upstream.lookup import Query, lookup, query_for

    text = read_log(args.file)
    reports = parse_log(text)
    rt = runtime_of(args)
    before: Answer | None = None
    matcher: Matcher | None = None
    fixes: list[str]
    index, fixes = 0, []
    if reports and not args.no_match:
        matcher = rt.load_matcher()
        before = analyze(text, matcher, top=rt.settings.top_k)
        index, fixes = lookup_target(before)
    if reports:
        q = query_for(reports[index] if index < len(reports) else reports[0], text=text,
                      fix_commits=[*args.fix, *fixes])
        if args.query:
            q = Query(lore=args.query, bugzilla=args.query, syzbot_extids=q.syzbot_extids,
                      syzbot_title=q.syzbot_title, kernel_version=q.kernel_version, fix_commits=q.fix_commits)
    elif args.query:
        q = Query(lore=args.query, bugzilla=args.query, fix_commits=tuple(args.fix))
    else:
        raise InputError("no crash report found in the log: nothing to look up (use --query TERM)",
                         reason="no_report")
    result = lookup(q, settings=rt.settings, budget=args.budget, client=rt.upstream_client())
    title = reports[index].title if reports and index < len(reports) else None
    after = None
    if before is not None and matcher is not None:
        after = analyze(text, matcher, top=rt.settings.top_k,
                        evidence=evidence_from(result, report_index=index, text=text))
    if args.json:
        doc = result.to_dict()
        doc["title"] = title
        if before is not None and after is not None:
            doc["match"] = match_effect(before, after)
        print(json.dumps(doc, indent=2))
    else:
        print(render(result, title=title))
        if before is not None and after is not None:
            print("\n" + "\n".join(effect_lines(before, after)))
    if result.failed:
        print(f"sigmatch: error: no upstream source answered ({', '.join(result.failed)}): check the network "
              "and the SIGMATCH_LORE_URL/BUGZILLA_URL/SYZBOT_URL/STABLE_URL settings", file=sys.stderr)
        return EXIT_NO_SOURCE
    return 0


# Exit status when every upstream source asked failed: the lookup says nothing (2 is a usage or
# input error, as for the other subcommands).
EXIT_NO_SOURCE = 3


def _top(answer: Answer) -> dict[str, Any]:
    m = answer.top
    if m is None:
        return {"bug_id": None, "confident": False, "score": 0.0, "rule": None}
    return {"bug_id": m.bug.id, "title": m.bug.title, "confident": m.confident, "score": round(m.score, 4),
            "rule": m.rule, "fixes": [f.sha for f in m.bug.fixes]}


def match_effect(before: Answer, after: Answer) -> dict[str, Any]:
    """The catalog's top match without and with the upstream evidence, and what upstream said."""
    top = after.top
    return {"before": _top(before), "after": _top(after),
            "upstream": [u.to_dict() for u in top.upstream] if top is not None else [],
            "notes": [n for n in after.notes if n.startswith("upstream")]}


def effect_lines(before: Answer, after: Answer) -> list[str]:
    def line(a: Answer) -> str:
        m = a.top
        if m is None:
            return "no known bug matches"
        state = "confident" if m.confident else "not confident"
        return f"{m.bug.id} ({m.bug.fixes[0].short if m.bug.fixes else 'no fix'}), {state} ({m.score:.2f}, {m.rule})"

    lines = ["What this says about the catalog's answer:", f"  without upstream: {line(before)}",
             f"  with upstream:    {line(after)}"]
    for u in after.top.upstream if after.top is not None else ():
        lines.append(f"  {u.signal} {u.weight:+.2f}: {u.says}")
        if u.url:
            lines.append(f"              {u.url}")
    lines += [f"  note: {n}" for n in after.notes if n.startswith("upstream")]
    return lines


def _msg_line(m: LoreMessage) -> list[str]:
    date = (m.date or "")[:10] or "?"
    who = f" — {m.author}" if m.author else ""
    lists = f" [{', '.join(m.lists)}]" if m.lists else ""
    out = [f"  {date}  {m.subject}{who}{lists}", f"              {m.url}"]
    extra = []
    if m.answers:
        extra.append("answers " + ", ".join(f"<{a}>" for a in m.answers))
    extra += [f"{t.name}: {t.value}" for t in m.trailers if t.name in ("Fixes", "Closes", "Link")]
    if m.cc_stable:
        extra.append("Cc: stable")
    if m.upstream_commit:
        extra.append(f"backport of upstream commit {m.upstream_commit[:12]}")
    if extra:
        out.append("              " + "; ".join(extra))
    return out


def render(r: UpstreamResult, *, title: str | None = None) -> str:
    lines = [f"upstream lookup for: {title or r.query.get('lore') or '?'}"
             f"  (searched: {r.query.get('lore') or '-'}; {r.elapsed:.1f} s of a {r.budget:g} s budget)"]
    if r.reports:
        lines.append(f"\nReports on lore ({len(r.reports)}):")
        for m in r.reports:
            lines += _msg_line(m)
    if r.patches:
        lines.append(f"\nPatches ({len(r.patches)}):")
        for m in r.patches:
            lines += _msg_line(m)
    if r.bugzilla:
        lines.append(f"\nBugzilla ({len(r.bugzilla)}):")
        for b in r.bugzilla:
            state = " ".join(x for x in (b.status, b.resolution) if x)
            kv = f" (kernel {b.kernel_version})" if b.kernel_version else ""
            lines.append(f"  bug {b.id} [{state}] {b.summary}{kv}")
            lines.append(f"              {b.url}")
            if b.commits or b.fixed_in:
                bits = [f"commit {c.sha[:12]}" + (f' ("{c.subject}")' if c.subject else "") for c in b.commits]
                if b.fixed_in:
                    bits.append("fixed in " + ", ".join(b.fixed_in))
                lines.append("              " + "; ".join(bits))
    if r.syzbot:
        lines.append(f"\nsyzbot ({len(r.syzbot)}):")
        for z in r.syzbot:
            lines.append(f"  {z.title} [{z.status or '?'}]  {z.url}")
            for c in z.fix_commits:
                lines.append(f"              fix: {c.sha[:12] or '(no hash yet)'} {c.subject}")
    none = ("unknown (no source answered)" if r.failed else "none so far (sources pending)" if not r.complete
            else "none")
    lines.append("\nFixing commits found:" if r.fix_commits else f"\nFixing commits found: {none}")
    for c in r.fix_commits:
        lines.append(f"  {c.sha[:12]} {c.subject}  (from {c.source})")
    if r.stable:
        lines.append("\nFirst stable releases carrying them:")
        for s in r.stable:
            lines.append(f"  {s.branch}: {s.version}  (backport {(s.stable_sha or '?')[:12]} of {s.upstream_sha[:12]})")
    lines.append("\nSources: " + ", ".join(f"{s.name} {s.state.value}" for s in r.sources))
    for n in r.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines)


def to_json(r: UpstreamResult) -> str:
    return json.dumps(r.to_dict(), indent=2)
