"""The OpenAPI 3.1 document served at ``GET /api/v1/openapi.json``: every endpoint, every response.

Written by hand, next to the views it describes; ``tests/test_web_schema.py`` drives a fuzzer
(schemathesis) with it, so a view that drifts from it fails the suite.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify

from sigmatch import __version__
from sigmatch.catalog.model import Origin

bp = Blueprint("openapi", __name__)

_NULLABLE_STR: dict[str, Any] = {"type": ["string", "null"]}


def _err(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _json(ref: str, description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{ref}"}}}}


_PAGING = [
    {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 10**7},
     "description": "Page number, from 1 (with per_page)."},
    {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "offset", "in": "query", "schema": {"type": "integer", "minimum": 0, "maximum": 10**9},
     "description": "Alternative to page: items to skip (with limit)."},
    {"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1, "maximum": 500}},
    {"name": "kind", "in": "query", "schema": {"type": "string", "maxLength": 64},
     "description": "Crash kind, e.g. soft_lockup, kasan, null_deref."},
    {"name": "origin", "in": "query", "schema": {"type": "string", "enum": [o.value for o in Origin]}},
    {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
     "description": "Words that must all appear (id, title, CVE, commit, function names)."},
]

_COMMON_ERRORS = {"404": _err("Not found."), "405": _err("Method not allowed."), "500": _err("Internal error.")}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {
            "type": "object",
            "required": ["status", "code", "message"],
            "properties": {
                "status": {"type": "integer", "minimum": 400, "maximum": 599},
                "code": {"type": "string", "description": "Stable machine-readable code, e.g. no_kernel_log."},
                "message": {"type": "string", "description": "One sentence for a person."},
            },
        }},
    },
    "Fix": {
        "type": "object",
        "required": ["sha"],
        "properties": {
            "sha": {"type": "string"}, "short": {"type": "string"}, "subject": {"type": "string"},
            "mainline": _NULLABLE_STR, "verified": {"type": "boolean"},
            "url": {"type": ["string", "null"], "description": "https://git.kernel.org/linus/<sha>"},
        },
    },
    "Verdict": {
        "type": ["object", "null"],
        "properties": {
            "status": {"type": "string", "enum": ["affected", "fixed", "not_affected", "unknown"]},
            "running": _NULLABLE_STR, "branch": _NULLABLE_STR, "first_fixed": _NULLABLE_STR,
            "fixed_branch": _NULLABLE_STR,
            "install": {"type": ["string", "null"], "description": (
                "The release to install: set only when the running kernel lacks the fix (affected). "
                "A kernel that carries it (fixed) is never told to install one; first_fixed then says since when.")},
            "reason": {"type": "string"}, "caveat": _NULLABLE_STR,
            "vendor": {"type": ["string", "null"], "description": "The distribution, for a distribution kernel."},
            "base": {"type": ["string", "null"], "description": (
                "The upstream release a distribution kernel is based on (6.1.76; 4.18 when its numbering "
                "hides the stable sublevel).")},
            "base_status": {"type": ["string", "null"], "enum": ["affected", "fixed", "not_affected", "unknown", None],
                            "description": "That base release's own status; status is what can be said of the vendor build."},
            "vendor_fix": {"type": ["string", "null"], "description": (
                "What the vendor changelog recorded by `sigmatch refresh --vendor-changelog` says about the fix.")},
        },
    },
    "Advice": {
        "type": "object",
        "required": ["status", "badge", "label", "headline", "conditional"],
        "description": "What the match means for the kernel in the log, in the words the page and the chat use.",
        "properties": {
            "status": {"type": "string", "enum": ["affected", "fixed", "not_affected", "unknown"]},
            "badge": {"type": "string", "enum": ["affected", "fixed", "not_affected", "unknown", "possible"],
                      "description": "affected only for a confident match on a kernel without the fix; "
                                     "possible for every match that is not confident."},
            "label": {"type": "string"}, "headline": {"type": "string", "description": "One sentence."},
            "install": {"type": ["string", "null"], "description": "Only for a confident match on an affected kernel."},
            "conditional": {"type": "boolean", "description": (
                "True when the match is not confident: the version facts hold only if it is that bug.")},
        },
    },
    "Match": {
        "type": "object",
        "required": ["bug_id", "title", "score", "confident", "fixes", "why"],
        "properties": {
            "bug_id": {"type": "string"}, "title": {"type": "string"}, "origin": {"type": "string"},
            "score": {"type": "number"}, "confident": {"type": "boolean"},
            "fixes": {"type": "array", "items": {"$ref": "#/components/schemas/Fix"}},
            "cves": {"type": "array", "items": {"type": "string"}},
            "stable_fixed": {"type": "object", "additionalProperties": {"type": "string"},
                             "description": "First release carrying the fix, per stable branch."},
            "verdict": {"$ref": "#/components/schemas/Verdict"},
            "advice": {"$ref": "#/components/schemas/Advice"},
            "why": {"type": "object", "description": "Rule, score breakdown, matched and unmatched frames.",
                    "properties": {"rule": {"type": "string"}, "explanation": {"type": "string"},
                                   "signals": {"type": "object"},
                                   "matched_frames": {"type": "array", "items": {"type": "string"}},
                                   "unmatched_frames": {"type": "array", "items": {"type": "string"}},
                                   "upstream": {"type": "array", "items": {"$ref": "#/components/schemas/EvidenceUse"},
                                                "description": "What upstream items said about this candidate."}}},
        },
    },
    "EvidenceUse": {
        "type": "object",
        "required": ["signal", "weight", "source", "ref", "says"],
        "description": (
            "One upstream item's say about a candidate: `upstream_fix` (an item about this crash - the same "
            "crash title, or an id the log names - names the candidate's fix), `upstream_fix_search` (a "
            "search hit names it: counts little, never makes a match confident) or `upstream_other` (an item "
            "about this crash names another fix); `weight` is what it added to the raw score."),
        "properties": {
            "signal": {"type": "string", "enum": ["upstream_fix", "upstream_fix_search", "upstream_other"]},
            "weight": {"type": "number"}, "source": {"type": "string"}, "ref": {"type": "string"},
            "url": _NULLABLE_STR, "says": {"type": "string"}, "promotes": {"type": "boolean"},
        },
    },
    "Report": {
        "type": "object",
        "required": ["kind", "title"],
        "properties": {
            "kind": {"type": "string"}, "title": {"type": "string"},
            "alt_titles": {"type": "array", "items": {"type": "string"}},
            "guilty_frame": _NULLABLE_STR, "kernel_version": _NULLABLE_STR,
            "corrupted": {"type": "boolean"}, "frames": {"type": "array", "items": {"type": "object"}},
        },
    },
    "ReportAnswer": {
        "type": "object",
        "required": ["report_index", "title", "kind", "confident", "matches", "state", "notes", "repeats"],
        "description": "The answer for one crash report of the log, with its own matches and verdicts.",
        "properties": {
            "report_index": {"type": "integer", "minimum": 0, "description": "Position of the report in the log (0-based)."},
            "title": {"type": "string"}, "kind": {"type": "string"}, "confident": {"type": "boolean"},
            "signature": {"type": "object"},
            "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"}},
            "state": {"type": ["string", "null"],
                      "description": "What to know about the report itself, in a sentence, before its matches: the "
                                     "crash is in an out-of-tree module (tell its maintainers), the report is "
                                     "corrupted (matches are suggestions) or cut short; null for a complete report."},
            "notes": {"type": "array", "items": {"type": "string"}},
            "repeats": {"type": "array", "items": {"type": "integer"},
                        "description": "Later reports with the same signature, answered by this one."},
        },
    },
    "Answer": {
        "type": "object",
        "required": ["summary", "reports", "signature", "matches", "confident", "answers", "upstream",
                     "catalog_version"],
        "properties": {
            "summary": {"type": "string", "description": "The answer in a sentence or two, confident reports first."},
            "reports": {"type": "array", "items": {"$ref": "#/components/schemas/Report"},
                        "description": "Crash reports found in the log, in log order (at most 20)."},
            "reports_total": {"type": "integer"},
            "signature": {"type": ["object", "null"], "description": "What the matcher compared (primary report)."},
            "matches": {"type": "array", "items": {"$ref": "#/components/schemas/Match"},
                        "description": "The primary report's known bugs, best first (at most ?top)."},
            "confident": {"type": "boolean", "description": "Whether the primary report's top match is confident."},
            "primary_report": {"type": ["integer", "null"], "description": (
                "Which report `matches` answer: the first, or a later one matched confidently when the "
                "first is corrupted or has too little information.")},
            "answers": {"type": "array", "items": {"$ref": "#/components/schemas/ReportAnswer"},
                        "description": "Every distinct report answered (at most 20), in log order."},
            "kernel": {"type": ["object", "null"], "description": "The kernel version found in the log."},
            "rules_version": {"type": "string"}, "algorithm_version": {"type": "string"},
            "catalog_version": {"type": "string"},
            "notes": {"type": "array", "items": {"type": "string"}},
            "upstream": {"type": "object", "description": (
                "What upstream says about this crash within SIGMATCH_UPSTREAM_BUDGET: lore reports and the "
                "patches answering them, bugzilla bugs, syzbot bugs, fixing commits, stable releases, per-source "
                "status and notes. Sources still working are listed in `pending`, finished by the background "
                "job `job_id` (poll `job_url`: its finished `result` holds the complete lookup, `answer` - this "
                "answer made again with all of the evidence, without `reports` - and `changed`, whether the top "
                "match or its confidence moved). `enabled` is false when the lookup is off.")},
            "upstream_evidence": {"type": ["object", "null"], "description": (
                "The upstream evidence counted in this answer: which report it is about (`report_index`), the "
                "items (bugs, reports, patches, with how each was found and the fixes it names), the sources "
                "answered, and those that failed or were pending (they count for nothing). null: none asked.")},
        },
    },
    "BugSummary": {
        "type": "object",
        "required": ["id", "title", "origin"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "origin": {"type": "string"},
            "kinds": {"type": "array", "items": {"type": "string"}},
            "cves": {"type": "array", "items": {"type": "string"}},
            "fixes": {"type": "array", "items": {"$ref": "#/components/schemas/Fix"}},
            "mainline_fixed": _NULLABLE_STR,
            "stable_fixed": {"type": "object", "additionalProperties": {"type": "string"}},
            "withdrawn": {"type": "boolean"},
        },
    },
    "BugList": {
        "type": "object",
        "required": ["total", "items"],
        "properties": {
            "total": {"type": "integer", "minimum": 0}, "offset": {"type": "integer"},
            "limit": {"type": "integer"}, "catalog_version": {"type": "string"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/BugSummary"}},
        },
    },
    "Bug": {
        "type": "object",
        "required": ["id", "title", "origin", "fixes", "signatures"],
        "properties": {
            "id": {"type": "string"}, "title": {"type": "string"}, "origin": {"type": "string"},
            "summary": {"type": "string"},
            "signatures": {"type": "array", "items": {"type": "object"}},
            "fixes": {"type": "array", "items": {"$ref": "#/components/schemas/Fix"}},
            "stable": {"type": "array", "items": {"type": "object"}},
            "introduced": {"type": ["object", "null"]},
            "references": {"type": "array", "items": {"type": "object"}},
        },
    },
    "Job": {
        "type": "object",
        "required": ["id", "status"],
        "properties": {
            "id": {"type": "string"}, "func": {"type": "string"},
            "status": {"type": "string", "enum": ["queued", "started", "finished", "failed"]},
            "enqueued_at": {"type": ["number", "null"]}, "started_at": {"type": ["number", "null"]},
            "ended_at": {"type": ["number", "null"]}, "result": {}, "error": _NULLABLE_STR,
        },
    },
    "JobAccepted": {
        "type": "object",
        "required": ["job_id"],
        "properties": {"job_id": {"type": "string"}, "status": {"type": "string"}, "url": {"type": "string"}},
    },
    "Health": {"type": "object", "required": ["status"],
               "properties": {"status": {"type": "string"}, "version": {"type": "string"}}},
    "Ready": {
        "type": "object",
        "required": ["status", "degraded"],
        "properties": {
            "status": {"type": "string", "enum": ["ready", "degraded", "loading", "unavailable"]},
            "degraded": {"type": "array", "items": {"type": "string"}},
            "catalog": {"type": ["object", "null"]},
            "refresh": {"type": ["object", "null"], "description": "last_success, last_attempt, last_error, "
                        "failing (the last attempt failed after the last success), snapshot"},
        },
    },
}


PATHS: dict[str, Any] = {
    "/api/v1/match": {"post": {
        "summary": "Match a kernel crash log against the known bugs",
        "operationId": "match",
        "parameters": [{"name": "top", "in": "query", "description": "How many matches to return.",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 50}},
                       {"name": "kernel", "in": "query", "description": (
                           "The running kernel as `uname -r` prints it (e.g. 5.15.0-91-generic), "
                           "when the log does not say it; 400 when it is not a kernel version."),
                        "schema": {"type": "string", "maxLength": 200}}],
        "requestBody": {"required": True, "content": {
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": {
                "type": "object", "required": ["trace"],
                "properties": {"trace": {"type": "string", "description": "The kernel log."}}}},
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "contentMediaType": "application/octet-stream",
                                        "description": "The console log as a file upload."}}}},
        }},
        "responses": {
            "200": _json("Answer", "Reports, signature, ranked matches with fixes and verdicts."),
            "400": _err("Malformed request: bad JSON, missing field, bad parameter."),
            "413": _err("Body larger than the server accepts (SIGMATCH_MAX_REQUEST_BYTES, 2 MiB by default)."),
            "415": _err("Unsupported Content-Type."),
            "422": _err("No kernel crash report in the body (empty, binary or unrelated text)."),
            "503": _err("The catalog could not be loaded."),
            **_COMMON_ERRORS,
        },
    }},
    "/api/v1/bugs": {"get": {
        "summary": "List known bugs (paged, filtered)",
        "operationId": "listBugs",
        "parameters": _PAGING,
        "responses": {"200": _json("BugList", "One page of known bugs and the total that match."),
                      "400": _err("Bad paging or filter parameter."),
                      "503": _err("The catalog could not be loaded."), **_COMMON_ERRORS},
    }},
    "/api/v1/bugs/{bug_id}": {"get": {
        "summary": "One known bug",
        "operationId": "getBug",
        "parameters": [{"name": "bug_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json("Bug", "The known bug with signatures, fixes, stable releases."),
                      "503": _err("The catalog could not be loaded."), **_COMMON_ERRORS},
    }},
    "/api/v1/jobs/{job_id}": {"get": {
        "summary": "State of a background job",
        "operationId": "getJob",
        "parameters": [{"name": "job_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {"200": _json("Job", "The job's status and result or error."),
                      "503": _err("The job queue cannot be reached."), **_COMMON_ERRORS},
    }},
    "/api/v1/refresh": {"post": {
        "summary": "Start a catalog refresh (admin)",
        "operationId": "refresh",
        "security": [{"adminToken": []}],
        "requestBody": {"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {
                "sources": {"type": "array", "items": {"type": "string"},
                            "description": "Refresh steps to run (default: all), e.g. [\"cve\"]."}}}}}},
        "responses": {"202": _json("JobAccepted", "The refresh job was queued; poll its url."),
                      "400": _err("Bad body."),
                      "401": _err("No bearer token."),
                      "403": _err("Wrong token, or admin endpoints disabled."),
                      "503": _err("Refresh not available."), **_COMMON_ERRORS},
    }},
    "/api/v1/openapi.json": {"get": {
        "summary": "This document", "operationId": "openapi",
        "responses": {"200": {"description": "OpenAPI 3.1 document.",
                              "content": {"application/json": {"schema": {"type": "object"}}}},
                      **_COMMON_ERRORS},
    }},
    "/healthz": {"get": {
        "summary": "Liveness", "operationId": "healthz",
        "responses": {"200": _json("Health", "The process answers."), **_COMMON_ERRORS},
    }},
    "/readyz": {"get": {
        "summary": "Readiness: catalog loaded; degraded modes listed", "operationId": "readyz",
        "responses": {"200": _json("Ready", "Ready (possibly degraded)."),
                      "503": _json("Ready", "Not ready: loading or failed."), **_COMMON_ERRORS},
    }},
    "/metrics": {"get": {
        "summary": "Prometheus metrics", "operationId": "metrics",
        "responses": {"200": {"description": "Prometheus text exposition format.",
                              "content": {"text/plain": {"schema": {"type": "string"}}}},
                      **_COMMON_ERRORS},
    }},
}

_INFO = {
    "title": "sigmatch",
    "version": __version__,
    "description": "From a Linux kernel crash log to the known bug, the commit that fixes it and the "
                   "kernel release that carries the fix. Every error has the shape of `Error`.",
}

_SECURITY_SCHEMES = {"adminToken": {"type": "http", "scheme": "bearer", "description": "SIGMATCH_ADMIN_TOKEN"}}


def document() -> dict[str, Any]:
    """The whole document: info, the paths and the component schemas above."""
    return {
        "openapi": "3.1.0",
        "info": _INFO,
        "servers": [{"url": "/"}],
        "paths": PATHS,
        "components": {"schemas": SCHEMAS, "securitySchemes": _SECURITY_SCHEMES},
    }


@bp.get("/api/v1/openapi.json")
def openapi_json() -> Response:
    return jsonify(document())
