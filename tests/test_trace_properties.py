"""Property tests: arbitrary text never raises; reformatting a log does not change what it means."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sigmatch import parse_log, signature_of

LOGS = Path(__file__).resolve().parent / "fixtures" / "logs"
_KERNELISH = st.sampled_from([
    "BUG: KASAN: use-after-free in foo+0x1/0x2", "Call Trace:", " <TASK>", " </IRQ>", " ? bar+0x3/0x4",
    "RIP: 0010:baz+0x5/0x6", "WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2", "Kernel panic - not syncing: x",
    "INFO: task a:1 blocked for more than 120 seconds.", " [<ffffffff81000000>] q+0x1/0x2",
    "watchdog: BUG: soft lockup - CPU#1 stuck for 22s! [a:1]", "general protection fault: 0000 [#1]",
    "[  1.000000] ", "<4>", "Apr 14 08:12:21 h kernel: ", "\r", "\x1b[31m", "x from y+0x1/0x2", "((((", "[[[[",
])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=3000))
def test_arbitrary_text_never_raises(text: str) -> None:
    for r in parse_log(text):
        signature_of(r)
        r.to_dict()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(_KERNELISH, st.text(max_size=80)), max_size=60))
def test_kernel_like_fragments_never_raise(parts: list[str]) -> None:
    text = "\n".join(parts)
    for r in parse_log(text):
        assert r.title
        signature_of(r)


def _strip_stamps(line: str) -> str:
    if line.startswith("[") and "] " in line[:20]:
        return line.split("] ", 1)[1]
    return line


def _reformatters() -> list[tuple[str, object]]:
    return [
        ("crlf", lambda lines: "\r\n".join(lines)),
        ("syslog", lambda lines: "\n".join(f"Apr 14 08:12:21 host kernel: {ln}" for ln in lines)),
        ("journalctl", lambda lines: "\n".join(f"Apr 14 08:12:21 host kernel: {_strip_stamps(ln)}" for ln in lines)),
        ("no-timestamps", lambda lines: "\n".join(_strip_stamps(ln) for ln in lines)),
        ("levels", lambda lines: "\n".join(f"<4>{ln}" for ln in lines)),
        ("dmesg-T", lambda lines: "\n".join(
            f"[Sun Apr 14 08:12:21 2024] {_strip_stamps(ln)}" for ln in lines)),
        ("rfc5424", lambda lines: "\n".join(
            f"<4>1 2024-04-14T08:12:21.118202+02:00 node17 kernel - - - {_strip_stamps(ln)}" for ln in lines)),
        ("busybox-kern-level", lambda lines: "\n".join(f"Apr 14 08:12:21 node17 kern.warn kernel: {ln}" for ln in lines)),
        ("journal-json", lambda lines: "\n".join(
            json.dumps({"_TRANSPORT": "kernel", "__MONOTONIC_TIMESTAMP": str(n), "MESSAGE": _strip_stamps(ln)})
            for n, ln in enumerate(lines))),
    ]


# Mail-quoted logs carry prose around the trace; caller-id logs lose their de-interleaving key
# when timestamps are cut: both are covered by their own golden files instead. The fmt-* logs
# other than the plain ones are already in another format (tests/test_trace_formats.py).
_REFORMAT_CASES = sorted(p.name for p in LOGS.glob("*.log") if "mail" not in p.name and "caller" not in p.name
                         and (not p.name.startswith("fmt-") or p.name.endswith("-plain.log")))


@pytest.mark.parametrize("how", [n for n, _ in _reformatters()])
@pytest.mark.parametrize("name", _REFORMAT_CASES)
def test_reformatting_keeps_title_and_signature(name: str, how: str) -> None:
    text = (LOGS / name).read_text(encoding="utf-8").replace("\r\n", "\n")
    lines = [ln for ln in text.split("\n") if ln]
    # Undo the fixture's own transport prefix first, so every variant starts from plain dmesg.
    base = [ln.split(" kernel: ", 1)[1] if " kernel: " in ln[:60] else ln for ln in lines]
    fmt = dict(_reformatters())[how]
    want = parse_log("\n".join(base))
    got = parse_log(fmt(base))  # type: ignore[operator]
    assert [r.title for r in got] == [r.title for r in want]
    if want:
        assert signature_of(got[0]).frames == signature_of(want[0]).frames
        assert got[0].guilty_frame == want[0].guilty_frame


def test_huge_adversarial_inputs_do_not_hang() -> None:
    rnd = random.Random(7)
    junk = "".join(rnd.choice("BUG: WARNING[<>]( )+0x/ \n\tabcdef0123456789") for _ in range(300_000))
    parse_log(junk)
    parse_log("A" * 2_000_000)  # one 2 MB line without a newline
    parse_log(("[" * 50_000 + "\n") * 10)
    parse_log(" ? " + "a" * 100_000 + "+0x1/0x2\n")
    parse_log("BUG: KASAN: use-after-free in " + "x" * 500_000)
