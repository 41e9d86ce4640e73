"""benchmarks/e2e_cut.py's cuts: after the RIP/pc line, after the first 3 trace lines (real formats)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from sigmatch import parse_log

REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / "tests" / "fixtures" / "logs"


def _cut_module() -> ModuleType:
    sys.path.insert(0, str(REPO / "benchmarks"))
    spec = importlib.util.spec_from_file_location("e2e_cut", REPO / "benchmarks" / "e2e_cut.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_cut_after_rip_keeps_the_header_and_the_faulting_function() -> None:
    cut = _cut_module()
    text = (LOGS / "arm64-paging-request.log").read_text()
    part = cut.cut_after_rip(text)
    assert part is not None and part.splitlines()[-1].endswith("pc : brcmf_cfg80211_scan_done+0x48/0x1a0 [brcmfmac]")
    (r,) = parse_log(part)
    assert r.guilty_frame == "brcmf_cfg80211_scan_done" and r.truncated and not r.corrupted
    assert cut.cut_after_rip("no crash here\nCall Trace:\n") is None


def test_cut_after_three_trace_lines_ends_inside_the_stack() -> None:
    cut = _cut_module()
    text = (LOGS / "arm64-paging-request.log").read_text()
    part = cut.cut_after_frames(text)
    assert part is not None
    assert part.splitlines()[-1].endswith("brcmf_cfg80211_stop_ap+0x8c/0x1c0 [brcmfmac]")
    (r,) = parse_log(part)
    assert r.truncated and r.truncated_reason == "the paste ends inside the call trace"
    assert cut.cut_after_frames("BUG: x\nno stack\n") is None
