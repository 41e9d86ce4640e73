"""lore.kernel.org client: the real public-inbox pages (../shared, skipped when absent), our own
pages in the same format, and lore's answers (404, 400, 503, bot wall) from a server on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import shared_path
from upstream_server import BOT_WALL_HTML, ReplayServer, fixed, syzbot_address

from sigmatch.errors import BotWallError, UpstreamError
from sigmatch.upstream.http import UpstreamClient, make_session
from sigmatch.upstream.lore import (
    Lore,
    classify,
    link_answers,
    message_url,
    msgid_from_href,
    parse_atom,
    parse_message_html,
    parse_raw,
    parse_search_html,
    search_error,
    trailers_of,
)
from sigmatch.upstream.model import MessageKind

BASE = "http://mirror.test/lore"
REPORT = "000000000000ae63710620417f67@google.com"
PATCH = "20240927091231.360334-1-lizhi.xu@windriver.com"
REPLY = "CAOQ4uxisuBYc6Zy7D8p+RkWxq3g=Hij99wKMrL_FqRmOFx-wXQ@mail.gmail.com"

# Our own Atom feed in public-inbox's format: a report, a patch answering it with the usual
# trailers, a reply quoting trailers (which must not be taken as its own), and a hostile entry.
OWN_ATOM = """<?xml version="1.0" encoding="us-ascii"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:thr="http://purl.org/syndication/thread/1.0">
<title>foo_bar - search results</title>
<entry><author><name>A Reporter</name><email>r@example.com</email></author>
<title>BUG: soft lockup in foo_bar</title><updated>2025-01-02T03:04:05Z</updated>
<link href="https://lore.kernel.org/all/report-1@example.com/"/>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><pre>watchdog: BUG: soft lockup - CPU#3 stuck for 22s! [x:1]
Call Trace:
 foo_bar+0x10/0x20
</pre></div></content></entry>
<entry><author><name>A Fixer</name></author>
<title>[PATCH v2 1/2] subsys: fix soft lockup in foo_bar</title><updated>2025-01-03T00:00:00Z</updated>
<link href="https://lore.kernel.org/all/patch-1@example.com/"/>
<thr:in-reply-to ref="urn:x" href="https://lore.kernel.org/all/report-1@example.com/"/>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><pre>Take a break in the loop.

