"""The error contract: one JSON shape for 400/404/405/413/415/422/500, walked in one test."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import app_with
from web_helpers import small_catalog


def test_every_error_has_the_one_shape(tmp_path: Path) -> None:
    app = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path),
                      "SIGMATCH_MAX_REQUEST_BYTES": 4096})

    @app.get("/api/v1/_boom")  # a deliberate internal error
    def boom() -> str:
        raise RuntimeError("secret internal detail /etc/passwd")

    client = app.test_client()
    url = "/api/v1/match"
    cases = [
        ("bad json", client.post(url, data=b"{not json", content_type="application/json"), 400, "bad_json"),
        ("json not an object", client.post(url, data=b"[1, 2]", content_type="application/json"), 400, "bad_json"),
        ("json without trace", client.post(url, json={"log": "x"}), 400, "missing_trace"),
        ("multipart without file", client.post(url, data={"other": "x"}, content_type="multipart/form-data"),
         400, "missing_file"),
        ("bad top", client.post(url + "?top=abc", data=b"x", content_type="text/plain"), 400, "bad_parameter"),
        ("unknown path", client.get("/nope"), 404, "not_found"),
        ("unknown bug", client.get("/api/v1/bugs/nope"), 404, "bug_not_found"),
        ("unknown job", client.get("/api/v1/jobs/" + "0" * 32), 404, "job_not_found"),
        ("wrong method", client.get(url), 405, "method_not_allowed"),
        ("too large", client.post(url, data=b"x" * 5000, content_type="text/plain"), 413, "too_large"),
        ("too large json", client.post(url, json={"trace": "x" * 5000}), 413, "too_large"),
        ("too large upload", client.post(url, data={"file": (__import__("io").BytesIO(b"x" * 5000), "a.log")},
                                         content_type="multipart/form-data"), 413, "too_large"),
        ("wrong type", client.post(url, data=b"<a/>", content_type="application/xml"), 415, "unsupported_media_type"),
        ("no log", client.post(url, data=b"hello world", content_type="text/plain"), 422, "no_kernel_log"),
        ("empty", client.post(url, data=b"", content_type="text/plain"), 422, "empty_log"),
        ("binary", client.post(url, data=bytes(range(256)) * 8, content_type="text/plain"), 422, "binary_input"),
        ("internal", client.get("/api/v1/_boom"), 500, "internal_error"),
    ]
    for name, r, status, code in cases:
        assert r.status_code == status, (name, r.status_code, r.get_data(as_text=True)[:300])
        assert r.mimetype == "application/json", name
        body = r.get_json()
        assert set(body) == {"error"}, name
        assert set(body["error"]) == {"status", "code", "message"}, name
        assert body["error"]["status"] == status and body["error"]["code"] == code, (name, body)
        assert body["error"]["message"], name
    wrong_method = next(r for name, r, *_ in cases if name == "wrong method")
    assert "POST" in wrong_method.headers["Allow"]
    internal = json.dumps(next(r for name, r, *_ in cases if name == "internal").get_json())
    assert "secret" not in internal and "Traceback" not in internal and "RuntimeError" not in internal


def test_pages_render_errors_as_html_for_browsers(tmp_path: Path) -> None:
    client = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path)}).test_client()
    r = client.get("/bugs/<script>x<script>", headers={"Accept": "text/html,application/xhtml+xml"})
    assert r.status_code == 404 and r.mimetype == "text/html"
    html = r.get_data(as_text=True)
    assert "bug_not_found" in html and "<script>x" not in html and "&lt;script&gt;" in html
    assert client.get("/bugs/nope").mimetype == "application/json"  # no Accept: JSON
