"""gunicorn settings for sigmatch, shared by ``sigmatch serve`` and the Procfile::

    gunicorn -c python:sigmatch.web.gunicorn_conf sigmatch.web.wsgi:app

Threaded workers (``gthread``): concurrent clients, and a client that connects and sends nothing is
parked by gunicorn's poller instead of holding a thread. ``preload_app`` loads the catalog once in
the master so the workers share it copy-on-write. With several workers, Prometheus counters live in
``PROMETHEUS_MULTIPROC_DIR`` (a temporary directory unless set) so ``/metrics`` adds them all up.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

bind = f"0.0.0.0:{os.environ.get('PORT') or '8000'}"
workers = int(os.environ.get("WEB_CONCURRENCY") or 2)
worker_class = "sigmatch.web.gunicorn_worker.ThreadWorker"  # gthread, with stalled clients cut off
threads = int(os.environ.get("SIGMATCH_WEB_THREADS") or 8)
timeout = 60  # a worker stuck this long is restarted
graceful_timeout = 10
keepalive = 5
preload_app = True
control_socket_disable = True  # several instances on one host must not fight over one socket path
limit_request_line = 8190
limit_request_fields = 100
limit_request_field_size = 8190
errorlog = "-"
loglevel = "info"
proc_name = "sigmatch"

_CREATED_METRICS_DIR: str | None = None
if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _CREATED_METRICS_DIR = tempfile.mkdtemp(prefix="sigmatch-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _CREATED_METRICS_DIR


def child_exit(server: Any, worker: Any) -> None:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def on_exit(server: Any) -> None:
    if _CREATED_METRICS_DIR:
        shutil.rmtree(_CREATED_METRICS_DIR, ignore_errors=True)


def options() -> dict[str, Any]:
    """These settings as a dict (for gunicorn's Python API)."""
    names = ("bind", "workers", "worker_class", "threads", "timeout", "graceful_timeout", "keepalive",
             "preload_app", "control_socket_disable", "limit_request_line", "limit_request_fields",
             "limit_request_field_size", "errorlog", "loglevel", "proc_name", "child_exit", "on_exit")
    g = globals()
    return {n: g[n] for n in names}
