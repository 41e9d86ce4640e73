"""The fleet roll-up of a batch (``sigmatch match --jsonl FILE --summary``): which known bugs the
fleet hit, how often, first and last seen, on which kernels.

Every answered log counts once for each known bug it matches *confidently*; a log with no confident
match counts under "no confident match" (with its closest candidate, a suggestion), a log with no
crash report and a line that could not be answered are counted apart. Groups are ordered by count,
then id; kernels by count, then version string; ids in input order: the same batch gives the same
roll-up whatever the number of jobs.

When a log was taken, in this order:

1. an input field: ``"time"``, ``"timestamp"``, ``"date"`` or ``"seen"`` (ISO 8601 / RFC 3339,
   an RFC 2822 mail date, or seconds since the epoch; ms and µs are recognized by size);
2. the wall-clock stamp printed on the crash report's first line (else the nearest stamped line
   before it, else after it): ISO 8601 (``journalctl -o short-iso``, RFC 5424 syslog, rsyslog's
   RFC 3339 format), ``dmesg -T``'s ``[Mon Apr 14 08:12:21 2024]``, the journal's
   ``__REALTIME_TIMESTAMP`` (``-o json`` / ``-o export``). Classic syslog stamps
   (``Apr 14 08:12:21``) carry no year and are not used, nor are ``[ 123.456]`` (seconds since boot).

Times with a zone are shown in UTC (``...Z``); times without one are shown as given and ordered as
if they were UTC. How many of the matched logs got their time each way is in ``times``.
"""

from __future__ import annotations

import email.utils
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sigmatch.trace.model import Report

TIME_FIELDS = ("time", "timestamp", "date", "seen")
MAX_IDS = 20  # ids listed per group
MAX_ERRORS = 20  # bad lines listed
MAX_CLOSEST = 10

_MONTHS = {m: n for n, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct",
                                       "Nov", "Dec"), start=1)}


# --------------------------------------------------------------------------- times


@dataclass(frozen=True, slots=True)
class Seen:
    """A point in time: ``key`` orders (seconds, zone-less times taken as UTC), ``text`` shows."""

    key: float
    text: str


def _seen(dt: datetime) -> Seen:
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
        return Seen(dt.timestamp(), dt.replace(microsecond=0, tzinfo=None).isoformat() + "Z")
    return Seen(dt.replace(tzinfo=UTC).timestamp(), dt.replace(microsecond=0).isoformat())


def _plausible(dt: datetime) -> bool:
    return 1991 <= dt.year <= 2200  # Linux's lifetime, give or take: anything else is noise


def _from_iso(text: str) -> datetime | None:
    s = text.strip().replace(",", ".")
    m = re.match(r"^(.*?\.\d{1,6})\d*(.*)$", s)  # fromisoformat takes at most 6 fraction digits
    if m:
        s = m.group(1) + m.group(2)
    try:
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt if _plausible(dt) else None


def _from_epoch(value: float) -> datetime | None:
    for scale in (1.0, 1e3, 1e6):  # seconds, milliseconds, microseconds
        if value < 1e11 * scale:
            try:
                dt = datetime.fromtimestamp(value / scale, UTC)
            except (OverflowError, OSError, ValueError):
                return None
            return dt if _plausible(dt) else None
    return None


def time_of(value: Any) -> Seen | None:
    """An input field's time (ISO 8601, RFC 2822, or epoch seconds/ms/µs), ``None`` if unusable."""
    dt: datetime | None = None
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        dt = _from_epoch(float(value)) if value > 0 else None
    elif isinstance(value, str) and 0 < len(value) <= 100:
        v = value.strip()
        if re.fullmatch(r"\d{9,19}(?:\.\d+)?", v):
            dt = _from_epoch(float(v))
        else:
            dt = _from_iso(v)
            if dt is None:
                try:
                    dt = email.utils.parsedate_to_datetime(v)
                except (TypeError, ValueError, IndexError):
                    dt = None
                if dt is not None and not _plausible(dt):
                    dt = None
    return _seen(dt) if dt is not None else None


