"""gunicorn settings for sigmatch, shared by ``sigmatch serve`` and the Procfile::

    gunicorn -c python:sigmatch.web.gunicorn_conf sigmatch.web.wsgi:app

Threaded workers (``gthread``): concurrent clients, and a client that connects and sends nothing is
parked by gunicorn's poller instead of holding a thread. ``preload_app`` loads the catalog once in
the master so the workers share it copy-on-write. With several workers, Prometheus counters live in
``PROMETHEUS_MULTIPROC_DIR`` (a temporary directory unless set) so ``/metrics`` adds them all up.
Each worker starts its catalog watch after the fork (``post_worker_init``): a new snapshot is
served within ``SIGMATCH_SNAPSHOT_CHECK`` seconds even by a worker that gets no request.
``PORT``, ``WEB_CONCURRENCY`` and ``SIGMATCH_WEB_THREADS`` are settings (:mod:`sigmatch.config`).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from typing import Any

from sigmatch.config import Settings

_SETTINGS = Settings.from_env()
bind = f"0.0.0.0:{_SETTINGS.port}"
workers = _SETTINGS.web_concurrency
worker_class = "sigmatch.web.gunicorn_worker.ThreadWorker"  # gthread, with stalled clients cut off
threads = _SETTINGS.web_threads
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
_METRICS_DIR = ""  # the PROMETHEUS_MULTIPROC_DIR in force


def metrics_dir(settings: Settings) -> Settings:
    """The settings with a ``PROMETHEUS_MULTIPROC_DIR`` when there are several workers: the one set,
    else a temporary directory (removed at exit). prometheus_client reads the variable from the
    environment when it is first imported, so it is exported there too."""
    global _CREATED_METRICS_DIR, _METRICS_DIR
    if settings.web_concurrency > 1 and not settings.prometheus_multiproc_dir:
        if _CREATED_METRICS_DIR is None:
            _CREATED_METRICS_DIR = tempfile.mkdtemp(prefix="sigmatch-metrics-")
        settings = settings.with_(prometheus_multiproc_dir=_CREATED_METRICS_DIR)
    _METRICS_DIR = settings.prometheus_multiproc_dir
    if _METRICS_DIR:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = _METRICS_DIR  # prometheus_client reads it, not us
    return settings


_SETTINGS = metrics_dir(_SETTINGS)


def child_exit(server: Any, worker: Any) -> None:
    if _METRICS_DIR:
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_worker_init(worker: Any) -> None:
    from sigmatch.web import start_background

    start_background(worker.wsgi)


def on_exit(server: Any) -> None:
    if _CREATED_METRICS_DIR:
        shutil.rmtree(_CREATED_METRICS_DIR, ignore_errors=True)


def options(settings: Settings) -> tuple[dict[str, Any], Settings]:
    """These gunicorn settings for ``settings`` (for gunicorn's Python API), and the settings with
    the Prometheus directory in force."""
    settings = metrics_dir(settings)
    names = ("worker_class", "timeout", "graceful_timeout", "keepalive",
             "preload_app", "control_socket_disable", "limit_request_line", "limit_request_fields",
             "limit_request_field_size", "errorlog", "loglevel", "proc_name", "child_exit", "post_worker_init",
             "on_exit")
    g = globals()
    opts = {n: g[n] for n in names}
    opts.update(bind=f"0.0.0.0:{settings.port}", workers=settings.web_concurrency, threads=settings.web_threads)
    return opts, settings
