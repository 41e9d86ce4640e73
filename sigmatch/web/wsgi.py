"""The WSGI entry point for gunicorn: ``sigmatch.web.wsgi:app`` (catalog loaded at import)."""

from __future__ import annotations

import logging

from sigmatch.web import create_app, warm_up

app = create_app()
try:
    warm_up(app)
except Exception as exc:  # serve anyway: /readyz reports it and requests retry the load
    logging.getLogger("sigmatch.web").warning("catalog not loaded at start: %s", exc)
