"""analyze() and `sigmatch match` end to end: real parser, real curated signatures/, real CLI.

The catalog here is the repository's curated tree (no imported snapshot: SIGMATCH_DATA_DIR points
at an empty directory), so these tests need no network and no shared data.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest
from web_helpers import curated_examples

from sigmatch.answer import analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.curated import load_curated
from sigmatch.catalog.model import Status
from sigmatch.cli import main
from sigmatch.cli.match_cmd import batch_results, render
from sigmatch.errors import InputError
from sigmatch.match.matcher import ALGORITHM_VERSION, Matcher

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "fsnotify-softlockup-4.14.32.log"
SIGNATURES = REPO / "signatures"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(Catalog.of(load_curated(SIGNATURES), version="curated-test"))


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SIGMATCH_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SIGMATCH_SIGNATURES_DIR", str(SIGNATURES))
    return tmp_path


def test_fsnotify_example_answer(matcher: Matcher) -> None:
    ans = analyze(EXAMPLE.read_text(), matcher)
    assert ans.reports and ans.reports[0].title.startswith("BUG: soft lockup")
    top = ans.top
    assert top is not None and top.bug.id == "fsnotify-mark-connector-race"
    assert top.confident and ans.confident
    assert top.bug.fixes[0].short == "d90a10e2444b"
    assert top.verdict is not None and top.verdict.status is Status.AFFECTED
    assert top.verdict.branch == "4.14"
    assert ans.algorithm_version == ALGORITHM_VERSION and ans.catalog_version == "curated-test"
    assert ans.kernel is not None and ans.kernel.branch == "4.14"
    d = ans.to_dict()
    assert json.loads(json.dumps(d))["matches"][0]["why"]["rule"]


def _curated_examples() -> list[tuple[str, str]]:
    return curated_examples(SIGNATURES)


@pytest.mark.parametrize(("bug_id", "trace"), _curated_examples(), ids=lambda v: v if len(v) < 60 else "trace")
def test_every_curated_example_matches_its_bug(matcher: Matcher, bug_id: str, trace: str) -> None:
    ans = analyze(trace, matcher)
    assert ans.top is not None and ans.top.bug.id == bug_id, [m.bug.id for m in ans.matches]


def test_no_crash_in_log_is_a_plain_answer(matcher: Matcher) -> None:
    ans = analyze("systemd[1]: Started Session 3 of user root.\nall good here\n", matcher)
    assert ans.reports == () and ans.matches == ()
    assert any("no kernel crash report" in n for n in ans.notes)
    assert "No kernel crash report found" in render(ans)


@pytest.mark.parametrize("bad", [b"", b"   \n\t\n", bytes(range(256)) * 50, "\x00\x00\x00"])
def test_unusable_input_is_a_clear_error(matcher: Matcher, bad: bytes | str) -> None:
    with pytest.raises(InputError):
        analyze(bad, matcher)


def test_hostile_inputs_get_an_answer(matcher: Matcher) -> None:
    text = EXAMPLE.read_text()
    cases = [
        text.encode("utf-8").replace(b"fsnotify", b"fsn\xffotify"),  # not UTF-8
        text[: len(text) // 3],  # truncated
        "Call Trace:\n" + " foo+0x1/0x2\n" * 20000,  # a huge stack with nothing else
        "BUG: soft lockup - CPU#0 stuck for 22s! [x:1]\n" * 3000,  # repeated headers
        "RIP: 0010:" + "a" * 100_000 + "+0x1/0x2\n",  # absurd symbol
        "\n".join(f"[{i}.000000] " + "x" * 200 for i in range(5000)),  # long noise
    ]
    for c in cases:
        ans = analyze(c, matcher)
        assert ans.algorithm_version == ALGORITHM_VERSION
        for m in ans.matches[:1]:
            assert 0.0 <= m.score <= 1.0


def test_corrupted_report_is_never_confident(matcher: Matcher) -> None:
    # The first lines of the soft lockup only: no stack to compare.
    head = "\n".join(EXAMPLE.read_text().splitlines()[:3]) + "\n"
    ans = analyze(head, matcher)
    assert not ans.confident


def test_cli_human_output(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    assert "Known bug: fsnotify-mark-connector-race" in out
    assert "d90a10e2444b" in out and "mainline 4.17" in out
    # a build of upstream 4.14.32 for EL7: the base's status, and that its vendor may have backported
    assert ("Your kernel 4.14.32-1.el7.x86_64 is affected: it is based on upstream 4.14.32, which lacks the fix; "
            "install 4.14.38 or later") in out and "may have backported" in out
    # a fresh install says how many bugs it knows and how to get the CVE feed
    assert "24 known bugs" in out or "known bugs)" in out
    assert "`sigmatch refresh` imports the kernel CVE team's feed" in out and "needs network" in out
    assert "bundle" in out


def test_cli_a_kernel_with_the_fix_is_told_so_not_to_install(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--kernel", "5.4.0", str(EXAMPLE)]) == 0
    out = capsys.readouterr().out
    first = out.split("\n\n")[1]  # the lead report's answer
    assert "Fixed in your kernel" in first and "5.4.0 already carries" in first
    assert "install" not in first.lower() and "AFFECTED" not in first and "affected:" not in first


def test_cli_a_suggestion_is_a_possible_match_with_conditional_facts(
        env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # the soft lockup's panic follow-on alone matches the fsnotify entry, but not confidently
    lines = EXAMPLE.read_text().splitlines()
    panic = "\n".join(lines[next(i for i, x in enumerate(lines) if "Kernel panic" in x):]) + "\n"
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(panic.encode())))
    assert main(["match"]) == 0
    out = capsys.readouterr().out
    assert "Possible match (not confident" in out
    assert "If this is that bug" in out
    assert "install" not in out.lower() and "AFFECTED" not in out and "is affected" not in out


def test_cli_no_crash_says_only_that_and_exits_like_parse(env: Path, tmp_path: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "boot.log"
    log.write_text("systemd[1]: Started Session 3 of user root.\nall good here\n")
    assert main(["parse", str(log)]) == 1
    capsys.readouterr()
    assert main(["match", str(log)]) == 1
    assert capsys.readouterr().out == "No kernel crash report found in this log.\n"
    assert main(["match", "--json", str(log)]) == 1
    d = json.loads(capsys.readouterr().out)
    assert d["reports"] == [] and d["summary"] == "No kernel crash report found in this log."


@pytest.mark.parametrize("bad", ["garbage", "linux", "6.1.123456", ""])
def test_cli_bad_kernel_is_an_error(env: Path, bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--kernel", bad, str(EXAMPLE)]) == 2
    err = capsys.readouterr().err
    assert "is not a kernel version" in err and "uname -r" in err


def test_cli_lists_no_zero_score_candidates(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--json", "--top", "50", str(EXAMPLE)]) == 0
    d = json.loads(capsys.readouterr().out)
    scores = [m["score"] for ra in d["answers"] for m in ra["matches"]]
    assert scores and min(scores) >= 0.005


def test_cli_json_output(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "--json", "--top", "2", str(EXAMPLE)]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["matches"][0]["bug_id"] == "fsnotify-mark-connector-race"
    assert len(d["matches"]) <= 2 and d["confident"] is True
    assert d["matches"][0]["verdict"]["status"] == "affected"


def test_cli_no_confident_match_is_said_plainly(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    log = tmp_path / "warn.log"
    log.write_text("------------[ cut here ]------------\n"
                   "WARNING: CPU: 1 PID: 42 at drivers/gpu/drm/zzz/zzz_plane.c:77 zzz_plane_check+0x10/0x20 [zzz]\n"
                   "CPU: 1 PID: 42 Comm: Xorg Not tainted 6.6.30 #1\n"
                   "Call Trace:\n <TASK>\n zzz_plane_check+0x10/0x20 [zzz]\n zzz_atomic_commit+0x30/0x90 [zzz]\n"
                   " drm_atomic_commit+0x50/0x60\n </TASK>\n---[ end trace 0000000000000000 ]---\n")
    assert main(["match", str(log)]) == 0
    out = capsys.readouterr().out
    assert "No known bug in the catalog matches this crash." in out
    assert "new bug" not in out


def test_cli_batch_bad_lines_do_not_stop_it(env: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lines = [
        json.dumps({"id": "good", "log": EXAMPLE.read_text()}),
        "{not json",
        json.dumps({"id": "nolog", "text": "x"}),
        json.dumps({"id": "empty", "log": ""}),
        json.dumps([1, 2, 3]),
        "",
        json.dumps({"id": 7, "log": "nothing to see\n"}),
    ]
    f = tmp_path / "q.jsonl"
    f.write_text("\n".join(lines) + "\n")
    assert main(["match", "--jsonl", str(f)]) == 0
    out = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert len(out) == 6
    by_id = {o.get("id"): o for o in out if o.get("id") is not None}
    assert by_id["good"]["matches"][0]["bug_id"] == "fsnotify-mark-connector-race"
    assert by_id["good"]["matches"][0]["fixes"][0]["sha"].startswith("d90a10e2444b")
    assert by_id["good"]["reports"][0]["kind"] == "soft_lockup"
    assert "error" in by_id["nolog"] and "error" in by_id["empty"]
    assert by_id[7]["matches"] == [] and by_id[7]["reports"] == []
    assert sum(1 for o in out if "error" in o) == 4


def test_batch_results_is_a_plain_generator(matcher: Matcher) -> None:
    got = list(batch_results([json.dumps({"id": "a", "log": EXAMPLE.read_text()}), "   "], matcher, top=1))
    assert len(got) == 1 and len(got[0]["matches"]) == 1


def test_cli_missing_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["match", "/nonexistent/file.log"]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["match", "--jsonl", "/nonexistent/q.jsonl"]) == 2


def test_out_of_tree_crash_is_said_plainly(matcher: Matcher) -> None:
    log = (REPO / "tests" / "fixtures" / "logs" / "openzfs-verify-panic.log").read_text()
    ans = analyze(log, matcher)
    assert ans.reports[0].out_of_tree == "zfs"
    assert not ans.confident
    doc = ans.to_dict()
    assert doc["reports"][0]["out_of_tree"] == "zfs"
    # said first, in the report's own answer, on every surface (the CLI below, the page, the chat reply)
    state = doc["answers"][0]["state"]
    assert state.startswith("The crash is in the out-of-tree module zfs") and "report it to zfs's maintainers" in state
    lines = render(ans).splitlines()
    crash = next(i for i, line in enumerate(lines) if line.startswith(("Crash:", "Report 1 of")))
    assert lines[crash + 1] == state  # right under the crash line, before any match
