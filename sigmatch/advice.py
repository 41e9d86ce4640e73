"""What an answer tells a person: the one place for the words every surface uses.

The CLI, the web page, the API's ``advice``/``summary`` fields and the chat reply all say the same
things in the same way, and none of them overstates:

* a match that is **not confident** is a "possible match": its version facts are conditional
  ("if this is that bug, ...") and it never says "affected" or "install";
* a kernel that already carries the fix is told "fixed in your kernel" and is never told to
  install anything (:attr:`~sigmatch.catalog.model.Verdict.install` is only set for ``affected``);
* only a confident match on a kernel that lacks the fix says "affected: install X or later";
* a distribution kernel is judged by its vendor changelog when one was recorded ("carries the fix
  per its vendor changelog"), else by its upstream base, and the words say so: the vendor may have
  backported the fix, and where the vendor's numbering hides the base's sublevel nothing sure is
  said either way (:func:`sigmatch.catalog.versions.verdict`).

Pure: values in, strings out. Imports no web, Redis or HTTP code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sigmatch.catalog.model import Status, Verdict
from sigmatch.match.model import Match
from sigmatch.trace.model import Report

if TYPE_CHECKING:
    from sigmatch.answer import Answer, ReportAnswer

__all__ = ["Advice", "advise", "answer_summary", "report_line", "report_state"]


@dataclass(frozen=True, slots=True)
class Advice:
    """What one match means for the kernel in the log, in words.

    ``badge`` is a small fixed vocabulary a renderer maps to colors: ``affected`` (only for a
    confident match on a kernel without the fix), ``fixed``, ``not_affected``, ``unknown``,
    ``possible`` (any match that is not confident).
    """

    status: str  # the verdict status, or "unknown" without a verdict
    badge: str
    label: str  # a few words: "affected", "fixed in your kernel", "possible match", ...
    headline: str  # one sentence
    install: str | None  # the release to install: only for a confident match on an affected kernel
    conditional: bool  # True when the match is not confident: the version facts hold only if it is that bug

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "badge": self.badge, "label": self.label, "headline": self.headline,
                "install": self.install, "conditional": self.conditional}


def _where(v: Verdict) -> str:
    """`` (mainline)`` / `` (on branch 5.10)`` when the release is not on the running branch."""
    if not v.fixed_branch or v.fixed_branch == v.branch:
        return ""
    if v.fixed_branch == "mainline":
        return " (mainline)"
    return f" (on branch {v.fixed_branch})"


def _since(v: Verdict) -> str:
    if not v.first_fixed:
        return ""
    if v.fixed_branch == "mainline":
        return f" (in mainline since {v.first_fixed})"
    return f" (since {v.first_fixed})"


def advise(match: Match) -> Advice:
    """The words for ``match`` and its verdict (see the module docstring for the rules)."""
    v = match.verdict
    if match.confident:
        return _confident(v)
    return _possible(v)


def _kernel(v: Verdict | None) -> str:
    return f"your kernel {v.running}" if v is not None and v.running else "your kernel"


def _listed(v: Verdict) -> str:
    """``CVE-2024-49881, listed from build 4.18.0-540.el8 on``: the vendor changelog's word, without its source."""
    return (v.vendor_fix or "").split(" (", 1)[0]


def _vendor_confident(v: Verdict, k: str) -> Advice | None:
    """The words for a distribution kernel whose verdict rests on its vendor changelog or its base."""
    if v.vendor is None:
        return None
    if v.status is Status.FIXED and v.vendor_fix:
        return Advice(v.status.value, "fixed", "fixed in your kernel",
                      f"Fixed in your kernel: {k} carries the fix per its vendor changelog ({_listed(v)}); if it "
                      "still crashes like this, it is probably another bug.", None, False)
    if v.status is Status.AFFECTED and v.vendor_fix and v.install:
        return Advice(v.status.value, "affected", "affected",
                      f"{k.capitalize()} is affected: its vendor changelog lists the fix from build {v.install} on; "
                      f"install {v.install} or later.", v.install, False)
    if v.status is Status.AFFECTED and v.install:
        return Advice(v.status.value, "affected", "affected",
                      f"{k.capitalize()} is affected: it is based on upstream {v.base}, which lacks the fix; install "
                      f"{v.install} or later{_where(v)}, or a vendor build based on it (the vendor may have "
                      "backported the fix: check its changelog).", v.install, False)
    if v.status is Status.UNKNOWN and v.base_status is Status.AFFECTED:
        return Advice(v.status.value, "unknown", "cannot tell",
                      f"It cannot be told whether {k} carries the fix: its upstream base {v.base} lacks it, and "
                      f"{v.vendor} may have backported it" + (f"; the fix is in {v.first_fixed}{_where(v)}"
                                                              if v.first_fixed else "")
                      + ". Check its changelog, or give it to `sigmatch refresh --vendor-changelog`.", None, False)
    if v.status is Status.UNKNOWN and v.base_status is Status.NOT_AFFECTED:
        return Advice(v.status.value, "unknown", "cannot tell",
                      f"It cannot be told whether {k} has this bug: its upstream base {v.base} predates it, but "
                      f"{v.vendor} backports code into its kernels.", None, False)
    if v.status is Status.UNKNOWN and v.vendor_fix:
        return Advice(v.status.value, "unknown", "cannot tell",
                      f"It cannot be told whether {k} carries the fix: its vendor changelog lists it "
                      f"({_listed(v)}), and the version does not say which build this is.", None, False)
    return None


