"""Rendering an :class:`~sigmatch.answer.Answer` for chat: Slack Block Kit and Mattermost messages.

Pure: values in, JSON-able dicts out, no I/O. Both renderers say the same things, in this order:

1. the verdict line: known bug (and how confident), or no confident match, or no crash found;
2. the fix: 12-hex short sha as the kernel writes it (``d90a10e2444b ("fsnotify: ...")``), linked
   to ``https://git.kernel.org/linus/<sha>``, and the first mainline release carrying it;
3. what it means for the kernel in the log: affected/fixed and the release to install;
4. why this match (the matcher's own explanation, rule and matched frames);
5. references: bugzilla, lore, CVE, and upstream reports found for this crash, when present;
6. the crash as parsed, and the rules/algorithm/catalog versions that produced the answer.

Everything shown that came from a log, the catalog or upstream is escaped for the target markup.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit

from sigmatch.advice import advise, report_line, report_state
from sigmatch.answer import Answer, ReportAnswer
from sigmatch.catalog.model import FixCommit, KnownBug, Reference, Status, Verdict
from sigmatch.match.model import Match

__all__ = [
    "COMMIT_URL",
    "commit_line",
    "error_text",
    "mattermost_message",
    "plain_text",
    "slack_message",
    "usage_text",
]

COMMIT_URL = "https://git.kernel.org/linus/{sha}"
CVE_URL = "https://www.cve.org/CVERecord?id={cve}"
BUGZILLA_URL = "https://bugzilla.kernel.org/show_bug.cgi?id={id}"
LORE_URL = "https://lore.kernel.org/all/{msgid}/"
LORE_SEARCH_URL = "https://lore.kernel.org/all/?q={q}"

_SLACK_SECTION_MAX = 2900  # Block Kit section text is capped at 3000 characters
_SLACK_FALLBACK_MAX = 3500
_MATTERMOST_MAX = 15000  # Mattermost posts hold 16383 characters
_MAX_REFS = 6
_MAX_FRAMES = 6
_SHA_RE = re.compile(r"^[0-9a-f]{12,40}$")

_STATUS_ICON = {
    Status.AFFECTED: ":red_circle:",
    Status.FIXED: ":large_green_circle:",
    Status.NOT_AFFECTED: ":white_circle:",
    Status.UNKNOWN: ":grey_question:",
}


# --- markup -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Markup:
    """The few markup differences between Slack mrkdwn and Mattermost markdown."""

    name: str

    def esc(self, text: object) -> str:
        s = str(text)
        if self.name == "slack":  # Slack's three control characters
            return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        # Mattermost: keep text literal where markdown would reinterpret it
        return re.sub(r"([\\`*_\[\]<>|~])", r"\\\1", s)

    def bold(self, text: str) -> str:
        return f"*{text}*" if self.name == "slack" else f"**{text}**"

    def italic(self, text: str) -> str:
        return f"_{text}_"

    def code(self, text: object) -> str:
        s = str(text).replace("`", "'")
        if self.name == "slack":
            s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        return f"`{s}`"

    def link(self, url: str, text: str) -> str:
        """``text`` must already be escaped."""
        safe_url = url.replace(" ", "%20").replace(">", "%3E").replace("<", "%3C").replace("|", "%7C")
        if self.name == "slack":
            return f"<{safe_url}|{text.replace('|', '¦')}>"
        return f"[{text}]({safe_url.replace(')', '%29')})"


SLACK = Markup("slack")
MATTERMOST = Markup("mattermost")


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --- the facts, in markup ---------------------------------------------------------------------------


def commit_line(fix: FixCommit, m: Markup = SLACK) -> str:
    """``d90a10e2444b ("fsnotify: Fix fsnotify_mark_connector race")``, linked, with its mainline release."""
    sha = fix.sha.strip().lower()
    short = sha[:12]
    shown = m.code(short)
    if _SHA_RE.match(sha):
        shown = m.link(COMMIT_URL.format(sha=sha), short)
    line = f'{shown} ("{m.esc(fix.subject)}")' if fix.subject else shown
    if fix.mainline:
        line += f", first in mainline {m.esc(_v(fix.mainline))}"
    if not fix.verified:
        line += " " + m.italic("(unverified)")
    return line


def _v(release: str) -> str:
    return release if release.startswith("v") else "v" + release


def _confidence(match: Match) -> str:
    pct = f"{round(max(0.0, min(1.0, match.score)) * 100)}%"
    return f"confident, score {pct}" if match.confident else f"not confident, score {pct}"


def _verdict_lines(match: Match, answer: Answer, m: Markup) -> list[str]:
    v: Verdict | None = match.verdict
    bug = match.bug
    lines: list[str] = []
    running = v.running if v and v.running else (answer.kernel.raw if answer.kernel else None)
    if v is None or v.status is Status.UNKNOWN:
        if running:
            lines.append(f"{_STATUS_ICON[Status.UNKNOWN]} Kernel in the log: {m.code(running)}: "
                         f"cannot tell whether it carries the fix"
                         + (f" ({m.esc(v.reason)})" if v and v.reason else "") + ".")
        else:
            lines.append(f"{_STATUS_ICON[Status.UNKNOWN]} No kernel version found in the log.")
        target = _install_hint(bug, v, answer, m)
        if target:
            lines.append(target)
    elif v.status is Status.AFFECTED:
        where = f"Your kernel {m.code(running)}" if running else "Your kernel"
        lines.append(f"{_STATUS_ICON[v.status]} {where} is {m.bold('affected')}.")
        if v.first_fixed:
            install = f"Install {m.bold(m.esc(v.first_fixed))} or later"
            if v.fixed_branch and v.branch and v.fixed_branch != v.branch:
                install += (f" (no release on the {m.esc(v.branch)} branch carries the fix; "
                            f"nearest branch with it: {m.esc(v.fixed_branch)})")
            lines.append(install + ".")
        else:
            hint = _install_hint(bug, v, answer, m)
            lines.append(hint or "No release with the fix is known yet for this branch.")
        if v.reason:
            lines.append(m.italic(m.esc(v.reason)))
    elif v.status is Status.FIXED:
        where = f"Your kernel {m.code(running)}" if running else "Your kernel"
        since = f" (since {m.esc(v.first_fixed)})" if v.first_fixed else ""
        lines.append(f"{_STATUS_ICON[v.status]} {where} already carries the fix{since}: "
                     "if it still crashes like this, it is probably another bug.")
    else:  # NOT_AFFECTED
        where = f"Your kernel {m.code(running)}" if running else "Your kernel"
        lines.append(f"{_STATUS_ICON[v.status]} {where} predates the change that introduced this bug"
                     + (f": {m.esc(v.reason)}" if v.reason else "") + ".")
    if v is not None and v.caveat:
        lines.append(m.italic("Note: " + m.esc(v.caveat)))
    return lines


def _install_hint(bug: KnownBug, v: Verdict | None, answer: Answer, m: Markup) -> str | None:
    """Where the fix is, when the verdict cannot name the release for this kernel."""
    parts = []
    stable = bug.stable_fixed
    if stable:
        branch = (v.branch if v else None) or (answer.kernel.branch if answer.kernel else None)
        if branch and branch in stable:
            return m.esc(f"The fix is in {stable[branch]} on the {branch} branch.")
        shown = ", ".join(f"{b}: {r}" for b, r in sorted(stable.items(), key=lambda kv: _branch_key(kv[0]))[-6:])
        parts.append(f"stable releases with the fix: {shown}")
    if bug.mainline_fixed:
        parts.append(f"mainline {_v(bug.mainline_fixed)}")
    if not parts:
        return None
    return m.esc("Fixed in " + "; ".join(parts) + ".")


def _branch_key(branch: str) -> tuple[int, ...]:
    try:
        return tuple(int(p) for p in branch.split("."))
    except ValueError:
        return (0,)


def _why(match: Match, m: Markup) -> str:
    bits = []
    if match.explanation:
        bits.append(m.esc(match.explanation.strip().rstrip(".")))
    else:
        bits.append(f"decided by rule {m.code(match.rule)}")
    if match.matched_frames:
        frames = ", ".join(m.code(f) for f in match.matched_frames[:_MAX_FRAMES])
        more = len(match.matched_frames) - _MAX_FRAMES
        bits.append(f"matched frames: {frames}" + (f" (+{more})" if more > 0 else ""))
    if match.explanation and match.rule:
        bits.append(f"rule {m.code(match.rule)}")
    return "; ".join(bits)


def _ref_url(ref: Reference) -> str | None:
    if ref.url:
        return ref.url
    if ref.kind == "bugzilla" and ref.value.isdigit():
        return BUGZILLA_URL.format(id=ref.value)
    if ref.kind == "cve":
        return CVE_URL.format(cve=ref.value)
    if ref.kind == "lore":
        return LORE_URL.format(msgid=ref.value.strip("<>"))
    if ref.kind == "url":
        return ref.value
    return None


def _ref_label(ref: Reference) -> str:
    if ref.kind == "bugzilla":
        label = f"bugzilla {ref.value}"
    elif ref.kind == "cve":
        label = ref.value
    elif ref.kind == "lore":
        label = "lore thread"
    elif ref.url or ref.value.startswith(("https://", "http://")):
        host = urlsplit(ref.url or ref.value).hostname or ref.kind
        label = host.removeprefix("www.")
    else:
        label = ref.kind
    if ref.title:
        label += f": {_clip(ref.title, 80)}"
    return label


def _links(items: Iterable[tuple[str | None, str]], m: Markup) -> list[str]:
    out = []
    seen: set[str] = set()
    for url, label in items:
        key = url or label
        if key in seen:
            continue
        seen.add(key)
        if url and url.startswith(("https://", "http://")):
            out.append(m.link(url, m.esc(label)))
        else:
            out.append(m.esc(label))
    return out


def _references(match: Match, m: Markup) -> list[str]:
    bug = match.bug
    items: list[tuple[str | None, str]] = [(_ref_url(r), _ref_label(r)) for r in bug.references]
    for cve in bug.cves:
        items.append((CVE_URL.format(cve=cve), cve))
    return _links(items, m)[:_MAX_REFS]


def _upstream_reports(upstream: Mapping[str, Any], m: Markup) -> list[str]:
    """Reports and bugs the upstream lookup attached to the answer (``UpstreamResult.to_dict()`` shape)."""
    items: list[tuple[str | None, str]] = []

    def text(d: Mapping[str, Any], key: str) -> str:
        v = d.get(key)
        return str(v) if v is not None else ""

    for key in ("reports", "patches"):
        for msg in upstream.get(key) or ():
            if isinstance(msg, Mapping):
                prefix = "patch" if key == "patches" else "report"
                items.append((text(msg, "url") or None, f"{prefix}: {_clip(text(msg, 'subject'), 90)}"))
    for bug in upstream.get("bugzilla") or ():
        if isinstance(bug, Mapping):
            items.append((text(bug, "url") or None, f"bugzilla {text(bug, 'id')}: {_clip(text(bug, 'summary'), 80)}"))
    for bug in upstream.get("syzbot") or ():
        if isinstance(bug, Mapping):
            items.append((text(bug, "url") or None, f"syzbot: {_clip(text(bug, 'title'), 90)}"))
    return _links(items, m)[:_MAX_REFS]


def _crash_line(answer: Answer, lead: ReportAnswer, m: Markup) -> str:
    r = lead.report
    bits = [m.code(_clip(r.title, 150))]
    if r.kernel_version:
        bits.append(f"kernel {m.code(r.kernel_version)}")
    if r.comm:
        bits.append(f"task {m.code(r.comm)}")
    more = len(answer.reports) - 1
    if more > 0:
        bits.append(f"+{more} more report{'s' if more > 1 else ''} in the log")
    label = f"Crash (report {lead.index + 1} of {len(answer.reports)})" if more > 0 else "Crash"
    return f"{label}: " + ", ".join(bits)


def _versions(answer: Answer) -> str:
    return (f"rules {answer.rules_version or '?'} · algorithm {answer.algorithm_version or '?'} · "
            f"catalog {answer.catalog_version or '?'}")


# --- what the reply says, as sections ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Section:
    text: str
    kind: str = "text"  # text | header | context | divider


def _lead(answer: Answer) -> ReportAnswer | None:
    """The report the reply leads with: the best confident one, else the log's first."""
    return answer.lead


