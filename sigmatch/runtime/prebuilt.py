"""The prebuilt index: the catalog and its candidate index, built once and kept beside the snapshot.

A cold ``sigmatch match`` on the full catalog spent about 2 s (7-10 s on a loaded machine) before
it looked at the log: decoding the snapshot's JSON into ~125k frozen dataclasses, loading and
validating the curated YAML (whose example traces are parsed), building the candidate index. This
module keeps what that produces, the :class:`~sigmatch.catalog.catalog.Catalog` and its
:class:`~sigmatch.match.index.CandidateIndex` as built objects (pickled: nothing here depends on
how the index is laid out inside), in one file beside the snapshot::

    DATA_DIR/catalog/index-<key>.pickle

**Keyed by everything that can change the answer** (:func:`cache_key`): the snapshot id (a
content hash), the curated tree (its path and every file in it, the schema too), ``RULES_VERSION``,
``ALGORITHM_VERSION``, the sigmatch version, a hash of the package's own files (a code change
without a version bump cannot be served a stale index) and the Python version. The key is in the
file name and again in the header; a file with another key is never read past its header.

Layout: a magic line, a one-line JSON header (key, catalog version and stats, that is all
``db stats`` needs; the length and sha256 of each section), the catalog section (the ``Catalog``),
then the index section (the ``CandidateIndex``, whose references to the catalog and its bugs point
into the first section, so ``db show`` reads the first section alone).

**Never a torn read, never a wrong answer, never a crash.** A writer writes a temporary file in
the same directory, fsyncs it and ``os.replace``\\s it into place: a reader has the old file or the
new one, whatever number of processes write at once (they write the same content). A reader
checks the magic, the key, both sections' lengths and sha256, then unpickles with only sigmatch's
own classes allowed, and checks what it got. Pickle runs code, so the file is read only when it
belongs to this user (or root) and nobody else may write it: it is trusted as the package is, no
more. Anything wrong (missing, stale, truncated, damaged, foreign, unloadable) means the catalog
is built from the store as before and the file written again; the answer is the same either way.

**Shared stores.** The snapshot itself stays gzip JSON, in the local store and in Redis (no pickle
in a store other hosts write). This file is local, derived data under ``SIGMATCH_DATA_DIR``, keyed
by the snapshot id the store names, so a CLI pointed at Redis uses it too; it is written only where
that directory already exists (a ``match`` creates no data directory).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import gc
import hashlib
import io
import json
import logging
import operator
import os
import pickle
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sigmatch.catalog.catalog import Catalog, live_meta, load_catalog
from sigmatch.catalog.model import KnownBug
from sigmatch.match.index import CandidateIndex

if TYPE_CHECKING:
    from sigmatch.catalog.store import SnapshotStore, StoreMeta
    from sigmatch.config import Settings
    from sigmatch.match.matcher import Matcher

log = logging.getLogger("sigmatch.prebuilt")

FORMAT = 1
MAGIC = b"sigmatch-index 1\n"
PREFIX = "index-"
SUFFIX = ".pickle"
KEEP = 2  # prebuilt files kept in a directory: the one just written and one other
MAX_HEADER = 1 << 16
PROTOCOL = 5
# Modules whose classes a prebuilt file may name (anything else: the file is refused).
_ALLOWED_MODULES = ("sigmatch.",)
_ALLOWED_BUILTINS = frozenset({"frozenset", "set", "tuple", "list", "dict", "slice", "complex"})


# --------------------------------------------------------------------------- the key


@dataclass(frozen=True, slots=True)
class CacheKey:
    """What a prebuilt index was built from; ``digest`` names the file."""

    digest: str
    parts: dict[str, str] = field(default_factory=dict, compare=False)

    @property
    def filename(self) -> str:
        return f"{PREFIX}{self.digest[:24]}{SUFFIX}"


def _tree_digest(root: Path, *, skip_dirs: frozenset[str] = frozenset()) -> str:
    """sha256 over the relative name and the content of every regular file under ``root``."""
    h = hashlib.sha256()
    if not root.is_dir():
        return "absent"
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not d.startswith("."))
        for name in sorted(filenames):
            path = Path(dirpath, name)
            try:
                data = path.read_bytes()
            except OSError as exc:  # unreadable now: a key that matches no file
                data = f"unreadable: {exc.errno}".encode()
            rel = path.relative_to(root).as_posix().encode()
            h.update(len(rel).to_bytes(4, "big") + rel + len(data).to_bytes(8, "big"))
            h.update(data)
    return h.hexdigest()


@functools.cache
def code_digest() -> str:
    """A hash of the sigmatch package's own files (sources and rule data), once per process."""
    return _tree_digest(Path(__file__).resolve().parents[1], skip_dirs=frozenset({"__pycache__"}))


