"""A person at the web page, in a real headless Chromium (Playwright driving Debian's /usr/bin/chromium).

Against the real ``sigmatch serve`` with the embedded default (curated ``signatures/`` plus an empty
local store): paste the fsnotify soft lockup of DESIGN.md, submit, read what the page shows, open
the answer's shareable link in a fresh browser context, at a desktop width (1280 px) and a phone
width (390 px). No page may scroll sideways (``scrollWidth <= clientWidth``). Screenshots are
kept in ``test-artifacts/``.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from web_helpers import FSNOTIFY_LOG, REPO, served

CHROMIUM = os.environ.get("SIGMATCH_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
MULTI = REPO / "tests" / "fixtures" / "consoles" / "netdev-watchdog-then-fsnotify-4.14.32.log"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage"]
WIDTHS = {"desktop": 1280, "phone": 390}

sync_api = pytest.importorskip("playwright.sync_api")


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data = tmp_path_factory.mktemp("browser-data")
    # upstream off: the page must not wait on the internet (tests talk to 127.0.0.1 only)
    with served({"SIGMATCH_DATA_DIR": str(data), "SIGMATCH_UPSTREAM_LOOKUP": "off",
                 "SIGMATCH_MAX_REQUEST_BYTES": str(64 * 1024)}, workers=1, threads=4) as base:
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} not installed (scripts/test installs it with apt)")
    profile = tempfile.mkdtemp(prefix="sigmatch-chromium-")
    try:
        with sync_api.sync_playwright() as pw:
            b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
            try:
                yield b
            finally:
                b.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(params=list(WIDTHS), ids=list(WIDTHS))
def page(request: pytest.FixtureRequest, browser: sync_api.Browser) -> Iterator[sync_api.Page]:
    context = browser.new_context(viewport={"width": WIDTHS[request.param], "height": 900})
    try:
        p = context.new_page()
        p.set_default_timeout(30_000)
        p.width_name = request.param  # type: ignore[attr-defined]
        yield p
    finally:
        context.close()


def no_sideways_scroll(page: sync_api.Page) -> None:
    sizes = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert sizes[0] <= sizes[1], f"the page scrolls sideways at {page.viewport_size}: {sizes}"


def shot(page: sync_api.Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web-{name}-{page.width_name}.png"), full_page=True)  # type: ignore[attr-defined]


def test_front_page(page: sync_api.Page, base_url: str) -> None:
    page.goto(base_url + "/")
    assert "Which known kernel bug" in (page.text_content("h1") or "")
    assert "the upstream commit that fixes it" in (page.text_content("#what-you-get") or "")
    no_sideways_scroll(page)
    shot(page, "front")


def test_paste_the_fsnotify_lockup_and_read_the_answer(page: sync_api.Page, base_url: str,
                                                       browser: sync_api.Browser) -> None:
    page.goto(base_url + "/")
    page.fill("#trace", FSNOTIFY_LOG.read_text())
    page.click("#submit")
    page.wait_for_selector("#report")
    assert re.search(r"/r/[0-9a-f]{64}$", page.url), page.url  # the address is the shareable link
    no_sideways_scroll(page)
    shot(page, "fsnotify-answer")

    title = page.text_content("#report-title") or ""
    assert "soft lockup" in title and "fsnotify" in title, title
    fix_links = [a.get_attribute("href") or "" for a in page.query_selector_all("#fixes a.fix-link")]
    assert any(h.startswith("https://git.kernel.org/linus/d90a10e2444b") for h in fix_links), fix_links
    verdict = page.text_content("#verdict") or ""
    assert "affected" in verdict and "install 4.14.38 or later" in verdict and "4.14.32" in verdict, verdict
    # the verdict is on screen before the echoed log
    y = page.evaluate("s => document.querySelector(s).getBoundingClientRect().top", "#verdict")
    y_log = page.evaluate("s => document.querySelector(s).getBoundingClientRect().top", "#trace")
    assert y < y_log
    link = page.get_attribute("#permalink", "href") or ""
    assert link == page.url

    # someone else opens the link
    other = browser.new_context(viewport=page.viewport_size)
    try:
        p2 = other.new_page()
        p2.goto(link)
        assert "d90a10e2444b" in (p2.text_content("#fixes") or "")
        assert p2.input_value("#trace").startswith("[412087.330214] watchdog: BUG: soft lockup")
    finally:
        other.close()


def test_every_crash_of_the_console_is_answered(page: sync_api.Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.fill("#trace", MULTI.read_text())
    page.click("#submit")
    page.wait_for_selector("#report")
    no_sideways_scroll(page)
    shot(page, "multi-report")
    cards = [c.get_attribute("data-report") for c in page.query_selector_all("section.answer")]
    assert cards[0] == "2" and sorted(cards) == ["1", "2", "3"], cards  # the known bug first
    assert "known bug" in (page.text_content("#confidence") or "")
    assert "Known: report 2" in (page.text_content("#summary-text") or "")


def test_an_error_keeps_the_form_and_the_text(page: sync_api.Page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.fill("#trace", "hello, no crash here " + "https://example.org/" + "a" * 300)
    page.click("#submit")
    page.wait_for_selector("#error")
    no_sideways_scroll(page)
    shot(page, "error")
    assert "No kernel crash report found" in (page.text_content("#error") or "")
    assert page.input_value("#trace").startswith("hello, no crash here")
    # too large: the limit in units, the form again
    page.fill("#trace", "x" * (70 * 1024))
    page.click("#submit")
    page.wait_for_selector("#error")
    text = page.text_content("#error") or ""
    assert "64 KiB" in text and "SIGMATCH_" not in text, text
    assert page.query_selector("#trace") is not None
    no_sideways_scroll(page)


def test_browse_the_catalog(page: sync_api.Page, base_url: str) -> None:
    page.goto(base_url + "/bugs")
    page.wait_for_selector("#bug-list")
    no_sideways_scroll(page)
    shot(page, "bugs")
    page.goto(base_url + "/bugs?q=fsnotify")
    links = page.query_selector_all("#bug-list a")
    if not links:
        pytest.skip("no fsnotify entry in the curated catalog of this checkout")
    links[0].click()
    page.wait_for_selector("#bug-title")
    assert "fsnotify" in (page.text_content("main") or "").lower()
    no_sideways_scroll(page)
    shot(page, "bug")
