"""Aggregate agreement with the reference titles of the shared real-log corpus (read at test time).

One test per figure, asserting floors a little under the measured values (benchmarks/parse_corpus.py
prints the detail), so a rule change that loses ground fails loudly without one test per log.
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


def _base(t: str | None) -> str | None:
    return _CONTEXT.sub("", _RECUR.sub("", t.strip())) if t else t


def _func(t: str | None) -> str | None:
    return t.rsplit(" in ", 1)[1].split()[0] if t and " in " in t else None


@cache
def _figures() -> dict[str, Any]:
    path = shared_path("corpus", "crashes-dev.jsonl")
    c = dict.fromkeys(("n", "title", "frame_n", "frame", "corr_n", "corr", "nocrash_n", "nocrash", "prod_n", "prod"), 0)
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            rec = json.loads(line)
            log = rec.get("log") or ""
            if rec.get("log_b64"):
                log = base64.b64decode(rec["log_b64"]).decode("utf-8", "replace")
            src = rec.get("source")
            if src == "production":
                reports = parse_log(log)
                c["prod_n"] += 1
                c["prod"] += int(bool(reports))
                continue
            if src == "syzkaller-testdata" and rec.get("subset") not in ("linux/report", "all/report"):
                continue
            reports = parse_log(log)
            want = _base(rec.get("title"))
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
                c["corr"] += int(bool(reports[0].corrupted) == bool(rec["corrupted"]))
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
