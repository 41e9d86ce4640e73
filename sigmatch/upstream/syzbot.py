"""The syzbot dashboard's JSON (``?json=1``) → :class:`SyzbotBug` values.

::

    GET /bug?extid=<extid>&json=1     one bug: title, fix-commits, cause-commit, discussions, crashes
    GET /upstream/fixed?json=1        {"version": 1, "Bugs": [{title, link, fix-commits}]}
    GET /upstream?json=1              the same shape, open bugs

Shapes from google/syzkaller ``dashboard/api/api.go``. An extid comes from a ``Reported-by:
syzbot+<extid>@...`` tag or a ``bug?extid=`` link; it is checked to be hex before use.
"""

from __future__ import annotations

import re
from typing import Any

from sigmatch.upstream.http import UpstreamClient, build_url
from sigmatch.upstream.lore import clean_text
from sigmatch.upstream.model import SyzbotBug, UpstreamCommit

EXTID_RE = re.compile(r"^[0-9a-f]{16,24}$")
_SHA_RE = re.compile(r"^[0-9a-f]{12,40}$")
_LINK_EXTID_RE = re.compile(r"extid=([0-9a-f]{16,24})\b")
_RECURRENCE_RE = re.compile(r"\s+\(\d+\)$")


def bug_url(base: str, extid: str) -> str:
    return build_url(base, "bug", {"extid": extid})


def _list(value: Any) -> list[Any]:
    """``value`` when the JSON holds a list there, else an empty one (a hostile page may put anything)."""
    return value if isinstance(value, list) else []


def _commit(d: Any, source: str) -> UpstreamCommit | None:
    if not isinstance(d, dict):
        return None
    sha = str(d.get("hash") or "").lower()
    title = clean_text(str(d.get("title") or ""), 200)
    if not title and not _SHA_RE.match(sha):
        return None
    return UpstreamCommit(sha=sha if _SHA_RE.match(sha) else "", subject=title, source=source)


def bug_from_json(doc: Any, base: str, extid: str | None = None) -> SyzbotBug | None:
    """A ``/bug?extid=…&json=1`` answer; None when it is not a bug object."""
    if not isinstance(doc, dict) or not isinstance(doc.get("title"), str):
        return None
    source = f"syzbot:{extid}" if extid else "syzbot"
    fixes = tuple(c for c in (_commit(x, source) for x in _list(doc.get("fix-commits"))[:20]) if c is not None)
    cause = _commit(doc.get("cause-commit"), source)
    discussions = tuple(clean_text(u, 300) for u in _list(doc.get("discussions"))[:20]
                        if isinstance(u, str) and u.startswith(("https://", "http://")))
    status = "fixed" if any(c.sha for c in fixes) else ("fix pending" if fixes else "open")
    return SyzbotBug(
        title=clean_text(doc["title"], 300),
        url=bug_url(base, extid) if extid else base.rstrip("/") + "/",
        extid=extid,
        status=status,
        fix_commits=fixes,
        cause_commit=cause,
        discussions=discussions,
    )


def bugs_from_group(doc: Any, base: str) -> list[SyzbotBug]:
    """The ``Bugs`` of a ``/upstream/fixed?json=1`` style list."""
    bugs = doc.get("Bugs") if isinstance(doc, dict) else None
    if not isinstance(bugs, list):
        return []
    out = []
    for d in bugs[:50000]:
        if not isinstance(d, dict) or not isinstance(d.get("title"), str):
            continue
        m = _LINK_EXTID_RE.search(str(d.get("link") or ""))
        extid = m.group(1) if m else None
        fixes = tuple(c for c in (_commit(x, f"syzbot:{extid}") for x in _list(d.get("fix-commits"))[:20])
                      if c is not None)
        out.append(SyzbotBug(title=clean_text(d["title"], 300),
                             url=bug_url(base, extid) if extid else base.rstrip("/") + "/",
                             extid=extid, status="fixed" if fixes else "", fix_commits=fixes))
    return out


class Syzbot:
    """syzkaller.appspot.com (or a mirror) through an :class:`UpstreamClient`."""

    def __init__(self, client: UpstreamClient, base: str) -> None:
        self.client = client
        self.base = base.rstrip("/")

    def bug(self, extid: str, *, deadline: float | None = None) -> SyzbotBug | None:
        if not EXTID_RE.match(extid):
            return None
        f = self.client.get(build_url(self.base, "bug", [("extid", extid), ("json", "1")]), ok=(200, 404),
                            deadline=deadline, accept="application/json")
        return bug_from_json(f.json(), self.base, extid) if f.status == 200 else None

    def fixed_with_title(self, title: str, *, deadline: float | None = None) -> list[SyzbotBug]:
        """Fixed upstream bugs whose title is ``title``, and the bugs syzbot filed again under it
        ("X (2)": a log cannot tell which one it is), the exact title first (the list is large:
        cached, size-capped)."""
        f = self.client.get(build_url(self.base, "upstream/fixed", [("json", "1")]), deadline=deadline,
                            accept="application/json")
        want = _base_title(title)
        found = [b for b in bugs_from_group(f.json(), self.base) if _base_title(b.title) == want]
        return sorted(found, key=lambda b: b.title.strip().lower() != title.strip().lower())


def _base_title(title: str) -> str:
    """A syzbot title without its recurrence suffix (" (2)"), lower-cased."""
    return _RECURRENCE_RE.sub("", " ".join(title.split())).lower()
