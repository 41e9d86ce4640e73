"""Batch triage throughput (``sigmatch match --jsonl``) with one and several worker processes.

    python3 benchmarks/batch_jobs.py --data-dir /tmp/index-data [--jobs 1,2] [--repeat 3] [--summary]
                                     [--queries ../shared/corpus/e2e-dev.jsonl] [--cli]

The queries (``e2e-dev.jsonl``: each line's ``trace`` as the log, ``date`` as the time) are
answered by :func:`sigmatch.batch.run_batch` against the catalog in ``DATA_DIR`` (loaded once,
from the prebuilt index), for each ``--jobs`` value, ``--repeat`` times; per run: logs/s by wall
clock and the CPU seconds of this process and its workers (``RUSAGE_CHILDREN``), and a check that
the output is byte-identical to ``--jobs 1``'s. ``--summary`` times the roll-up instead of the
per-line output. ``--cli`` times whole ``sigmatch match --jsonl`` processes instead (catalog load
included). The machine is shared: the wall figures move with what else runs (the load average is
printed); CPU seconds say how much work there was.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigmatch.batch import run_batch  # noqa: E402
from sigmatch.config import Settings  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus"


def cpu_now() -> tuple[float, float]:
    """CPU seconds of this process and of its reaped children (the batch workers)."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def queries(path: Path) -> list[str]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            d = json.loads(line)
            out.append(json.dumps({"id": d.get("id"), "log": d.get("trace") or d.get("log") or "",
                                   "date": d.get("date")}))
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--queries", default=str(CORPUS / "e2e-dev.jsonl"))
    ap.add_argument("--jobs", default="1,2")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--summary", action="store_true")
    ap.add_argument("--cli", action="store_true", help="time whole `sigmatch match --jsonl` processes")
    args = ap.parse_args()
    os.environ["SIGMATCH_DATA_DIR"] = args.data_dir
    os.environ["SIGMATCH_UPSTREAM_LOOKUP"] = "off"
    qpath = Path(args.queries)
    if not qpath.exists():
        print(f"queries not found: {qpath}")
        return 1
    lines = queries(qpath)
    job_counts = [int(j) for j in args.jobs.split(",")]
    print(f"{len(lines)} logs from {qpath.name}; load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
          f"{'; roll-up' if args.summary else ''}{'; whole CLI processes' if args.cli else ''}")
    reference: str | None = None
    if args.cli:
        tmp = Path(tempfile.mkdtemp(prefix="sigmatch-batch-"))
        qfile = tmp / "queries.jsonl"
        qfile.write_text("\n".join(lines) + "\n")
    else:
        t0 = time.perf_counter()
        matcher = build_runtime(Settings.from_env()).load_matcher()
        print(f"catalog: {len(matcher.catalog)} bugs, loaded in {time.perf_counter() - t0:.2f}s")
    for jobs in job_counts:
        walls: list[float] = []
        cpus: list[float] = []
        split: list[tuple[float, float]] = []
        for _ in range(args.repeat):
            if args.cli:
                argv = [sys.executable, "-c", "import sys; from sigmatch.cli import main; sys.exit(main(sys.argv[1:]))",
                        "match", "--jsonl", str(qfile), "--jobs", str(jobs),
                        *(["--summary", "--json"] if args.summary else [])]
                with open(tmp / "out", "wb") as fh:
                    t0 = time.perf_counter()
                    proc = subprocess.Popen(argv, stdout=fh, cwd=REPO, env=dict(os.environ, PYTHONPATH=str(REPO)))
                    _, _, usage = os.wait4(proc.pid, 0)  # the child and the workers it reaped
                    wall = time.perf_counter() - t0
                    proc.returncode = 0
                text = (tmp / "out").read_text()
                cpus.append(usage.ru_utime + usage.ru_stime)
            else:
                out = io.StringIO()
                (s0, k0), t0 = cpu_now(), time.perf_counter()
                _, roll = run_batch(lines, matcher, None if args.summary else out, jobs=jobs, summary=args.summary)
                wall = time.perf_counter() - t0
                s1, k1 = cpu_now()
                cpu = (s1 - s0) + (k1 - k0)
                split.append((s1 - s0, k1 - k0))
                text = json.dumps(roll.to_dict(), sort_keys=True) if roll is not None else out.getvalue()
                cpus.append(cpu)
            walls.append(wall)
            if reference is None:
                reference = text
            same = "identical" if text == reference else "DIFFERENT"
        w = statistics.median(walls)
        c = statistics.median(cpus)
        print(f"--jobs {jobs}: {len(lines) / w:7.1f} logs/s wall (median of {args.repeat}: {w:.2f}s; "
              f"min {min(walls):.2f}s), {c:.2f} CPU s ({len(lines) / c:.1f} logs per CPU s"
              + (f"; this process {statistics.median(p for p, _ in split):.2f}, workers "
                 f"{statistics.median(k for _, k in split):.2f}" if split else "")
              + f"); output {same} to --jobs {job_counts[0]}'s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