def curated_digest(sig_dir: Path) -> str:
    """The curated tree as ``load_catalog`` reads it: its path, its files, and the shipped schema
    it falls back to."""
    from sigmatch import config

    h = hashlib.sha256(str(sig_dir.resolve() if sig_dir.exists() else sig_dir).encode())
    if sig_dir.is_dir():
        for p in sorted(sig_dir.iterdir()):
            if p.is_file():
                try:
                    data = p.read_bytes()
                except OSError as exc:
                    data = f"unreadable: {exc.errno}".encode()
                h.update(p.name.encode() + b"\0" + len(data).to_bytes(8, "big") + data)
        # curated.default_schema_path(), without importing the YAML and JSON Schema loader
        schema = config.curated_dir() / "schema.json"
        with contextlib.suppress(OSError):
            h.update(b"schema\0" + schema.read_bytes())
    return h.hexdigest()


def cache_key(snapshot_version: str, sig_dir: Path) -> CacheKey:
    from sigmatch import __version__
    from sigmatch.match.matcher import ALGORITHM_VERSION
    from sigmatch.trace.parse import RULES_VERSION

    parts = {
        "format": str(FORMAT),
        "snapshot": snapshot_version or "none",
        "curated": curated_digest(sig_dir),
        "rules_version": RULES_VERSION,
        "algorithm_version": ALGORITHM_VERSION,
        "sigmatch": __version__,
        "code": code_digest(),
        "python": f"{sys.implementation.cache_tag} {sys.version}",
    }
    blob = json.dumps(parts, sort_keys=True).encode()
    return CacheKey(hashlib.sha256(blob).hexdigest(), parts)


# --------------------------------------------------------------------------- pickling


class _Reducer:
    """How a prebuilt file pickles dataclasses.

    Frozen slotted dataclasses are rebuilt by their constructor, not ``__setstate__``: one call
    per object instead of one ``object.__setattr__`` per field (the catalog loads ~2x faster).
    Only plain dataclasses (every field an ``__init__`` argument, no ``__post_init__``), where the
    constructor gives back the same value. Equal strings in their fields (branch names, sources,
    function names) are pickled once and shared (a third smaller, faster to load, less memory).
    """

    def __init__(self) -> None:
        self._strings: dict[str, str] = {}

    def _canon(self, v: Any) -> Any:
        t = type(v)
        if t is str:
            return self._strings.setdefault(v, v)
        if (t is tuple or t is frozenset) and v:
            strings = self._strings
            return t([strings.setdefault(x, x) if type(x) is str else self._canon(x) for x in v])
        return v

    def __call__(self, obj: Any) -> Any:
        cls = type(obj)
        get = _plain_fields(cls)
        if get is None:
            return NotImplemented
        canon = self._canon
        return (cls, tuple([canon(x) for x in get(obj)]))


_PLAIN: dict[type, Callable[[Any], tuple[Any, ...]] | None] = {}


def _plain_fields(cls: type) -> Callable[[Any], tuple[Any, ...]] | None:
    """A getter of the field values (in ``__init__`` order) of a plain dataclass (see
    :class:`_Reducer`), ``None`` for anything else."""
    try:
        return _PLAIN[cls]
    except KeyError:
        pass
    get: Callable[[Any], tuple[Any, ...]] | None = None
    if dataclasses.is_dataclass(cls) and not hasattr(cls, "__post_init__"):
        fs = dataclasses.fields(cls)
        if all(f.init for f in fs):
            names = [f.name for f in fs]
            many = operator.attrgetter(*names)
            get = many if len(names) > 1 else (lambda obj: (many(obj),))
    _PLAIN[cls] = get
    return get


class _CatalogPickler(pickle.Pickler):
    def __init__(self, file: io.BytesIO) -> None:
        super().__init__(file, protocol=PROTOCOL)
        self._reduce = _Reducer()

    def reducer_override(self, obj: Any) -> Any:
        return self._reduce(obj)


def _catalog_ref() -> Catalog:
    """Stands for the catalog in the index section (resolved by :class:`_Unpickler`)."""
    raise pickle.UnpicklingError("a reference to the catalog outside the index section")


