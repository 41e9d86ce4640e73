"""Shared test fixtures. Corpus data is read from ../shared at test time, never copied here."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sigmatch.config import BY_NAME, Settings

if TYPE_CHECKING:
    from flask import Flask

REPO = Path(__file__).resolve().parents[1]
SHARED = Settings.from_env().shared_dir.resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Tests talk only to 127.0.0.1: answers do not ask the real upstream hosts unless a test points the
# upstream URL settings at a local server and turns the lookup on itself.
os.environ.setdefault("SIGMATCH_UPSTREAM_LOOKUP", "off")


def settings_with(env: Mapping[str, Any] | None = None, **names: Any) -> Settings:
    """Settings as a deployment with these environment variables set (names as in the settings
    table, values as text or typed) would read them, on top of this process's environment."""
    merged = {**os.environ, **{k: str(v) for k, v in {**(env or {}), **names}.items()}}
    return Settings.from_env(merged)


def app_with(config: Mapping[str, Any] | None = None) -> Flask:
    """``create_app`` for a test: setting names go to the settings, ``CATALOG`` serves a given
    catalog, ``JOBS`` replaces the runtime's job queue, anything else goes to Flask's config."""
    from sigmatch.runtime import build_runtime
    from sigmatch.web import create_app

    rest = dict(config or {})
    catalog = rest.pop("CATALOG", None)
    jobs = rest.pop("JOBS", None)
    env = {k: rest.pop(k) for k in list(rest) if k in BY_NAME}
    runtime = build_runtime(settings_with(env), **({"jobs": jobs} if jobs is not None else {}))
    if jobs is not None and getattr(jobs, "runtime", False) is None:
        jobs.runtime = runtime  # in-process jobs (the refresh) work on this app's runtime
    return create_app(runtime=runtime, catalog=catalog, flask_config=rest)


@pytest.fixture(autouse=True)
def _fresh_worker_state() -> Any:
    """Jobs run in-process (rq's SimpleWorker) build the worker's runtime from the environment of
    the test that runs them, not of an earlier test."""
    from sigmatch.worker import tasks

    tasks.reset()
    yield
    tasks.reset()


def shared_path(*parts: str) -> Path:
    """A path under ../shared, or skip the calling test with a clear message when it is absent."""
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.skip(f"shared data not found: {p} (set SIGMATCH_SHARED_DIR to the shared/ folder)")
    return p


@pytest.fixture
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip(f"shared data not found: {SHARED} (set SIGMATCH_SHARED_DIR)")
    return SHARED


# --- a real redis-server for the tests that need one (tests/redis_server.py; no in-memory fake)
from redis_server import own_redis, redis_server, redis_url  # noqa: E402, F401
