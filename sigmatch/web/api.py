"""The JSON API: ``/api/v1/...`` plus ``/healthz``, ``/readyz`` and ``/metrics``.

Views are thin: read the request, call the core (:func:`sigmatch.runtime.serving.analyze`), render.
"""

from __future__ import annotations

import hmac
import json
import re
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from sigmatch import __version__
from sigmatch.answer import Answer
from sigmatch.answer import analyze as core_analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import Origin
from sigmatch.catalog.versions import parse_kernel_version
from sigmatch.errors import SigmatchError
from sigmatch.refresh import SOURCES as REFRESH_SOURCES
from sigmatch.runtime import Runtime
from sigmatch.runtime.serving import with_upstream
from sigmatch.textio import decode_log
from sigmatch.web.errors import ApiError
from sigmatch.web.present import answer_json, bug_detail, bug_summary, link_fixes, scrub_paths
from sigmatch.web.state import state

bp = Blueprint("api", __name__)

MAX_TOP = 50
MAX_PER_PAGE = 500
DEFAULT_PER_PAGE = 50
ORIGINS = tuple(o.value for o in Origin)
REFRESH_FUNC = "sigmatch.worker.tasks.refresh_job"  # in-process jobs get the app's runtime
_JOB_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
_TEXT_TYPES = ("", "text/plain", "application/octet-stream")


# ---------------------------------------------------------------- helpers shared with pages.py

def int_arg(name: str, default: int, lo: int, hi: int, source: Any = None) -> int:
    raw = (source if source is not None else request.args).get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise ApiError(400, "bad_parameter", f"{name} must be an integer, got {str(raw)[:40]!r}") from None
    if not lo <= value <= hi:
        raise ApiError(400, "bad_parameter", f"{name} must be between {lo} and {hi}, got {value}")
    return value


def str_arg(name: str, max_len: int, choices: tuple[str, ...] | None = None, source: Any = None) -> str:
    args = source if source is not None else request.args
    value = str(args.get(name, "")).strip()
    if len(value) > max_len:
        raise ApiError(400, "bad_parameter", f"{name} is longer than {max_len} characters")
    if name in args and choices is not None and value not in choices:
        raise ApiError(400, "bad_parameter", f"{name} must be one of {', '.join(choices)}")
    return value


def top_arg(source: Any = None) -> int:
    default = max(1, min(MAX_TOP, state().settings.top_k))
    return int_arg("top", default, 1, MAX_TOP, source)


def max_bytes() -> int:
    return state().settings.max_request_bytes


def kernel_arg(source: Any = None) -> str | None:
    """``?kernel=`` (the running kernel, as ``uname -r`` prints it): 400 when it is not a version."""
    value = str_arg("kernel", 200, source=source)
    if not value:
        return None
    if parse_kernel_version(value) is None:
        raise ApiError(400, "bad_parameter", f"kernel {value[:80]!r} is not a kernel version (give what "
                       "`uname -r` prints, e.g. 5.15.0-91-generic or 6.1.31)")
    return value


def answer_log(text: str, top: int, kernel: str | None = None) -> Answer:
    """The catalog answer for a decoded log (422 when it holds no kernel crash report)."""
    answer = core_analyze(text, state().holder.get().matcher, top=top, kernel=kernel)
    if not answer.reports:
        raise ApiError(422, "no_kernel_log",
                       "no kernel crash report found in the input (expected dmesg or console output "
                       "with an oops, BUG, WARNING, lockup, hung task, KASAN report, panic, ...)")
    return answer


def run_match(raw: bytes | str, top: int, kernel: str | None = None) -> Answer:
    """Decode a pasted/uploaded log and answer it, with what upstream says folded in (422 when it
    holds no kernel crash report)."""
    text = decode_log(raw, max_bytes=max_bytes())
    answer = answer_log(text, top, kernel)
    return with_upstream(answer, text, state().runtime, matcher=state().holder.get().matcher, top=top, kernel=kernel)


