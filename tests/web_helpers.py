"""Helpers for the web tests: a small written catalog, and a real ``sigmatch serve`` on a free port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import BugSignature, FixCommit, KnownBug, Origin, Reference, StableFix

REPO = Path(__file__).resolve().parents[1]
FSNOTIFY_LOG = REPO / "examples" / "fsnotify-softlockup-4.14.32.log"
FSNOTIFY_FIX = "d90a10e2444ba5a351fa695917258ff4c5709fa5"


def curated_examples(directory: Path = REPO / "signatures") -> list[tuple[str, str]]:
    """(bug id, example trace) for every example of the curated YAML files."""
    import yaml

    out = []
    for path in sorted(directory.glob("*.yaml")):
        doc = yaml.safe_load(path.read_text())
        for ex in doc.get("examples") or []:
            out.append((doc["id"], ex["trace"]))
    return out


def small_catalog() -> Catalog:
    """Three bugs written for these tests (facts in the real formats, not copied from anywhere)."""
    fsnotify = KnownBug(
        id="fsnotify-mark-connector-race",
        title="fsnotify: soft lockup in fsnotify on a freed mark connector",
        summary="A race between fsnotify and mark destruction leaves a CPU spinning in fsnotify().",
        kinds=("soft_lockup",),
        signatures=(BugSignature(title="BUG: soft lockup in fsnotify",
                                 frames=("fsnotify", "vfs_write", "ksys_write", "do_syscall_64"),
                                 kind="soft_lockup", source="test"),),
        fixes=(FixCommit(sha=FSNOTIFY_FIX, subject="fsnotify: Fix fsnotify_mark_connector race", mainline="4.17"),),
        stable=(StableFix(branch="4.16", version="4.16.9"),),
        references=(Reference(kind="bugzilla", value="199437", url="https://bugzilla.kernel.org/show_bug.cgi?id=199437"),),
        functions=("fsnotify", "fsnotify_mark_connector"),
    )
    kasan = KnownBug(
        id="CVE-2099-0001",
        title="net: use-after-free in foo_rcv",
        origin=Origin.CVE,
        kinds=("kasan",),
        signatures=(BugSignature(title="KASAN: slab-use-after-free Read in foo_rcv",
                                 frames=("foo_rcv", "ip_local_deliver", "ip_rcv"), kind="kasan"),),
        fixes=(FixCommit(sha="1" * 40, subject="net: foo: fix use-after-free in foo_rcv", mainline="6.8"),),
        cves=("CVE-2099-0001",),
    )
    hostile = KnownBug(
        id="xss-title",
        title="<script>alert('bug')</script> in bar",
        kinds=("warning",),
        signatures=(BugSignature(title="WARNING in bar_xss", frames=("bar_xss",), kind="warning"),),
    )
    return Catalog.of([fsnotify, kasan, hostile], version="test-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def served(env: dict[str, str] | None = None, *, workers: int = 2, threads: int = 4,
           wait: float = 60.0) -> Iterator[str]:
    """Run the real ``sigmatch serve`` (gunicorn) on a free loopback port; yield its base URL."""
    port = free_port()
    full = {**os.environ, **(env or {})}
    cmd = [sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main())", "serve", "--host", "127.0.0.1", "--port", str(port),
           "--workers", str(workers), "--threads", str(threads)]
    proc = subprocess.Popen(cmd, env=full, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + wait
        while True:
            if proc.poll() is not None:
                out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
                raise RuntimeError(f"sigmatch serve exited: {out[-2000:]}")
            try:
                with urllib.request.urlopen(base + "/healthz", timeout=2):
                    break
            except (urllib.error.URLError, OSError):
                if time.monotonic() > deadline:
                    raise RuntimeError("sigmatch serve did not answer /healthz") from None
                time.sleep(0.2)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
        if proc.stdout:
            proc.stdout.close()
