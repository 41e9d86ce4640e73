"""One error shape for the whole HTTP surface, and the one handler that produces it.

Every error a client can get looks like::

    {"error": {"status": 422, "code": "no_kernel_log", "message": "no kernel crash report found in the log"}}

Views raise :class:`ApiError` (or let a :class:`~sigmatch.errors.SigmatchError` or a werkzeug
``HTTPException`` through); :func:`register` installs the single handler that turns any of them, and
any unexpected exception, into that shape. Unexpected exceptions become a 500 whose body names no
internals (the traceback goes to the log only). Browsers asking for HTML on a page route get the
same fields rendered in a page.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Flask, Response, current_app, has_app_context, jsonify, render_template, request
from werkzeug.exceptions import ClientDisconnected, HTTPException

from sigmatch.errors import CatalogError, InputError, JobError, QueueUnavailableError, SigmatchError
from sigmatch.textio import human_bytes
from sigmatch.web.present import scrub_paths

log = logging.getLogger("sigmatch.web")


class ApiError(Exception):
    """An error the API answers with on purpose: status, a stable machine code, a sentence."""

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}


# werkzeug's HTTP errors -> stable codes
_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "unprocessable",
    429: "too_many_requests",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}

# InputError.reason -> (status, code)
_INPUT_REASONS = {
    "too_large": (413, "too_large"),
    "empty": (422, "empty_log"),
    "binary": (422, "binary_input"),
    "no_report": (422, "no_kernel_log"),
}


def to_api_error(exc: BaseException) -> ApiError:
    """Map any exception to the :class:`ApiError` the client sees."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, ClientDisconnected):  # werkzeug's wrapper around a failed body read
        if isinstance(exc.__context__, TimeoutError):
            return ApiError(408, "request_timeout", "the client stopped sending the request body")
        return ApiError(400, "client_disconnected", "the client went away while sending the request")
    if isinstance(exc, HTTPException):
        status = exc.code or 500
        message = exc.description or exc.name
        if status == 413:
            message = _too_large_message()
        headers = {}
        if status == 405:
            allowed = [h for h in exc.get_headers() if h[0].lower() == "allow"]
            headers = dict(allowed)
        return ApiError(status, _HTTP_CODES.get(status, "http_error"), str(message), headers=headers)
    if isinstance(exc, TimeoutError):  # the client stalled while sending (SIGMATCH_CLIENT_TIMEOUT)
        return ApiError(408, "request_timeout", "the client stopped sending the request body")
    if isinstance(exc, ConnectionError):
        return ApiError(400, "client_disconnected", "the client went away while sending the request")
    if isinstance(exc, InputError):
        status, code = _INPUT_REASONS.get(exc.reason, (422, exc.reason or "invalid_input"))
        return ApiError(status, code, str(exc))
    if isinstance(exc, QueueUnavailableError):
        return ApiError(503, "queue_unavailable", f"the job queue cannot be reached right now: {exc}")
    if isinstance(exc, JobError):
        return ApiError(404, "job_not_found", str(exc))
    if isinstance(exc, CatalogError):  # the reason, but never a server file path
        reason = scrub_paths(str(exc), _settings())
        return ApiError(503, "catalog_unavailable", f"the known-bugs catalog is not available: {reason}")
    if isinstance(exc, SigmatchError):
        return ApiError(500, "internal_error", "sigmatch could not answer this request")
    return ApiError(500, "internal_error", "internal error; it has been logged")


def _settings() -> Any:
    """The app's settings when there is an app (to name the data directory in a scrubbed path)."""
    app_state = current_app.extensions.get("sigmatch") if has_app_context() else None
    return getattr(app_state, "settings", None)


def _too_large_message() -> str:
    """The 413 sentence, with the limit in units ("2 MiB"), not the setting's name."""
    limit = current_app.config.get("MAX_CONTENT_LENGTH") if has_app_context() else None
    if not isinstance(limit, int):
        return "the request body is larger than this server accepts"
    return (f"the request body is larger than {human_bytes(limit)}, the most this server accepts: send the "
            "crash report itself, from its first line to the end of its call trace")


def error_body(err: ApiError) -> dict[str, Any]:
    return {"error": {"status": err.status, "code": err.code, "message": err.message}}


def _wants_html() -> bool:
    """Page routes asked for by a browser get an HTML page; everything else gets JSON."""
    path = request.path
    if path.startswith(("/api/", "/healthz", "/readyz", "/metrics", "/slack", "/mattermost")):
        return False
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return best == "text/html" and request.accept_mimetypes["text/html"] > request.accept_mimetypes["application/json"]


DRAIN_LIMIT = 32 << 20  # bytes of an oversized body read and dropped so the client sees the 413
DRAIN_SECONDS = 5.0


def _drain_body() -> None:
    """Read and drop what is left of an oversized body (bounded in bytes and time).

    A server that answers 413 and closes while the client is still sending makes the client see a
    connection reset instead of the answer; reading the rest first avoids that.
    """
    stream = request.environ.get("sigmatch.raw_input") or request.environ.get("wsgi.input")
    if stream is None:
        return
    length = request.content_length
    if length is not None and length > DRAIN_LIMIT:
        return
    deadline = time.monotonic() + DRAIN_SECONDS
    left = DRAIN_LIMIT
    try:
        while left > 0 and time.monotonic() < deadline:
            chunk = stream.read(min(65536, left))
            if not chunk:
                break
            left -= len(chunk)
    except Exception:  # the client went away: nothing to drain
        return


def handle(exc: BaseException) -> tuple[Response | str, int, dict[str, str]]:
    """The one handler."""
    err = to_api_error(exc)
    if err.status == 413:
        _drain_body()
    if err.status in (408, 413) or err.code == "client_disconnected":
        err.headers.setdefault("Connection", "close")
    if err.status >= 500:
        log.error("%s %s -> %s", request.method, request.path, err.status, exc_info=exc)
    if _wants_html():
        try:
            page = render_template("error.html", error=error_body(err)["error"])
            return page, err.status, err.headers
        except Exception:  # fall back to JSON if the page itself cannot render
            log.exception("error page failed to render")
    return jsonify(error_body(err)), err.status, err.headers


def register(app: Flask) -> None:
    app.register_error_handler(ApiError, handle)
    app.register_error_handler(HTTPException, handle)
    app.register_error_handler(Exception, handle)
