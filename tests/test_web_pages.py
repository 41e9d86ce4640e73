"""The server-rendered page (no JavaScript): paste, upload, read the answer, browse the catalog."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import app_with
from flask.testing import FlaskClient
from web_helpers import FSNOTIFY_FIX, FSNOTIFY_LOG, small_catalog

LOG = FSNOTIFY_LOG.read_text()


@pytest.fixture
def client(tmp_path: Path) -> FlaskClient:
    return app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path)}).test_client()


def test_front_page_has_a_form_that_works_without_javascript(client: FlaskClient) -> None:
    html = client.get("/").get_data(as_text=True)
    assert '<form method="post"' in html and 'enctype="multipart/form-data"' in html
    assert 'name="trace"' in html and 'type="file"' in html and "<script" not in html


def test_pasted_log_shows_match_fix_and_verdict(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": LOG}, content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)[:500]
    html = r.get_data(as_text=True)
    assert "BUG: soft lockup" in html
    assert "fsnotify: soft lockup in fsnotify on a freed mark connector" in html
    assert f'href="https://git.kernel.org/linus/{FSNOTIFY_FIX}"' in html and FSNOTIFY_FIX[:12] in html
    assert 'id="verdict"' in html and "4.14.32" in html
    assert "&lt;IRQ&gt;" in html and "<IRQ>" not in html  # the paste is kept in the textarea, escaped


def test_uploaded_file_is_read(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": "", "file": (io.BytesIO(LOG.encode()), "console.log")},
                    content_type="multipart/form-data")
    assert r.status_code == 200 and FSNOTIFY_FIX[:12] in r.get_data(as_text=True)


def test_a_paste_with_no_crash_shows_a_readable_error_and_keeps_the_text(client: FlaskClient) -> None:
    r = client.post("/", data={"trace": "hello <b>world</b>"}, content_type="multipart/form-data")
    assert r.status_code == 422
    html = r.get_data(as_text=True)
    assert "no_kernel_log" in html and "hello &lt;b&gt;world&lt;/b&gt;" in html and "<b>world" not in html


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
