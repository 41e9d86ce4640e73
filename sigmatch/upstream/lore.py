"""lore.kernel.org (public-inbox): search, message, thread and raw pages → :class:`LoreMessage` values.

URLs used (public-inbox's WWW interface, as lore runs it)::

    /all/?q=QUERY&x=A          search results as an Atom feed (full bodies: trailers are readable)
    /all/?q=QUERY              search results as an HTML summary (subject, author, date)
    /all/<Message-ID>/         one message (headers, body, the lists it went to)
    /all/<Message-ID>/raw      the message as mboxrd text
    /all/<Message-ID>/t.atom   the whole thread as Atom (finds the patches answering a report)

Answers: 200 with results; 404 with "[No results found]" (no results, not an error); 400 with
"Bad query: ..." (the query was refused); 503 when lore is overloaded; and lore's bot-wall page
with status 200 (:class:`~sigmatch.errors.BotWallError`, raised by the HTTP client).

Every page is untrusted: parsed with bs4's ``html.parser``, scripts dropped, only Message-IDs
and short texts kept; links are rebuilt from the configured base URL, never taken from the page.
"""

from __future__ import annotations

import email
import email.policy
import html
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote, urlsplit

from bs4 import BeautifulSoup, Tag

from sigmatch.errors import UpstreamError
from sigmatch.upstream.http import UpstreamClient, build_url
from sigmatch.upstream.model import LoreMessage, MessageKind, Trailer

# public-inbox's MID_ESC (PublicInbox::MID): characters left as they are in a Message-ID path.
_MID_SAFE = "-._~!$&'()*+,;=:@"
_MAX_MSGID = 250
_MAX_SUBJECT = 300
_MAX_TRAILER = 300

_TRAILER_RE = re.compile(
    r"^[ \t]*(Fixes|Reported-by|Reported-and-tested-by|Tested-by|Closes|Link|Cc|Suggested-by|Bisected-by)"
    r":[ \t]*(\S[^\n]*)",
    re.IGNORECASE | re.MULTILINE,
)
_CANON = {n.lower(): n for n in ("Fixes", "Reported-by", "Reported-and-tested-by", "Tested-by", "Closes",
                                 "Link", "Cc", "Suggested-by", "Bisected-by")}
_UPSTREAM_RE = re.compile(
    r"^[ \t]*(?:\[[ \t]*Upstream commit ([0-9a-f]{12,40})[ \t]*\]|commit ([0-9a-f]{12,40}) upstream\.?)[ \t]*$",
    re.IGNORECASE | re.MULTILINE,
)
_EXTID_RE = re.compile(r"(?:syzbot\+|extid=)([0-9a-f]{16,24})\b")
_PATCH_RE = re.compile(r"^\s*\[(?:[^\]]*\b)?PATCH\b[^\]]*\]", re.IGNORECASE)
_REPLY_RE = re.compile(r"^\s*(?:re|aw|sv|fwd?)\s*:", re.IGNORECASE)
_CRASH_RE = re.compile(r"Call Trace:|BUG: |WARNING: |KASAN: |general protection fault|Oops|"
                       r"INFO: task [^\n]{0,200} blocked|rcu_sched|soft lockup|kernel BUG at")
_SEARCH_META_RE = re.compile(r"-\s*by\s+(.+?)\s+@\s+(\d{4}-\d\d-\d\d)\s+(\d{1,2}:\d\d)\s*UTC")
_LIST_HREF_RE = re.compile(r"^(?:https?://[^/]+)?/([A-Za-z0-9][\w.+-]{0,80})/\?t=\d+$")
_CTRL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def message_url(base: str, message_id: str) -> str:
    """The lore link for a Message-ID, under the configured base URL."""
    return build_url(base, "all/" + quote(message_id, safe=_MID_SAFE) + "/")


def clean_text(value: str, limit: int = _MAX_SUBJECT) -> str:
    """One line of untrusted text: control characters dropped, whitespace collapsed, length capped."""
    return " ".join(_CTRL_RE.sub(" ", value).split())[:limit]


def valid_msgid(value: str) -> str | None:
    mid = value.strip().strip("<>").strip()
    if not mid or len(mid) > _MAX_MSGID or any(c.isspace() or c in "<>\"\\" for c in mid):
        return None
    return mid


