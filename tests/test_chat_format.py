"""Rendering an Answer for Slack (Block Kit) and Mattermost: pure values in, messages out."""

from __future__ import annotations

import json

import pytest

from sigmatch.answer import Answer
from sigmatch.catalog.model import (
    BugSignature,
    FixCommit,
    KernelVersion,
    KnownBug,
    Reference,
    StableFix,
    Status,
    Verdict,
)
from sigmatch.match.model import Match
from sigmatch.runtime.chat import format as fmt
from sigmatch.trace.model import Kind, Report

FIX = "d90a10e2444ba5a351fa695917258ff4c5709fa5"
BUG = KnownBug(
    id="fsnotify-mark-connector-race",
    title="BUG: soft lockup in fsnotify",
    signatures=(BugSignature(title="BUG: soft lockup in fsnotify", frames=("fsnotify", "vfs_write")),),
    fixes=(FixCommit(FIX, "fsnotify: Fix fsnotify_mark_connector race", "4.17"),),
    stable=(StableFix("4.16", "4.16.5"),),
    references=(Reference("bugzilla", "199437"), Reference("url", "https://www.example.org/post")),
)
REPORT = Report(kind=Kind.SOFT_LOCKUP, title="BUG: soft lockup in fsnotify",
                kernel_version="4.14.32-1.el7.x86_64", comm="kube-apiserver")
KERNEL = KernelVersion(raw="4.14.32-1.el7.x86_64", major=4, minor=14, patch=32, distro="el7")
AFFECTED = Verdict(Status.AFFECTED, "4.14.32-1.el7.x86_64", "4.14", "4.16.5", "4.16",
                   "4.14.32 predates the fix", caveat="a distribution kernel: check its changelog")


def answer(*, confident: bool = True, verdict: Verdict | None = AFFECTED, reports: tuple[Report, ...] = (REPORT,),
           bug: KnownBug = BUG, upstream: dict[str, object] | None = None) -> Answer:
    match = Match(bug=bug, score=0.81, confident=confident, rule="t:title" if confident else "frames:below-threshold",
                  matched_frames=("fsnotify", "vfs_write"), verdict=verdict,
                  explanation="same title (+2.10), similar frame sequence (+1.46)")
    return Answer(reports, None, (match,) if reports else (), KERNEL, "rules-1", "match-1", "cat-1",
                  upstream=upstream or {})


def blocks_text(msg: dict[str, object]) -> str:
    return json.dumps(msg)


def test_confident_answer_names_the_fix_as_the_kernel_writes_it() -> None:
    msg = fmt.slack_message(answer())
    blocks = msg["blocks"]
    assert isinstance(blocks, list)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "emoji": True,
                                                    "text": "Known bug: BUG: soft lockup in fsnotify"}}
    text = blocks_text(msg)
    assert f"<https://git.kernel.org/linus/{FIX}|d90a10e2444b>" in text
    assert '(\\"fsnotify: Fix fsnotify_mark_connector race\\")' in text
    assert "first in mainline v4.17" in text
    assert "confident, score 81%" in text
    assert "*affected*" in text and "Install *4.16.5* or later" in text
    assert "a distribution kernel" in text
    assert "*Why*: same title" in text
    assert "bugzilla 199437" in text
    assert "<https://www.example.org/post|example.org>" in text
    assert "d90a10e2444b" in str(msg["text"])  # notification fallback names the fix too


def test_block_kit_limits_hold() -> None:
    long_title = "BUG: soft lockup in " + "x" * 5000
    bug = KnownBug(id="b", title=long_title, fixes=(FixCommit(FIX, "s" * 5000),))
    msg = fmt.slack_message(answer(bug=bug))
    blocks = msg["blocks"]
    assert isinstance(blocks, list) and len(blocks) <= 50
    for b in blocks:
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150
        if b["type"] == "section":
            assert len(b["text"]["text"]) <= 3000
    assert len(str(msg["text"])) <= 4000


