"""The CVE importer against small real git repositories built at test time.

Records come from the real bundle (``../shared/corpus/vulns.bundle``, copied into ``tmp_path`` at
test time, never into the repository) and from records written here in the same format.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import settings_with, shared_path
from vulns_fixture import bippy_record

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.cve import (
    MalformedRecord,
    VulnsRepo,
    bug_from_record,
    functions_in,
    import_cve,
    signatures_in,
)
from sigmatch.catalog.store import LocalStore
from sigmatch.errors import ConfigError, ImportSourceError, StoreError
from sigmatch.refresh import refresh
from sigmatch.runtime import build_runtime

# Real records picked for what they show: the fsnotify soft-lockup fix (stable fixes on 6 branches),
# an unfixed-branch record, a multi-sha record (stable backport shas listed in .sha1), a record
# fixed in a stable branch only, and one whose description quotes a NULL-dereference trace.
REAL = ("CVE-2024-47660", "CVE-2026-52990", "CVE-2022-50240", "CVE-2021-4440", "CVE-2024-26587")
EXTS = ("json", "dyad", "sha1", "vulnerable")


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=sigmatch-test", "-c", "user.email=test@invalid", "-c", "commit.gpgsign=false",
         *args], cwd=cwd, check=True, capture_output=True, text=True,
    ).stdout


@pytest.fixture(scope="session")
def real_records(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    """``{cve_id: {ext: bytes}}`` of the REAL records, read from the bundle once per session."""
    bundle = shared_path("corpus", "vulns.bundle")
    bare = tmp_path_factory.mktemp("bundle") / "vulns.git"
    subprocess.run(["git", "clone", "--bare", "--quiet", str(bundle), str(bare)], check=True)
    listing = subprocess.run(["git", "-C", str(bare), "ls-tree", "-r", "--name-only", "HEAD", "--", "cve/published/"],
                             check=True, capture_output=True, text=True).stdout.split()
    out: dict[str, dict[str, bytes]] = {}
    for path in listing:
        name = path.rsplit("/", 1)[1]
        cid, _, ext = name.partition(".")
        if cid in REAL:
            blob = subprocess.run(["git", "-C", str(bare), "show", f"HEAD:{path}"], check=True, capture_output=True)
            out.setdefault(cid, {})[ext] = blob.stdout
            out[cid]["year"] = path.split("/")[2].encode()
    assert set(out) == set(REAL)
    return out


def write_record(repo: Path, cid: str, files: dict[str, bytes], *, where: str = "published") -> None:
    year = cid.split("-")[1]
    d = repo / "cve" / where / year
    d.mkdir(parents=True, exist_ok=True)
    for ext in EXTS:
        if ext in files:
            (d / f"{cid}.{ext}").write_bytes(files[ext])


def own_record(cid: str, subject: str, fix: str, *, trace: str = "", stable: tuple[tuple[str, str], ...] = ()) -> dict[str, bytes]:
    """A record in the real bippy format, written for the tests."""
    return bippy_record(cid, subject, fix, body="Calling frob_widget_queue() twice frees widget->ring.",
                        trace=trace, stable=stable)


@pytest.fixture
def repo(tmp_path: Path, real_records: dict[str, dict[str, bytes]]) -> Path:
    r = tmp_path / "vulns"
    r.mkdir()
    git(r, "init", "--quiet", "--initial-branch=master")
    for cid, files in real_records.items():
        write_record(r, cid, files)
    git(r, "add", "-A")
    git(r, "commit", "--quiet", "-m", "records")
    return r


def settings_for(tmp_path: Path, source: Path | str) -> dict[str, Any]:
    """The environment of a deployment with no curated entries (an empty curated directory)."""
    (tmp_path / "no-curated").mkdir(exist_ok=True)
    return {"SIGMATCH_DATA_DIR": str(tmp_path / "data"), "SIGMATCH_CVE_REPO": str(source),
            "SIGMATCH_SIGNATURES_DIR": str(tmp_path / "no-curated"), "REDIS_URL": ""}


def catalog_of(env: dict[str, Any]) -> Catalog:
    return build_runtime(settings_with(env)).load_catalog()


def commit_all(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", message)


# --------------------------------------------------------------------------- first import


def test_first_import_keeps_the_facts(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    report = refresh(settings=settings_with(s))
    assert report.full and sorted(report.added) == sorted(REAL) and not report.skipped
    catalog = catalog_of(s)
    assert len(catalog) == len(REAL)
    bug = catalog.get("CVE-2024-47660")
    assert bug is not None and bug.origin.value == "cve"
    assert bug.title == "fsnotify: clear PARENT_WATCHED flags lazily"
    assert [f.sha for f in bug.fixes] == ["172e422ffea20a89bfdc672741c1aad6fbb5044e"]
    assert bug.fixes[0].mainline == "6.11" and bug.mainline_fixed == "6.11"
    assert bug.stable_fixed == {"5.10": "5.10.226", "5.15": "5.15.167", "6.1": "6.1.109", "6.6": "6.6.50",
                                "6.10": "6.10.9"}
    assert {s.branch: s.sha for s in bug.stable}["6.1"] == "d8c42405fc3507cc43ba7e4986a773c3fc633f6e"
    assert bug.introduced is not None
    assert (bug.introduced.sha, bug.introduced.release) == ("873feea09ebc980cbd3631b767356ce1eee65ec1", "2.6.38")
    assert "fs/notify/mark.c" in bug.files
    assert "fsnotify_recalc_mask" in bug.functions and "__fsnotify_parent" in bug.functions
    assert bug.cves == ("CVE-2024-47660",)
    # every fact names the record; no description prose is kept
    facts = [*bug.fixes, *bug.stable, bug.introduced]
    assert {f.source for f in facts} == {"CVE-2024-47660"}
    blob = json.dumps(bug.to_dict())
    assert bug.summary == "" and "negative" not in blob and "significant amount of time" not in blob


def test_unfixed_branches_multi_sha_and_stable_only_records(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    refresh(settings=settings_with(s))
    catalog = catalog_of(s)
    leak = catalog.get("CVE-2026-52990")
    assert leak is not None
    assert leak.unfixed_branches == ("5.10", "5.15")
    # 5.10 and 5.15 got the bug by a stable backport (dyad 5.10.220:...:0:0); 6.12 had it from 5.19
    assert {s.branch: s.introduced for s in leak.stable} == {"5.10": "5.10.220", "5.15": "5.15.154", "6.12": None,
                                                             "6.18": None, "7.0": None}
    assert leak.stable_fixed == {"6.12": "6.12.91", "6.18": "6.18.33", "7.0": "7.0.10"}
    assert leak.introduced is not None and leak.introduced.release == "5.19"
    multi = catalog.get("CVE-2022-50240")
    assert multi is not None
    # .sha1 lists the mainline fix and two stable backports: only the mainline one is a FixCommit
    assert [(f.sha[:12], f.mainline) for f in multi.fixes] == [("a43cfc87caaf", "6.0")]
    assert multi.stable_fixed["5.4"] == "5.4.224"
    stable_only = catalog.get("CVE-2021-4440")
    assert stable_only is not None and stable_only.fixes[0].sha.startswith("1424ab4bb386")
    assert stable_only.fixes[0].mainline is None and stable_only.stable_fixed == {"5.10": "5.10.218"}
    assert stable_only.stable[0].introduced == "5.10.215"


def test_a_bundle_is_a_repository_too(tmp_path: Path, repo: Path) -> None:
    bundle = tmp_path / "vulns.bundle"
    git(repo, "bundle", "create", str(bundle), "HEAD", "master")
    report = refresh(settings=settings_with(settings_for(tmp_path, bundle)))
    assert len(report.added) == len(REAL)


# --------------------------------------------------------------------------- incremental


def test_incremental_import_reads_only_what_changed(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    first = refresh(settings=settings_with(s))
    again = refresh(settings=settings_with(s))
    assert again.unchanged and again.records_read == 0 and again.snapshot_version == first.snapshot_version
    # a new record, and a modified one (a new stable backport for 6.1)
    write_record(repo, "CVE-2099-0001", own_record("CVE-2099-0001", "widget: fix double free", "b" * 40))
    write_record(repo, "CVE-2099-0002", own_record("CVE-2099-0002", "widget: fix leak", "c" * 40))
    commit_all(repo, "two new")
    second = refresh(settings=settings_with(s))
    assert sorted(second.added) == ["CVE-2099-0001", "CVE-2099-0002"] and second.records_read == 2
    assert not second.full and second.from_commit == first.to_commit
    write_record(repo, "CVE-2099-0002", own_record("CVE-2099-0002", "widget: fix leak", "c" * 40,
                                                   stable=(("6.1.99", "d" * 40),)))
    commit_all(repo, "backport")
    third = refresh(settings=settings_with(s))
    assert third.changed == ("CVE-2099-0002",) and not third.added and third.records_read == 1
    bug = catalog_of(s).get("CVE-2099-0002")
    assert bug is not None and bug.stable_fixed == {"6.1": "6.1.99"}
    assert len(catalog_of(s)) == len(REAL) + 2
    assert third.previous_version == second.snapshot_version != third.snapshot_version


# --------------------------------------------------------------------------- bad records


def test_malformed_record_is_skipped_and_reported(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    write_record(repo, "CVE-2099-0003", {"json": b'{"containers": {"cna": {"descriptions": [', "sha1": b"x\n"})
    write_record(repo, "CVE-2099-0004", {"json": b'{"dataType": "CVE_RECORD"}'})
    write_record(repo, "CVE-2099-0005", {"json": b"\xff\xfe\x00binary"})
    commit_all(repo, "broken ones")
    report = refresh(settings=settings_with(s))
    reasons = {sk.id: sk.reason for sk in report.skipped}
    assert set(reasons) == {"CVE-2099-0003", "CVE-2099-0004", "CVE-2099-0005"}
    assert "cve/published/2099/CVE-2099-0003.json" in reasons["CVE-2099-0003"]
    assert "JSON" in reasons["CVE-2099-0003"] and "containers.cna" in reasons["CVE-2099-0004"]
    assert sorted(report.added) == sorted(REAL)
    # a good record that turns malformed keeps its last good version
    (repo / "cve/published/2024/CVE-2024-47660.json").write_text("{ truncated")
    commit_all(repo, "damage one")
    damaged = refresh(settings=settings_with(s))
    assert [sk.id for sk in damaged.skipped] == ["CVE-2024-47660"] and not damaged.removed
    assert catalog_of(s).get("CVE-2024-47660") is not None


def test_withdrawn_records_leave_the_catalog(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    refresh(settings=settings_with(s))
    # upstream moves a rejected CVE from cve/published to cve/rejected
    (repo / "cve/rejected/2022").mkdir(parents=True)
    git(repo, "mv", "cve/published/2022/CVE-2022-50240.json", "cve/rejected/2022/CVE-2022-50240.json")
    for ext in ("dyad", "sha1"):
        git(repo, "mv", f"cve/published/2022/CVE-2022-50240.{ext}", f"cve/rejected/2022/CVE-2022-50240.{ext}")
    # and a published record whose state says REJECTED
    p = repo / "cve/published/2021/CVE-2021-4440.json"
    doc = json.loads(p.read_text())
    doc["cveMetadata"]["state"] = "REJECTED"
    p.write_text(json.dumps(doc))
    commit_all(repo, "reject two")
    report = refresh(settings=settings_with(s))
    assert sorted(report.removed) == ["CVE-2021-4440", "CVE-2022-50240"]
    catalog = catalog_of(s)
    assert catalog.get("CVE-2022-50240") is None and catalog.get("CVE-2021-4440") is None
    assert len(catalog) == len(REAL) - 2


# --------------------------------------------------------------------------- unreachable source


def test_unreachable_repository_keeps_previous_data(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    good = refresh(settings=settings_with(s))
    before = catalog_of(s)
    for source in (tmp_path / "no-such-repo", "http://127.0.0.1:9/vulns.git", tmp_path):
        with pytest.raises(ImportSourceError) as err:
            refresh(settings=settings_with(s, SIGMATCH_CVE_REPO=source))
        assert str(source) in str(err.value) and err.value.source == str(source)
    after = catalog_of(s)
    assert after.version == before.version and len(after) == len(before)
    meta = LocalStore(tmp_path / "data").read_meta()
    assert meta.version == good.snapshot_version and meta.last_error and "no-such-repo" not in meta.last_error


def test_unreachable_repository_on_first_run(tmp_path: Path) -> None:
    s = settings_for(tmp_path, tmp_path / "missing")
    with pytest.raises(ImportSourceError, match="does not exist"):
        refresh(settings=settings_with(s))
    assert len(catalog_of(s)) == 0
    assert not (tmp_path / "data" / "vulns.git").exists()


def test_unknown_source_and_concurrent_refresh(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    with pytest.raises(ConfigError):
        refresh(("nope",), settings=settings_with(s))
    store = LocalStore(tmp_path / "data")
    with store.lock(), pytest.raises(StoreError, match="another refresh"):
        refresh(settings=settings_with(s))


# --------------------------------------------------------------------------- pure parts


def test_bug_from_record_pure(real_records: dict[str, dict[str, bytes]]) -> None:
    files = real_records["CVE-2024-26587"]
    bug = bug_from_record("CVE-2024-26587", "cve/published/2024/CVE-2024-26587.json", files["json"],
                          files["dyad"].decode(), files["sha1"].decode(), None)
    assert bug is not None
    assert bug.title == "net: netdevsim: don't try to destroy PHC on VFs"
    assert "nsim_init_netdevsim" in bug.functions and "mock_phc_destroy" in bug.functions
    for sig in bug.signatures:  # whatever the parser finds in the quoted trace names the record
        assert sig.source == "CVE-2024-26587 description"
    from sigmatch import RULES_VERSION, parse_log

    if RULES_VERSION != "0" and any(r.frames for r in parse_log(json.loads(files["json"])["containers"]["cna"]
                                                                ["descriptions"][0]["value"])):
        # the quoted NULL-pointer oops (indented, in a netdevsim call chain) gives a frame signature
        assert bug.signatures and "nsim_destroy" in bug.signatures[0].frames
        assert bug.kinds and bug.signatures[0].kind == bug.kinds[0]
    with pytest.raises(MalformedRecord):
        bug_from_record("CVE-2099-1", "x.json", b"[]")
    with pytest.raises(MalformedRecord):
        bug_from_record("CVE-2099-1", "x.json", json.dumps({"containers": {"cna": {"descriptions": []}}}))
    with pytest.raises(MalformedRecord, match="differs"):
        bug_from_record("CVE-2099-1", "x.json", json.dumps(
            {"cveMetadata": {"cveId": "CVE-2099-2"}, "containers": {"cna": {"title": "x: y"}}}))
    assert bug_from_record("CVE-2099-1", "x.json", json.dumps({"cveMetadata": {"state": "REJECTED"}})) is None


def test_functions_and_signatures_on_odd_text() -> None:
    text = "Calling foo_bar() from baz_qux_handler; widget->ring_head and s.field_name are fields; see a/b_c.c"
    funcs = functions_in(text)
    assert funcs[:2] == ("foo_bar", "baz_qux_handler")
    assert "ring_head" not in funcs and "field_name" not in funcs and "b_c" not in funcs
    assert len(functions_in(" ".join(f"f_{i}()" for i in range(100)))) == 16
    for hostile in ("", "\x00" * 1000, "Call Trace:\n" * 5000, "BUG: " + "A" * 300_000):
        assert isinstance(signatures_in(hostile, "t"), tuple)


def test_import_cve_directly(tmp_path: Path, repo: Path) -> None:
    r = VulnsRepo(tmp_path / "clone.git", str(repo))
    res = import_cve(r, {}, None)
    assert res.full and len(res.bugs) == len(REAL) and res.commit == git(repo, "rev-parse", "HEAD").strip()
    again = import_cve(r, {b.id: b for b in res.bugs}, res.commit)
    assert again.unchanged and again.records == 0


# --------------------------------------------------------------------------- the commands


def test_refresh_and_db_commands(tmp_path: Path, repo: Path, monkeypatch: pytest.MonkeyPatch,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    from sigmatch.cli import main

    for k, v in settings_for(tmp_path, repo).items():
        monkeypatch.setenv(k, v)
    assert main(["refresh", "--source", "cve", "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["added"] == len(REAL) and report["counts"]["bugs"] == len(REAL)
    assert "import" in err  # progress lines on stderr when it is not a terminal
    assert main(["refresh"]) == 0
    out, _ = capsys.readouterr()
    assert "nothing changed" in out
    assert main(["db", "stats", "--json"]) == 0
    stats = json.loads(capsys.readouterr().out)
    assert {"bugs", "curated", "with_fix", "with_stable", "with_trace"} <= set(stats)
    assert stats["bugs"] == len(REAL) and stats["with_fix"] == len(REAL)
    assert main(["db", "show", "cve-2024-47660"]) == 0
    assert "172e422ffea2" in capsys.readouterr().out
    assert main(["db", "show", "CVE-1999-0001"]) == 1
    monkeypatch.setenv("SIGMATCH_CVE_REPO", str(tmp_path / "gone"))
    assert main(["refresh"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_db_lint_names_file_field_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("sigmatch.catalog.curated")
    from sigmatch.cli import main

    bad = tmp_path / "sigs"
    bad.mkdir()
    (bad / "broken.yaml").write_text("id: broken\ntitle: [unclosed\n")
    assert main(["db", "lint", str(bad)]) == 1
    out = capsys.readouterr().out
    assert out.startswith(str(bad / "broken.yaml")) or "broken.yaml" in out


def test_importer_or_rules_change_forces_one_full_reimport(tmp_path: Path, repo: Path) -> None:
    s = settings_for(tmp_path, repo)
    first = refresh(settings=settings_with(s))
    store = LocalStore(tmp_path / "data")
    store.update_meta(importer_version="0-old")
    redo = refresh(settings=settings_with(s))
    assert redo.full and redo.records_read == len(REAL) and any("full re-import" in n for n in redo.notes)
    assert redo.unchanged and redo.snapshot_version == first.snapshot_version  # same content, same id
    after = refresh(settings=settings_with(s))
    assert after.unchanged and after.records_read == 0 and not after.notes
    # a commit outside cve/ reads no record but moves the imported commit on
    (repo / "README").write_text("readme\n")
    commit_all(repo, "readme")
    moved = refresh(settings=settings_with(s))
    assert moved.records_read == 0 and moved.unchanged
    assert store.read_meta().cve_commit == git(repo, "rev-parse", "HEAD").strip()


def test_decoded_and_offsetless_traces_give_frames() -> None:
    from sigmatch import RULES_VERSION

    if RULES_VERSION == "0":
        pytest.skip("the parser is not in yet")
    decoded = """In the Linux kernel, the following vulnerability has been resolved:

