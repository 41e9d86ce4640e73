"""Every setting in sigmatch.config.SETTINGS appears in the README's settings table."""

from __future__ import annotations

from conftest import REPO

from sigmatch.config import SETTINGS, get, load


def test_every_setting_is_in_the_readme() -> None:
    readme = (REPO / "README.md").read_text()
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


def test_typed_values_and_overrides() -> None:
    assert get("SIGMATCH_MAX_REQUEST_BYTES", {}) == 2 * 1024 * 1024
    assert get("SIGMATCH_MAX_REQUEST_BYTES", {"SIGMATCH_MAX_REQUEST_BYTES": "10"}) == 10
    assert load({}, SIGMATCH_TOP_K=3)["SIGMATCH_TOP_K"] == 3