def _also(answer: Answer, lead: ReportAnswer, m: Markup) -> list[str]:
    """One line per other answered report of the log, the confident ones first."""
    lines = []
    for ra in answer.ordered:
        if ra is lead:
            continue
        line = m.esc(report_line(ra))
        if ra.top is not None and ra.confident:
            line += " — " + m.esc(advise(ra.top).headline)
        lines.append("• " + line)
    return lines[:8]


def _sections(answer: Answer, m: Markup) -> list[_Section]:
    out: list[_Section] = []
    lead = _lead(answer)
    if not answer.reports or lead is None:
        out.append(_Section("No kernel crash report found in this text.", "header"))
        out.append(_Section(
            "Paste the console output from the first line of the crash (`BUG:`, `WARNING:`, "
            "`watchdog: BUG: soft lockup`, `Oops:`, `INFO: task ... blocked`, `Kernel panic`) through "
            "the end of its call trace (`---[ end trace ... ]---`), or attach the full `dmesg` / "
            "`journalctl -k` output as a text file."))
        return out
    top = lead.top
    confident = lead.confident
    state = report_state(lead.report)
    if state and lead.report.out_of_tree:  # the answer in itself: tell the module's maintainers
        out.append(_Section(f"Crash in the out-of-tree module {lead.report.out_of_tree}", "header"))
        out.append(_Section(m.esc(state)))
    elif state:
        out.append(_Section(m.italic(m.esc(state)), "context"))
    if top is not None and confident:
        bug = top.bug
        out.append(_Section(f"Known bug: {_clip(bug.title, 140)}", "header"))
        out.append(_Section(f"{m.bold('Match')}: {m.esc(bug.id)} ({_confidence(top)})"))
        if bug.fixes:
            label = "Fix" if len(bug.fixes) == 1 else "Fixes"
            out.append(_Section(f"{m.bold(label)}: " + "; ".join(commit_line(f, m) for f in bug.fixes[:3])))
        else:
            out.append(_Section(f"{m.bold('Fix')}: no fixing commit is known yet."))
        out.append(_Section("\n".join(_verdict_lines(top, answer, m))))
        out.append(_Section(f"{m.bold('Why')}: {_why(top, m)}"))
    elif not lead.report.out_of_tree:
        out.append(_Section("No confident match: this may be a new or unknown bug.", "header"))
        if top is not None:
            closest = (f"{m.bold('Closest')}: {m.esc(top.bug.title)} ({_confidence(top)})")
            if top.bug.fixes:
                closest += " — its fix: " + commit_line(top.bug.fixes[0], m)
            out.append(_Section(closest))
            # the version facts only as a condition: never "affected" or "install" for a suggestion
            out.append(_Section(f"{_STATUS_ICON[Status.UNKNOWN]} {m.esc(advise(top).headline)}"))
            out.append(_Section(f"{m.bold('Why not confident')}: {_why(top, m)}"))
        r0 = lead.report
        term = r0.guilty_frame or r0.title
        lore = m.link(LORE_SEARCH_URL.format(q=quote_plus(term[:200])), "search lore.kernel.org")
        out.append(_Section(
            f"{m.bold('What to do')}: {lore} for {m.code(term[:200])}, try the latest stable "
            "release of your branch, and if it still crashes, report it to the maintainers of the guilty "
            "function's subsystem (`scripts/get_maintainer.pl`) with the full log and the kernel version."))
    refs = _references(top, m) if top is not None and confident else []
    if refs:
        out.append(_Section(f"{m.bold('References')}: " + " · ".join(refs)))
    also = _also(answer, lead, m)
    if also:
        out.append(_Section(f"{m.bold('Also in this log')}:\n" + "\n".join(also)))
    ups = _upstream_reports(answer.upstream, m) if answer.upstream else []
    if ups:
        out.append(_Section(f"{m.bold('Upstream reports')}: " + " · ".join(ups)))
    out.append(_Section(_crash_line(answer, lead, m), "context"))
    out.append(_Section(m.esc(_versions(answer)), "context"))
    return out