@dataclass(frozen=True, slots=True)
class TimeRule:
    """One way a console line carries a wall-clock time."""

    name: str
    pattern: re.Pattern[str]
    convert: Callable[[re.Match[str]], datetime | None]


def _dmesg_t(m: re.Match[str]) -> datetime | None:
    hh, mm, ss = (int(x) for x in m.group(3).split(":"))
    try:
        dt = datetime(int(m.group(4)), _MONTHS[m.group(1)], int(m.group(2)), hh, mm, ss)
    except (KeyError, ValueError):
        return None
    return dt if _plausible(dt) else None


def _journal(m: re.Match[str]) -> datetime | None:
    return _from_epoch(float(m.group(1)))


# Tried in this order on each line (the first that matches gives the line's time).
TIME_RULES: tuple[TimeRule, ...] = (
    # journalctl -o short-iso / short-iso-precise, rsyslog RFC 3339, RFC 5424 ("<34>1 " first)
    TimeRule("iso8601", re.compile(
        r"^(?:<\d{1,3}>1 )?(\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?)(?=[\s\]]|$)"),
        lambda m: _from_iso(m.group(1))),
    # dmesg -T / --ctime (local time, no zone)
    TimeRule("dmesg-T", re.compile(
        r"^\[(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun) (\w{3}) +(\d{1,2}) (\d\d:\d\d:\d\d) (\d{4})\]"), _dmesg_t),
    # journalctl -o json ("__REALTIME_TIMESTAMP" : "1713082341123456") and -o export (KEY=value)
    TimeRule("journal", re.compile(r"__REALTIME_TIMESTAMP\"?\s*[:=]\s*\"?(\d{10,19})"), _journal),
)


def line_time(line: str) -> Seen | None:
    """The wall-clock time a console line was printed at, when it says it."""
    if not line:
        return None
    c = line[0]
    if not (c.isdigit() or c in "<[" or "__REALTIME_TIMESTAMP" in line):
        return None
    for rule in TIME_RULES:
        m = rule.pattern.search(line) if rule.name == "journal" else rule.pattern.match(line)
        if m:
            dt = rule.convert(m)
            if dt is not None:
                return _seen(dt)
    return None


def report_times(log: str, reports: Sequence[Report]) -> list[Seen | None]:
    """Per report: the time on its first line in ``log``, else the nearest stamped line before it,
    else after it; ``None`` when the log carries no wall-clock time at all."""
    lines = log.splitlines()
    stamps: list[tuple[int, Seen]] = []
    for i, line in enumerate(lines):
        t = line_time(line)
        if t is not None:
            stamps.append((i, t))
    if not stamps:
        return [None] * len(reports)
    out: list[Seen | None] = []
    searched_from: dict[str, int] = {}
    for r in reports:
        head = next((x.strip() for x in r.text.splitlines() if x.strip()), "") or r.title
        at = None
        for i in range(searched_from.get(head, 0), len(lines)):
            if head and head in lines[i]:
                at = i
                break
        if at is None:
            out.append(stamps[0][1])
            continue
        searched_from[head] = at + 1  # the same banner twice: the second report is the second one
        before = [t for i, t in stamps if i <= at]
        out.append(before[-1] if before else stamps[0][1])
    return out


# --------------------------------------------------------------------------- one log's item


