"""Byte-identity check of the parser's output, for changes that must not change it (speed work,
refactoring): dump parse_log + signature_of of many logs, save it as a reference, compare later.

    python3 benchmarks/parse_identity.py save [--rev REV] [--ref PATH] [--sets S,...]
    python3 benchmarks/parse_identity.py check [--ref PATH] [--sets S,...] [--show N]

``save`` writes the reference made by this tree (or, with ``--rev``, by the ``sigmatch`` package of
that git revision: ``save --rev main`` then ``check`` compares your tree with main). ``check``
dumps again and compares log by log: exit 0 when identical, 1 with the first differing logs
and a diff of their snapshots otherwise.

Sets (default all): ``crashes`` (../shared/corpus/crashes-dev.jsonl, ``log`` and ``log_b64``),
``e2e`` (e2e-dev.jsonl, ``trace``), ``seed`` (seed-traces/*.txt), ``fixtures``
(tests/fixtures/logs/*.log), ``synthetic`` (each fixture log with transport prefixes spliced
onto its lines: syslog, RFC 5424, journalctl, kmsg, levels, gutters, timestamps, caller ids, in
nests and odd orders, seeded) and ``lines`` (clean_line on 30,000 spliced prefix lines). The corpus
sets read ../shared (or $SIGMATCH_SHARED_DIR) and are skipped with a message when it is absent.
A report's snapshot is tests/golden.py's (every field, and the signature; rules_version left out).
"""

from __future__ import annotations

import argparse
import base64
import difflib
import gzip
import hashlib
import json
import os
import random
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIGMATCH_SHARED_DIR", REPO.parent / "shared"))
FIXTURES = REPO / "tests" / "fixtures" / "logs"
ALL_SETS = ("crashes", "e2e", "seed", "fixtures", "synthetic", "lines")
DEFAULT_REF = Path(tempfile.gettempdir()) / f"sigmatch-parse-identity-{hashlib.sha1(str(REPO).encode()).hexdigest()[:8]}" / "reference.jsonl.gz"

Record = dict[str, Any]


def _import_parser(import_from: str | None) -> None:
    """Put the sigmatch package to check first on sys.path (the tree's own, or an exported revision)."""
    sys.path.insert(0, import_from or str(REPO))
    sys.path.insert(1, str(REPO / "tests"))  # golden.report_snapshot; imports sigmatch from the path above


# --- inputs -----------------------------------------------------------------------------------

def _jsonl(path: Path, field: str) -> Iterator[tuple[str, str | bytes]]:
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh):
            if not line.strip():
                continue
            row = json.loads(line)
            key = str(row.get("id") or n)
            yield key, row.get(field) or ""
            if row.get("log_b64"):
                yield key + "#bytes", base64.b64decode(row["log_b64"])


def _corpus(name: str) -> Iterator[tuple[str, str | bytes]]:
    corpus = SHARED / "corpus"
    if name == "crashes":
        yield from _jsonl(corpus / "crashes-dev.jsonl", "log")
    elif name == "e2e":
        yield from _jsonl(corpus / "e2e-dev.jsonl", "trace")
    else:
        for p in sorted((corpus / "seed-traces").glob("*.txt")):
            yield p.name, p.read_bytes()


# Transport prefixes as consoles and log tools print them (normalize.py says where each comes from).
_OUTER = ["Apr 14 08:12:21 node17 kernel: ", "Apr  4 08:12:21 node17 kernel: ", "Nov 02 03:14:07.123456 db01 kernel: ",
          "2024-04-14T08:12:21.123456+00:00 host kernel: ", "<4>1 2024-04-14T08:12:21.123456+02:00 host kernel - - - ",
          "<6>", "<4>", "6,1234,5678901,-;", "4,5005,12915307506,c;", "  123 | ", "7344   │ ", "12:\t",
          "18h 42m 40.116s(751490ms): ", "kern  :warn  : ", "kern.warn kernel: ", "kern.err: ", "[2024-04-14 08:12:21.123] ",
          "[Sun Apr 14 08:12:21 2024] ", "** 3 printk messages dropped ** ", "  ", "> ", ">> ", "| "]