def test_no_confident_match_says_what_to_do() -> None:
    msg = fmt.slack_message(answer(confident=False))
    text = blocks_text(msg)
    assert "No confident match" in text
    assert "*Closest*: BUG: soft lockup in fsnotify (not confident, score 81%)" in text
    assert "*What to do*" in text
    assert "<https://lore.kernel.org/all/?q=BUG%3A+soft+lockup+in+fsnotify|search lore.kernel.org>" in text
    assert "Known bug" not in text


def test_no_crash_found() -> None:
    msg = fmt.slack_message(answer(reports=()))
    assert "No kernel crash report found" in blocks_text(msg)
    mm = fmt.mattermost_message(answer(reports=()))
    assert "No kernel crash report found" in mm["attachments"][0]["title"]


@pytest.mark.parametrize("status,words", [
    (Status.FIXED, "already carries the fix (since 4.14.40)"),
    (Status.NOT_AFFECTED, "predates the change that introduced"),
    (Status.UNKNOWN, "cannot tell whether it carries the fix"),
])
def test_each_verdict_reads_right(status: Status, words: str) -> None:
    v = Verdict(status, "4.14.50", "4.14", "4.14.40", "4.14", "because")
    assert words in blocks_text(fmt.slack_message(answer(verdict=v)))


def test_without_a_verdict_the_stable_releases_are_listed() -> None:
    text = blocks_text(fmt.slack_message(answer(verdict=None)))
    assert "The fix is in" in text or "stable releases with the fix: 4.16: 4.16.5" in text


def test_hostile_text_is_escaped_for_slack() -> None:
    bug = KnownBug(id="<!channel>", title="WARNING in <!everyone> & <http://evil|click>",
                   fixes=(FixCommit(FIX, "x: <@U123> ping"),))
    msg = fmt.slack_message(answer(bug=bug))
    # mrkdwn is where Slack reads <!everyone>, <@U..> and <url|text>; header blocks are plain_text
    mrkdwn = [str(msg["text"])]
    for b in msg["blocks"]:  # type: ignore[union-attr]
        if b["type"] == "section":
            mrkdwn.append(b["text"]["text"])
        if b["type"] == "context":
            mrkdwn.extend(e["text"] for e in b["elements"])
    text = "\n".join(mrkdwn)
    assert "<!channel>" not in text and "<!everyone>" not in text and "<@U123>" not in text
    assert "&lt;!everyone&gt; &amp; &lt;http://evil|click&gt;" in text


def test_bad_sha_is_not_linked() -> None:
    bug = KnownBug(id="b", title="t", fixes=(FixCommit("not-a-sha|<x>", "s"),))
    text = blocks_text(fmt.slack_message(answer(bug=bug)))
    assert "git.kernel.org" not in text


def test_upstream_reports_are_shown_when_present() -> None:
    up = {"reports": [{"subject": "soft lockup in fsnotify", "url": "https://lore.kernel.org/all/a@b/"}],
          "bugzilla": [{"id": 199437, "summary": "soft lockups", "url": "https://bugzilla.kernel.org/show_bug.cgi?id=199437"}],
          "patches": "not a list"}
    text = blocks_text(fmt.slack_message(answer(upstream=up)))
    assert "*Upstream reports*" in text
    assert "<https://lore.kernel.org/all/a@b/|report: soft lockup in fsnotify>" in text


def test_mattermost_message_is_slack_compatible_markdown() -> None:
    msg = fmt.mattermost_message(answer())
    (att,) = msg["attachments"]
    assert att["color"] == "#2eb886"
    assert att["title"] == "Known bug: BUG: soft lockup in fsnotify"
    assert att["title_link"] == f"https://git.kernel.org/linus/{FIX}"
    assert f"[d90a10e2444b](https://git.kernel.org/linus/{FIX})" in att["text"]
    assert "**affected**" in att["text"]
    assert "d90a10e2444b" in att["fallback"]


def test_mattermost_escapes_markdown_in_untrusted_text() -> None:
    bug = KnownBug(id="b", title="t", fixes=(FixCommit(FIX, "x: [click](http://evil) *bold*"),))
    att = fmt.mattermost_message(answer(bug=bug))["attachments"][0]
    assert "[click](http://evil)" not in att["text"]
    assert "\\[click\\]" in att["text"]
