"""Turning core values into what the API returns and the pages show. No matching logic here."""

from __future__ import annotations

import re
from typing import Any

from sigmatch.answer import Answer
from sigmatch.catalog.model import KnownBug
from sigmatch.config import Settings

COMMIT_URL = "https://git.kernel.org/linus/{sha}"
MAX_REPORTS = 20  # reports returned per answer; a hostile log may hold thousands
_HEX = re.compile(r"^[0-9a-f]{7,40}$")


def commit_url(sha: str | None) -> str | None:
    if not sha or not _HEX.match(sha.lower()):
        return None
    return COMMIT_URL.format(sha=sha.lower())


def link_fixes(matches: list[dict[str, Any]]) -> None:
    """Each fix of these matches (``Match.to_dict()`` shape) with its git.kernel.org link."""
    for m in matches:
        for fix in m.get("fixes") or []:
            fix["url"] = commit_url(fix.get("sha"))


def answer_json(answer: Answer, *, max_reports: int = MAX_REPORTS) -> dict[str, Any]:
    """``Answer.to_dict()`` plus links to the fixing commits; reports capped at ``max_reports``.

    Backward compatible: ``matches`` are the primary report's (``primary_report``); ``answers``
    holds every answered report's own matches and verdicts, in log order; ``summary`` names the
    confident ones first. Each match carries ``advice``, the words the page and the chat use.
    """
    d = answer.to_dict()
    total = len(d["reports"])
    d["reports"] = d["reports"][:max_reports]
    d["reports_total"] = total
    link_fixes(d["matches"])
    for ra in d["answers"]:
        link_fixes(ra["matches"])
    if not isinstance(d.get("upstream"), dict):
        d["upstream"] = {}
    return d


def page_answers(answer: Answer, body: dict[str, Any]) -> list[dict[str, Any]]:
    """The answered reports of ``body`` (:func:`answer_json`) in the order the page shows them:
    confident first (:attr:`Answer.ordered`), each with its full report."""
    pos = {ra.index: i for i, ra in enumerate(answer.answers)}
    out = []
    for ra in answer.ordered:
        item = dict(body["answers"][pos[ra.index]])
        item["report"] = ra.report.to_dict()
        item["repeat_numbers"] = [i + 1 for i in ra.repeats]
        out.append(item)
    return out


# An absolute server path (``/srv/sigmatch/data/catalog/meta.json``): a slash that does not follow a
# word character, a colon or another slash (so URLs and relative paths are left alone).
_ABS_PATH = re.compile(r"(?<![\w:/.~>-])/(?:[\w.+@-]+/)*[\w.+@-]+")


def scrub_paths(text: str, settings: Settings | None = None) -> str:
    """``text`` without server file paths: the data and signatures directories become
    ``<data dir>`` / ``signatures``, any other absolute path ``<path>``."""
    out = str(text)
    if settings is not None:
        for path, label in ((settings.data_dir, "<data dir>"), (settings.signatures_dir, "signatures")):
            raw = str(path)
            if raw.startswith("/"):
                out = out.replace(raw.rstrip("/"), label)
    return _ABS_PATH.sub("<path>", out)


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
    # where the record came from, never where it sits on this server (signatures/x.yaml, cve/...)
    src = d.get("source_path")
    if isinstance(src, str) and (src.startswith("/") or "\\" in src):
        d["source_path"] = f"signatures/{src.rsplit('/', 1)[-1]}" if bug.origin.value == "curated" else None
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