def _headline(answer: Answer) -> str:
    """One plain line: the notification text and the fallback for clients without blocks."""
    lead = _lead(answer)
    if not answer.reports or lead is None:
        return "sigmatch: no kernel crash report found in this text."
    top = lead.top
    if top is not None and lead.confident:
        fix = top.bug.fixes[0] if top.bug.fixes else None
        line = f"sigmatch: known bug: {top.bug.title}"
        if fix:
            line += f"; fix {fix.short}" + (f' ("{fix.subject}")' if fix.subject else "")
        install = advise(top).install
        if install:
            line += f"; install {install} or later"
        more = sum(1 for ra in answer.answers if ra.confident) - 1
        if more > 0:
            line += f" (+{more} more known bug{'s' if more > 1 else ''} in the log)"
        return line
    if lead.report.out_of_tree:
        return (f"sigmatch: the crash is in the out-of-tree module {lead.report.out_of_tree}: report it to its "
                "maintainers")
    return "sigmatch: no confident match for " + (lead.report.title or "this crash")


def plain_text(answer: Answer) -> str:
    """The reply as plain text (logs, the CLI, notification fallback)."""
    return _headline(answer)


# --- Slack ------------------------------------------------------------------------------------------


def slack_message(answer: Answer) -> dict[str, Any]:
    """Block Kit message: ``{"text": fallback, "blocks": [...]}`` for ``chat.postMessage``/``response_url``."""
    blocks: list[dict[str, Any]] = []
    for sec in _sections(answer, SLACK):
        if sec.kind == "header":
            blocks.append({"type": "header", "text": {"type": "plain_text", "text": _clip(sec.text, 150),
                                                      "emoji": True}})
        elif sec.kind == "context":
            blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(sec.text, 2000)}]})
        else:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _clip(sec.text, _SLACK_SECTION_MAX)}})
    return {"text": _clip(SLACK.esc(_headline(answer)), _SLACK_FALLBACK_MAX), "blocks": blocks[:50]}