def _bug_ref(pos: int) -> KnownBug:
    """Stands for the catalog's bug at ``pos`` in the index section (resolved by :class:`_Unpickler`)."""
    raise pickle.UnpicklingError("a reference to the catalog outside the index section")


class _IndexPickler(_CatalogPickler):
    """Pickles the index; the catalog and its bugs become references into the catalog section
    (by ``reducer_override``, called for objects only: ``persistent_id`` would be called for
    every string and number of the index too)."""

    def __init__(self, file: io.BytesIO, catalog: Catalog) -> None:
        super().__init__(file)
        self._catalog = catalog
        self._bug_pos = {id(b): n for n, b in enumerate(catalog.bugs)}

    def reducer_override(self, obj: Any) -> Any:
        if obj is self._catalog:
            return (_catalog_ref, ())
        if type(obj) is KnownBug:
            pos = self._bug_pos.get(id(obj))
            if pos is not None:
                return (_bug_ref, (pos,))
        return self._reduce(obj)


class _Unpickler(pickle.Unpickler):
    def __init__(self, data: bytes, catalog: Catalog | None = None) -> None:
        super().__init__(io.BytesIO(data))
        self._catalog = catalog

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name == "_catalog_ref":
            return self._catalog_at
        if module == __name__ and name == "_bug_ref":
            return self._bug_at
        if module.startswith(_ALLOWED_MODULES) or (module == "builtins" and name in _ALLOWED_BUILTINS):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a prebuilt index")

    def _catalog_at(self) -> Catalog:
        if self._catalog is None:
            raise pickle.UnpicklingError("a reference to the catalog outside the index section")
        return self._catalog

    def _bug_at(self, pos: Any) -> KnownBug:
        bugs = self._catalog_at().bugs
        if type(pos) is not int or not 0 <= pos < len(bugs):
            raise pickle.UnpicklingError(f"bad catalog reference {pos!r}")
        return bugs[pos]


