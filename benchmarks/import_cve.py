"""Import the full kernel CVE repository and print the figures of issue 3.

    python3 benchmarks/import_cve.py [--repo ../shared/corpus/vulns.bundle] [--workdir DIR]

Prints: full import time, records/s, peak memory, counts (records, with a fix, with stable
versions, with parsed traces); a no-change re-import's time; the catalog load time (best of 3).
Targets: full import < 2 min on one core; no-change re-import < 10 s; catalog load < 2 s.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_DIR))

from sigmatch.config import Settings  # noqa: E402
from sigmatch.refresh import refresh  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402


def cpu_s() -> float:
    """CPU seconds of this process and its finished children (git): the figure a busy machine does not skew."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # Linux: KiB


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repo", default=str(REPO_DIR.parent / "shared" / "corpus" / "vulns.bundle"),
                    help="vulns repository: path, bundle or URL")
    ap.add_argument("--workdir", type=Path, default=None, help="data directory (default: a temporary one)")
    args = ap.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="sigmatch-bench-import-"))
    (work / "no-curated").mkdir(parents=True, exist_ok=True)
    settings = Settings.from_env({"SIGMATCH_DATA_DIR": str(work), "SIGMATCH_CVE_REPO": args.repo, "REDIS_URL": "",
                                  "SIGMATCH_SIGNATURES_DIR": str(work / "no-curated"), "SIGMATCH_UPSTREAM_LOOKUP": "off"})
    try:
        t0 = time.perf_counter()
        cpu0 = cpu_s()
        full = refresh(settings=settings, full=True)
        t_full = time.perf_counter() - t0
        cpu_full = cpu_s() - cpu0
        mem_full = peak_mib()
        c = full.counts
        print(f"full import: {t_full:.1f}s wall, {cpu_full:.1f}s CPU (incl. git), load average {os.getloadavg()[0]:.1f}, "
              f"{full.records_read / t_full:.0f} records/s wall, peak RSS {mem_full:.0f} MiB")
        print(f"  records read {full.records_read}, imported {c.get('bugs', 0)}, skipped {len(full.skipped)}, "
              f"with fix {c.get('with_fix', 0)}, with stable versions {c.get('with_stable', 0)}, "
              f"with parsed traces {c.get('with_trace', 0)}")
        for s in full.skipped[:5]:
            print(f"  skipped {s.id}: {s.reason}")
        t1 = time.perf_counter()
        cpu1 = cpu_s()
        again = refresh(settings=settings)
        t_again = time.perf_counter() - t1
        print(f"no-change re-import: {t_again:.2f}s wall, {cpu_s() - cpu1:.2f}s CPU "
              f"(unchanged={again.unchanged}, records read {again.records_read})")
        loads = []
        load_cpu = []
        for _ in range(3):
            t2 = time.perf_counter()
            c2 = time.process_time()
            catalog = build_runtime(settings).load_catalog()
            loads.append(time.perf_counter() - t2)
            load_cpu.append(time.process_time() - c2)
        size = sum(p.stat().st_size for p in (work / "catalog").glob("snapshot-*.json.gz")) / 2**20
        print(f"catalog load: best {min(loads):.2f}s wall / {min(load_cpu):.2f}s CPU of 3 ({len(catalog)} bugs; snapshot files {size:.1f} MiB)")
        ok = t_full < 120 and t_again < 10 and min(loads) < 2
        print(f"import_s={t_full:.1f} records_per_s={full.records_read / t_full:.0f} peak_mib={mem_full:.0f} "
              f"reimport_s={t_again:.2f} load_s={min(loads):.2f} load_cpu_s={min(load_cpu):.2f} bugs={c.get('bugs', 0)} "
              f"with_fix={c.get('with_fix', 0)} with_stable={c.get('with_stable', 0)} "
              f"with_trace={c.get('with_trace', 0)} targets_met={ok}")
        return 0 if ok else 1
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
