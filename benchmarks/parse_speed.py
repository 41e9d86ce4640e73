"""Parser speed: MB/s on the real corpus (one core, CPU time), CPU ms per log (median/mean/p90) on
crashes-dev (field `log`) and e2e-dev (field `trace`), and worst-case time on 10 MB adversarial logs.

    python3 benchmarks/parse_speed.py [CORPUS]

Per-log figures are for a fresh process reading each corpus once, in order: the parser's per-line
memos are emptied first (rules stay loaded). That pass is made PASSES times and each log keeps its
fastest time, so that another process on the machine does not blur the figures.
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import random
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import sigmatch.trace  # noqa: E402
from sigmatch import parse_log  # noqa: E402
from sigmatch.trace import signature  # noqa: E402

DEFAULT = REPO.parent / "shared" / "corpus" / "crashes-dev.jsonl"
E2E = REPO.parent / "shared" / "corpus" / "e2e-dev.jsonl"


def timed(text: str) -> float:
    """CPU seconds of one parse (process time: the figure for one core, whatever else runs)."""
    t0 = time.process_time()
    parse_log(text)
    return time.process_time() - t0


def clear_memos() -> None:
    """Empty the parser's per-line/per-name memos (functools caches), as in a fresh process: those
    of every module of sigmatch.trace (not its rules: they stay loaded)."""
    for info in pkgutil.iter_modules(sigmatch.trace.__path__):
        if info.ispkg:
            continue
        mod = importlib.import_module(f"sigmatch.trace.{info.name}")
        for value in list(vars(mod).values()):
            if callable(getattr(value, "cache_clear", None)) and getattr(value, "__module__", "") == mod.__name__:
                value.cache_clear()


PASSES = 3


def per_log(path: Path, field: str) -> None:
    """CPU ms per log, median/mean/p90, of parse_log and of parse_log + signature_of."""
    logs = [json.loads(line).get(field) or "" for line in path.open(encoding="utf-8") if line.strip()]
    parse_ms = [float("inf")] * len(logs)
    both_ms = [float("inf")] * len(logs)
    for _ in range(PASSES):
        clear_memos()
        for n, text in enumerate(logs):
            t0 = time.process_time()
            reports = parse_log(text)
            t1 = time.process_time()
            for r in reports:
                signature.signature_of(r)
            t2 = time.process_time()
            parse_ms[n] = min(parse_ms[n], 1000 * (t1 - t0))
            both_ms[n] = min(both_ms[n], 1000 * (t2 - t0))
    for label, ms in (("parse_log", parse_ms), ("parse_log+signature_of", both_ms)):
        ms.sort()
        print(f"{path.name} ({field}): {label:22} median {statistics.median(ms):.3f} mean {statistics.mean(ms):.3f} "
              f"p90 {ms[int(0.9 * len(ms))]:.3f} ms/log ({len(ms)} logs)")


def adversarial(size: int) -> dict[str, str]:
    rnd = random.Random(1)
    alphabet = "BUG: WARNING[<>]()+0x/ ?\n\tabcdef0123456789_.RIP:Call Trace"
    noise = "".join(rnd.choice(alphabet) for _ in range(size))
    header = "BUG: KASAN: use-after-free in f+0x1/0x2\nRead of size 8 at addr ffff\nCall Trace:\n"
    frames = "".join(f" [<ffffffff8100{i % 10000:04x}>] ? func_{i}.isra.0+0x1/0x2 [mod]\n" for i in range(size // 48))
    return {
        "random text": noise,
        "one line, no newline": "A" * size,
        "brackets": ("[" * 4000 + "\n") * (size // 4001),
        "headers only": ("WARNING: CPU: 0 PID: 1 at a.c:1 f+0x1/0x2\n" * (size // 44)),
        "one huge stack": header + frames,
        "binary-ish": "".join(chr(rnd.randrange(1, 0x3000)) for _ in range(size // 3)),
        # Unique lines with a header hint word but no banner: each one defeats the memo.
        "keyword flood": "".join(f"DEBUG BUG x {i}\n" for i in range(size // 19)),
    }


def main() -> int:
    corpus = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    if corpus.exists():
        logs = [json.loads(line).get("log") or "" for line in corpus.open(encoding="utf-8") if line.strip()]
        nbytes = sum(len(x.encode("utf-8", "replace")) for x in logs)
        t = sum(timed(x) for x in logs)
        print(f"corpus: {len(logs)} logs, {nbytes / 1e6:.1f} MB in {t:.2f}s = {nbytes / 1e6 / t:.2f} MB/s, "
              f"{1000 * t / len(logs):.2f} ms/log")
        per_log(corpus, "log")
    if E2E.exists():
        per_log(E2E, "trace")
    worst = 0.0
    for name, text in adversarial(10_000_000).items():
        t = timed(text)
        worst = max(worst, t)
        print(f"adversarial {name:22} {len(text.encode('utf-8')) / 1e6:5.1f} MB  {t:6.2f}s")
    print(f"worst adversarial 10 MB parse: {worst:.2f}s (target < 5 s)")
    huge_log()
    return 0 if worst < 5 else 1


def huge_log() -> None:
    """A dmesg longer than normalize.MAX_LINES with a crash at its very end: found, and how fast."""
    noise = "".join(f"[{i / 1000:12.6f}] usb 1-1: device descriptor read/64, error -71\n" for i in range(600_000))
    crash = (REPO / "tests" / "fixtures" / "logs" / "fsnotify-softlockup-netconsole.log").read_text(encoding="utf-8")
    text = noise + crash
    t0 = time.process_time()
    reports = parse_log(text)
    t = time.process_time() - t0
    title = reports[0].title if reports else "(no report)"
    print(f"huge log, crash at the end: {len(text) / 1e6:.1f} MB, 600k lines, {t:.2f}s -> {title}")


if __name__ == "__main__":
    sys.exit(main())
