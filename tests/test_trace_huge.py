"""Huge logs: more lines than normalize.MAX_LINES keep the windows around their crash headers,
so a crash at the end of a long dmesg (where crashes usually are) is still found."""

from __future__ import annotations

from pathlib import Path

from sigmatch import parse_log
from sigmatch.trace import normalize
from sigmatch.trace.parse import _WINDOW_HINT, _is_header_line

FIXTURE = Path(__file__).resolve().parent / "fixtures" / "logs" / "fsnotify-softlockup-netconsole.log"
EARLY = (
    "[    1.000000] WARNING: CPU: 0 PID: 1 at drivers/foo/bar.c:12 foo_probe+0x1/0x2\n"
    "[    1.000001] Call Trace:\n"
    "[    1.000002]  foo_probe+0x1/0x2\n"
    "[    1.000003]  really_probe+0x1/0x2\n"
    "[    1.000004]  driver_probe_device+0x1/0x2\n"
)


def _noise(n: int) -> str:
    return "".join(f"[{i / 1000:12.6f}] usb 1-1: device descriptor read/64, error -71\n" for i in range(n))


def test_crash_at_the_end_of_a_huge_log_is_found() -> None:
    crash = FIXTURE.read_text(encoding="utf-8")
    reports = parse_log(_noise(normalize.MAX_LINES + 1000) + crash)
    assert reports and reports[0].title == "BUG: soft lockup in fsnotify"


def test_first_and_last_crash_of_a_huge_log_are_both_kept() -> None:
    crash = FIXTURE.read_text(encoding="utf-8")
    titles = [r.title for r in parse_log(EARLY + _noise(normalize.MAX_LINES + 1000) + crash)]
    assert titles[0] == "WARNING in foo_probe"
    assert "BUG: soft lockup in fsnotify" in titles


def test_windows_are_bounded_and_separated() -> None:
    block = EARLY + "".join(f"filler line {i}\n" for i in range(normalize.WINDOW_AFTER * 2))
    text = block * (normalize.MAX_LINES // len(block.splitlines()) + 50)
    lines = normalize.split_lines(text, _WINDOW_HINT, _is_header_line)
    assert len(lines) <= normalize.MAX_LINES + 200  # the gap markers between windows
    assert normalize.GAP_LINE in lines
    # the first and the last header are kept, each with the report lines after it
    headers = [i for i, ln in enumerate(lines) if ln.startswith("[    1.000000] WARNING")]
    assert headers[0] <= 1
    assert len(lines) - headers[-1] > normalize.WINDOW_AFTER // 2
    last_block = len(text[: text.rindex("[    1.000000] WARNING")].splitlines())
    assert lines[headers[-1] - 1] == text.splitlines()[last_block - 1]


def test_huge_log_without_headers_keeps_its_last_lines() -> None:
    text = "".join(f"line {i}\n" for i in range(normalize.MAX_LINES + 10))
    lines = normalize.split_lines(text, _WINDOW_HINT, _is_header_line)
    assert len(lines) == normalize.MAX_LINES
    assert lines[-2] == f"line {normalize.MAX_LINES + 9}"


def test_hint_spam_stops_checking_and_keeps_the_end() -> None:
    crash = FIXTURE.read_text(encoding="utf-8")
    text = "DEBUG BUG x\n" * (normalize.MAX_LINES + normalize.MAX_HEADER_CHECKS) + crash
    reports = parse_log(text)
    assert reports and reports[0].title == "BUG: soft lockup in fsnotify"
