"""The settings table (sigmatch.config.SETTINGS) is the documentation: every row appears in the
README's settings table, and the typed Settings object is built from it alone."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from conftest import REPO

from sigmatch.config import SETTINGS, Settings, switch
from sigmatch.errors import ConfigError


def readme_table() -> dict[str, str]:
    """README rows ``| `NAME` | `default` | ...``: name -> default as written there."""
    rows: dict[str, str] = {}
    for line in (REPO / "README.md").read_text().splitlines():
        m = re.match(r"^\| `([A-Z_]+)` \| `([^`]*)` \|", line)
        if m:
            rows[m.group(1)] = m.group(2)
    return rows


def test_every_setting_is_in_the_readme_with_its_default() -> None:
    rows = readme_table()
    missing = [s.name for s in SETTINGS if s.name not in rows]
    assert not missing, f"settings missing from README.md's table: {missing}"
    wrong = [(s.name, rows[s.name], s.default) for s in SETTINGS if rows[s.name] != s.default]
    assert not wrong, f"README.md's defaults differ from sigmatch.config.SETTINGS: {wrong}"
    assert set(rows) <= {s.name for s in SETTINGS}, "README.md documents a setting that does not exist"


def test_the_table_and_the_settings_object_agree() -> None:
    assert sorted(s.attr for s in SETTINGS) == sorted(f.name for f in dataclasses.fields(Settings))


def test_typed_values_defaults_and_changes(tmp_path: Path) -> None:
    s = Settings.from_env({})
    assert s.max_request_bytes == 2 * 1024 * 1024 and s.top_k == 5 and s.upstream_lookup is True
    assert s.port == 8000 and s.web_concurrency == 2 and s.web_threads == 8 and s.redis_url == ""
    assert Settings.from_env({"SIGMATCH_MAX_REQUEST_BYTES": "10"}).max_request_bytes == 10
    assert Settings.from_env({"SIGMATCH_TOP_K": ""}).top_k == 5  # empty is unset
    assert s.with_(top_k=3).top_k == 3 and s.top_k == 5  # frozen: a changed copy
    assert s.with_(data_dir=str(tmp_path)).data_dir == tmp_path
    assert Settings.from_env({"SIGMATCH_DATA_DIR": "~/x"}).data_dir == Path.home() / "x"
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.top_k = 4  # type: ignore[misc]
    with pytest.raises(ConfigError, match="no such setting"):
        s.with_(nonsense=1)
    with pytest.raises(ConfigError, match="SIGMATCH_TOP_K"):
        Settings.from_env({"SIGMATCH_TOP_K": "many"})


def test_one_on_off_parser() -> None:
    for raw in ("on", "ON", " 1", "true", "yes"):
        assert switch("X", raw) is True
    for raw in ("off", "0", "False", "no "):
        assert switch("X", raw) is False
    with pytest.raises(ConfigError, match="SIGMATCH_UPSTREAM_LOOKUP"):
        Settings.from_env({"SIGMATCH_UPSTREAM_LOOKUP": "sometimes"})
    assert Settings.from_env({"SIGMATCH_SERVE_REFRESH": "yes"}).serve_refresh is True


def test_environment_round_trip() -> None:
    s = Settings.from_env({"SIGMATCH_TOP_K": "7", "SIGMATCH_UPSTREAM_LOOKUP": "off", "REDIS_URL": "redis://x"})
    assert Settings.from_env(s.to_env()) == s
    assert s.to_env("top_k", "upstream_lookup") == {"SIGMATCH_TOP_K": "7", "SIGMATCH_UPSTREAM_LOOKUP": "off"}
