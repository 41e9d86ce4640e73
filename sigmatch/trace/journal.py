"""systemd journal exports as console text: ``journalctl -o json`` (also ``json-pretty``,
``json-seq``) and ``journalctl -o export``, one console line per kernel entry. Pure, no I/O.

What the tools print (systemd's JOURNAL_EXPORT_FORMATS documentation):

* JSON: one object per entry, every field a string, except a field whose value is not valid
  UTF-8 or holds control characters (journald unescapes the kernel's ``\\xNN`` escapes, so a
  kernel MESSAGE may), which is an array of byte values, a field with several values, which
  is an array of those, and a value over 4096 bytes without ``--all``, which is ``null``.
  ``json-pretty`` spreads each object over lines; ``json-seq`` puts RS (0x1e) before each.
* Export: entries separated by an empty line; a field is ``KEY=value`` on one line, or, when
  the value is binary, ``KEY``, a newline, the value's length as a 64-bit little-endian
  integer, the value, a newline.

An entry becomes ``[seconds.micros] MESSAGE`` (the kernel's own timestamp,
``_SOURCE_MONOTONIC_TIMESTAMP``, as dmesg prints it; else the journal's monotonic time), a
message of several lines one line each. When the export holds kernel entries (``_TRANSPORT=kernel``
or ``SYSLOG_IDENTIFIER=kernel``) the other entries (services, journald itself) are left out, as
``journalctl -k`` would. A pasted export is often damaged (cut, re-wrapped, NUL bytes lost on the
way: :func:`sigmatch.textio.decode_log` removes them): what can be read is read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

Entry = dict[str, Any]

# The first lines of an export or a JSON dump name a few of these fields.
_JSON_START = re.compile(r'\A[\s\x1e]{0,64}\{\s{0,64}"(?:__CURSOR|__REALTIME_TIMESTAMP|_[A-Z_]{2,32}|MESSAGE|PRIORITY|SYSLOG_[A-Z_]{1,32})"\s{0,8}:')
# An export's field lines ("KEY=value", or "KEY" before a binary value); these keys show that it
# is a journal's (the paste may start anywhere in an entry, not only at its __CURSOR).
_FIELD_LINE = re.compile(r"([A-Z_][A-Z0-9_]{0,63})(?:=|$)")
_JOURNAL_KEYS = frozenset({"__CURSOR", "__REALTIME_TIMESTAMP", "__MONOTONIC_TIMESTAMP", "_BOOT_ID", "_TRANSPORT",
                           "_HOSTNAME", "SYSLOG_IDENTIFIER", "SYSLOG_FACILITY", "PRIORITY", "MESSAGE",
                           "_SOURCE_MONOTONIC_TIMESTAMP", "_MACHINE_ID"})
_KEY = re.compile(r"[A-Z0-9_]{1,64}")
# A damaged JSON line: the MESSAGE string can still be read.
_JSON_MESSAGE = re.compile(r'"MESSAGE"\s{0,8}:\s{0,8}"((?:[^"\\\n]|\\.){0,65536})"')
MAX_ENTRIES = 400_000  # entries read (normalize.MAX_LINES lines of one log)


def console_text(text: str) -> str | None:
    """The journal export or JSON dump as console lines, or None when ``text`` is neither."""
    if _JSON_START.match(text):
        entries = list(_json_entries(text))
    elif _looks_export(text):
        entries = list(_export_entries(text))
    else:
        return None
    if not entries:
        return None
    return "\n".join(_console_lines(entries))


def _looks_export(text: str) -> bool:
    """The first lines are export field lines, two of them with keys journald writes."""
    first = text[:64].lstrip("\n")[:1]
    if not ("A" <= first <= "Z" or first == "_"):
        return False
    start = text[:4096].lstrip("\n")
    if _FIELD_LINE.match(start.partition("\n")[0]) is None:
        return False  # the first line is no field line (most logs starting with a capital: "BUG: ...")
    fields = [m.group(1) for line in start.split("\n")[:12] if (m := _FIELD_LINE.match(line))]
    return len(_JOURNAL_KEYS.intersection(fields)) >= 2


def _console_lines(entries: list[Entry]) -> Iterator[str]:
    kernel = [e for e in entries if _is_kernel(e)]
    for e in kernel or entries:
        message = _text(e.get("MESSAGE"))
        if message is None:
            continue  # null: longer than journalctl's field limit, or no message
        stamp = _stamp(e)
        ident = "" if kernel else _ident(e)
        for line in message.split("\n"):
            yield f"{stamp}{ident}{line}"


def _is_kernel(e: Entry) -> bool:
    return _text(e.get("_TRANSPORT")) == "kernel" or _text(e.get("SYSLOG_IDENTIFIER")) == "kernel"


def _ident(e: Entry) -> str:
    ident = _text(e.get("SYSLOG_IDENTIFIER"))
    return f"{ident}: " if ident else ""


def _stamp(e: Entry) -> str:
    for key in ("_SOURCE_MONOTONIC_TIMESTAMP", "__MONOTONIC_TIMESTAMP"):
        v = _text(e.get(key))
        if v and v.isascii() and v.isdigit() and len(v) <= 18:
            us = int(v)
            return f"[{us // 1_000_000:5d}.{us % 1_000_000:06d}] "
    return ""


def _text(value: Any) -> str | None:
    """A field value as text: a string; an array of byte values (decoded as UTF-8, other bytes
    replaced); several values (one per line); anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list) and value:
        if all(isinstance(b, int) and 0 <= b < 256 for b in value):
            return bytes(value).decode("utf-8", "replace")
        parts = [_text(v) for v in value]
        return "\n".join(p for p in parts if p is not None) or None
    return None