Fixes: 0123456789ab ("subsys: add foo_bar")
Reported-by: A Reporter &lt;r@example.com&gt;
Closes: https://lore.kernel.org/all/report-1@example.com/
Link: https://lore.kernel.org/r/other@example.com
Cc: stable@vger.kernel.org # 6.1+
Cc: someone@example.com
Signed-off-by: A Fixer &lt;f@example.com&gt;
---
diff --git a/x.c b/x.c
</pre></div></content></entry>
<entry><author><name>A Reviewer</name></author>
<title>Re: [PATCH v2 1/2] subsys: fix soft lockup in foo_bar</title><updated>2025-01-04T00:00:00Z</updated>
<link href="https://lore.kernel.org/all/reply-1@example.com/"/>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><pre>&gt; Fixes: 0123456789ab ("subsys: add foo_bar")
&gt; Cc: stable@vger.kernel.org
Looks good.
<script>alert(1)</script>
</pre></div></content></entry>
<entry><title>no link at all</title></entry>
<entry><title>evil</title><link href="javascript:alert(1)"/></entry>
</feed>
"""


def samples() -> Path:
    return shared_path("upstream-samples", "lore", "generated")


# --------------------------------------------------------------------------- the real pages


def test_atom_search_results_from_public_inbox() -> None:
    msgs = {m.message_id: m for m in parse_atom((samples() / "all-search.atom").read_text(), BASE)}
    assert set(msgs) == {REPORT, PATCH, REPLY}
    assert msgs[REPORT].kind is MessageKind.REPORT and msgs[REPORT].syzbot_extids == ("c679f13773f295d2da53",)
    p = msgs[PATCH]
    assert p.kind is MessageKind.PATCH and p.in_reply_to == REPORT and p.author == "Lizhi Xu"
    assert p.trailer_values("Closes") == ("https://syzkaller.appspot.com/bug?extid=c679f13773f295d2da53",)
    assert p.url == f"{BASE}/all/{PATCH}/"  # rebuilt from the configured base, carries the Message-ID
    assert msgs[REPLY].kind is MessageKind.REPLY and msgs[REPLY].trailers == ()  # quoted trailers ignored
    linked = {m.message_id: m for m in link_answers(msgs.values())}
    assert linked[PATCH].answers == (REPORT,)


def test_html_search_summary_from_public_inbox() -> None:
    hits = parse_search_html((samples() / "all-search-summary.html").read_text(), BASE)
    assert [h.message_id for h in hits] == [REPLY, PATCH, REPORT]
    assert hits[1].kind is MessageKind.PATCH and hits[1].date == "2024-09-27T09:12:00Z"
    assert hits[2].kind is MessageKind.REPORT and hits[2].author == "syzbot"
    assert parse_search_html((samples() / "lkml-search-noresults.html").read_text(), BASE) == []
    assert search_error((samples() / "all-search-badquery.html").read_text()) == (
        "Bad query: Syntax: <expression> AND <expression>")


def test_message_page_raw_and_thread_from_public_inbox() -> None:
    m = parse_message_html((samples() / "all-message.html").read_text(), BASE)
    assert m is not None and m.message_id == PATCH and m.in_reply_to == REPORT
    assert m.lists == ("linux-fsdevel", "lkml") and m.date == "2024-09-27T09:12:31Z"
    s = parse_message_html((samples() / "stable-message.html").read_text(), BASE)
    assert s is not None and s.upstream_commit == "172e422ffea20a89bfdc672741c1aad6fbb5044e"
    assert s.kind is MessageKind.PATCH and s.lists == ("stable",)
    raw = parse_raw((samples() / "fsdevel-message.raw").read_bytes(), BASE)
    assert raw is not None and raw.message_id == REPLY and raw.lists == ("linux-fsdevel",)
    assert raw.in_reply_to == PATCH and raw.trailers == ()
    thread = parse_atom((samples() / "fsdevel-thread.atom").read_text(), BASE)
    assert {t.message_id for t in thread} == {REPORT, PATCH, REPLY}
    assert parse_message_html((samples() / "fsdevel-message-404.html").read_text(), BASE) is None


# --------------------------------------------------------------------------- our own pages


def test_trailers_of_a_patch_and_not_of_a_quoting_reply() -> None:
    msgs = {m.message_id: m for m in parse_atom(OWN_ATOM, BASE)}
    assert set(msgs) == {"report-1@example.com", "patch-1@example.com", "reply-1@example.com"}
    p = msgs["patch-1@example.com"]
    assert p.kind is MessageKind.PATCH and p.cc_stable
    assert p.fixes == ('0123456789ab ("subsys: add foo_bar")',)
    assert p.trailer_values("Reported-by") == ("A Reporter <r@example.com>",)
    assert p.trailer_values("Link") == ("https://lore.kernel.org/r/other@example.com",)
    assert [t.value for t in p.trailers if t.name == "Cc"] == ["stable@vger.kernel.org # 6.1+"]
    r = msgs["reply-1@example.com"]
    assert r.kind is MessageKind.REPLY and r.trailers == () and not r.cc_stable
    linked = {m.message_id: m for m in link_answers(msgs.values())}
    assert linked["patch-1@example.com"].answers == ("report-1@example.com",)


def test_truncated_and_malformed_pages_do_not_crash() -> None:
    for cut in (0, 50, 400, 900, 1500, len(OWN_ATOM) - 30):
        parse_atom(OWN_ATOM[:cut], BASE)  # best effort: whatever entries are complete
    assert parse_atom("<feed><entry><link href='x/y@z/'><title>t", BASE)[0].message_id == "y@z"
    for junk in ("", "<<<>>>", "<pre id=b>no headers", "\x00\xff" * 100, "<html>" * 10000,
                 "<a href='%zz@x/'>x</a>", "<b><a href='javascript:alert(1)'>x</a></b>"):
        assert parse_search_html(junk, BASE) == [] or all("@" in m.message_id for m in parse_search_html(junk, BASE))
        parse_message_html(junk, BASE)
        parse_atom(junk, BASE)
        parse_raw(junk.encode("utf-8", "replace"), BASE)


def test_hostile_links_and_text() -> None:
    assert msgid_from_href("javascript:alert(1)") is None
    assert msgid_from_href("https://evil.example/all/<script>@x/") is None
    assert msgid_from_href("../a%2Fb@c/raw") == "a/b@c"
    assert message_url(BASE, "a/b c@d") == f"{BASE}/all/a%2Fb%20c@d/"
    page = ('<b><a href="x@y/">\x1b[31mred\x1b[0m <script>alert(1)</script>subject</a></b>'
            ' - by Mallory\x07 @ 2025-01-01 10:00 UTC')
    (hit,) = parse_search_html(page, BASE)
    assert "\x1b" not in hit.subject and "alert" not in hit.subject and "\x07" not in (hit.author or "")
    assert hit.url == f"{BASE}/all/x@y/"


def test_classify() -> None:
    assert classify("[PATCH 6.1 078/101] fsnotify: x", "") is MessageKind.PATCH
    assert classify("[RFC PATCH net-next v3 2/7] x", "") is MessageKind.PATCH
    assert classify("Re: [PATCH] x", "diff --git") is MessageKind.REPLY
    assert classify("[syzbot] [fs?] KASAN: use-after-free Read in foo", "") is MessageKind.REPORT
    assert classify("soft lockups on 6.1", "Call Trace:\n foo+0x1/0x2") is MessageKind.REPORT
    assert classify("question", "hello") is MessageKind.REPLY
    _t, cc, up, ext = trailers_of("commit 0123456789abcdef0123456789abcdef01234567 upstream.\n\nReported-by: " + syzbot_address("0123456789abcdef0123", "x") + "\n")
    assert up == "0123456789abcdef0123456789abcdef01234567" and ext == ("0123456789abcdef0123",) and not cc


# --------------------------------------------------------------------------- lore's answers


@pytest.fixture
def srv() -> Iterator[ReplayServer]:
    with ReplayServer() as s:
        yield s


def lore_at(url: str) -> Lore:
    return Lore(UpstreamClient([url], timeout=1.0, session=make_session(backoff=0.01)), url)


def test_search_reads_atom(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(200, OWN_ATOM, "application/atom+xml"), query={"x": "A"})
    found = lore_at(srv.url).search("foo_bar")
    assert {m.message_id for m in found} == {"report-1@example.com", "patch-1@example.com", "reply-1@example.com"}
    assert srv.requests == ["/all/?q=foo_bar&x=A"]


def test_search_falls_back_to_html_when_the_feed_is_unreadable(srv: ReplayServer) -> None:
    page = '<html><title>q - search results</title><pre>1. <b><a href="p@x/">[PATCH] fix</a></b>\n - by Me @ 2025-01-01 10:00 UTC</pre>'
    srv.route("/all/", fixed(200, "<html>garbage</html>"), query={"x": "A"})
    srv.route("/all/", fixed(200, page), query={"q": "foo_bar"})
    (hit,) = lore_at(srv.url).search("foo_bar")
    assert hit.message_id == "p@x" and hit.kind is MessageKind.PATCH


def test_no_results_404_is_an_empty_answer(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(404, "<pre>[No results found]</pre>"))
    assert lore_at(srv.url).search("nothing_here") == []


def test_bad_query_400_is_a_clear_error(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(400, "<pre>\nBad query: <b> Syntax: &lt;expression&gt; AND &lt;expression&gt;</b>\nSee x</pre>"))
    with pytest.raises(UpstreamError) as e:
        lore_at(srv.url).search("a AND (")
    assert e.value.status == 400 and "Bad query: Syntax" in str(e.value)


def test_503_is_retried_then_reported(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(503, "overloaded"))
    with pytest.raises(UpstreamError) as e:
        lore_at(srv.url).search("foo")
    assert e.value.status == 503 and srv.count("/all/") == 3


def test_bot_wall_is_reported_as_such(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(200, BOT_WALL_HTML))
    with pytest.raises(BotWallError):
        lore_at(srv.url).search("foo")


def test_unknown_message_is_none(srv: ReplayServer) -> None:
    srv.route("/all/", fixed(300, "<pre>Message-ID &lt;x@y&gt;\nnot found</pre>"))
    assert lore_at(srv.url).message("x@y") is None
    assert lore_at(srv.url).thread("x@y") == []


def test_replayed_message_raw_and_thread() -> None:
    with ReplayServer(shared_path("upstream-samples")) as s:
        lore = lore_at(s.url)
        m = lore.message(PATCH)
        assert m is not None and m.lists == ("linux-fsdevel", "lkml")
        raw = lore.raw(REPLY)
        assert raw is not None and raw.message_id == REPLY
        assert {t.message_id for t in lore.thread(REPORT)} == {REPORT, PATCH, REPLY}
        assert {h.message_id for h in lore.search("fsnotify_destroy_mark", atom=False)} == {REPORT, PATCH, REPLY}
