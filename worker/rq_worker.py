"""Re-exports :mod:`sigmatch.worker.rq_worker` (see :mod:`worker`)."""

from sigmatch.worker.rq_worker import *  # noqa: F403
