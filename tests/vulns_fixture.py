"""Small kernel CVE ("vulns") git repositories written at test time, in the real record format.

Records follow the CVE team's layout (``cve/published/YYYY/CVE-*.json`` + ``.dyad`` + ``.sha1`` +
``.vulnerable``, bippy's JSON 5.1 shape); the facts are made up for the tests, nothing is copied
from the real repository.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

TRACE = """
 BUG: kernel NULL pointer dereference, address: 0000000000000010
 RIP: 0010:frob_widget_queue+0x2a/0x90 [widget]
 Call Trace:
  <TASK>
  widget_ring_free+0x1c/0x40 [widget]
  widget_release+0x55/0x80 [widget]
  __fput+0xe2/0x2a0
  task_work_run+0x59/0x90
  exit_to_user_mode_prepare+0x1b2/0x1c0
  </TASK>
"""


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=sigmatch-test", "-c", "user.email=test@invalid", "-c", "commit.gpgsign=false",
         *args], cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


def sha_for(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()


def record(cid: str, *, n: int = 0, trace: bool = False) -> dict[str, bytes]:
    """One CVE record's files (``{ext: bytes}``) in bippy's format."""
    fix = sha_for(cid + ":fix")
    subject = f"widget: fix use-after-free in frob_widget_queue_{n}()"
    desc = ("In the Linux kernel, the following vulnerability has been resolved:\n\n"
            f"{subject}\n\nCalling frob_widget_queue_{n}() twice frees widget->ring.\n"
            + (TRACE if trace else ""))
    stable = ("6.1.90", sha_for(cid + ":6.1"))
    versions: list[dict[str, Any]] = [
        {"version": "5.4", "status": "affected"},
        {"version": "0", "lessThan": "5.4", "status": "unaffected", "versionType": "semver"},
        {"version": stable[0], "lessThanOrEqual": "6.1.*", "status": "unaffected", "versionType": "semver"},
        {"version": "6.9", "lessThanOrEqual": "*", "status": "unaffected", "versionType": "original_commit_for_fix"},
    ]
    doc = {
        "containers": {"cna": {
            "descriptions": [{"lang": "en", "value": desc}],
            "affected": [{"product": "Linux", "vendor": "Linux", "defaultStatus": "affected",
                          "programFiles": ["drivers/misc/widget.c"], "versions": versions}],
            "title": subject,
        }},
        "cveMetadata": {"cveId": cid, "state": "PUBLISHED"},
        "dataType": "CVE_RECORD", "dataVersion": "5.1",
    }
    dyad = f"# dyad version: 1.2.0\n5.4:{'a' * 40}:{stable[0]}:{stable[1]}\n5.4:{'a' * 40}:6.9:{fix}\n"
    return {"json": json.dumps(doc, indent=3).encode(), "dyad": dyad.encode(), "sha1": f"{fix}\n".encode(),
            "vulnerable": ("a" * 40 + "\n").encode()}


def write_record(repo: Path, cid: str, files: dict[str, bytes]) -> None:
    d = repo / "cve" / "published" / cid.split("-")[1]
    d.mkdir(parents=True, exist_ok=True)
    for ext, data in files.items():
        (d / f"{cid}.{ext}").write_bytes(data)


def make_repo(path: Path, count: int, *, malformed: int = 0, first: int = 1000) -> Path:
    """A git repository with ``count`` good records (every tenth quotes a trace) and ``malformed`` bad ones."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--initial-branch=master")
    for i in range(count):
        cid = f"CVE-2025-{first + i}"
        write_record(path, cid, record(cid, n=i, trace=i % 10 == 0))
    for i in range(malformed):
        cid = f"CVE-2025-{first + count + i}"
        write_record(path, cid, {"json": b'{"containers": {"cna": [1, 2', "dyad": b"garbage\n"})
    git(path, "add", "-A")
    git(path, "commit", "--quiet", "-m", f"{count} records")
    return path


def add_records(repo: Path, count: int, *, first: int) -> None:
    for i in range(count):
        cid = f"CVE-2026-{first + i}"
        write_record(repo, cid, record(cid, n=first + i))
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", f"{count} more records")
