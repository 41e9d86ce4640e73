"""The RQ backend of :class:`sigmatch.runtime.jobs.Jobs`: jobs in Redis, run by ``rq worker`` processes.

::

    jobs = RQJobs(url, timeout=3600, retries=2)      # built by sigmatch.runtime.build_runtime
    job_id = jobs.enqueue("sigmatch.worker.tasks.refresh_job", sources=["cve"])
    jobs.get(job_id).status                          # queued | started | finished | failed

Jobs go to the queue :data:`QUEUE` (the ``Procfile``'s ``worker:`` line listens to it). A job is
the dotted path of a plain function plus JSON-able keyword arguments, so any worker on any host
with sigmatch installed can run it (the deployment's own jobs are in :mod:`sigmatch.worker.tasks`).

Each job may take ``SIGMATCH_JOB_TIMEOUT`` seconds and is retried ``SIGMATCH_JOB_RETRIES`` times
after a failure (RQ's own ``Retry``; the worker needs ``--with-scheduler`` for the delayed retries).
RQ's own states map onto ours: ``scheduled``/``deferred`` (waiting for a retry) are ``queued``,
``stopped``/``canceled`` are ``failed``.
"""

from __future__ import annotations

import datetime as _dt
import uuid
from typing import Any

import redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.job import JobStatus as RQStatus

from sigmatch.errors import JobError, QueueUnavailableError
from sigmatch.runtime.jobs import JobInfo, JobStatus, _jsonable
from sigmatch.runtime.redisio import client_for

QUEUE = "sigmatch"
RETRY_INTERVALS = (30, 300)  # seconds before the first and the later retries
RESULT_TTL = 7 * 24 * 3600  # how long a finished job's result can still be polled

_STATUS = {
    RQStatus.QUEUED: JobStatus.QUEUED,
    RQStatus.SCHEDULED: JobStatus.QUEUED,
    RQStatus.DEFERRED: JobStatus.QUEUED,
    RQStatus.CREATED: JobStatus.QUEUED,
    RQStatus.STARTED: JobStatus.STARTED,
    RQStatus.FINISHED: JobStatus.FINISHED,
    RQStatus.FAILED: JobStatus.FAILED,
    RQStatus.STOPPED: JobStatus.FAILED,
    RQStatus.CANCELED: JobStatus.FAILED,
}
_ERRORS = (redis.RedisError, OSError)


def _ts(value: _dt.datetime | None) -> float | None:
    if value is None:
        return None
    if value.tzinfo is None:  # RQ stores naive UTC datetimes
        value = value.replace(tzinfo=_dt.UTC)
    return value.timestamp()


class RQJobs:
    """Jobs in the Redis at ``REDIS_URL``, on the RQ queue :data:`QUEUE`."""

    backend = "rq"

    def __init__(self, url: str, *, timeout: int = 3600, retries: int = 2, queue: str = QUEUE) -> None:
        self.url = url
        if not self.url:
            raise JobError("RQ jobs need REDIS_URL", job_id="")
        self.timeout = timeout  # SIGMATCH_JOB_TIMEOUT
        self.retries = retries  # SIGMATCH_JOB_RETRIES
        # RQ pickles job data with its own connection; decode_responses must stay off.
        self.queue = Queue(queue, connection=client_for(self.url))

    def enqueue(self, func: str, /, **kwargs: Any) -> str:
        job_id = uuid.uuid4().hex
        retry = Retry(max=self.retries, interval=list(RETRY_INTERVALS)) if self.retries > 0 else None
        try:
            self.queue.enqueue(func, kwargs=kwargs, job_id=job_id, job_timeout=self.timeout,
                               result_ttl=RESULT_TTL, failure_ttl=RESULT_TTL, retry=retry,
                               description=f"{func}({', '.join(sorted(kwargs))})")
        except _ERRORS as exc:
            raise QueueUnavailableError(f"cannot enqueue {func}: job queue unreachable ({type(exc).__name__})",
                                        job_id=job_id) from exc
        return job_id

    def get(self, job_id: str) -> JobInfo:
        try:
            job = Job.fetch(job_id, connection=self.queue.connection)
            status = job.get_status(refresh=False)
        except NoSuchJobError as exc:
            raise JobError(f"no such job: {job_id}", job_id=job_id) from exc
        except _ERRORS as exc:
            raise QueueUnavailableError(f"job queue unreachable ({type(exc).__name__})", job_id=job_id) from exc
        mapped = _STATUS.get(status, JobStatus.QUEUED) if status is not None else JobStatus.QUEUED
        result: Any = None
        error: str | None = None
        try:
            if mapped is JobStatus.FINISHED:
                result = _jsonable(job.return_value(refresh=False))
            else:
                latest = job.latest_result()
                text = (latest.exc_string if latest is not None else None) or ""
                lines = [ln for ln in text.strip().splitlines() if ln.strip()]
                if mapped is JobStatus.FAILED:
                    error = (lines[-1] if lines else f"job {status.value if status else 'failed'}")[:1000]
                elif lines:  # failed before, waiting for (or in) a retry
                    error = f"retrying after: {lines[-1]}"[:1000]
                elif job.retries_left is not None and job.retries_left < self.retries:
                    # RQ keeps no result for an attempt it retries: say so without the reason.
                    error = f"retrying: an attempt failed ({job.retries_left} retries left; see the worker's log)"
        except _ERRORS as exc:
            raise QueueUnavailableError(f"job queue unreachable ({type(exc).__name__})", job_id=job_id) from exc
        except Exception as exc:  # a result pickled by another version of the code
            error = error or f"result unreadable: {type(exc).__name__}"
        return JobInfo(
            id=job_id,
            func=str(job.description or job.func_name).split("(", 1)[0],
            status=mapped,
            enqueued_at=_ts(job.enqueued_at) or _ts(job.created_at) or 0.0,
            started_at=_ts(job.started_at),
            ended_at=_ts(job.ended_at),
            result=result,
            error=error,
            kwargs=dict(job.kwargs or {}),
        )