def msgid_from_href(href: str) -> str | None:
    """The Message-ID in a public-inbox message link (``…/all/<mid>/``, ``<mid>/``, ``../<mid>/``)."""
    try:
        path = urlsplit(href).path
    except ValueError:
        return None
    segs = [s for s in path.split("/") if s and s != ".."]
    # A message link ends with "<mid>/" or "<mid>/<view>" (raw, T, t, t.atom, t.mbox.gz).
    if segs and segs[-1] in ("raw", "T", "t", "t.atom", "t.mbox.gz", "#R") and len(segs) >= 2:
        segs = segs[:-1]
    if not segs:
        return None
    mid = unquote(segs[-1])
    return valid_msgid(mid) if "@" in mid else None


def strip_subject(subject: str) -> str:
    s = subject
    while True:
        m = _REPLY_RE.match(s)
        if not m:
            return s.strip()
        s = s[m.end():]


def classify(subject: str, body: str) -> MessageKind:
    if _REPLY_RE.match(subject):
        return MessageKind.REPLY
    if _PATCH_RE.match(subject) or subject.lstrip().lower().startswith("[syzbot] [patch"):
        return MessageKind.PATCH
    if subject.lstrip().lower().startswith("[syzbot]"):
        return MessageKind.REPORT
    if body and _CRASH_RE.search(body) and "diff --git" not in body:
        return MessageKind.REPORT
    return MessageKind.REPLY


def unquoted(body: str) -> str:
    """The body without quoted (``>``) lines, so quoted trailers of the parent are not taken."""
    return "\n".join(line for line in body.splitlines() if not line.lstrip().startswith(">"))


def trailers_of(body: str) -> tuple[tuple[Trailer, ...], bool, str | None, tuple[str, ...]]:
    """(trailers, Cc: stable?, upstream commit of a stable backport, syzbot extids) from a body."""
    own = unquoted(body)
    trailers: list[Trailer] = []
    cc_stable = False
    for m in _TRAILER_RE.finditer(own):
        name = _CANON[m.group(1).lower()]
        value = clean_text(m.group(2), _MAX_TRAILER)
        if name == "Cc":
            if "stable@vger.kernel.org" in value.lower() or "stable@kernel.org" in value.lower():
                cc_stable = True
                trailers.append(Trailer(name, value))
            continue
        trailers.append(Trailer(name, value))
        if len(trailers) >= 64:
            break
    up = _UPSTREAM_RE.search(own)
    upstream = (up.group(1) or up.group(2)).lower() if up else None
    extids = tuple(dict.fromkeys(m.group(1) for m in _EXTID_RE.finditer(own)))[:8]
    return tuple(trailers), cc_stable, upstream, extids


def _iso(dt: datetime) -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%SZ")


def _soup(text: str) -> BeautifulSoup:
    # An Atom feed starts with an XML declaration; html.parser reads the rest well enough, and
    # without the declaration bs4 does not warn about parsing XML as HTML.
    if text.lstrip().startswith("<?xml"):
        text = text.lstrip().split("?>", 1)[-1]
    # Lone surrogates (from a careless decoder) make bs4 raise; tag-less text makes it guess that
    # the "markup" is a file name or URL and warn. Neither is worth more than a quiet fix.
    text = text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
    if "<" not in text:
        text = "<pre>" + html.escape(text, quote=False) + "</pre>"
    soup = BeautifulSoup(text, "html.parser")
    for bad in soup.find_all(["script", "style", "iframe", "object", "embed"]):
        bad.decompose()
    return soup


def _make(base: str, mid: str, subject: str, body: str, **kw: object) -> LoreMessage:
    trailers, cc_stable, upstream, extids = trailers_of(body)
    subject = clean_text(subject)
    return LoreMessage(
        message_id=mid,
        subject=subject,
        url=message_url(base, mid),
        kind=classify(subject, body),
        trailers=trailers,
        cc_stable=cc_stable,
        upstream_commit=upstream,
        syzbot_extids=extids,
        **kw,  # type: ignore[arg-type]
    )


# --------------------------------------------------------------------------- parsers


def parse_atom(text: str, base: str) -> list[LoreMessage]:
    """Entries of a public-inbox Atom feed (search results or a thread)."""
    soup = _soup(text)
    out: list[LoreMessage] = []
    for entry in soup.find_all("entry"):
        if not isinstance(entry, Tag):
            continue
        link = entry.find("link", href=True)
        mid = msgid_from_href(str(link["href"])) if isinstance(link, Tag) else None
        if not mid:
            continue
        title = entry.find("title")
        subject = title.get_text() if title else ""
        content = entry.find("content")
        body = content.get_text() if content else ""
        reply = entry.find("thr:in-reply-to")
        parent = msgid_from_href(str(reply.get("href", ""))) if isinstance(reply, Tag) else None
        updated = entry.find("updated")
        author = entry.find("author")
        name = author.find("name") if isinstance(author, Tag) else None
        out.append(_make(base, mid, subject, body,
                         date=clean_text(updated.get_text(), 40) if updated else None,
                         author=clean_text(name.get_text(), 120) if name else None,
                         in_reply_to=parent))
    return out


