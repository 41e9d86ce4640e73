"""A person at the web page, in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

Against the real ``sigmatch serve`` with the embedded default (curated ``signatures/`` plus an empty
local store): paste the fsnotify soft lockup of DESIGN.md, submit, read what the page shows. The
screenshot is kept in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import FSNOTIFY_LOG, REPO, served

CHROMIUM = os.environ.get("SIGMATCH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("browser-data")
    with served({"SIGMATCH_DATA_DIR": str(data)}, workers=1, threads=4) as base:
        yield base


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (scripts/test installs it with apt)")
    profile = tempfile.mkdtemp(prefix="sigmatch-chromium-")
    try:
        with sync_api.sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                profile, executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS,
                viewport={"width": 1280, "height": 1400})
            try:
                yield context.new_page()
            finally:
                context.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def test_paste_the_fsnotify_lockup_and_read_the_answer(page: sync_api.Page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert "Which known kernel bug" in page.text_content("h1")
    page.fill("#trace", FSNOTIFY_LOG.read_text())
    page.click("#submit")
    page.wait_for_selector("#report")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "web-fsnotify-answer.png"), full_page=True)

    title = page.text_content("#report-title") or ""
    assert "soft lockup" in title and "fsnotify" in title, title
    assert page.is_visible("#upstream")
    body = page.text_content("main") or ""
    if page.query_selector("#top-match") is None:
        pytest.skip("no curated entry for the fsnotify race in this checkout: title checked only")
    fix_links = [a.get_attribute("href") or "" for a in page.query_selector_all("#fixes a.fix-link")]
    assert any(h.startswith("https://git.kernel.org/linus/d90a10e2444b") for h in fix_links), fix_links
    assert "d90a10e2444b" in body
    verdict = page.text_content("#verdict") or ""
    assert "affected" in verdict and "4.14.32" in verdict, verdict


def test_browse_the_catalog(page: sync_api.Page, base_url: str) -> None:
    page.goto(base_url + "/bugs?q=fsnotify")
    page.wait_for_selector("#bug-list")
    links = page.query_selector_all("#bug-list a")
    if not links:
        pytest.skip("no fsnotify entry in the curated catalog of this checkout")
    links[0].click()
    page.wait_for_selector("#bug-title")
    assert "fsnotify" in (page.text_content("main") or "").lower()