def usage_text(command: str = "/kernel-crash") -> str:
    return (f"Paste a Linux kernel crash log after `{command}`, or mention me with the log in the message "
            "or attached as a snippet or text file. I answer with the known bug, the upstream fix and the "
            "kernel release to install.")


def error_text(message: str) -> str:
    return f"sigmatch could not analyze this log: {message}"


# --- Mattermost -------------------------------------------------------------------------------------


def mattermost_message(answer: Answer) -> dict[str, Any]:
    """Mattermost's Slack-compatible message: markdown ``text`` plus one colored attachment."""
    secs = _sections(answer, MATTERMOST)
    header = next((s.text for s in secs if s.kind == "header"), "")
    body = [s.text if s.kind != "context" else f"_{s.text}_" for s in secs if s.kind in ("text", "context")]
    lead = _lead(answer)
    confident = lead is not None and lead.confident
    color = "#2eb886" if confident else ("#daa038" if answer.reports else "#a0a0a0")
    text = "\n\n".join(body)
    attachment: dict[str, Any] = {
        "fallback": _headline(answer),
        "color": color,
        "title": header,
        "text": _clip(text, _MATTERMOST_MAX),
    }
    top = lead.top if lead is not None else None
    if top is not None and confident and top.bug.fixes and _SHA_RE.match(top.bug.fixes[0].sha.lower()):
        attachment["title_link"] = COMMIT_URL.format(sha=top.bug.fixes[0].sha.lower())
    return {"text": MATTERMOST.esc(_headline(answer)), "attachments": [attachment]}
