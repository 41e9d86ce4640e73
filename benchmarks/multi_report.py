"""Answering every report of a log: how much a log with 20 reports costs next to a log with one.

    python3 benchmarks/multi_report.py [--data-dir DIR] [--repeat N]

Logs (built from ``../shared/corpus/crashes-dev.jsonl`` logs that hold exactly one report each, and
from ``examples/``):

* ``one``: a log with one report (each of the 20 corpus logs on its own; the mean is shown);
* ``20 distinct``: those 20 logs one after the other (20 different crashes in one console);
* ``20 repeats``: one soft lockup printed 20 times, line for line the same;
* ``20 re-reports``: the same lockup as the watchdog re-reports it (every ~20 s: "stuck for 22s!",
  "stuck for 48s!", ...), so the reports' lines differ;
* ``fixture``: ``tests/fixtures/consoles/netdev-watchdog-then-fsnotify-4.14.32.log``.

With ``--e2e``: on ``../shared/corpus/e2e-dev.jsonl`` (scored as ``../shared/eval/e2e.py`` scores the
top-level ``matches``), how often the answer a reply *leads* with (``Answer.lead``: the CLI's, the
page's and the chat's first report) is confident and wrong, and how many later reports are matched
confidently on their own.

For each: CPU ms per ``analyze()`` (parse, match every distinct report, verdicts), and the same
log answered the old way (parse, then match the primary report only), so the cost of answering
every report is visible apart from the cost of parsing a longer log. CPU time
(``time.process_time``), best of ``--repeat`` runs; the machine is shared, wall time is noisier.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sigmatch.answer import analyze  # noqa: E402
from sigmatch.catalog.versions import version_from_log  # noqa: E402
from sigmatch.config import Settings  # noqa: E402
from sigmatch.match.matcher import Matcher  # noqa: E402
from sigmatch.runtime import build_runtime  # noqa: E402
from sigmatch.trace.parse import parse_log  # noqa: E402

CORPUS = REPO.parent / "shared" / "corpus" / "crashes-dev.jsonl"
EXAMPLE = REPO / "examples" / "fsnotify-softlockup-4.14.32.log"
FIXTURE = REPO / "tests" / "fixtures" / "consoles" / "netdev-watchdog-then-fsnotify-4.14.32.log"


def single_report_logs(n: int) -> list[str]:
    """``n`` corpus logs that each hold exactly one crash report, with distinct titles."""
    out: list[str] = []
    titles: set[str] = set()
    if not CORPUS.exists():
        return out
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        log = json.loads(line).get("log")
        if not isinstance(log, str) or len(log) > 20_000:
            continue
        reports = parse_log(log)
        if len(reports) != 1 or reports[0].corrupted or reports[0].title in titles:
            continue
        titles.add(reports[0].title)
        out.append(log)
        if len(out) >= n:
            break
    return out


def cpu_ms(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best * 1000


def primary_only(text: str, matcher: Matcher) -> object:
    """What answering cost before every report was answered: parse, match the first report."""
    reports = parse_log(text)
    if reports:
        return matcher.match(reports[0], kernel=version_from_log(text))
    return None


def e2e_leads(matcher: Matcher) -> None:
    """Confident-wrong of the lead answer vs the top-level one on the dev e2e positives."""
    sys.path.insert(0, str(REPO.parent / "shared" / "eval"))
    from e2e import is_right  # type: ignore[import-not-found]

    path = REPO.parent / "shared" / "corpus" / "e2e-dev.jsonl"
    pos = top_wrong = lead_wrong = later = later_right = 0
    for line in path.read_text(encoding="utf-8").splitlines():
        q = json.loads(line)
        e = q.get("expected")
        if not e or e.get("confidence") == "low":
            continue
        pos += 1
        ans = analyze(q["trace"], matcher)
        if ans.top is not None and ans.confident:
            top_wrong += not is_right(ans.top.to_dict(), e)
        lead = ans.lead
        if lead is not None and lead.top is not None and lead.confident:
            lead_wrong += not is_right(lead.top.to_dict(), e)
        for ra in ans.answers:
            if ra is not ans.primary_answer and ra.top is not None and ra.confident:
                later += 1
                later_right += is_right(ra.top.to_dict(), e)
    print(f"e2e positives {pos}: confident wrong, top-level {100 * top_wrong / pos:.1f}%, "
          f"lead {100 * lead_wrong / pos:.1f}%; later reports matched confidently {later} "
          f"({later_right} name the expected fix)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=None, help="SIGMATCH_DATA_DIR with the imported catalog "
                    "(default: the curated signatures/ only)")
    ap.add_argument("--repeat", type=int, default=7)
    ap.add_argument("--e2e", action="store_true", help="also score the lead answers on e2e-dev.jsonl")
    args = ap.parse_args()
    env = {**os.environ, "SIGMATCH_DATA_DIR": args.data_dir or str(REPO / ".no-such-data-dir")}
    catalog = build_runtime(Settings.from_env(env)).load_catalog()
    matcher = Matcher(catalog)
    print(f"catalog {catalog.version}: {len(catalog)} bugs")

    singles = single_report_logs(20)
    lockup = "\n".join(EXAMPLE.read_text().splitlines()[:24]) + "\n"
    cases: list[tuple[str, list[str]]] = []
    if len(singles) == 20:
        cases.append(("one (mean of 20)", singles))
        cases.append(("20 distinct", ["\n".join(singles)]))
    else:
        print(f"note: {CORPUS} not found or short: the corpus cases are left out")
    cases.append(("one lockup", [lockup]))
    cases.append(("20 repeats", [lockup * 20]))
    cases.append(("20 re-reports", ["".join(lockup.replace("stuck for 22s!", f"stuck for {22 + 26 * k}s!")
                                            for k in range(20))]))
    cases.append(("fixture", [FIXTURE.read_text()]))

    analyze(lockup, matcher)  # warm the parser's memos and the matcher
    results: dict[str, float] = {}
    print(f"{'log':18} {'reports':>7} {'answered':>8} {'lines':>6} {'analyze ms':>11} {'primary-only ms':>16} {'ratio':>6}")
    for name, logs in cases:
        t_all = sum(cpu_ms(lambda t=t: analyze(t, matcher), args.repeat) for t in logs) / len(logs)  # type: ignore[misc]
        t_one = sum(cpu_ms(lambda t=t: primary_only(t, matcher), args.repeat) for t in logs) / len(logs)  # type: ignore[misc]
        ans = analyze(logs[0], matcher)
        lines = sum(t.count("\n") for t in logs) // len(logs)
        results[name] = t_all
        print(f"{name:18} {len(ans.reports):7d} {len(ans.answers):8d} {lines:6d} {t_all:11.2f} {t_one:16.2f} "
              f"{t_all / t_one if t_one else 0:6.2f}")
    if "20 distinct" in results:
        print(f"20 distinct reports vs one: {results['20 distinct'] / results['one (mean of 20)']:.1f}x")
    print(f"20 repeats vs one lockup: {results['20 repeats'] / results['one lockup']:.1f}x; "
          f"20 re-reports: {results['20 re-reports'] / results['one lockup']:.1f}x")
    if args.e2e:
        e2e_leads(matcher)
    return 0


if __name__ == "__main__":
    sys.exit(main())
