"""Turning whatever bytes a person pasted into text the parser can read. Pure, no I/O."""

from __future__ import annotations

from sigmatch.errors import InputError

# Share of control bytes (other than tab/newline/CR/ESC/form feed) above which input is "binary".
_BINARY_SHARE = 0.10
_TEXT_CONTROLS = frozenset(b"\t\n\r\x1b\x0c")
# Every byte that is not a "bad" control byte: deleting these leaves only the bad ones to count.
_NOT_BAD = bytes(b for b in range(256) if b >= 32 or b in _TEXT_CONTROLS)


def human_bytes(n: int) -> str:
    """``2097152`` -> ``2 MiB``, ``1536`` -> ``1.5 KiB``, ``900`` -> ``900 bytes`` (for messages)."""
    size = float(n)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            if unit == "bytes":
                return f"{int(size)} bytes"
            return f"{size:.1f}".rstrip("0").rstrip(".") + f" {unit}"
        size /= 1024
    return f"{n} bytes"  # pragma: no cover - the loop always returns


def looks_binary(data: bytes, sample: int = 65536) -> bool:
    head = data[:sample]
    if not head:
        return False
    bad = len(head.translate(None, _NOT_BAD))
    return bad / len(head) > _BINARY_SHARE


def decode_log(data: bytes | str, *, max_bytes: int | None = None) -> str:
    """Decode a pasted log: UTF-8 where it is, Latin-1 for stray bytes; refuse binary and empty input.

    Raises :class:`InputError` (``reason`` = ``empty``, ``too_large`` or ``binary``).
    """
    if isinstance(data, str):
        text = data
        size = len(text.encode("utf-8", "surrogatepass"))
    else:
        size = len(data)
        if max_bytes is not None and size > max_bytes:
            raise InputError(_too_large(size, max_bytes), reason="too_large")
        if looks_binary(data):
            raise InputError("input looks binary, not a text log", reason="binary")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            # Console captures mix encodings; keep valid UTF-8 and map other bytes one-to-one.
            text = data.decode("utf-8", "replace")
    if max_bytes is not None and size > max_bytes:
        raise InputError(_too_large(size, max_bytes), reason="too_large")
    text = text.replace("\x00", "")
    if not text.strip():
        raise InputError("the log is empty", reason="empty")
    return text


def _too_large(size: int, limit: int) -> str:
    shown = human_bytes(size)
    return (f"the log is larger than {human_bytes(limit)}, the most this server accepts"
            + (f" ({shown})" if shown != human_bytes(limit) else "")
            + ": send the crash report itself, from its first line to the end of its call trace")
