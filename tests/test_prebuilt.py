"""The prebuilt index (sigmatch.runtime.prebuilt): same answers with it and without it, rebuilt on
any change that could change an answer, never trusted when damaged, stale, foreign or torn.

The catalog: a copy of the real curated ``signatures/`` plus a snapshot imported by a real refresh
from a small CVE repository built at test time (tests/vulns_fixture.py).
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import settings_with
from vulns_fixture import TRACE, add_records, make_repo

import sigmatch
from sigmatch import config
from sigmatch.answer import analyze
from sigmatch.catalog import catalog as _catalog
from sigmatch.catalog.store import LocalStore
from sigmatch.cli import main
from sigmatch.errors import SigmatchError, StoreError
from sigmatch.match.index import CandidateIndex
from sigmatch.match.matcher import Matcher
from sigmatch.refresh import refresh as _refresh
from sigmatch.runtime import Runtime, build_runtime, prebuilt

REPO = Path(__file__).resolve().parents[1]
FIXTURE_LOGS = sorted((REPO / "tests" / "fixtures" / "logs").glob("*.log"))
EXAMPLES = sorted((REPO / "examples").glob("*.log"))


def _logs() -> list[str]:
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in (*EXAMPLES, *FIXTURE_LOGS)]
    for path in sorted((REPO / "signatures").glob("*.yaml")):
        for ex in yaml.safe_load(path.read_text()).get("examples") or []:
            texts.append(ex["trace"])
    texts.append(TRACE)
    return texts


def rt(env: dict[str, Any]) -> Runtime:
    """The runtime of a deployment with these environment variables."""
    return build_runtime(settings_with(env))


def dep(env: dict[str, Any]) -> dict[str, Any]:
    """The settings and store that sigmatch.runtime.prebuilt's functions take, for ``env``."""
    r = rt(env)
    return {"settings": r.settings, "store": r.store}


def load_catalog(env: dict[str, Any]) -> Any:
    return _catalog.load_catalog(**dep(env))


def refresh(sources: tuple[str, ...], *, settings: dict[str, Any]) -> Any:
    return _refresh(sources, runtime=rt(settings))


LOGS = _logs()


def answers(matcher: Matcher, kernel: str | None = None) -> list[str]:
    out = []
    for text in LOGS:
        try:
            out.append(json.dumps(analyze(text, matcher, top=5, kernel=kernel).to_dict(), sort_keys=True, default=str))
        except SigmatchError as exc:
            out.append(f"error: {exc}")
    return out


