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


def bippy_record(cid: str, subject: str, fix: str, *, body: str, trace: str = "",
                 stable: tuple[tuple[str, str], ...] = ()) -> dict[str, bytes]:
    """One CVE record's files (``{ext: bytes}``) in bippy's format: introduced in 5.4, fixed in
    mainline 6.9 by ``fix`` and on each ``(release, stable sha)`` of ``stable``."""
    desc = f"In the Linux kernel, the following vulnerability has been resolved:\n\n{subject}\n\n{body}\n{trace}"
    versions: list[dict[str, Any]] = [
        {"version": "5.4", "status": "affected"},
        {"version": "0", "lessThan": "5.4", "status": "unaffected", "versionType": "semver"},
    ]
    dyad = ["# dyad version: 1.2.0"]
    for ver, sha in stable:
        versions.append({"version": ver, "lessThanOrEqual": ver.rsplit(".", 1)[0] + ".*", "status": "unaffected",
                         "versionType": "semver"})
        dyad.append(f"5.4:{'a' * 40}:{ver}:{sha}")
    versions.append({"version": "6.9", "lessThanOrEqual": "*", "status": "unaffected",
                     "versionType": "original_commit_for_fix"})
    dyad.append(f"5.4:{'a' * 40}:6.9:{fix}")
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
    return {"json": json.dumps(doc, indent=3).encode(), "dyad": ("\n".join(dyad) + "\n").encode(),
            "sha1": f"{fix}\n".encode(), "vulnerable": ("a" * 40 + "\n").encode()}


def record(cid: str, *, n: int = 0, trace: bool = False) -> dict[str, bytes]:
    """One numbered widget CVE record, with the NULL-dereference trace quoted when ``trace``."""
    return bippy_record(cid, f"widget: fix use-after-free in frob_widget_queue_{n}()", sha_for(cid + ":fix"),
                        body=f"Calling frob_widget_queue_{n}() twice frees widget->ring.",
                        trace=TRACE if trace else "", stable=(("6.1.90", sha_for(cid + ":6.1")),))


def _fast_import(repo: Path, files: dict[str, bytes], message: str, *, first_commit: bool) -> None:
    """One commit of ``files`` (path -> bytes) on ``master`` through ``git fast-import``: thousands of
    records in a second, without writing them to a working tree first."""
    out = bytearray()
    out += b"commit refs/heads/master\n"
    out += b"committer sigmatch-test <test@invalid> 1700000000 +0000\n"
    msg = message.encode()
    out += b"data %d\n%s\n" % (len(msg), msg)
    if not first_commit:
        out += b"from refs/heads/master^0\n"
    for path, data in files.items():
        out += b"M 100644 inline %s\ndata %d\n%s\n" % (path.encode(), len(data), data)
    out += b"\n"
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=bytes(out), check=True, capture_output=True)


def record_files(cid: str, files: dict[str, bytes]) -> dict[str, bytes]:
    year = cid.split("-")[1]
    return {f"cve/published/{year}/{cid}.{ext}": data for ext, data in files.items()}


def make_repo(path: Path, count: int, *, malformed: int = 0, first: int = 1000) -> Path:
    """A bare git repository with ``count`` good records (every tenth quotes a trace) and ``malformed`` bad ones."""
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "--quiet", "--bare", "--initial-branch=master")
    files: dict[str, bytes] = {}
    for i in range(count):
        cid = f"CVE-2025-{first + i}"
        files.update(record_files(cid, record(cid, n=i, trace=i % 10 == 0)))
    for i in range(malformed):
        cid = f"CVE-2025-{first + count + i}"
        files.update(record_files(cid, {"json": b'{"containers": {"cna": [1, 2', "dyad": b"garbage\n"}))
    _fast_import(path, files, f"{count} records", first_commit=True)
    return path


def add_records(repo: Path, count: int, *, first: int) -> None:
    files: dict[str, bytes] = {}
    for i in range(count):
        cid = f"CVE-2026-{first + i}"
        files.update(record_files(cid, record(cid, n=first + i, trace=i % 10 == 0)))
    _fast_import(repo, files, f"{count} more records", first_commit=False)
