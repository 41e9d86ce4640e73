"""The RQ worker class of the ``Procfile``: rq's forking worker, with the catalog loaded before each fork.

A chat reply needs the catalog and its matcher, which take seconds to build for ~15,000 known bugs.
rq runs every job in a freshly forked work horse, so a catalog loaded there is thrown away with it.
This worker loads the catalog in the parent process instead, before it forks a horse for a chat job,
and again only when the store's current snapshot has changed; every horse then starts with it in
memory (copy-on-write). Loading happens between jobs, on the worker's main thread: no thread is
running when rq forks.

::

    rq worker --url "$REDIS_URL" --worker-class sigmatch.worker.rq_worker.Worker sigmatch
"""

from __future__ import annotations

import logging
from typing import Any

from rq import Worker as _RQWorker

from sigmatch.runtime import Runtime
from sigmatch.runtime.serving import holder_for
from sigmatch.worker import tasks

log = logging.getLogger("sigmatch.worker")

# Jobs that answer from the catalog in the work horse (the chat reply).
NEEDS_CATALOG = frozenset({"sigmatch.worker.tasks.chat_reply_job"})


def warm(runtime: Runtime | None = None) -> str | None:
    """Load the catalog the chat jobs answer from into this process, or reload it when the store's
    snapshot changed; returns the snapshot version in memory (``None`` when there is none)."""
    rt = runtime or tasks.process_runtime()
    loaded = tasks.catalog_holder(rt).peek()
    if loaded is not None:
        try:
            version = rt.current_version()
        except Exception as exc:  # store unreachable: keep answering from what is loaded
            log.warning("snapshot probe failed, keeping the loaded catalog: %s", exc)
            return loaded.probe_version
        if version == loaded.probe_version:
            return version
    # No background reloads in this process (check_every=inf): the next warm() decides, before a fork.
    fresh = holder_for(rt, check_every=float("inf"))
    current = fresh.get()
    tasks.set_catalog_holder(fresh)
    log.info("catalog loaded for chat jobs: %s (%d bugs)", current.catalog.version, len(current.catalog))
    return current.probe_version


class Worker(_RQWorker):
    """``rq.Worker`` that warms the catalog before forking the horse of a job that needs it."""

    def execute_job(self, job: Any, queue: Any) -> Any:
        if job.func_name in NEEDS_CATALOG:
            try:
                warm()
            except Exception as exc:  # the horse loads it itself then
                log.warning("could not load the catalog before the fork: %s", exc)
        return super().execute_job(job, queue)
