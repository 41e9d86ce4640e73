"""Background jobs: one small interface, a thread-backed implementation for the embedded default.

::

    jobs = ThreadJobs()
    job_id = jobs.enqueue("sigmatch.worker.tasks.refresh_job", sources=["cve"])
    jobs.get(job_id).status          # queued | started | finished | failed

A job is named by the dotted path of a plain function (``"package.module.function"``), so that a
queue that runs it in another process (RQ, added behind the same :class:`Jobs` interface) can
import it there. Keyword arguments must be JSON-able for the same reason.

:func:`jobs_for` picks the backend from the settings: an RQ/Redis one when ``REDIS_URL`` is set and
``sigmatch.runtime.jobs_rq`` is there, the thread-backed one otherwise.
"""

from __future__ import annotations

import contextlib
import importlib
import inspect
import json
import logging
import os
import re
import threading
import time
import traceback
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sigmatch.errors import JobError

log = logging.getLogger("sigmatch.runtime.jobs")
_SAFE_ID = re.compile(r"^[0-9a-f]{32}$")


class JobStatus(StrEnum):
    QUEUED = "queued"
    STARTED = "started"
    FINISHED = "finished"
    FAILED = "failed"


@dataclass(frozen=True, slots=True)
class JobInfo:
    """What a client polling ``GET /api/v1/jobs/<id>`` sees."""

    id: str
    func: str
    status: JobStatus
    enqueued_at: float
    started_at: float | None = None
    ended_at: float | None = None
    result: Any = None  # JSON-able summary the function returned (str() of it otherwise)
    error: str | None = None  # one line: exception type and message
    kwargs: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "func": self.func,
            "status": self.status.value,
            "enqueued_at": self.enqueued_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "result": self.result,
            "error": self.error,
        }


class Jobs(Protocol):
    """A queue of background work. Implementations: :class:`ThreadJobs`; an RQ one (``REDIS_URL``)."""

    backend: str

    def enqueue(self, func: str, /, **kwargs: Any) -> str:
        """Queue ``func(**kwargs)``; return the job id at once."""
        ...

    def get(self, job_id: str) -> JobInfo:
        """The job's state; :class:`JobError` when the id is unknown."""
        ...


def resolve(func: str) -> Callable[..., Any]:
    """``"pkg.mod.fn"`` or ``"pkg.mod:fn"`` -> the function (``JobError`` when it is not there)."""
    modname, sep, attr = func.partition(":") if ":" in func else func.rpartition(".")
    if not sep or not modname or not attr:
        raise JobError(f"not a dotted function path: {func!r}", job_id="")
    try:
        fn = getattr(importlib.import_module(modname), attr)
    except (ImportError, AttributeError) as exc:
        raise JobError(f"job function {func!r} is not available: {exc}", job_id="") from exc
    if not callable(fn):
        raise JobError(f"job function {func!r} is not callable", job_id="")
    return fn  # type: ignore[no-any-return]


def _takes_runtime(fn: Callable[..., Any]) -> bool:
    try:
        return "runtime" in inspect.signature(fn).parameters
    except (TypeError, ValueError):  # a builtin without a signature
        return False


