"""``sigmatch parse``: text and JSON output, stdin, exit codes, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "fsnotify-softlockup-4.14.32.log"


def _run(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main())", *args],
                          input=stdin, capture_output=True, cwd=REPO, timeout=60, check=False)


def test_parse_text_output() -> None:
    p = _run("parse", str(EXAMPLE))
    assert p.returncode == 0
    out = p.stdout.decode()
    assert "BUG: soft lockup in fsnotify" in out
    assert "4.14.32-1.el7.x86_64" in out


def test_parse_json_from_stdin() -> None:
    p = _run("parse", "--json", "-", stdin=EXAMPLE.read_bytes())
    assert p.returncode == 0
    doc = json.loads(p.stdout)
    assert doc["reports"][0]["title"] == "BUG: soft lockup in fsnotify"
    assert doc["reports"][0]["signature"]["frames"][0] == "fsnotify"
    assert doc["rules_version"]


def test_parse_no_crash_and_bad_input() -> None:
    assert _run("parse", "-", stdin=b"just a line\n").returncode == 1
    p = _run("parse", "-", stdin=b"")
    assert p.returncode == 2 and b"empty" in p.stderr
    p = _run("parse", "-", stdin=bytes(range(256)) * 64)
    assert p.returncode == 2 and b"binary" in p.stderr
    assert _run("parse", "/nonexistent/log").returncode == 2