def _vendor_possible(v: Verdict, k: str) -> Advice | None:
    """The conditional words for a distribution kernel (a match that is not confident)."""
    if v.vendor is None:
        return None
    if v.status is Status.FIXED and v.vendor_fix:
        return Advice(v.status.value, "possible", "fixed in your kernel",
                      f"Fixed in your kernel: if this is that bug, {k} carries its fix per its vendor changelog "
                      f"({_listed(v)}), so this crash is more likely something else.", None, True)
    if v.status is Status.AFFECTED and v.vendor_fix and v.first_fixed:
        return Advice(v.status.value, "possible", "possible match",
                      f"If this is that bug, {k} does not carry its fix: its vendor changelog lists it from build "
                      f"{v.first_fixed} on.", None, True)
    if v.status is Status.AFFECTED and v.first_fixed:
        return Advice(v.status.value, "possible", "possible match",
                      f"If this is that bug, {k} (based on upstream {v.base}) does not carry its upstream fix unless "
                      f"its vendor backported it; {v.first_fixed}{_where(v)} and later releases do.", None, True)
    if v.status is Status.UNKNOWN and v.base_status in (Status.AFFECTED, Status.NOT_AFFECTED):
        what = ("its upstream base {b} lacks the fix, and {vendor} may have backported it"
                if v.base_status is Status.AFFECTED else
                "its upstream base {b} predates the bug, but {vendor} backports code into its kernels")
        return Advice(v.status.value, "possible", "possible match",
                      f"If this is that bug, it cannot be told whether {k} carries its fix: "
                      + what.format(b=v.base, vendor=v.vendor)
                      + (f"; the fix is in {v.first_fixed}{_where(v)}" if v.first_fixed else "") + ".", None, True)
    return None


def _confident(v: Verdict | None) -> Advice:
    k = _kernel(v)
    if v is not None and (vendor := _vendor_confident(v, k)) is not None:
        return vendor
    if v is None:
        return Advice("unknown", "unknown", "cannot tell", "No kernel version is known, so there is no verdict.",
                      None, False)
    if v.status is Status.AFFECTED:
        install = v.install or v.first_fixed
        if install:
            text = f"{k.capitalize()} is affected: install {install} or later{_where(v)}."
        else:
            text = f"{k.capitalize()} is affected, and no release with the fix is known yet."
        return Advice(v.status.value, "affected", "affected", text, install, False)
    if v.status is Status.FIXED:
        return Advice(v.status.value, "fixed", "fixed in your kernel",
                      f"Fixed in your kernel: {k} already carries the fix{_since(v)}; if it still crashes "
                      "like this, it is probably another bug.", None, False)
    if v.status is Status.NOT_AFFECTED:
        return Advice(v.status.value, "not_affected", "not affected",
                      f"Not affected: {k} predates this bug.", None, False)
    if not v.running:
        text = "No kernel version was found in the log, so it cannot be told whether it carries the fix"
    else:
        text = f"It cannot be told whether {k} carries the fix"
    if v.first_fixed:
        text += f"; the fix is in {v.first_fixed}{_where(v)}"
    return Advice(v.status.value, "unknown", "cannot tell", text + ".", None, False)


