"""What a serving process (a web worker, an RQ worker answering chat jobs) calls: the catalog it
serves, its matcher, the core ``analyze`` call and the upstream enrichment of an answer.

Upstream evidence and the answer a client polls (:func:`with_upstream`): the answer waits at most
``SIGMATCH_UPSTREAM_BUDGET`` for lore, bugzilla and syzbot, and is then made again with what arrived
(:mod:`sigmatch.match.evidence`: a bug or report naming the top candidate's fix may make it
confident; sources still pending count for nothing yet, and the answer's notes say so). When some
are pending, a background job (``upstream.job_id``, ``GET /api/v1/jobs/<id>``) finishes the lookup
and makes the answer once more with all of it: the finished job's ``result.answer`` is the whole
answer as ``POST /api/v1/match`` returns it (without ``reports``), ``result.changed`` says whether
its top match or its confidence moved, and ``result`` holds the complete upstream lookup. The job's
answers also land in the upstream cache, so posting the same log again (or opening its shared
link) gets the complete answer at once.

The catalog is loaded lazily, once, under a lock (``sigmatch serve`` loads it before gunicorn forks
its workers so they share the memory). :meth:`CatalogHolder.maybe_reload` picks up a new snapshot
written by a refresh (this process's or another's, through the store) without blocking requests:
the old catalog keeps answering until the new one is ready. :meth:`CatalogHolder.watch` does the
same from a background thread every ``check_every`` seconds, so a process that gets no request
still serves (and ``/readyz`` shows) the new snapshot within ``SIGMATCH_SNAPSHOT_CHECK`` seconds.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sigmatch.answer import Answer, lookup_target
from sigmatch.answer import analyze as core_analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.errors import CatalogError, SigmatchError
from sigmatch.match.evidence import UpstreamEvidence
from sigmatch.match.matcher import Matcher
from sigmatch.runtime import Runtime

log = logging.getLogger("sigmatch.web")

CatalogLoader = Callable[[], Catalog]
VersionProbe = Callable[[], str | None]


def holder_for(runtime: Runtime, *, check_every: float | None = None) -> CatalogHolder:
    """The runtime's catalog (curated ``signatures/`` plus the store's current snapshot), reloaded
    when the store's current snapshot changes (checked every ``SIGMATCH_SNAPSHOT_CHECK`` seconds)."""
    every = runtime.settings.snapshot_check if check_every is None else check_every
    return CatalogHolder(runtime.load_catalog, runtime.current_version, check_every=every)


@dataclass(slots=True)
class Loaded:
    catalog: Catalog
    matcher: Matcher
    loaded_at: float
    probe_version: str | None = None


@dataclass
class CatalogHolder:
    """The catalog (and matcher) one process serves; thread-safe, reloadable."""

    loader: CatalogLoader
    probe: VersionProbe | None = None
    check_every: float = 5.0  # seconds between two store-version probes
    _current: Loaded | None = None
    _error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reloading: bool = False
    _last_check: float = 0.0
    _watcher: tuple[int, threading.Thread] | None = None  # (pid, thread): a forked child starts its own
    _stop: threading.Event = field(default_factory=threading.Event)

    def _build(self) -> Loaded:
        probe_version = self._probe()
        catalog = self.loader()
        matcher = Matcher(catalog)
        return Loaded(catalog, matcher, time.time(), probe_version)

    def _probe(self) -> str | None:
        if self.probe is None:
            return None
        try:
            return self.probe()
        except Exception as exc:  # a store hiccup must not break answering
            log.warning("catalog version probe failed: %s", exc)
            return None

    def get(self) -> Loaded:
        """The loaded catalog, loading it first if needed (raises :class:`CatalogError`)."""
        current = self._current
        if current is not None:
            self.maybe_reload()
            return current
        with self._lock:
            if self._current is None:
                try:
                    self._current = self._build()
                    self._error = None
                except SigmatchError as exc:
                    self._error = str(exc)
                    raise CatalogError(str(exc)) from exc
                except Exception as exc:
                    self._error = f"{type(exc).__name__}: {exc}"
                    log.exception("catalog failed to load")
                    raise CatalogError(self._error) from exc
            return self._current

    def peek(self) -> Loaded | None:
        return self._current

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def loading(self) -> bool:
        return self._lock.locked()

    def invalidate(self) -> None:
        """Reload in the background now (after a refresh in this process)."""
        self._last_check = 0.0
        self._start_reload(force=True)

    def maybe_reload(self) -> None:
        if self.probe is None or self._current is None:
            return
        now = time.monotonic()
        if now - self._last_check < self.check_every:
            return
        self._last_check = now
        version = self._probe()
        if version is not None and version != self._current.probe_version:
            self._start_reload(force=False)

    def watch(self) -> bool:
        """Check the store every ``check_every`` seconds from a daemon thread of this process, and
        swap in a new snapshot when there is one, whether or not requests arrive. Started once per
        process (call it again after a fork: gunicorn's ``post_worker_init`` does); False when there
        is nothing to watch (no probe, or ``check_every`` is not a finite positive number)."""
        if self.probe is None or not 0 < self.check_every < float("inf"):
            return False
        current = self._watcher
        if current is not None and current[0] == os.getpid() and current[1].is_alive():
            return True
        self._stop = threading.Event()
        thread = threading.Thread(target=self._watch, args=(self._stop,), name="sigmatch-catalog-watch", daemon=True)
        self._watcher = (os.getpid(), thread)
        thread.start()
        return True

    def stop_watching(self) -> None:
        self._stop.set()

    def _watch(self, stop: threading.Event) -> None:
        while not stop.wait(self.check_every):
            try:
                if self._current is None:
                    continue  # not loaded yet: the first request (or warm_up) loads it
                self.maybe_reload()
            except Exception as exc:  # never let the watcher die
                log.warning("catalog watch failed: %s", exc)

    def _start_reload(self, *, force: bool) -> None:
        with self._lock:
            if self._reloading:
                return
            self._reloading = True
        threading.Thread(target=self._reload, name="sigmatch-catalog-reload", daemon=True).start()

    def _reload(self) -> None:
        try:
            new = self._build()
            self._current = new
            self._error = None
            log.info("catalog reloaded: %s (%d bugs)", new.catalog.version, len(new.catalog))
        except Exception as exc:  # keep serving the last good catalog
            log.warning("catalog reload failed, keeping the current one: %s", exc)
        finally:
            self._reloading = False


