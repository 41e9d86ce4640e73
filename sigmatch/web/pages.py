"""The web page: paste or upload a log and read the answer; browse the known-bugs catalog.

Server-rendered with Jinja (autoescaping on: logs and upstream titles are untrusted), no
JavaScript needed. The views call the same helpers as the API.

A pasted log that holds a crash is kept under the SHA-256 of the submission
(:mod:`sigmatch.runtime.share`) and the browser is sent to ``/r/<key>``: that address is the answer's
shareable link (reloading it re-answers the log against the current catalog, it does not post
the log again). When the log cannot be kept the answer is shown at once, without a link.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, url_for

from sigmatch import config
from sigmatch.answer import Answer
from sigmatch.errors import SigmatchError
from sigmatch.runtime import share
from sigmatch.runtime.serving import with_upstream
from sigmatch.textio import decode_log, human_bytes
from sigmatch.web.api import (
    DEFAULT_PER_PAGE,
    answer_log,
    filter_bugs,
    kernel_arg,
    max_bytes,
    page_args,
    str_arg,
    top_arg,
)
from sigmatch.web.errors import ApiError, to_api_error
from sigmatch.web.present import answer_json, bug_detail, bug_summary, page_answers
from sigmatch.web.state import state

log = logging.getLogger("sigmatch.web")
bp = Blueprint("pages", __name__)

EXAMPLE_LOG = config.REPO_DIR / "examples" / "fsnotify-softlockup-4.14.32.log"


@bp.app_context_processor
def _page_facts() -> dict[str, Any]:
    """What every page's paste form says: the size limit in units, the example to try."""
    try:
        limit = human_bytes(max_bytes())
    except Exception:  # an error page must render even when the app state is not there
        limit = "the server's limit"
    return {"max_log": limit, "share_days": share.TTL // 86400,
            "example_url": url_for("pages.example") if EXAMPLE_LOG.is_file() else None}


def _shares() -> share.ShareStore:
    return state().runtime.shares


def _render_answer(answer: Answer, text: str, *, top: int, kernel: str | None, permalink: str | None,
                   share_note: str | None = None, shared: bool = False) -> Response:
    st = state()
    answer = with_upstream(answer, text, st.runtime, matcher=st.holder.get().matcher, top=top, kernel=kernel)
    body = answer_json(answer)
    st.metrics.observe_match(body)
    html = render_template("index.html", answer=body, answers=page_answers(answer, body), error=None,
                           trace=text, top=top, kernel=kernel, permalink=permalink, share_note=share_note,
                           shared=shared)
    resp = Response(html, 200, mimetype="text/html")
    if shared:
        resp.headers["Cache-Control"] = "private, no-store"
        resp.headers["Referrer-Policy"] = "no-referrer"
        resp.headers["X-Robots-Tag"] = "noindex, nofollow"
    return resp


def _form_error(exc: Exception, *, trace: str, top: int, kernel: str | None) -> tuple[str, int]:
    err = to_api_error(exc)
    return render_template("index.html", answer=None, answers=[], trace=trace, top=top, kernel=kernel,
                           error={"status": err.status, "code": err.code, "message": err.message,
                                  "kept": bool(trace) or err.status != 413}), err.status


@bp.get("/")
def index() -> str:
    return render_template("index.html", answer=None, answers=[], error=None, trace="", top=top_arg(),
                           kernel="")


@bp.get("/example")
def example() -> Response | tuple[str, int]:
    """The answer for the example log in ``examples/`` (its own shareable link)."""
    top = top_arg()
    try:
        text = EXAMPLE_LOG.read_text(encoding="utf-8")
        answer = answer_log(text, top)
    except (OSError, ApiError) as exc:
        raise ApiError(404, "not_found", "the example log is not installed on this server") from exc
    return _render_answer(answer, text, top=top, kernel=None, permalink=request.url_root.rstrip("/")
                          + url_for("pages.example"))


@bp.post("/")
def submit() -> Response | tuple[str, int]:
    raw: bytes | str = request.form.get("trace", "")
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data = upload.read(max_bytes() + 1)
        if data:
            raw = data
    shown = raw if isinstance(raw, str) else ""
    top = top_arg()
    kernel = str(request.form.get("kernel", "")).strip()[:200] or None
    try:
        top = top_arg(request.form)
        kernel = kernel_arg(request.form)
        text = decode_log(raw, max_bytes=max_bytes())
        shown = text if len(shown) <= max_bytes() else ""
        answer = answer_log(text, top, kernel)
    except (ApiError, SigmatchError) as exc:  # a clear error, on the page, with the form and the text kept
        return _form_error(exc, trace=shown if len(shown) <= max_bytes() else "", top=top, kernel=kernel)
    key = share.share_key(text, top=top, kernel=kernel)
    try:
        _shares().put(key, share.pack(text, top=top, kernel=kernel))
    except Exception as exc:  # no link, but still the answer
        log.warning("could not keep a shared log: %s", exc)
        return _render_answer(answer, text, top=top, kernel=kernel, permalink=None,
                              share_note="No shareable link: this server could not keep the log just now.")
    return redirect(url_for("pages.shared", key=key), code=303)  # type: ignore[return-value]


@bp.get("/r/<key>")
def shared(key: str) -> Response | tuple[str, int]:
    """A shareable link: the kept log, answered again against the catalog served now."""
    data = None
    if share.KEY_RE.match(key):
        try:
            data = _shares().get(key)
        except Exception as exc:
            log.warning("could not read a shared log: %s", exc)
            raise ApiError(503, "unavailable", "shared answers cannot be read just now; try again later") from exc
    doc = share.unpack(data) if data is not None else None
    if doc is None:
        raise ApiError(404, "not_found", f"this link has expired or never existed (links keep a log for "
                       f"{share.TTL // 86400} days): paste the log again")
    top = doc["top"] if isinstance(doc["top"], int) and 1 <= doc["top"] <= 50 else top_arg()
    answer = answer_log(doc["log"], top, doc["kernel"])
    return _render_answer(answer, doc["log"], top=top, kernel=doc["kernel"],
                          permalink=request.url_root.rstrip("/") + url_for("pages.shared", key=key), shared=True)


@bp.get("/bugs")
def bugs() -> str:
    offset, limit = page_args()
    kind = str_arg("kind", 64)
    q = str_arg("q", 200)
    catalog = state().holder.get().catalog
    hits = filter_bugs(catalog, kind=kind, q=q)
    items = [bug_summary(catalog.bugs[i]) for i in hits[offset:offset + limit]]
    kinds = sorted({k for b in catalog.bugs for k in b.kinds})
    page = offset // limit + 1
    nav: dict[str, Any] = {
        "page": page,
        "pages": max(1, -(-len(hits) // limit)),
        "per_page": limit,
        "prev": page - 1 if page > 1 else None,
        "next": page + 1 if offset + limit < len(hits) else None,
    }
    return render_template("bugs.html", items=items, total=len(hits), kind=kind, q=q, kinds=kinds, nav=nav,
                           catalog_version=catalog.version, default_per_page=DEFAULT_PER_PAGE)


@bp.get("/bugs/<bug_id>")
def bug(bug_id: str) -> str:
    found = state().holder.get().catalog.get(bug_id)
    if found is None:
        raise ApiError(404, "bug_not_found", f"no known bug with id {bug_id[:100]!r}")
    return render_template("bug.html", bug=bug_detail(found))