@contextlib.contextmanager
def _no_gc(*, freeze: bool = False) -> Iterator[None]:
    """The collector paused while ~600k objects are made or walked. ``freeze``: then moved out of
    its sight for good (``gc.freeze``, as the :class:`~sigmatch.match.matcher.Matcher` does with
    the catalog it is given), or the first collection after this walks all of them (~0.3 s).
    They are long-lived and hold no cycles; reference counting still frees them."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was:
            gc.enable()


def encode(key: CacheKey, catalog: Catalog, index: CandidateIndex) -> bytes:
    """The whole prebuilt file for ``catalog`` and ``index`` under ``key``."""
    if index.catalog is not catalog:
        raise ValueError("the index was built for another catalog")
    with _no_gc():
        a = io.BytesIO()
        _CatalogPickler(a).dump(catalog)
        b = io.BytesIO()
        _IndexPickler(b, catalog).dump(index)
    sec_a, sec_b = a.getvalue(), b.getvalue()
    header = {
        "format": FORMAT, "key": key.digest, "parts": key.parts,
        "catalog_version": catalog.version, "stats": list(catalog.stats().items()),
        "catalog": [len(sec_a), hashlib.sha256(sec_a).hexdigest()],
        "index": [len(sec_b), hashlib.sha256(sec_b).hexdigest()],
    }
    line = json.dumps(header, separators=(",", ":"), sort_keys=True, default=str).encode() + b"\n"
    return MAGIC + line + sec_a + sec_b


# --------------------------------------------------------------------------- reading


class _Refused(Exception):
    """This prebuilt file cannot be used (the reason is the message); build instead."""


def _open_checked(path: Path) -> io.BufferedReader:
    try:
        fh = open(path, "rb")  # noqa: SIM115 - returned to the caller, who closes it
    except FileNotFoundError as exc:
        raise _Refused("missing") from exc
    except OSError as exc:
        raise _Refused(f"unreadable: {exc.strerror}") from exc
    st = os.fstat(fh.fileno())
    if st.st_uid not in (os.geteuid(), 0) or st.st_mode & 0o022:
        fh.close()
        raise _Refused("not owned by this user, or writable by others")
    return fh


def _read_header(fh: io.BufferedReader, key: CacheKey) -> dict[str, Any]:
    if fh.read(len(MAGIC)) != MAGIC:
        raise _Refused("not a prebuilt index (bad magic)")
    line = fh.readline(MAX_HEADER)
    if not line.endswith(b"\n"):
        raise _Refused("truncated header")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise _Refused(f"damaged header: {exc}") from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise _Refused("unknown format")
    if header.get("key") != key.digest:
        raise _Refused("stale (built from something else)")
    return header


def _section(fh: io.BufferedReader, header: dict[str, Any], name: str) -> bytes:
    try:
        size, digest = header[name]
        size = int(size)
    except (KeyError, TypeError, ValueError) as exc:
        raise _Refused(f"damaged header: no {name} section") from exc
    data = fh.read(size)
    if len(data) != size:
        raise _Refused(f"truncated {name} section")
    if hashlib.sha256(data).hexdigest() != digest:
        raise _Refused(f"damaged {name} section (checksum)")
    return data


def _read(path: Path, key: CacheKey, *, with_index: bool) -> tuple[dict[str, Any], Catalog, CandidateIndex | None]:
    """The header, the catalog and (``with_index``) the index of a prebuilt file; raises
    :class:`_Refused` for any file that cannot be trusted to give the right answer."""
    with _open_checked(path) as fh:
        header = _read_header(fh, key)
        sec_a = _section(fh, header, "catalog")
        sec_b = _section(fh, header, "index") if with_index else b""
        if with_index and fh.read(1):
            raise _Refused("trailing bytes")
    try:
        with _no_gc(freeze=True):
            catalog = _Unpickler(sec_a).load()
            if not isinstance(catalog, Catalog) or catalog.version != header.get("catalog_version"):
                raise _Refused("the catalog section is not the catalog the header names")
            index = None
            if with_index:
                index = _Unpickler(sec_b, catalog).load()
                if not isinstance(index, CandidateIndex) or index.catalog is not catalog:
                    raise _Refused("the index section is not this catalog's index")
    except _Refused:
        raise
    except Exception as exc:  # a damaged or foreign pickle: any error at all means "build instead"
        raise _Refused(f"cannot be loaded ({type(exc).__name__}: {exc})") from exc
    return header, catalog, index


# --------------------------------------------------------------------------- writing


def write(directory: Path, key: CacheKey, catalog: Catalog, index: CandidateIndex) -> Path | None:
    """Write the prebuilt file atomically; ``None`` (and nothing changed) when it cannot be."""
    try:
        data = encode(key, catalog, index)
    except Exception as exc:  # something in the index that does not pickle: live without the file
        log.warning("prebuilt index not written: %s: %s", type(exc).__name__, exc)
        return None
    path = directory / key.filename
    fd, tmp = -1, ""
    try:
        # not ".*.tmp": the store's own clean-up removes those
        fd, tmp = tempfile.mkstemp(prefix=f".{key.filename}.", suffix=".part", dir=directory)
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "wb") as f:
            fd = -1
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        tmp = ""
    except OSError as exc:
        log.info("prebuilt index not written in %s: %s", directory, exc.strerror)
        return None
    finally:
        if fd >= 0:
            os.close(fd)
        if tmp:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
    _prune(directory, keep=path)
    return path


def _prune(directory: Path, keep: Path) -> None:
    """Keep the file just written and the newest other one; drop older ones and stale partial
    writes (an hour old: younger ones may belong to a writer still at work)."""
    import time

    def mtime(p: Path) -> float:
        try:
            return p.stat().st_mtime
        except OSError:
            return 0.0

    others = sorted((p for p in directory.glob(f"{PREFIX}*{SUFFIX}") if p != keep), key=mtime, reverse=True)
    for p in others[KEEP - 1:]:
        with contextlib.suppress(OSError):
            p.unlink()
    now = time.time()
    for p in directory.glob(f".{PREFIX}*.part"):
        if now - mtime(p) > 3600:
            with contextlib.suppress(OSError):
                p.unlink()


# --------------------------------------------------------------------------- the calls


@dataclass(frozen=True, slots=True)
class Prebuilt:
    """A catalog and its index, and where they came from (``"file"``: the prebuilt file;
    ``"built"``: built from the store now)."""

    catalog: Catalog
    index: CandidateIndex | None
    source: str
    path: Path | None = None
    note: str | None = None  # why the prebuilt file was not used, when it was not


def cache_dir(settings: Settings, store: SnapshotStore) -> Path:
    """Where prebuilt files live: the local store's catalog directory (beside the snapshots), or
    ``SIGMATCH_DATA_DIR/catalog`` for another store (Redis: this host's files, keyed by the
    snapshot id Redis names)."""
    own = getattr(store, "dir", None)
    if isinstance(own, Path):
        return own
    return settings.data_dir / "catalog"


@dataclass(frozen=True, slots=True)
class _Where:
    """The prebuilt file the current snapshot and curated tree call for."""

    store: SnapshotStore
    meta: StoreMeta
    sig_dir: Path
    directory: Path
    key: CacheKey

    @property
    def path(self) -> Path:
        return self.directory / self.key.filename


def _where(settings: Settings, store: SnapshotStore) -> _Where:
    meta = store.read_meta()
    sig_dir = settings.signatures_dir
    return _Where(store, meta, sig_dir, cache_dir(settings, store), cache_key(meta.version, sig_dir))


def _header(where: _Where) -> dict[str, Any]:
    with _open_checked(where.path) as fh:
        return _read_header(fh, where.key)


def load(settings: Settings, *, store: SnapshotStore,
         with_index: bool = True, use_file: bool = True) -> Prebuilt:
    """The catalog (and its index) as ``load_catalog`` + ``CandidateIndex`` would build them now,
    from the prebuilt file when it is there and right, else built (and the file written)."""
    where = _where(settings, store)
    note = "not asked for"
    if use_file:
        try:
            _, catalog, index = _read(where.path, where.key, with_index=with_index)
            # what the store's meta may change without a new snapshot: as it is now
            catalog.meta.update(live_meta(where.meta))
            return Prebuilt(catalog, index, "file", where.path)
        except _Refused as exc:
            note = str(exc)
            (log.debug if note == "missing" or note.startswith("stale") else log.warning)(
                "prebuilt index %s not used: %s", where.path, note)
    return _build(settings, where, write_file=use_file, note=note)


def _build(settings: Settings, where: _Where, *, write_file: bool, note: str | None) -> Prebuilt:
    catalog = load_catalog(settings, store=where.store)
    index = CandidateIndex(catalog)
    path = None
    if write_file and where.directory.is_dir():
        snapshot = str(catalog.meta.get("imported_version") or "")
        # The key of what was loaded: the snapshot the store gave (a refresh may have swapped one
        # in since the meta was read), the curated tree as it is after reading it; written only
        # when the tree did not change while it was read (else the file would carry the new
        # content under the old tree's key).
        key = cache_key("" if snapshot == "none" else snapshot, where.sig_dir)
        if key.parts["curated"] == where.key.parts["curated"]:
            path = write(where.directory, key, catalog, index)
    return Prebuilt(catalog, index, "built", path, note)


def load_matcher(settings: Settings, *, store: SnapshotStore,
                 use_file: bool = True) -> Matcher:
    """A :class:`~sigmatch.match.matcher.Matcher` over the current catalog, from the prebuilt
    index when it is there and right (the answers are the same either way)."""
    from sigmatch.match.matcher import Matcher

    pre = load(settings, store=store, use_file=use_file)
    return Matcher(pre.catalog, index=pre.index)


def load_catalog_prebuilt(settings: Settings, *, store: SnapshotStore) -> Catalog:
    """The current catalog (no index), from the prebuilt file's catalog section when it is right."""
    return load(settings, store=store, with_index=False).catalog


