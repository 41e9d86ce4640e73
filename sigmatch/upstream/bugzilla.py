"""bugzilla.kernel.org through the Bugzilla 5 REST API → :class:`BugzillaBug` values.

::

    GET /rest/bug?quicksearch=ALL+TERMS&limit=N     {"bugs": [...]}  (stock 5.0: no total_matches)
    GET /rest/bug/<id>                              {"bugs": [...], "faults": []}
    GET /rest/bug/<id>/comment                      {"bugs": {"<id>": {"comments": [...]}}, "comments": {}}
    errors                                          {"error": true, "code": 101, "message": "..."} (HTTP 404/400)

The kernel instance adds custom fields: ``cf_kernel_version``, ``cf_regression``,
``cf_bisect_commit`` ("Bisected commit-id") and ``cf_tree``. Comments are read for commit ids
("commit 172e422ffea2 (\"subject\")") and "fixed in / backported to X.Y.Z" mentions.
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from sigmatch.errors import UpstreamError
from sigmatch.upstream.http import UpstreamClient, build_url
from sigmatch.upstream.lore import clean_text
from sigmatch.upstream.model import BugzillaBug, UpstreamCommit

FIELDS = ("id,summary,status,resolution,product,component,cf_kernel_version,cf_regression,"
          "cf_bisect_commit,cf_tree,is_open,creation_time,last_change_time,see_also")
_COMMIT_RE = re.compile(
    r"\bcommit\s+([0-9a-f]{12,40})\b(?:\s*\(\s*\"(.{1,200}?)\"\s*\))?", re.IGNORECASE)
_FIXED_IN_RE = re.compile(
    r"\b(?:fixed|landed|merged|included|is|backported|queued|released)\s+(?:upstream\s+)?(?:in|to|into|for)\s+"
    r"(?:(?:v|linux[- ]|kernel\s+)?(\d+\.\d+(?:\.\d+)?(?:-rc\d+)?))"
    r"((?:\s*(?:,|and|or)\s*(?:v)?\d+\.\d+(?:\.\d+)?)*)",
    re.IGNORECASE,
)
_VERSION_RE = re.compile(r"\d+\.\d+(?:\.\d+)?(?:-rc\d+)?")
_SEE_ALSO_OK = ("http://", "https://")


def bug_url(base: str, bug_id: int) -> str:
    return build_url(base, "show_bug.cgi", {"id": str(bug_id)})


def _str(d: dict[str, Any], key: str, limit: int = 200) -> str:
    v = d.get(key)
    return clean_text(str(v), limit) if v not in (None, "") else ""


def bug_from_json(d: Any, base: str) -> BugzillaBug | None:
    """One bug hash of the REST API; None when it is not one (no integer id)."""
    if not isinstance(d, dict):
        return None
    try:
        bug_id = int(d.get("id"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    if bug_id <= 0:
        return None
    see_also = d.get("see_also") or []
    is_open = d.get("is_open")
    return BugzillaBug(
        id=bug_id,
        summary=_str(d, "summary", 300),
        url=bug_url(base, bug_id),
        status=_str(d, "status", 40),
        resolution=_str(d, "resolution", 40),
        product=_str(d, "product", 80),
        component=_str(d, "component", 80),
        kernel_version=_str(d, "cf_kernel_version", 80),
        regression=_str(d, "cf_regression", 20),
        bisect_commit=_str(d, "cf_bisect_commit", 80),
        tree=_str(d, "cf_tree", 40),
        is_open=is_open if isinstance(is_open, bool) else None,
        created=_str(d, "creation_time", 40) or None,
        changed=_str(d, "last_change_time", 40) or None,
        see_also=tuple(clean_text(str(u), 300) for u in see_also if isinstance(u, str)
                       and u.startswith(_SEE_ALSO_OK))[:10] if isinstance(see_also, list) else (),
    )


def bugs_from_json(doc: Any, base: str) -> list[BugzillaBug]:
    bugs = doc.get("bugs") if isinstance(doc, dict) else None
    if not isinstance(bugs, list):
        return []
    return [b for b in (bug_from_json(x, base) for x in bugs[:200]) if b is not None]


def comments_from_json(doc: Any, bug_id: int) -> list[str]:
    """Comment texts of one bug from a ``/rest/bug/<id>/comment`` answer ([] for any other shape)."""
    if not isinstance(doc, dict) or not isinstance(doc.get("bugs"), dict):
        return []
    entry = doc["bugs"].get(str(bug_id))
    comments = entry.get("comments") if isinstance(entry, dict) else None
    if not isinstance(comments, list):
        return []
    return [str(c["text"])[:20000] for c in comments[:500] if isinstance(c, dict) and isinstance(c.get("text"), str)]


def mentions(texts: list[str], source: str) -> tuple[tuple[UpstreamCommit, ...], tuple[str, ...]]:
    """Commits ("commit <sha> ("subject")") and releases ("fixed in 6.11", "backported to 6.1.109")."""
    commits: dict[str, UpstreamCommit] = {}
    releases: list[str] = []
    for text in texts:
        for m in _COMMIT_RE.finditer(text):
            sha = m.group(1).lower()
            if sha not in commits:
                commits[sha] = UpstreamCommit(sha=sha, subject=clean_text(m.group(2) or "", 200), source=source)
        for m in _FIXED_IN_RE.finditer(text):
            for v in [m.group(1), *_VERSION_RE.findall(m.group(2) or "")]:
                if v not in releases:
                    releases.append(v)
    return tuple(commits.values())[:20], tuple(releases)[:20]


class Bugzilla:
    """bugzilla.kernel.org (or a mirror) through an :class:`UpstreamClient`."""

    def __init__(self, client: UpstreamClient, base: str) -> None:
        self.client = client
        self.base = base.rstrip("/")

    def search(self, terms: str, *, limit: int = 10, deadline: float | None = None) -> list[BugzillaBug]:
        """Bugs whose summary matches ``terms``, open and closed (quicksearch ``ALL``)."""
        q = "ALL " + clean_text(terms, 200)
        url = build_url(self.base, "rest/bug", [("quicksearch", q), ("limit", str(limit)),
                                                ("include_fields", FIELDS)])
        f = self.client.get(url, ok=(200, 400, 404), deadline=deadline, accept="application/json")
        doc = f.json()
        if f.status != 200 or (isinstance(doc, dict) and doc.get("error")):
            msg = clean_text(str(doc.get("message", "")), 200) if isinstance(doc, dict) else ""
            if f.status == 404 or (isinstance(doc, dict) and doc.get("code") == 101):
                return []
            raise UpstreamError(f"refused the search ({msg or f'HTTP {f.status}'})", url=url, status=f.status)
        if not isinstance(doc, dict) or "bugs" not in doc:
            raise UpstreamError("unreadable answer (no \"bugs\" list)", url=url, status=f.status)
        return bugs_from_json(doc, self.base)[:limit]

    def bug(self, bug_id: int, *, deadline: float | None = None) -> BugzillaBug | None:
        url = build_url(self.base, f"rest/bug/{int(bug_id)}")
        f = self.client.get(url, ok=(200, 404), deadline=deadline, accept="application/json")
        if f.status == 404:
            return None
        found = [b for b in bugs_from_json(f.json(), self.base) if b.id == int(bug_id)]
        return found[0] if found else None

    def comments(self, bug_id: int, *, deadline: float | None = None) -> list[str]:
        url = build_url(self.base, f"rest/bug/{int(bug_id)}/comment")
        f = self.client.get(url, ok=(200, 404), deadline=deadline, accept="application/json")
        return comments_from_json(f.json(), int(bug_id)) if f.status == 200 else []

    def with_comments(self, bug: BugzillaBug, *, deadline: float | None = None) -> BugzillaBug:
        """``bug`` with the commits and fixed-in releases its comments mention."""
        commits, releases = mentions(self.comments(bug.id, deadline=deadline), f"bugzilla:{bug.id}")
        return replace(bug, commits=commits, fixed_in=releases)
