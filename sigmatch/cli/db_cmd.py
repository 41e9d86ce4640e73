"""``sigmatch db``: look at the known-bugs catalog (``stats``, ``show``) and check curated files (``lint``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sigmatch.catalog.model import KnownBug, Origin
from sigmatch.cli.common import runtime_of, settings_of


def register(sub: Any) -> None:
    p = sub.add_parser("db", help="known-bugs catalog: stats, show, lint",
                       description="Inspect the known-bugs catalog (curated signatures/ plus the imported snapshot).")
    dbsub = p.add_subparsers(dest="db_command", metavar="SUBCOMMAND")
    s = dbsub.add_parser("stats", help="how many bugs, with fixes, stable releases and crash signatures")
    s.add_argument("--json", action="store_true", help="print JSON")
    s.set_defaults(func=stats)
    sh = dbsub.add_parser("show", help="one known bug, by id (CVE-2024-47660, a curated id)")
    sh.add_argument("id")
    sh.add_argument("--json", action="store_true", help="print JSON")
    sh.set_defaults(func=show)
    li = dbsub.add_parser("lint", help="check curated signature files; prints file: field: problem")
    li.add_argument("dir", nargs="?", help="directory of curated YAML files (default: SIGMATCH_SIGNATURES_DIR)")
    li.set_defaults(func=lint)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def stats(args: argparse.Namespace) -> int:
    # the store's meta and the prebuilt index's header; the catalog is built only when it is stale
    out = runtime_of(args).catalog_stats()
    if args.json:
        print(json.dumps(out))
    else:
        for k, v in out.items():
            print(f"{k:13} {v if v is not None else '-'}")
    return 0


def _render(bug: KnownBug) -> str:
    lines = [f"{bug.id}: {bug.title}", f"  origin     {bug.origin.value}" + ("  (withdrawn)" if bug.withdrawn else "")]
    if bug.summary:
        lines.append(f"  summary    {bug.summary}")
    for f in bug.fixes:
        lines.append(f"  fix        {f.sha[:12]} {f.subject!r} mainline {f.mainline or '?'}"
                     + ("" if f.verified else " (unverified)"))
    if bug.origin is Origin.CURATED:  # few facts, each with where it comes from
        for st in bug.stable:
            if st.version:
                lines.append(f"  stable     {st.branch}: {st.version}" + ("" if st.verified else " (unverified)")
                             + (f"  [{st.source}]" if st.source else ""))
    elif bug.stable_fixed:
        lines.append("  stable     " + ", ".join(f"{b}: {v}" for b, v in bug.stable_fixed.items()))
    if bug.unfixed_branches:
        lines.append("  unfixed    " + ", ".join(bug.unfixed_branches))
    if bug.introduced:
        i = bug.introduced
        lines.append(f"  introduced {(i.sha or '?')[:12]} in {i.release or '?'}")
    if bug.files:
        lines.append("  files      " + ", ".join(bug.files))
    if bug.functions:
        lines.append("  functions  " + ", ".join(bug.functions))
    for s in bug.signatures:
        lines.append(f"  signature  {s.title or '(no title)'}" + (f" [{' < '.join(s.frames[:6])}]" if s.frames else ""))
    for r in bug.references:
        lines.append(f"  reference  {r.kind} {r.value}" + (f" {r.url}" if r.url else "")
                     + (f"  (found by a refresh, {r.found})" if r.found else ""))
    if bug.source_path:
        lines.append(f"  source     {bug.source_path}")
    return "\n".join(lines)


def show(args: argparse.Namespace) -> int:
    catalog = runtime_of(args).load_catalog(prebuilt=True)
    bug = catalog.get(args.id) or catalog.get(args.id.upper())
    if bug is None:
        print(f"sigmatch: no known bug with id {args.id!r}", file=sys.stderr)
        return 1
    print(json.dumps(bug.to_dict(), indent=1) if args.json else _render(bug))
    return 0


def lint(args: argparse.Namespace) -> int:
    from sigmatch.catalog import curated  # YAML + JSON Schema: loaded only by the command that needs them

    directory = Path(args.dir).expanduser() if args.dir else settings_of(args).signatures_dir
    if not directory.is_dir():
        print(f"sigmatch: {directory}: not a directory", file=sys.stderr)
        return 2
    problems = list(curated.lint(directory))
    for p in problems:
        print(str(p))
    if problems:
        print(f"{len(problems)} problem(s) in {directory}", file=sys.stderr)
        return 1
    print(f"{directory}: no problems", file=sys.stderr)
    return 0
