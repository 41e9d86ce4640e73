"""Golden logs: tests/fixtures/logs/NAME.log against NAME.golden.json and NAME.expect.json.

The logs are written for this repository in the real formats (dmesg, dmesg -T, syslog,
journalctl, serial console with levels/ANSI/CRLF, printk caller ids, mail quoting and
format=flowed wrapping, ARM/arm64 layouts, CVE-style excerpts). Each has two expectation files
(tests/fixtures/logs/README.md says how to add one):

* ``NAME.golden.json``: the snapshot of every field of every report the parser finds, and of
  each report's signature (tests/golden.py). Any change of the parser's output on the log fails
  :func:`test_golden_snapshot`; ``python3 tests/golden.py NAME`` prints the diff and
  ``python3 tests/golden.py --write NAME`` accepts it (then review ``git diff``).
* ``NAME.expect.json``: what a person asserts about the log, the reason the snapshot is right.
  Keys (all optional but ``reports`` when the log has no crash): ``reports`` (count), ``kind``,
  ``title``, ``guilty_frame``, ``guilty_file``, ``corrupted``, ``truncated``, ``kernel_version``,
  ``taint``, ``comm``, ``pid``, ``cpu``, ``hardware``, ``guilty_module``, ``out_of_tree``,
  ``taint_flags_include``, ``out_of_tree_include``, ``modules_include``, ``alt_titles_include``,
  ``signature_frames`` (exact), ``signature_frames_prefix``, ``signature_frames_include``,
  ``frames_exclude``, ``frame_modules`` ({function: module}), ``frame_contexts`` ({function:
  context}), ``unreliable_include``, ``nmi_include``, ``low_information``, ``second_kind``,
  ``second_title``, and ``answer``: what ``sigmatch.answer.analyze`` answers with the curated
  ``signatures/`` (``top``: bug id or null, ``report_index``, ``confident``, ``notes_include``,
  ``notes_exclude``: substrings of the answer's notes).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
from golden import LOGS, UNSNAPSHOTTED, diff, golden_path, names, read_log, report_snapshot, snapshot

from sigmatch import parse_log, signature_of
from sigmatch.answer import analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.curated import load_curated
from sigmatch.match.matcher import Matcher
from sigmatch.trace.model import Frame, Report
from sigmatch.trace.parse import RULES_VERSION
from sigmatch.trace.signature import Signature

REPO = Path(__file__).resolve().parents[1]
CASES = names()


def _frame(report: Report, name: str) -> Any:
    for f in report.frames:
        if f.function == name:
            return f
    raise AssertionError(f"no frame {name!r} in {[f.function for f in report.frames]}")


def _expect(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((LOGS / f"{name}.expect.json").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize("name", CASES)
def test_golden_snapshot(name: str) -> None:
    """Every field of every report (and signature) is what NAME.golden.json says."""
    assert golden_path(name).exists(), f"no {name}.golden.json: run python3 tests/golden.py --write {name}"
    d = diff(name)
    if d:
        lines = d.splitlines()
        shown = "\n".join(lines[:80]) + (f"\n... ({len(lines) - 80} more diff lines)" if len(lines) > 80 else "")
        pytest.fail(f"the parser's output on {name}.log changed:\n{shown}\n"
                    f"If the change is right: python3 tests/golden.py --write {name}, then review git diff.",
                    pytrace=False)


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    want = _expect(name)
    reports = parse_log(read_log(name))
    if "reports" in want:
        assert len(reports) == want["reports"], [r.title for r in reports]
    if not reports:
        # A log that yields nothing passes only when its expectation says so.
        assert want.get("reports") == 0, f"{name}.log yields no report; {name}.expect.json does not say \"reports\": 0"
        return
    r = reports[0]
    sig = signature_of(r)
    for key in ("title", "guilty_frame", "guilty_file", "corrupted", "truncated", "kernel_version", "taint", "comm",
                "pid", "cpu", "hardware", "guilty_module", "out_of_tree"):
        if key in want:
            assert getattr(r, key) == want[key], f"{key}: {getattr(r, key)!r} != {want[key]!r} ({r.notes})"
    if "kind" in want:
        assert r.kind.value == want["kind"]
    for m in want.get("modules_include", []):
        assert m in r.modules
    for m in want.get("out_of_tree_include", []):
        assert m in r.out_of_tree_modules, r.out_of_tree_modules
    for t in want.get("taint_flags_include", []):
        assert t in r.taint_flags, r.taint_flags
    for t in want.get("alt_titles_include", []):
        assert t in r.alt_titles
    if "signature_frames" in want:
        assert list(sig.frames) == want["signature_frames"]
    if "signature_frames_prefix" in want:
        n = len(want["signature_frames_prefix"])
        assert list(sig.frames[:n]) == want["signature_frames_prefix"]
    for f in want.get("signature_frames_include", []):
        assert f in sig.frames
    names_ = {f.function for f in r.frames}
    for f in want.get("frames_exclude", []):
        assert f not in names_
    for fn, mod in want.get("frame_modules", {}).items():
        assert _frame(r, fn).module == mod
    for fn, ctx in want.get("frame_contexts", {}).items():
        assert _frame(r, fn).context.value == ctx
    for fn in want.get("unreliable_include", []):
        assert not _frame(r, fn).reliable
    for fn in want.get("nmi_include", []):
        assert _frame(r, fn).context.value == "nmi"
    if "low_information" in want:
        assert sig.low_information == want["low_information"]
    if "second_kind" in want:
        assert reports[1].kind.value == want["second_kind"]
    if "second_title" in want:
        assert reports[1].title == want["second_title"]
    for rep in reports:  # kept out of the snapshots (tests/golden.py)
        assert rep.rules_version == RULES_VERSION


@pytest.fixture(scope="module")
def curated_matcher() -> Matcher:
    return Matcher(Catalog.of(load_curated(REPO / "signatures"), version="curated-golden"))


ANSWER_CASES = [n for n in CASES if "answer" in _expect(n)]


@pytest.mark.parametrize("name", ANSWER_CASES)
def test_golden_answer(name: str, curated_matcher: Matcher) -> None:
    """analyze() on the log: which report it answered from (the primary, or a later one when the
    primary is corrupted or low-information), which bug, how confident."""
    want = _expect(name)["answer"]
    ans = analyze((LOGS / f"{name}.log").read_bytes(), curated_matcher)
    top = ans.top
    got = {"top": top.bug.id if top else None, "report_index": top.report_index if top else None,
           "confident": ans.confident}
    for key in ("top", "report_index", "confident"):
        if key in want:
            assert got[key] == want[key], f"{key}: {got} ({ans.notes})"
    for s in want.get("notes_include", []):
        assert any(s in n for n in ans.notes), (s, ans.notes)
    for s in want.get("notes_exclude", []):
        assert not any(s in n for n in ans.notes), (s, ans.notes)


def test_answer_cases_cover_the_fallback() -> None:
    """Golden answers cover analyze's fallback: taken for a corrupted and for a low-information
    primary report, and not taken when the primary report is complete."""
    answers = [_expect(n)["answer"] for n in ANSWER_CASES]
    assert sum(a.get("report_index", 0) > 0 and a.get("confident") for a in answers) >= 2
    assert any(a.get("report_index") in (0, None) and a.get("notes_exclude") for a in answers)


def test_every_log_has_expectations() -> None:
    for name in CASES:
        assert (LOGS / f"{name}.expect.json").exists(), name
    orphans = {p.name.split(".")[0] for p in LOGS.glob("*.json")} - set(CASES)
    assert not orphans, f"expectation files without a log: {sorted(orphans)}"


def test_snapshot_holds_every_field() -> None:
    """A field added to Report, Frame or Signature shows up in the golden files (or is named in
    golden.UNSNAPSHOTTED): the snapshot is of every field."""
    text = (LOGS / "fsnotify-softlockup-netconsole.log").read_text(encoding="utf-8")
    r = parse_log(text)[0]
    snap = report_snapshot(r)
    assert {f.name for f in dataclasses.fields(Report)} - UNSNAPSHOTTED <= set(snap)
    assert {f.name for f in dataclasses.fields(Frame)} <= set(snap["frames"][0])
    assert {f.name for f in dataclasses.fields(Signature)} - {"rules_version"} <= set(snap["signature"])
    assert snap["text"][0] == r.text.split("\n")[0] and len(snap["text"]) == r.end_line - r.start_line
    assert snapshot("")["reports"] == []


def test_design_example_fsnotify() -> None:
    """The DESIGN.md example shipped in examples/ gives the title the kernel community used."""
    text = (REPO / "examples" / "fsnotify-softlockup-4.14.32.log").read_text()
    reports = parse_log(text)
    assert reports[0].title == "BUG: soft lockup in fsnotify"
    assert reports[0].kernel_version == "4.14.32-1.el7.x86_64"
    assert reports[1].title == "kernel panic: softlockup: hung tasks"
