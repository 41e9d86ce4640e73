"""benchmarks/parse_identity.py: a saved reference checks equal, and any change of one report's
output is found and named (on the repository's own fixture and synthetic sets: fast, no ../shared)."""

from __future__ import annotations

import gzip
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "parse_identity.py"
SETS = "fixtures,synthetic,lines"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("parse_identity", SCRIPT)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("parse_identity", mod)
    spec.loader.exec_module(mod)
    return mod


def _rewrite(ref: Path, edit: object) -> None:
    with gzip.open(ref, "rt", encoding="utf-8") as fh:
        records = [json.loads(line) for line in fh]
    edit(records)  # type: ignore[operator]
    with gzip.open(ref, "wt", encoding="utf-8") as fh:
        fh.writelines(json.dumps(r) + "\n" for r in records)


def test_identical_then_a_changed_title_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pi = _script()
    ref = tmp_path / "ref.jsonl.gz"
    assert pi.main(["save", "--ref", str(ref), "--sets", SETS]) == 0
    assert pi.main(["check", "--ref", str(ref), "--sets", SETS]) == 0
    assert "0 differ" in capsys.readouterr().out

    def retitle(records: list[dict[str, object]]) -> None:
        for r in records:
            if r["id"] == "hung-task-modern.log/1":
                r["reports"][0]["title"] = "INFO: task hung in something_else"  # type: ignore[index]

    _rewrite(ref, retitle)
    assert pi.main(["check", "--ref", str(ref), "--sets", SETS]) == 1
    out = capsys.readouterr().out
    assert "1 differ" in out and "differs: synthetic hung-task-modern.log/1" in out
    assert "something_else" in out  # the diff of the snapshot is shown


def test_cleaned_lines_and_dropped_records_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pi = _script()
    ref = tmp_path / "ref.jsonl.gz"
    assert pi.main(["save", "--ref", str(ref), "--sets", "lines,fixtures"]) == 0

    def edit(records: list[dict[str, object]]) -> None:
        records[0]["lines"][5][2] = not records[0]["lines"][5][2]  # type: ignore[index]
        records.append({"set": "fixtures", "id": "gone.log", "reports": []})

    _rewrite(ref, edit)
    assert pi.main(["check", "--ref", str(ref), "--sets", "lines,fixtures"]) == 1
    out = capsys.readouterr().out
    assert "differs: lines lines/0" in out and "1 in the reference only" in out


def test_skips_the_corpus_when_shared_is_absent(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    pi = _script()
    monkeypatch.setattr(pi, "SHARED", tmp_path / "no-shared")
    ref = tmp_path / "ref.jsonl.gz"
    assert pi.main(["save", "--ref", str(ref), "--sets", "crashes,fixtures"]) == 0
    err = capsys.readouterr().err
    assert "not found" in err and "skipped" in err
    with gzip.open(ref, "rt", encoding="utf-8") as fh:
        assert {json.loads(line)["set"] for line in fh} == {"fixtures"}
