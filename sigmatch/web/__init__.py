"""The Flask service: JSON API, web page, health and metrics.

::

    app = create_app()                                        # Settings.from_env(), build_runtime(settings)
    app = create_app(Settings.from_env().with_(top_k=3))      # ... other settings
    app = create_app(runtime=build_runtime(settings, jobs=...))   # ... a runtime with some parts replaced
    app = create_app(settings, catalog=Catalog.of([...]))     # ... serving a given catalog (tests)

``catalog`` (a :class:`~sigmatch.catalog.catalog.Catalog` or a function returning one) replaces
the runtime's catalog; ``flask_config`` goes to Flask's config (``TESTING``, ...).
The app decides nothing about Redis: its store, jobs, cache and chat parts are the runtime's.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Mapping
from typing import Any

from flask import Flask

from sigmatch.catalog.catalog import Catalog
from sigmatch.config import Settings
from sigmatch.runtime import Runtime, build_runtime
from sigmatch.runtime.jobs import ThreadJobs
from sigmatch.runtime.serving import CatalogHolder, holder_for, serve_catalog
from sigmatch.web import api, chat, errors, openapi, pages
from sigmatch.web.metrics import Metrics, install
from sigmatch.web.state import AppState, state

__all__ = ["create_app", "start_background", "warm_up"]


class ChunkedBodyLimit:
    """WSGI middleware: a chunked body (no Content-Length) is read here, up to the limit plus one byte.

    Werkzeug caps such a stream at the limit but silently truncates it; reading it first and
    handing Flask a body of known length makes the over-limit case a 413 like any other.
    """

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if not environ.get("CONTENT_LENGTH") and "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            raw = environ["wsgi.input"]
            parts: list[bytes] = []
            size = 0
            while size <= self.limit:
                chunk = raw.read(min(65536, self.limit + 1 - size))
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
            environ["sigmatch.raw_input"] = raw  # what is left of it is drained on a 413
            environ["wsgi.input"] = io.BytesIO(b"".join(parts))
            environ["CONTENT_LENGTH"] = str(size)
            del environ["HTTP_TRANSFER_ENCODING"]  # werkzeug ignores CONTENT_LENGTH while it says chunked
        return self.app(environ, start_response)


def create_app(
    settings: Settings | None = None,
    *,
    runtime: Runtime | None = None,
    catalog: Catalog | Callable[[], Catalog] | None = None,
    flask_config: Mapping[str, Any] | None = None,
) -> Flask:
    if runtime is None:
        runtime = build_runtime(settings if settings is not None else Settings.from_env())
    settings = runtime.settings

    app = Flask(__name__)
    limit = settings.max_request_bytes
    app.config.update(
        MAX_CONTENT_LENGTH=limit,  # werkzeug answers 413 above it (chunked bodies: ChunkedBodyLimit)
        MAX_FORM_MEMORY_SIZE=limit,  # a pasted log in the page's form field may be that large too
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(flask_config or {})

    if isinstance(catalog, Catalog):
        fixed = catalog
        holder = CatalogHolder(lambda: fixed)
    elif callable(catalog):
        holder = CatalogHolder(catalog)
    else:
        holder = holder_for(runtime)
    serve_catalog(runtime, holder)  # in-process jobs (the background upstream lookup) answer from it
    jobs = runtime.jobs
    if isinstance(jobs, ThreadJobs):
        # A refresh run in this process writes a new snapshot: serve it as soon as it is there.
        jobs.on_done.append(lambda info: holder.invalidate() if "refresh" in info.func else None)

    metrics = Metrics(multiprocess=bool(settings.prometheus_multiproc_dir))
    app.extensions["sigmatch"] = AppState(settings=settings, runtime=runtime, holder=holder, metrics=metrics)
    install(app, metrics)
    errors.register(app)
    app.register_blueprint(api.bp)
    app.register_blueprint(openapi.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(chat.bp)  # /slack/*, /mattermost/* (sigmatch.web.chat)
    app.wsgi_app = ChunkedBodyLimit(app.wsgi_app, limit)  # type: ignore[method-assign]
    return app


def warm_up(app: Flask) -> Catalog:
    """Load the catalog and build the matcher now (``sigmatch serve`` does it before forking workers)."""
    with app.app_context():
        return state().holder.get().catalog


def start_background(app: Flask) -> bool:
    """Start this process's background work: the catalog watch that swaps in a new snapshot every
    ``SIGMATCH_SNAPSHOT_CHECK`` seconds even when no request arrives. Called in every gunicorn
    worker after the fork (threads do not survive a fork); True when a watch runs."""
    with app.app_context():
        return state().holder.watch()
