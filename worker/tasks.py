"""Re-exports :mod:`sigmatch.worker.tasks` (see :mod:`worker`)."""

from sigmatch.worker.tasks import *  # noqa: F403
