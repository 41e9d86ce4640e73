"""The server-rendered page (no JavaScript): paste, upload, read the answer, share it, browse the catalog."""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path

import pytest
from conftest import app_with
from flask.testing import FlaskClient
from web_helpers import FSNOTIFY_FIX, FSNOTIFY_LOG, REPO, small_catalog

from sigmatch.catalog.catalog import Catalog
from sigmatch.catalog.curated import load_curated
from sigmatch.runtime.share import FileShares, share_key

LOG = FSNOTIFY_LOG.read_text()
MULTI = (REPO / "tests" / "fixtures" / "consoles" / "netdev-watchdog-then-fsnotify-4.14.32.log").read_text()
LINK = re.compile(r'id="permalink" href="(http://localhost/r/[0-9a-f]{64})"')


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path)}).test_client()


@pytest.fixture
def curated_client(tmp_path: Path) -> FlaskClient:
    catalog = Catalog.of(load_curated(REPO / "signatures"), version="curated-test")
    return app_with({"CATALOG": catalog, "SIGMATCH_DATA_DIR": str(tmp_path)}).test_client()


def test_front_page_says_what_you_get_and_works_without_javascript(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<form method="post"' in html and 'enctype="multipart/form-data"' in html
    assert 'name="trace"' in html and 'type="file"' in html and "<script" not in html
    assert 'id="what-you-get"' in html and "the upstream commit that fixes it" in html
    assert '<a href="/example" id="example">try an example</a>' in html  # an example to try
    assert "up to 2 MiB" in html and "SIGMATCH_" not in html  # limits in units, not setting names


def test_pasted_log_gets_a_shareable_link_and_the_verdict_comes_first(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": LOG}, content_type="multipart/form-data")
    assert r.status_code == 303 and re.fullmatch(r"/r/[0-9a-f]{64}", r.headers["Location"]), r.headers
    r = client.get(r.headers["Location"])
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "BUG: soft lockup" in html
    assert "fsnotify: soft lockup in fsnotify on a freed mark connector" in html
    assert f'href="https://git.kernel.org/linus/{FSNOTIFY_FIX}"' in html and FSNOTIFY_FIX[:12] in html
    assert 'id="verdict"' in html and "4.14.32" in html
    assert "&lt;IRQ&gt;" in html and "<IRQ>" not in html  # the paste is kept in the textarea, escaped
    # the answer first, the echoed log after it
    assert html.index('id="summary"') < html.index('id="verdict"') < html.index("<textarea")
    link = LINK.search(html)
    assert link and link.group(1).endswith(r.request.path)
    # a shared page is not indexed, not cached, and does not leak its address as a referrer
    assert 'name="robots" content="noindex, nofollow"' in html
    assert r.headers["Referrer-Policy"] == "no-referrer" and "no-store" in r.headers["Cache-Control"]


def test_a_link_is_the_submission_content_hash_and_opens_for_anyone(tmp_path: Path) -> None:
    app = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path)})
    a, b = app.test_client(), app.test_client()
    loc = a.post("/", data={"trace": LOG}, content_type="multipart/form-data").headers["Location"]
    assert loc == "/r/" + share_key(LOG, top=5, kernel=None)
    assert a.post("/", data={"trace": LOG}, content_type="multipart/form-data").headers["Location"] == loc
    other = a.post("/", data={"trace": LOG, "top": "2"}, content_type="multipart/form-data").headers["Location"]
    assert other != loc  # the options are part of what the link answers
    r = b.get(loc)  # another browser, no cookies: the link alone is enough
    assert r.status_code == 200 and FSNOTIFY_FIX[:12] in r.get_data(as_text=True)
    assert list((tmp_path / "shared").glob("*.json.gz"))


@pytest.mark.parametrize("key", ["0" * 64, "1", "../../etc/passwd", "A" * 64])
def test_unknown_or_malformed_links_are_a_404_with_the_form(client: FlaskClient, key: str) -> None:
    r = client.get(f"/r/{key}", headers={"Accept": "text/html"})
    assert r.status_code == 404
    html = r.get_data(as_text=True)
    assert "expired or never existed" in html or "not found" in html.lower()
    if "/" not in key:
        assert "<textarea" in html