widget: fix NULL dereference in widget_ioctl()

  BUG: kernel NULL pointer dereference, address: 0000000000000018
  RIP: 0010:widget_ioctl (drivers/misc/widget.c:590 drivers/misc/widget.c:764)
  Call Trace:
    <TASK>
    widget_dispatch.constprop.0 (drivers/misc/widget.c:1114)
    __x64_sys_ioctl (fs/ioctl.c:51 (discriminator 1) fs/ioctl.c:893 (discriminator 1))
    do_syscall_64 (arch/x86/entry/common.c:52)
    entry_SYSCALL_64_after_hwframe (arch/x86/entry/entry_64.S:130)
"""
    sigs = signatures_in(decoded, "CVE-2099-0009 description")
    assert sigs and sigs[0].frames[:2] == ("widget_ioctl", "widget_dispatch")
    bare = """In the Linux kernel, the following vulnerability has been resolved:

widget: fix hang on unmount

  INFO: task umount:1234 blocked for more than 120 seconds.
  Call Trace:
   __schedule
   schedule
   widget_sb_delete
   generic_shutdown_super
   kill_anon_super

Fix it.
"""
    sigs = signatures_in(bare, "CVE-2099-0010 description")
    assert sigs and "widget_sb_delete" in sigs[0].frames
