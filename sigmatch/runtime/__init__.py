"""The runtime: what a deployment's processes share, assembled from the settings in one place.

::

    runtime = build_runtime(Settings.from_env())
    runtime.store                    SnapshotStore: RedisSnapshotStore (REDIS_URL) | LocalStore (SIGMATCH_DATA_DIR)
    runtime.jobs                     Jobs: RQJobs (REDIS_URL) | ThreadJobs (this process, state in DATA_DIR/jobs)
    runtime.upstream_cache           RedisCache | this process's MemoryCache
    runtime.upstream_limiter         RedisRateLimiter (GCRA on Redis's clock) | this process's TokenBucket
    runtime.upstream_client()        an UpstreamClient with those two
    runtime.idempotency              chat idempotency keys: Redis | SQLite in DATA_DIR | memory
    runtime.shares                   logs behind the web page's shareable links: Redis | DATA_DIR/shared
    runtime.delivery                 how chat replies leave (Slack/Mattermost credentials, caps)
    runtime.chat_runner(analyze)     chat replies: QueueRunner (RQ) | ThreadRunner (this process)
    runtime.load_catalog()           curated signatures/ + the store's current snapshot
    runtime.load_matcher()           a Matcher over it, from the prebuilt index file when it is right
    runtime.catalog_stats()          what `db stats` prints, from the store's meta + the prebuilt header
    runtime.prebuild_index()         write the prebuilt index for the current snapshot (after a refresh)
    runtime.current_version()        the store's current snapshot id (a cheap probe)
    runtime.redis_health()           None embedded; {"ok": ..., "detail": ...} with Redis

:func:`build_runtime` is the only code that looks at ``REDIS_URL``: the web app, the CLI and the
worker receive a :class:`Runtime` and use what it holds. The embedded deployment never loads
``redis`` or ``rq``; with ``REDIS_URL`` set, a missing one is an error at start-up that names it.
Parts are built on first use (a CLI ``match`` opens no job queue and no chat state), and the
modules of the parts a process may never use (HTTP clients, chat delivery) are imported by the
factory that builds them: a cold ``sigmatch match`` does not pay for ``requests`` and ``bs4``.
"""

from __future__ import annotations

import importlib
import logging
import sqlite3
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sigmatch.catalog.catalog import Catalog, load_catalog
from sigmatch.catalog.store import LocalStore, SnapshotStore
from sigmatch.config import Settings
from sigmatch.errors import ConfigError
from sigmatch.runtime.jobs import Jobs, ThreadJobs

if TYPE_CHECKING:
    from pathlib import Path

    from sigmatch.match.matcher import Matcher
    from sigmatch.runtime.chat.delivery import Analyze, Delivery, Runner
    from sigmatch.runtime.chat.idempotency import IdempotencyStore
    from sigmatch.runtime.share import ShareStore
    from sigmatch.upstream.http import Cache, RateLimiter, UpstreamClient

__all__ = ["Runtime", "build_runtime", "require"]

log = logging.getLogger("sigmatch.runtime")

Factory = Callable[["Runtime"], Any]


def require(module: str, why: str) -> Any:
    """Import ``module`` or stop with a :class:`ConfigError` that names it and what needs it."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError("REDIS_URL" if "redis" in why.lower() else "dependency", module,
                          f"{why} needs the Python package {exc.name or module!r}, which is not installed "
                          "(pip install sigmatch installs it)") from exc


class Runtime:
    """The parts of one deployment (see the module docstring); build it with :func:`build_runtime`."""

    def __init__(self, settings: Settings, *, factories: dict[str, Factory], backend: str) -> None:
        self.settings = settings
        self.backend = backend  # "redis" | "embedded"
        self._factories = factories
        self._parts: dict[str, Any] = {}
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"Runtime({self.backend}, built={sorted(self._parts)})"

    def _part(self, name: str) -> Any:
        part = self._parts.get(name)
        if part is None:
            with self._lock:
                part = self._parts.get(name)
                if part is None:
                    part = self._factories[name](self)
                    self._parts[name] = part
        return part

    @property
    def store(self) -> SnapshotStore:
        store: SnapshotStore = self._part("store")
        return store

    @property
    def jobs(self) -> Jobs:
        jobs: Jobs = self._part("jobs")
        return jobs

    @property
    def upstream_cache(self) -> Cache:
        cache: Cache = self._part("upstream_cache")
        return cache

    @property
    def upstream_limiter(self) -> RateLimiter:
        limiter: RateLimiter = self._part("upstream_limiter")
        return limiter

    @property
    def idempotency(self) -> IdempotencyStore:
        idem: IdempotencyStore = self._part("idempotency")
        return idem

    @property
    def shares(self) -> ShareStore:
        shares: ShareStore = self._part("shares")
        return shares

    @property
    def delivery(self) -> Delivery:
        d: Delivery = self._part("delivery")
        return d

    def upstream_client(self, *, cache: Cache | None = None) -> UpstreamClient:
        """A client for the four configured upstream bases, with the shared cache and pace."""
        from sigmatch.upstream.http import client_from_settings

        return client_from_settings(self.settings, cache=cache if cache is not None else self.upstream_cache,
                                    limiter=self.upstream_limiter)

    def chat_runner(self, analyze: Analyze) -> Runner:
        """Where chat replies run: a worker process through the queue (RQ), else this process's threads."""
        from sigmatch.runtime.chat.delivery import QueueRunner, ThreadRunner

        if self.jobs.backend == "thread":
            return ThreadRunner(analyze, self.delivery)
        return QueueRunner(self.jobs)

    def load_catalog(self, *, prebuilt: bool = False) -> Catalog:
        """The current catalog; with ``prebuilt``, from the prebuilt file's catalog section when it
        is right (:mod:`sigmatch.runtime.prebuilt`: the same catalog, without decoding the snapshot)."""
        if prebuilt:
            from sigmatch.runtime import prebuilt as pre

            return pre.load_catalog_prebuilt(self.settings, store=self.store)
        return load_catalog(self.settings, store=self.store)

    def load_matcher(self, *, use_file: bool = True) -> Matcher:
        """A matcher over the current catalog, from the prebuilt index when it is there and right
        (the answers are the same either way; a cold CLI skips decoding and indexing)."""
        from sigmatch.runtime import prebuilt as pre

        return pre.load_matcher(self.settings, store=self.store, use_file=use_file)

    def catalog_stats(self) -> dict[str, Any]:
        from sigmatch.runtime import prebuilt as pre

        return pre.catalog_stats(self.settings, store=self.store)

    def prebuild_index(self) -> Path | None:
        """The prebuilt index for the current snapshot and curated tree, written when missing."""
        from sigmatch.runtime import prebuilt as pre

        return pre.prebuild(self.settings, store=self.store)

    def current_version(self) -> str | None:
        """The store's current snapshot id: one GET with a short timeout in Redis, meta.json locally."""
        probe = getattr(self.store, "current_version", None)
        if callable(probe):
            version = probe()
            return str(version) if version else None
        return self.store.read_meta().version or None

    def redis_health(self) -> dict[str, Any] | None:
        health: dict[str, Any] | None = self._factories["redis_health"](self)
        return health


