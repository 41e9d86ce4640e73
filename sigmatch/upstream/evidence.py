"""An :class:`~sigmatch.upstream.model.UpstreamResult` as the core's evidence values.

::

    evidence_from(result, report_index=0, text="") -> UpstreamEvidence

Each lore report (with the patches answering it: in its thread, by ``Closes:``/``Link:`` or by its
syzbot id), each patch that answers no report, each bugzilla bug and each syzbot bug becomes one
:class:`~sigmatch.match.evidence.UpstreamItem`, with how it was found: ``log`` when the log names it
(its Message-ID, bug number or syzbot id), ``title`` for syzbot bugs asked for by the report's exact
title, ``search`` otherwise. Sources that failed are listed with why, pending ones by name: the
matcher counts nothing from them (:mod:`sigmatch.match.evidence`).
"""

from __future__ import annotations

import re

from sigmatch.match.evidence import Found, PatchRef, UpstreamEvidence, UpstreamItem
from sigmatch.upstream.lore import strip_subject
from sigmatch.upstream.model import LoreMessage, SourceState, UpstreamResult

_TAG = re.compile(r"^\s*(?:\[[^\]]{0,80}\]\s*)+")
_SHA = re.compile(r"\b([0-9a-f]{12,40})\b")
_BUG_IN_LOG = "show_bug.cgi?id={}"
# The sources whose answers are evidence about which bug this is (the stable ChangeLogs only say
# where a fix landed: they are not counted, and their trouble is not the evidence's).
SOURCES = ("lore", "bugzilla", "syzbot")

__all__ = ["evidence_from"]


def _unprefixed(subject: str) -> str:
    return _TAG.sub("", strip_subject(subject)).strip()


def _link(patch: LoreMessage, report: LoreMessage) -> str:
    """How ``patch`` answers ``report``, in the trailer's own words."""
    for t in patch.trailers:
        if t.name in ("Closes", "Link") and report.message_id in t.value:
            return f"{t.name}: {report.message_id}"
    shared = [e for e in patch.syzbot_extids if e in report.syzbot_extids]
    if shared:
        return f"Reported-by: syzbot+{shared[0]}"
    return "replies in its thread"


def _patch_ref(p: LoreMessage, report: LoreMessage | None) -> PatchRef:
    introduced = tuple(dict.fromkeys(m.group(1) for v in p.fixes for m in [_SHA.search(v.lower())] if m))
    return PatchRef(subject=_unprefixed(p.subject), url=p.url, link=_link(p, report) if report else "",
                    introduced=introduced, commit=p.upstream_commit)


def evidence_from(result: UpstreamResult, *, report_index: int = 0, text: str = "") -> UpstreamEvidence:
    """What ``result`` says, as plain values for the matcher (``text``: the log, to tell the items it
    names from search hits)."""
    log = (text or "")[:2_000_000]
    items: list[UpstreamItem] = []
    answering: set[str] = set()
    for m in result.reports:
        patches = [p for p in result.patches if m.message_id in p.answers]
        answering.update(p.message_id for p in patches)
        items.append(UpstreamItem(
            source="lore", kind="report", ref=m.message_id, url=m.url, title=_unprefixed(m.subject),
            found=Found.LOG if m.message_id in log else Found.SEARCH,
            patches=tuple(_patch_ref(p, m) for p in patches)))
    for p in result.patches:
        if p.message_id in answering:
            continue
        items.append(UpstreamItem(
            source="lore", kind="patch", ref=p.message_id, url=p.url, title=_unprefixed(p.subject),
            found=Found.LOG if p.message_id in log else Found.SEARCH,
            commits=(p.upstream_commit,) if p.upstream_commit else ()))
    for b in result.bugzilla:
        items.append(UpstreamItem(
            source="bugzilla", kind="bug", ref=f"bug {b.id}", url=b.url, title=b.summary,
            found=Found.LOG if _BUG_IN_LOG.format(b.id) in log else Found.SEARCH,
            commits=tuple(dict.fromkeys(c.sha.lower() for c in b.commits if c.sha))))
    asked_ids = set(result.query.get("syzbot_extids") or ())
    asked_title = str(result.query.get("syzbot_title") or "").strip().lower()
    for z in result.syzbot:
        if z.extid and z.extid in asked_ids:
            found = Found.LOG
        elif asked_title and z.title.strip().lower() == asked_title:
            found = Found.TITLE
        else:
            found = Found.SEARCH  # reached through a syzbot id in a lore search hit
        items.append(UpstreamItem(
            source="syzbot", kind="bug", ref=f"syzbot {z.extid or z.title[:80]}", url=z.url, title=z.title,
            found=found, commits=tuple(dict.fromkeys(c.sha.lower() for c in z.fix_commits if c.sha))))
    sources = [s for s in result.sources if s.name in SOURCES]
    answered = tuple(s.name for s in sources if s.state in (SourceState.OK, SourceState.EMPTY))
    failed = tuple((s.name, s.note or "no usable answer") for s in sources if s.state is SourceState.ERROR)
    pending = tuple(s.name for s in sources if s.state is SourceState.PENDING)
    return UpstreamEvidence(report_index=report_index, items=tuple(items), answered=answered, failed=failed,
                            pending=pending)
