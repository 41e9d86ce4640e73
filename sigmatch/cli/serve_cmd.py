"""``sigmatch serve``: the HTTP API and web page under gunicorn (settings in ``sigmatch.web.gunicorn_conf``).

Embedded default with no setting at all: the catalog from ``signatures/`` plus the local store,
background jobs in-process.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sigmatch.cli.common import runtime_of, settings_of


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "serve", help="run the HTTP API and web page (gunicorn)",
        description="Serve the HTTP API (/api/v1/...), the web page (/), /healthz, /readyz and /metrics.",
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=None, help="port (default $PORT or 8000)")
    p.add_argument("--workers", type=int, default=None, help="worker processes (default $WEB_CONCURRENCY or 2)")
    p.add_argument("--threads", type=int, default=None, help="threads per worker (default $SIGMATCH_WEB_THREADS or 8)")
    p.add_argument("--access-log", action="store_true", help="log every request to stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if args.workers is not None:
        settings = args.settings = settings.with_(web_concurrency=max(1, args.workers))
    from gunicorn.app.base import BaseApplication

    # gunicorn_conf.options sets PROMETHEUS_MULTIPROC_DIR (for prometheus_client, loaded later by
    # create_app()) and returns the settings with it.
    from sigmatch.web import create_app, gunicorn_conf, warm_up

    opts, settings = gunicorn_conf.options(settings)
    args.settings = settings
    port = args.port if args.port is not None else settings.port
    opts["bind"] = f"[{args.host}]:{port}" if ":" in args.host else f"{args.host}:{port}"
    if args.threads is not None:
        opts["threads"] = max(1, args.threads)
    if args.access_log:
        opts["accesslog"] = "-"

    app = create_app(runtime=runtime_of(args))
    try:
        catalog = warm_up(app)
        print(f"sigmatch: catalog {catalog.version}: {len(catalog)} known bugs", file=sys.stderr)
    except Exception as exc:  # serve anyway: /readyz reports it, requests retry the load
        print(f"sigmatch: warning: catalog not loaded: {exc}", file=sys.stderr)

    # SIGMATCH_SERVE_REFRESH=on: the embedded deployment runs its own nightly refresh (a child
    # process, started from gunicorn's master so that there is one schedule, not one per worker).
    from sigmatch.runtime.schedule import RefreshSchedule

    schedule = RefreshSchedule.from_settings(settings)
    if schedule is not None:
        on_exit = opts["on_exit"]

        def start_schedule(server: Any) -> None:
            schedule.start()
            print(f"sigmatch: serve-side refresh scheduled at {schedule.cron!r} (UTC)", file=sys.stderr)

        def stop_schedule(server: Any) -> None:
            schedule.stop()
            on_exit(server)

        opts["when_ready"] = start_schedule
        opts["on_exit"] = stop_schedule

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in opts.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return app

    Server().run()
    return 0
