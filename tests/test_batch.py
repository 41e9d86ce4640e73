"""Batch triage (sigmatch.batch) and the fleet roll-up (sigmatch.rollup): the per-line JSONL
contract, byte-identical output whatever ``--jobs``, a worker killed mid-batch, and the roll-up's
counts, times and kernels. Real parser, real curated signatures/, real CLI processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from sigmatch.answer import analyze
from sigmatch.batch import CHUNK, batch_results, run_batch
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.curated import load_curated
from sigmatch.cli import main
from sigmatch.match.matcher import Matcher
from sigmatch.rollup import Rollup, line_time, log_item, render, report_times, time_of
from sigmatch.trace.parse import parse_log

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = (REPO / "examples" / "fsnotify-softlockup-4.14.32.log").read_text()
FIXTURE_LOGS = sorted((REPO / "tests" / "fixtures" / "logs").glob("*.log"))
MAIN = "import sys; from sigmatch.cli import main; sys.exit(main(sys.argv[1:]))"


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(Catalog.of(load_curated(REPO / "signatures"), version="curated-test"), freeze_gc=False)


def with_kernel(text: str, kernel: str) -> str:
    return text.replace("4.14.32-1.el7.x86_64", kernel)


def stamped(text: str, prefix: str) -> str:
    """The example with each ``[ seconds]`` prefix replaced by a wall-clock prefix."""
    import re

    return re.sub(r"^\[ *\d+\.\d+\] ", prefix, text, flags=re.M)


def mixed_lines() -> list[str]:
    """Good logs, bad lines, blank lines: enough for several chunks."""
    lines = []
    for n, p in enumerate(FIXTURE_LOGS):
        lines.append(json.dumps({"id": f"fx-{n}", "log": p.read_text(errors="replace")}))
        if n % 7 == 3:
            lines += ["{not json", "", json.dumps([1, 2]), json.dumps({"id": f"nolog-{n}"}),
                      json.dumps({"id": f"empty-{n}", "log": ""}), json.dumps({"id": f"bin-{n}", "log": "\x00" * 50})]
    lines.append(json.dumps({"id": "fsnotify", "log": EXAMPLE}))
    return lines


def cli(args: list[str], stdin: str | None = None, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", MAIN, *args], input=stdin, capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=300)


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(REPO), SIGMATCH_DATA_DIR=str(tmp_path / "data"),
                SIGMATCH_SIGNATURES_DIR=str(REPO / "signatures"), SIGMATCH_UPSTREAM_LOOKUP="off", REDIS_URL="")


# --------------------------------------------------------------------------- the per-line contract


def test_jobs_do_not_change_a_byte_of_the_output(tmp_path: Path, cli_env: dict[str, str]) -> None:
    lines = mixed_lines()
    assert len(lines) > 4 * CHUNK
    q = tmp_path / "q.jsonl"
    q.write_text("\n".join(lines) + "\n")
    one = cli(["match", "--jsonl", str(q), "--jobs", "1"], env=cli_env)
    two = cli(["match", "--jsonl", str(q), "--jobs", "2"], env=cli_env)
    three = cli(["match", "--jsonl", "-", "--jobs", "3"], stdin=q.read_text(), env=cli_env)
    dflt = cli(["match", "--jsonl", str(q)], env=cli_env)
    for r in (one, two, three, dflt):
        assert r.returncode == 0, r.stderr[-2000:]
    assert one.stdout == two.stdout == three.stdout == dflt.stdout
    out = [json.loads(x) for x in one.stdout.splitlines()]
    assert len(out) == sum(1 for x in lines if x.strip())
    # in input order, errors as {"id", "line", "error"}, answers as before
    assert [o.get("id") for o in out if str(o.get("id", "")).startswith("fx-")] == \
        [f"fx-{n}" for n in range(len(FIXTURE_LOGS))]
    errors = [o for o in out if "error" in o]
    assert errors and all(set(o) == {"id", "line", "error"} for o in errors)
    good = next(o for o in out if o.get("id") == "fsnotify")
    assert set(good) == {"id", "reports", "matches", "confident", "kernel", "notes", "algorithm_version",
                         "catalog_version"}
    assert good["matches"][0]["bug_id"] == "fsnotify-mark-connector-race" and good["confident"]


def test_in_process_results_are_the_cli_results(matcher: Matcher) -> None:
    lines = mixed_lines()
    import io

    buf = io.StringIO()
    n, roll = run_batch(lines, matcher, buf, jobs=1)
    assert roll is None and n == len(buf.getvalue().splitlines())
    assert [json.loads(x) for x in buf.getvalue().splitlines()] == \
        json.loads(json.dumps(list(batch_results(lines, matcher)), default=str))


def test_a_worker_killed_mid_batch_loses_no_line(tmp_path: Path, cli_env: dict[str, str]) -> None:
    lines = [json.dumps({"id": n, "log": EXAMPLE if n % 2 else FIXTURE_LOGS[n % len(FIXTURE_LOGS)].read_text()})
             for n in range(1500)]
    q = tmp_path / "q.jsonl"
    q.write_text("\n".join(lines) + "\n")
    reference = cli(["match", "--jsonl", str(q), "--jobs", "1"], env=cli_env)
    assert reference.returncode == 0
    proc = subprocess.Popen([sys.executable, "-c", MAIN, "match", "--jsonl", str(q), "--jobs", "2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO, env=cli_env)
    killed = False
    deadline = time.monotonic() + 60
    children = Path(f"/proc/{proc.pid}/task/{proc.pid}/children")
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            kids = children.read_text().split()
        except OSError:
            kids = []
        if len(kids) >= 2:
            time.sleep(0.5)  # well into the batch
            os.kill(int(kids[0]), signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    out, err = proc.communicate(timeout=300)
    if not killed:
        pytest.skip("the batch ended before a worker could be killed (machine too fast for this input)")
    assert proc.returncode == 0, err[-2000:]
    assert "worker process died" in err
    assert out == reference.stdout


def test_bad_arguments_are_clear_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGMATCH_DATA_DIR", str(tmp_path / "data"))
    q = tmp_path / "q.jsonl"
    q.write_text(json.dumps({"id": 1, "log": EXAMPLE}) + "\n")
    assert main(["match", "--jsonl", str(q), "--jobs", "0"]) == 2
    assert "--jobs" in capsys.readouterr().err
    assert main(["match", "--summary", str(q)]) == 2
    assert "--jsonl" in capsys.readouterr().err
    assert main(["match", "--jsonl", str(tmp_path), "--summary"]) == 2
    assert "directory" in capsys.readouterr().err


# --------------------------------------------------------------------------- times


@pytest.mark.parametrize(("line", "expected"), [
    ("2024-04-14T08:12:21+02:00 host kernel: BUG: x", "2024-04-14T06:12:21Z"),  # journalctl -o short-iso
    ("2024-04-14T08:12:21.123456+0200 host kernel: x", "2024-04-14T06:12:21Z"),  # short-iso-precise
    ("2024-04-14 08:12:21,5 kernel: x", "2024-04-14T08:12:21"),  # no zone: shown as given
    ("<4>1 2024-04-14T08:12:21.003Z host kernel - - - BUG: x", "2024-04-14T08:12:21Z"),  # RFC 5424
    ("[Sun Apr 14 08:12:21 2024] BUG: soft lockup", "2024-04-14T08:12:21"),  # dmesg -T
    ('{ "__CURSOR" : "s=1", "__REALTIME_TIMESTAMP" : "1713082341123456", "MESSAGE" : "BUG" }',
     "2024-04-14T08:12:21Z"),  # journalctl -o json
    ("__REALTIME_TIMESTAMP=1713082341123456", "2024-04-14T08:12:21Z"),  # journalctl -o export
    ("Apr 14 08:12:21 host kernel: BUG: x", None),  # classic syslog: no year
    ("[412087.330214] watchdog: BUG: soft lockup", None),  # seconds since boot
    ("1999 was a year", None),
    ("[Sun Foo 14 08:12:21 2024] x", None),
    ("9999-99-99T99:99:99Z x", None),
    ("", None),
])
def test_line_times(line: str, expected: str | None) -> None:
    got = line_time(line)
    assert (got.text if got else None) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("2019-04-29T12:06:07Z", "2019-04-29T12:06:07Z"),
    ("2019-04-29T14:06:07+02:00", "2019-04-29T12:06:07Z"),
    ("Mon, 29 Apr 2019 14:06:07 +0200", "2019-04-29T12:06:07Z"),  # a mail's Date:
    (1556539567, "2019-04-29T12:06:07Z"),
    (1556539567123, "2019-04-29T12:06:07Z"),  # ms
    ("1556539567123456", "2019-04-29T12:06:07Z"),  # µs
    (1556539567.5, "2019-04-29T12:06:07Z"),
    ("yesterday", None), ("", None), (True, None), (-5, None), (None, None), ([2019], None), ("x" * 1000, None),
    (10**30, None),
])
def test_input_field_times(value: Any, expected: str | None) -> None:
    got = time_of(value)
    assert (got.text if got else None) == expected


def test_report_times_take_each_reports_own_line() -> None:
    first = stamped(EXAMPLE, "[Sun Apr 14 08:12:21 2024] ")
    second = stamped(EXAMPLE, "[Mon Apr 15 09:00:00 2024] ")
    text = first + "\n" + second
    reports = parse_log(text)
    assert len(reports) >= 2
    times = report_times(text, reports)
    assert {t.text for t in times if t} == {"2024-04-14T08:12:21", "2024-04-15T09:00:00"}
    plain = parse_log(EXAMPLE)
    assert report_times(EXAMPLE, plain) == [None] * len(plain)  # "[ 412087.33]": seconds since boot


# --------------------------------------------------------------------------- the roll-up


def fleet() -> list[str]:
    return [
        json.dumps({"id": "a", "log": EXAMPLE, "time": "2024-04-14T08:00:00Z"}),
        json.dumps({"id": "b", "log": stamped(EXAMPLE, "2024-03-01T10:00:00+01:00 node2 kernel: ")}),  # time in the log
        json.dumps({"id": "c", "log": with_kernel(EXAMPLE, "4.14.10"), "date": "Tue, 16 Apr 2024 12:00:00 +0000"}),
        json.dumps({"id": "d", "log": EXAMPLE}),  # no time anywhere
        json.dumps({"id": "e", "log": "systemd[1]: Started Session 3 of user root.\n"}),  # no crash
        "{broken",
        json.dumps({"id": "f", "log": (REPO / "tests" / "fixtures" / "logs" / FIXTURE_LOGS[0].name).read_text()}),
        json.dumps({"id": "g", "log": EXAMPLE, "time": "2024-05-01T00:00:00Z"}),
    ]


def test_rollup_groups_by_known_bug(matcher: Matcher) -> None:
    lines = fleet()
    n, roll = run_batch(lines, matcher, None, jobs=1, summary=True)
    assert roll is not None and n == len(lines)
    d = roll.to_dict()
    assert d["logs"] == 8 and d["errors"]["count"] == 1 and d["errors"]["first"][0]["line"] == 6
    assert d["no_crash_report"] == 1
    fs = next(g for g in d["bugs"] if g["bug_id"] == "fsnotify-mark-connector-race")
    # an independent count from the per-line answers
    confident_ids = [json.loads(x)["id"] for x in lines[:5] + lines[6:] if x.startswith("{")
                     and analyze(json.loads(x)["log"], matcher).confident
                     and analyze(json.loads(x)["log"], matcher).top.bug.id == "fsnotify-mark-connector-race"]  # type: ignore[union-attr]
    assert fs["count"] == len(confident_ids) >= 4 and fs["ids"] == confident_ids
    assert fs["first_seen"] == "2024-03-01T09:00:00Z" and fs["last_seen"] == "2024-05-01T00:00:00Z"
    assert fs["time_unknown"] == 1
    kernels = {k["kernel"]: k for k in fs["kernels"]}
    assert kernels["4.14.32-1.el7.x86_64"]["count"] >= 3 and kernels["4.14.32-1.el7.x86_64"]["status"] == "affected"
    assert fs["fixes"][0]["short"] == "d90a10e2444b"
    assert d["times"] == {"input": fs["count"] - 2, "log": 1, "none": 1}
    text = render(d)
    assert "fsnotify-mark-connector-race" in text and "2024-03-01T09:00:00Z .. 2024-05-01T00:00:00Z" in text
    assert "line(s) not answered: line 6" in text


def test_rollup_is_the_same_whatever_the_jobs(tmp_path: Path, cli_env: dict[str, str]) -> None:
    lines = fleet() * 10
    q = tmp_path / "fleet.jsonl"
    q.write_text("\n".join(lines) + "\n")
    one = cli(["match", "--jsonl", str(q), "--summary", "--json", "--jobs", "1"], env=cli_env)
    two = cli(["match", "--jsonl", str(q), "--summary", "--json", "--jobs", "2"], env=cli_env)
    text = cli(["match", "--jsonl", str(q), "--summary", "--jobs", "2"], env=cli_env)
    assert one.returncode == two.returncode == text.returncode == 0, two.stderr[-2000:]
    assert one.stdout == two.stdout
    d = json.loads(one.stdout)
    assert d["logs"] == 80 and d["errors"]["count"] == 10
    assert d["bugs"][0]["bug_id"] == "fsnotify-mark-connector-race" and d["bugs"][0]["count"] >= 40
    assert text.stdout.startswith("Fleet roll-up: 80 log(s)")


def test_rollup_items_survive_any_result_shape() -> None:
    """log_item reads results defensively: an error, no matches, a match without verdict or why."""
    r = Rollup("v", "a")
    r.add(log_item({"id": 1, "line": 1, "error": "bad"}, {}, None, ()))
    r.add(log_item({"id": 2, "reports": [{}], "matches": []}, {}, "x", ()))
    r.add(log_item({"id": 3, "reports": [{}], "matches": [{"bug_id": "B", "confident": True}]}, {"time": 5}, "x", ()))
    r.add(log_item({"id": 4, "reports": [{}], "matches": [{"bug_id": "C", "confident": False, "title": "t"}]},
                   {}, "x", ()))
    d = r.to_dict()
    assert d["errors"]["count"] == 1 and d["no_confident_match"]["count"] == 2
    assert d["no_confident_match"]["closest"] == [{"bug_id": "C", "title": "t", "count": 1}]
    assert d["bugs"][0]["bug_id"] == "B" and d["bugs"][0]["kernels"] == [{"kernel": "unknown", "count": 1,
                                                                          "status": "unknown"}]
    assert render(d)