def make_settings(tmp: Path, repo: Path) -> dict[str, Any]:
    sig = tmp / "signatures"
    if not sig.exists():
        shutil.copytree(REPO / "signatures", sig)
    return {"REDIS_URL": "", "SIGMATCH_CVE_REPO": str(repo), "SIGMATCH_DATA_DIR": str(tmp / "data"),
            "SIGMATCH_SIGNATURES_DIR": str(sig), "SIGMATCH_UPSTREAM_LOOKUP": "off"}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A CVE repository (300 records, every tenth quoting a trace) and a store imported from it."""
    tmp = tmp_path_factory.mktemp("prebuilt")
    repo = make_repo(tmp / "vulns", 300)
    refresh(("cve",), settings=make_settings(tmp, repo))
    return tmp, repo


@pytest.fixture
def env(base: tuple[Path, Path], tmp_path: Path) -> dict[str, Any]:
    """Settings of a fresh copy of the base store and curated tree (each test may damage its own)."""
    src, repo = base
    shutil.copytree(src / "data", tmp_path / "data")
    shutil.copytree(src / "signatures", tmp_path / "signatures")
    shutil.copytree(repo, tmp_path / "vulns")
    for p in (tmp_path / "data" / "catalog").glob("index-*"):
        p.unlink()
    return make_settings(tmp_path, tmp_path / "vulns")


@pytest.fixture
def reference(env: dict[str, Any]) -> list[str]:
    """The answers with no prebuilt file: load_catalog + Matcher, as before it existed (per test:
    the curated entries' paths are in the answers and the catalog version)."""
    assert not files(env)
    return answers(Matcher(load_catalog(env), freeze_gc=False))


def files(settings: dict[str, Any]) -> list[Path]:
    return sorted((Path(settings["SIGMATCH_DATA_DIR"]) / "catalog").glob("index-*.pickle"))


def the_file(settings: dict[str, Any]) -> Path:
    found = files(settings)
    assert len(found) == 1, found
    return found[0]


# --------------------------------------------------------------------------- same answers


def test_answers_are_identical_with_and_without_the_prebuilt_file(env: dict[str, Any], reference: list[str]) -> None:
    first = prebuilt.load(**dep(env))
    assert first.source == "built" and first.path is not None and first.path.exists()
    again = prebuilt.load(**dep(env))
    assert again.source == "file" and again.path == first.path
    fresh = load_catalog(env)
    for got in (first.catalog, again.catalog):
        assert got.version == fresh.version and len(got) == len(fresh) > 300
        assert [b.to_dict() for b in got.bugs] == [b.to_dict() for b in fresh.bugs]
        assert got.meta == fresh.meta and got.stats() == fresh.stats()
    assert answers(Matcher(again.catalog, index=again.index)) == reference
    assert answers(prebuilt.load_matcher(**dep(env))) == reference
    assert answers(prebuilt.load_matcher(**dep(env)), kernel="6.1.30") == answers(Matcher(fresh), kernel="6.1.30")
    assert answers(prebuilt.load_matcher(**dep(env), use_file=False)) == reference


def test_db_commands_print_the_same_with_and_without_it(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    example = str(EXAMPLES[0])

    def outputs() -> list[str]:
        got = []
        for argv in (["match", example], ["match", "--json", example], ["db", "stats", "--json"], ["db", "stats"],
                     ["db", "show", "CVE-2025-1000"], ["db", "show", "--json", "fsnotify-mark-connector-race"]):
            assert main(argv) == 0
            got.append(capsys.readouterr().out)
        return got

    without = outputs()  # the first run builds and writes the file
    assert files(env)
    assert outputs() == without  # read from the file
    assert outputs() == without
    for p in files(env):
        p.unlink()
    assert outputs() == without


def test_db_stats_reads_only_the_meta_and_the_header(env: dict[str, Any]) -> None:
    built = prebuilt.catalog_stats(**dep(env))  # no file yet: built, and the file written
    assert files(env) and built["bugs"] == len(load_catalog(env))
    # The snapshot itself gone: stats still come from the store's meta and the file's header ...
    store = LocalStore(env["SIGMATCH_DATA_DIR"])
    (store.dir / store.read_meta().snapshot).unlink()
    assert prebuilt.catalog_stats(**dep(env)) == built
    # ... and what the meta says now (a refresh that found nothing new moves last_success)
    store.update_meta(last_success="2099-01-01T00:00:00Z")
    assert prebuilt.catalog_stats(**dep(env))["last_success"] == "2099-01-01T00:00:00Z"
    assert prebuilt.load(**dep(env)).catalog.meta["last_success"] == "2099-01-01T00:00:00Z"
    # without the file, the catalog must be built, and the missing snapshot is a clear error
    for p in files(env):
        p.unlink()
    with pytest.raises(StoreError):
        prebuilt.catalog_stats(**dep(env))


# --------------------------------------------------------------------------- what invalidates it


def _edit_curated(env: dict[str, Any]) -> None:
    path = Path(env["SIGMATCH_SIGNATURES_DIR"]) / "fsnotify-mark-connector-race.yaml"
    doc = yaml.safe_load(path.read_text())
    doc["summary"] = "A summary edited after the index was built."
    path.write_text(yaml.safe_dump(doc, sort_keys=False))


def _new_snapshot(env: dict[str, Any]) -> None:
    add_records(Path(env["SIGMATCH_CVE_REPO"]), 5, first=30000)
    refresh(("cve",), settings=env)


@pytest.mark.parametrize("change", ["curated", "snapshot", "RULES_VERSION", "ALGORITHM_VERSION", "version", "code"])
def test_any_change_that_could_change_the_answer_rebuilds(env: dict[str, Any], change: str,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    old = prebuilt.load(**dep(env))
    assert prebuilt.load(**dep(env)).source == "file"
    if change == "curated":
        _edit_curated(env)
    elif change == "snapshot":
        _new_snapshot(env)
    elif change == "RULES_VERSION":
        monkeypatch.setattr("sigmatch.trace.parse.RULES_VERSION", "rules-next")
    elif change == "ALGORITHM_VERSION":
        monkeypatch.setattr("sigmatch.match.matcher.ALGORITHM_VERSION", "match-next")
    elif change == "version":
        monkeypatch.setattr(sigmatch, "__version__", "99.0")
    else:
        monkeypatch.setattr(prebuilt, "code_digest", lambda: "another build of the code")
    new = prebuilt.load(**dep(env))
    assert new.source == "built" and new.path != old.path
    assert prebuilt.load(**dep(env)).source == "file"
    fresh = load_catalog(env)
    assert new.catalog.version == fresh.version
    assert [b.to_dict() for b in new.catalog.bugs] == [b.to_dict() for b in fresh.bugs]
    if change == "curated":
        bug = new.catalog.get("fsnotify-mark-connector-race")
        assert bug is not None and bug.summary.startswith("A summary edited")
    if change == "snapshot":
        assert new.catalog.get("CVE-2026-30000") is not None and old.catalog.get("CVE-2026-30000") is None
    assert len(files(env)) == 2  # the new file and the one before it; older ones are pruned


def test_old_files_are_pruned(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(4):
        monkeypatch.setattr(prebuilt, "code_digest", lambda n=n: f"build {n}")
        assert prebuilt.load(**dep(env)).source == "built"
    assert len(files(env)) == prebuilt.KEEP


def test_the_curated_key_covers_the_shipped_schema() -> None:
    from sigmatch.catalog.curated import default_schema_path

    assert default_schema_path() == config.REPO_DIR / "signatures" / "schema.json"


# --------------------------------------------------------------------------- damaged files


def _rewrite(path: Path, header: dict[str, Any], sec_a: bytes, sec_b: bytes) -> None:
    header = dict(header, catalog=[len(sec_a), hashlib.sha256(sec_a).hexdigest()],
                  index=[len(sec_b), hashlib.sha256(sec_b).hexdigest()])
    path.write_bytes(prebuilt.MAGIC + json.dumps(header).encode() + b"\n" + sec_a + sec_b)


def _parts(path: Path) -> tuple[dict[str, Any], bytes, bytes]:
    data = path.read_bytes()
    assert data.startswith(prebuilt.MAGIC)
    line, rest = data[len(prebuilt.MAGIC):].split(b"\n", 1)
    header = json.loads(line)
    n = header["catalog"][0]
    return header, rest[:n], rest[n:]


class Evil:
    """A pickle that would run code when loaded."""

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch /tmp/sigmatch-prebuilt-test-pwned",))


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    header, sec_a, sec_b = _parts(path)
    if how == "empty":
        path.write_bytes(b"")
    elif how == "truncated":  # what a reader would see of a file written in place, half-way
        path.write_bytes(data[: len(data) // 2])
    elif how == "truncated-header":
        path.write_bytes(data[: len(prebuilt.MAGIC) + 20])
    elif how == "bad-magic":
        path.write_bytes(b"x" + data[1:])
    elif how == "bad-header":
        path.write_bytes(prebuilt.MAGIC + b"{not json\n" + sec_a + sec_b)
    elif how == "flip-catalog":
        i = len(data) - len(sec_b) - len(sec_a) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x20]) + data[i + 1:])
    elif how == "flip-index":
        i = len(data) - len(sec_b) // 2
        path.write_bytes(data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1:])
    elif how == "trailing":
        path.write_bytes(data + b"\0")
    elif how == "other-key":  # a header naming another build under this file's name
        _rewrite(path, dict(header, key="0" * 64), sec_a, sec_b)
    elif how == "foreign-code":  # checksums right, but the pickle would run a command
        _rewrite(path, header, pickle.dumps(Evil()), sec_b)
    elif how == "not-a-catalog":
        _rewrite(path, header, pickle.dumps({"bugs": []}), sec_b)
    elif how == "swapped-sections":
        _rewrite(path, header, sec_b, sec_a)
    elif how == "garbage-pickle":
        _rewrite(path, header, b"\x80\x05garbage", sec_b)
    elif how == "writable-by-others":
        path.chmod(0o666)
    else:
        raise AssertionError(how)


DAMAGE = ["empty", "truncated", "truncated-header", "bad-magic", "bad-header", "flip-catalog", "flip-index",
          "trailing", "other-key", "foreign-code", "not-a-catalog", "swapped-sections", "garbage-pickle",
          "writable-by-others"]


@pytest.mark.parametrize("how", DAMAGE)
def test_a_damaged_file_is_never_trusted_and_is_replaced(env: dict[str, Any], reference: list[str], how: str) -> None:
    marker = Path("/tmp/sigmatch-prebuilt-test-pwned")
    marker.unlink(missing_ok=True)
    prebuilt.load(**dep(env))
    path = the_file(env)
    _damage(path, how)
    got = prebuilt.load(**dep(env))
    assert got.source == "built" and got.note, got.note
    assert not marker.exists(), "a prebuilt file ran code"
    assert answers(Matcher(got.catalog, index=got.index)) == reference
    assert prebuilt.load(**dep(env)).source == "file"  # written again, whole
    assert answers(prebuilt.load_matcher(**dep(env))) == reference
    # db stats and db show take the same care
    _damage(the_file(env), how)
    assert prebuilt.catalog_stats(**dep(env))["bugs"] == len(got.catalog)
    _damage(the_file(env), how)
    assert prebuilt.load_catalog_prebuilt(**dep(env)).version == got.catalog.version


def test_a_file_owned_by_someone_else_is_not_loaded(env: dict[str, Any]) -> None:
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    prebuilt.load(**dep(env))
    os.chown(the_file(env), 4242, -1)
    got = prebuilt.load(**dep(env))
    assert got.source == "built" and "owned" in (got.note or "")


def test_an_index_that_does_not_pickle_is_simply_not_written(env: dict[str, Any]) -> None:
    catalog = load_catalog(env)
    catalog.meta["hook"] = lambda: None  # something a pickle cannot hold
    directory = Path(env["SIGMATCH_DATA_DIR"]) / "catalog"
    key = prebuilt.cache_key("x", Path(env["SIGMATCH_SIGNATURES_DIR"]))
    assert prebuilt.write(directory, key, catalog, CandidateIndex(catalog)) is None
    assert not files(env) and not list(directory.glob(".index-*"))


def test_no_data_directory_is_created_by_a_match(tmp_path: Path) -> None:
    settings = {"REDIS_URL": "", "SIGMATCH_DATA_DIR": str(tmp_path / "nowhere"),
                "SIGMATCH_SIGNATURES_DIR": str(REPO / "signatures")}
    got = prebuilt.load(**dep(settings))
    assert got.source == "built" and got.path is None and len(got.catalog) > 0
    assert not (tmp_path / "nowhere").exists()


def test_a_matcher_refuses_an_index_of_another_catalog(env: dict[str, Any]) -> None:
    a, b = load_catalog(env), load_catalog(env)
    with pytest.raises(ValueError, match="another catalog"):
        Matcher(a, index=CandidateIndex(b), freeze_gc=False)


# --------------------------------------------------------------------------- concurrent processes

_WORKER = """
import hashlib, json, sys
from pathlib import Path
from sigmatch.answer import analyze
from sigmatch.config import Settings
from sigmatch.match.matcher import Matcher
from sigmatch.runtime import build_runtime, prebuilt
settings = json.loads(sys.argv[1])
runtime = build_runtime(Settings.from_env(settings))
log = Path(sys.argv[2]).read_text()
out = []
for n in range(int(sys.argv[3])):
    if sys.argv[4] == "writer":
        for p in Path(settings["SIGMATCH_DATA_DIR"], "catalog").glob("index-*.pickle"):
            p.unlink(missing_ok=True)
    pre = prebuilt.load(runtime.settings, store=runtime.store)
    ans = analyze(log, Matcher(pre.catalog, index=pre.index, freeze_gc=False))
    out.append([pre.source, hashlib.sha256(json.dumps(ans.to_dict(), sort_keys=True, default=str).encode()).hexdigest()])
print(json.dumps(out))
"""


def test_concurrent_writers_and_readers_never_see_a_torn_file(env: dict[str, Any]) -> None:
    prebuilt.load(**dep(env))
    log = str(EXAMPLES[0])
    procs = [subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(env), log, "3", role],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                              env=dict(os.environ, PYTHONPATH=str(REPO)))
             for role in ("writer", "writer", "reader", "reader")]
    results: list[list[str]] = []
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-3000:]
        assert "not used" not in err, err[-3000:]  # no reader ever found a damaged file
        results.extend(json.loads(out))
    assert len({digest for _, digest in results}) == 1
    assert {source for source, _ in results} <= {"file", "built"}
    assert prebuilt.load(**dep(env)).source == "file"


