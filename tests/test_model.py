"""The hand-written to_dict methods of the core values stay complete and JSON-able."""

from __future__ import annotations

import json
from dataclasses import asdict, fields

from sigmatch.textio import decode_log, looks_binary
from sigmatch.trace.model import Context, Frame


def test_frame_to_dict_has_every_field() -> None:
    f = Frame("fsnotify", "fsnotify.isra.3", "mod", False, Context.IRQ, "fs/notify/fsnotify.c", 12, True, True,
              True, "skipped: generic")
    expected = asdict(f) | {"context": "irq"}
    assert f.to_dict() == expected
    assert set(f.to_dict()) == {x.name for x in fields(Frame)}
    json.dumps(f.to_dict())


def test_binary_detection_counts_only_bad_control_bytes() -> None:
    assert looks_binary(bytes(range(32)) * 10)
    assert not looks_binary(b"[ 1.0] ok\tline\r\n\x1b[0m" * 100)
    assert not looks_binary(b"")
    assert decode_log(b"caf\xe9 kernel: BUG: x\n").startswith("caf")  # stray Latin-1 byte: replaced, not refused
