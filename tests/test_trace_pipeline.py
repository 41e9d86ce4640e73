"""The parser's rule pipelines (trace/parse.py): a rule that fails is noted, the others go on."""

from __future__ import annotations

import pytest

from sigmatch import parse_log
from sigmatch.trace import parse

WARNING = """\
WARNING: CPU: 1 PID: 42 at fs/ext4/inode.c:123 ext4_do_thing+0x1a/0x40
Modules linked in: ext4
CPU: 1 PID: 42 Comm: kworker/1:0 Not tainted 6.1.0 #1
RIP: 0010:ext4_do_thing+0x1a/0x40
Call Trace:
 <TASK>
 ext4_caller+0x10/0x20
 vfs_write+0x1/0x2
 ksys_write+0x1/0x2
 </TASK>
"""


def _boom(*_args: object) -> bool:
    raise RuntimeError("rule bug")


def test_failing_title_rule_is_noted_and_the_rest_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tuple((n, _boom if n == "fixed-alts" else r) for n, r in parse._TITLE_RULES)
    monkeypatch.setattr(parse, "_TITLE_RULES", rules)
    (r,) = parse_log(WARNING)
    assert r.title == "WARNING in ext4_do_thing"
    assert any(n.startswith("title rule fixed-alts failed: RuntimeError") for n in r.notes), r.notes


def test_failing_title_name_rule_falls_back_to_the_header(monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tuple((n, _boom if n == "name" else r) for n, r in parse._TITLE_RULES)
    monkeypatch.setattr(parse, "_TITLE_RULES", rules)
    (r,) = parse_log(WARNING)
    assert r.title.startswith("WARNING: CPU: NUM PID: NUM at fs/ext4/inode.c")
    assert any("title rule name failed" in n for n in r.notes)


def test_failing_recipe_step_is_noted_and_the_walk_goes_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(parse._STEP_RULES, "rip", _boom)
    (r,) = parse_log(WARNING)
    assert any(n.startswith("recipe step rip failed: RuntimeError") for n in r.notes), r.notes
    assert [f.function for f in r.frames][:2] == ["ext4_caller", "vfs_write"]
    assert r.guilty_frame == "ext4_do_thing"  # the header line names it (the func step)
