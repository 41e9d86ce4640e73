"""Upstream evidence in the score: a bug or report naming the top candidate's fix makes it confident,
a search hit alone never does, and upstream that fails or is still pending changes nothing.

The lookups go to the real HTTP replay server on 127.0.0.1 (``tests/upstream_server.py``) serving
``../shared/upstream-samples``: its bugzilla bug 299901 ("watchdog: BUG: soft lockup in
__fsnotify_update_child_dentry_flags") names commit 172e422ffea2 in a comment. The log is our own
console rendition of that bug's crash (``fixtures/upstream/``), whose title the parser takes from the
syscall ("BUG: soft lockup in sys_inotify_rm_watch"): the bug is the same kind of crash in the log's
top frame. The catalog is written here.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import FIXTURES, REPO, app_with, settings_with, shared_path
from upstream_server import ReplayServer, fixed, slow

from sigmatch.answer import Answer, analyze
from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.model import BugSignature, FixCommit, KnownBug, Origin
from sigmatch.cli import main
from sigmatch.match.evidence import (
    Found,
    PatchRef,
    UpstreamEvidence,
    UpstreamItem,
    crash_title,
    same_title,
    similar_title,
)
from sigmatch.match.matcher import Matcher
from sigmatch.runtime.chat.delivery import Delivery, with_upstream
from sigmatch.upstream.evidence import evidence_from
from sigmatch.upstream.http import MemoryCache, UpstreamClient, make_session
from sigmatch.upstream.lookup import lookup

LOG = (FIXTURES / "upstream" / "softlockup-parent-watched-6.1.102.log").read_text()
PARENT_FIX = "172e422ffea20a89bfdc672741c1aad6fbb5044e"
OTHER_FIX = "2" * 40

PARENT = KnownBug(
    id="parent-watched-softlockup", title="fsnotify: clear PARENT_WATCHED flags lazily", origin=Origin.CVE,
    kinds=("soft_lockup",),
    # an example from the other path into the function (a write under a watched directory)
    signatures=(BugSignature(title="BUG: soft lockup in __fsnotify_parent", kind="soft_lockup",
                             frames=("__fsnotify_update_child_dentry_flags", "__fsnotify_parent", "vfs_write")),),
    fixes=(FixCommit(sha=PARENT_FIX, subject="fsnotify: clear PARENT_WATCHED flags lazily", mainline="6.11"),),
    files=("fs/notify/fsnotify.c", "fs/notify/mark.c", "include/linux/fsnotify_backend.h"),
    functions=("__fsnotify_update_child_dentry_flags", "fsnotify_recalc_mask", "__fsnotify_parent"),
)
OTHER = KnownBug(
    id="inotify-rm-watch-leak", title="inotify: fix a mark leak in inotify_rm_watch", origin=Origin.CVE,
    kinds=("memory_leak",),
    fixes=(FixCommit(sha=OTHER_FIX, subject="inotify: fix a mark leak in inotify_rm_watch", mainline="6.12"),),
    files=("fs/notify/inotify/inotify_user.c", "fs/notify/mark.c"),
    functions=("inotify_rm_watch", "fsnotify_destroy_mark"),
)
# Unrelated bugs, so that the two above are as rare in the catalog as in a real one (the scores
# weigh what a report shares with a bug by its rarity).
FILLER = [KnownBug(id=f"filler-{i}", title=f"drv{i}: fix a leak in drv{i}_probe", origin=Origin.CVE,
                   fixes=(FixCommit(sha=f"{i + 1:040x}", subject=f"drv{i}: fix a leak in drv{i}_probe"),),
                   files=(f"drivers/misc/drv{i}.c", "fs/namei.c"), functions=(f"drv{i}_probe", "vfs_write"))
          for i in range(300)]
CATALOG = Catalog.of([PARENT, OTHER, *FILLER], version="evidence-test")


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher(CATALOG, freeze_gc=False)


@pytest.fixture
def replay() -> Iterator[ReplayServer]:
    with ReplayServer(shared_path("upstream-samples")) as s:
        yield s


def upstream_env(url: str, **over: Any) -> dict[str, str]:
    values: dict[str, Any] = {"SIGMATCH_LORE_URL": url, "SIGMATCH_BUGZILLA_URL": url, "SIGMATCH_SYZBOT_URL": url,
                              "SIGMATCH_STABLE_URL": url, "SIGMATCH_UPSTREAM_LOOKUP": "on",
                              "SIGMATCH_HTTP_TIMEOUT": 2.0, "SIGMATCH_RATE_LIMIT": 0.0,
                              "SIGMATCH_UPSTREAM_BUDGET": 5.0, **over}
    return {k: str(v) for k, v in values.items()}


def ask(url: str, answer: Answer, **over: Any) -> UpstreamEvidence:
    """The real lookup (HTTP to the replay server) about the report the answer leads with."""
    s = settings_with(upstream_env(url, **over))
    lead = answer.lead
    assert lead is not None
    c = UpstreamClient([url], timeout=2.0, cache=MemoryCache(), session=make_session(backoff=0.01))
    result = lookup(lead.report, settings=s, budget=s.upstream_budget, text=LOG, client=c)
    return evidence_from(result, report_index=lead.index, text=LOG)


# --------------------------------------------------------------------------- plain values, no I/O


def test_titles_compare_as_crash_titles() -> None:
    assert crash_title("Re: [syzbot] [fs?] possible deadlock in foo (2)") == "possible deadlock in foo"
    assert same_title("watchdog: BUG: soft lockup in f", ["BUG: soft lockup in f"])
    assert not same_title("BUG: soft lockup in f_other", ["BUG: soft lockup in f"])
    assert not same_title("", ["BUG: soft lockup in f"])


def test_a_similar_title_names_the_reports_top_frame(matcher: Matcher) -> None:
    from sigmatch.match.evidence import Crash
    from sigmatch.match.score import query_features
    from sigmatch.trace.parse import parse_log

    q = query_features(parse_log(LOG)[0])
    crash = Crash.of(q)
    assert q.titles[0] == "BUG: soft lockup in sys_inotify_rm_watch"
    assert similar_title("watchdog: BUG: soft lockup in __fsnotify_update_child_dentry_flags", crash)
    assert not similar_title("BUG: soft lockup in some_other_function", crash)
    assert not similar_title("possible deadlock in __fsnotify_update_child_dentry_flags", crash)


def evidence(*items: UpstreamItem, **kw: Any) -> UpstreamEvidence:
    return UpstreamEvidence(report_index=0, items=items, answered=("lore", "bugzilla", "syzbot"), **kw)


BUG_NAMING_FIX = UpstreamItem(source="bugzilla", kind="bug", ref="bug 299901", url="http://127.0.0.1/bug",
                              title="watchdog: BUG: soft lockup in __fsnotify_update_child_dentry_flags",
                              found=Found.SEARCH, commits=("172e422ffea2",))


def test_a_bug_about_this_crash_naming_the_fix_promotes(matcher: Matcher) -> None:
    before = analyze(LOG, matcher)
    after = analyze(LOG, matcher, evidence=evidence(BUG_NAMING_FIX))
    assert before.top is not None and before.top.bug.id == PARENT.id and not before.confident
    top = after.top
    assert top is not None and top.bug.id == PARENT.id and top.confident and top.rule.endswith("+upstream-fix")
    (use,) = top.upstream
    assert use.signal == "upstream_fix" and use.weight > 0 and use.promotes and use.url == "http://127.0.0.1/bug"
    assert "bugzilla bug 299901" in top.explanation and "172e422ffea2" in top.explanation
    assert f"({use.weight:+.2f}, http://127.0.0.1/bug)" in top.explanation  # the weight and the link
    assert top.signals["upstream_fix"] == use.weight and top.score > before.top.score
    assert any("made report 1's match confident" in n for n in after.notes)
    why = top.to_dict()["why"]
    assert why["upstream"][0]["ref"] == "bug 299901" and why["algorithm_version"] == top.algorithm_version


def test_a_search_hit_alone_never_promotes(matcher: Matcher) -> None:
    unrelated = UpstreamItem(source="bugzilla", kind="bug", ref="bug 1", url=None,
                             title="inotify: slow inotify_rm_watch on big directories", found=Found.SEARCH,
                             commits=("172e422ffea2",))
    patch = UpstreamItem(source="lore", kind="patch", ref="p@x", url=None,
                         title="fsnotify: clear PARENT_WATCHED flags lazily", found=Found.SEARCH)
    after = analyze(LOG, matcher, evidence=evidence(unrelated, patch))
    top = after.top
    assert top is not None and top.bug.id == PARENT.id and not top.confident
    assert {u.signal for u in top.upstream} == {"upstream_fix_search"} and not any(u.promotes for u in top.upstream)
    assert sum(u.weight for u in top.upstream) == matcher.evidence_weights.upstream_fix_search  # counted once


def test_evidence_for_the_runner_up_demotes_the_top(matcher: Matcher) -> None:
    thread = UpstreamItem(source="lore", kind="report", ref="r@x", url="http://127.0.0.1/r",
                          title="BUG: soft lockup in sys_inotify_rm_watch", found=Found.SEARCH,
                          patches=(PatchRef(subject="[PATCH v2] inotify: fix a mark leak in inotify_rm_watch",
                                            link="Closes: r@x"),))
    after = analyze(LOG, matcher, evidence=evidence(thread))
    by_id = {m.bug.id: m for m in after.matches}
    assert after.top is not None and after.top.bug.id == OTHER.id  # the thread's patch is its fix
    assert [u.signal for u in by_id[OTHER.id].upstream] == ["upstream_fix"]
    assert by_id[PARENT.id].upstream == ()  # a patch of another fix says nothing against it


def test_a_title_filed_again_ties_nothing(matcher: Matcher) -> None:
    again = UpstreamItem(source="syzbot", kind="bug", ref="syzbot x", url=None,
                         title="BUG: soft lockup in sys_inotify_rm_watch (2)", found=Found.SEARCH,
                         commits=(OTHER_FIX[:12],))
    after = analyze(LOG, matcher, evidence=evidence(BUG_NAMING_FIX, again))
    assert after.top is not None and not after.top.confident  # "X (2)": this title names several bugs
    assert {u.signal for u in after.top.upstream} == {"upstream_fix_search"}


def test_failed_and_pending_sources_change_nothing_and_say_so(matcher: Matcher) -> None:
    before = analyze(LOG, matcher)
    after = analyze(LOG, matcher, evidence=evidence(failed=(("lore", "HTTP 503"),), pending=("bugzilla",)))
    assert after.top is not None and before.top is not None
    assert (after.top.bug.id, after.top.score, after.confident) == (before.top.bug.id, before.top.score, False)
    assert any("lore could not say" in n and "nothing from it is counted" in n for n in after.notes)
    assert any("bugzilla still pending" in n for n in after.notes)


def test_evidence_travels_as_json() -> None:
    ev = evidence(BUG_NAMING_FIX, failed=(("lore", "503"),), pending=("syzbot",))
    assert UpstreamEvidence.from_dict(json.loads(json.dumps(ev.to_dict()))) == ev


# --------------------------------------------------------------------------- real lookups on 127.0.0.1


def test_the_samples_bugzilla_bug_naming_the_fix_promotes_the_candidate(matcher: Matcher,
                                                                       replay: ReplayServer) -> None:
    before = analyze(LOG, matcher)
    ev = ask(replay.url, before)
    bz = [i for i in ev.items if i.source == "bugzilla"]
    assert [(i.ref, i.commits) for i in bz] == [("bug 299901", ("172e422ffea2",))]
    after = analyze(LOG, matcher, evidence=ev)
    assert not before.confident and after.confident and after.top is not None and after.top.bug.id == PARENT.id
    use = next(u for u in after.top.upstream if u.source == "bugzilla")
    assert use.url == f"{replay.url}/show_bug.cgi?id=299901" and use.promotes
    # the lore thread the search found (a deadlock answered by another patch) adds nothing for it
    assert all(u.source != "lore" for u in after.top.upstream)


def test_a_search_hit_from_upstream_does_not_promote(matcher: Matcher, replay: ReplayServer) -> None:
    doc = json.loads(shared_path("upstream-samples", "bugzilla", "rest-bug-search.json").read_text())
    doc["bugs"][0]["summary"] = "inotify: removing a watch is slow on a directory with many dentries"
    replay.route("/rest/bug", fixed(200, json.dumps(doc), "application/json"), query={"limit": "10"})
    before = analyze(LOG, matcher)
    after = analyze(LOG, matcher, evidence=ask(replay.url, before))
    assert after.top is not None and after.top.bug.id == PARENT.id and not after.confident
    assert [u.signal for u in after.top.upstream] == ["upstream_fix_search"]


@pytest.mark.parametrize("fault", ["503", "bot wall", "refused"])
def test_failing_upstream_changes_nothing(matcher: Matcher, replay: ReplayServer, fault: str) -> None:
    from upstream_server import BOT_WALL_HTML

    url = replay.url
    if fault == "503":
        replay.route("/", fixed(503, "<html><body>Service Unavailable</body></html>"))
    elif fault == "bot wall":
        replay.route("/", fixed(200, BOT_WALL_HTML))
    else:
        url = "http://127.0.0.1:1"  # nothing listens there
    before = analyze(LOG, matcher)
    after = analyze(LOG, matcher, evidence=ask(url, before))
    assert after.top is not None and before.top is not None
    assert (after.top.bug.id, after.top.score, after.top.confident) == (before.top.bug.id, before.top.score, False)
    assert after.top.upstream == ()
    assert any("could not say" in n and "is counted" in n for n in after.notes)


def test_the_api_answer_folds_in_upstream_and_the_job_updates_it(tmp_path: Path, replay: ReplayServer) -> None:
    replay.route("/rest/bug", slow(1.5, fixed(200, shared_path("upstream-samples", "bugzilla",
                                                                "rest-bug-search.json").read_bytes(),
                                               "application/json")), query={"limit": "10"})
    app = app_with({"CATALOG": CATALOG, "SIGMATCH_DATA_DIR": str(tmp_path),
                    **upstream_env(replay.url, SIGMATCH_UPSTREAM_BUDGET=0.5)})
    client = app.test_client()
    body = client.post("/api/v1/match", data=LOG, content_type="text/plain").get_json()
    # bugzilla is still answering when the budget runs out: the answer is the catalog's, and says so
    assert body["matches"][0]["bug_id"] == PARENT.id and not body["confident"]
    assert "bugzilla" in body["upstream"]["pending"] and body["upstream"]["job_url"]
    assert any("bugzilla still pending" in n for n in body["notes"])
    job: dict[str, Any] = {}
    for _ in range(200):
        job = client.get(body["upstream"]["job_url"]).get_json()
        if job["status"] in ("finished", "failed"):
            break
        time.sleep(0.05)
    assert job["status"] == "finished", job
    update = job["result"]
    assert update["changed"] and update["top"] == {"bug_id": PARENT.id, "confident": True}
    top = update["answer"]["matches"][0]
    assert top["confident"] and top["why"]["upstream"][0]["ref"] == "bug 299901"
    assert top["fixes"][0]["url"] == f"https://git.kernel.org/linus/{PARENT_FIX}"
    assert "reports" not in update["answer"] and [b["id"] for b in update["bugzilla"]] == [299901]
    # the job's answers are in the cache now: the same log again is answered completely at once
    again = client.post("/api/v1/match", data=LOG, content_type="text/plain").get_json()
    assert again["confident"] and not again["upstream"]["pending"]


def test_the_page_explains_the_upstream_evidence(tmp_path: Path, replay: ReplayServer) -> None:
    app = app_with({"CATALOG": CATALOG, "SIGMATCH_DATA_DIR": str(tmp_path), **upstream_env(replay.url)})
    page = app.test_client().post("/", data={"trace": LOG}, follow_redirects=True).get_data(as_text=True)
    assert "Known bug" in page and "bugzilla bug 299901" in page


def test_the_chat_reply_folds_in_upstream(matcher: Matcher, replay: ReplayServer) -> None:
    s = settings_with(upstream_env(replay.url, SIGMATCH_CHAT_UPSTREAM_BUDGET=5.0))
    d = Delivery.from_settings(s)

    def answer(text: str, evidence: UpstreamEvidence | None = None) -> Answer:
        return analyze(text, matcher, evidence=evidence)

    replied = with_upstream(answer(LOG), LOG, d, answer)
    assert replied.confident and replied.upstream["bugzilla"][0]["id"] == 299901


def test_cli_match_upstream(tmp_path: Path, replay: ReplayServer, monkeypatch: pytest.MonkeyPatch,
                            capsys: pytest.CaptureFixture[str]) -> None:
    sigs = tmp_path / "signatures"  # the curated entries and one more: the bug of the log
    shutil.copytree(REPO / "signatures", sigs)
    (sigs / "parent-watched-softlockup.yaml").write_text(
        "id: parent-watched-softlockup\ntitle: 'fsnotify: clear PARENT_WATCHED flags lazily'\n"
        "summary: test fixture.\nkinds: [soft_lockup]\n"
        f"fixes:\n- sha: {PARENT_FIX}\n  subject: 'fsnotify: clear PARENT_WATCHED flags lazily'\n"
        "  mainline: '6.11'\n  source: test fixture\n"
        "signatures:\n- title: 'BUG: soft lockup in __fsnotify_parent'\n  kind: soft_lockup\n"
        "  frames: [__fsnotify_update_child_dentry_flags, __fsnotify_parent, vfs_write]\n"
        "files: [fs/notify/fsnotify.c, fs/notify/mark.c]\n"
        "functions: [__fsnotify_update_child_dentry_flags, fsnotify_recalc_mask, __fsnotify_parent]\n")
    log = tmp_path / "crash.log"
    log.write_text(LOG)
    monkeypatch.setenv("SIGMATCH_SIGNATURES_DIR", str(sigs))
    monkeypatch.setenv("SIGMATCH_DATA_DIR", str(tmp_path / "data"))
    for k, v in upstream_env(replay.url).items():
        monkeypatch.setenv(k, v)
    assert main(["match", "--json", str(log)]) == 0
    plain = json.loads(capsys.readouterr().out)
    assert not plain["confident"] and plain["upstream_evidence"] is None and not replay.requests
    assert main(["match", "--json", "--upstream", str(log)]) == 0
    folded = json.loads(capsys.readouterr().out)
    assert folded["confident"] and folded["upstream_evidence"]["report_index"] == 0
    assert folded["matches"][0]["why"]["upstream"][0]["ref"] == "bug 299901"
    assert main(["match", "--upstream", str(log)]) == 0
    text = capsys.readouterr().out
    assert "Known bug: parent-watched-softlockup" in text and "bugzilla bug 299901" in text
    assert "upstream asked: lore" in text
    assert main(["lookup", str(log)]) == 0
    text = capsys.readouterr().out
    assert "without upstream: parent-watched-softlockup" in text and "with upstream:    parent-watched-softlockup" in text
    assert ", confident (" in text.split("with upstream:", 1)[1].splitlines()[0]
    monkeypatch.setenv("SIGMATCH_UPSTREAM_LOOKUP", "off")
    n = len(replay.requests)
    assert main(["match", "--upstream", str(log)]) == 0
    assert "SIGMATCH_UPSTREAM_LOOKUP=off" in capsys.readouterr().out and len(replay.requests) == n