def parse_search_html(text: str, base: str) -> list[LoreMessage]:
    """Hits of a public-inbox HTML search summary page (subject, author, date; no bodies)."""
    soup = _soup(text)
    out: list[LoreMessage] = []
    seen: set[str] = set()
    for a in soup.find_all("a", href=True):
        if not isinstance(a, Tag) or not isinstance(a.parent, Tag) or a.parent.name != "b":
            continue
        href = str(a["href"])
        if href.startswith(("?", "#", "_/")):
            continue
        mid = msgid_from_href(href)
        if not mid or mid in seen:
            continue
        seen.add(mid)
        subject = a.get_text()
        author = date = None
        tail = a.parent.next_sibling
        m = _SEARCH_META_RE.search(str(tail)[:400]) if tail is not None else None
        if m:
            author = clean_text(m.group(1), 120)
            hh, mm = m.group(3).split(":")
            date = f"{m.group(2)}T{int(hh):02d}:{mm}:00Z"
        out.append(_make(base, mid, subject, "", date=date, author=author))
    return out


def search_error(text: str) -> str | None:
    """The "Bad query: ..." sentence of a 400 page, cleaned."""
    m = re.search(r"Bad query:(.{0,200})", _soup(text).get_text(), re.DOTALL)
    return clean_text("Bad query:" + m.group(1).split("\nSee ")[0], 200) if m else None


def parse_message_html(text: str, base: str) -> LoreMessage | None:
    """A public-inbox single-message page (``/<inbox>/<mid>/``): headers, body, lists."""
    soup = _soup(text)
    pre = soup.find("pre", id="b")
    if not isinstance(pre, Tag):
        return None
    lists: list[str] = []
    for a in pre.find_all("a", href=True):
        m = _LIST_HREF_RE.match(str(a["href"]))
        if m and "@" in a.get_text() and m.group(1) not in lists:
            lists.append(m.group(1))
    whole = pre.get_text()
    head, _, body = whole.partition("\n\n")
    headers = _header_lines(head)
    mid = valid_msgid(headers.get("message-id", "").split("(raw)")[0])
    if not mid:
        return None
    return _make(base, mid, headers.get("subject", ""), body,
                 date=_rfc_date(headers.get("date", "")), author=_author(headers.get("from", "")),
                 lists=tuple(lists[:12]), in_reply_to=valid_msgid(headers.get("in-reply-to", "")))


def parse_raw(data: bytes, base: str) -> LoreMessage | None:
    """A ``/raw`` message (mboxrd, one message)."""
    if data.startswith(b"From "):
        data = data.split(b"\n", 1)[1] if b"\n" in data else b""
    msg = email.message_from_bytes(data, policy=email.policy.default)
    mid = valid_msgid(str(msg.get("Message-ID", "")))
    if not mid:
        return None
    body = ""
    part = msg.get_body(preferencelist=("plain",)) if hasattr(msg, "get_body") else None
    if part is not None:
        try:
            body = str(part.get_content())  # type: ignore[attr-defined]
        except (LookupError, ValueError):
            payload = part.get_payload(decode=True)
            body = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""
    lists = []
    list_id = str(msg.get("List-Id", ""))
    m = re.search(r"<([\w.-]+?)\.vger\.kernel\.org>", list_id)
    if m:
        lists.append("lkml" if m.group(1) == "linux-kernel" else m.group(1))
    return _make(base, mid, str(msg.get("Subject", "")), body, date=_rfc_date(str(msg.get("Date", ""))),
                 author=_author(str(msg.get("From", ""))), lists=tuple(lists),
                 in_reply_to=valid_msgid(str(msg.get("In-Reply-To", "")).split()[0] if msg.get("In-Reply-To") else ""))


def _header_lines(head: str) -> dict[str, str]:
    out: dict[str, str] = {}
    last = None
    for line in head.splitlines():
        if line[:1] in (" ", "\t") and last:
            out[last] += " " + line.strip()
            continue
        name, sep, value = line.partition(":")
        if sep and name and " " not in name.strip():
            last = name.strip().lower()
            out.setdefault(last, value.strip())
    return out