def catalog_stats(settings: Settings, *, store: SnapshotStore) -> dict[str, Any]:
    """What ``sigmatch db stats`` prints (the catalog's counts, version, CVE commit, last refresh):
    from the store's meta and the prebuilt file's header alone when the file is right; else the
    catalog is built (and the file written)."""
    where = _where(settings, store)
    try:
        header = _header(where)
        counts = {str(k): int(v) for k, v in header["stats"]}
        version = str(header["catalog_version"])
        live = live_meta(where.meta)
    except (_Refused, KeyError, TypeError, ValueError) as exc:
        log.debug("prebuilt index header %s not used: %s", where.path, exc)
        catalog = load(settings, store=where.store).catalog
        counts, version, live = catalog.stats(), catalog.version, live_meta(where.meta)
        live = {k: catalog.meta.get(k) for k in live}
    return {**counts, "version": version, **live}


def prebuild(settings: Settings, *, store: SnapshotStore) -> Path | None:
    """Make sure the prebuilt file for the current snapshot and curated tree is there (after a
    refresh, so that the next ``match`` finds it); its path, ``None`` when it cannot be written.
    A file already there is checked by its header only."""
    where = _where(settings, store)
    try:
        _header(where)
        return where.path
    except _Refused:
        return _build(settings, where, write_file=True, note=None).path