def log_item(res: Mapping[str, Any], obj: Mapping[str, Any], log: str | None,
             reports: Sequence[Report]) -> dict[str, Any]:
    """What the roll-up keeps of one answered (or failed) line: small, plain, picklable."""
    item: dict[str, Any] = {"id": res.get("id"), "line": res.get("line")}
    if "error" in res:
        item["error"] = res["error"]
        return item
    given = None
    for k in TIME_FIELDS:
        if k in obj:
            given = time_of(obj[k])
            if given is not None:
                break
    times: list[Seen | None] = report_times(log, reports) if given is None and log and reports else []
    item["reports"] = len(res.get("reports") or ())
    kernel = res.get("kernel") or {}
    item["kernel"] = kernel.get("raw") if isinstance(kernel, dict) else None
    bugs: dict[str, dict[str, Any]] = {}
    for m in res.get("matches") or ():
        if not m.get("confident") or m.get("bug_id") in bugs:
            continue
        why = m.get("why") or {}
        idx = why.get("report_index") if isinstance(why, dict) else None
        seen = given
        source = "input" if given is not None else None
        if seen is None and times:
            seen = times[idx] if isinstance(idx, int) and 0 <= idx < len(times) else times[0]
            source = "log" if seen is not None else None
        verdict = m.get("verdict") or {}
        bugs[m["bug_id"]] = {
            "bug_id": m["bug_id"], "title": m.get("title", ""),
            "fixes": [[f.get("short", ""), f.get("subject", "")] for f in m.get("fixes") or ()],
            "kernel": verdict.get("running") or item["kernel"], "status": verdict.get("status") or "unknown",
            "seen": [seen.key, seen.text] if seen is not None else None, "time_source": source,
        }
    item["bugs"] = list(bugs.values())
    matches = res.get("matches") or ()
    if not bugs and matches:
        item["closest"] = [matches[0].get("bug_id"), matches[0].get("title", "")]
    return item


# --------------------------------------------------------------------------- the roll-up


