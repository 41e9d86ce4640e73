"""lore, bugzilla and syzbot as they would hold the dev corpora, served on 127.0.0.1 (for e2e_upstream.py).

    world = World.build(e2e_rows, crash_rows, catalog, descriptions)
    with world.serve() as urls:            # three real HTTP servers (tests/upstream_server.ReplayServer)
        world.leave_out(query_row)         # the world as it is without this query's own report
        ... sigmatch.upstream.lookup(...) against urls ...

What each server holds, and what of it is real:

lore (public-inbox's Atom and message pages, the markup of ../shared/upstream-samples/lore/generated)
    * every crash report of ``e2e-dev.jsonl`` and every syzbot mail of ``crashes-dev.jsonl``, with its
      real Message-ID, date, list and crash text. REAL text; the subject is the crash title (syzbot's
      subject; a person's report gets "[BUG] <first line>", SIMULATED), and syzbot reports are wrapped
      in syzbot's mail header and footer (dashboard link, "Reported-by: syzbot+<extid>" tag) as in the
      sample mail 01 (RECONSTRUCTED around the real report).
    * one patch per fixing commit of the catalog (14,600 CVE records and the curated entries): subject
      "[PATCH] <commit subject>", body = the commit message as the CVE record quotes it (REAL text),
      then trailers and a diffstat of the files the record names (SIMULATED: the real patch text is
      not in the corpora). For a fix that e2e-dev names, the trailers name the reports the way the
      corpus says the real patch did (``expected.evidence``: Reported-by: syzbot+<extid>, Closes:
      the syzbot link or the lore link), with Fixes: <introducing commit> where the record has one, and
      the patch replies in the thread of the earliest report of that bug still on the list.
    * search (``/all/?q=...&x=A``): Xapian-like boolean terms over subject and body words, newest
      first, public-inbox's page of 200 results; thread feeds (``/<mid>/t.atom``) and message pages.
bugzilla (the REST shapes of ../shared/upstream-samples/bugzilla)
    * one bug per person's report in e2e-dev and per production log of crashes-dev (REAL logs, as the
      first comment; summary = its first crash line). For an e2e-dev positive a later comment names the
      fix ("Fixed upstream by commit <sha12> ("<subject>")", SIMULATED, as the sample bug 299901 does).
      Quicksearch matches words of the summary and the comments.
syzbot (the JSON of ../shared/upstream-samples/syzbot)
    * one bug per syzbot id (extid) of the corpora, titled as syzbot titled it (REAL). Fixed, with
      the fixing commit, when the corpus says the fix named syzbot's report (Reported-by, Closes,
      syz fix: REAL link); a ``fix-known-not-in-cve-db`` negative is fixed by a commit no CVE record
      names, whose hash is not in the corpora (a STAND-IN hash, derived from the extid). Others open.

Leave-one-out (:meth:`World.leave_out`): for each query its own message is not on lore (nor its bug
on bugzilla, nor any copy of its text); with ``strict`` its syzbot bug is there only when another
report of that syzbot id is (upstream knows the bug only through other reports). The stable
ChangeLogs are not served (kernel.org answers 404: no release found); they are not evidence.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import sys
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from upstream_server import ReplayServer, send

from sigmatch.catalog.model import KnownBug

SEARCH_LIMIT = 200  # public-inbox's page of search results
SYZBOT_KNOWS = frozenset({"reported_by", "closes_link", "syz_fix", "same_thread_reported_by"})
_WORD = re.compile(r"[a-z0-9_]+")
_LOG_PREFIX = re.compile(r"^\s*(?:\[[ \d.]+\]\s*)?")
_CVE_HEAD = re.compile(r"^In the Linux kernel, the following vulnerability has been resolved:\s*\n\s*\n[^\n]*\n\s*\n?")


@dataclass
class Msg:
    mid: str
    subject: str
    author: str
    email: str
    date: datetime
    lists: tuple[str, ...]
    body: str
    kind: str  # report | patch
    trace: str = ""  # a report's own crash text (to leave its copies out)
    fix: str = ""  # a patch's commit (sha12)
    in_reply_to: str | None = None


@dataclass
class Bug:  # bugzilla
    id: int
    summary: str
    comments: list[str]
    created: datetime
    trace: str
    fixed: bool


@dataclass
class Syz:
    extid: str
    title: str
    fixes: list[tuple[str, str]]  # (sha, subject)
    reports: set[str] = field(default_factory=set)  # Message-IDs of its reports


def _date(value: str | None) -> datetime:
    if not value:
        return datetime(2020, 1, 1, tzinfo=UTC)
    try:
        if "T" in value:
            return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return datetime(2020, 1, 1, tzinfo=UTC)


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))


def _sha12(s: str) -> str:
    return s.lower()[:12]


def syzbot_mail(extid: str, trace: str, tree: str = "upstream", head: str = "") -> str:
    """syzbot's report mail around a crash text (the shape of the sample mail 01)."""
    dash = f"https://syzkaller.appspot.com/bug?extid={extid}"
    tag = "syzbot" + f"+{extid}@syzkaller.appspotmail.com"
    return (f"Hello,\n\nsyzbot found the following issue on:\n\nHEAD commit:    {head or '(unknown)'}\n"
            f"git tree:       {tree}\ndashboard link: {dash}\n\n"
            "IMPORTANT: if you fix the issue, please add the following tag to the commit:\n"
            f"Reported-by: {tag}\n\n{trace.rstrip()}\n\n\n---\nThis report is generated by a bot. "
            "It may contain errors.\nSee https://goo.gl/tpsmEJ for more information about syzbot.\n")