def _log_from_request() -> bytes | str:
    mimetype = request.mimetype
    if mimetype == "application/json" or mimetype.endswith("+json"):
        raw = request.get_data(cache=False)
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json", "the body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "bad_json", 'the JSON body must be an object: {"trace": "<kernel log>"}')
        trace = doc.get("trace")
        if not isinstance(trace, str):
            raise ApiError(400, "missing_trace", 'the JSON body needs a "trace" string holding the kernel log')
        return trace
    if mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is not None:
            data: bytes = upload.read(max_bytes() + 1)
            return data
        if "trace" in request.form:
            return request.form["trace"]
        raise ApiError(400, "missing_file", 'the multipart body needs a "file" part holding the kernel log')
    if mimetype == "application/x-www-form-urlencoded":
        # An HTML form posts trace=...; `curl -d @console.log` posts the raw log with this type.
        raw = request.get_data(cache=True)
        if raw.startswith(b"trace="):
            return request.form.get("trace", "")
        return raw
    if mimetype in _TEXT_TYPES or mimetype.startswith("text/"):
        return request.get_data(cache=False)
    raise ApiError(415, "unsupported_media_type",
                   f"unsupported Content-Type {mimetype!r}: send text/plain, application/json "
                   '{"trace": ...} or multipart/form-data with a "file" part')


# ---------------------------------------------------------------- match

@bp.post("/api/v1/match")
def match() -> Response:
    top = top_arg()
    kernel = kernel_arg()
    answer = run_match(_log_from_request(), top, kernel)
    body = answer_json(answer)
    state().metrics.observe_match(body)
    return jsonify(body)


# ---------------------------------------------------------------- catalog

def filter_bugs(catalog: Catalog, *, kind: str = "", q: str = "", origin: str = "") -> list[int]:
    """Indexes of the bugs of ``catalog`` that pass the filters, in catalog order."""
    blobs = state().blobs(catalog) if q else ()
    terms = q.lower().split()
    out = []
    for i, bug in enumerate(catalog.bugs):
        if kind and kind not in bug.kinds and not any(s.kind == kind for s in bug.signatures):
            continue
        if origin and bug.origin.value != origin:
            continue
        if terms and not all(t in blobs[i] for t in terms):
            continue
        out.append(i)
    return out


def page_args(source: Any = None) -> tuple[int, int]:
    """``(offset, limit)`` from ``page``/``per_page`` or ``offset``/``limit``."""
    args = source if source is not None else request.args
    page = int_arg("page", 1, 1, 10**7, args)
    per_page = int_arg("per_page", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE, args)
    offset = int_arg("offset", 0, 0, 10**9, args)
    limit = int_arg("limit", DEFAULT_PER_PAGE, 1, MAX_PER_PAGE, args)
    if "offset" in args or "limit" in args:
        return offset, limit
    return (page - 1) * per_page, per_page


@bp.get("/api/v1/bugs")
def bugs() -> Response:
    offset, limit = page_args()
    kind = str_arg("kind", 64)
    origin = str_arg("origin", 32, ORIGINS)
    q = str_arg("q", 200)
    catalog = state().holder.get().catalog
    hits = filter_bugs(catalog, kind=kind, q=q, origin=origin)
    items = [bug_summary(catalog.bugs[i]) for i in hits[offset:offset + limit]]
    return jsonify({"total": len(hits), "offset": offset, "limit": limit, "items": items,
                    "catalog_version": catalog.version})


@bp.get("/api/v1/bugs/<bug_id>")
def bug(bug_id: str) -> Response:
    found = state().holder.get().catalog.get(bug_id)
    if found is None:
        raise ApiError(404, "bug_not_found", f"no known bug with id {bug_id[:100]!r}")
    return jsonify(bug_detail(found))


# ---------------------------------------------------------------- jobs and admin

@bp.get("/api/v1/jobs/<job_id>")
def job(job_id: str) -> Response:
    if not _JOB_ID.match(job_id):
        raise ApiError(404, "job_not_found", "no such job")
    info = state().jobs.get(job_id).to_dict()
    update = info.get("result")
    if isinstance(update, dict) and isinstance(update.get("answer"), dict):  # a finished upstream lookup
        link_fixes(update["answer"].get("matches") or [])
        for ra in update["answer"].get("answers") or []:
            if isinstance(ra, dict):
                link_fixes(ra.get("matches") or [])
    return jsonify(info)


def require_admin() -> None:
    token = state().settings.admin_token
    if not token:
        raise ApiError(403, "admin_disabled", "admin endpoints are disabled (SIGMATCH_ADMIN_TOKEN is not set)")
    auth = request.headers.get("Authorization", "")
    scheme, _, given = auth.partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        raise ApiError(401, "unauthorized", "this endpoint needs 'Authorization: Bearer <SIGMATCH_ADMIN_TOKEN>'",
                       headers={"WWW-Authenticate": 'Bearer realm="sigmatch"'})
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise ApiError(403, "forbidden", "wrong admin token")