@dataclass
class _Group:
    bug_id: str
    title: str
    fixes: list[list[str]]
    count: int = 0
    first: tuple[float, str] | None = None
    last: tuple[float, str] | None = None
    unknown_time: int = 0
    ids: list[Any] = field(default_factory=list)
    kernels: dict[str, Counter[str]] = field(default_factory=dict)  # kernel -> verdict statuses

    def add(self, b: Mapping[str, Any], item_id: Any) -> None:
        self.count += 1
        if len(self.ids) < MAX_IDS:
            self.ids.append(item_id)
        seen = b.get("seen")
        if seen is None:
            self.unknown_time += 1
        else:
            key, text = float(seen[0]), str(seen[1])
            if self.first is None or (key, text) < self.first:
                self.first = (key, text)
            if self.last is None or (key, text) > self.last:
                self.last = (key, text)
        self.kernels.setdefault(b.get("kernel") or "unknown", Counter())[str(b.get("status") or "unknown")] += 1

    def to_dict(self) -> dict[str, Any]:
        kernels = sorted(self.kernels.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        return {
            "bug_id": self.bug_id, "title": self.title,
            "fixes": [{"short": s, "subject": subj} for s, subj in self.fixes],
            "count": self.count,
            "first_seen": self.first[1] if self.first else None,
            "last_seen": self.last[1] if self.last else None,
            "time_unknown": self.unknown_time,
            "kernels": [{"kernel": k, "count": sum(c.values()), "status": "/".join(sorted(c))} for k, c in kernels],
            "ids": list(self.ids),
        }


class Rollup:
    """Accumulates :func:`log_item` items in input order; :meth:`to_dict` is the roll-up."""

    def __init__(self, catalog_version: str = "", algorithm_version: str = "") -> None:
        self.catalog_version = catalog_version
        self.algorithm_version = algorithm_version
        self.lines = 0
        self.errors: list[dict[str, Any]] = []
        self.error_count = 0
        self.no_report = 0
        self.unmatched = 0
        self.closest: Counter[str] = Counter()
        self.closest_titles: dict[str, str] = {}
        self.groups: dict[str, _Group] = {}
        self.times: Counter[str] = Counter()

    def add(self, item: Mapping[str, Any]) -> None:
        self.lines += 1
        if "error" in item:
            self.error_count += 1
            if len(self.errors) < MAX_ERRORS:
                self.errors.append({"id": item.get("id"), "line": item.get("line"), "error": item["error"]})
            return
        if not item.get("reports"):
            self.no_report += 1
            return
        bugs = item.get("bugs") or ()
        if not bugs:
            self.unmatched += 1
            closest = item.get("closest")
            if closest and closest[0]:
                self.closest[closest[0]] += 1
                self.closest_titles[closest[0]] = closest[1]
            return
        for b in bugs:
            group = self.groups.get(b["bug_id"])
            if group is None:
                group = self.groups[b["bug_id"]] = _Group(b["bug_id"], b.get("title", ""), list(b.get("fixes") or ()))
            group.add(b, item.get("id"))
        self.times[bugs[0].get("time_source") or "none"] += 1

    def to_dict(self) -> dict[str, Any]:
        groups = sorted(self.groups.values(), key=lambda g: (-g.count, g.bug_id))
        closest = sorted(self.closest.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_CLOSEST]
        matched = self.lines - self.error_count - self.no_report - self.unmatched
        return {
            "logs": self.lines,
            "confident": matched,
            "bugs": [g.to_dict() for g in groups],
            "no_confident_match": {"count": self.unmatched,
                                   "closest": [{"bug_id": b, "title": self.closest_titles.get(b, ""), "count": n}
                                               for b, n in closest]},
            "no_crash_report": self.no_report,
            "errors": {"count": self.error_count, "first": list(self.errors)},
            "times": {"input": self.times["input"], "log": self.times["log"], "none": self.times["none"]},
            "catalog_version": self.catalog_version,
            "algorithm_version": self.algorithm_version,
        }


def render(d: Mapping[str, Any]) -> str:
    """The roll-up for people: one block per known bug, most frequent first."""
    out = [f"Fleet roll-up: {d['logs']} log(s); {d['confident']} matched a known bug confidently, "
           f"{len(d['bugs'])} known bug(s)."]
    for g in d["bugs"]:
        out.append(f"{g['count']:6}  {g['bug_id']} - {g['title']}")
        for f in g["fixes"][:3]:
            out.append(f"        fix:     {f['short']} \"{f['subject']}\"")
        when = (f"{g['first_seen']} .. {g['last_seen']}" if g["first_seen"] else "unknown")
        if g["first_seen"] and g["time_unknown"]:
            when += f" ({g['time_unknown']} log(s) without a time)"
        out.append(f"        seen:    {when}")
        out.append("        kernels: " + ", ".join(f"{k['kernel']} x{k['count']} ({k['status'].replace('_', ' ')})"
                                                   for k in g["kernels"][:12])
                   + (f", ... {len(g['kernels']) - 12} more" if len(g["kernels"]) > 12 else ""))
        more = g["count"] - len(g["ids"])
        out.append("        ids:     " + ", ".join(str(i) for i in g["ids"]) + (f", ... {more} more" if more > 0 else ""))
    nc = d["no_confident_match"]
    if nc["count"]:
        closest = ", ".join(f"{c['bug_id']} x{c['count']}" for c in nc["closest"])
        out.append(f"{nc['count']:6}  no confident match (may be new bugs)" + (f"; closest, not answers: {closest}" if closest else ""))
    if d["no_crash_report"]:
        out.append(f"{d['no_crash_report']:6}  no kernel crash report in the log")
    errs = d["errors"]
    if errs["count"]:
        shown = "; ".join(f"line {e['line']}" + (f" (id {e['id']})" if e["id"] is not None else "") + f": {e['error']}"
                          for e in errs["first"][:5])
        out.append(f"{errs['count']:6}  line(s) not answered: {shown}" + (" ..." if errs["count"] > 5 else ""))
    t = d["times"]
    out.append(f"(times: {t['input']} from input fields, {t['log']} from the logs, {t['none']} unknown; "
               f"catalog {d['catalog_version']}, algorithm {d['algorithm_version']})")
    return "\n".join(out)