_STAMP = ["[  12.345678] ", "[412087.330214] ", "[  +0.000010] ", "[ 1.234567 <    0.000010>] ", "[.] ", "[...] ",
          "[  123.456789] host01 kernel: "]
_CALLER = ["[ T1234] ", "[    C7] ", "[T1]", "[  C0]"]
_TAIL = ["", "", "", "\r", " ", "\x1b[0m", "\x00"]


def _splice(line: str, rnd: random.Random) -> str:
    parts: list[str] = []
    if rnd.random() < 0.6:
        parts.append(rnd.choice(_OUTER))
    if rnd.random() < 0.7:
        parts.append(rnd.choice(_STAMP))
        if rnd.random() < 0.3:
            parts.append(rnd.choice(_CALLER))
    if rnd.random() < 0.05:
        parts.insert(0, "host login: ")
    if rnd.random() < 0.15:
        rnd.shuffle(parts)  # odd nests: what the parser must not choke on
    if rnd.random() < 0.05:
        parts.insert(0, "\x1b[0;31m")
    return "".join(parts) + line + rnd.choice(_TAIL)


def _synthetic() -> Iterator[tuple[str, str | bytes]]:
    for p in sorted(FIXTURES.glob("*.log")):
        lines = p.read_text(encoding="utf-8", errors="replace").replace("\r\n", "\n").split("\n")
        for k in range(3):
            rnd = random.Random(f"{p.name}/{k}")
            yield f"{p.name}/{k}", "\n".join(_splice(ln, rnd) for ln in lines)


def _line_batches() -> Iterator[tuple[str, list[str]]]:
    rnd = random.Random(17)
    pieces = [*_OUTER, *_STAMP, *_CALLER, "host login: ", "RIP: 0010:f+0x1/0x2", "Call Trace:", " <TASK>", "kernel BUG",
              " ? f+0x1/0x2", "user", "local7", "Mar", "x", "Zz", "\u00e9", "\u0663", "\t", "*", "]", "[", "<", "-", "=", "1", " "]
    for b in range(30):
        yield f"lines/{b}", ["".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 5))) for _ in range(1000)]


# --- the dump ---------------------------------------------------------------------------------

def dump(sets: list[str]) -> Iterator[Record]:
    from golden import report_snapshot

    import sigmatch
    from sigmatch import parse_log
    from sigmatch.textio import decode_log
    from sigmatch.trace.normalize import clean_line

    print(f"parse_identity: parser from {Path(sigmatch.__file__).parent}", file=sys.stderr)

    if any(s in ("crashes", "e2e", "seed") for s in sets) and not (SHARED / "corpus").is_dir():
        print(f"parse_identity: {SHARED / 'corpus'} not found (set SIGMATCH_SHARED_DIR): "
              "the crashes, e2e and seed sets are skipped", file=sys.stderr)
        sets = [s for s in sets if s not in ("crashes", "e2e", "seed")]
    for name in sets:
        if name == "lines":
            for key, raws in _line_batches():
                yield {"set": name, "id": key, "lines": [list(_line_tuple(clean_line(r))) for r in raws]}
            continue
        source = _corpus(name) if name in ("crashes", "e2e", "seed") else (
            ((p.name, p.read_bytes()) for p in sorted(FIXTURES.glob("*.log"))) if name == "fixtures" else _synthetic())
        for key, raw in source:
            rec: Record = {"set": name, "id": key}
            try:
                text = decode_log(raw) if isinstance(raw, bytes) else raw
                rec["reports"] = [report_snapshot(r) for r in parse_log(text)]
            except Exception as exc:  # recorded: an error that changes is a difference too
                rec["error"] = f"{type(exc).__name__}: {exc}"
            yield rec


