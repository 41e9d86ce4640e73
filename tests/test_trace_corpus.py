"""Aggregate agreement with the reference titles of the shared real-log corpus (read at test time).

One test per figure, asserting floors a little under the measured values (benchmarks/parse_corpus.py
prints the detail), so a rule change that loses ground fails loudly without one test per log.

Two of syzkaller's conventions are read in sigmatch's terms: a reference title "X in corrupted"
(syzkaller knows the crash class X but not where) is sigmatch's "X" (its titles never say
"corrupted": the report carries ``corrupted`` and the reason), and syzkaller's ``corrupted`` flag,
which also covers reports whose stack is missing (cut after the faulting instruction or right
after "Call Trace:"), is sigmatch's ``corrupted``, or ``truncated`` for a missing stack.
"""

from __future__ import annotations

import base64
import json
import re
from functools import cache
from typing import Any

import pytest

from sigmatch import parse_log
from tests.conftest import shared_path

pytestmark = pytest.mark.corpus

_RECUR = re.compile(r"\s+\(\d+\)$")
_CONTEXT = re.compile(r"^[\w.\-]+ (?:test|boot|build) error: ")


_SYZ_CORRUPTED = re.compile(r" in corrupted(?:/(\S+))?$")


def _base(t: str | None) -> str | None:
    return _CONTEXT.sub("", _RECUR.sub("", t.strip())) if t else t


def _ref_title(t: str | None) -> str | None:
    """A reference title in sigmatch's form ("WARNING in corrupted" -> "WARNING")."""
    b = _base(t)
    return _SYZ_CORRUPTED.sub(lambda m: f" in {m.group(1)}" if m.group(1) else "", b) if b else b


def _func(t: str | None) -> str | None:
    return t.rsplit(" in ", 1)[1].split()[0] if t and " in " in t else None


@cache
def _figures() -> dict[str, Any]:
    path = shared_path("corpus", "crashes-dev.jsonl")
    c = dict.fromkeys(("n", "title", "frame_n", "frame", "corr_n", "corr", "nocrash_n", "nocrash", "prod_n", "prod",
                       "says_corrupted"), 0)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            log = rec.get("log") or ""
            if rec.get("log_b64"):
                log = base64.b64decode(rec["log_b64"]).decode("utf-8", "replace")
            src = rec.get("source")
            if src == "production":
                reports = parse_log(log)
                c["says_corrupted"] += sum(" corrupted" in t for r in reports for t in (r.title, *r.alt_titles))
                c["prod_n"] += 1
                c["prod"] += int(bool(reports))
                continue
            if src == "syzkaller-testdata" and rec.get("subset") not in ("linux/report", "all/report"):
                continue
            reports = parse_log(log)
            c["says_corrupted"] += sum(t.endswith(" in corrupted") or " in corrupted/" in t
                                       for r in reports for t in (r.title, *r.alt_titles))
            want = _ref_title(rec.get("title"))
            if want is None:
                c["nocrash_n"] += 1
                c["nocrash"] += int(not reports)
                continue
            got = _base(reports[0].title) if reports else None
            c["n"] += 1
            c["title"] += int(got == want)
            if _func(want):
                c["frame_n"] += 1
                c["frame"] += int(_func(got) == _func(want))
            if src == "syzkaller-testdata" and rec.get("corrupted") is not None and reports:
                c["corr_n"] += 1
                r = reports[0]
                ours = r.corrupted or (r.truncated and "inside the call trace" not in (r.truncated_reason or ""))
                c["corr"] += int(ours == bool(rec["corrupted"]))
    return c


def _pct(a: str, b: str) -> float:
    f = _figures()
    return 100.0 * f[a] / f[b] if f[b] else 100.0


def test_title_agreement_floor() -> None:
    assert _pct("title", "n") >= 90.0


def test_guilty_function_agreement_floor() -> None:
    assert _pct("frame", "frame_n") >= 93.0


def test_no_crash_logs_floor() -> None:
    assert _pct("nocrash", "nocrash_n") >= 99.0


def test_corrupted_flag_floor() -> None:
    assert _pct("corr", "corr_n") >= 88.0


def test_every_production_trace_gives_a_report() -> None:
    assert _pct("prod", "prod_n") >= 90.0


def test_no_title_says_in_corrupted() -> None:
    assert _figures()["says_corrupted"] == 0
