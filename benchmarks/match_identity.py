"""Byte-identity check of the matcher's output, for changes that must not change it (refactoring,
speed work): the ``to_dict`` of the top 5 matches of every report of the dev corpora, saved as a
reference, compared later.

    python3 benchmarks/match_identity.py save --data-dir /tmp/m-data [--ref PATH]
    python3 benchmarks/match_identity.py check --data-dir /tmp/m-data [--ref PATH] [--show N]

Reports: every report parse_log finds in ../shared/corpus/e2e-dev.jsonl (``trace``) and
crashes-dev.jsonl (``log``), each matched with the log's kernel as the CLI does. ``check`` exits 0
when every report's matches are identical, 1 with the first differing reports otherwise. The
catalog must have been imported into ``--data-dir`` (see benchmarks/e2e_match.py).
"""

from __future__ import annotations

import argparse
import difflib
import gzip
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
SHARED = Path(os.environ.get("SIGMATCH_SHARED_DIR", REPO.parent / "shared"))
DEFAULT_REF = Path(tempfile.gettempdir()) / f"sigmatch-match-identity-{hashlib.sha1(str(REPO).encode()).hexdigest()[:8]}.jsonl.gz"
SETS = (("e2e-dev.jsonl", "trace"), ("crashes-dev.jsonl", "log"))


def _logs() -> Iterator[tuple[str, str]]:
    for name, fld in SETS:
        path = SHARED / "corpus" / name
        if not path.exists():
            print(f"skipped {name}: no {path}")
            continue
        with path.open(encoding="utf-8") as fh:
            for n, line in enumerate(fh):
                if line.strip():
                    row = json.loads(line)
                    yield f"{name}:{row.get('id') or n}", row.get(fld) or ""


def dump(data_dir: str) -> Iterator[tuple[str, str]]:
    """(report key, JSON of its top 5 matches) for every report of the corpora."""
    os.environ["SIGMATCH_DATA_DIR"] = data_dir
    from sigmatch.catalog.versions import parse_kernel_version, version_from_log
    from sigmatch.config import Settings
    from sigmatch.match.matcher import Matcher
    from sigmatch.runtime import build_runtime
    from sigmatch.textio import decode_log
    from sigmatch.trace.parse import parse_log

    matcher = Matcher(build_runtime(Settings.from_env()).load_catalog())
    for key, raw in _logs():
        log = decode_log(raw)
        for k, report in enumerate(parse_log(log)):
            kv = (parse_kernel_version(report.kernel_version) if report.kernel_version else None) or version_from_log(log)
            matches = matcher.match(report, top=5, kernel=kv, report_index=k)
            yield f"{key}#{k}", json.dumps([m.to_dict() for m in matches], sort_keys=True, default=str)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("save", "check"))
    ap.add_argument("--data-dir", required=True, help="SIGMATCH_DATA_DIR holding an imported catalog")
    ap.add_argument("--ref", type=Path, default=DEFAULT_REF)
    ap.add_argument("--show", type=int, default=3, help="check: differing reports shown")
    args = ap.parse_args()
    if args.mode == "save":
        args.ref.parent.mkdir(parents=True, exist_ok=True)
        n = 0
        with gzip.open(args.ref, "wt", encoding="utf-8") as out:
            for key, blob in dump(args.data_dir):
                out.write(json.dumps([key, blob]) + "\n")
                n += 1
        print(f"saved the matches of {n} reports to {args.ref}")
        return 0
    if not args.ref.exists():
        print(f"no reference at {args.ref}: run 'save' first")
        return 1
    with gzip.open(args.ref, "rt", encoding="utf-8") as fh:
        ref = dict(json.loads(line) for line in fh)
    seen: set[str] = set()
    diff = []
    for key, blob in dump(args.data_dir):
        seen.add(key)
        if ref.get(key) != blob:
            diff.append((key, ref.get(key) or "", blob))
    missing = len(set(ref) - seen)
    print(f"{len(seen)} reports matched, {len(diff)} differ from the reference, {missing} missing")
    for key, old, new in diff[:args.show]:
        print(f"--- {key}")
        pretty = [json.dumps(json.loads(b), indent=1, sort_keys=True).splitlines() if b else [] for b in (old, new)]
        print("\n".join(list(difflib.unified_diff(pretty[0], pretty[1], "reference", "now", lineterm=""))[:40]))
    return 0 if not diff and not missing else 1


if __name__ == "__main__":
    sys.exit(main())