# --------------------------------------------------------------------------- Redis


@pytest.fixture
def redis_env(tmp_path: Path, redis_url: str, base: tuple[Path, Path]) -> Iterator[dict[str, Any]]:
    _, repo = base
    shutil.copytree(repo, tmp_path / "vulns")
    settings = make_settings(tmp_path, tmp_path / "vulns")
    settings["REDIS_URL"] = redis_url
    refresh(("cve",), settings=settings)
    (tmp_path / "data" / "catalog").mkdir(parents=True, exist_ok=True)
    yield settings


def test_with_redis_the_file_is_local_and_keyed_by_the_shared_snapshot(redis_env: dict[str, Any]) -> None:
    reference = answers(Matcher(load_catalog(redis_env), freeze_gc=False))
    store = rt(redis_env).store
    assert not isinstance(store, LocalStore)
    first = prebuilt.load(**dep(redis_env))
    assert first.source == "built" and first.path is not None
    assert first.path.parent == Path(redis_env["SIGMATCH_DATA_DIR"]) / "catalog"
    assert prebuilt.load(**dep(redis_env)).source == "file"
    assert answers(prebuilt.load_matcher(**dep(redis_env))) == reference
    # a refresh by another host puts a new snapshot in Redis: this file is not used for it
    add_records(Path(redis_env["SIGMATCH_CVE_REPO"]), 3, first=31000)
    refresh(("cve",), settings=redis_env)
    new = prebuilt.load(**dep(redis_env))
    assert new.source == "built" and new.catalog.get("CVE-2026-31000") is not None
    assert new.catalog.version == load_catalog(redis_env).version


def test_sigmatch_refresh_leaves_the_index_prebuilt(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    for k, v in env.items():
        monkeypatch.setenv(k, str(v))
    add_records(Path(env["SIGMATCH_CVE_REPO"]), 2, first=32000)
    assert main(["refresh", "--source", "cve"]) == 0
    capsys.readouterr()
    path = the_file(env)
    got = prebuilt.load(**dep(env))
    assert got.source == "file" and got.path == path and got.catalog.get("CVE-2026-32000") is not None
