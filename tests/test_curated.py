"""The curated catalog: the real signatures/ tree, and broken files that must be reported as
``file: field: problem``."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import jsonschema
import pytest
import yaml
from conftest import shared_path

from sigmatch import parse_log, signature_of
from sigmatch.catalog.catalog import curated_entries
from sigmatch.catalog.curated import MAX_FILE_BYTES, lint, load_curated, load_file
from sigmatch.catalog.model import FixCommit, Introduced, KnownBug, Origin, StableFix, Status
from sigmatch.catalog.versions import verdict, version_from_log
from sigmatch.config import Settings
from sigmatch.errors import SignatureFileError

REPO = Path(__file__).resolve().parents[1]
SIGNATURES = REPO / "signatures"
ENTRY_FILES = sorted(SIGNATURES.glob("*.yaml"))

# A small oops in the real x86-64 format, written for these tests.
TRACE = """\
BUG: kernel NULL pointer dereference, address: 0000000000000010
#PF: supervisor read access in kernel mode
Oops: 0000 [#1] SMP NOPTI
CPU: 3 PID: 4242 Comm: widgetd Not tainted 6.1.50 #1
RIP: 0010:widget_poke+0x1d/0x80 [widget]
Call Trace:
 <TASK>
 widget_ioctl+0x5a/0x120 [widget]
 __x64_sys_ioctl+0x8d/0xd0
 do_syscall_64+0x3b/0x90
 entry_SYSCALL_64_after_hwframe+0x63/0xcd
 </TASK>
"""

SHA = "0123456789abcdef0123456789abcdef01234567"


def good_entry(bug_id: str = "widget-poke-null") -> dict[str, object]:
    return {
        "id": bug_id,
        "title": "widget: NULL dereference in widget_poke()",
        "summary": "A test entry.",
        "kinds": ["null_deref"],
        "examples": [{"trace": TRACE, "source": "written for tests"}],
        "introduced": {"release": "5.10", "verified": False},
        "fixes": [{"sha": SHA, "subject": "widget: check the widget", "mainline": "6.2", "source": "test"}],
        "stable": [
            {"branch": "6.1", "version": "6.1.60", "source": "test"},
            {"branch": "5.15", "version": None, "source": "test"},
        ],
        "references": [{"kind": "cve", "value": "CVE-2099-0001"}, {"kind": "bugzilla", "value": "1"}],
    }


def write(directory: Path, name: str, doc: object) -> Path:
    path = directory / name
    path.write_text(doc if isinstance(doc, str) else yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


def messages(directory: Path) -> list[str]:
    return [str(e) for e in lint(directory)]


# ------------------------------------------------------------------------------ the real tree


def test_schema_is_valid_draft_2020_12() -> None:
    schema = json.loads((SIGNATURES / "schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$schema"].endswith("/draft/2020-12/schema")


def test_real_tree_lints_clean() -> None:
    assert messages(SIGNATURES) == []


def test_real_tree_loads() -> None:
    bugs = load_curated(SIGNATURES)
    assert len(bugs) == len(ENTRY_FILES) >= 16
    assert len({b.id for b in bugs}) == len(bugs)
    for bug in bugs:
        assert bug.origin is Origin.CURATED
        assert bug.source_path and Path(bug.source_path).stem == bug.id
        assert bug.signatures, bug.id
        assert bug.fixes and all(len(f.sha) == 40 for f in bug.fixes), bug.id
        assert bug.summary and bug.kinds, bug.id


def test_default_directory_comes_from_the_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    write(tmp_path, "widget-poke-null.yaml", good_entry())
    monkeypatch.setenv("SIGMATCH_SIGNATURES_DIR", str(tmp_path))
    assert [b.id for b in curated_entries(Settings.from_env())] == ["widget-poke-null"]
    monkeypatch.delenv("SIGMATCH_SIGNATURES_DIR")
    assert len(curated_entries(Settings.from_env())) == len(ENTRY_FILES)


def test_a_missing_curated_directory_is_an_error_that_names_it(tmp_path: Path) -> None:
    """A deployment whose curated tree is not there must not quietly serve zero curated bugs."""
    from sigmatch.runtime import build_runtime

    gone = tmp_path / "no-such-signatures"
    s = Settings.from_env({"SIGMATCH_SIGNATURES_DIR": str(gone), "SIGMATCH_DATA_DIR": str(tmp_path / "data")})
    with pytest.raises(SignatureFileError, match="no-such-signatures"):
        build_runtime(s).load_catalog()


@pytest.mark.parametrize("path", ENTRY_FILES, ids=[p.stem for p in ENTRY_FILES])
def test_every_example_matches_its_entry(path: Path) -> None:
    """Every curated bug has an example trace, and each parses to a report whose signature matches
    the entry's curated signatures (same title, or the curated frames in order)."""
    doc = yaml.safe_load(path.read_text())
    bug = load_file(path)
    assert doc.get("examples"), f"{path.name}: no example trace"
    curated = [s for s in bug.signatures if not (s.source or "").startswith("examples[")] or list(bug.signatures)
    for i, example in enumerate(doc["examples"]):
        reports = parse_log(example["trace"])
        assert reports, f"{path.name}: examples[{i}] parses to no report"
        assert not reports[0].corrupted, f"{path.name}: examples[{i}]: {reports[0].corrupted_reason}"
        sig = signature_of(reports[0])
        titles = {t for s in curated for t in (s.title, *s.alt_titles) if t}
        by_frames = any(s.frames and _in_order(s.frames, sig.frames) for s in curated)
        assert sig.title in titles or by_frames, f"{path.name}: examples[{i}] -> {sig.title} / {sig.frames}"


def _in_order(needles: tuple[str, ...], haystack: tuple[str, ...]) -> bool:
    it = iter(haystack)
    return all(n in it for n in needles)


def test_every_fact_has_a_source_or_is_marked_unverified() -> None:
    for bug in load_curated(SIGNATURES):
        facts: list[FixCommit | StableFix | Introduced] = [*bug.fixes, *bug.stable]
        facts += [bug.introduced] if bug.introduced else []
        for fact in facts:
            assert fact.source or not fact.verified, f"{bug.id}: {fact}"


def test_fsnotify_entry_gives_the_design_answer() -> None:
    """DESIGN.md's example: the 4.14.32-1.el7 soft lockup is the fsnotify_mark_connector race, fixed by
    d90a10e2444b, and 4.14.32 is affected (the 4.14 release with the backport still unverified)."""
    bug = load_file(SIGNATURES / "fsnotify-mark-connector-race.yaml")
    assert bug.fixes[0].sha.startswith("d90a10e2444b") and bug.mainline_fixed == "4.17"
    assert bug.introduced is not None and bug.introduced.sha and bug.introduced.sha.startswith("08991e83b728")
    assert any(r.kind == "bugzilla" and r.value == "199437" for r in bug.references)
    doc = yaml.safe_load((SIGNATURES / "fsnotify-mark-connector-race.yaml").read_text())
    kinds = [parse_log(e["trace"])[0].kind.value for e in doc["examples"]]
    assert kinds == ["soft_lockup", "gpf"]
    kv = version_from_log(doc["examples"][0]["trace"])
    assert kv is not None and kv.upstream == "4.14.32"
    v = verdict(bug, kv)
    assert v.status is Status.AFFECTED and v.first_fixed == "4.14.38" and v.fixed_branch == "4.14"
    assert v.caveat is not None and "Not yet verified" in v.caveat and "el7" in v.caveat


# ------------------------------------------------------------------------------- a good file


def test_good_entry_builds_a_known_bug(tmp_path: Path) -> None:
    write(tmp_path, "widget-poke-null.yaml", good_entry())
    assert messages(tmp_path) == []
    [bug] = load_curated(tmp_path)
    assert isinstance(bug, KnownBug)
    assert bug.cves == ("CVE-2099-0001",)
    assert bug.unfixed_branches == ("5.15",)
    assert bug.stable_fixed == {"6.1": "6.1.60"}
    assert bug.introduced is not None and bug.introduced.verified is False
    assert bug.fixes[0].verified is True and bug.mainline_fixed == "6.2"
    [sig] = bug.signatures
    assert sig.source is not None and sig.source.startswith("examples[0]")
    assert sig.kind == "null_deref"
    assert "widget_poke" in (sig.title or "")
    assert KnownBug.from_dict(bug.to_dict()) == bug


def test_signatures_only_entry(tmp_path: Path) -> None:
    write(tmp_path, "tt.yaml", {"id": "tt", "title": "only a title signature",
                               "signatures": [{"title": "BUG: soft lockup in foo", "frames": ["foo", "bar"]}]})
    [bug] = load_curated(tmp_path)
    assert bug.signatures[0].frames == ("foo", "bar")
    assert bug.kinds == ()


# ------------------------------------------------------------------------------ broken files

BROKEN: list[tuple[str, object, str]] = [
    ("bad yaml", "id: x\ntitle: [unclosed\n", "x.yaml: (yaml): line 3 column 1:"),
    ("not a mapping", "- just\n- a list\n", "x.yaml: (document): must be a mapping of fields, not a list"),
    ("empty file", "", "x.yaml: (document): must be a mapping of fields, not null"),
    ("missing title", {"id": "x", "signatures": [{"title": "BUG: x in y"}]}, "x.yaml: title: required field is missing"),
    ("no signatures nor examples", {"id": "x", "title": "xyz"},
     "x.yaml: signatures: an entry needs `signatures` or `examples` (or both)"),
    ("short sha", {**good_entry("x"), "fixes": [{"sha": "d90a10e2444b", "source": "src"}]},
     "x.yaml: fixes[0].sha: 'd90a10e2444b': not a 40-hex commit sha"),
    ("upper-case sha", {**good_entry("x"), "fixes": [{"sha": SHA.upper(), "source": "src"}]},
     "x.yaml: fixes[0].sha:"),
    ("unquoted mainline", {**good_entry("x"), "fixes": [{"sha": SHA, "mainline": 4.10, "source": "src"}]},
     "x.yaml: fixes[0].mainline: the number 4.1 where string is expected (quote it"),
    ("unquoted stable version", {**good_entry("x"), "stable": [{"branch": "4.14", "version": 4.14, "source": "src"}]},
     "x.yaml: stable[0].version: 4.14: not an upstream release nor null (quote it"),
    ("bad release", {**good_entry("x"), "introduced": {"release": "v4.12", "verified": False}},
     "x.yaml: introduced.release: 'v4.12': not an upstream release"),
    ("typo field", {**good_entry("x"), "fixes": [{"sah": SHA, "sha": SHA, "source": "src"}]},
     "x.yaml: fixes[0].sah: unknown field"),
    ("typo top field", {**good_entry("x"), "sumary": "x"}, "x.yaml: sumary: unknown field"),
    ("bad kind", {**good_entry("x"), "kinds": ["softlockup"]}, "x.yaml: kinds[0]: 'softlockup' is not one of"),
    ("id not file name", good_entry("other-id"), "x.yaml: id: id 'other-id' differs from the file name 'x'"),
    ("bad id", {**good_entry("x"), "id": "X Y"}, "x.yaml: id: 'X Y': ids are up to 100 lower case"),
    ("fact without source", {**good_entry("x"), "fixes": [{"sha": SHA}]},
     "x.yaml: fixes[0].source: a fact needs a `source`, or `verified: false`"),
    ("stable of another branch", {**good_entry("x"), "stable": [{"branch": "4.14", "version": "4.19.2", "source": "src"}]},
     "x.yaml: stable[0].version: '4.19.2' is not a release of branch '4.14'"),
    ("sha twice", {**good_entry("x"), "fixes": [{"sha": SHA, "source": "src"}, {"sha": SHA, "source": "src"}]},
     "x.yaml: fixes[1].sha: listed twice"),
    ("empty signature", {"id": "x", "title": "xyz", "signatures": [{"kind": "gpf"}]},
     "x.yaml: signatures[0]: a signature needs a `title` or `frames`"),
    ("example without source", {**good_entry("x"), "examples": [{"trace": TRACE}]},
     "x.yaml: examples[0].source: required field is missing"),
    ("alias", "id: &a x\ntitle: *a\nsignatures: [{title: 'BUG: a in b'}]\n",
     "x.yaml: (yaml): line 1 column 5: anchors and aliases (*name) are not allowed"),
]


@pytest.mark.parametrize(("doc", "expected"), [(d, e) for _, d, e in BROKEN], ids=[n for n, _, _ in BROKEN])
def test_broken_file_is_reported(tmp_path: Path, doc: object, expected: str) -> None:
    write(tmp_path, "x.yaml", doc)
    found = messages(tmp_path)
    assert any(m.startswith(str(tmp_path / expected.split(":", 1)[0]) + ":" + expected.split(":", 1)[1])
               for m in found), found
    with pytest.raises(SignatureFileError) as info:
        load_curated(tmp_path)
    assert info.value.path == str(tmp_path / "x.yaml")
    assert str(info.value) == f"{info.value.path}: {info.value.field}: {info.value.problem}"


def test_example_that_parses_to_nothing_is_lint_only(tmp_path: Path) -> None:
    doc = good_entry("x")
    doc["examples"] = [{"trace": "just some words, no crash here\n", "source": "src"}]
    doc["signatures"] = [{"title": "BUG: unable to handle kernel NULL pointer dereference in widget_poke"}]
    write(tmp_path, "x.yaml", doc)
    assert messages(tmp_path) == [f"{tmp_path / 'x.yaml'}: examples[0].trace: parses to no crash report"]
    [bug] = load_curated(tmp_path)  # still loads, with its explicit signature
    assert [s.title for s in bug.signatures] == ["BUG: unable to handle kernel NULL pointer dereference in widget_poke"]


def test_example_that_disagrees_with_the_signatures(tmp_path: Path) -> None:
    doc = good_entry("x")
    doc["signatures"] = [{"title": "BUG: soft lockup in something_else", "frames": ["something_else"]}]
    write(tmp_path, "x.yaml", doc)
    [msg] = messages(tmp_path)
    assert msg.startswith(f"{tmp_path / 'x.yaml'}: examples[0].trace: its signature (title ")
    assert msg.endswith("matches none of the entry's `signatures`")


def test_duplicate_ids(tmp_path: Path) -> None:
    write(tmp_path, "x.yaml", good_entry("x"))
    write(tmp_path, "x.yml", good_entry("x"))
    assert messages(tmp_path) == [f"{tmp_path / 'x.yml'}: id: duplicate id 'x' (also in x.yaml)"]


def test_lint_reports_every_problem(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", {**good_entry("a"), "fixes": [{"sha": "zz"}], "kinds": ["nope"]})
    write(tmp_path, "b.yaml", "id: [\n")
    write(tmp_path, "c.yaml", good_entry("c"))
    found = messages(tmp_path)
    assert [m.split(": ", 2)[1] for m in found] == ["fixes[0].sha", "kinds[0]", "(yaml)"]
    assert found[0].startswith(str(tmp_path / "a.yaml"))


def test_hostile_files(tmp_path: Path) -> None:
    (tmp_path / "bin.yaml").write_bytes(b"id: x\x00\x01\x02\n")
    (tmp_path / "latin.yaml").write_bytes("id: caf\u00e9\n".encode("latin-1"))
    (tmp_path / "huge.yaml").write_bytes(b"#" * (MAX_FILE_BYTES + 1))
    deep = "a: " + "[" * 100_000 + "]" * 100_000 + "\n"
    (tmp_path / "deep.yaml").write_text(deep)
    (tmp_path / "_draft.yaml").write_text("not: [valid")  # drafts are ignored
    (tmp_path / "notes.txt").write_text("ignored")
    found = sorted(messages(tmp_path))
    assert len(found) == 4, found
    assert any("bin.yaml: (file): holds NUL bytes" in m for m in found)
    assert any("latin.yaml: (file): not UTF-8 text (byte 7)" in m for m in found)
    assert any("huge.yaml: (file):" in m and "larger than" in m for m in found)
    # Rejected with its name, the YAML field and a reason that says why: sigmatch's own depth check
    # ("nested more than 32 levels deep") or, from PyYAML 6.0.4 on, the parser's own limit
    # ("exceeded maximum nesting depth"), whichever fires first.
    (deep_msg,) = [m for m in found if "deep.yaml" in m]
    assert deep_msg.startswith(str(tmp_path / "deep.yaml") + ": (yaml): line 1 column "), deep_msg
    assert "nest" in deep_msg, deep_msg


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(SignatureFileError) as info:
        load_curated(tmp_path / "nope")
    assert info.value.field == "(directory)"


def test_directory_with_own_schema(tmp_path: Path) -> None:
    (tmp_path / "schema.json").write_text('{"type": "object", "required": ["id", "title"]}')
    write(tmp_path, "t.yaml", {"id": "t", "title": "ttt", "extra_field": 1, "signatures": [{"title": "x in y"}]})
    assert messages(tmp_path) == []
    (tmp_path / "schema.json").write_text("{not json")
    with pytest.raises(SignatureFileError) as info:
        lint(tmp_path)
    assert info.value.field == "(schema)"


# ------------------------------------------------------------- facts agree with the CVE records


@pytest.fixture(scope="module")
def vulns_git(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bare repository fetched from ../shared/corpus/vulns.bundle (no checkout: a few seconds)."""
    bundle = shared_path("corpus", "vulns.bundle")
    repo = tmp_path_factory.mktemp("vulns") / "vulns.git"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True, timeout=60)
    subprocess.run(["git", "-C", str(repo), "fetch", "-q", str(bundle), "refs/heads/*:refs/heads/*"],
                   check=True, timeout=300)
    return repo


def _record_file(repo: Path, path: str) -> str | None:
    out = subprocess.run(["git", "-C", str(repo), "show", f"HEAD:{path}"], capture_output=True, text=True,
                         timeout=60)
    return out.stdout if out.returncode == 0 else None


@pytest.mark.corpus
def test_cve_facts_agree_with_the_records(vulns_git: Path) -> None:
    """Entries that cite a CVE record carry the record's fix sha, mainline release and stable
    releases (so a hand edit cannot drift from the source it names)."""
    checked = 0
    for bug in load_curated(SIGNATURES):
        for cve in bug.cves:
            year = cve.split("-")[1]
            base = f"cve/published/{year}/{cve}"
            sha1 = _record_file(vulns_git, base + ".sha1")
            dyad = _record_file(vulns_git, base + ".dyad")
            if sha1 is None or dyad is None:
                continue  # older CVEs (CVE-2019-11477) are not in the kernel CNA's records
            rows = [line.split(":") for line in dyad.splitlines() if line[:1].isdigit()]
            fixed = {(r[2], r[3]) for r in rows if r[2] != "0"}
            fix = next(f for f in bug.fixes if f.source and cve in f.source)
            assert fix.sha == sha1.split()[0], bug.id
            assert (fix.mainline, fix.sha) in fixed, bug.id
            for s in bug.stable:
                if s.source and cve in s.source and s.version is not None:
                    assert (s.version, s.sha) in fixed, f"{bug.id}: {s}"
                elif s.source and cve in s.source:
                    assert any(r[2] == "0" and r[0].startswith(s.branch + ".") for r in rows), f"{bug.id}: {s}"
            checked += 1
    assert checked >= 15
