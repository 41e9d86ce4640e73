"""Upstream pages are untrusted: any bytes in, a value (or a clear UpstreamError) out, in linear time."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from sigmatch.errors import UpstreamError
from sigmatch.upstream import bugzilla, lore, stable, syzbot
from sigmatch.upstream.http import Fetched

BASE = "http://mirror.test"
FRAGMENTS = ["<entry>", "</entry>", "<link href='a@b/'/>", "<title>", "[PATCH] x", "Fixes: ", "Cc: stable@vger.kernel.org",
             "\n", "> ", "commit 0123456789abcdef0123456789abcdef01234567 upstream.", "<pre id=b>", "Message-ID: <a@b>",
             "<b><a href=\"x@y/\">", "\x00", "\x1b[2J", "<script>", "&#0;", "\ud800", "syzbot" + "+0123456789abcdef0123@"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=40), max_size=40))
def test_parsers_never_raise_on_any_text(parts: list[str]) -> None:
    text = "".join(parts)
    lore.parse_atom(text, BASE)
    lore.parse_search_html(text, BASE)
    lore.parse_message_html(text, BASE)
    lore.parse_raw(text.encode("utf-8", "replace"), BASE)
    lore.trailers_of(text)
    stable.parse_changelog(text)
    bugzilla.mentions([text], "t")


@settings(max_examples=60, deadline=None)
@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                        st.sampled_from(["bugs", "id", "title", "fix-commits", "hash", "comments", "text", "299901",
                                         "Bugs", "link", "discussions", "cause-commit", "see_also", "is_open"]),
                        inner, max_size=5), max_leaves=20))
def test_json_readers_never_raise_on_any_shape(doc: object) -> None:
    bugzilla.bugs_from_json(doc, BASE)
    bugzilla.comments_from_json(doc, 299901)
    syzbot.bug_from_json(doc, BASE, "0123456789abcdef0123")
    syzbot.bugs_from_group(doc, BASE)
    f = Fetched(BASE, 200, "application/json", json.dumps(doc).encode())
    assert f.json() == doc


def test_pathological_inputs_finish() -> None:
    # Each of these is quadratic or worse for a careless regular expression.
    for text in ("\n" * 1_000_000, " " * 1_000_000, "Fixes: a" + " " * 500_000 + "b",
                 "INFO: task " * 100_000, "[" * 200_000, "commit " + "0" * 500_000):
        lore.trailers_of(text)
        lore.classify(text[:300], text)
        stable.parse_changelog(text)
        bugzilla.mentions([text[:20000]], "t")
    lore.parse_search_html("<b><a href='x@y/'>s</a></b>" * 3_000, BASE)


def test_not_json_is_an_upstream_error() -> None:
    for body in (b"", b"<html>", b"\xff\xfe", b'{"a": '):
        try:
            Fetched(BASE, 200, "application/json", body).json()
        except UpstreamError as exc:
            assert exc.url == BASE
        else:
            raise AssertionError("expected UpstreamError")
