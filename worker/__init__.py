"""The worker's entry points in the checkout, for Procfile-style process managers.

The code lives in the package, :mod:`sigmatch.worker` (``tasks``: the RQ job functions; ``cron``:
the nightly schedule for ``rq cron``; ``rq_worker``: the worker class), so an installed wheel has it
too. These modules only re-export it, so that ``rq worker --worker-class worker.rq_worker.Worker``
and ``rq cron worker.cron`` keep working from a checkout; they are not installed (pyproject.toml
packages only ``sigmatch*``).
"""