def _jsonable(value: Any, depth: int = 0) -> Any:
    """A JSON-able rendering of a job's return value (dataclasses via ``to_dict()``)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth > 24:  # deep enough for an answer (answers > matches > fixes), bounded for odd objects
        return str(value)
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return _jsonable(to_dict(), depth + 1)
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v, depth + 1) for v in value]
    return str(value)


class ThreadJobs:
    """Jobs run by a small thread pool in this process; the last ``keep`` jobs are remembered.

    With ``state_dir``, each job's state is also written there (one small JSON file per job), so
    that every gunicorn worker on the machine can answer ``GET /api/v1/jobs/<id>``, not only the
    one that ran it. ``on_done`` callbacks run (in the job's thread) after each job ends, finished
    or failed; the web app uses one to reload the catalog after a refresh.
    """

    backend = "thread"

    def __init__(self, *, workers: int = 1, keep: int = 1000, state_dir: str | os.PathLike[str] | None = None,
                 runtime: Any = None) -> None:
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sigmatch-job")
        self._lock = threading.Lock()
        self._jobs: OrderedDict[str, JobInfo] = OrderedDict()
        self._keep = keep
        self._dir = Path(state_dir) if state_dir is not None else None
        self.on_done: list[Callable[[JobInfo], None]] = []
        self.runtime = runtime  # handed to job functions that take a `runtime` parameter

    def _save(self, info: JobInfo) -> None:
        if self._dir is None:
            return
        try:
            self._dir.mkdir(parents=True, exist_ok=True)
            tmp = self._dir / f".{info.id}.{os.getpid()}.tmp"
            tmp.write_text(json.dumps(info.to_dict()))
            os.replace(tmp, self._dir / f"{info.id}.json")
        except (OSError, TypeError, ValueError) as exc:
            log.warning("cannot record job %s in %s: %s", info.id, self._dir, exc)

    def _load(self, job_id: str) -> JobInfo | None:
        if self._dir is None or not _SAFE_ID.match(job_id):
            return None
        try:
            d = json.loads((self._dir / f"{job_id}.json").read_text())
            return JobInfo(id=str(d["id"]), func=str(d["func"]), status=JobStatus(d["status"]),
                           enqueued_at=float(d["enqueued_at"]), started_at=d.get("started_at"),
                           ended_at=d.get("ended_at"), result=d.get("result"), error=d.get("error"))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def _prune_files(self) -> None:
        if self._dir is None:
            return
        try:
            files = sorted(self._dir.glob("*.json"), key=lambda p: p.stat().st_mtime)
            for p in files[: max(0, len(files) - self._keep)]:
                p.unlink(missing_ok=True)
        except OSError:
            pass

    def enqueue(self, func: str, /, **kwargs: Any) -> str:
        job_id = uuid.uuid4().hex
        info = JobInfo(id=job_id, func=func, status=JobStatus.QUEUED, enqueued_at=time.time(), kwargs=dict(kwargs))
        with self._lock:
            self._jobs[job_id] = info
            while len(self._jobs) > self._keep:
                self._jobs.popitem(last=False)
        self._save(info)
        self._prune_files()
        self._pool.submit(self._run, job_id)
        return job_id

    def _update(self, job_id: str, **changes: Any) -> JobInfo | None:
        with self._lock:
            old = self._jobs.get(job_id)
            if old is None:
                return None
            new = replace(old, **changes)
            self._jobs[job_id] = new
        self._save(new)
        return new

    def _run(self, job_id: str) -> None:
        info = self._update(job_id, status=JobStatus.STARTED, started_at=time.time())
        if info is None:
            return
        try:
            fn = resolve(info.func)
            extra = {"runtime": self.runtime} if self.runtime is not None and _takes_runtime(fn) else {}
            result = fn(**info.kwargs, **extra)
            done = self._update(job_id, status=JobStatus.FINISHED, ended_at=time.time(), result=_jsonable(result))
        except BaseException as exc:  # a job must never take the pool down
            last = traceback.format_exception_only(type(exc), exc)[-1].strip()
            done = self._update(job_id, status=JobStatus.FAILED, ended_at=time.time(), error=last[:1000])
        for callback in list(self.on_done):
            if done is not None:
                with contextlib.suppress(Exception):  # a callback failing must not fail the job
                    callback(done)

    def get(self, job_id: str) -> JobInfo:
        with self._lock:
            info = self._jobs.get(job_id)
        if info is None:
            info = self._load(job_id)  # run by another worker process on this machine
        if info is None:
            raise JobError(f"no such job: {job_id}", job_id=job_id)
        return info

    def wait(self, job_id: str, timeout: float = 30.0) -> JobInfo:
        """Block until the job ends or ``timeout`` passes (for the CLI and tests)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.get(job_id)
            if info.status in (JobStatus.FINISHED, JobStatus.FAILED) or time.monotonic() > deadline:
                return info
            time.sleep(0.02)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
