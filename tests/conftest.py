"""Shared test fixtures. Corpus data is read from ../shared at test time, never copied here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SIGMATCH_SHARED_DIR", REPO.parent / "shared")).resolve()
FIXTURES = Path(__file__).resolve().parent / "fixtures"

# Tests talk only to 127.0.0.1: answers do not ask the real upstream hosts unless a test points the
# upstream URL settings at a local server and turns the lookup on itself.
os.environ.setdefault("SIGMATCH_UPSTREAM_LOOKUP", "off")


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
