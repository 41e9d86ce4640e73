"""Cold CLI: how long a fresh ``sigmatch`` process takes, next to a bare ``import sigmatch``.

    python3 benchmarks/cold_cli.py --data-dir /tmp/index-data [--runs 7] [--id CVE-2024-47660]
                                   [--log examples/fsnotify-softlockup-4.14.32.log] [--no-cache] [--json]

Every run is a new Python process (the interpreter of this script, the worktree's ``sigmatch``
package): ``python -c "import sigmatch"``, then ``sigmatch match LOG``, ``sigmatch db stats`` and
``sigmatch db show ID`` against ``SIGMATCH_DATA_DIR=DATA_DIR`` (upstream lookups off). For each:
the median wall time and the median CPU time (user + system of the child, from ``wait4``) over
``--runs`` runs, and the difference and ratio to the bare import. The target of issue 15 item 2:
a cold ``match`` on the full catalog within 1 s of the bare import.

The catalog files stay in the page cache (runs after the first read them from memory); "cold"
means a new process, not a cold disk. ``--no-cache`` deletes the prebuilt index
(``catalog/index-*.pickle``) before each run: the cost of a first run after a refresh or a change
to ``signatures/`` (the index is built and written again). The machine is shared: read the CPU
figures first.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MAIN = "import sys; from sigmatch.cli import main; sys.exit(main(sys.argv[1:]))"


def run_once(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys) and exit status of one child process."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.stderr is not None:
        err = proc.stderr.read()
        proc.stderr.close()
        if proc.returncode not in (0, 1) and err:
            sys.stderr.write(err.decode(errors="replace"))
    return wall, usage.ru_utime + usage.ru_stime, proc.returncode


def clear_cache(data_dir: Path) -> None:
    for p in (data_dir / "catalog").glob("index-*"):
        p.unlink(missing_ok=True)


def measure(label: str, argv: list[str], env: dict[str, str], runs: int, data_dir: Path,
            no_cache: bool) -> dict[str, object]:
    walls, cpus, codes = [], [], set()
    for _ in range(runs):
        if no_cache:
            clear_cache(data_dir)
        wall, cpu, code = run_once(argv, env)
        walls.append(wall)
        cpus.append(cpu)
        codes.add(code)
    return {"command": label, "wall": statistics.median(walls), "cpu": statistics.median(cpus),
            "wall_min": min(walls), "cpu_min": min(cpus), "exit": sorted(codes)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True, help="SIGMATCH_DATA_DIR holding the full catalog")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--log", default="examples/fsnotify-softlockup-4.14.32.log")
    ap.add_argument("--id", default="CVE-2024-47660", help="the bug for `db show`")
    ap.add_argument("--no-cache", action="store_true",
                    help="delete the prebuilt index before each run (first run after a refresh)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    data_dir = Path(args.data_dir)
    env = dict(os.environ, SIGMATCH_DATA_DIR=str(data_dir), SIGMATCH_UPSTREAM_LOOKUP="off",
               PYTHONPATH=str(REPO))
    py = sys.executable
    commands = [
        ("import sigmatch", [py, "-c", "import sigmatch"]),
        ("sigmatch match LOG", [py, "-c", MAIN, "match", args.log]),
        ("sigmatch db stats", [py, "-c", MAIN, "db", "stats"]),
        (f"sigmatch db show {args.id}", [py, "-c", MAIN, "db", "show", args.id]),
    ]
    # One unmeasured run of each first: byte-compiles the sources and (without --no-cache)
    # leaves the prebuilt index in place, as any run after the first finds it.
    for _, argv in commands:
        run_once(argv, env)
    rows = [measure(label, argv, env, args.runs, data_dir, args.no_cache and label != "import sigmatch")
            for label, argv in commands]
    base = rows[0]
    for r in rows:
        r["wall_minus_import"] = float(r["wall"]) - float(base["wall"])  # type: ignore[arg-type]
        r["wall_ratio"] = float(r["wall"]) / float(base["wall"])  # type: ignore[arg-type]
        r["cpu_minus_import"] = float(r["cpu"]) - float(base["cpu"])  # type: ignore[arg-type]
        r["cpu_ratio"] = float(r["cpu"]) / float(base["cpu"])  # type: ignore[arg-type]
    if args.json:
        print(json.dumps({"runs": args.runs, "no_cache": args.no_cache, "loadavg": os.getloadavg(),
                          "rows": rows}, indent=1))
        return 0
    print(f"cold processes, median of {args.runs} runs{' (prebuilt index deleted before each)' if args.no_cache else ''};"
          f" load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'command':32} {'wall s':>7} {'cpu s':>7} {'wall-imp':>9} {'cpu-imp':>8} {'ratio w/c':>11}")
    for r in rows:
        print(f"{r['command']:32} {r['wall']:7.3f} {r['cpu']:7.3f} {r['wall_minus_import']:+9.3f} "
              f"{r['cpu_minus_import']:+8.3f} {r['wall_ratio']:5.1f}/{r['cpu_ratio']:<5.1f}"
              + ("" if r["exit"] == [0] else f"  exit {r['exit']}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
