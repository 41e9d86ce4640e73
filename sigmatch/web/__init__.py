"""The Flask service: JSON API, web page, health and metrics.

::

    app = create_app()                                   # settings from SIGMATCH_* environment variables
    app = create_app({"SIGMATCH_TOP_K": 3})              # ... with overrides
    app = create_app({"CATALOG": Catalog.of([...])})     # ... serving a given catalog (tests)

``config`` keys that are sigmatch settings (see :mod:`sigmatch.config`) override the environment;
``CATALOG`` (a :class:`~sigmatch.catalog.catalog.Catalog` or a function returning one) and
``JOBS`` (a :class:`~sigmatch.runtime.jobs.Jobs`) replace the defaults; any other key goes to Flask's config.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

from flask import Flask

from sigmatch import config as sigconfig
from sigmatch.catalog.catalog import Catalog
from sigmatch.runtime.jobs import Jobs, ThreadJobs, jobs_for
from sigmatch.runtime.serving import CatalogHolder, default_loader, default_probe
from sigmatch.web import api, chat, errors, openapi, pages
from sigmatch.web.metrics import Metrics, install
from sigmatch.web.state import AppState, state

__all__ = ["create_app", "warm_up"]

_SETTING_NAMES = {s.name for s in sigconfig.SETTINGS}


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


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    config = dict(config or {})
    overrides = {k: config.pop(k) for k in list(config) if k in _SETTING_NAMES}
    settings = sigconfig.load(**overrides)
    catalog = config.pop("CATALOG", None)
    jobs: Jobs | None = config.pop("JOBS", None)

    app = Flask(__name__)
    limit = int(settings["SIGMATCH_MAX_REQUEST_BYTES"])
    app.config.update(
        MAX_CONTENT_LENGTH=limit,  # werkzeug answers 413 above it (chunked bodies: ChunkedBodyLimit)
        MAX_FORM_MEMORY_SIZE=limit,  # a pasted log in the page's form field may be that large too
    )
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.config.update(config)

    if isinstance(catalog, Catalog):
        fixed = catalog
        holder = CatalogHolder(lambda: fixed)
    elif callable(catalog):
        holder = CatalogHolder(catalog)
    else:
        holder = CatalogHolder(default_loader(settings), default_probe(settings),
                               check_every=float(settings.get("SIGMATCH_SNAPSHOT_CHECK", 5.0)))
    if jobs is None:
        jobs = jobs_for(settings)
    if isinstance(jobs, ThreadJobs):
        # A refresh run in this process writes a new snapshot: serve it as soon as it is there.
        jobs.on_done.append(lambda info: holder.invalidate() if info.func.endswith("refresh") else None)

    metrics = Metrics()
    app.extensions["sigmatch"] = AppState(settings=settings, holder=holder, jobs=jobs, metrics=metrics)
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
