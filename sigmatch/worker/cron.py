"""The nightly refresh, registered for ``rq cron`` (the ``Procfile``'s ``scheduler:`` line).

::

    rq cron --url "$REDIS_URL" sigmatch.worker.cron

enqueues :func:`sigmatch.worker.tasks.refresh_job` on the ``sigmatch`` queue at ``SIGMATCH_REFRESH_CRON``
(default ``0 3 * * *``, 03:00 UTC); any ``rq worker`` on that queue runs it. Running two schedulers
is harmless: the second refresh finds the refresh lock held and is refused.
"""

from __future__ import annotations

import os
import time

from croniter import croniter
from rq import cron

from sigmatch.config import Settings
from sigmatch.errors import ConfigError
from sigmatch.runtime.jobs_rq import QUEUE
from sigmatch.worker.tasks import refresh_job

# rq's cron fields follow the process's local time; the setting is documented in UTC, so this
# (dedicated) scheduler process runs on UTC whatever the host's zone is.
os.environ["TZ"] = "UTC"
time.tzset()

SETTINGS = Settings.from_env()
SCHEDULE = SETTINGS.refresh_cron.strip()
if not croniter.is_valid(SCHEDULE):
    raise ConfigError("SIGMATCH_REFRESH_CRON", SCHEDULE, "not a cron expression (minute hour day month weekday)")

cron.register(
    refresh_job,
    queue_name=QUEUE,
    cron=SCHEDULE,
    job_timeout=SETTINGS.job_timeout,
    name="sigmatch-nightly-refresh",
)
