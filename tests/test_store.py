"""The local snapshot store: atomic snapshots, meta, the last good snapshot kept, and load_catalog()."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import settings_with

from sigmatch.catalog.model import BugSignature, FixCommit, Introduced, KnownBug, Origin, Reference, StableFix
from sigmatch.catalog.store import (
    LocalStore,
    StoreMeta,
    decode_bugs,
    encode_bugs,
)
from sigmatch.errors import CatalogError, StoreError
from sigmatch.refresh import refresh
from sigmatch.runtime import build_runtime


def bug(n: int, **kw: object) -> KnownBug:
    base: dict[str, object] = dict(
        id=f"CVE-2099-{n:04d}", title=f"widget: fix bug {n}", origin=Origin.CVE,
        fixes=(FixCommit(sha=f"{n:040x}", subject=f"widget: fix bug {n}", mainline="6.9", source=f"CVE-2099-{n:04d}"),),
        stable=(StableFix("6.1", "6.1.90", "e" * 40, source="x"), StableFix("5.10", None, source="x")),
        introduced=Introduced(sha="a" * 40, release="5.4", source="x"),
        signatures=(BugSignature(title="KASAN: use-after-free Read in widget_free", frames=("widget_free", "widget_ioctl"),
                                 kind="kasan", source="x"),),
        references=(Reference("cve", f"CVE-2099-{n:04d}"),), cves=(f"CVE-2099-{n:04d}",),
        files=("drivers/misc/widget.c",), functions=("widget_free",), unfixed_branches=("5.10",),
        source_path="cve/published/2099/x.json",
    )
    base.update(kw)
    return KnownBug(**base)  # type: ignore[arg-type]


def test_encode_decode_round_trip() -> None:
    bugs = [bug(1), bug(2, withdrawn=True, summary="s", introduced=None, signatures=())]
    data, version = encode_bugs(bugs)
    assert decode_bugs(data) == tuple(bugs)
    assert [b.to_dict() for b in decode_bugs(data)] == [b.to_dict() for b in bugs]
    assert encode_bugs(bugs)[1] == version  # the id is a content hash: same content, same id
    assert encode_bugs([bugs[0]])[1] != version
    for damaged in (b"", b"not gzip", data[: len(data) // 2]):
        with pytest.raises(StoreError):
            decode_bugs(damaged)


def test_save_load_meta_and_pruning(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    assert store.load() is None and store.read_meta() == StoreMeta()
    versions = []
    for n in range(1, 5):
        meta = store.save([bug(i) for i in range(1, n + 1)], StoreMeta(cve_commit=f"{n:040x}", counts={"bugs": n}))
        versions.append(meta.version)
        snap = store.load()
        assert snap is not None and len(snap.bugs) == n and snap.version == meta.version
        assert snap.meta.cve_commit == f"{n:040x}"
    assert store.read_meta().previous_version == versions[-2]
    files = sorted(p.name for p in (tmp_path / "catalog").glob("snapshot-*"))
    assert files == sorted(f"snapshot-{v}.json.gz" for v in versions[-2:])  # the current and the previous one
    assert not list((tmp_path / "catalog").glob(".*.tmp"))
    assert build_runtime(settings_with(SIGMATCH_DATA_DIR=tmp_path, REDIS_URL="")).current_version() == versions[-1]
    updated = store.update_meta(last_error="boom")
    assert updated.version == versions[-1] and store.read_meta().last_error == "boom"


def test_failed_write_leaves_the_served_snapshot(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    good = store.save([bug(1)], StoreMeta())
    # the next snapshot's file name is taken by a directory: the write fails midway
    _, version = encode_bugs([bug(1), bug(2)])
    (tmp_path / "catalog" / f"snapshot-{version}.json.gz").mkdir()
    with pytest.raises(StoreError) as err:
        store.save([bug(1), bug(2)], StoreMeta())
    assert err.value.path
    snap = store.load()
    assert snap is not None and snap.version == good.version and len(snap.bugs) == 1
    assert not list((tmp_path / "catalog").glob(".*.tmp"))


def test_damaged_meta_or_snapshot_is_a_clear_error(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    meta = store.save([bug(1)], StoreMeta())
    (tmp_path / "catalog" / meta.snapshot).write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(StoreError, match="snapshot"):
        store.load()
    (tmp_path / "catalog" / "meta.json").write_text("{ not json")
    with pytest.raises(StoreError, match="damaged"):
        store.read_meta()


def test_interrupted_refresh_changes_nothing_served(tmp_path: Path) -> None:
    """A refresh that dies in the middle (here: its progress callback raises) leaves the snapshot."""
    store = LocalStore(tmp_path / "data")
    first = store.save([bug(1), bug(2)], StoreMeta(cve_commit=None))

    def die(step: str, done: int, total: int) -> None:
        raise KeyboardInterrupt

    settings = {"SIGMATCH_DATA_DIR": str(tmp_path / "data"), "SIGMATCH_CVE_REPO": str(tmp_path / "nowhere"),
                "REDIS_URL": ""}
    with pytest.raises(KeyboardInterrupt):
        refresh(settings=settings_with(settings), progress=die)
    meta = store.read_meta()
    assert meta.version == first.version and meta.last_error and "interrupted" in meta.last_error
    snap = store.load()
    assert snap is not None and len(snap.bugs) == 2
    # and the lock was released
    with store.lock():
        pass


def test_validation_refuses_a_snapshot_that_lost_most_bugs(tmp_path: Path) -> None:
    from sigmatch.refresh import _validate

    previous = {b.id: b for b in (bug(i) for i in range(1, 1201))}
    with pytest.raises(CatalogError, match="refused"):
        _validate(list(previous.values())[:100], previous)
    with pytest.raises(CatalogError, match="duplicate"):
        _validate((bug(1), bug(1)), {})
    _validate(tuple(previous.values()), previous)


def test_load_catalog_merges_curated_and_imported(tmp_path: Path) -> None:
    pytest.importorskip("sigmatch.catalog.curated")
    sig_dir = tmp_path / "signatures"
    sig_dir.mkdir()
    schema = Path(__file__).resolve().parents[1] / "signatures" / "schema.json"
    if schema.exists():
        (sig_dir / "schema.json").write_bytes(schema.read_bytes())
    (sig_dir / "widget-uaf.yaml").write_text(json.dumps({
        "id": "widget-uaf", "title": "widget: curated view of bug 1",
        "signatures": [{"title": "KASAN: use-after-free Read in widget_free", "frames": ["widget_free"]}],
        "references": [{"kind": "cve", "value": "CVE-2099-0001"}],
    }))
    settings = {"SIGMATCH_DATA_DIR": str(tmp_path / "data"), "SIGMATCH_SIGNATURES_DIR": str(sig_dir), "REDIS_URL": ""}
    runtime = build_runtime(settings_with(settings))
    empty = runtime.load_catalog()
    assert len(empty) == 1 and empty.meta["imported"] == 0
    runtime.store.save([bug(1), bug(2)], StoreMeta())
    catalog = runtime.load_catalog()
    # the curated entry covers CVE-2099-0001: the imported copy of that CVE is shadowed
    assert len(catalog) == 2 and catalog.meta["imported"] == 2 and catalog.meta["curated"] == 1
    assert catalog.meta["shadowed"] == ["CVE-2099-0001"]
    assert catalog.get("CVE-2099-0001") is None and catalog.get("CVE-2099-0002") is not None
    curated = catalog.get("widget-uaf")
    assert curated is not None and curated.origin is Origin.CURATED
    assert catalog.stats()["curated"] == 1 and catalog.version != empty.version