def _rfc_date(value: str) -> str | None:
    try:
        return _iso(parsedate_to_datetime(value.split("\t")[0].strip())) if value else None
    except (TypeError, ValueError, IndexError):
        return None


def _author(value: str) -> str | None:
    name = value.split("<")[0].strip().strip('"') or value
    return clean_text(name, 120) or None


# --------------------------------------------------------------------------- client


class Lore:
    """lore.kernel.org (or a mirror) through an :class:`UpstreamClient`."""

    def __init__(self, client: UpstreamClient, base: str, inbox: str = "all") -> None:
        self.client = client
        self.base = base.rstrip("/")
        self.inbox = inbox

    def search(self, query: str, *, deadline: float | None = None, atom: bool = True) -> list[LoreMessage]:
        """Messages matching ``query`` (newest first); [] when lore has none.

        Atom first (bodies carry the trailers); the HTML summary when the feed is unreadable.
        Raises :class:`UpstreamError` for a refused query (400), 5xx, timeouts and the bot wall.
        """
        params = [("q", query[:500])]
        if atom:
            f = self.client.get(build_url(self.base, f"{self.inbox}/", [*params, ("x", "A")]),
                                ok=(200, 404, 400), deadline=deadline, accept="application/atom+xml")
            if f.status == 404:
                return []
            if f.status == 400:
                raise UpstreamError(f"refused the query ({search_error(f.text) or 'HTTP 400'})",
                                    url=f.url, status=400)
            found = parse_atom(f.text, self.base)
            if found or "<feed" in f.text[:2000]:
                return found
        f = self.client.get(build_url(self.base, f"{self.inbox}/", params), ok=(200, 404, 400),
                            deadline=deadline, accept="text/html")
        if f.status == 404:
            return []
        if f.status == 400:
            raise UpstreamError(f"refused the query ({search_error(f.text) or 'HTTP 400'})", url=f.url, status=400)
        found = parse_search_html(f.text, self.base)
        if not found and "No results found" not in f.text and "search results" not in f.text[:3000]:
            why = "cut off at the size cap" if f.truncated else "no search results in the page"
            raise UpstreamError(f"unreadable search page ({why})", url=f.url, status=f.status)
        return found

    def message(self, message_id: str, *, deadline: float | None = None) -> LoreMessage | None:
        """One message from its page; None when lore does not know it (HTTP 300/404)."""
        f = self.client.get(message_url(self.base, message_id), ok=(200, 300, 404), deadline=deadline)
        if f.status != 200:
            return None
        return parse_message_html(f.text, self.base)

    def raw(self, message_id: str, *, deadline: float | None = None) -> LoreMessage | None:
        f = self.client.get(message_url(self.base, message_id) + "raw", ok=(200, 300, 404), deadline=deadline)
        return parse_raw(f.body, self.base) if f.status == 200 else None

    def thread(self, message_id: str, *, deadline: float | None = None) -> list[LoreMessage]:
        """Every message of the thread holding ``message_id`` (its Atom feed)."""
        f = self.client.get(message_url(self.base, message_id) + "t.atom", ok=(200, 300, 404), deadline=deadline)
        return parse_atom(f.text, self.base) if f.status == 200 else []


def link_answers(messages: Iterable[LoreMessage]) -> list[LoreMessage]:
    """Fill ``answers`` of each patch: the reports it replies to, closes, links or was reported by."""
    msgs = list(messages)
    reports = {m.message_id: m for m in msgs if m.kind is MessageKind.REPORT}
    by_extid: dict[str, str] = {}
    for r in reports.values():
        for e in r.syzbot_extids:
            by_extid.setdefault(e, r.message_id)
    parents = {m.message_id: m.in_reply_to for m in msgs}
    out: list[LoreMessage] = []
    for m in msgs:
        if m.kind is not MessageKind.PATCH:
            out.append(m)
            continue
        answers: list[str] = []
        # walk up the thread (bounded) to the first report
        cur, hops = m.in_reply_to, 0
        while cur and hops < 8:
            if cur in reports:
                answers.append(cur)
                break
            cur, hops = parents.get(cur), hops + 1
        for t in m.trailers:
            if t.name in ("Closes", "Link"):
                for mid in reports:
                    if mid in t.value:
                        answers.append(mid)
        for e in m.syzbot_extids:
            if e in by_extid:
                answers.append(by_extid[e])
        out.append(_replace_answers(m, tuple(dict.fromkeys(answers))))
    return out


def _replace_answers(m: LoreMessage, answers: tuple[str, ...]) -> LoreMessage:
    from dataclasses import replace

    return replace(m, answers=answers)
