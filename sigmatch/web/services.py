"""What the views call: the catalog this process serves, its matcher, and the core ``analyze`` call.

The catalog is loaded lazily, once, under a lock (``sigmatch serve`` loads it before gunicorn forks
its workers so they share the memory). :meth:`CatalogHolder.maybe_reload` picks up a new snapshot
written by a refresh (this process's or another's, through the store) without blocking requests:
the old catalog keeps answering until the new one is ready.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sigmatch.answer import Answer
from sigmatch.catalog.catalog import Catalog
from sigmatch.errors import CatalogError, SigmatchError

log = logging.getLogger("sigmatch.web")

CatalogLoader = Callable[[], Catalog]
VersionProbe = Callable[[], str | None]


def _call_with_settings(fn: Callable[..., Any], settings: Mapping[str, Any]) -> Any:
    """Call a loader that may or may not take the settings (the store's API is still settling)."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return fn()
    if not params:
        return fn()
    return fn(dict(settings))


def default_loader(settings: Mapping[str, Any]) -> CatalogLoader:
    """``load_catalog()`` of the catalog package: curated ``signatures/`` plus the local/Redis store."""

    def load() -> Catalog:
        for modname in ("sigmatch.catalog.catalog", "sigmatch.catalog.store", "sigmatch.catalog"):
            if importlib.util.find_spec(modname) is None:
                continue
            fn = getattr(importlib.import_module(modname), "load_catalog", None)
            if callable(fn):
                cat = _call_with_settings(fn, settings)
                if not isinstance(cat, Catalog):
                    raise CatalogError(f"load_catalog() returned {type(cat).__name__}, not a Catalog")
                return cat
        log.warning("no load_catalog() available yet: serving an empty catalog")
        return Catalog.of([], version="empty")

    return load


def default_probe(settings: Mapping[str, Any]) -> VersionProbe | None:
    """The store's cheap "which snapshot is current?" call (``current_version``), when it has one."""
    if importlib.util.find_spec("sigmatch.catalog.store") is None:
        return None
    fn = getattr(importlib.import_module("sigmatch.catalog.store"), "current_version", None)
    if not callable(fn):
        return None

    def probe() -> str | None:
        v = _call_with_settings(fn, settings)
        return None if v is None else str(v)

    return probe


def build_matcher(catalog: Catalog) -> Any:
    """``sigmatch.match.matcher.Matcher(catalog)``, or ``None`` until the matcher exists."""
    if importlib.util.find_spec("sigmatch.match.matcher") is None:
        return None
    return importlib.import_module("sigmatch.match.matcher").Matcher(catalog)


@dataclass(slots=True)
class Loaded:
    catalog: Catalog
    matcher: Any
    loaded_at: float
    probe_version: str | None = None


@dataclass
class CatalogHolder:
    """The catalog (and matcher) one process serves; thread-safe, reloadable."""

    loader: CatalogLoader
    probe: VersionProbe | None = None
    check_every: float = 5.0  # seconds between two store-version probes
    _current: Loaded | None = None
    _error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _reloading: bool = False
    _last_check: float = 0.0

    def _build(self) -> Loaded:
        probe_version = self._probe()
        catalog = self.loader()
        matcher = build_matcher(catalog)
        return Loaded(catalog, matcher, time.time(), probe_version)

    def _probe(self) -> str | None:
        if self.probe is None:
            return None
        try:
            return self.probe()
        except Exception as exc:  # a store hiccup must not break answering
            log.warning("catalog version probe failed: %s", exc)
            return None

    def get(self) -> Loaded:
        """The loaded catalog, loading it first if needed (raises :class:`CatalogError`)."""
        current = self._current
        if current is not None:
            self.maybe_reload()
            return current
        with self._lock:
            if self._current is None:
                try:
                    self._current = self._build()
                    self._error = None
                except SigmatchError as exc:
                    self._error = str(exc)
                    raise CatalogError(str(exc)) from exc
                except Exception as exc:
                    self._error = f"{type(exc).__name__}: {exc}"
                    log.exception("catalog failed to load")
                    raise CatalogError(self._error) from exc
            return self._current

    def peek(self) -> Loaded | None:
        return self._current

    @property
    def error(self) -> str | None:
        return self._error

    @property
    def loading(self) -> bool:
        return self._lock.locked()

    def invalidate(self) -> None:
        """Reload in the background now (after a refresh in this process)."""
        self._last_check = 0.0
        self._start_reload(force=True)

    def maybe_reload(self) -> None:
        if self.probe is None or self._current is None:
            return
        now = time.monotonic()
        if now - self._last_check < self.check_every:
            return
        self._last_check = now
        version = self._probe()
        if version is not None and version != self._current.probe_version:
            self._start_reload(force=False)

    def _start_reload(self, *, force: bool) -> None:
        with self._lock:
            if self._reloading:
                return
            self._reloading = True
        threading.Thread(target=self._reload, name="sigmatch-catalog-reload", daemon=True).start()

    def _reload(self) -> None:
        try:
            new = self._build()
            self._current = new
            self._error = None
            log.info("catalog reloaded: %s (%d bugs)", new.catalog.version, len(new.catalog))
        except Exception as exc:  # keep serving the last good catalog
            log.warning("catalog reload failed, keeping the current one: %s", exc)
        finally:
            self._reloading = False


def analyze(text: str, loaded: Loaded, *, top: int) -> Answer:
    """The core call (``sigmatch.answer.analyze``); before the matcher exists, reports without matches."""
    mod = importlib.import_module("sigmatch.answer")
    fn = getattr(mod, "analyze", None)
    if callable(fn) and loaded.matcher is not None:
        answer = fn(text, loaded.matcher, top=top)
        assert isinstance(answer, Answer)
        return answer
    from sigmatch import RULES_VERSION, parse_log, signature_of

    reports = tuple(parse_log(text))
    return Answer(
        reports=reports,
        signature=signature_of(reports[0]) if reports else None,
        matches=(),
        kernel=None,
        rules_version=RULES_VERSION,
        algorithm_version="none",
        catalog_version=loaded.catalog.version,
        notes=("no matcher available yet: reports only",),
    )