def _first_line(trace: str) -> str:
    for line in trace.splitlines():
        s = _LOG_PREFIX.sub("", line).strip()
        if re.search(r"BUG|WARNING|Oops|KASAN|general protection|INFO:|panic|lockup|hung|unable to handle", s):
            return s[:150]
    return (trace.strip().splitlines() or ["kernel crash"])[0][:150]


class World:
    """Everything the three servers hold, and the current query's leave-one-out exclusions."""

    def __init__(self) -> None:
        self.msgs: dict[str, Msg] = {}
        self.order: list[str] = []  # Message-IDs, newest first
        self.index: dict[str, set[str]] = defaultdict(set)  # word -> Message-IDs
        self.bugs: dict[int, Bug] = {}
        self.bug_words: dict[int, set[str]] = {}
        self.syz: dict[str, Syz] = {}
        self.groups: dict[str, list[str]] = {}  # fix sha12 -> Message-IDs of the reports of that bug
        self.patch_of: dict[str, str] = {}  # fix sha12 -> the patch's Message-ID
        self.fixes_of: dict[str, set[str]] = defaultdict(set)  # report Message-ID -> fix sha12 of its bug
        self.strict = True
        # the current query's exclusions
        self._lock = threading.Lock()
        self.out_msgs: set[str] = set()
        self.out_bugs: set[int] = set()
        self.out_syz: set[str] = set()
        self.requests = 0

    # ------------------------------------------------------------------ building

    @classmethod
    def build(cls, e2e: list[dict[str, Any]], crashes: list[dict[str, Any]], bugs: Iterable[KnownBug],
              descriptions: Mapping[str, str], *, strict: bool = True) -> World:
        w = cls()
        w.strict = strict
        seen_text: dict[str, str] = {}
        # reports: e2e-dev, then the syzbot mails of crashes-dev not already there
        rows = [(r, r.get("trace") or "", r.get("message_id") or r["id"]) for r in e2e]
        for c in crashes:
            if c.get("source") == "syzbot-email":
                mid = str(c["id"]).split("/", 1)[-1]
                rows.append((c, c.get("log") or "", mid))
        for r, trace, mid in rows:
            if mid in w.msgs or not trace.strip():
                continue
            key = trace.strip()[:4000]
            if key in seen_text:  # the same text under two ids: one message
                continue
            seen_text[key] = mid
            extid = r.get("extid")
            title = (r.get("title") or "").strip()
            date = _date(r.get("date"))
            if extid:
                subject = (f"[syzbot] {title}" if date.year >= 2022 else title) or "syzbot report"
                body = syzbot_mail(extid, trace, r.get("git_tree") or "upstream", r.get("head_commit") or "")
                author, email = "syzbot", "syzbot" + f"+{extid}@syzkaller.appspotmail.com"
                w.syz.setdefault(extid, Syz(extid, title or subject, [])).reports.add(mid)
            else:
                subject = f"[BUG] {_first_line(trace)}"
                body = trace
                author, email = "A. Reporter", "reporter@example.org"
            lists = tuple(x.split(".vger")[0] for x in (r.get("lists") or [r.get("list") or "lkml"]))
            w._add(Msg(mid, subject, author, email, date, lists, body, "report", trace=trace))
        w._bugzilla(e2e, crashes)
        w._patches(e2e, bugs, descriptions)
        w.order = sorted(w.msgs, key=lambda m: w.msgs[m].date, reverse=True)
        return w

    def _add(self, m: Msg) -> None:
        self.msgs[m.mid] = m
        for word in _words(m.subject + "\n" + m.body):
            self.index[word].add(m.mid)

    def _bugzilla(self, e2e: list[dict[str, Any]], crashes: list[dict[str, Any]]) -> None:
        n = 300000
        people = [(r, r.get("trace") or "") for r in e2e if r.get("kind") == "human"]
        people += [(c, c.get("log") or "") for c in crashes if c.get("source") == "production"]
        for r, trace in people:
            if not trace.strip():
                continue
            n += 1
            comments = [trace]
            exp = r.get("expected") or {}
            fixed = False
            for cve in (exp.get("per_cve") or {}).values():
                for sha in cve.get("fix_shas") or ():
                    comments.append(f"Fixed upstream by commit {sha[:12]} (\"{cve.get('title', '')}\").")
                    fixed = True
            summary = r.get("headline") or _first_line(trace)
            bug = Bug(n, summary[:250], comments, _date(r.get("date")), trace, fixed)
            self.bugs[n] = bug
            self.bug_words[n] = _words(bug.summary + "\n" + "\n".join(comments))

    def _patches(self, e2e: list[dict[str, Any]], bugs: Iterable[KnownBug],
                 descriptions: Mapping[str, str]) -> None:
        # the reports of each fixed bug: every e2e row naming the fix, and every report of their syzbot ids
        mids_of_extid: dict[str, set[str]] = defaultdict(set)
        for s in self.syz.values():
            mids_of_extid[s.extid] |= s.reports
        how: dict[str, set[str]] = defaultdict(set)  # sha12 -> how the corpus links fix and report
        extids: dict[str, set[str]] = defaultdict(set)
        humans: dict[str, set[str]] = defaultdict(set)
        for r in e2e:
            exp = r.get("expected")
            mid = r.get("message_id")
            if exp:
                if exp.get("confidence") == "low":
                    continue
                for sha in exp.get("fix_shas") or ():
                    k = _sha12(sha)
                    group = self.groups.setdefault(k, [])
                    members = {mid} | (mids_of_extid.get(r.get("extid") or "", set()))
                    group.extend(x for x in members if x in self.msgs and x not in group)
                    how[k].update(exp.get("evidence") or ())
                    if r.get("extid"):
                        extids[k].add(r["extid"])
                    elif mid:
                        humans[k].add(mid)
                    if r.get("extid") and set(exp.get("evidence") or ()) & SYZBOT_KNOWS:
                        subject = next(iter((exp.get("per_cve") or {}).values()), {}).get("title", "")
                        syz = self.syz.get(r["extid"])
                        if syz is not None and all(_sha12(f) != k for f, _ in syz.fixes):
                            syz.fixes.append((sha.lower(), subject))
            elif r.get("negative_reason") == "fix-known-not-in-cve-db" and r.get("extid"):
                syz = self.syz.get(r["extid"])
                if syz is not None and not syz.fixes:
                    stand_in = hashlib.sha1(f"stand-in fix for {r['extid']}".encode()).hexdigest()
                    syz.fixes.append((stand_in, "(a fix no CVE record names; stand-in hash)"))
        for k, g in self.groups.items():
            g.sort(key=lambda m: self.msgs[m].date)
            for m in g:
                self.fixes_of[m].add(k)
        done: set[str] = set()
        for bug in bugs:
            for f in bug.fixes:
                k = _sha12(f.sha)
                if k in done or not f.subject:
                    continue
                done.add(k)
                desc = _CVE_HEAD.sub("", descriptions.get(bug.id) or bug.summary or "").strip()
                trailers = []
                if bug.introduced and bug.introduced.sha:
                    trailers.append(f"Fixes: {bug.introduced.sha[:12]} (\"{bug.introduced.subject or ''}\")")
                for e in sorted(extids.get(k, ())):
                    if how[k] & {"reported_by", "same_thread_reported_by", "syz_fix", "closes_link"}:
                        trailers.append("Reported-by: " + "syzbot" + f"+{e}@syzkaller.appspotmail.com")
                    if "closes_link" in how[k]:
                        trailers.append(f"Closes: https://syzkaller.appspot.com/bug?extid={e}")
                for hm in sorted(humans.get(k, ())):
                    trailers.append(f"Closes: https://lore.kernel.org/all/{hm}/")
                trailers += ["Cc: stable@vger.kernel.org", "Signed-off-by: Patch Author <author@example.org>"]
                files = "".join(f" {p} | 2 +-\n" for p in bug.files[:8])
                body = f"{desc}\n\n" + "\n".join(trailers) + f"\n---\n{files}"
                group = self.groups.get(k)
                if group:
                    date = self.msgs[group[0]].date + timedelta(days=7)
                else:
                    date = _release_date(f.mainline or "")
                mid = f"{date.strftime('%Y%m%d%H%M%S')}.{k}-1-author@example.org"
                self._add(Msg(mid, f"[PATCH] {f.subject}", "Patch Author", "author@example.org", date,
                              ("lkml",), body, "patch", fix=k))
                self.patch_of[k] = mid

    # ------------------------------------------------------------------ leave-one-out

    def leave_out(self, row: Mapping[str, Any]) -> None:
        """The world without this query's own report (and its copies, its bugzilla bug, and with
        ``strict``, its syzbot bug unless another report of it remains)."""
        trace = (row.get("trace") or "").strip()
        mid = row.get("message_id")
        out = {m.mid for m in self.msgs.values() if m.kind == "report" and (m.mid == mid or (trace and m.trace.strip() == trace))}
        out_bugs = {b.id for b in self.bugs.values() if trace and b.trace.strip() == trace}
        out_syz: set[str] = set()
        if self.strict:
            for s in self.syz.values():
                if s.reports and s.reports <= out:
                    out_syz.add(s.extid)
        with self._lock:
            self.out_msgs, self.out_bugs, self.out_syz = out, out_bugs, out_syz

    def reply_to(self, m: Msg) -> str | None:
        """A patch replies in the thread of the earliest report of its bug still on the list."""
        if m.kind != "patch":
            return m.in_reply_to
        return next((r for r in self.groups.get(m.fix, ()) if r not in self.out_msgs), None)

    def visible(self, mid: str) -> bool:
        return mid in self.msgs and mid not in self.out_msgs

    # ------------------------------------------------------------------ lore

    def search(self, query: str) -> list[Msg] | None:
        """Messages matching ``query`` newest first; None for a query Xapian would refuse."""
        tokens = re.findall(r"\(|\)|[^\s()]+", query)
        if query.count("(") != query.count(")"):
            return None
        pos = 0

        def term() -> set[str]:
            nonlocal pos
            tok = tokens[pos] if pos < len(tokens) else ""
            pos += 1
            if tok == "(":
                got = expr()
                pos += 1  # ")"
                return got
            words = _WORD.findall(tok.lower())
            hits: set[str] | None = None
            for wd in words:  # "a.b" is a phrase of its words: all of them
                s = self.index.get(wd, set())
                hits = set(s) if hits is None else hits & s
            return hits or set()

        def expr() -> set[str]:
            nonlocal pos
            acc = term()
            while pos < len(tokens) and tokens[pos] != ")":
                op = tokens[pos]
                if op in ("AND", "OR"):
                    pos += 1
                    nxt = term()
                    acc = acc & nxt if op == "AND" else acc | nxt
                else:
                    acc = acc & term()  # implicit AND
            return acc

        hits = expr()
        found = sorted((self.msgs[m] for m in hits if self.visible(m)), key=lambda m: m.date, reverse=True)
        return found[:SEARCH_LIMIT]

    def thread(self, mid: str) -> list[Msg]:
        """The thread holding ``mid``: its root report and the patches replying to it."""
        if not self.visible(mid):
            return []
        m = self.msgs[mid]
        root = (self.reply_to(m) or mid) if m.kind == "patch" else mid
        patches = [self.msgs[self.patch_of[k]] for k in sorted(self.fixes_of.get(root, ())) if k in self.patch_of]
        return [self.msgs[root], *(p for p in patches if self.reply_to(p) == root)]

    def _entry(self, base: str, m: Msg) -> str:
        reply = self.reply_to(m)
        irt = (f'<thr:in-reply-to\nref="urn:uuid:{_uuid(reply)}"\nhref="{base}/all/{quote(reply, safe="@")}/"/>'
               if reply and self.visible(reply) else "")
        return (f"<entry><author><name>{html.escape(m.author)}</name><email>{html.escape(m.email)}</email></author>"
                f"<title>{html.escape(m.subject)}</title><updated>{m.date.strftime('%Y-%m-%dT%H:%M:%SZ')}</updated>"
                f'<link\nhref="{base}/all/{quote(m.mid, safe="@+")}/"/><id>urn:uuid:{_uuid(m.mid)}</id>{irt}'
                f'<content\ntype="xhtml"><div\nxmlns="http://www.w3.org/1999/xhtml"><pre\nstyle="white-space:pre-wrap">'
                f"{html.escape(m.body, quote=False)}</pre></div></content></entry>")

    def atom(self, base: str, title: str, msgs: list[Msg]) -> str:
        updated = msgs[0].date.strftime("%Y-%m-%dT%H:%M:%SZ") if msgs else "1970-01-01T00:00:00Z"
        return ('<?xml version="1.0" encoding="us-ascii"?>\n<feed\nxmlns="http://www.w3.org/2005/Atom"\n'
                'xmlns:thr="http://purl.org/syndication/thread/1.0">'
                f"<title>{html.escape(title)}</title><updated>{updated}</updated>"
                + "".join(self._entry(base, m) for m in msgs) + "</feed>")

    def message_page(self, m: Msg) -> str:
        lists = ", ".join(f'&lt;<a\nhref="https://lore.kernel.org/{x}/?t=1">{x}@vger.kernel.org</a>&gt;' for x in m.lists)
        reply = self.reply_to(m)
        irt = f"In-Reply-To: &lt;{html.escape(reply)}&gt;\n" if reply and self.visible(reply) else ""
        return (f"<html><head><title>{html.escape(m.subject)}</title></head><body><pre\nid=b>"
                f"From: {html.escape(m.author)} &lt;{html.escape(m.email)}&gt;\nTo: {lists}\n"
                f"Subject: {html.escape(m.subject)}\nDate: {format_datetime(m.date)}\n"
                f"Message-ID: &lt;{html.escape(m.mid)}&gt; (<a href=\"raw\">raw</a>)\n{irt}\n"
                f"{html.escape(m.body, quote=False)}</pre></body></html>")

    # ------------------------------------------------------------------ bugzilla and syzbot

    def bz_search(self, terms: str) -> list[Bug]:
        words = [w for w in _WORD.findall(terms.lower()) if w != "all"]
        if not words:
            return []
        hits = [b for i, b in self.bugs.items() if i not in self.out_bugs and all(w in self.bug_words[i] for w in words)]
        return sorted(hits, key=lambda b: b.created, reverse=True)

    def syz_visible(self, extid: str) -> Syz | None:
        s = self.syz.get(extid)
        return s if s is not None and extid not in self.out_syz else None

    # ------------------------------------------------------------------ the servers

    @contextmanager
    def serve(self) -> Iterator[dict[str, str]]:
        servers = {name: ReplayServer() for name in ("lore", "bugzilla", "syzbot", "stable")}
        try:
            for name, srv in servers.items():
                srv.route("/", self._handler(name, srv.url))
            yield {name: srv.url for name, srv in servers.items()}
        finally:
            for srv in servers.values():
                srv.close()

    def _handler(self, name: str, base: str) -> Any:
        def handle(h: BaseHTTPRequestHandler) -> None:
            self.requests += 1
            url = urlsplit(h.path)
            q = {k: v[0] for k, v in parse_qs(url.query, keep_blank_values=True).items()}
            with suppress(BrokenPipeError, ConnectionResetError):
                getattr(self, f"_serve_{name}")(h, base, url.path, q)
        return handle

    def _serve_lore(self, h: BaseHTTPRequestHandler, base: str, path: str, q: dict[str, str]) -> None:
        segs = [unquote(s) for s in path.split("/") if s]
        if len(segs) == 1 and "q" in q:
            found = self.search(q["q"])
            if found is None:
                send(h, 400, "<html><body><pre>Bad query: unbalanced parentheses</pre></body></html>")
            elif not found:
                send(h, 404, "<html><body><pre>[No results found]</pre></body></html>")
            elif q.get("x") == "A":
                send(h, 200, self.atom(base, f"{q['q']} - search results", found), "application/atom+xml")
            else:
                send(h, 200, "<html><body><pre>search results</pre>" + "".join(
                    f'<b><a href="../{quote(m.mid, safe="@+")}/">{html.escape(m.subject)}</a></b>\n' for m in found)
                    + "</body></html>")
            return
        if len(segs) >= 2 and "@" in segs[1]:
            mid = segs[1]
            if not self.visible(mid):
                send(h, 404, "<html><body><pre>not found</pre></body></html>")
            elif len(segs) == 3 and segs[2] == "t.atom":
                send(h, 200, self.atom(base, self.msgs[mid].subject, self.thread(mid)), "application/atom+xml")
            elif len(segs) == 2:
                send(h, 200, self.message_page(self.msgs[mid]))
            else:
                send(h, 404, "not found", "text/plain")
            return
        send(h, 404, "not found", "text/plain")

    def _serve_bugzilla(self, h: BaseHTTPRequestHandler, base: str, path: str, q: dict[str, str]) -> None:
        js = "application/json"
        segs = [s for s in path.split("/") if s]
        if path == "/rest/bug":
            limit = int(q.get("limit") or 10)
            bugs = self.bz_search(q.get("quicksearch", ""))[:limit]
            send(h, 200, json.dumps({"bugs": [_bz_json(b) for b in bugs]}), js)
        elif len(segs) == 4 and segs[:2] == ["rest", "bug"] and segs[3] == "comment" and segs[2].isdigit():
            b = self.bugs.get(int(segs[2]))
            if b is None or b.id in self.out_bugs:
                send(h, 404, json.dumps({"error": True, "code": 101, "message": "Bug does not exist."}), js)
                return
            comments = [{"bug_id": b.id, "count": i, "text": t, "creator": "reporter@example.org",
                         "creation_time": (b.created + timedelta(days=i)).strftime("%Y-%m-%dT%H:%M:%SZ")}
                        for i, t in enumerate(b.comments)]
            send(h, 200, json.dumps({"bugs": {str(b.id): {"comments": comments}}, "comments": {}}), js)
        else:
            send(h, 404, json.dumps({"error": True, "code": 101, "message": "Bug does not exist."}), js)

    def _serve_syzbot(self, h: BaseHTTPRequestHandler, base: str, path: str, q: dict[str, str]) -> None:
        js = "application/json"
        if path == "/upstream/fixed":
            bugs = [{"title": s.title, "link": f"/bug?extid={s.extid}", "fix-commits": [_commit(c) for c in s.fixes]}
                    for s in self.syz.values() if s.fixes and s.extid not in self.out_syz]
            send(h, 200, json.dumps({"version": 1, "Bugs": bugs}, indent="\t"), js)
        elif path == "/bug" and q.get("json") == "1":
            s = self.syz_visible(q.get("extid", ""))
            if s is None:
                send(h, 404, "not found", "text/plain")
                return
            doc = {"version": 1, "title": s.title, "id": hashlib.sha1(s.extid.encode()).hexdigest(),
                   "fix-commits": [_commit(c) for c in s.fixes],
                   "discussions": [f"https://lore.kernel.org/all/{m}/T/" for m in sorted(s.reports)
                                   if m not in self.out_msgs][:3],
                   "crashes": [{"title": s.title}]}
            send(h, 200, json.dumps(doc, indent="\t"), js)
        else:
            send(h, 404, "not found", "text/plain")

    def _serve_stable(self, h: BaseHTTPRequestHandler, base: str, path: str, q: dict[str, str]) -> None:
        send(h, 404, "<html><body><h1>Not Found</h1></body></html>")


