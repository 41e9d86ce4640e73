"""Golden logs: tests/fixtures/logs/NAME.log parsed against NAME.expect.json (one test per file).

The logs are written for this repository in the real formats (dmesg, dmesg -T, syslog,
journalctl, serial console with levels/ANSI/CRLF, printk caller ids, mail quoting and
format=flowed wrapping, ARM/arm64 layouts, CVE-style excerpts). Expectation keys (all optional):
``reports`` (count), ``kind``, ``title``, ``guilty_frame``, ``guilty_file``, ``corrupted``,
``truncated``, ``kernel_version``, ``taint``, ``comm``, ``pid``, ``cpu``, ``hardware``, ``guilty_module``,
``out_of_tree``, ``taint_flags_include``, ``out_of_tree_include``, ``modules_include``,
``alt_titles_include``, ``signature_frames`` (exact), ``signature_frames_prefix``,
``signature_frames_include``, ``frames_exclude``, ``frame_modules`` ({function: module}),
``frame_contexts`` ({function: context}), ``unreliable_include``, ``nmi_include``,
``low_information``, ``second_kind``, ``second_title``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sigmatch import parse_log, signature_of
from sigmatch.trace.model import Report

LOGS = Path(__file__).resolve().parent / "fixtures" / "logs"
CASES = sorted(p.stem for p in LOGS.glob("*.log"))


def _frame(report: Report, name: str) -> Any:
    for f in report.frames:
        if f.function == name:
            return f
    raise AssertionError(f"no frame {name!r} in {[f.function for f in report.frames]}")


@pytest.mark.parametrize("name", CASES)
def test_golden(name: str) -> None:
    text = (LOGS / f"{name}.log").read_text(encoding="utf-8")
    want = json.loads((LOGS / f"{name}.expect.json").read_text(encoding="utf-8"))
    reports = parse_log(text)
    if "reports" in want:
        assert len(reports) == want["reports"], [r.title for r in reports]
    if not reports:
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
    names = {f.function for f in r.frames}
    for f in want.get("frames_exclude", []):
        assert f not in names
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
    assert r.rules_version
    assert r.to_dict()["title"] == r.title


def test_every_log_has_expectations() -> None:
    for name in CASES:
        assert (LOGS / f"{name}.expect.json").exists(), name


def test_design_example_fsnotify() -> None:
    """The DESIGN.md example shipped in examples/ gives the title the kernel community used."""
    text = (Path(__file__).resolve().parents[1] / "examples" / "fsnotify-softlockup-4.14.32.log").read_text()
    reports = parse_log(text)
    assert reports[0].title == "BUG: soft lockup in fsnotify"
    assert reports[0].kernel_version == "4.14.32-1.el7.x86_64"
    assert reports[1].title == "kernel panic: softlockup: hung tasks"
