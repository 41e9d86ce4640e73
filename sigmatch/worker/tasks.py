"""The jobs a worker runs: plain module-level functions with JSON-able arguments and results.

::

    refresh_job(sources=None, full=False)   the refresh (sigmatch.refresh.refresh), report as JSON
    lookup_job(text, budget=30.0, ...)      upstream lookup for a pasted log, result as JSON; with
                                            report_index, the answer made again with its evidence
    chat_reply_job(job)                     one chat reply (sigmatch.runtime.chat.delivery.run_reply)

In an RQ worker the settings come from the worker's environment (``REDIS_URL``, ``SIGMATCH_*``), like
any process of the deployment: :func:`process_runtime` builds the runtime once per process. Run
in-process (:class:`~sigmatch.runtime.jobs.ThreadJobs`), a job is handed the runtime of the app that
queued it (``runtime=``). Each function is a thin caller of the core: no logic lives here.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sigmatch.answer import Answer
from sigmatch.config import Settings
from sigmatch.match.evidence import UpstreamEvidence
from sigmatch.refresh import SOURCES, refresh
from sigmatch.runtime import Runtime, build_runtime
from sigmatch.runtime.chat.delivery import ReplyJob, run_reply
from sigmatch.runtime.serving import CatalogHolder, analyze, answer_update, holder_for, served_catalog
from sigmatch.trace.parse import parse_log
from sigmatch.upstream.evidence import evidence_from
from sigmatch.upstream.lookup import lookup

log = logging.getLogger("sigmatch.worker")

_lock = threading.Lock()
_runtime: Runtime | None = None
_holder: CatalogHolder | None = None  # the catalog chat jobs answer from (see rq_worker.warm)


def process_runtime() -> Runtime:
    """This worker process's runtime, built once from its environment."""
    global _runtime
    with _lock:
        if _runtime is None:
            _runtime = build_runtime(Settings.from_env())
        return _runtime


def reset() -> None:
    """Forget this process's runtime and catalog (the next job builds them from the environment
    again): for tests that run jobs in-process with another environment each."""
    global _runtime, _holder
    with _lock:
        _runtime, _holder = None, None


def catalog_holder(runtime: Runtime) -> CatalogHolder:
    """The catalog chat jobs answer from in this process; no background reloads (the worker's
    parent decides before each fork, :func:`sigmatch.worker.rq_worker.warm`)."""
    global _holder
    with _lock:
        if _holder is None:
            _holder = holder_for(runtime, check_every=float("inf"))
        return _holder


def set_catalog_holder(holder: CatalogHolder) -> None:
    global _holder
    with _lock:
        _holder = holder


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


def refresh_job(sources: Iterable[str] | None = None, full: bool = False, runtime: Runtime | None = None,
                **_ignored: Any) -> dict[str, Any]:
    """Run the refresh; the served snapshot changes only if it completes.

    Raises (so RQ marks the job failed and retries it later) when the CVE repository cannot be
    reached, the store cannot be written, or another refresh holds the lock.
    """
    wanted = tuple(sources) if sources else SOURCES
    rt = runtime or process_runtime()
    report = refresh(wanted, runtime=rt, progress=_ProgressLog(), full=bool(full))
    if rt.backend == "embedded":  # this machine's CLI reads the same data directory: its next
        try:                      # `sigmatch match` finds the index prebuilt (runtime/prebuilt.py)
            rt.prebuild_index()
        except Exception as exc:  # the refresh is done; `match` builds the index itself without it
            log.warning("the index was not prebuilt after the refresh: %s", exc)
    log.info("refresh done: snapshot %s (was %s), +%d ~%d -%d, %d skipped, %.1fs",
             report.snapshot_version, report.previous_version, len(report.added), len(report.changed),
             len(report.removed), len(report.skipped), report.seconds)
    return report.to_dict(ids_limit=50)


def lookup_job(text: str, budget: float = 30.0, settings: Mapping[str, str] | None = None,
               runtime: Runtime | None = None, report_index: int | None = None,
               fix_commits: Iterable[str] = (), top: int | None = None, kernel: str | None = None,
               rescore: bool = False, was: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Ask upstream about a crash in ``text`` (report ``report_index``, default the first); the
    answers also land in the shared cache.

    ``settings`` (environment names, as :meth:`Settings.to_env` gives them) override upstream
    settings (base URLs, timeouts) for this job only. With ``rescore`` the log is answered again
    with the complete upstream evidence, from the catalog this process serves (``top``, ``kernel``:
    the request's); the result then carries ``answer`` and ``changed`` (against ``was``, the first
    answer's top) beside the lookup (:func:`sigmatch.runtime.serving.answer_update`).
    """
    rt = runtime or process_runtime()
    reports = parse_log(text)
    if not reports:
        return {"notes": ["no crash report found in the text"]}
    index = report_index if report_index is not None and 0 <= report_index < len(reports) else 0
    s = Settings.from_env({**rt.settings.to_env(), **dict(settings or {})}) if settings else rt.settings
    result = lookup(reports[index], budget=float(budget), text=text, settings=s, client=rt.upstream_client(),
                    fix_commits=fix_commits)
    out: dict[str, Any] = result.to_dict()
    if rescore:
        holder = served_catalog(rt) or catalog_holder(rt)
        answer = analyze(text, holder.get(), top=top or rt.settings.top_k, kernel=kernel,
                         evidence=evidence_from(result, report_index=index, text=text))
        out.update(answer_update(answer, dict(was) if was is not None else None))
    return out


def chat_reply_job(job: Mapping[str, Any], runtime: Runtime | None = None) -> dict[str, Any]:
    """One chat reply: analyze the log with this process's catalog and post the reply."""
    rt = runtime or process_runtime()
    holder = catalog_holder(rt)
    top = rt.settings.top_k
    def answer(text: str, evidence: UpstreamEvidence | None = None) -> Answer:
        return analyze(text, holder.get(), top=top, evidence=evidence)

    outcome = run_reply(ReplyJob.from_dict(job), answer, rt.delivery)
    return outcome.to_dict()
