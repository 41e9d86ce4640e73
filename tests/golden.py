"""Golden snapshots of the parser's output: every field of every report of a log, and its signature.

tests/fixtures/logs/NAME.log has its snapshot in NAME.golden.json (see README.md there).
test_trace_golden.py compares each log's snapshot with its golden file; this module makes them
and, run as a script, shows how they would change and rewrites them on request:

    python3 tests/golden.py [NAME ...]          # unified diff of each golden file that would change (exit 1)
    python3 tests/golden.py --write [NAME ...]  # rewrite those files (review the diff with git diff)

Left out of a snapshot: ``rules_version`` (every rules change would touch every golden file;
the test checks it separately). A report's ``text`` is kept as a list of lines, and each frame on
one line, so that a diff of a golden file reads like a diff of the parser's output.
"""

from __future__ import annotations

import difflib
import json
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script: after what is on the path (parse_identity's revision)
    sys.path.append(str(REPO))

from sigmatch import parse_log, signature_of  # noqa: E402
from sigmatch.textio import decode_log  # noqa: E402
from sigmatch.trace.model import Report  # noqa: E402

LOGS = Path(__file__).resolve().parent / "fixtures" / "logs"
# Report fields a snapshot leaves out (see the module docstring).
UNSNAPSHOTTED = frozenset({"rules_version"})


def report_snapshot(r: Report) -> dict[str, Any]:
    """Every field of the report (Report.to_dict plus its text as lines) and of its signature."""
    d = r.to_dict()
    for key in UNSNAPSHOTTED:
        d.pop(key, None)
    d["text"] = r.text.split("\n") if r.text else []
    sig = signature_of(r).to_dict()
    sig.pop("rules_version", None)
    d["signature"] = sig
    return d


def snapshot(text: str) -> dict[str, Any]:
    """The golden snapshot of one log: ``{"reports": [...]}`` (an empty list: no report)."""
    return {"reports": [report_snapshot(r) for r in parse_log(text)]}


def render(value: Any, indent: int = 0) -> str:
    """JSON laid out for line diffs: one key or list item per line, a dict of plain values inside
    a list (a frame) on one line."""
    pad = " " * (indent + 1)
    if isinstance(value, dict) and value:
        items = [f"{pad}{json.dumps(k)}: {render(v, indent + 1)}" for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + " " * indent + "}"
    if isinstance(value, list) and value:
        items = [pad + (json.dumps(v, ensure_ascii=False) if _flat(v) else render(v, indent + 1)) for v in value]
        return "[\n" + ",\n".join(items) + "\n" + " " * indent + "]"
    return json.dumps(value, ensure_ascii=False)


def _flat(v: Any) -> bool:
    return not isinstance(v, (dict, list)) or (
        isinstance(v, dict) and not any(isinstance(x, (dict, list)) for x in v.values()))


def golden_path(name: str) -> Path:
    return LOGS / f"{name}.golden.json"


def read_log(name: str) -> str:
    """The log as the CLI and the API read it: bytes decoded by decode_log (a journal export
    holds binary fields and NUL bytes)."""
    return decode_log((LOGS / f"{name}.log").read_bytes())


def rendered(name: str) -> str:
    """The golden file NAME.golden.json as the parser would write it now."""
    return render(snapshot(read_log(name))) + "\n"


def diff(name: str) -> str:
    """Unified diff from the stored golden file to the current snapshot ("" when equal)."""
    path = golden_path(name)
    old = path.read_text(encoding="utf-8") if path.exists() else ""
    new = rendered(name)
    if old == new:
        return ""
    return "".join(difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True),
        fromfile=f"{path.name} (stored)" if old else "/dev/null", tofile=f"{path.name} (parser now)"))


def names() -> list[str]:
    return sorted(p.stem for p in LOGS.glob("*.log"))


def main(argv: list[str]) -> int:
    write = "--write" in argv
    wanted = [a for a in argv if not a.startswith("--")] or names()
    unknown = [n for n in wanted if not (LOGS / f"{n}.log").exists()]
    if unknown:
        print(f"no such log in {LOGS}: {', '.join(unknown)}", file=sys.stderr)
        return 2
    changed = 0
    for name in wanted:
        d = diff(name)
        if not d:
            continue
        changed += 1
        sys.stdout.write(d)
        if write:
            golden_path(name).write_text(rendered(name), encoding="utf-8")
    verb = "rewritten" if write else "would change (run with --write to accept, then review git diff)"
    print(f"{changed} of {len(wanted)} golden files {verb}", file=sys.stderr)
    return 0 if write or not changed else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