@bp.post("/api/v1/refresh")
def refresh() -> tuple[Response, int, dict[str, str]]:
    require_admin()
    options: dict[str, Any] = {}
    raw = request.get_data(cache=False)
    if raw.strip():
        try:
            doc = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApiError(400, "bad_json", "the body is not valid JSON") from None
        if not isinstance(doc, dict):
            raise ApiError(400, "bad_json", "the JSON body must be an object")
        sources = doc.get("sources", doc.get("source"))
        if isinstance(sources, str):
            sources = [sources]
        if sources is not None:
            if not isinstance(sources, list) or not all(isinstance(s, str) and s for s in sources):
                raise ApiError(400, "bad_parameter", "sources must be a list of source names")
            options["sources"] = sources[:10]
    st = state()
    unknown = [s for s in options.get("sources", ()) if s not in REFRESH_SOURCES]
    if unknown:
        raise ApiError(400, "bad_parameter",
                       f"unknown refresh source {unknown[0][:40]!r} (known: {', '.join(REFRESH_SOURCES)})")
    job_id = st.jobs.enqueue(REFRESH_FUNC, **options)
    where = url_for("api.job", job_id=job_id)
    return jsonify({"job_id": job_id, "status": "queued", "url": where}), 202, {"Location": where}


# ---------------------------------------------------------------- operations

@bp.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok", "version": __version__})


@bp.get("/readyz")
def readyz() -> tuple[Response, int]:
    st = state()
    holder = st.holder
    loaded = holder.peek()  # no reload from here: the catalog watch swaps in new snapshots
    if loaded is None and holder.loading:
        return jsonify({"status": "loading", "degraded": [], "catalog": None}), 503
    if loaded is None:
        try:
            loaded = holder.get()
        except Exception:
            return jsonify({"status": "unavailable",
                            "degraded": [scrub_paths(f"catalog failed to load: {holder.error}", st.settings)],
                            "catalog": None}), 503
    catalog = loaded.catalog
    degraded: list[str] = []
    stats = catalog.stats()
    if stats["imported"] == 0:
        degraded.append("catalog holds curated entries only (no imported snapshot yet: run `sigmatch refresh`)")
    redis_state = st.runtime.redis_health()  # None without REDIS_URL; a PING with short timeouts
    if redis_state is not None and not redis_state["ok"]:
        degraded.append(f"{redis_state['detail']}; answering from the catalog snapshot in memory")
    degraded += [str(note) for note in catalog.meta.get("degraded") or ()]
    refreshed = refresh_state(st.runtime) if redis_state is None or redis_state["ok"] else None
    if refreshed and refreshed["failing"]:
        degraded.append(f"the last refresh failed: {str(refreshed['last_error'])[:300]}")
    return jsonify({
        "status": "degraded" if degraded else "ready",
        "degraded": [scrub_paths(d, st.settings) for d in degraded],
        "catalog": {"version": catalog.version, **stats, "loaded_at": loaded.loaded_at,
                    "snapshot": loaded.probe_version},
        "refresh": refreshed,
        "jobs": st.jobs.backend,
        "version": __version__,
    }), 200


@bp.get("/metrics")
def metrics() -> Response:
    st = state()
    loaded = st.holder.peek()
    if loaded is not None:
        st.metrics.catalog_bugs.set(len(loaded.catalog))
    redis_state = st.runtime.redis_health()
    refreshed = refresh_state(st.runtime) if redis_state is None or redis_state["ok"] else None
    if refreshed is not None:
        success = refreshed["last_success"]
        st.metrics.refresh_success.set(_unix(success) if success else 0)
        st.metrics.refresh_failing.set(1 if refreshed["failing"] else 0)
    return st.metrics.render()


def refresh_state(runtime: Runtime) -> dict[str, Any] | None:
    """When the catalog was last refreshed and whether the last attempt failed (from the store's
    meta); None when the store cannot be read."""
    try:
        meta = runtime.store.read_meta()
    except (SigmatchError, OSError):
        return None
    error = meta.last_error or None  # "<when it started>: <why>"; a successful refresh clears it
    if error:
        error = scrub_paths(error, runtime.settings)
    return {"last_success": meta.last_success, "last_attempt": meta.last_attempt, "last_error": error,
            "failing": bool(error), "snapshot": meta.version or None}


def _unix(iso: str) -> float:
    import datetime as dt

    try:
        return dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0
