"""bugzilla REST, syzbot JSON and stable ChangeLog clients: real sample formats and our own fixtures,
served from 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from conftest import shared_path
from upstream_server import ReplayServer, fixed

from sigmatch.errors import UpstreamError
from sigmatch.upstream.bugzilla import Bugzilla, bugs_from_json, comments_from_json, mentions
from sigmatch.upstream.http import UpstreamClient, make_session
from sigmatch.upstream.stable import Stable, branch_of, changelog_path, parse_changelog
from sigmatch.upstream.syzbot import Syzbot, bug_from_json, bugs_from_group

EXTID = "c679f13773f295d2da53"

# Our own ChangeLog in kernel.org's format (git log, medium): both upstream-reference forms.
OWN_CHANGELOG = """commit aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
Author: Greg Kroah-Hartman <gregkh@linuxfoundation.org>
Date:   Thu Jan 2 10:00:00 2025 +0100

    Linux 6.6.70

commit bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
Author: A Fixer <f@example.com>
Date:   Mon Dec 30 10:00:00 2024 +0100

    subsys: fix soft lockup in foo_bar

    [ Upstream commit 0123456789abcdef0123456789abcdef01234567 ]

    Body.

commit cccccccccccccccccccccccccccccccccccccccc
Author: B Fixer <b@example.com>
Date:   Mon Dec 30 11:00:00 2024 +0100

    other: fix a leak

    commit 89abcdef0123456789abcdef0123456789abcdef upstream.
