"""The web page: paste or upload a log and read the answer; browse the known-bugs catalog.

Server-rendered with Jinja (autoescaping on: logs and upstream titles are untrusted), no
JavaScript needed. The views call the same helpers as the API.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from sigmatch.web.api import DEFAULT_PER_PAGE, filter_bugs, page_args, run_match, str_arg, top_arg
from sigmatch.web.errors import ApiError
from sigmatch.web.present import answer_json, bug_detail, bug_summary
from sigmatch.web.state import state

bp = Blueprint("pages", __name__)


@bp.get("/")
def index() -> str:
    return render_template("index.html", answer=None, error=None, trace="", top=top_arg())


@bp.post("/")
def submit() -> tuple[str, int]:
    trace: bytes | str = request.form.get("trace", "")
    upload = request.files.get("file")
    if upload is not None and upload.filename:
        data = upload.read(state().settings.max_request_bytes + 1)
        if data:
            trace = data
    shown = trace if isinstance(trace, str) else ""
    top = top_arg()
    try:
        top = top_arg(request.form)
        answer = run_match(trace, top)
    except ApiError as exc:
        return render_template("index.html", answer=None, trace=shown, top=top,
                               error={"status": exc.status, "code": exc.code, "message": exc.message}), exc.status
    body = answer_json(answer)
    state().metrics.observe_match(body)
    return render_template("index.html", answer=body, error=None, trace=shown, top=top), 200


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