def _possible(v: Verdict | None) -> Advice:
    k = _kernel(v)
    if v is not None and (vendor := _vendor_possible(v, k)) is not None:
        return vendor
    if v is None:
        return Advice("unknown", "possible", "possible match", "Possible match (not confident); no kernel version "
                      "is known.", None, True)
    if v.status is Status.AFFECTED:
        if v.first_fixed:
            text = (f"If this is that bug, {k} does not carry its fix; {v.first_fixed}{_where(v)} and later "
                    "releases do.")
        else:
            text = f"If this is that bug, {k} has it and no release with its fix is known yet."
        return Advice(v.status.value, "possible", "possible match", text, None, True)
    if v.status is Status.FIXED:
        return Advice(v.status.value, "possible", "fixed in your kernel",
                      f"Fixed in your kernel: if this is that bug, {k} already carries its fix{_since(v)}, so "
                      "this crash is more likely something else.", None, True)
    if v.status is Status.NOT_AFFECTED:
        return Advice(v.status.value, "possible", "possible match",
                      f"If this is that bug, {k} predates it, so this crash is more likely something else.",
                      None, True)
    if v.running:
        text = f"If this is that bug, it cannot be told whether {k} carries its fix"
    else:
        text = "If this is that bug: no kernel version was found in the log to compare with its fix"
    if v.first_fixed:
        text += f"; the fix is in {v.first_fixed}{_where(v)}"
    return Advice(v.status.value, "possible", "possible match", text + ".", None, True)


# ------------------------------------------------------------------------------------ the report itself


def report_state(report: Report) -> str | None:
    """What to know about the report itself before reading its matches, in one sentence: the crash
    is in an out-of-tree module (whose maintainers are the ones to tell), the report is corrupted
    (its matches are suggestions at best) or cut short (matched on what it holds). None for a
    complete in-tree report."""
    module = report.out_of_tree
    if module:
        return (f"The crash is in the out-of-tree module {module}, not in the kernel's own code: report it to "
                f"{module}'s maintainers. The catalog holds in-tree kernel bugs, so no in-tree fix is suggested "
                "with confidence for it.")
    if report.corrupted:
        why = f" ({report.corrupted_reason})" if report.corrupted_reason else ""
        return f"This report is corrupted{why}: any match is a suggestion, never an answer."
    if report.truncated:
        why = f" ({report.truncated_reason})" if report.truncated_reason else ""
        return f"This report is cut short{why}: it is matched on what it holds."
    return None


# ------------------------------------------------------------------------------------ summaries


def report_line(ra: ReportAnswer) -> str:
    """One line for one answered report: ``report 2 (BUG: soft lockup in fsnotify): known bug X, fix Y``."""
    head = f"report {ra.index + 1} ({ra.report.title})"
    top = ra.top
    if top is None:
        return f"{head}: no known bug matches"
    if top.confident:
        fix = f" (fix {top.bug.fixes[0].short})" if top.bug.fixes else ""
        return f"{head} is known bug {top.bug.id}{fix}"
    return f"{head}: no confident match (possible match {top.bug.id}, score {top.score:.2f})"


def answer_summary(answer: Answer) -> str:
    """The answer in a sentence or two, the confident reports named first."""
    if not answer.reports:
        return "No kernel crash report found in this log."
    answered = answer.ordered
    if not answered:  # pragma: no cover - every log with reports has at least one answered report
        return "No crash report could be answered."
    if len(answered) == 1:
        ra = answered[0]
        top = ra.top
        title = ra.report.title
        if top is None:
            text = f"No known bug matches {title}."
        elif top.confident:
            fix = f" (fix {top.bug.fixes[0].short})" if top.bug.fixes else ""
            text = f"{title} is known bug {top.bug.id}{fix}."
        else:
            text = f"No confident match for {title}; possible match: {top.bug.id} (score {top.score:.2f})."
        repeats = len(answer.reports) - 1
        if repeats:
            text += f" The log holds {repeats} more report{'s' if repeats > 1 else ''} of the same crash."
        return text
    known = [ra for ra in answered if ra.confident]  # leading ones first (Answer.ordered)
    rest = [ra for ra in answered if not ra.confident]
    parts = [f"{len(answer.reports)} crash reports in this log"
             + (f" ({len(answered)} distinct)" if len(answered) != len(answer.reports) else "") + "."]
    if known:
        parts.append("Known: " + "; ".join(report_line(ra) for ra in known) + ".")
    if rest:
        parts.append("No confident match: " + ", ".join(f"report {ra.index + 1} ({ra.report.title})"
                                                         for ra in rest) + ".")
    return " ".join(parts)
