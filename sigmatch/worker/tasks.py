"""The jobs an RQ worker runs: plain module-level functions with JSON-able arguments and results.

::

    refresh_job(sources=None, full=False)   the refresh (sigmatch.refresh.refresh), report as JSON
    lookup_job(text, budget=30.0)           upstream lookup for a pasted log, result as JSON
    chat_reply_job(job)                     one chat reply (sigmatch.runtime.chat.delivery.reply_job)

Settings come from the worker's environment (``REDIS_URL``, ``SIGMATCH_*``), like any process of
the deployment. Each function is a thin caller of the core: no logic lives here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

log = logging.getLogger("sigmatch.worker")


class _ProgressLog:
    """Refresh progress to the worker's log: a line per step and every ``every`` seconds."""

    def __init__(self, every: float = 10.0) -> None:
        self.every = every
        self.last = 0.0
        self.step = ""

    def __call__(self, step: str, done: int, total: int) -> None:
        now = time.monotonic()
        if step != self.step or (total and done >= total) or now - self.last >= self.every:
            log.info("refresh: %s %d/%d", step, done, total)
            self.step, self.last = step, now


def refresh_job(sources: Iterable[str] | None = None, full: bool = False, **_ignored: Any) -> dict[str, Any]:
    """Run the refresh; the served snapshot changes only if it completes.

    Raises (so RQ marks the job failed and retries it later) when the CVE repository cannot be
    reached, the store cannot be written, or another refresh holds the lock.
    """
    from sigmatch.refresh import SOURCES, refresh

    wanted = tuple(sources) if sources else SOURCES
    report = refresh(wanted, progress=_ProgressLog(), full=bool(full))
    log.info("refresh done: snapshot %s (was %s), +%d ~%d -%d, %d skipped, %.1fs",
             report.snapshot_version, report.previous_version, len(report.added), len(report.changed),
             len(report.removed), len(report.skipped), report.seconds)
    return report.to_dict(ids_limit=50)


def lookup_job(text: str, budget: float = 30.0, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ask upstream about the primary crash in ``text``; the answer also lands in the shared cache.

    ``settings`` overrides upstream settings (base URLs, timeouts) for this job only.
    """
    from sigmatch import parse_log
    from sigmatch.upstream.lookup import lookup

    reports = parse_log(text)
    if not reports:
        return {"notes": ["no crash report found in the text"]}
    result = lookup(reports[0], budget=float(budget), text=text, settings=dict(settings or {}))
    out: dict[str, Any] = result.to_dict()
    return out


def chat_reply_job(job: Mapping[str, Any]) -> dict[str, Any]:
    """One chat reply, run by a worker (the chat code's own job function)."""
    from sigmatch.runtime.chat.delivery import reply_job

    return reply_job(job)