# First releases of each major series; a release came about every 66 days since 3.0.
_SERIES = {3: datetime(2011, 7, 21, tzinfo=UTC), 4: datetime(2015, 4, 12, tzinfo=UTC),
           5: datetime(2019, 3, 3, tzinfo=UTC), 6: datetime(2022, 10, 2, tzinfo=UTC),
           7: datetime(2026, 4, 12, tzinfo=UTC)}


def _release_date(version: str) -> datetime:
    """About when a patch for mainline ``version`` was posted (six weeks before the release; a
    SIMULATED date for the patches no corpus report dates, used only to order search results)."""
    m = re.match(r"(\d+)\.(\d+)", version)
    if not m or int(m.group(1)) not in _SERIES:
        return datetime(2020, 1, 1, tzinfo=UTC)
    return _SERIES[int(m.group(1))] + timedelta(days=66 * int(m.group(2)) - 42)


def _uuid(text: str) -> str:
    d = hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()
    return f"{d[:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:32]}"


def _commit(c: tuple[str, str]) -> dict[str, str]:
    sha, subject = c
    return {"title": subject, "link": f"https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id={sha}",
            "hash": sha, "repo": "git://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git", "branch": "master"}


def _bz_json(b: Bug) -> dict[str, Any]:
    return {"id": b.id, "summary": b.summary, "status": "RESOLVED" if b.fixed else "NEW",
            "resolution": "CODE_FIX" if b.fixed else "", "product": "Other", "component": "Other",
            "cf_kernel_version": "", "cf_regression": "No", "cf_bisect_commit": "", "cf_tree": "Mainline",
            "is_open": not b.fixed, "creation_time": b.created.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "last_change_time": b.created.strftime("%Y-%m-%dT%H:%M:%SZ"), "see_also": []}