"""


@pytest.fixture
def srv() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        yield s


def client(url: str) -> UpstreamClient:
    return UpstreamClient([url], timeout=1.0, session=make_session(backoff=0.01))


# --------------------------------------------------------------------------- bugzilla


def test_bugzilla_sample_shapes() -> None:
    d = shared_path("upstream-samples", "bugzilla")
    (bug,) = bugs_from_json(json.loads((d / "rest-bug-search.json").read_text()), "http://bz")
    assert bug.id == 299901 and bug.url == "http://bz/show_bug.cgi?id=299901"
    assert (bug.kernel_version, bug.regression, bug.tree, bug.status, bug.is_open) == (
        "6.1.102", "No", "Mainline", "RESOLVED", False)
    comments = comments_from_json(json.loads((d / "rest-bug-comment.json").read_text()), 299901)
    commits, fixed_in = mentions(comments, "bugzilla:299901")
    assert [(c.sha, c.subject) for c in commits] == [("172e422ffea2", "fsnotify: clear PARENT_WATCHED flags lazily")]
    assert fixed_in == ("6.11", "6.1.109")
    assert comments_from_json(json.loads((d / "rest-bug-search.json").read_text()), 299901) == []


def test_bugzilla_client_search_comments_and_errors() -> None:
    with ReplayServer(shared_path("upstream-samples")) as s:
        bz = Bugzilla(client(s.url), s.url)
        (bug,) = bz.search("fsnotify_destroy_mark")
        assert "quicksearch=ALL%20fsnotify_destroy_mark" in s.requests[0]
        full = bz.with_comments(bug)
        assert full.commits[0].sha == "172e422ffea2" and "6.1.109" in full.fixed_in
        assert bz.bug(299901) is not None
        assert bz.bug(999999999) is None  # code 101, HTTP 404


def test_bugzilla_bad_answers(srv: ReplayServer) -> None:
    bz = Bugzilla(client(srv.url), srv.url)
    srv.route("/rest/bug", fixed(200, '{"bugs": [{"id": "x"}, {"id": -1}, 5, {"id": 7, "summary": "\\u001b[2Jhi"}]}',
                                 "application/json"))
    (bug,) = bz.search("x")
    assert bug.id == 7 and bug.summary == "[2Jhi"
    srv.route("/rest/bug", fixed(200, '{"bugs": [', "application/json"))
    with pytest.raises(UpstreamError, match="not JSON"):
        bz.search("x")
    srv.route("/rest/bug", fixed(400, '{"error": true, "code": 32000, "message": "bad"}', "application/json"))
    with pytest.raises(UpstreamError, match="refused the search"):
        bz.search("x")
    srv.route("/rest/bug", fixed(200, '{"faults": []}', "application/json"))
    with pytest.raises(UpstreamError, match="unreadable"):
        bz.search("x")


def test_fixed_in_mentions() -> None:
    commits, rel = mentions(["This is fixed in v6.8 and backported to 6.6.20 and 6.1.80.",
                             "Merged for 6.9-rc1; see commit 0123456789abcdef0123456789abcdef01234567."], "t")
    assert rel == ("6.8", "6.6.20", "6.1.80", "6.9-rc1")
    assert commits[0].sha == "0123456789abcdef0123456789abcdef01234567"


# --------------------------------------------------------------------------- syzbot


def test_syzbot_sample_shapes() -> None:
    d = shared_path("upstream-samples", "syzbot")
    open_bug = bug_from_json(json.loads((d / f"bug-extid-{EXTID}.json").read_text()), "http://syz", EXTID)
    assert open_bug is not None and open_bug.status == "open" and open_bug.fix_commits == ()
    assert open_bug.url == f"http://syz/bug?extid={EXTID}"
    assert open_bug.discussions == ("https://lore.kernel.org/all/000000000000ae63710620417f67@google.com/T/",)
    fixed_bug = bug_from_json(json.loads((d / "bug-fixed-example.json").read_text()), "http://syz", EXTID)
    assert fixed_bug is not None and fixed_bug.status == "fixed"
    assert fixed_bug.fix_commits[0].subject == "fsnotify: example: fix mark_mutex vs fs_reclaim deadlock"
    assert fixed_bug.cause_commit is not None and fixed_bug.cause_commit.sha == "1" * 40
    group = bugs_from_group(json.loads((d / "upstream-fixed-group.json").read_text()), "http://syz")
    assert [b.extid for b in group] == [EXTID, "0123456789abcdef0123"]
    assert bug_from_json(["not", "a", "bug"], "http://syz") is None


def test_syzbot_client(srv: ReplayServer) -> None:
    doc = {"version": 1, "title": "WARNING in foo", "fix-commits": [{"title": "foo: fix", "hash": "ab" * 20}],
           "discussions": ["javascript:alert(1)", "https://lore.kernel.org/all/x@y/T/"]}
    srv.route("/bug", fixed(200, json.dumps(doc), "application/json"))
    syz = Syzbot(client(srv.url), srv.url)
    bug = syz.bug("0123456789abcdef0123")
    assert bug is not None and bug.fix_commits[0].sha == "ab" * 20 and bug.discussions == (
        "https://lore.kernel.org/all/x@y/T/",)
    assert srv.requests == ["/bug?extid=0123456789abcdef0123&json=1"]
    assert syz.bug("../../etc/passwd") is None  # not an extid: never asked
    assert len(srv.requests) == 1


# --------------------------------------------------------------------------- stable


def test_changelog_paths_and_parse() -> None:
    assert changelog_path("6.1.109") == "v6.x/ChangeLog-6.1.109"
    assert changelog_path("4.14.38") == "v4.x/ChangeLog-4.14.38"
    assert changelog_path("2.6.32.1") == "v2.6/ChangeLog-2.6.32.1"
    assert changelog_path("6.11") is None and changelog_path("../../x") is None
    assert branch_of("6.1.109") == "6.1"
    entries = parse_changelog(OWN_CHANGELOG)
    assert [e.upstream_sha for e in entries] == [None, "0123456789abcdef0123456789abcdef01234567",
                                                 "89abcdef0123456789abcdef0123456789abcdef"]
    assert entries[1].subject == "subsys: fix soft lockup in foo_bar"


def test_stable_sample_changelog() -> None:
    text = shared_path("upstream-samples", "stable", "ChangeLog-6.1.109.excerpt").read_text()
    e = {x.upstream_sha: x for x in parse_changelog(text)}
    assert e["172e422ffea20a89bfdc672741c1aad6fbb5044e"].stable_sha.startswith("d8c42405fc35")
    assert "2222222222222222222222222222222222222222" in e


def test_first_release_per_branch_with_bounded_fetches(srv: ReplayServer) -> None:
    srv.route("/pub/v6.x/ChangeLog-6.6.70", fixed(200, OWN_CHANGELOG, "text/plain"))
    srv.route("/pub/v6.x/ChangeLog-6.6.69", fixed(200, OWN_CHANGELOG.replace("0123456789ab", "ffffffffffff"), "text/plain"))
    srv.route("/pub/v6.x/ChangeLog-6.1.1", fixed(200, "<html>not a changelog</html>"))
    st = Stable(client(srv.url + "/pub"), srv.url + "/pub")
    found, notes = st.first_releases("0123456789ab", ["6.6.69", "6.6.70", "6.6.71", "6.1.1", "6.1.2"], max_fetches=4)
    assert [(r.branch, r.version, r.stable_sha) for r in found] == [("6.6", "6.6.70", "b" * 40)]
    assert any("does not carry" in n and "6.6.69" in n for n in notes)
    assert any("6.1.1" in n and "not in git log format" in n for n in notes)
    assert any("kernel.org has no ChangeLog-6.1.2" in n for n in notes)
    assert srv.count("/pub/") == 4  # 6.6.71 skipped: the branch is already answered
    found, notes = st.first_releases("0123", ["6.6.70"])
    assert found == [] and "too short" in notes[0]