def test_shared_logs_are_bounded_in_number_and_time(tmp_path: Path) -> None:
    store = FileShares(tmp_path, ttl=60, max_files=3)
    keys = [f"{i:064x}" for i in range(5)]
    for n, k in enumerate(keys):
        store.put(k, b"x" * 10)
        os.utime(tmp_path / f"{k}.json.gz", (time.time() - 50 + n, time.time() - 50 + n))
    store.prune()
    assert sorted(p.name[:64] for p in tmp_path.glob("*.json.gz")) == keys[2:]
    old = tmp_path / f"{keys[4]}.json.gz"
    os.utime(old, (time.time() - 120, time.time() - 120))
    assert store.get(keys[4]) is None and not old.exists()  # expired
    assert store.get(keys[3]) == b"x" * 10


def test_uploaded_file_is_read(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": "", "file": (io.BytesIO(LOG.encode()), "console.log")},
                    content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200 and FSNOTIFY_FIX[:12] in r.get_data(as_text=True)


def test_a_paste_with_no_crash_shows_a_readable_error_and_keeps_the_text(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": "hello <b>world</b>"}, content_type="multipart/form-data")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "No kernel crash report found" in html and "hello &lt;b&gt;world&lt;/b&gt;" in html
    assert "<b>world" not in html and "<textarea" in html
    assert "new bug" not in html


def test_a_bad_kernel_is_a_400_that_keeps_the_text(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": LOG, "kernel": "garbage"}, content_type="multipart/form-data")
    assert r.status_code == 400
    html = r.get_data(as_text=True)
    assert "is not a kernel version" in html and "kube-apiserver" in html and 'value="garbage"' in html


def test_too_large_names_the_limit_in_units_and_keeps_the_form(tmp_path: Path) -> None:
    app = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path),
                      "SIGMATCH_MAX_REQUEST_BYTES": 4096})
    c = app.test_client()
    # a body over the limit is refused before it is read: the form comes back, the text cannot
    r = c.post("/", data={"trace": "x" * 10000}, content_type="multipart/form-data", headers={"Accept": "text/html"})
    html = r.get_data(as_text=True)
    assert r.status_code == 413 and "4 KiB" in html and "SIGMATCH_" not in html and "<textarea" in html


def test_every_crash_of_a_log_is_answered_confident_first(curated_client: FlaskClient) -> None:
    r = curated_client.post("/", data={"trace": MULTI}, content_type="multipart/form-data", follow_redirects=True)
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    cards = re.findall(r'<section class="answer"[^>]*data-report="(\d+)"', html)
    assert cards[0] == "2" and sorted(cards) == ["1", "2", "3"], cards  # the known bug first
    first = html[html.index('data-report="2"'):html.index('data-report="1"')]
    assert "known bug" in first and "d90a10e2444b" in first and "install 4.14.38 or later" in first
    assert "Known: report 2 (BUG: soft lockup in fsnotify)" in html


def test_a_suggestion_never_says_affected_or_install(curated_client: FlaskClient) -> None:
    # the fsnotify soft lockup on a kernel that carries the fix: the title hit is not confident
    r = curated_client.post("/", data={"trace": LOG, "kernel": "5.4.0"}, content_type="multipart/form-data",
                            follow_redirects=True)
    html = r.get_data(as_text=True)
    card = html[html.index('id="report"'):html.index('id="upstream"')]
    assert "possible match, not confident" in card
    assert "Fixed in your kernel" in card and "install" not in card.lower()
    assert 'class="badge affected"' not in card


def test_the_example_to_try(curated_client: FlaskClient) -> None:
    r = curated_client.get("/example")
    assert r.status_code == 200
    html = r.get_data(as_text=True)
    assert "d90a10e2444b" in html and 'id="permalink" href="http://localhost/example"' in html


def test_catalog_pages_escape_untrusted_text(client: FlaskClient) -> None:
    html = client.get("/bugs").get_data(as_text=True)
    assert "fsnotify-mark-connector-race" in html and "CVE-2099-0001" in html
    assert "<script>alert" not in html and "&lt;script&gt;alert(" in html
    html = client.get("/bugs?q=kasan").get_data(as_text=True)
    assert "CVE-2099-0001" in html and "fsnotify-mark-connector-race" not in html
    html = client.get("/bugs?per_page=1&page=2").get_data(as_text=True)
    assert "page 2 of 3" in html and "previous" in html and "next" in html
    html = client.get("/bugs/fsnotify-mark-connector-race").get_data(as_text=True)
    assert f"https://git.kernel.org/linus/{FSNOTIFY_FIX}" in html and "4.16.9" in html and "vfs_write" in html
    html = client.get("/bugs/xss-title").get_data(as_text=True)
    assert "<script>alert" not in html
