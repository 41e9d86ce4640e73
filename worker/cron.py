"""Re-exports :mod:`sigmatch.worker.cron` (see :mod:`worker`)."""

from sigmatch.worker.cron import *  # noqa: F403