def _embedded(settings: Settings) -> dict[str, Factory]:
    def idempotency(rt: Runtime) -> IdempotencyStore:
        from sigmatch.runtime.chat.idempotency import MemoryIdempotency, SqliteIdempotency

        path = settings.data_dir / "chat-claims.sqlite3"
        try:
            return SqliteIdempotency(path)  # shared by the gunicorn workers of this machine
        except (OSError, sqlite3.Error) as exc:
            log.warning("chat idempotency keys kept in this process only (%s is not usable: %s)", path, exc)
            return MemoryIdempotency()

    return {
        "store": lambda rt: LocalStore(settings.data_dir),
        # job functions that take a `runtime` parameter get this one (the app's settings apply)
        "jobs": lambda rt: ThreadJobs(state_dir=settings.data_dir / "jobs", runtime=rt),
        "upstream_cache": lambda rt: _http().default_cache(),
        "upstream_limiter": lambda rt: _http().default_limiter(settings.rate_limit),
        "idempotency": idempotency,
        "shares": lambda rt: _share().FileShares(settings.data_dir / "shared"),
        "redis_health": lambda rt: None,
    }


def _share() -> Any:
    return importlib.import_module("sigmatch.runtime.share")


def _http() -> Any:
    return importlib.import_module("sigmatch.upstream.http")


def _delivery(settings: Settings) -> Factory:
    def build(rt: Runtime) -> Delivery:
        from sigmatch.runtime.chat.delivery import Delivery

        return Delivery.from_settings(settings, rt.upstream_client)

    return build


def _with_redis(settings: Settings) -> dict[str, Factory]:
    why = "REDIS_URL (the shared store, cache, rate limit and RQ queue)"
    redisio = require("sigmatch.runtime.redisio", why)  # imports redis
    store_mod = require("sigmatch.runtime.redisio.store", why)
    cache_mod = require("sigmatch.runtime.redisio.cache", why)
    locks_mod = require("sigmatch.runtime.redisio.locks", why)
    rq_mod = require("sigmatch.runtime.jobs_rq", why)  # imports rq

    url = settings.redis_url
    # Short timeouts in request paths: a hung Redis costs a lookup a cache miss, not its budget.
    fast = redisio.client_for(url, timeout=redisio.PROBE_TIMEOUT)
    return {
        "store": lambda rt: store_mod.RedisSnapshotStore(url, lock_ttl=settings.refresh_lock_ttl),
        "jobs": lambda rt: rq_mod.RQJobs(url, timeout=settings.job_timeout, retries=settings.job_retries),
        "upstream_cache": lambda rt: cache_mod.RedisCache(fast),
        "upstream_limiter": lambda rt: cache_mod.RedisRateLimiter(fast, settings.rate_limit),
        "idempotency": lambda rt: locks_mod.RedisIdempotency(redisio.client_for(url, timeout=max(redisio.PROBE_TIMEOUT, 2.0))),
        "shares": lambda rt: _share().RedisShares(redisio.client_for(url, timeout=max(redisio.PROBE_TIMEOUT, 2.0))),
        "redis_health": lambda rt: redisio.health(url),
    }


def build_runtime(settings: Settings, **parts: Any) -> Runtime:
    """The runtime the settings describe: Redis and RQ when ``REDIS_URL`` is set, else embedded.

    ``parts`` replace named parts (``store=``, ``jobs=``, ``idempotency=``, ...; tests and embedders).
    """
    factories = _with_redis(settings) if settings.redis else _embedded(settings)
    factories["delivery"] = _delivery(settings)
    unknown = sorted(set(parts) - set(factories))
    if unknown:
        raise ConfigError(unknown[0], parts[unknown[0]], "no such runtime part")
    runtime = Runtime(settings, factories=factories, backend="redis" if settings.redis else "embedded")
    for name, value in parts.items():
        runtime._parts[name] = value
    return runtime
