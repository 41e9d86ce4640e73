"""Turning core values into what the API returns and the pages show. No matching logic here."""

from __future__ import annotations

import re
from typing import Any

from sigmatch.answer import Answer
from sigmatch.catalog.model import KnownBug

COMMIT_URL = "https://git.kernel.org/linus/{sha}"
MAX_REPORTS = 20  # reports returned per answer; a hostile log may hold thousands
_HEX = re.compile(r"^[0-9a-f]{7,40}$")


def commit_url(sha: str | None) -> str | None:
    if not sha or not _HEX.match(sha.lower()):
        return None
    return COMMIT_URL.format(sha=sha.lower())


def answer_json(answer: Answer, *, max_reports: int = MAX_REPORTS) -> dict[str, Any]:
    """``Answer.to_dict()`` plus links to the fixing commits; reports capped at ``max_reports``."""
    d = answer.to_dict()
    total = len(d["reports"])
    d["reports"] = d["reports"][:max_reports]
    d["reports_total"] = total
    for m in d["matches"]:
        for fix in m.get("fixes") or []:
            fix["url"] = commit_url(fix.get("sha"))
    if not isinstance(d.get("upstream"), dict):
        d["upstream"] = {}
    return d


def bug_summary(bug: KnownBug) -> dict[str, Any]:
    """The short form of a known bug used in listings."""
    return {
        "id": bug.id,
        "title": bug.title,
        "origin": bug.origin.value,
        "kinds": list(bug.kinds),
        "cves": list(bug.cves),
        "fixes": [{"sha": f.sha, "short": f.short, "subject": f.subject, "mainline": f.mainline,
                   "url": commit_url(f.sha)} for f in bug.fixes],
        "mainline_fixed": bug.mainline_fixed,
        "stable_fixed": bug.stable_fixed,
        "withdrawn": bug.withdrawn,
    }


def bug_detail(bug: KnownBug) -> dict[str, Any]:
    d = bug.to_dict()
    for fix in d["fixes"]:
        fix["url"] = commit_url(fix.get("sha"))
    return d


def search_blob(bug: KnownBug) -> str:
    """Everything ``?q=`` searches in, lower-cased."""
    parts = [bug.id, bug.title, bug.summary, *bug.cves, *bug.kinds, *bug.functions, *bug.files]
    for f in bug.fixes:
        parts += [f.sha, f.subject]
    for s in bug.signatures:
        parts += [s.title or "", *s.alt_titles, *s.frames]
    for r in bug.references:
        parts.append(r.value)
    return "\n".join(parts).lower()