def analyze(text: str, loaded: Loaded, *, top: int, kernel: str | None = None,
            evidence: UpstreamEvidence | None = None) -> Answer:
    """The core call, against the catalog this process serves."""
    return core_analyze(text, loaded.matcher, top=top, kernel=kernel, evidence=evidence)


# The catalog each runtime's process serves (a web app registers its own), so that a background
# job run in that process answers from it instead of loading a second copy.
_SERVED: weakref.WeakKeyDictionary[Runtime, CatalogHolder] = weakref.WeakKeyDictionary()


def serve_catalog(runtime: Runtime, holder: CatalogHolder) -> None:
    """Record ``holder`` as the catalog that in-process jobs of ``runtime`` answer from."""
    _SERVED[runtime] = holder


def served_catalog(runtime: Runtime) -> CatalogHolder | None:
    return _SERVED.get(runtime)


# Settings a background upstream job needs; only these travel with the job (no secrets).
UPSTREAM_JOB_SETTINGS = ("lore_url", "bugzilla_url", "syzbot_url", "stable_url", "http_timeout", "rate_limit",
                         "cache_ttl", "upstream_max_bytes")
UPSTREAM_JOB = "sigmatch.worker.tasks.lookup_job"
BACKGROUND_BUDGET = 30.0  # seconds the background job gives upstream to finish


def answer_update(answer: Answer, was: dict[str, Any] | None = None) -> dict[str, Any]:
    """What a finished background lookup hands the client: the answer made again with the complete
    upstream evidence (``Answer.to_dict()`` without ``reports``), and whether its top match or its
    confidence moved from ``was`` (``{"bug_id", "confident"}`` of the answer first returned)."""
    d = answer.to_dict()
    d.pop("reports", None)
    top = answer.top
    now = {"bug_id": top.bug.id if top is not None else None, "confident": answer.confident}
    return {"answer": d, "changed": was is not None and now != {k: was.get(k) for k in now}, "top": now}


def with_upstream(answer: Answer, text: str, runtime: Runtime, *, matcher: Matcher | None = None,
                  top: int = 5, kernel: str | None = None, background: bool = True) -> Answer:
    """The answer with what upstream says within ``SIGMATCH_UPSTREAM_BUDGET``, made again with that
    evidence when ``matcher`` is given (``top``/``kernel``: the request's, as for the first answer).

    The catalog answer never waits longer than the budget: sources still working then are listed
    in ``pending`` and, with ``background``, a job (``job_id``, pollable at ``/api/v1/jobs/<id>``)
    finishes the lookup and answers again with all of it (see the module docstring).
    """
    if not answer.reports:
        return answer
    settings = runtime.settings
    if not settings.upstream_lookup:
        return replace(answer, upstream={"enabled": False,
                                         "notes": ["upstream lookup is off (SIGMATCH_UPSTREAM_LOOKUP=off)"]})
    from sigmatch.upstream.evidence import evidence_from  # adapter code, loaded only when asked for
    from sigmatch.upstream.lookup import start_lookup

    index, fixes = lookup_target(answer)
    report = next((r for i, r in enumerate(answer.reports) if i == index), answer.reports[0])
    try:
        job = start_lookup(report, settings=settings, text=text, fix_commits=fixes, client=runtime.upstream_client())
        job.wait(job.budget)
        result = job.result()
    except Exception as exc:  # upstream trouble never costs the operator the catalog answer
        log.exception("upstream lookup failed")
        return replace(answer, upstream={"enabled": True, "complete": False,
                                         "notes": [f"upstream lookup failed: {type(exc).__name__}; "
                                                   "the answer is the catalog's alone"]})
    was = {"bug_id": answer.top.bug.id if answer.top is not None else None, "confident": answer.confident}
    if matcher is not None:
        try:
            answer = core_analyze(text, matcher, top=top, kernel=kernel,
                                  evidence=evidence_from(result, report_index=index, text=text))
        except Exception:  # the evidence must not cost the answer either
            log.exception("answering with upstream evidence failed; the catalog answer stands")
    up: dict[str, Any] = {"enabled": True, **result.to_dict()}
    if result.pending and background:
        try:
            job_id = runtime.jobs.enqueue(UPSTREAM_JOB, text=text, budget=BACKGROUND_BUDGET,
                                          settings=settings.to_env(*UPSTREAM_JOB_SETTINGS), report_index=index,
                                          fix_commits=fixes, top=top, kernel=kernel,
                                          rescore=matcher is not None, was=was)
            up["job_id"] = job_id
            up["job_url"] = f"/api/v1/jobs/{job_id}"
        except Exception as exc:
            up["notes"] = [*up.get("notes", ()), f"could not queue the rest of the lookup: {type(exc).__name__}"]
    return replace(answer, upstream=up)