def _line_tuple(line: Any) -> tuple[str, str | None, bool]:
    return line.text, line.caller, line.stamped


def _write(path: Path, records: Iterator[Record]) -> tuple[int, str]:
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    n = 0
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        for rec in records:
            line = json.dumps(rec, ensure_ascii=False, sort_keys=True)
            h.update(line.encode("utf-8"))
            fh.write(line + "\n")
            n += 1
    return n, h.hexdigest()[:16]


def _read(path: Path) -> dict[tuple[str, str], Record]:
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return {(r["set"], r["id"]): r for r in map(json.loads, fh)}


# --- commands ---------------------------------------------------------------------------------

def save(ref: Path, sets: list[str], rev: str | None) -> int:
    if rev is None:
        n, digest = _write(ref, dump(sets))
        print(f"saved {n} records to {ref} (sha256 {digest})")
        return 0
    with tempfile.TemporaryDirectory(prefix="sigmatch-identity-") as tmp:
        archive = subprocess.run(["git", "-C", str(REPO), "archive", rev, "sigmatch"], capture_output=True, check=False)
        if archive.returncode:
            print(f"git archive {rev} failed: {archive.stderr.decode(errors='replace').strip()}", file=sys.stderr)
            return 2
        tar_path = Path(tmp) / "src.tar"
        tar_path.write_bytes(archive.stdout)
        with tarfile.open(tar_path) as tar:
            tar.extractall(tmp, filter="data")
        print(f"reference made by the sigmatch package of {rev}")
        return subprocess.call([sys.executable, __file__, "save", "--ref", str(ref), "--sets", ",".join(sets),
                                "--import-from", tmp])


def check(ref: Path, sets: list[str], show: int) -> int:
    if not ref.exists():
        print(f"no reference at {ref}: run `save` (or `save --rev main`) first", file=sys.stderr)
        return 2
    want = _read(ref)
    seen: set[tuple[str, str]] = set()
    differ: list[tuple[str, str]] = []
    shown = 0
    n = 0
    for rec in dump(sets):
        n += 1
        key = (rec["set"], rec["id"])
        seen.add(key)
        old = want.get(key)
        if old == rec:
            continue
        differ.append(key)
        if shown < show:
            shown += 1
            a = _lines(old) if old is not None else ["(not in the reference)"]
            b = _lines(rec)
            print("".join(f"{d}\n" for d in list(difflib.unified_diff(a, b, f"{key} reference", f"{key} now", lineterm=""))[:60]))
    checked_sets = {s for s, _ in seen}
    missing = [k for k in want if k[0] in checked_sets and k not in seen]
    print(f"{n} records checked against {ref}: {n - len(differ)} identical, {len(differ)} differ, "
          f"{len(missing)} in the reference only")
    for s, i in differ[:20]:
        print(f"  differs: {s} {i}")
    return 1 if differ or missing else 0


def _lines(rec: Record) -> list[str]:
    from golden import render

    return str(render(json.loads(json.dumps(rec, sort_keys=True)))).splitlines()  # one key order for both sides


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("command", choices=("save", "check"))
    ap.add_argument("--ref", type=Path, default=DEFAULT_REF, help=f"reference file (default {DEFAULT_REF})")
    ap.add_argument("--sets", default=",".join(ALL_SETS), help=f"comma-separated, of {', '.join(ALL_SETS)}")
    ap.add_argument("--rev", help="save: make the reference with this git revision's sigmatch package")
    ap.add_argument("--show", type=int, default=3, help="check: diffs shown (default 3)")
    ap.add_argument("--import-from", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    sets = [s for s in args.sets.split(",") if s]
    bad = [s for s in sets if s not in ALL_SETS]
    if bad:
        ap.error(f"unknown sets {bad}; known: {', '.join(ALL_SETS)}")
    _import_parser(args.import_from)
    if args.command == "save":
        return save(args.ref, sets, args.rev)
    return check(args.ref, sets, args.show)


if __name__ == "__main__":
    sys.exit(main())
