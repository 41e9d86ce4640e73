"""The JSON API through Flask's test client on a small written catalog: encodings, catalog, jobs, admin."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from conftest import app_with
from flask import Flask
from flask.testing import FlaskClient
from web_helpers import FSNOTIFY_FIX, FSNOTIFY_LOG, small_catalog

from sigmatch.runtime.jobs import JobStatus, ThreadJobs

LOG = FSNOTIFY_LOG.read_bytes()


@pytest.fixture
def app(tmp_path: Path) -> Flask:
    return app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path),
                       "SIGMATCH_CVE_REPO": str(tmp_path / "no-such-repo"),
                       "SIGMATCH_ADMIN_TOKEN": "s3cret", "JOBS": ThreadJobs(state_dir=tmp_path / "jobs")})


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


def _check_answer(body: dict[str, Any]) -> None:
    assert body["reports"] and "soft lockup" in body["reports"][0]["title"]
    assert body["signature"]["frames"]
    top = body["matches"][0]
    assert top["bug_id"] == "fsnotify-mark-connector-race"
    assert top["fixes"][0]["sha"] == FSNOTIFY_FIX
    assert top["fixes"][0]["url"] == f"https://git.kernel.org/linus/{FSNOTIFY_FIX}"
    assert top["why"]["rule"]
    assert top["verdict"] is not None and top["verdict"]["running"].startswith("4.14.32")
    assert body["upstream"] == {} or isinstance(body["upstream"], dict)
    assert body["catalog_version"] == "test-1"


def test_match_plain_text(client: FlaskClient) -> None:
    r = client.post("/api/v1/match", data=LOG, content_type="text/plain")
    assert r.status_code == 200, r.get_data(as_text=True)
    _check_answer(r.get_json())


def test_match_json(client: FlaskClient) -> None:
    r = client.post("/api/v1/match", json={"trace": LOG.decode()})
    assert r.status_code == 200, r.get_data(as_text=True)
    _check_answer(r.get_json())


def test_match_multipart_upload(client: FlaskClient) -> None:
    r = client.post("/api/v1/match", data={"file": (io.BytesIO(LOG), "console.log")},
                    content_type="multipart/form-data")
    assert r.status_code == 200, r.get_data(as_text=True)
    _check_answer(r.get_json())


def test_match_form_urlencoded_as_curl_sends_it(client: FlaskClient) -> None:
    # `curl --data-binary @console.log URL` labels the raw log application/x-www-form-urlencoded
    r = client.post("/api/v1/match", data=LOG, content_type="application/x-www-form-urlencoded")
    assert r.status_code == 200, r.get_data(as_text=True)
    _check_answer(r.get_json())


def test_top_limits_matches_and_is_validated(client: FlaskClient) -> None:
    r = client.post("/api/v1/match?top=1", data=LOG, content_type="text/plain")
    assert r.status_code == 200 and len(r.get_json()["matches"]) <= 1
    for bad in ("0", "51", "x"):
        r = client.post(f"/api/v1/match?top={bad}", data=LOG, content_type="text/plain")
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_parameter"


def test_bugs_paging_and_filters(client: FlaskClient) -> None:
    body = client.get("/api/v1/bugs").get_json()
    assert body["total"] == 3 and len(body["items"]) == 3
    assert {"id", "title", "fixes", "stable_fixed"} <= set(body["items"][0])
    page2 = client.get("/api/v1/bugs?page=2&per_page=2").get_json()
    assert page2["total"] == 3 and [b["id"] for b in page2["items"]] == ["xss-title"]
    assert client.get("/api/v1/bugs?offset=1&limit=1").get_json()["items"][0]["id"] == "CVE-2099-0001"
    assert [b["id"] for b in client.get("/api/v1/bugs?kind=kasan").get_json()["items"]] == ["CVE-2099-0001"]
    assert client.get("/api/v1/bugs?q=FSNOTIFY%20race").get_json()["total"] == 1
    assert client.get(f"/api/v1/bugs?q={FSNOTIFY_FIX[:12]}").get_json()["total"] == 1
    assert client.get("/api/v1/bugs?origin=cve").get_json()["total"] == 1
    assert client.get("/api/v1/bugs?q=nothing-like-this").get_json() | {"items": []} == {
        "total": 0, "offset": 0, "limit": 50, "items": [], "catalog_version": "test-1"}
    assert client.get("/api/v1/bugs?per_page=0").status_code == 400


def test_bug_detail(client: FlaskClient) -> None:
    r = client.get("/api/v1/bugs/fsnotify-mark-connector-race")
    assert r.status_code == 200
    bug = r.get_json()
    assert bug["fixes"][0]["url"].endswith(FSNOTIFY_FIX) and bug["stable_fixed"] == {"4.16": "4.16.9"}
    r = client.get("/api/v1/bugs/no-such-bug")
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "bug_not_found"


def test_refresh_needs_the_token_and_runs_as_a_job(client: FlaskClient) -> None:
    assert client.post("/api/v1/refresh").status_code == 401
    r = client.post("/api/v1/refresh", headers={"Authorization": "Bearer wrong"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden"
    r = client.post("/api/v1/refresh", headers={"Authorization": "Bearer s3cret"}, json={"sources": ["nope"]})
    assert r.status_code == 400
    # A real refresh against a CVE repository that is not there: the job runs and fails, cleanly.
    r = client.post("/api/v1/refresh", headers={"Authorization": "Bearer s3cret"}, json={"sources": ["cve"]})
    assert r.status_code == 202, r.get_data(as_text=True)
    job_id = r.get_json()["job_id"]
    assert r.headers["Location"] == f"/api/v1/jobs/{job_id}"
    jobs = client.application.extensions["sigmatch"].jobs
    assert jobs.wait(job_id, timeout=60).status is JobStatus.FAILED
    body = client.get(f"/api/v1/jobs/{job_id}").get_json()
    assert body["status"] == "failed" and body["error"]
    assert client.get("/api/v1/jobs/0123").status_code == 404


def test_refresh_disabled_without_a_token(tmp_path: Path) -> None:
    app = app_with({"CATALOG": small_catalog(), "SIGMATCH_DATA_DIR": str(tmp_path), "SIGMATCH_ADMIN_TOKEN": ""})
    r = app.test_client().post("/api/v1/refresh", headers={"Authorization": "Bearer anything"})
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "admin_disabled"


def test_thread_jobs_share_state_through_files(tmp_path: Path) -> None:
    one, other = ThreadJobs(state_dir=tmp_path), ThreadJobs(state_dir=tmp_path)
    ok = one.enqueue("os.getcwd")
    bad = one.enqueue("json.loads", s="{not json")
    assert one.wait(ok).status is JobStatus.FINISHED and one.wait(bad).status is JobStatus.FAILED
    seen = other.get(ok)  # another worker process on the machine reads the same record
    assert seen.status is JobStatus.FINISHED and isinstance(seen.result, str)
    assert "JSONDecodeError" in (other.get(bad).error or "")


def test_health_ready_metrics_openapi(client: FlaskClient) -> None:
    assert client.get("/healthz").get_json()["status"] == "ok"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.get_json()["catalog"]["bugs"] == 3
    client.post("/api/v1/match", data=LOG, content_type="text/plain")
    client.post("/api/v1/match", data=b"hello", content_type="text/plain")
    text = client.get("/metrics").get_data(as_text=True)
    assert 'sigmatch_http_requests_total{endpoint="/api/v1/match",method="POST",status="200"} 1.0' in text
    assert 'status="422"' in text and "sigmatch_matches_total" in text
    assert "sigmatch_http_request_duration_seconds_bucket" in text
    spec = client.get("/api/v1/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    for path in ("/api/v1/match", "/api/v1/bugs", "/api/v1/bugs/{bug_id}", "/api/v1/jobs/{job_id}",
                 "/api/v1/refresh", "/healthz", "/readyz", "/metrics"):
        assert path in spec["paths"], path
    json.dumps(spec)