# --- JSON ------------------------------------------------------------------------------------

def _json_entries(text: str) -> Iterator[Entry]:
    """The objects of a json / json-pretty / json-seq dump, in order; a damaged object gives
    what a regex can still read of its MESSAGE."""
    decoder = json.JSONDecoder()
    pos, n, count = 0, len(text), 0
    while pos < n and count < MAX_ENTRIES:
        start = text.find("{", pos)
        if start < 0:
            break
        try:
            obj, end = decoder.raw_decode(text, start)
        except (ValueError, RecursionError):
            end = text.find("\n", start + 1)
            end = n if end < 0 else end
            m = _JSON_MESSAGE.search(text, start, end)
            if m:
                obj = {"MESSAGE": _unescape(m.group(1))}
                head = text[start:m.start()]
                for key in ("_TRANSPORT", "SYSLOG_IDENTIFIER"):
                    if f'"{key}":"kernel"' in head.replace(" ", ""):
                        obj[key] = "kernel"
            else:
                obj = None
        if isinstance(obj, dict):
            count += 1
            yield obj
        pos = max(end, start + 1)


def _unescape(s: str) -> str:
    try:
        v = json.loads(f'"{s}"')
    except ValueError:
        return s
    return v if isinstance(v, str) else s


# --- export ----------------------------------------------------------------------------------

def _export_entries(text: str) -> Iterator[Entry]:
    entry: Entry = {}
    pos, n, count = 0, len(text), 0
    while pos < n and count < MAX_ENTRIES:
        eol = text.find("\n", pos)
        if eol < 0:
            eol = n
        line = text[pos:eol]
        pos = eol + 1
        if not line.strip():
            if entry:
                count += 1
                yield entry
            entry = {}
            continue
        key, eq, value = line.partition("=")
        if eq and _KEY.fullmatch(key):
            entry[key] = value
        elif _KEY.fullmatch(line):
            entry[line], pos = _binary_value(text, pos)
    if entry:
        yield entry


def _binary_value(text: str, pos: int) -> tuple[str, int]:
    """A binary field's value (after its length prefix), and where the next field starts.

    With the NUL bytes kept (the text came from the file as it is), the prefix is the 8
    characters at ``pos`` and the value that many bytes (to the end of the line when a byte of
    the prefix was lost to a replacement character). Decoded through decode_log, the prefix lost
    its NUL bytes: the value runs to the end of the line, and the prefix is the 0 to 8 characters
    whose values are the non-zero bytes of the value's length (:func:`_prefix_length`).
    """
    head = text[pos:pos + 8]
    if len(head) == 8 and "\x00" in head:  # a length below 2**56 has a zero top byte
        size = _le64(head)
        if size is not None:
            end = _after_bytes(text, pos + 8, size)
            if end < len(text) and text[end] == "\n":
                return text[pos + 8:end], end + 1
        eol = text.find("\n", pos + 8)
        eol = len(text) if eol < 0 else eol
        return text[pos + 8:eol], eol + 1
    eol = text.find("\n", pos)
    eol = len(text) if eol < 0 else eol
    raw = text[pos:eol]
    return raw[_prefix_length(raw):], eol + 1


def _byte(c: str) -> int | None:
    """The byte a character of decoded text stands for: itself below 256, a surrogate escape
    (decode(..., "surrogateescape")) its byte; None for a replacement character or other text."""
    o = ord(c)
    if o < 256:
        return o
    if 0xDC80 <= o <= 0xDCFF:
        return o - 0xDC00
    return None


def _le64(head: str) -> int | None:
    values = [_byte(c) for c in head]
    if any(b is None for b in values):
        return None
    return int.from_bytes(bytes(b for b in values if b is not None), "little")


def _size(c: str) -> int:
    """Bytes a decoded character came from: a replacement character or a surrogate escape is one."""
    if c == "\ufffd" or 0xDC80 <= ord(c) <= 0xDCFF:
        return 1
    return len(c.encode("utf-8", "surrogatepass"))


def _after_bytes(text: str, start: int, size: int) -> int:
    """The position after ``size`` bytes of text from ``start``."""
    chunk = text[start:start + size]
    if chunk.isascii():
        return start + len(chunk)
    k = start
    while size > 0 and k < len(text):
        size -= _size(text[k])
        k += 1
    return k


def _prefix_length(raw: str) -> int:
    """How many leading characters of ``raw`` are a length prefix without its NUL bytes (a
    replacement character stands for any byte over 0x7f); 0 when none fits."""
    for k in range(min(8, len(raw)), 0, -1):
        size = sum(_size(c) for c in raw[k:])
        # a replacement character in the value came from one bad byte, or was one in the text (3 bytes)
        for n in {size, size + 2 * raw.count("\ufffd", k)}:
            nonzero = [b for b in n.to_bytes(8, "little") if b]
            if len(nonzero) == k and all(
                    (c == "\ufffd" and b > 0x7F) or _byte(c) == b for c, b in zip(raw[:k], nonzero, strict=True)):
                return k
    return 0
